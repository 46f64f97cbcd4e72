import COnnx
import VonnxIR

/// Loads ONNX model files (ModelProto) into the IR. Every failure is a `VonnxError`
/// (`.io` for files that cannot be read, `.invalidModel` otherwise) naming the file, tensor,
/// node or attribute at fault. Malformed input never crashes, and nothing is allocated
/// beyond what the file holds, except dense forms of sparse tensors (capped at 4 GiB).
public enum ModelReader {
    /// IR versions accepted: 3 (the first with typed attributes and opset imports) through 14,
    /// the newest the current onnx release (1.23) writes. IR 14 only adds element types
    /// (float6) and an opaque type, which load as unknown types, as this build's ONNX 1.22
    /// onnx.proto leaves them.
    public static let supportedIRVersions = 3...14
    /// Versions of the default ("ai.onnx") opset accepted: through 28, onnx 1.23's newest.
    public static let supportedOpsets = 1...28

    /// Loads the model at `path`; external data is resolved against the model's folder.
    /// The main graph's large initializers are read from the file straight into their tensors
    /// (`RawDataInFile`), so the weights are held once, never twice, while loading.
    public static func load(path: String) throws -> Model {
        do {
            let split = try RawDataInFile.read(path: path)
            let proto = try unpack(split.map { $0.skeleton } ?? readFile(path))
            let rawData = split?.rawData
            _ = consume split  // the file's bytes are freed before conversion
            defer { free(proto) }
            return try model(from: proto, baseDirectory: directory(of: path), rawData: rawData)
        } catch VonnxError.invalidModel(let m) {
            throw VonnxError.invalidModel("\(path): \(m)")
        }
    }

    /// Loads a model from its serialized bytes; external data is resolved against
    /// `baseDirectory` and is an error when it is nil.
    public static func load(bytes: [UInt8], baseDirectory: String?) throws -> Model {
        let proto = try unpack(bytes)
        defer { free(proto) }
        return try model(from: proto, baseDirectory: baseDirectory)
    }

    /// Frees a parsed model and hands the heap memory it held back to the OS: the tensors
    /// copied out of it live elsewhere.
    private static func free(_ proto: UnsafeMutablePointer<Onnx__ModelProto>) {
        onnx__model_proto__free_unpacked(proto, nil)
        StorageCache.returnFreedHeap()
    }

    /// The deepest nesting of protobuf messages a model may have (a graph inside a node's
    /// attribute is three levels below its parent graph, a sequence's element type two below
    /// it): about 50 levels of nested subgraphs. protobuf-c parses recursively, so deeper files
    /// are refused before parsing rather than overflowing the stack.
    public static let maxNesting = 150

    private static func unpack(_ bytes: [UInt8]) throws -> UnsafeMutablePointer<Onnx__ModelProto> {
        guard !bytes.isEmpty else { throw VonnxError.invalidModel("empty (0 bytes): not an ONNX model") }
        let found = bytes.withUnsafeBufferPointer { NestingScan.scan($0, limit: maxNesting) }
        guard found.depth <= maxNesting else {
            throw VonnxError.invalidModel("messages nest deeper than \(maxNesting) levels (subgraphs or types nested too deeply)")
        }
        try found.refuseNulInExternalData()
        guard let proto = bytes.withUnsafeBufferPointer({ onnx__model_proto__unpack(nil, $0.count, $0.baseAddress) })
        else { throw VonnxError.invalidModel("not an ONNX model (protobuf parse failed)") }
        return proto
    }

    private static func model(from p: UnsafePointer<Onnx__ModelProto>, baseDirectory: String?,
                              rawData: RawDataInFile? = nil) throws -> Model {
        let m = p.pointee
        guard let graph = m.graph else {
            throw VonnxError.invalidModel("not an ONNX model (no graph, ir_version \(m.ir_version))")
        }
        guard m.has_ir_version != 0, supportedIRVersions.contains(Int(m.ir_version)) else {
            throw VonnxError.invalidModel("ir_version \(m.ir_version) is not supported (supported: \(describe(supportedIRVersions)))")
        }
        var opsets: [String: Int] = [:]
        for o in messages(m.n_opset_import, m.opset_import) {
            let domain = canonicalDomain(str(o.pointee.domain)), version = Int(o.pointee.version)
            guard domain.isEmpty ? supportedOpsets.contains(version) : version >= 1 else {
                throw VonnxError.invalidModel("opset \(version) of domain '\(domain.isEmpty ? "ai.onnx" : domain)' is not supported"
                                              + (domain.isEmpty ? " (supported: \(describe(supportedOpsets)))" : ""))
            }
            opsets[domain] = version
        }
        guard !opsets.isEmpty else { throw VonnxError.invalidModel("no opset_import: the opset the model is written against is unknown") }
        for input in messages(graph.pointee.n_input, graph.pointee.input) {
            guard let type = input.pointee.type?.pointee, type.value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE,
                  let shape = type.tensor_type?.pointee.shape?.pointee else { continue }
            for d in messages(shape.n_dim, shape.dim)
            where d.pointee.value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d.pointee.dim_value < 0 {
                throw VonnxError.invalidModel("input '\(str(input.pointee.name))' has a negative dim \(d.pointee.dim_value)")
            }
        }
        return Model(irVersion: Int(m.ir_version), opsets: opsets, producer: str(m.producer_name),
                     producerVersion: str(m.producer_version),
                     graph: try self.graph(graph, baseDirectory: baseDirectory, rawData: rawData),
                     metadata: entries(m.n_metadata_props, m.metadata_props))
    }

    private static func describe(_ range: ClosedRange<Int>) -> String { "\(range.lowerBound)...\(range.upperBound)" }

    /// "" for the default ONNX domain, which files may also spell "ai.onnx".
    private static func canonicalDomain(_ domain: String) -> String { domain == "ai.onnx" ? "" : domain }

    /// A graph; inputs that are initializers (IR < 4 lists them as inputs) stay initializers only.
    /// `rawData` holds the payloads its initializers' TensorProtos were parsed without.
    static func graph(_ p: UnsafePointer<Onnx__GraphProto>, baseDirectory: String?, rawData: RawDataInFile? = nil) throws -> Graph {
        let g = p.pointee
        let name = str(g.name)
        var initializers: [String: Tensor] = [:]
        func add(_ entry: (name: String, tensor: Tensor)) throws {
            guard initializers.updateValue(entry.tensor, forKey: entry.name) == nil else {
                throw VonnxError.invalidModel("graph '\(name)': initializer '\(entry.name)' is defined twice")
            }
        }
        for (i, t) in messages(g.n_initializer, g.initializer).enumerated() {
            let inFile = rawData.flatMap { file in file.ranges[i].map { (file, $0) } }
            try add(TensorProtoCodec.tensor(from: t, baseDirectory: baseDirectory, rawDataInFile: inFile))
        }
        for s in messages(g.n_sparse_initializer, g.sparse_initializer) {
            try add(TensorProtoCodec.denseTensor(from: s, baseDirectory: baseDirectory))
        }
        var valueInfo: [String: ValueInfo] = [:]
        for v in messages(g.n_value_info, g.value_info).map(self.valueInfo) { valueInfo[v.name] = v }
        return Graph(name: name,
                     nodes: try messages(g.n_node, g.node).map { try node($0, baseDirectory: baseDirectory) },
                     inputs: messages(g.n_input, g.input).map(self.valueInfo).filter { initializers[$0.name] == nil },
                     outputs: messages(g.n_output, g.output).map(self.valueInfo),
                     initializers: initializers, valueInfo: valueInfo)
    }

    private static func valueInfo(_ p: UnsafeMutablePointer<Onnx__ValueInfoProto>) -> ValueInfo {
        ValueInfo(name: str(p.pointee.name), type: p.pointee.type.flatMap { valueType($0) })
    }

    /// The IR type of a TypeProto, or nil when it is unknown or uses an element type Vonnx
    /// lacks (float8, int4, complex, sparse tensors): such values load but cannot be run.
    static func valueType(_ p: UnsafePointer<Onnx__TypeProto>) -> ValueType? {
        let t = p.pointee
        switch t.value_case {
        case ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE:
            guard let tensor = t.tensor_type?.pointee, tensor.has_elem_type != 0,
                  let type = DataType(rawValue: tensor.elem_type) else { return nil }
            return .tensor(type, shape: tensor.shape.map { s in messages(s.pointee.n_dim, s.pointee.dim).map { dim($0.pointee) } })
        case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE:
            return t.sequence_type?.pointee.elem_type.flatMap { valueType($0) }.map { .sequence($0) }
        case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE:
            return t.optional_type?.pointee.elem_type.flatMap { valueType($0) }.map { .optional($0) }
        case ONNX__TYPE_PROTO__VALUE_MAP_TYPE:
            guard let map = t.map_type?.pointee, let key = DataType(rawValue: map.key_type),
                  let value = map.value_type.flatMap({ valueType($0) }) else { return nil }
            return .map(key: key, value: value)
        default:
            return nil
        }
    }

    /// dim_value → `.value` (negative → `.unknown`), dim_param → `.symbol`, neither → `.unknown`.
    /// A dim_param of "?" (as Paddle2ONNX and others write every unknown dim) or "" is no
    /// name: it reads as `.unknown`, so it ties nothing together (as onnxruntime does).
    private static func dim(_ d: Onnx__TensorShapeProto__Dimension) -> Dim {
        switch d.value_case {
        case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE: d.dim_value >= 0 ? .value(Int(d.dim_value)) : .unknown
        case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM: ["", "?"].contains(str(d.dim_param)) ? .unknown : .symbol(str(d.dim_param))
        default: .unknown
        }
    }

    private static func node(_ p: UnsafeMutablePointer<Onnx__NodeProto>, baseDirectory: String?) throws -> Node {
        let n = p.pointee
        var node = Node(name: str(n.name), opType: str(n.op_type), domain: canonicalDomain(str(n.domain)),
                        inputs: items(n.n_input, n.input).map { str($0) },
                        outputs: items(n.n_output, n.output).map { str($0) })
        for a in messages(n.n_attribute, n.attribute) {
            let name = str(a.pointee.name)
            do {
                node.attributes[name] = try attribute(a.pointee, baseDirectory: baseDirectory)
            } catch VonnxError.invalidModel(let m) {
                throw VonnxError.invalidModel("node '\(node.label)' (\(node.opType)) attribute '\(name)': \(m)")
            }
        }
        return node
    }

    private static func attribute(_ a: Onnx__AttributeProto, baseDirectory: String?) throws -> Attribute {
        guard str(a.ref_attr_name).isEmpty else {
            throw VonnxError.invalidModel("ref_attr_name '\(str(a.ref_attr_name))' refers to a function's attribute outside a function")
        }
        func tensor(_ t: UnsafeMutablePointer<Onnx__TensorProto>) throws -> Tensor {
            try TensorProtoCodec.tensor(from: t, baseDirectory: baseDirectory).tensor
        }
        func dense(_ t: UnsafeMutablePointer<Onnx__SparseTensorProto>) throws -> Tensor {
            try TensorProtoCodec.denseTensor(from: t, baseDirectory: baseDirectory).tensor
        }
        func graph(_ g: UnsafeMutablePointer<Onnx__GraphProto>) throws -> Graph {
            try self.graph(g, baseDirectory: baseDirectory)
        }
        func required<T>(_ value: T?, _ field: String) throws -> T {
            guard let value else { throw VonnxError.invalidModel("field '\(field)' is missing") }
            return value
        }
        func bytes(_ b: ProtobufCBinaryData) -> [UInt8] { Array(UnsafeBufferPointer(start: b.data, count: b.len)) }
        switch a.type {
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return .float(a.f)
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return .int(Int(a.i))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return .string(bytes(a.s))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: return .tensor(try tensor(required(a.t, "t")))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR: return .tensor(try dense(required(a.sparse_tensor, "sparse_tensor")))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH: return .graph(try graph(required(a.g, "g")))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO:
            guard let type = valueType(try required(a.tp, "tp")) else {
                throw VonnxError.invalidModel("its type is unknown or uses an unsupported element type")
            }
            return .typeProto(type)
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return .floats(Array(items(a.n_floats, a.floats)))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return .ints(items(a.n_ints, a.ints).map { Int($0) })
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: return .strings(items(a.n_strings, a.strings).map(bytes))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS: return .tensors(try messages(a.n_tensors, a.tensors).map(tensor))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS:
            return .tensors(try messages(a.n_sparse_tensors, a.sparse_tensors).map(dense))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS: return .graphs(try messages(a.n_graphs, a.graphs).map(graph))
        default:
            let kind = enumName(onnx__attribute_proto__attribute_type__descriptor, Int32(bitPattern: a.type.rawValue))
            throw VonnxError.invalidModel("attribute type \(kind) is not supported")
        }
    }
}
