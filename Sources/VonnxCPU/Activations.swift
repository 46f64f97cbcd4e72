import CGemm
import Glibc
import VonnxIR

/// float32 functions with branch-free, vectorizable loops (`FloatUnary`'s fast paths).
enum FastFloat: Sendable { case exp, sigmoid }

/// e^v in float32 (Cephes polynomial, relative error about 2e-7, gradual underflow and
/// overflow to infinity); NaN stays NaN. Branch-free, so loops over it vectorize.
@inline(__always) func fastExp(_ v: Float) -> Float {
    let x: Float = !(v >= -104) ? -104 : v > 89 ? 89 : v
    // round x·log2(e) to the integer n through the magic constant 1.5·2^23: n sits in t's low bits
    let t = x * 1.44269504088896341 + 12_582_912
    let n = t - 12_582_912
    let r = x - n * 0.693359375 + n * 2.12194440e-4
    var p: Float = 1.9875691500e-4
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let y = p * r * r + r + 1
    // scale by 2^n in two normal factors, so results near the ends of the range stay exact
    let ni = Int32(bitPattern: t.bitPattern &- 0x4B40_0000)
    let n1 = ni >> 1, n2 = ni &- n1
    let s1 = Float(bitPattern: UInt32(bitPattern: n1 &+ 127) << 23)
    let s2 = Float(bitPattern: UInt32(bitPattern: n2 &+ 127) << 23)
    return v.isNaN ? v : y * s1 * s2
}

/// Float-only elementwise functions, computed via Double for float16/float64 and bfloat16, and
/// for float32 with CGemm's vectorized `fused` where it runs, else `fast`, else `ff`, else via Double.
struct FloatUnary: ElementVisitor {
    let x: Tensor, ctx: KernelContext, f: @Sendable (Double) -> Double, ff: (@Sendable (Float) -> Float)?
    var fast: FastFloat? = nil, fused: FusedActivation? = nil
    func callAsFunction<T: NumericElement>(_: T.Type) throws -> Tensor {
        if T.self == Float.self, let fused, PackedGemm.available {
            let out = Tensor(uninitialized: .float, shape: x.shape)  // every element is written below
            nonisolated(unsafe) let (px, po) = (UnsafePointer(elements(x, Float.self)), elements(out, Float.self))
            let act = fused.kernel
            // in blocks that stay in L1 between the copy and the activation
            ctx.pool.parallelFor(x.count, grain: 16384) { r in
                for start in stride(from: r.lowerBound, to: r.upperBound, by: 4096) {
                    let count = min(4096, r.upperBound - start)
                    (po + start).update(from: px + start, count: count)
                    vx_activate(po + start, count, act)
                }
            }
            return out
        }
        if T.self == Float.self {
            switch fast {
            case .exp: return mapElements(x, ctx) { (v: Float) in fastExp(v) }
            case .sigmoid: return mapElements(x, ctx) { (v: Float) in 1 / (1 + fastExp(-v)) }
            case nil: if let ff { return mapElements(x, ctx, ff) }
            }
        }
        guard T.dataType.isFloatingPoint else { throw ctx.error("expects a floating-point input, got \(T.dataType)") }
        return mapElements(x, ctx) { (v: T) -> T in T(fromDouble: f(v.asDouble)) }
    }
}

/// Applies one float function to input 0.
func floatUnary(_ ctx: KernelContext, _ f: @escaping @Sendable (Double) -> Double,
                _ ff: (@Sendable (Float) -> Float)? = nil, fast: FastFloat? = nil, fused: FusedActivation? = nil) throws -> [Tensor] {
    let x = try ctx.input(0)
    if x.dataType == .bfloat16 {
        let y = try FloatUnary(x: bfloat16ToFloat(x, ctx), ctx: ctx, f: f, ff: ff, fast: fast, fused: fused)(Float.self)
        return [floatToBfloat16(y, ctx)]
    }
    return [try x.dataType.visit(FloatUnary(x: x, ctx: ctx, f: f, ff: ff, fast: fast, fused: fused))]
}

/// An activation op: `activation` (read from the node) in CGemm's vectorized kernel for
/// float32 where it runs, else its Double reference.
func activationKernel(_ activation: @escaping @Sendable (KernelContext) throws -> FusedActivation) -> CPUKernel {
    { ctx in
        let a = try activation(ctx)
        return try floatUnary(ctx, { a($0) }, fused: a)
    }
}

/// A kernel applying one float function elementwise; `ff` is the float32 fast path.
func floatUnaryKernel(_ f: @escaping @Sendable (Double) -> Double, _ ff: @escaping @Sendable (Float) -> Float) -> CPUKernel {
    { ctx in try floatUnary(ctx, f, ff) }
}

/// log(1 + e^x) without overflow.
@inline(__always) func softplusValue(_ x: Double) -> Double { x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)) }

extension CPUKernels {
    public static let relu: CPUKernel = { ctx in
        let x = try ctx.input(0)
        struct Relu: ElementVisitor {
            let x: Tensor, ctx: KernelContext
            func callAsFunction<T: NumericElement>(_: T.Type) throws -> Tensor {
                if T.self == Float.self { return mapElements(x, ctx) { (v: Float) in Swift.max(v, 0) } }
                return mapElements(x, ctx) { (v: T) -> T in v < T.zero ? T.zero : v }
            }
        }
        if x.dataType == .bfloat16 { return [floatToBfloat16(try Relu(x: bfloat16ToFloat(x, ctx), ctx: ctx)(Float.self), ctx)] }
        return [try x.dataType.visit(Relu(x: x, ctx: ctx))]
    }

    public static let leakyRelu: CPUKernel = { ctx in
        let alpha = try ctx.node.float("alpha", default: 0.01)
        let a = Double(alpha)
        return try floatUnary(ctx, { $0 < 0 ? a * $0 : $0 }, { $0 < 0 ? alpha * $0 : $0 }, fused: .leakyRelu(alpha: alpha))
    }

    public static let elu: CPUKernel = { ctx in
        let alpha = Double(try ctx.node.float("alpha", default: 1))
        return try floatUnary(ctx) { $0 < 0 ? alpha * (expm1($0)) : $0 }
    }

    public static let selu: CPUKernel = { ctx in
        let alpha = Double(try ctx.node.float("alpha", default: 1.67326319217681884765625))
        let gamma = Double(try ctx.node.float("gamma", default: 1.05070102214813232421875))
        return try floatUnary(ctx) { $0 <= 0 ? gamma * alpha * expm1($0) : gamma * $0 }
    }

    public static let celu: CPUKernel = { ctx in
        let alpha = Double(try ctx.node.float("alpha", default: 1))
        guard alpha != 0 else { throw ctx.error("attribute 'alpha' must not be 0") }
        return try floatUnary(ctx) { Swift.max(0, $0) + Swift.min(0, alpha * expm1($0 / alpha)) }
    }

    public static let hardSigmoid = activationKernel { ctx in
        .hardSigmoid(alpha: try ctx.node.float("alpha", default: 0.2), beta: try ctx.node.float("beta", default: 0.5))
    }

    public static let hardSwish = activationKernel { _ in .hardSwish }

    public static let softplus: CPUKernel = { ctx in try floatUnary(ctx) { softplusValue($0) } }
    public static let softsign: CPUKernel = { ctx in try floatUnary(ctx) { $0 / (1 + Swift.abs($0)) } }
    public static let mish = activationKernel { _ in .mish }

    public static let thresholdedRelu: CPUKernel = { ctx in
        let alpha = Double(try ctx.node.float("alpha", default: 1))
        return try floatUnary(ctx) { $0 > alpha ? $0 : 0 }
    }

    /// Swish (opset 24): x · sigmoid(alpha · x), alpha 1 by default.
    public static let swish = swishKernel(defaultAlpha: 1)

    /// x · sigmoid(alpha · x), with attribute alpha (`defaultAlpha` when absent).
    static func swishKernel(defaultAlpha: Float) -> CPUKernel {
        { ctx in
            let alpha = Double(try ctx.node.float("alpha", default: defaultAlpha))
            return try floatUnary(ctx) { $0 / (1 + Glibc.exp(-alpha * $0)) }
        }
    }

    /// SwiGLU (opset 28): Swish(A) · B, A and B of one shape (no broadcasting).
    public static let swiGLU: CPUKernel = { ctx in
        let a = try ctx.input(0), b = try ctx.input(1)
        guard a.shape == b.shape else { throw ctx.error("A \(a.shape) and B \(b.shape) must have the same shape") }
        let alpha: [String: Attribute] = ["alpha": .float(try ctx.node.float("alpha", default: 1))]
        return try ctx.apply(mul, "Mul", [try ctx.apply1(swish, "Swish", [a], alpha), b])
    }

    /// Gelu with `approximate` "none" (erf) or "tanh".
    public static let gelu = activationKernel { ctx in
        switch try ctx.node.string("approximate", default: "none") {
        case "none": .gelu
        case "tanh": .geluTanh
        case let a: throw ctx.error("attribute 'approximate' must be none or tanh, got \(a)")
        }
    }

    /// Shrink on any numeric type: x+bias below -lambd, x-bias above lambd, else 0.
    public static let shrink: CPUKernel = { ctx in
        let bias = Double(try ctx.node.float("bias", default: 0))
        let lambd = Double(try ctx.node.float("lambd", default: 0.5))
        struct Shrink: ElementVisitor {
            let x: Tensor, ctx: KernelContext, bias: Double, lambd: Double
            func callAsFunction<T: NumericElement>(_: T.Type) throws -> Tensor {
                let (bias, lambd) = (bias, lambd)
                return mapElements(x, ctx) { (v: T) -> T in
                    let d = v.asDouble
                    return d < -lambd ? T(fromDouble: d + bias) : d > lambd ? T(fromDouble: d - bias) : T.zero
                }
            }
        }
        let x = try ctx.input(0)
        if x.dataType == .bfloat16 { return try floatUnary(ctx) { $0 < -lambd ? $0 + bias : $0 > lambd ? $0 - bias : 0 } }
        return [try x.dataType.visit(Shrink(x: x, ctx: ctx, bias: bias, lambd: lambd))]
    }

    /// PRelu: x where x >= 0, else slope * x; slope broadcasts to x. Before opset 7 a 1-D
    /// slope with one value per channel applies along axis 1.
    public static let prelu: CPUKernel = { ctx in
        struct PRelu: ArithmeticVisitor {
            let x: Tensor, slope: Tensor, ctx: KernelContext
            func callAsFunction<T: ArithmeticElement>(_: T.Type) throws -> Tensor {
                try broadcastBinary(x, slope, ctx) { (v: T, s: T) in v < T.zero ? T.mul(v, s) : v }
            }
        }
        var (x, slope) = try sameTypeInputs(ctx)
        if ctx.opset < 7 && x.rank > 2 && slope.rank == 1 && slope.count == x.shape[1] {
            slope = slope.reshaped([slope.count] + [Int](repeating: 1, count: x.rank - 2))
        }
        return [try x.dataType.visitArithmetic(PRelu(x: x, slope: slope, ctx: ctx))]
    }

    /// Clip to [min, max] (NaN stays NaN; min > max gives max): attributes before opset 11,
    /// optional scalar inputs 1 and 2 from opset 11.
    public static let clip: CPUKernel = { ctx in
        struct Clip: ArithmeticVisitor {
            let x: Tensor, ctx: KernelContext, minAttr: Float?, maxAttr: Float?
            func bound<T: ArithmeticElement>(_ i: Int, _ attr: Float?, _: T.Type) throws -> T? {
                if let attr { return T(fromDouble: Double(attr)) }
                guard let t = ctx.optionalInput(i) else { return nil }
                guard t.dataType == x.dataType, t.count == 1 else {
                    throw ctx.error("input \(i) must be a single \(x.dataType), got \(t)")
                }
                return t.scalars(as: T.self)[0]
            }
            func callAsFunction<T: ArithmeticElement>(_: T.Type) throws -> Tensor {
                let lo = try bound(1, minAttr, T.self), hi = try bound(2, maxAttr, T.self)
                return mapElements(x, ctx) { (v: T) -> T in
                    var r = v
                    if let lo, r < lo { r = lo }
                    if let hi, r > hi { r = hi }
                    return r
                }
            }
        }
        let x = try ctx.input(0)
        var minAttr: Float?, maxAttr: Float?
        if ctx.opset < 11 {
            minAttr = try ctx.node.float("min", default: -Float.greatestFiniteMagnitude)
            maxAttr = try ctx.node.float("max", default: Float.greatestFiniteMagnitude)
        }
        return [try x.dataType.visitArithmetic(Clip(x: x, ctx: ctx, minAttr: minAttr, maxAttr: maxAttr))]
    }
}
