import VonnxIR

/// CumSum / CumProd along one axis, in the element type (integers wrap), with the
/// `exclusive` and `reverse` attributes.
struct CumulativeApply: ArithmeticVisitor {
    let x: Tensor, axis: Int, exclusive: Bool, reverse: Bool, product: Bool, ctx: KernelContext

    func callAsFunction<T: ArithmeticElement>(_: T.Type) throws -> Tensor {
        // concrete calls, so the loops are specialized rather than run through witness tables
        switch T.dataType {
        case .float: return try compute(Float.self)
        case .double: return try compute(Double.self)
        case .int64: return try compute(Int64.self)
        case .int32: return try compute(Int32.self)
        default: return try compute(T.self)
        }
    }

    func compute<T: ArithmeticElement>(_: T.Type) throws -> Tensor {
        let l = AxisLayout(x.shape, axis: axis)
        let out = Tensor(zeros: T.dataType, shape: x.shape)
        nonisolated(unsafe) let px = UnsafePointer(x.storage.pointer.assumingMemoryBound(to: T.self))
        nonisolated(unsafe) let po = out.storage.pointer.assumingMemoryBound(to: T.self)
        let (exclusive, reverse, product) = (exclusive, reverse, product)
        let identity = product ? T(fromDouble: 1) : T.zero
        ctx.pool.parallelFor(l.outer * l.inner, grain: max(1, 16384 / max(l.n, 1))) { range in
            for o in range {
                let base = (o / l.inner) * l.n * l.inner + o % l.inner
                var acc = identity
                for step in 0..<l.n {
                    let p = base + (reverse ? l.n - 1 - step : step) * l.inner
                    let v = px[p]
                    if exclusive { po[p] = acc }
                    acc = product ? T.mul(acc, v) : T.add(acc, v)
                    if !exclusive { po[p] = acc }
                }
            }
        }
        return out
    }
}

extension CPUKernels {
    static func cumulativeKernel(product: Bool) -> CPUKernel {
        { ctx in
            let x = try ctx.input(0), axisTensor = try ctx.input(1)
            guard axisTensor.count == 1, axisTensor.dataType.isInteger else {
                throw ctx.error("axis must be a single integer, got \(axisTensor)")
            }
            guard x.rank > 0 else { throw ctx.error("input must have rank 1 or more") }
            let axis = try normalizeAxis(axisTensor.ints()[0], rank: x.rank, ctx)
            return [try x.dataType.visitArithmetic(CumulativeApply(
                x: x, axis: axis, exclusive: try ctx.node.int("exclusive", default: 0) != 0,
                reverse: try ctx.node.int("reverse", default: 0) != 0, product: product, ctx: ctx))]
        }
    }

    public static let cumSum = cumulativeKernel(product: false)
    public static let cumProd = cumulativeKernel(product: true)
}
