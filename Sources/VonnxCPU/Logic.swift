import VonnxIR

/// Not, And, Or, Xor on bool tensors (NumPy broadcasting), and Where.
enum Logic {
    enum Op: Sendable { case and, or, xor }

    static func kernel(_ op: Op) -> CPUKernel {
        { ctx in
            let (a, b) = try sameTypeInputs(ctx)
            guard a.dataType == .bool else { throw ctx.error("expects bool inputs, got \(a.dataType)") }
            // on the 0/1 bytes, so the loops vectorize
            let y = switch op {
            case .and: try broadcastBinary(a, b, ctx) { (x: UInt8, y: UInt8) in x & y }
            case .or: try broadcastBinary(a, b, ctx) { (x: UInt8, y: UInt8) in x | y }
            case .xor: try broadcastBinary(a, b, ctx) { (x: UInt8, y: UInt8) in x ^ y }
            }
            return [y.retyped(.bool)]
        }
    }

    struct Select: ElementVisitor {
        let condition: Tensor, x: Tensor, y: Tensor, ctx: KernelContext
        func callAsFunction<T: NumericElement>(_: T.Type) throws -> Tensor {
            try broadcastTernary(condition, x, y, ctx) { (c: Bool, a: T, b: T) in c ? a : b }
        }
    }
}

extension CPUKernels {
    public static let and = Logic.kernel(.and)
    public static let or = Logic.kernel(.or)
    public static let xor = Logic.kernel(.xor)

    public static let not: CPUKernel = { ctx in
        let x = try ctx.input(0)
        guard x.dataType == .bool else { throw ctx.error("expects a bool input, got \(x.dataType)") }
        return [mapElements(x, ctx) { (v: Bool) in !v }]
    }

    /// Where(condition, X, Y): X where condition holds, else Y, all three broadcast together.
    public static let `where`: CPUKernel = { ctx in
        let condition = try ctx.input(0), x = try ctx.input(1), y = try ctx.input(2)
        guard condition.dataType == .bool else { throw ctx.error("condition must be bool, got \(condition.dataType)") }
        guard x.dataType == y.dataType else { throw ctx.error("X and Y types differ: \(x.dataType) and \(y.dataType)") }
        switch x.dataType {
        case .string:
            let (shape, idx) = try broadcastIndices([condition.shape, x.shape, y.shape], ctx)
            let c = condition.scalars(as: Bool.self), sx = x.storage.strings, sy = y.storage.strings
            return [Tensor(strings: (0..<idx[0].count).map { c[idx[0][$0]] ? sx[idx[1][$0]] : sy[idx[2][$0]] }, shape: shape)]
        case .bfloat16:
            return [try Logic.Select(condition: condition, x: x, y: y, ctx: ctx)(UInt16.self).retyped(.bfloat16)]
        default:
            return [try x.dataType.visit(Logic.Select(condition: condition, x: x, y: y, ctx: ctx))]
        }
    }
}
