import CGemm
import VonnxIR

/// Softmax, LogSoftmax and Hardmax. From opset 13 they work along one axis (default -1);
/// before, the input is coerced to 2-D at `axis` (default 1) and the op works along dim 1.
enum SoftmaxKernels {
    enum Kind: Sendable { case softmax, logSoftmax, hardmax }

    struct Apply: RealVisitor {
        let ctx: KernelContext, x: Tensor, kind: Kind
        func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
            let modern = ctx.opset >= 13
            let axis = try normalizeAxis(try ctx.node.int("axis", default: modern ? -1 : 1), rank: x.rank, ctx)
            let shape = x.shape
            let outer = shape[..<min(axis, shape.count)].reduce(1, *)
            let n = modern ? (shape.isEmpty ? 1 : shape[axis]) : shape[axis...].reduce(1, *)
            let inner = modern && !shape.isEmpty ? shape[(axis + 1)...].reduce(1, *) : 1
            let y = Tensor(zeros: T.dataType, shape: shape)
            guard n > 0 else { return [y] }
            nonisolated(unsafe) let (px, py) = (elements(x, T.self), elements(y, T.self))
            let kind = kind, vectorized = T.self == Float.self && inner == 1 && PackedGemm.available
            ctx.pool.parallelFor(outer * inner, grain: max(1, 8192 / n)) { r in
                for line in r {
                    let base = (line / inner) * n * inner + line % inner
                    if kind == .softmax && vectorized {
                        // CGemm's vectorized row (contiguous rows, float32)
                        func f(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> { UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self) }
                        vx_softmax(f(px + base), f(py + base), n)
                        continue
                    }
                    var m = px[base], at = 0
                    for i in 1..<n where px[base + i * inner] > m { m = px[base + i * inner]; at = i }
                    switch kind {
                    case .hardmax:
                        py[base + at * inner] = 1
                    case .softmax:
                        var sum = T.zero
                        for i in 0..<n { let e = T.exp(px[base + i * inner] - m); py[base + i * inner] = e; sum += e }
                        let s = 1 / sum
                        for i in 0..<n { py[base + i * inner] *= s }
                    case .logSoftmax:
                        var sum = T.zero
                        for i in 0..<n { sum += T.exp(px[base + i * inner] - m) }
                        let l = T.log(sum) + m
                        for i in 0..<n { py[base + i * inner] = px[base + i * inner] - l }
                    }
                }
            }
            return [y]
        }
    }

    static func kernel(_ kind: Kind) -> CPUKernel {
        widenFloat16 { ctx in
            let x = try ctx.input(0)
            return try x.dataType.visitReal(Apply(ctx: ctx, x: x, kind: kind), ctx)
        }
    }
}

extension CPUKernels {
    public static let softmax = SoftmaxKernels.kernel(.softmax)
    public static let logSoftmax = SoftmaxKernels.kernel(.logSoftmax)
    public static let hardmax = SoftmaxKernels.kernel(.hardmax)
}
