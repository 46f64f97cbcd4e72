import VonnxIR

/// Copies the elements of `src` read with `strides` over `sizes` (row-major order) into the
/// contiguous `dst`.
func gatherStrided<T>(_ src: UnsafePointer<T>, sizes: [Int], strides: [Int], into dst: UnsafeMutablePointer<T>) {
    let total = sizes.reduce(1, *)
    guard total > 0 else { return }
    guard let inner = sizes.last, let innerStride = strides.last else { dst[0] = src[0]; return }
    var idx = [Int](repeating: 0, count: sizes.count)
    var off = 0, o = 0
    while o < total {
        var p = off
        for _ in 0..<inner { dst[o] = src[p]; p += innerStride; o += 1 }
        var a = sizes.count - 2
        while a >= 0 {
            idx[a] += 1; off += strides[a]
            if idx[a] < sizes[a] { break }
            off -= strides[a] * sizes[a]; idx[a] = 0; a -= 1
        }
        if a < 0 { break }
    }
}

/// A matrix product C[m×n] = A[m×k]·B[k×n] on contiguous row-major buffers.
typealias GemmFunction<T> = (_ m: Int, _ n: Int, _ k: Int, UnsafePointer<T>, UnsafePointer<T>, UnsafeMutablePointer<T>) -> Void

/// Two-operand Einsum as a batched matrix product: operand A gathered as [P, M, K], B as
/// [P, K, N] (P: output labels in both, M/N: output labels of one side, K: summed labels;
/// gathering by strides also takes diagonals and broadcasts), then C permuted to the output.
/// Nil when the gathered operands would be too large (the direct loop then runs instead).
func einsumByGemm<T: TensorElement>(_ a: Tensor, _ b: Tensor, _ plan: EinsumPlan, gemm: GemmFunction<T>) -> Tensor? {
    let out = Tensor(zeros: T.dataType, shape: plan.outShape)
    let sa = plan.strides[0], sb = plan.strides[1], g = plan.product, size = g.size
    let (P, M, N, K) = (g.p, g.m, g.n, g.k)
    let (p, m, n, k) = (g.count(P), g.count(M), g.count(N), g.count(K))
    guard let ca = checkedElementCount([p, m, k]), let cb = checkedElementCount([p, k, n]),
          ca <= max(a.count, b.count) * 16, cb <= max(a.count, b.count) * 16,
          max(m, n, k) <= Int(Int32.max) else { return nil }
    guard p * m * n > 0, k > 0 else { return out }
    let bufA = UnsafeMutablePointer<T>.allocate(capacity: p * m * k)
    let bufB = UnsafeMutablePointer<T>.allocate(capacity: p * k * n)
    let bufC = UnsafeMutablePointer<T>.allocate(capacity: p * m * n)
    defer { bufA.deallocate(); bufB.deallocate(); bufC.deallocate() }
    gatherStrided(UnsafePointer(a.storage.pointer.assumingMemoryBound(to: T.self)), sizes: (P + M + K).map { size[$0]! },
                  strides: (P + M + K).map { sa[$0] ?? 0 }, into: bufA)
    gatherStrided(UnsafePointer(b.storage.pointer.assumingMemoryBound(to: T.self)), sizes: (P + K + N).map { size[$0]! },
                  strides: (P + K + N).map { sb[$0] ?? 0 }, into: bufB)
    for batch in 0..<p { gemm(m, n, k, bufA + batch * m * k, bufB + batch * k * n, bufC + batch * m * n) }
    let cLabels = P + M + N
    let cStrides = contiguousStrides(cLabels.map { size[$0]! })
    var strideOf: [Int: Int] = [:]
    for (l, s) in zip(cLabels, cStrides) { strideOf[l] = s }
    gatherStrided(UnsafePointer(bufC), sizes: plan.outShape, strides: plan.outputLabels.map { strideOf[$0]! },
                  into: out.storage.pointer.assumingMemoryBound(to: T.self))
    return out
}

extension CPUKernels {
    /// Einsum over any number of operands. Two float32/float64 operands go through BLAS
    /// (`einsumByGemm`); anything else is computed in Double by a direct loop: each output
    /// element sums, over the summed labels, the product of the operands.
    public static let einsum: CPUKernel = { ctx in
        guard let equation = try ctx.node.string("equation") else { throw ctx.error("equation is missing") }
        let xs = try (0..<ctx.inputs.count).map { try ctx.input($0) }
        guard let first = xs.first else { throw ctx.error("needs at least one input") }
        guard xs.allSatisfy({ $0.dataType == first.dataType }) else { throw ctx.error("inputs must share one element type") }
        let plan = try EinsumPlan(equation: equation, shapes: xs.map(\.shape), node: ctx.node)
        try ctx.checkAllocatable("the output", dims: plan.outShape, first.dataType)
        if xs.count == 2 && first.dataType == .float, let out = einsumByGemm(xs[0], xs[1], plan, gemm: { (m: Int, n: Int, k: Int, a, b, c) in
            Float.gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0, c: c, ldc: n)
        }) { return [out] }
        if xs.count == 2 && first.dataType == .double, let out = einsumByGemm(xs[0], xs[1], plan, gemm: { (m: Int, n: Int, k: Int, a, b, c) in
            Double.gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0, c: c, ldc: n)
        }) { return [out] }
        struct Apply: ArithmeticVisitor {
            let xs: [Tensor], plan: EinsumPlan, ctx: KernelContext
            func callAsFunction<T: ArithmeticElement>(_: T.Type) throws -> Tensor {
                let out = Tensor(zeros: T.dataType, shape: plan.outShape)
                nonisolated(unsafe) let ptrs = xs.map { UnsafePointer($0.storage.pointer.assumingMemoryBound(to: T.self)) }
                nonisolated(unsafe) let po = out.storage.pointer.assumingMemoryBound(to: T.self)
                let outStrides = plan.strides.map { s in plan.outputLabels.map { s[$0] ?? 0 } }
                let sumStrides = plan.strides.map { s in plan.sumLabels.map { s[$0] ?? 0 } }
                let outShape = plan.outShape, sumSizes = plan.sumSizes
                let inner = sumSizes.reduce(1, *)
                guard inner > 0 else { return out }
                let n = xs.count
                ctx.pool.parallelFor(out.count, grain: max(1, 16384 / inner)) { range in
                    var idx = [Int](repeating: 0, count: sumSizes.count)
                    var offs = [Int](repeating: 0, count: n)
                    for o in range {
                        var rem = o
                        for k in 0..<n { offs[k] = 0 }
                        for a in stride(from: outShape.count - 1, through: 0, by: -1) {
                            let i = rem % outShape[a]; rem /= outShape[a]
                            for k in 0..<n { offs[k] += i * outStrides[k][a] }
                        }
                        for a in idx.indices { idx[a] = 0 }
                        var acc = 0.0
                        for _ in 0..<inner {
                            var p = 1.0
                            for k in 0..<n { p *= ptrs[k][offs[k]].asDouble }
                            acc += p
                            var a = sumSizes.count - 1
                            while a >= 0 {
                                idx[a] += 1
                                for k in 0..<n { offs[k] += sumStrides[k][a] }
                                if idx[a] < sumSizes[a] { break }
                                for k in 0..<n { offs[k] -= sumStrides[k][a] * sumSizes[a] }
                                idx[a] = 0; a -= 1
                            }
                        }
                        po[o] = T(fromDouble: acc)
                    }
                }
                return out
            }
        }
        return [try first.dataType.visitArithmetic(Apply(xs: xs, plan: plan, ctx: ctx))]
    }
}
