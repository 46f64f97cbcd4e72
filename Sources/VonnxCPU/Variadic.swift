import VonnxIR

/// Min, Max, Sum, Mean over one or more inputs of one element type, broadcast together.
/// Min and Max propagate NaN as NumPy's minimum and maximum do.
enum Variadic {
    enum Op: Sendable { case min, max, sum, mean }

    struct Fold: ArithmeticVisitor {
        let op: Op, inputs: [Tensor], ctx: KernelContext
        func callAsFunction<T: ArithmeticElement>(_: T.Type) throws -> Tensor {
            var acc = inputs[0]
            for next in inputs.dropFirst() {
                acc = switch op {
                case .min: try broadcastBinary(acc, next, ctx) { (a: T, b: T) in b < a || b != b ? b : a }
                case .max: try broadcastBinary(acc, next, ctx) { (a: T, b: T) in b > a || b != b ? b : a }
                case .sum, .mean: try broadcastBinary(acc, next, ctx, T.add)
                }
            }
            guard op == .mean else { return acc }
            guard T.dataType.isFloatingPoint else { throw ctx.error("Mean expects floating-point inputs, got \(T.dataType)") }
            let n = T(fromDouble: Double(inputs.count))
            return mapElements(acc, ctx) { (v: T) in T.div(v, n) }
        }
    }

    static func kernel(_ op: Op) -> CPUKernel {
        { ctx in
            let inputs = try ctx.inputs.indices.map { try ctx.input($0) }
            guard let first = inputs.first else { throw ctx.error("needs at least one input") }
            for t in inputs where t.dataType != first.dataType {
                throw ctx.error("input types differ: \(first.dataType) and \(t.dataType)")
            }
            if first.dataType == .bfloat16 {
                let y = try Fold(op: op, inputs: inputs.map { bfloat16ToFloat($0, ctx) }, ctx: ctx)(Float.self)
                return [floatToBfloat16(y, ctx)]
            }
            return [try first.dataType.visitArithmetic(Fold(op: op, inputs: inputs, ctx: ctx))]
        }
    }
}

extension CPUKernels {
    public static let minOp = Variadic.kernel(.min)
    public static let maxOp = Variadic.kernel(.max)
    public static let sum = Variadic.kernel(.sum)
    public static let mean = Variadic.kernel(.mean)
}
