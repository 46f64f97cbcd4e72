/// What a shape rule sees of a node: its input types and the inputs that are constants.
public struct ShapeContext {
    /// The node whose outputs are inferred.
    public let node: Node
    /// Its input types, aligned with `node.inputs` (nil where unknown or omitted).
    public let inputs: [ValueType?]
    /// Its inputs that are constants (initializers or folded values), aligned with `node.inputs`.
    public let constants: [Tensor?]
    /// The default-domain opset the model was written against.
    public let opset: Int

    /// Each argument sets the property of its name.
    public init(node: Node, inputs: [ValueType?], constants: [Tensor?], opset: Int) {
        self.node = node; self.inputs = inputs; self.constants = constants; self.opset = opset
    }

    /// The type of input `i`, or nil when unknown or past the inputs given.
    public func input(_ i: Int) -> ValueType? { i < inputs.count ? inputs[i] : nil }
    /// The value of input `i` when it is a constant, else nil.
    public func constant(_ i: Int) -> Tensor? { i < constants.count ? constants[i] : nil }
    /// An error naming the node, for a rule's invalid inputs.
    public func error(_ message: String) -> VonnxError { node.error(message) }

    /// This node seen with only the inputs at `indices` (a missing index is an omitted
    /// input), in that order: how a quantized or fused op reuses its float op's rule.
    public func selecting(_ indices: [Int]) -> ShapeContext {
        ShapeContext(node: node, inputs: indices.map(input), constants: indices.map(constant), opset: opset)
    }

    /// This node seen with `inputs` as its input types and no constants.
    public func with(inputs: [ValueType?]) -> ShapeContext {
        ShapeContext(node: node, inputs: inputs, constants: [], opset: opset)
    }
}

/// Infers a node's output types (nil where unknown) from its input types. May throw when
/// the inputs can never be valid for the op (a rank or channel mismatch).
public typealias ShapeRule = @Sendable (ShapeContext) throws -> [ValueType?]

/// Type and shape inference over a whole graph, one `ShapeRule` a node.
public enum ShapeInference {
    /// Replaces `valueInfo` with the types inferred for node outputs, in sorted order. The
    /// file's own value_info is not trusted (exporters declare wrong shapes): outputs of
    /// nodes without a rule are left unknown.
    public static func inferred(_ graph: Graph, opset: Int, rule: (Node) -> ShapeRule?) throws -> Graph {
        var result = graph
        result.valueInfo = [:]
        var types: [String: ValueType] = [:]
        for v in graph.inputs { if let t = v.type { types[v.name] = t } }
        for (name, t) in graph.initializers { types[name] = .tensor(t.dataType, shape: t.shape.map(Dim.value)) }
        for node in graph.nodes {
            guard let r = rule(node) else { continue }
            let ctx = ShapeContext(node: node, inputs: node.inputs.map { types[$0] },
                                   constants: node.inputs.map { graph.initializers[$0] }, opset: opset)
            let inferred: [ValueType?]
            do { inferred = try r(ctx) } catch VonnxError.invalidArgument(let m) { throw node.error(m) }
            for (name, t) in zip(node.outputs, inferred) {
                guard !name.isEmpty, let t else { continue }
                types[name] = t
                result.valueInfo[name] = ValueInfo(name: name, type: t)
            }
        }
        return result
    }
}

/// Shape arithmetic shared by the rules.
public enum ShapeRules {
    /// Output 0 has input 0's type.
    public static let sameAsInput: ShapeRule = { ctx in [ctx.input(0)] }

    /// Multidirectional broadcast; `resultType` overrides the element type (bool for comparisons).
    public static func broadcast(resultType: DataType? = nil) -> ShapeRule {
        { ctx in
            let types = ctx.inputs.compactMap { $0 }
            guard types.count == ctx.inputs.count, let first = types.first?.elementType else { return [nil] }
            let shapes = types.compactMap(\.shape)
            guard shapes.count == types.count else { return [.tensor(resultType ?? first, shape: nil)] }
            return [.tensor(resultType ?? first, shape: try broadcastDims(shapes, ctx))]
        }
    }

    static func broadcastDims(_ shapes: [[Dim]], _ ctx: ShapeContext) throws -> [Dim] {
        let rank = shapes.map(\.count).max() ?? 0
        var out = [Dim](repeating: .value(1), count: rank)
        for s in shapes {
            for (i, d) in s.enumerated() {
                let k = rank - s.count + i
                switch (out[k], d) {
                case (_, .value(1)): continue
                case (.value(1), _): out[k] = d
                case (.value(let a), .value(let b)) where a != b:
                    throw ctx.error("shapes \(shapes.map { $0.map(\.description) }) do not broadcast")
                case let (a, b) where a == b: continue
                default: out[k] = .unknown
                }
            }
        }
        return out
    }

    /// The largest dim shape arithmetic accepts from a model (2^37, about 137 G elements): sums
    /// and products of a few such numbers cannot overflow.
    public static let maxDim = Int(Int32.max) * 64

    /// `a × b` for dims read from a model; throws `.invalidArgument` when it overflows.
    public static func checkedProduct(_ a: Int, _ b: Int) throws -> Int {
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow else { throw VonnxError.invalidArgument("dim arithmetic \(a) × \(b) overflows") }
        return p
    }

    /// `a + b` for dims read from a model; throws `.invalidArgument` when it overflows.
    public static func checkedSum(_ a: Int, _ b: Int) throws -> Int {
        let (s, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw VonnxError.invalidArgument("dim arithmetic \(a) + \(b) overflows") }
        return s
    }

    /// Output dims of a sliding window (Conv, pools): input, kernel, stride, dilation, pads.
    public static func windowOutput(_ input: Int, kernel: Int, stride: Int, dilation: Int,
                                    padBegin: Int, padEnd: Int, ceil: Bool = false) -> Int {
        let span = dilation * (kernel - 1) + 1
        let numerator = input + padBegin + padEnd - span
        guard numerator >= 0 else { return 0 }
        let q = ceil ? (numerator + stride - 1) / stride : numerator / stride
        var out = q + 1
        // with ceil_mode, a last window starting inside the right padding is dropped
        if ceil && (out - 1) * stride >= input + padBegin { out -= 1 }
        return out
    }
}
