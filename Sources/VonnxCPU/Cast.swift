import VonnxIR

/// bfloat16 bits (stored as UInt16) widened to float32.
func bfloat16ToFloat(_ x: Tensor, _ ctx: KernelContext) -> Tensor {
    mapElements(x, ctx) { (b: UInt16) in Float(bitPattern: UInt32(b) << 16) }
}

/// float32 narrowed to bfloat16 bits (`bfloat16Bits`: nearest, ties to even; NaN stays a quiet NaN).
func floatToBfloat16(_ x: Tensor, _ ctx: KernelContext) -> Tensor {
    mapElements(x, ctx, bfloat16Bits).retyped(.bfloat16)
}

/// Element conversions between numeric types: integer to integer wraps (NumPy's astype),
/// float to integer truncates toward zero and saturates (NaN gives 0), to bool is `!= 0`.
enum Conversion {
    struct From: ElementVisitor {
        let x: Tensor, to: DataType, ctx: KernelContext
        func callAsFunction<S: NumericElement>(_: S.Type) throws -> Tensor {
            try to.visit(To<S>(x: x, ctx: ctx))
        }
    }
    struct To<S: NumericElement>: ElementVisitor {
        let x: Tensor, ctx: KernelContext
        func callAsFunction<R: NumericElement>(_: R.Type) throws -> Tensor {
            if S.self == Double.self && R.self == Float16.self {
                // one rounding straight to half precision, not two through float32
                return mapElements(x, ctx) { (v: Double) in Float16(v) }
            }
            if S.self == Float.self && R.self == Float16.self { return mapElements(x, ctx) { (v: Float) in Float16(v) } }
            if S.self == Float16.self && R.self == Float.self { return mapElements(x, ctx) { (v: Float16) in Float(v) } }
            return mapElements(x, ctx) { (v: S) in R(fromDouble: v.asDouble) }
        }
    }
    struct FromInteger: IntegerVisitor {
        let x: Tensor, to: DataType, ctx: KernelContext
        func callAsFunction<S: ArithmeticElement & FixedWidthInteger>(_: S.Type) throws -> Tensor {
            try to.visitInteger(ToInteger<S>(x: x, ctx: ctx))
        }
    }
    struct ToInteger<S: ArithmeticElement & FixedWidthInteger>: IntegerVisitor {
        let x: Tensor, ctx: KernelContext
        func callAsFunction<R: ArithmeticElement & FixedWidthInteger>(_: R.Type) throws -> Tensor {
            mapElements(x, ctx) { (v: S) in R(truncatingIfNeeded: v) }
        }
    }

    /// `x` converted to element type `to`; `x` itself when it already has that type.
    static func cast(_ x: Tensor, to: DataType, _ ctx: KernelContext) throws -> Tensor {
        if x.dataType == to { return x }
        if x.dataType == .string { return try fromStrings(x, to: to, ctx) }
        if x.dataType == .bfloat16 { return try cast(bfloat16ToFloat(x, ctx), to: to, ctx) }
        switch to {
        case .string:
            return Tensor(strings: try decimalStrings(x), shape: x.shape)
        case .bfloat16:
            return floatToBfloat16(try cast(x, to: .float, ctx), ctx)
        default:
            if x.dataType.isInteger && to.isInteger {
                return try x.dataType.visitInteger(FromInteger(x: x, to: to, ctx: ctx))
            }
            return try x.dataType.visit(From(x: x, to: to, ctx: ctx))
        }
    }

    /// Each element in decimal: integers exactly (all 64 bits, as onnxruntime prints them), bool
    /// as 1 or 0, floating point as Swift prints a `Double` ("0.5", "nan", "-inf").
    static func decimalStrings(_ x: Tensor) throws -> [String] {
        struct Exact: IntegerVisitor {
            let x: Tensor
            func callAsFunction<T: ArithmeticElement & FixedWidthInteger>(_: T.Type) -> [String] {
                x.scalars(as: T.self).map { "\($0)" }
            }
        }
        if x.dataType.isInteger { return try x.dataType.visitInteger(Exact(x: x)) }
        return x.doubles().map { x.dataType == .bool ? ($0 != 0 ? "1" : "0") : "\($0)" }
    }

    /// Parses each string as a number ("inf", "nan" and exponents accepted); others are an error.
    /// Integers parse exactly up to UInt64's range and wrap to narrower types like any integer cast.
    static func fromStrings(_ x: Tensor, to: DataType, _ ctx: KernelContext) throws -> Tensor {
        let strings = x.storage.strings
        if to.isInteger {
            let values = try strings.map { s -> Int64 in
                if let v = Int64(s) { return v }
                if let v = UInt64(s) { return Int64(bitPattern: v) }  // beyond Int64: the cast below gives it back to uint64
                guard let d = Double(s) else { throw ctx.error("cannot parse '\(s)' as \(to)") }
                return Int64(fromDouble: d)
            }
            return try cast(Tensor(shape: x.shape, scalars: values), to: to, ctx)
        }
        let values = try strings.map { s -> Double in
            guard let d = Double(s) else { throw ctx.error("cannot parse '\(s)' as \(to)") }
            return d
        }
        return try cast(Tensor(shape: x.shape, scalars: values), to: to, ctx)
    }
}

extension CPUKernels {
    /// Cast to the element type in attribute `to`.
    public static let cast: CPUKernel = { ctx in
        let x = try ctx.input(0)
        guard let raw = try ctx.node.int("to") else { throw ctx.error("attribute 'to' is required") }
        guard let to = Int32(exactly: raw).flatMap(DataType.init(rawValue:)) else {
            throw ctx.error("attribute 'to' = \(raw) is not a supported element type")
        }
        return [try Conversion.cast(x, to: to, ctx)]
    }

    /// CastLike: cast input 0 to input 1's element type.
    public static let castLike: CPUKernel = { ctx in
        [try Conversion.cast(try ctx.input(0), to: try ctx.input(1).dataType, ctx)]
    }
}
