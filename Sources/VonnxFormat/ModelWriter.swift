import COnnx
import VonnxIR

/// Writes IR models as ONNX ModelProto files that `ModelReader` (and other ONNX tools) read.
public enum ModelWriter {
    /// The model as ModelProto bytes: initializers as raw_data, graph inputs as `graph.inputs`
    /// (plus every initializer when the IR version is below 4, as those versions require),
    /// attributes of every kind including subgraphs. Maps are written sorted by key.
    public static func serialize(_ model: Model) -> [UInt8] {
        let builder = ProtoBuilder()
        let m = builder.arena.message(onnx__model_proto__init)
        m.pointee.has_ir_version = 1
        m.pointee.ir_version = Int64(model.irVersion)
        (m.pointee.n_opset_import, m.pointee.opset_import) = builder.arena.array(model.opsets.sorted { $0.key < $1.key }.map { entry in
            let o = builder.arena.message(onnx__operator_set_id_proto__init)
            o.pointee.domain = builder.arena.string(entry.key)
            o.pointee.has_version = 1
            o.pointee.version = Int64(entry.value)
            return Optional(o)
        })
        m.pointee.producer_name = builder.arena.optionalString(model.producer)
        m.pointee.producer_version = builder.arena.optionalString(model.producerVersion)
        let initializerInputs = model.irVersion >= 4 ? [] : model.graph.initializers.sorted { $0.key < $1.key }
            .filter { entry in !model.graph.inputs.contains { $0.name == entry.key } }
            .map { ValueInfo(name: $0.key, type: .tensor($0.value.dataType, shape: $0.value.shape.map(Dim.value))) }
        m.pointee.graph = builder.graph(model.graph, extraInputs: initializerInputs)
        (m.pointee.n_metadata_props, m.pointee.metadata_props) = builder.entries(model.metadata)
        return withExtendedLifetime(builder) { pack(m, onnx__model_proto__get_packed_size, onnx__model_proto__pack) }
    }

    /// Writes `serialize(model)` to `path` atomically (temporary file, then rename).
    public static func write(_ model: Model, path: String) throws {
        try writeFileAtomically(serialize(model), to: path)
    }
}

/// Builds protobuf-c messages for IR values in one arena, freed with the builder.
private struct ProtoBuilder {
    let arena = CArena()

    func graph(_ g: Graph, extraInputs: [ValueInfo] = []) -> UnsafeMutablePointer<Onnx__GraphProto> {
        let p = arena.message(onnx__graph_proto__init)
        p.pointee.name = arena.optionalString(g.name)
        (p.pointee.n_node, p.pointee.node) = arena.array(g.nodes.map { Optional(node($0)) })
        (p.pointee.n_initializer, p.pointee.initializer) = arena.array(g.initializers.sorted { $0.key < $1.key }.map {
            Optional(TensorProtoCodec.tensorProto($0.value, name: $0.key, arena: arena))
        })
        (p.pointee.n_input, p.pointee.input) = arena.array((g.inputs + extraInputs).map { Optional(valueInfo($0)) })
        (p.pointee.n_output, p.pointee.output) = arena.array(g.outputs.map { Optional(valueInfo($0)) })
        (p.pointee.n_value_info, p.pointee.value_info) = arena.array(g.valueInfo.sorted { $0.key < $1.key }.map {
            Optional(valueInfo($0.value))
        })
        return p
    }

    func entries(_ dict: [String: String]) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<Onnx__StringStringEntryProto>?>?) {
        arena.array(dict.sorted { $0.key < $1.key }.map { entry in
            let e = arena.message(onnx__string_string_entry_proto__init)
            e.pointee.key = arena.string(entry.key)
            e.pointee.value = arena.string(entry.value)
            return Optional(e)
        })
    }

    private func valueInfo(_ v: ValueInfo) -> UnsafeMutablePointer<Onnx__ValueInfoProto> {
        let p = arena.message(onnx__value_info_proto__init)
        p.pointee.name = arena.string(v.name)
        p.pointee.type = v.type.map(type)
        return p
    }

    private func type(_ t: ValueType) -> UnsafeMutablePointer<Onnx__TypeProto> {
        let p = arena.message(onnx__type_proto__init)
        switch t {
        case .tensor(let element, let shape):
            let tensor = arena.message(onnx__type_proto__tensor__init)
            tensor.pointee.has_elem_type = 1
            tensor.pointee.elem_type = element.rawValue
            tensor.pointee.shape = shape.map { dims in
                let s = arena.message(onnx__tensor_shape_proto__init)
                (s.pointee.n_dim, s.pointee.dim) = arena.array(dims.map { Optional(dim($0)) })
                return s
            }
            p.pointee.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE
            p.pointee.tensor_type = tensor
        case .sequence(let element):
            let s = arena.message(onnx__type_proto__sequence__init)
            s.pointee.elem_type = type(element)
            p.pointee.value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE
            p.pointee.sequence_type = s
        case .optional(let element):
            let o = arena.message(onnx__type_proto__optional__init)
            o.pointee.elem_type = type(element)
            p.pointee.value_case = ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE
            p.pointee.optional_type = o
        case .map(let key, let value):
            let m = arena.message(onnx__type_proto__map__init)
            m.pointee.has_key_type = 1
            m.pointee.key_type = key.rawValue
            m.pointee.value_type = type(value)
            p.pointee.value_case = ONNX__TYPE_PROTO__VALUE_MAP_TYPE
            p.pointee.map_type = m
        }
        return p
    }

    private func dim(_ d: Dim) -> UnsafeMutablePointer<Onnx__TensorShapeProto__Dimension> {
        let p = arena.message(onnx__tensor_shape_proto__dimension__init)
        switch d {
        case .value(let v):
            p.pointee.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
            p.pointee.dim_value = Int64(v)
        case .symbol(let s):
            p.pointee.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
            p.pointee.dim_param = arena.string(s)
        case .unknown:
            break
        }
        return p
    }

    private func node(_ n: Node) -> UnsafeMutablePointer<Onnx__NodeProto> {
        let p = arena.message(onnx__node_proto__init)
        p.pointee.name = arena.optionalString(n.name)
        p.pointee.op_type = arena.string(n.opType)
        p.pointee.domain = arena.optionalString(n.domain)
        (p.pointee.n_input, p.pointee.input) = arena.array(n.inputs.map { Optional(arena.string($0)) })
        (p.pointee.n_output, p.pointee.output) = arena.array(n.outputs.map { Optional(arena.string($0)) })
        (p.pointee.n_attribute, p.pointee.attribute) = arena.array(n.attributes.sorted { $0.key < $1.key }.map {
            Optional(attribute($0.key, $0.value))
        })
        return p
    }

    private func attribute(_ name: String, _ value: Attribute) -> UnsafeMutablePointer<Onnx__AttributeProto> {
        let p = arena.message(onnx__attribute_proto__init)
        p.pointee.name = arena.string(name)
        p.pointee.has_type = 1
        switch value {
        case .float(let f):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT
            (p.pointee.has_f, p.pointee.f) = (1, f)
        case .int(let i):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT
            (p.pointee.has_i, p.pointee.i) = (1, Int64(i))
        case .string(let s):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING
            (p.pointee.has_s, p.pointee.s) = (1, arena.bytes(s))
        case .tensor(let t):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR
            p.pointee.t = TensorProtoCodec.tensorProto(t, name: "", arena: arena)
        case .graph(let g):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH
            p.pointee.g = graph(g)
        case .floats(let v):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS
            (p.pointee.n_floats, p.pointee.floats) = arena.array(v)
        case .ints(let v):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS
            (p.pointee.n_ints, p.pointee.ints) = arena.array(v.map { Int64($0) })
        case .strings(let v):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS
            (p.pointee.n_strings, p.pointee.strings) = arena.array(v.map { arena.bytes($0) })
        case .tensors(let v):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS
            (p.pointee.n_tensors, p.pointee.tensors) = arena.array(v.map {
                Optional(TensorProtoCodec.tensorProto($0, name: "", arena: arena))
            })
        case .graphs(let v):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS
            (p.pointee.n_graphs, p.pointee.graphs) = arena.array(v.map { Optional(graph($0)) })
        case .typeProto(let t):
            p.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO
            p.pointee.tp = type(t)
        }
        return p
    }
}
