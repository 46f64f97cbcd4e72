import VonnxIR

/// The GLSL type of a device element of `type` as `storage` holds it (see `VulkanTensor`).
func glslType(_ type: DataType, _ storage: VulkanStorage) -> String {
    if storage.wide.contains(type) { return type == .double ? "double" : type == .int64 ? "int64_t" : "uint64_t" }
    return switch type {
    case .float, .float16, .bfloat16, .double: "float"
    case .bool, .uint8, .uint16, .uint32, .uint64: "uint"
    case .int8, .int16, .int32, .int64, .string: "int"
    }
}

/// The defines with which `fit` (Shaders/fit.glsl) rounds or wraps a result into `type`.
func fitDefines(_ type: DataType) -> [String: String] {
    switch type {
    case .int8, .uint8: ["FIT_BITS": "8"]
    case .int16, .uint16: ["FIT_BITS": "16"]
    case .float16: ["FIT_HALF": "1"]
    case .bfloat16: ["FIT_BFLOAT": "1"]
    default: [:]
    }
}

/// Shader defines for operand type `t` and result type `r` as `storage` holds them: T, R, INT
/// when `t` is an integer type (not bool), SIGNED when a signed one, WIDTH 64 when a wide one
/// (elementwise.glsl's shift width), DOUBLE when `t` is float64 held as double, and `fitDefines(r)`.
func typeDefines(_ t: DataType, _ r: DataType, _ storage: VulkanStorage) -> [String: String] {
    var d = fitDefines(r).merging(["T": glslType(t, storage), "R": glslType(r, storage)]) { $1 }
    if t == .double, storage.wide.contains(t) { d["DOUBLE"] = "1" }
    if t.isInteger { d["INT"] = "1" }
    if t.isInteger, glslType(t, .narrow) == "int" { d["SIGNED"] = "1" }
    if t.isInteger, storage.wide.contains(t) { d["WIDTH"] = "64" }
    return d
}

/// Unary ops of `Shaders/unary.comp`: the OP define and how attributes become alpha/beta.
enum UnaryOp: String, CaseIterable {
    case relu = "OP_RELU", leakyRelu = "OP_LEAKY_RELU", sigmoid = "OP_SIGMOID", tanh = "OP_TANH"
    case exp = "OP_EXP", log = "OP_LOG", abs = "OP_ABS", neg = "OP_NEG", sqrt = "OP_SQRT"
    case reciprocal = "OP_RECIPROCAL", floor = "OP_FLOOR", ceil = "OP_CEIL", elu = "OP_ELU"
    case selu = "OP_SELU", hardSigmoid = "OP_HARD_SIGMOID", clip = "OP_CLIP", softplus = "OP_SOFTPLUS"
    case hardSwish = "OP_HARD_SWISH", sin = "OP_SIN", cos = "OP_COS", tan = "OP_TAN", asin = "OP_ASIN"
    case acos = "OP_ACOS", atan = "OP_ATAN", sinh = "OP_SINH", cosh = "OP_COSH", asinh = "OP_ASINH"
    case acosh = "OP_ACOSH", atanh = "OP_ATANH", erf = "OP_ERF", sign = "OP_SIGN", round = "OP_ROUND"
    case softsign = "OP_SOFTSIGN", mish = "OP_MISH", gelu = "OP_GELU", geluTanh = "OP_GELU_TANH"
    case celu = "OP_CELU", thresholdedRelu = "OP_THRESHOLDED_RELU", not = "OP_NOT", isNaN = "OP_ISNAN"
    case isInf = "OP_ISINF", shrink = "OP_SHRINK", bitwiseNot = "OP_BITWISE_NOT", swish = "OP_SWISH"

    static let byName: [String: UnaryOp] = [
        "Relu": .relu, "LeakyRelu": .leakyRelu, "Sigmoid": .sigmoid, "Tanh": .tanh, "Exp": .exp, "Log": .log,
        "Abs": .abs, "Neg": .neg, "Sqrt": .sqrt, "Reciprocal": .reciprocal, "Floor": .floor, "Ceil": .ceil,
        "Elu": .elu, "Selu": .selu, "HardSigmoid": .hardSigmoid, "Clip": .clip, "Softplus": .softplus,
        "HardSwish": .hardSwish, "Sin": .sin, "Cos": .cos, "Tan": .tan, "Asin": .asin, "Acos": .acos,
        "Atan": .atan, "Sinh": .sinh, "Cosh": .cosh, "Asinh": .asinh, "Acosh": .acosh, "Atanh": .atanh,
        "Erf": .erf, "Sign": .sign, "Round": .round, "Softsign": .softsign, "Mish": .mish, "Gelu": .gelu,
        "Celu": .celu, "ThresholdedRelu": .thresholdedRelu, "Not": .not, "IsNaN": .isNaN, "IsInf": .isInf,
        "Shrink": .shrink, "BitwiseNot": .bitwiseNot, "Swish": .swish,
    ]

    /// The element type written for input type `t`.
    func resultType(_ t: DataType) -> DataType { self == .isNaN || self == .isInf ? .bool : t }

    /// The op `node` computes, as its attributes refine this one (Gelu's tanh approximation).
    func resolved(_ node: Node) throws -> UnaryOp {
        guard self == .gelu else { return self }
        return try node.string("approximate", default: "none") == "tanh" ? .geluTanh : .gelu
    }

    /// The shader's alpha and beta for this node.
    func parameters(_ ctx: VulkanKernelContext) throws -> (Float, Float) {
        let n = ctx.node
        switch self {
        case .leakyRelu: return (try n.float("alpha", default: 0.01), 0)
        case .elu, .celu, .thresholdedRelu, .swish: return (try n.float("alpha", default: 1), 0)
        case .selu: return (try n.float("alpha", default: 1.67326319217681884765625),
                            try n.float("gamma", default: 1.05070102214813232421875))
        case .hardSigmoid: return (try n.float("alpha", default: 0.2), try n.float("beta", default: 0.5))
        case .shrink: return (try n.float("bias", default: 0), try n.float("lambd", default: 0.5))
        case .isInf: return (Float(try n.int("detect_positive", default: 1)), Float(try n.int("detect_negative", default: 1)))
        case .clip:
            if ctx.opset < 11 {
                return (try n.float("min", default: -.infinity), try n.float("max", default: .infinity))
            }
            func bound(_ i: Int, _ fallback: Float) throws -> Float {
                guard let t = try ctx.hostInput(i) else { return fallback }
                guard t.count == 1, t.dataType.isFloatingPoint else {
                    throw ctx.error("Clip bound \(i) must be a float scalar, got \(t.dataType)\(t.shape)")
                }
                return Float(t.doubles()[0])
            }
            return (try bound(1, -.infinity), try bound(2, .infinity))
        default: return (0, 0)
        }
    }
}

/// Binary ops of `Shaders/binary.comp`; Sum is a variadic Add.
enum BinaryOp: String {
    case add = "OP_ADD", sub = "OP_SUB", mul = "OP_MUL", div = "OP_DIV", max = "OP_MAX", min = "OP_MIN"
    case pow = "OP_POW", prelu = "OP_PRELU", equal = "OP_EQUAL", less = "OP_LESS", greater = "OP_GREATER"
    case lessEqual = "OP_LESS_EQUAL", greaterEqual = "OP_GREATER_EQUAL", and = "OP_AND", or = "OP_OR"
    case xor = "OP_XOR", mod = "OP_MOD", fmod = "OP_FMOD", shiftLeft = "OP_SHIFT_LEFT", shiftRight = "OP_SHIFT_RIGHT"

    static let byName: [String: BinaryOp] = [
        "Add": .add, "Sub": .sub, "Mul": .mul, "Div": .div, "Max": .max, "Min": .min, "Pow": .pow, "PRelu": .prelu,
        "Equal": .equal, "Less": .less, "Greater": .greater, "LessOrEqual": .lessEqual,
        "GreaterOrEqual": .greaterEqual, "And": .and, "Or": .or, "Xor": .xor, "Mod": .mod,
        "BitwiseAnd": .and, "BitwiseOr": .or, "BitwiseXor": .xor, "BitShift": .shiftLeft,
    ]
    /// Ops taking any number of inputs (Max, Min, Sum), folded left to right.
    static let variadic: [String: BinaryOp] = ["Max": .max, "Min": .min, "Sum": .add]

    /// The element type written for operand type `t`.
    func resultType(_ t: DataType) -> DataType {
        switch self {
        case .equal, .less, .greater, .lessEqual, .greaterEqual: .bool
        default: t
        }
    }

    /// The op `node` computes, as its attributes refine this one (Mod's fmod, BitShift's direction).
    func resolved(_ node: Node) throws -> BinaryOp {
        switch self {
        case .mod: return try node.int("fmod", default: 0) != 0 ? .fmod : .mod
        case .shiftLeft:
            switch try node.string("direction") {
            case "LEFT": return .shiftLeft
            case "RIGHT": return .shiftRight
            case let d: throw node.error("attribute 'direction' must be LEFT or RIGHT, got \(d ?? "nothing")")
            }
        default: return self
        }
    }
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
    let op = try op.resolved(ctx.node)
    let x = try ctx.input(0)
    let (alpha, beta) = try op.parameters(ctx)
    return [try recordUnary(op.rawValue, x, to: op.resultType(x.dataType), alpha: alpha, beta: beta, ctx)]
}

/// Records `Shaders/unary.comp`'s `op` over `x` into a new tensor of element type `type`.
func recordUnary(_ op: String, _ x: VulkanTensor, to type: DataType, alpha: Float = 0, beta: Float = 0,
                 defines: [String: String] = [:], _ ctx: VulkanKernelContext) throws -> VulkanTensor {
    let y = try ctx.recorder.makeTensor(shape: x.shape, dataType: type)
    var push = PushConstants()
    push.add(x.count); push.add(alpha); push.add(beta)
    try ctx.dispatch1D("unary", defines: typeDefines(x.dataType, type, ctx.device.storage).merging(defines.merging(["OP": op]) { $1 }) { $1 },
                       buffers: [x.buffer, y.buffer], push: push, count: x.count)
    return y
}

/// Cast and CastLike between device element types, as the CPU casts: a view where every word
/// of the source type already holds a value of the target (int8 to int32, float16 to float),
/// else a conversion (Shaders/unary.comp's OP_CONVERT; to bool: nonzero).
func recordCast(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let target: DataType
    if ctx.node.opType == "CastLike" {
        target = try ctx.input(1).dataType
    } else {
        guard let raw = try ctx.node.int("to"), let t = DataType(rawValue: Int32(truncatingIfNeeded: raw)) else { throw ctx.error("attribute 'to' is missing or invalid") }
        target = t
    }
    let storage = ctx.device.storage
    guard storage.dataTypes.contains(target) else { throw ctx.error("Cast to \(target) is not implemented on Vulkan") }
    if target == .bool, x.dataType != .bool { return [try recordUnary("OP_NONZERO", x, to: target, ctx)] }
    if glslType(target, storage) == glslType(x.dataType, storage), target == x.dataType || fitDefines(target).isEmpty || x.dataType == .bool {
        return [VulkanTensor(shape: x.shape, buffer: x.buffer, dataType: target)]
    }
    let bounds = x.dataType.isFloatingPoint && target.isInteger ? saturationDefines(target, storage) : [:]
    return [try recordUnary("OP_CONVERT", x, to: target, defines: bounds, ctx)]
}

/// Records `op(a, b)` with broadcasting into a new tensor.
func recordBroadcast(_ op: BinaryOp, _ a: VulkanTensor, _ b: VulkanTensor, _ ctx: VulkanKernelContext) throws -> VulkanTensor {
    guard let shape = broadcast(a.shape, b.shape) else {
        throw ctx.error("shapes \(a.shape) and \(b.shape) do not broadcast")
    }
    var walk = coalesce(shape, [broadcastStrides(a.shape, to: shape), broadcastStrides(b.shape, to: shape), contiguousStrides(shape)])
    guard walk.shape.count <= maxShaderRank else { throw ctx.error("\(a.shape) and \(b.shape) broadcast over more than \(maxShaderRank) dims") }
    if walk.shape.isEmpty { walk = ([1], [[0], [0], [1]]) }
    guard a.dataType == b.dataType || op == .pow else { throw ctx.error("operands are \(a.dataType) and \(b.dataType)") }
    let op = try op.resolved(ctx.node)
    let y = try ctx.recorder.makeTensor(shape: shape, dataType: op.resultType(a.dataType))
    guard y.count > 0 else { return y }
    var push = PushConstants()
    let variant = KernelVariants.choose("binary", rows: 1, device: ctx.device), inner = walk.shape[walk.shape.count - 1]
    let runs = y.count / inner * ((inner + variant.columns - 1) / variant.columns)
    push.add(runs); push.add(walk.shape.count)
    push.add(walk.shape, length: maxShaderRank)
    push.add(walk.strides[0], length: maxShaderRank)
    push.add(walk.strides[1], length: maxShaderRank)
    var defines = typeDefines(a.dataType, y.dataType, ctx.device.storage).merging(variant.defines) { $1 }.merging(["OP": op.rawValue]) { $1 }
    if b.dataType != a.dataType { defines["TB"] = glslType(b.dataType, ctx.device.storage) }
    let pipeline = try ctx.device.pipeline(variant.shader, defines: defines, bindings: 3, workgroup: (UInt32(variant.width), 1, 1))
    try ctx.recorder.dispatch(pipeline, buffers: [a.buffer, b.buffer, y.buffer], push: push.words, count: runs, groupSize: variant.width)
    return y
}

/// Clip: float types by unary.comp's OP_CLIP; integer types as Min(Max(x, min), max) with each
/// given bound (inputs 1 and 2, before opset 11 the min and max attributes) uploaded in x's
/// type, as the CPU clips them (a min above the max gives the max).
func recordClip(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    guard x.dataType.isInteger else { return try recordUnary(.clip, ctx) }
    var y = x
    for (i, name, op) in [(1, "min", BinaryOp.max), (2, "max", BinaryOp.min)] {
        let bound: Tensor
        if ctx.opset < 11 {
            guard let value = try ctx.node.float(name) else { continue }
            bound = try Tensor(x.dataType, shape: [], converting: [Double(value)])
        } else {
            guard let t = try ctx.hostInput(i) else { continue }
            guard t.dataType == x.dataType, t.count == 1 else { throw ctx.error("input \(i) must be a single \(x.dataType), got \(t)") }
            bound = t.reshaped([])
        }
        y = try recordBroadcast(op, y, try ctx.recorder.upload(bound), ctx)
    }
    return [y]
}

/// A binary op with NumPy broadcasting; PRelu before opset 7 broadcasts a 1-D slope of x's
/// channel count along axis 1 (the legacy per-channel slope), as the CPU kernel reads it.
func recordBinary(_ op: BinaryOp, _ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    var b = try ctx.input(1)
    if op == .prelu, ctx.opset < 7, x.rank > 2, b.rank == 1, b.count == x.shape[1] {
        b = VulkanTensor(shape: [b.count] + Array(repeating: 1, count: x.rank - 2), buffer: b.buffer, dataType: b.dataType)
    }
    return [try recordBroadcast(op, x, b, ctx)]
}

/// Max, Min and Sum of one or more inputs; one input is returned as it is.
func recordVariadic(_ op: BinaryOp, _ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let operands = ctx.inputs.compactMap { $0 }
    guard var result = operands.first else { throw ctx.error("needs at least one input") }
    for next in operands.dropFirst() { result = try recordBroadcast(op, result, next, ctx) }
    return [result]
}

/// Mean of one or more float32 inputs, as the CPU: their broadcast Sum divided by the count.
func recordMean(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let count = try ctx.recorder.upload(Tensor(scalar: Float(ctx.inputs.compactMap { $0 }.count)))
    return [try recordBroadcast(.div, try recordVariadic(.add, ctx)[0], count, ctx)]
}

/// Where(condition, x, y) with broadcasting over all three.
func recordWhere(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let c = try ctx.input(0), a = try ctx.input(1), b = try ctx.input(2)
    guard c.dataType == .bool, a.dataType == b.dataType else {
        throw ctx.error("Where takes a bool condition and two values of one type, got \(c.dataType), \(a.dataType), \(b.dataType)")
    }
    guard let ab = broadcast(a.shape, b.shape), let shape = broadcast(c.shape, ab) else {
        throw ctx.error("shapes \(c.shape), \(a.shape) and \(b.shape) do not broadcast")
    }
    let walk = coalesce(shape, [c.shape, a.shape, b.shape].map { broadcastStrides($0, to: shape) } + [contiguousStrides(shape)])
    let rank = 6
    guard walk.shape.count <= rank else { throw ctx.error("Where broadcasts over more than \(rank) dims") }
    let y = try ctx.recorder.makeTensor(shape: shape, dataType: a.dataType)
    var push = PushConstants()
    push.add(y.count); push.add(walk.shape.count)
    push.add(walk.shape, length: rank)
    for k in 0..<3 { push.add(walk.strides[k], length: rank) }
    try ctx.dispatch1D("where", defines: wordDefines(a), buffers: [c.buffer, a.buffer, b.buffer, y.buffer], push: push, count: y.count)
    return [y]
}
