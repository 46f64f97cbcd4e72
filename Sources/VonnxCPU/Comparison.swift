import VonnxIR

/// Equal, Less, Greater, LessOrEqual, GreaterOrEqual: same element type on both sides,
/// NumPy broadcasting, bool output. Equal also compares bool and string tensors.
enum Comparison {
    enum Op: Sendable { case equal, less, greater, lessOrEqual, greaterOrEqual }

    struct Apply: ElementVisitor {
        let op: Op, a: Tensor, b: Tensor, ctx: KernelContext
        func callAsFunction<T: NumericElement>(_: T.Type) throws -> Tensor {
            switch op {
            case .equal: try broadcastBinary(a, b, ctx) { (x: T, y: T) in x == y }
            case .less: try broadcastBinary(a, b, ctx) { (x: T, y: T) in x < y }
            case .greater: try broadcastBinary(a, b, ctx) { (x: T, y: T) in x > y }
            case .lessOrEqual: try broadcastBinary(a, b, ctx) { (x: T, y: T) in x <= y }
            case .greaterOrEqual: try broadcastBinary(a, b, ctx) { (x: T, y: T) in x >= y }
            }
        }
    }

    static func kernel(_ op: Op) -> CPUKernel {
        { ctx in
            let (a, b) = try sameTypeInputs(ctx)
            if a.dataType == .string {
                guard op == .equal else { throw ctx.error("does not compare string tensors") }
                let (shape, idx) = try broadcastIndices([a.shape, b.shape], ctx)
                let sa = a.storage.strings, sb = b.storage.strings
                return [Tensor(shape: shape, scalars: zip(idx[0], idx[1]).map { sa[$0] == sb[$1] })]
            }
            if a.dataType == .bfloat16 {
                return [try Apply(op: op, a: bfloat16ToFloat(a, ctx), b: bfloat16ToFloat(b, ctx), ctx: ctx)(Float.self)]
            }
            return [try a.dataType.visit(Apply(op: op, a: a, b: b, ctx: ctx))]
        }
    }
}

extension CPUKernels {
    public static let equal = Comparison.kernel(.equal)
    public static let less = Comparison.kernel(.less)
    public static let greater = Comparison.kernel(.greater)
    public static let lessOrEqual = Comparison.kernel(.lessOrEqual)
    public static let greaterOrEqual = Comparison.kernel(.greaterOrEqual)
}
