/// Builds a graph node by node with unique value names; for programmatic models (the
/// benchmark's embedded ResNet-50, tests).
public struct GraphBuilder {
    /// The graph built so far.
    public private(set) var graph: Graph
    private var counter = 0

    /// An empty graph named `name`.
    public init(name: String) { graph = Graph(name: name) }

    /// A fresh value name starting with `prefix`.
    public mutating func uniqueName(_ prefix: String) -> String {
        counter += 1
        return "\(prefix)\(counter)"
    }

    /// Adds a graph input and returns its name.
    public mutating func input(_ name: String, _ type: DataType, _ shape: [Dim]) -> String {
        graph.inputs.append(ValueInfo(name: name, type: .tensor(type, shape: shape)))
        return name
    }

    /// Adds an initializer and returns its name.
    public mutating func constant(_ tensor: Tensor, prefix: String = "const") -> String {
        let name = uniqueName(prefix)
        graph.initializers[name] = tensor
        return name
    }

    /// Adds a node with one output (named `output`, or a fresh name) and returns that name.
    @discardableResult
    public mutating func node(_ opType: String, _ inputs: [String], _ attributes: [String: Attribute] = [:],
                              output: String? = nil) -> String {
        let out = output ?? uniqueName(opType.lowercased())
        graph.nodes.append(Node(name: out, opType: opType, inputs: inputs, outputs: [out], attributes: attributes))
        return out
    }

    /// Declares value `name` a graph output.
    public mutating func output(_ name: String, _ type: ValueType? = nil) {
        graph.outputs.append(ValueInfo(name: name, type: type))
    }
}
