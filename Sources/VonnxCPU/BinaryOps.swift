import Glibc
import VonnxIR

/// Add, Sub, Mul, Div: same element type on both sides (bfloat16 computed in float32), NumPy
/// broadcasting. Integer division truncates toward zero (and gives 0 for a zero divisor).
enum BinaryArithmetic {
    enum Op: Sendable { case add, sub, mul, div }

    struct Apply: ArithmeticVisitor {
        let op: Op, a: Tensor, b: Tensor, ctx: KernelContext
        func callAsFunction<T: ArithmeticElement>(_: T.Type) throws -> Tensor {
            if T.self == Float.self {
                // spelled out for float32 so each loop is compiled without a call per element
                switch op {
                case .add: return try broadcastBinary(a, b, ctx) { (x: Float, y: Float) in x + y }
                case .sub: return try broadcastBinary(a, b, ctx) { (x: Float, y: Float) in x - y }
                case .mul: return try broadcastBinary(a, b, ctx) { (x: Float, y: Float) in x * y }
                case .div: return try broadcastBinary(a, b, ctx) { (x: Float, y: Float) in x / y }
                }
            }
            switch op {
            case .add: return try broadcastBinary(a, b, ctx, T.add)
            case .sub: return try broadcastBinary(a, b, ctx, T.sub)
            case .mul: return try broadcastBinary(a, b, ctx, T.mul)
            case .div: return try broadcastBinary(a, b, ctx, T.div)
            }
        }
    }

    static func kernel(_ op: Op) -> CPUKernel {
        { ctx in
            let (a, b) = try sameTypeInputs(ctx)
            if a.dataType == .bfloat16 {
                let y = try Apply(op: op, a: bfloat16ToFloat(a, ctx), b: bfloat16ToFloat(b, ctx), ctx: ctx)(Float.self)
                return [floatToBfloat16(y, ctx)]
            }
            return [try a.dataType.visitArithmetic(Apply(op: op, a: a, b: b, ctx: ctx))]
        }
    }
}

/// Inputs 0 and 1, which must have one element type.
func sameTypeInputs(_ ctx: KernelContext) throws -> (Tensor, Tensor) {
    let a = try ctx.input(0), b = try ctx.input(1)
    guard a.dataType == b.dataType else { throw ctx.error("input types differ: \(a.dataType) and \(b.dataType)") }
    return (a, b)
}

/// Like `ArithmeticVisitor`, for kernels defined on integer types only.
protocol IntegerVisitor {
    associatedtype Output
    func callAsFunction<T: ArithmeticElement & FixedWidthInteger>(_ type: T.Type) throws -> Output
}

extension DataType {
    func visitInteger<V: IntegerVisitor>(_ visitor: V) throws -> V.Output {
        switch self {
        case .int8: try visitor(Int8.self)
        case .uint8: try visitor(UInt8.self)
        case .int16: try visitor(Int16.self)
        case .uint16: try visitor(UInt16.self)
        case .int32: try visitor(Int32.self)
        case .uint32: try visitor(UInt32.self)
        case .int64: try visitor(Int64.self)
        case .uint64: try visitor(UInt64.self)
        default: throw VonnxError.invalidArgument("expects an integer input, got \(self)")
        }
    }
}

/// Bitwise and shift ops on integer tensors of one element type.
enum IntegerBinary {
    enum Op: Sendable { case and, or, xor, shiftLeft, shiftRight }

    struct Apply: IntegerVisitor {
        let op: Op, a: Tensor, b: Tensor, ctx: KernelContext
        func callAsFunction<T: ArithmeticElement & FixedWidthInteger>(_: T.Type) throws -> Tensor {
            switch op {
            case .and: try broadcastBinary(a, b, ctx) { (x: T, y: T) in x & y }
            case .or: try broadcastBinary(a, b, ctx) { (x: T, y: T) in x | y }
            case .xor: try broadcastBinary(a, b, ctx) { (x: T, y: T) in x ^ y }
            // smart shifts: a count past the width gives 0, never a trap
            case .shiftLeft: try broadcastBinary(a, b, ctx) { (x: T, y: T) in x << y }
            case .shiftRight: try broadcastBinary(a, b, ctx) { (x: T, y: T) in x >> y }
            }
        }
    }

    static func kernel(_ op: Op) -> CPUKernel {
        { ctx in
            let (a, b) = try sameTypeInputs(ctx)
            return [try a.dataType.visitInteger(Apply(op: op, a: a, b: b, ctx: ctx))]
        }
    }
}

/// Integer power by squaring with wrapping; negative exponents give the truncated real result.
@inline(__always) func integerPower<T: FixedWidthInteger, U: FixedWidthInteger>(_ base: T, _ exponent: U) -> T {
    if exponent < 0 {
        if base == 1 { return 1 }
        if T.isSigned && base == 0 &- 1 { return exponent & 1 == 0 ? 1 : base }
        return 0
    }
    var result: T = 1, b = base, e = UInt64(truncatingIfNeeded: exponent)
    while e > 0 {
        if e & 1 == 1 { result = result &* b }
        b = b &* b
        e >>= 1
    }
    return result
}

/// Pow: the output has the base's type; the exponent may have another numeric type.
enum Power {
    struct Base: ArithmeticVisitor {
        let a: Tensor, b: Tensor, ctx: KernelContext
        func callAsFunction<T: ArithmeticElement>(_: T.Type) throws -> Tensor {
            try b.dataType.visitArithmetic(Exponent<T>(a: a, b: b, ctx: ctx))
        }
    }
    struct Exponent<T: ArithmeticElement>: ArithmeticVisitor {
        let a: Tensor, b: Tensor, ctx: KernelContext
        func callAsFunction<U: ArithmeticElement>(_: U.Type) throws -> Tensor {
            if T.self == Float.self && U.self == Float.self {
                return try broadcastBinary(a, b, ctx) { (x: Float, y: Float) in powf(x, y) }
            }
            return try broadcastBinary(a, b, ctx) { (x: T, y: U) in T(fromDouble: pow(x.asDouble, y.asDouble)) }
        }
    }
    struct IntegerBase: IntegerVisitor {
        let a: Tensor, b: Tensor, ctx: KernelContext
        func callAsFunction<T: ArithmeticElement & FixedWidthInteger>(_: T.Type) throws -> Tensor {
            try b.dataType.visitInteger(IntegerExponent<T>(a: a, b: b, ctx: ctx))
        }
    }
    struct IntegerExponent<T: ArithmeticElement & FixedWidthInteger>: IntegerVisitor {
        let a: Tensor, b: Tensor, ctx: KernelContext
        func callAsFunction<U: ArithmeticElement & FixedWidthInteger>(_: U.Type) throws -> Tensor {
            try broadcastBinary(a, b, ctx) { (x: T, y: U) in integerPower(x, y) }
        }
    }
}

/// Mod with `fmod` = 1: the remainder takes the dividend's sign (C fmod); with `fmod` = 0
/// (integers only): it takes the divisor's sign (Python %). A zero integer divisor gives 0.
enum Modulo {
    struct Integer: IntegerVisitor {
        let fmod: Bool, a: Tensor, b: Tensor, ctx: KernelContext
        func callAsFunction<T: ArithmeticElement & FixedWidthInteger>(_: T.Type) throws -> Tensor {
            if fmod {
                return try broadcastBinary(a, b, ctx) { (x: T, y: T) in
                    y == 0 ? 0 : x.remainderReportingOverflow(dividingBy: y).partialValue
                }
            }
            return try broadcastBinary(a, b, ctx) { (x: T, y: T) -> T in
                guard y != 0 else { return 0 }
                let r = x.remainderReportingOverflow(dividingBy: y).partialValue
                return r != 0 && (r < 0) != (y < 0) ? r &+ y : r
            }
        }
    }
    /// Floating point always uses fmod; fmod = 0 maps NaN results to 0 as the ONNX reference does.
    struct Floating: ArithmeticVisitor {
        let fmod: Bool, a: Tensor, b: Tensor, ctx: KernelContext
        func callAsFunction<T: ArithmeticElement>(_: T.Type) throws -> Tensor {
            let nanToZero = !fmod
            if T.self == Float.self {
                return try broadcastBinary(a, b, ctx) { (x: Float, y: Float) in
                    let r = fmodf(x, y)
                    return nanToZero && r.isNaN ? 0 : r
                }
            }
            return try broadcastBinary(a, b, ctx) { (x: T, y: T) in
                let r = Glibc.fmod(x.asDouble, y.asDouble)
                return T(fromDouble: nanToZero && r.isNaN ? 0 : r)
            }
        }
    }
}

extension CPUKernels {
    public static let add = BinaryArithmetic.kernel(.add)
    public static let sub = BinaryArithmetic.kernel(.sub)
    public static let mul = BinaryArithmetic.kernel(.mul)
    public static let div = BinaryArithmetic.kernel(.div)

    public static let bitwiseAnd = IntegerBinary.kernel(.and)
    public static let bitwiseOr = IntegerBinary.kernel(.or)
    public static let bitwiseXor = IntegerBinary.kernel(.xor)

    /// BitShift: `direction` is "LEFT" or "RIGHT".
    public static let bitShift: CPUKernel = { ctx in
        switch try ctx.node.string("direction") {
        case "LEFT": try IntegerBinary.kernel(.shiftLeft)(ctx)
        case "RIGHT": try IntegerBinary.kernel(.shiftRight)(ctx)
        case let d: throw ctx.error("attribute 'direction' must be LEFT or RIGHT, got \(d ?? "nothing")")
        }
    }

    public static let bitwiseNot: CPUKernel = { ctx in
        struct Not: IntegerVisitor {
            let x: Tensor, ctx: KernelContext
            func callAsFunction<T: ArithmeticElement & FixedWidthInteger>(_: T.Type) throws -> Tensor {
                mapElements(x, ctx) { (v: T) in ~v }
            }
        }
        let x = try ctx.input(0)
        return [try x.dataType.visitInteger(Not(x: x, ctx: ctx))]
    }

    public static let powOp: CPUKernel = { ctx in
        let a = try ctx.input(0), b = try ctx.input(1)
        if a.dataType.isInteger && b.dataType.isInteger {
            return [try a.dataType.visitInteger(Power.IntegerBase(a: a, b: b, ctx: ctx))]
        }
        return [try a.dataType.visitArithmetic(Power.Base(a: a, b: b, ctx: ctx))]
    }

    public static let mod: CPUKernel = { ctx in
        let (a, b) = try sameTypeInputs(ctx)
        let fmod = try ctx.node.int("fmod", default: 0) != 0
        if a.dataType.isInteger {
            return [try a.dataType.visitInteger(Modulo.Integer(fmod: fmod, a: a, b: b, ctx: ctx))]
        }
        return [try a.dataType.visitArithmetic(Modulo.Floating(fmod: fmod, a: a, b: b, ctx: ctx))]
    }
}
