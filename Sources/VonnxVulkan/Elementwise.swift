import VonnxIR

/// Unary ops of `Shaders/unary.comp`: the OP define and how attributes become alpha/beta.
enum UnaryOp: String, CaseIterable {
    case relu = "OP_RELU", leakyRelu = "OP_LEAKY_RELU", sigmoid = "OP_SIGMOID", tanh = "OP_TANH"
    case exp = "OP_EXP", log = "OP_LOG", abs = "OP_ABS", neg = "OP_NEG", sqrt = "OP_SQRT"
    case reciprocal = "OP_RECIPROCAL", floor = "OP_FLOOR", ceil = "OP_CEIL", elu = "OP_ELU"
    case selu = "OP_SELU", hardSigmoid = "OP_HARD_SIGMOID", clip = "OP_CLIP", softplus = "OP_SOFTPLUS"
    case hardSwish = "OP_HARD_SWISH", sin = "OP_SIN", cos = "OP_COS"

    static let byName: [String: UnaryOp] = [
        "Relu": .relu, "LeakyRelu": .leakyRelu, "Sigmoid": .sigmoid, "Tanh": .tanh, "Exp": .exp, "Log": .log,
        "Abs": .abs, "Neg": .neg, "Sqrt": .sqrt, "Reciprocal": .reciprocal, "Floor": .floor, "Ceil": .ceil,
        "Elu": .elu, "Selu": .selu, "HardSigmoid": .hardSigmoid, "Clip": .clip, "Softplus": .softplus,
        "HardSwish": .hardSwish, "Sin": .sin, "Cos": .cos,
    ]

    /// The shader's alpha and beta for this node.
    func parameters(_ ctx: VulkanKernelContext) throws -> (Float, Float) {
        let n = ctx.node
        switch self {
        case .leakyRelu: return (try n.float("alpha", default: 0.01), 0)
        case .elu: return (try n.float("alpha", default: 1), 0)
        case .selu: return (try n.float("alpha", default: 1.67326319217681884765625),
                            try n.float("gamma", default: 1.05070102214813232421875))
        case .hardSigmoid: return (try n.float("alpha", default: 0.2), try n.float("beta", default: 0.5))
        case .clip:
            if ctx.opset < 11 {
                return (try n.float("min", default: -.infinity), try n.float("max", default: .infinity))
            }
            func bound(_ i: Int, _ fallback: Float) throws -> Float {
                guard let t = try ctx.hostInput(i) else { return fallback }
                guard t.count == 1, t.dataType == .float else { throw ctx.error("Clip bound \(i) must be a float32 scalar") }
                return t.scalars(as: Float.self)[0]
            }
            return (try bound(1, -.infinity), try bound(2, .infinity))
        default: return (0, 0)
        }
    }
}

/// Binary ops of `Shaders/binary.comp`; Sum is a variadic Add.
enum BinaryOp: String {
    case add = "OP_ADD", sub = "OP_SUB", mul = "OP_MUL", div = "OP_DIV", max = "OP_MAX", min = "OP_MIN"
    case pow = "OP_POW", prelu = "OP_PRELU"

    static let byName: [String: BinaryOp] = [
        "Add": .add, "Sub": .sub, "Mul": .mul, "Div": .div, "Max": .max, "Min": .min, "Pow": .pow, "PRelu": .prelu,
    ]
    /// Ops taking any number of inputs (Max, Min, Sum), folded left to right.
    static let variadic: [String: BinaryOp] = ["Max": .max, "Min": .min, "Sum": .add]
}

/// The NumPy broadcast of two shapes, or nil.
func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = Swift.max(a.count, b.count)
    let pa = [Int](repeating: 1, count: rank - a.count) + a, pb = [Int](repeating: 1, count: rank - b.count) + b
    var out: [Int] = []
    for (x, y) in zip(pa, pb) {
        guard x == y || x == 1 || y == 1 else { return nil }
        out.append(x == 1 ? y : x)
    }
    return out
}

/// Strides reading `shape` as broadcast to `target` (0 along broadcast dims).
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let own = contiguousStrides(shape), offset = target.count - shape.count
    return (0..<target.count).map { i in i < offset || shape[i - offset] == 1 ? 0 : own[i - offset] }
}

/// The rank limit of the broadcasting and strided-copy shaders (after `coalesce`).
let maxShaderRank = 8

/// Drops size-1 dims and merges neighbouring dims that every operand steps through
/// contiguously (outer stride = inner stride × inner size): the same element walk in fewer
/// dims, so shaders index less and most high-rank cases fit `maxShaderRank`.
func coalesce(_ shape: [Int], _ strides: [[Int]]) -> (shape: [Int], strides: [[Int]]) {
    var outShape: [Int] = [], outStrides = strides.map { _ in [Int]() }
    for d in shape.indices where shape[d] != 1 {
        if let last = outShape.indices.last, strides.indices.allSatisfy({ outStrides[$0][last] == strides[$0][d] * shape[d] }) {
            outShape[last] *= shape[d]
            for k in strides.indices { outStrides[k][last] = strides[k][d] }
        } else {
            outShape.append(shape[d])
            for k in strides.indices { outStrides[k].append(strides[k][d]) }
        }
    }
    return (outShape, outStrides)
}

func recordUnary(_ op: UnaryOp, _ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let (alpha, beta) = try op.parameters(ctx)
    let y = try ctx.recorder.makeTensor(shape: x.shape)
    var push = PushConstants()
    push.add(x.count); push.add(alpha); push.add(beta)
    try ctx.dispatch1D("unary", defines: ["OP": op.rawValue], buffers: [x.buffer, y.buffer], push: push, count: x.count)
    return [y]
}

/// Records `op(a, b)` with broadcasting into a new tensor.
func recordBroadcast(_ op: BinaryOp, _ a: VulkanTensor, _ b: VulkanTensor, _ ctx: VulkanKernelContext) throws -> VulkanTensor {
    guard let shape = broadcast(a.shape, b.shape) else {
        throw ctx.error("shapes \(a.shape) and \(b.shape) do not broadcast")
    }
    let walk = coalesce(shape, [broadcastStrides(a.shape, to: shape), broadcastStrides(b.shape, to: shape), contiguousStrides(shape)])
    guard walk.shape.count <= maxShaderRank else { throw ctx.error("\(a.shape) and \(b.shape) broadcast over more than \(maxShaderRank) dims") }
    let y = try ctx.recorder.makeTensor(shape: shape)
    var push = PushConstants()
    push.add(y.count); push.add(walk.shape.count)
    push.add(walk.shape, length: maxShaderRank)
    push.add(walk.strides[0], length: maxShaderRank)
    push.add(walk.strides[1], length: maxShaderRank)
    try ctx.dispatch1D("binary", defines: ["OP": op.rawValue], buffers: [a.buffer, b.buffer, y.buffer], push: push, count: y.count)
    return y
}

func recordBinary(_ op: BinaryOp, _ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    [try recordBroadcast(op, try ctx.input(0), try ctx.input(1), ctx)]
}

/// Max, Min and Sum of one or more inputs; one input is returned as it is.
func recordVariadic(_ op: BinaryOp, _ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let operands = ctx.inputs.compactMap { $0 }
    guard var result = operands.first else { throw ctx.error("needs at least one input") }
    for next in operands.dropFirst() { result = try recordBroadcast(op, result, next, ctx) }
    return [result]
}
