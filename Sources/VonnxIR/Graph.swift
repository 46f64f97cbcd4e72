import Synchronization

/// One dimension of a shape: a number, a named symbol ("N" for a batch), or unknown.
public enum Dim: Sendable, Hashable, CustomStringConvertible {
    /// A fixed length.
    case value(Int)
    /// A length named by the model ("batch"): the same wherever the name appears ("?" or ""
    /// ties nothing together).
    case symbol(String)
    /// A length the model leaves open.
    case unknown

    /// The length when it is fixed.
    public var value: Int? { if case .value(let v) = self { v } else { nil } }
    public var description: String {
        switch self {
        case .value(let v): "\(v)"
        case .symbol(let s): s
        case .unknown: "?"
        }
    }
}

/// The type of a value: a tensor (element type and, when known, shape), or a sequence,
/// optional or map of other types.
public indirect enum ValueType: Sendable, Hashable, CustomStringConvertible {
    /// A tensor of an element type, with its dims when the rank is known.
    case tensor(DataType, shape: [Dim]?)
    /// A sequence of values of one type.
    case sequence(ValueType)
    /// A value of a type, or none.
    case optional(ValueType)
    /// A map from keys of an element type to values of a type.
    case map(key: DataType, value: ValueType)

    /// A tensor's element type; nil for other types.
    public var elementType: DataType? { if case .tensor(let t, _) = self { t } else { nil } }
    /// A tensor's dims; nil for other types or an unknown rank.
    public var shape: [Dim]? { if case .tensor(_, let s) = self { s } else { nil } }
    /// The shape when every dim is a number.
    public var staticShape: [Int]? {
        guard let s = shape else { return nil }
        let dims = s.compactMap(\.value)
        return dims.count == s.count ? dims : nil
    }

    public var description: String {
        switch self {
        case .tensor(let t, let s): "\(t)" + (s.map { "[" + $0.map(\.description).joined(separator: ",") + "]" } ?? "[?]")
        case .sequence(let e): "seq(\(e))"
        case .optional(let e): "optional(\(e))"
        case .map(let k, let v): "map(\(k),\(v))"
        }
    }
}

/// A named, typed value of a graph's interface (an input, output or value_info entry).
/// What a caller needs to build an input: `name`, `elementType` and `shape`.
public struct ValueInfo: Sendable, Hashable {
    /// The value's name in the graph (what `Session.run` keys inputs and outputs by).
    public var name: String
    /// The declared type; nil when the model declares none.
    public var type: ValueType?
    /// A value named `name` of type `type`.
    public init(name: String, type: ValueType?) { self.name = name; self.type = type }

    /// The element type of a tensor value; nil for sequences, maps and optionals, or no type.
    public var elementType: DataType? { type?.elementType }
    /// A tensor value's dims: numbers (`.value(3)`), names (`.symbol("batch")`, the same
    /// length wherever the name appears) or `.unknown`; nil when the rank is not declared.
    public var shape: [Dim]? { type?.shape }
}

/// A node attribute, as in ONNX's AttributeProto.
public indirect enum Attribute: Sendable {
    /// A float.
    case float(Float)
    /// An int.
    case int(Int)
    /// Bytes, usually UTF-8 text.
    case string([UInt8])
    /// A constant tensor.
    case tensor(Tensor)
    /// A subgraph (If, Loop, Scan bodies).
    case graph(Graph)
    /// A list of floats.
    case floats([Float])
    /// A list of ints.
    case ints([Int])
    /// A list of byte strings.
    case strings([[UInt8]])
    /// A list of tensors.
    case tensors([Tensor])
    /// A list of subgraphs.
    case graphs([Graph])
    /// A type.
    case typeProto(ValueType)
}

/// One op application. Input names may be "" for an omitted optional input.
public struct Node: Sendable {
    /// The node's name (may be empty; `label` names it anyway).
    public var name: String
    /// The op it applies ("Conv").
    public var opType: String
    /// "" for the default ONNX domain.
    public var domain: String
    /// The names of the values it reads, in the op's order.
    public var inputs: [String]
    /// The names of the values it makes ("" for an output not wanted).
    public var outputs: [String]
    /// Its attributes by name.
    public var attributes: [String: Attribute]

    /// A node; each argument sets the property of its name.
    public init(name: String, opType: String, domain: String = "", inputs: [String], outputs: [String],
                attributes: [String: Attribute] = [:]) {
        self.name = name; self.opType = opType; self.domain = domain
        self.inputs = inputs; self.outputs = outputs; self.attributes = attributes
    }

    /// The node's name, or a description that finds it when the name is empty.
    public var label: String { name.isEmpty ? "\(opType)→\(outputs.first ?? "")" : name }

    /// An error about this node.
    public func error(_ message: String) -> VonnxError {
        .invalidNode(node: label, op: opType, message: message)
    }
}

/// A computation graph: nodes in any order, inputs, outputs and constant initializers.
/// Subgraphs (If, Loop, Scan bodies) are Graphs too and may read values of enclosing graphs.
public struct Graph: Sendable {
    /// The graph's name.
    public var name: String
    /// The nodes, in any order (a session sorts them).
    public var nodes: [Node] { didSet { captures = CapturedNamesMemo() } }
    /// The graph's runtime inputs (initializers are not listed here).
    public var inputs: [ValueInfo] { didSet { captures = CapturedNamesMemo() } }
    /// The values the graph returns, in order.
    public var outputs: [ValueInfo]
    /// The constant tensors (weights) by name.
    public var initializers: [String: Tensor] { didSet { captures = CapturedNamesMemo() } }
    /// `capturedNames()` once computed: copies share it until one changes what it depends on.
    var captures = CapturedNamesMemo()
    /// Types known for intermediate values (from the file or from inference).
    public var valueInfo: [String: ValueInfo]

    /// A graph; each argument sets the property of its name.
    public init(name: String = "", nodes: [Node] = [], inputs: [ValueInfo] = [], outputs: [ValueInfo] = [],
                initializers: [String: Tensor] = [:], valueInfo: [String: ValueInfo] = [:]) {
        self.name = name; self.nodes = nodes; self.inputs = inputs; self.outputs = outputs
        self.initializers = initializers; self.valueInfo = valueInfo
    }

    /// The type known for value `name`: from `valueInfo`, else as a graph input declares it.
    public func type(of name: String) -> ValueType? {
        valueInfo[name]?.type ?? inputs.first { $0.name == name }?.type
    }
}

/// A graph's captured names, computed on first use.
final class CapturedNamesMemo: Sendable {
    let names = Mutex<Set<String>?>(nil)
}

/// A loaded model: the main graph, the opsets it was written against and who wrote it.
public struct Model: Sendable {
    /// The ONNX IR version of the file (`ir_version`).
    public var irVersion: Int
    /// Opset version per domain ("" is the default ONNX domain).
    public var opsets: [String: Int]
    /// The tool that wrote the model (`producer_name`, "pytorch"), empty when unnamed.
    public var producer: String
    /// That tool's version (`producer_version`), empty when unnamed.
    public var producerVersion: String
    /// The main graph.
    public var graph: Graph
    /// The model's free-form key/value pairs (`metadata_props`).
    public var metadata: [String: String]

    /// A model; each argument sets the property of its name.
    public init(irVersion: Int, opsets: [String: Int], producer: String = "", producerVersion: String = "",
                graph: Graph, metadata: [String: String] = [:]) {
        self.irVersion = irVersion; self.opsets = opsets; self.producer = producer
        self.producerVersion = producerVersion; self.graph = graph; self.metadata = metadata
    }

    /// The default-domain opset (ONNX accepts "ai.onnx" as an alias of "").
    public var defaultOpset: Int { opsets[""] ?? opsets["ai.onnx"] ?? 1 }
}
