import Glibc
import VonnxIR

/// Abs, Neg, Sign on every numeric type (integers wrap: Abs and Neg of the minimum stay the
/// minimum). Sign keeps 0 and NaN.
enum SignedUnary {
    enum Op: Sendable { case abs, neg, sign }

    struct Apply: ArithmeticVisitor {
        let op: Op, x: Tensor, ctx: KernelContext
        func callAsFunction<T: ArithmeticElement>(_: T.Type) throws -> Tensor {
            if T.self == Float.self {
                switch op {
                case .abs: return mapElements(x, ctx) { (v: Float) in Swift.abs(v) }
                case .neg: return mapElements(x, ctx) { (v: Float) in -v }
                case .sign: break
                }
            }
            let one = T(fromDouble: 1)
            return switch op {
            case .abs: mapElements(x, ctx) { (v: T) in v < T.zero ? T.sub(T.zero, v) : v }
            case .neg: mapElements(x, ctx) { (v: T) in T.sub(T.zero, v) }
            case .sign: mapElements(x, ctx) { (v: T) in v > T.zero ? one : v < T.zero ? T.sub(T.zero, one) : v }
            }
        }
    }

    static func kernel(_ op: Op) -> CPUKernel {
        { ctx in
            let x = try ctx.input(0)
            if x.dataType == .bfloat16 { return [floatToBfloat16(try Apply(op: op, x: bfloat16ToFloat(x, ctx), ctx: ctx)(Float.self), ctx)] }
            return [try x.dataType.visitArithmetic(Apply(op: op, x: x, ctx: ctx))]
        }
    }
}

/// IsNaN, and IsInf with `detect_negative` / `detect_positive` (both default 1): bool output.
enum FloatClass {
    struct Apply: ElementVisitor {
        let x: Tensor, ctx: KernelContext, test: @Sendable (Double) -> Bool
        func callAsFunction<T: NumericElement>(_: T.Type) throws -> Tensor {
            guard T.dataType.isFloatingPoint else { throw ctx.error("expects a floating-point input, got \(T.dataType)") }
            return mapElements(x, ctx) { (v: T) in test(v.asDouble) }
        }
    }

    static func run(_ ctx: KernelContext, _ test: @escaping @Sendable (Double) -> Bool) throws -> [Tensor] {
        var x = try ctx.input(0)
        if x.dataType == .bfloat16 { x = bfloat16ToFloat(x, ctx) }
        return [try x.dataType.visit(Apply(x: x, ctx: ctx, test: test))]
    }
}

/// Kernels named like a global function (abs, exp, min, ...) carry an `Op` suffix: a plain
/// `CPUKernels.exp` would shadow `exp` inside every other `extension CPUKernels`.
extension CPUKernels {
    public static let absOp = SignedUnary.kernel(.abs)
    public static let neg = SignedUnary.kernel(.neg)
    public static let sign = SignedUnary.kernel(.sign)

    public static let floorOp = floatUnaryKernel({ $0.rounded(.down) }, { $0.rounded(.down) })
    public static let ceilOp = floatUnaryKernel({ $0.rounded(.up) }, { $0.rounded(.up) })
    /// Round: halves go to the even neighbour.
    public static let roundOp = floatUnaryKernel({ $0.rounded(.toNearestOrEven) }, { $0.rounded(.toNearestOrEven) })
    public static let reciprocal = floatUnaryKernel({ 1 / $0 }, { 1 / $0 })
    public static let sqrtOp = floatUnaryKernel({ $0.squareRoot() }, { $0.squareRoot() })
    public static let expOp: CPUKernel = { ctx in try floatUnary(ctx, Glibc.exp, fast: .exp) }
    public static let logOp = floatUnaryKernel(Glibc.log, logf)
    public static let erfOp = floatUnaryKernel(Glibc.erf, erff)
    public static let tanhOp = activationKernel { _ in .tanh }
    public static let sigmoid: CPUKernel = { ctx in try floatUnary(ctx, { 1 / (1 + Glibc.exp(-$0)) }, fast: .sigmoid, fused: .sigmoid) }
    public static let sinOp = floatUnaryKernel(Glibc.sin, sinf)
    public static let cosOp = floatUnaryKernel(Glibc.cos, cosf)
    public static let tanOp = floatUnaryKernel(Glibc.tan, tanf)
    public static let asinOp = floatUnaryKernel(Glibc.asin, asinf)
    public static let acosOp = floatUnaryKernel(Glibc.acos, acosf)
    public static let atanOp = floatUnaryKernel(Glibc.atan, atanf)
    public static let sinhOp = floatUnaryKernel(Glibc.sinh, sinhf)
    public static let coshOp = floatUnaryKernel(Glibc.cosh, coshf)
    public static let asinhOp = floatUnaryKernel(Glibc.asinh, asinhf)
    public static let acoshOp = floatUnaryKernel(Glibc.acosh, acoshf)
    public static let atanhOp = floatUnaryKernel(Glibc.atanh, atanhf)

    public static let isNaN: CPUKernel = { ctx in try FloatClass.run(ctx) { $0.isNaN } }
    public static let isInf: CPUKernel = { ctx in
        let negative = try ctx.node.int("detect_negative", default: 1) != 0
        let positive = try ctx.node.int("detect_positive", default: 1) != 0
        return try FloatClass.run(ctx) { $0.isInfinite && ($0 < 0 ? negative : positive) }
    }
}
