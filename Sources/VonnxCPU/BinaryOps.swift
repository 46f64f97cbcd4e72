import VonnxIR

/// Add, Sub, Mul, Div: same element type on both sides, NumPy broadcasting.
enum BinaryArithmetic {
    enum Op: Sendable { case add, sub, mul, div }

    struct Apply: ArithmeticVisitor {
        let op: Op, a: Tensor, b: Tensor, ctx: KernelContext
        func callAsFunction<T: ArithmeticElement>(_: T.Type) throws -> Tensor {
            switch op {
            case .add: try broadcastBinary(a, b, ctx, T.add)
            case .sub: try broadcastBinary(a, b, ctx, T.sub)
            case .mul: try broadcastBinary(a, b, ctx, T.mul)
            case .div: try broadcastBinary(a, b, ctx, T.div)
            }
        }
    }

    static func kernel(_ op: Op) -> CPUKernel {
        { ctx in
            let a = try ctx.input(0), b = try ctx.input(1)
            guard a.dataType == b.dataType else {
                throw ctx.error("input types differ: \(a.dataType) and \(b.dataType)")
            }
            return [try a.dataType.visitArithmetic(Apply(op: op, a: a, b: b, ctx: ctx))]
        }
    }
}

extension CPUKernels {
    public static let add = BinaryArithmetic.kernel(.add)
    public static let sub = BinaryArithmetic.kernel(.sub)
    public static let mul = BinaryArithmetic.kernel(.mul)
    public static let div = BinaryArithmetic.kernel(.div)
}
