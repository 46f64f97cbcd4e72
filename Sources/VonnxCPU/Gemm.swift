import CGemm
import VonnxIR

/// Gemm, MatMul and MatMulInteger.
enum MatrixKernels {
    /// Gemm: Y = alpha·op(A)·op(B) + beta·C, C unidirectionally broadcast to [M, N].
    struct GemmApply: RealVisitor {
        let ctx: KernelContext, a: Tensor, b: Tensor, c: Tensor?
        func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
            let transA = try ctx.node.int("transA", default: 0) != 0
            let transB = try ctx.node.int("transB", default: 0) != 0
            let alpha = T(try ctx.node.float("alpha", default: 1)), beta = T(try ctx.node.float("beta", default: 1))
            guard a.rank == 2, b.rank == 2 else { throw ctx.error("A \(a.shape) and B \(b.shape) must be 2-D") }
            guard b.dataType == a.dataType, c == nil || c!.dataType == a.dataType else {
                throw ctx.error("inputs must share one element type")
            }
            let (m, k) = transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
            let (kb, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
            guard k == kb else { throw ctx.error("inner dims differ: A \(a.shape) B \(b.shape) (transA \(transA), transB \(transB))") }
            if let y = packedGemm(ctx, a: a, b: b, c: c, transA: transA, transB: transB, m: m, n: n, k: k,
                                  alpha: Float(alpha.asDouble), beta: Float(beta.asDouble)) { return [y] }
            let y = Tensor(zeros: T.dataType, shape: [m, n])
            let py = elements(y, T.self)
            var betaUsed = T.zero
            if let c, beta != 0 {
                guard c.rank <= 2, let shape = broadcastShape([c.shape, [m, n]]), shape == [m, n] else {
                    throw ctx.error("C \(c.shape) does not broadcast to [\(m), \(n)]")
                }
                let strides = broadcastStrides(c.shape, to: [m, n]), pc = elements(c, T.self)
                for i in 0..<m { for j in 0..<n { py[i * n + j] = pc[i * strides[0] + j * strides[1]] } }
                betaUsed = beta
            }
            parallelGemm(ctx.pool, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                         a: elements(a, T.self), lda: a.shape[1], b: elements(b, T.self), ldb: b.shape[1],
                         beta: betaUsed, c: py, ldc: n)
            return [y]
        }
    }

    /// Shapes of a NumPy matmul: batch shape, M, K, N, output shape, and where each side's
    /// matrices lie: batch offsets and row and column strides, in elements, for operands laid out
    /// with `aStrides`/`bStrides` (a transposed view's; contiguous when nil).
    struct MatMulPlan {
        let m: Int, k: Int, n: Int, outShape: [Int], batch: Int
        let aOffsets: [Int], bOffsets: [Int]
        let aLayout: (rows: Int, columns: Int), bLayout: (rows: Int, columns: Int)

        init(_ a: [Int], _ b: [Int], aStrides: [Int]? = nil, bStrides: [Int]? = nil, _ ctx: KernelContext) throws {
            guard !a.isEmpty, !b.isEmpty else { throw ctx.error("MatMul inputs must not be scalars: \(a), \(b)") }
            let a2 = a.count == 1 ? [1, a[0]] : a, b2 = b.count == 1 ? [b[0], 1] : b
            let sa = aStrides ?? contiguousStrides(a), sb = bStrides ?? contiguousStrides(b)
            let sa2 = a.count == 1 ? [0, sa[0]] : sa, sb2 = b.count == 1 ? [sb[0], 0] : sb
            m = a2[a2.count - 2]; k = a2[a2.count - 1]; n = b2[b2.count - 1]
            guard b2[b2.count - 2] == k else { throw ctx.error("inner dims differ: \(a) × \(b)") }
            aLayout = (sa2[sa2.count - 2], sa2[sa2.count - 1]); bLayout = (sb2[sb2.count - 2], sb2[sb2.count - 1])
            let aBatch = Array(a2.dropLast(2)), bBatch = Array(b2.dropLast(2))
            guard let batchShape = broadcastShape([aBatch, bBatch]) else {
                throw ctx.error("batch dims of \(a) and \(b) do not broadcast")
            }
            var out = batchShape
            if a.count > 1 { out.append(m) }
            if b.count > 1 { out.append(n) }
            outShape = out
            guard let count = checkedElementCount(batchShape) else { throw ctx.error("batch shape \(batchShape) is too large") }
            batch = count
            /// Each batch axis's stride in `strides`, 0 where `shape` broadcasts along it.
            func batchStrides(_ shape: [Int], _ strides: [Int]) -> [Int] {
                let offset = batchShape.count - shape.count
                return batchShape.indices.map { i in i < offset || shape[i - offset] == 1 ? 0 : strides[i - offset] }
            }
            let ta = batchStrides(aBatch, sa2), tb = batchStrides(bBatch, sb2)
            var ao = [Int](), bo = [Int]()
            ao.reserveCapacity(count); bo.reserveCapacity(count)
            var index = [Int](repeating: 0, count: batchShape.count)
            for _ in 0..<count {
                ao.append(zip(index, ta).reduce(0) { $0 + $1.0 * $1.1 })
                bo.append(zip(index, tb).reduce(0) { $0 + $1.0 * $1.1 })
                var axis = batchShape.count - 1
                while axis >= 0 {
                    index[axis] += 1
                    if index[axis] < batchShape[axis] { break }
                    index[axis] = 0; axis -= 1
                }
            }
            aOffsets = ao; bOffsets = bo
        }
    }

    /// Float32 MatMul on CGemm's packed kernel (when the CPU has it, for products of more than
    /// one row and column; GEMV serves the others better), each side read through the plan's
    /// strides. A B that is one 2-D tensor (`b`, when `bIsMatrix`; a weight, in practice) is packed
    /// once and kept with its storage; A's batches, when they lie one after another, then run as
    /// one product of their stacked rows (so batches of single rows, a sequence model's
    /// [T, 1, K] through a linear layer, are one GEMM, not T GEMVs each reading all of B).
    /// `bias` ([N]) is added to every row as it is stored, then `activation` applied.
    static func packedMatMul(_ ctx: KernelContext, _ a: Tensor, _ b: Tensor, _ p: MatMulPlan, bIsMatrix: Bool,
                             bias: Tensor? = nil, activation: FusedActivation? = nil) -> Tensor? {
        guard a.dataType == .float, PackedGemm.available, (isStacked(p, bIsMatrix: bIsMatrix) ? p.batch * p.m : p.m) > 1, p.n > 1,
              max(p.batch * p.m, p.n, p.k) <= Int(Int32.max) else { return nil }
        let rhs = PackedGemm.Operand(base: elements(b, Float.self), offsets: p.bOffsets, rowStride: p.bLayout.rows, columnStride: p.bLayout.columns)
        let packed = bIsMatrix ? PackedGemm.packedMatrix(b, "matmul/\(p.bLayout.rows)/\(p.bLayout.columns)", k: p.k, n: p.n, rhs) : nil
        return packedProduct(ctx, a, p, rhs, packedB: packed, bias: bias, activation: activation)
    }

    /// Whether A's batches lie one after another, so that over one B matrix they run as one
    /// product of their stacked rows.
    private static func isStacked(_ p: MatMulPlan, bIsMatrix: Bool) -> Bool {
        bIsMatrix && p.aLayout.columns == 1 && p.aLayout.rows == p.k && p.aOffsets.enumerated().allSatisfy { $1 == $0 * p.m * p.k }
    }

    /// `packedMatMul`'s product, B read from `packedB` (one matrix packed whole) when given,
    /// else through `rhs`.
    private static func packedProduct(_ ctx: KernelContext, _ a: Tensor, _ p: MatMulPlan, _ rhs: PackedGemm.Operand,
                                      packedB: Tensor?, bias: Tensor?, activation: FusedActivation?) -> Tensor {
        let y = Tensor(uninitialized: .float, shape: p.outShape)  // the product writes every element
        let lhs = PackedGemm.Operand(base: elements(a, Float.self), offsets: p.aOffsets, rowStride: p.aLayout.rows, columnStride: p.aLayout.columns)
        let z = bias.map { UnsafePointer(elements($0, Float.self)) }
        let (m, batches) = isStacked(p, bIsMatrix: packedB != nil) ? (p.batch * p.m, 1) : (p.m, p.batch)
        PackedGemm.matmul(ctx.pool, m: m, n: p.n, k: p.k, batches: batches, a: lhs, b: rhs,
                          packedB: packedB.map { UnsafePointer(elements($0, Float.self)) }, c: elements(y, Float.self), z: z,
                          activation: FusedActivation.kernel(activation))
        return y
    }

    /// `packedMatMul` over a B the session packed ahead (`CPUKernels.packedMatMulWeight`) and
    /// holds in no other form: single rows run on the packed kernel too. The caller has checked
    /// that this CPU has the packed kernel and reads B's panel width.
    static func prepackedMatMul(_ ctx: KernelContext, _ a: Tensor, _ packedB: Tensor, _ p: MatMulPlan,
                                bias: Tensor?, activation: FusedActivation?) throws -> Tensor {
        guard a.dataType == .float, p.n > 1, max(p.batch * p.m, p.n, p.k) <= Int(Int32.max) else {
            throw ctx.error("needs float32 A (got \(a.dataType)), N > 1 and dims within 2³¹−1")
        }
        guard packedB.dataType == .float, packedB.count == vx_gemm_packed_b_size(Int32(p.k), Int32(p.n)) else {
            throw ctx.error("packed B \(packedB.shape) (\(packedB.dataType)) does not hold a packed [\(p.k), \(p.n)] float32 matrix")
        }
        let rhs = PackedGemm.Operand(base: elements(packedB, Float.self), offsets: p.bOffsets, rowStride: 0, columnStride: 0)
        return packedProduct(ctx, a, p, rhs, packedB: packedB, bias: bias, activation: activation)
    }

    /// Float32 Gemm on CGemm's packed kernel when alpha is 1 and C, if added, is added as is
    /// (beta 1) and is [N], [1, N] or [M, N] (the epilogue adds it); op(A) and op(B) are read
    /// through their strides, B (a weight, in practice) packed once and kept with its storage.
    static func packedGemm(_ ctx: KernelContext, a: Tensor, b: Tensor, c: Tensor?, transA: Bool, transB: Bool,
                           m: Int, n: Int, k: Int, alpha: Float, beta: Float) -> Tensor? {
        guard a.dataType == .float, PackedGemm.available, m > 1, n > 1, alpha == 1, max(m, n, k) <= Int(Int32.max) else { return nil }
        var ldz = 0
        if let c, beta != 0 {
            guard beta == 1, c.shape == [n] || c.shape == [1, n] || c.shape == [m, n] else { return nil }
            ldz = c.shape == [m, n] ? n : 0
        }
        let y = Tensor(uninitialized: .float, shape: [m, n])  // the product writes every element
        let lda = a.shape[1], ldb = b.shape[1]
        let lhs = PackedGemm.Operand(base: elements(a, Float.self), offsets: [0], rowStride: transA ? 1 : lda, columnStride: transA ? lda : 1)
        let rhs = PackedGemm.Operand(base: elements(b, Float.self), offsets: [0], rowStride: transB ? 1 : ldb, columnStride: transB ? ldb : 1)
        let packed = PackedGemm.packedMatrix(b, transB ? "gemm/t" : "gemm", k: k, n: n, rhs)
        PackedGemm.matmul(ctx.pool, m: m, n: n, k: k, batches: 1, a: lhs, b: rhs, packedB: elements(packed, Float.self),
                          c: elements(y, Float.self), z: beta != 0 ? c.map { UnsafePointer(elements($0, Float.self)) } : nil, ldz: ldz)
        return y
    }

    struct MatMulReal: RealVisitor {
        let ctx: KernelContext, a: Tensor, b: Tensor, plan: MatMulPlan
        func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
            let y = Tensor(zeros: T.dataType, shape: plan.outShape)
            let p = plan
            nonisolated(unsafe) let (pa, pb, py) = (UnsafePointer(elements(a, T.self)), UnsafePointer(elements(b, T.self)), elements(y, T.self))
            let one = T(1)
            if p.batch >= ctx.pool.threads && p.m * p.n * p.k < 1 << 20 {
                ctx.pool.parallelFor(p.batch) { r in
                    for i in r {
                        T.gemm(transA: false, transB: false, m: p.m, n: p.n, k: p.k, alpha: one, a: pa + p.aOffsets[i], lda: p.k,
                               b: pb + p.bOffsets[i], ldb: p.n, beta: .zero, c: py + i * p.m * p.n, ldc: p.n)
                    }
                }
            } else {
                for i in 0..<p.batch {
                    parallelGemm(ctx.pool, transA: false, transB: false, m: p.m, n: p.n, k: p.k, alpha: one,
                                 a: pa + p.aOffsets[i], lda: p.k, b: pb + p.bOffsets[i], ldb: p.n,
                                 beta: .zero, c: py + i * p.m * p.n, ldc: p.n)
                }
            }
            return [y]
        }
    }

    /// Integer matmul; `aZero`/`bZero` (MatMulInteger's zero points, per row of A / column of B
    /// or scalar) are subtracted first. Both sides are widened to R once (B transposed), so each
    /// output is a dot product of two contiguous rows in R's wrapping arithmetic.
    static func integerMatMul<A: NumericElement, B: NumericElement, R: ArithmeticElement>(
        _ a: Tensor, _ b: Tensor, _: A.Type, _: B.Type, _: R.Type, plan p: MatMulPlan, ctx: KernelContext,
        aZero: [Int] = [0], bZero: [Int] = [0]) throws -> Tensor {
        guard aZero.count == 1 || aZero.count == p.m else { throw ctx.error("a_zero_point has \(aZero.count) values for \(p.m) rows") }
        guard bZero.count == 1 || bZero.count == p.n else { throw ctx.error("b_zero_point has \(bZero.count) values for \(p.n) columns") }
        let y = Tensor(zeros: R.dataType, shape: p.outShape)
        guard p.m > 0, p.n > 0, p.k > 0 else { return y }
        nonisolated(unsafe) let (pa, pb, py) = (elements(a, A.self), elements(b, B.self), elements(y, R.self))
        let za = aZero.map { R(fromDouble: Double($0)) }, zb = bZero.map { R(fromDouble: Double($0)) }
        for bi in 0..<p.batch {
            var columns = [R](repeating: .zero, count: p.n * p.k)
            for q in 0..<p.k {
                for j in 0..<p.n { columns[j * p.k + q] = R.sub(R(fromDouble: pb[p.bOffsets[bi] + q * p.n + j].asDouble), zb[zb.count == 1 ? 0 : j]) }
            }
            columns.withUnsafeBufferPointer { buffer in
                nonisolated(unsafe) let bt = buffer.baseAddress!
                ctx.pool.parallelFor(p.m, grain: max(1, 4096 / max(1, p.n * p.k))) { r in
                    var row = [R](repeating: .zero, count: p.k)
                    for i in r {
                        let ao = p.aOffsets[bi] + i * p.k, zero = za[za.count == 1 ? 0 : i]
                        for q in 0..<p.k { row[q] = R.sub(R(fromDouble: pa[ao + q].asDouble), zero) }
                        row.withUnsafeBufferPointer { x in
                            for j in 0..<p.n {
                                var acc = R.zero
                                for q in 0..<p.k { acc = R.add(acc, R.mul(x[q], bt[j * p.k + q])) }
                                py[(bi * p.m + i) * p.n + j] = acc
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    struct MatMulInt: ArithmeticVisitor {
        let ctx: KernelContext, a: Tensor, b: Tensor, plan: MatMulPlan
        func callAsFunction<T: ArithmeticElement>(_: T.Type) throws -> [Tensor] {
            [try integerMatMul(a, b, T.self, T.self, T.self, plan: plan, ctx: ctx)]
        }
    }
}

/// An input seen through a permutation of its axes (`perm`, nil for none): its shape and
/// strides so, without a copy.
struct PermutedInput {
    let tensor: Tensor, perm: [Int]?, shape: [Int], strides: [Int]
}

extension KernelContext {
    /// Input `i` (which must be present) seen through the permutation in the node's
    /// `attribute` (as is when absent). Throws, naming the node, when the attribute is no
    /// permutation of the input's axes.
    func permutedInput(_ i: Int, _ attribute: String) throws -> PermutedInput {
        let t = try input(i), own = contiguousStrides(t.shape)
        guard let perm = try node.ints(attribute) else { return PermutedInput(tensor: t, perm: nil, shape: t.shape, strides: own) }
        guard perm.count == t.rank, Set(perm) == Set(0..<t.rank) else {
            throw error("\(attribute) \(perm) is not a permutation of the \(t.rank) axes of \(t.shape)")
        }
        return PermutedInput(tensor: t, perm: perm, shape: perm.map { t.shape[$0] }, strides: perm.map { own[$0] })
    }

    /// `p` as a contiguous tensor (transposed when it has a permutation).
    func materialized(_ p: PermutedInput) throws -> Tensor {
        guard let perm = p.perm else { return p.tensor }
        return try apply1(CPUKernels.transpose, "Transpose", [p.tensor], ["perm": .ints(perm)])
    }
}

extension CPUKernels {
    public static let gemm: CPUKernel = widenFloat16 { ctx in
        let a = try ctx.input(0)
        return try a.dataType.visitReal(MatrixKernels.GemmApply(ctx: ctx, a: a, b: try ctx.input(1), c: ctx.optionalInput(2)), ctx)
    }

    public static let matMul: CPUKernel = widenFloat16 { ctx in
        let a = try ctx.input(0), b = try ctx.input(1)
        guard a.dataType == b.dataType else { throw ctx.error("input types differ: \(a.dataType) and \(b.dataType)") }
        let plan = try MatrixKernels.MatMulPlan(a.shape, b.shape, ctx)
        if let y = MatrixKernels.packedMatMul(ctx, a, b, plan, bIsMatrix: b.rank == 2) { return [y] }
        if a.dataType == .float || a.dataType == .double {
            return try a.dataType.visitReal(MatrixKernels.MatMulReal(ctx: ctx, a: a, b: b, plan: plan), ctx)
        }
        return try a.dataType.visitArithmetic(MatrixKernels.MatMulInt(ctx: ctx, a: a, b: b, plan: plan))
    }

    /// vonnx TransposedMatMul: MatMul(Transpose(A, permA), Transpose(B, permB)) (each the
    /// identity when absent) + bias (input 2, [N], when given), the graph optimizer's fusion of
    /// the Transposes attention feeds its MatMuls through, of linear layers' bias Adds and of the
    /// activation after them (`FusedActivation`'s attributes; float32 only): on the packed kernel
    /// each operand is read through its transposed strides, with no copy, and the bias and
    /// activation applied as the product is stored; elsewhere transposes, MatMul, Add, activation.
    public static let transposedMatMul: CPUKernel = { ctx in
        let a = try ctx.permutedInput(0, "permA"), b = try ctx.permutedInput(1, "permB")
        guard a.tensor.dataType == b.tensor.dataType else { throw ctx.error("input types differ: \(a.tensor.dataType) and \(b.tensor.dataType)") }
        let plan = try MatrixKernels.MatMulPlan(a.shape, b.shape, aStrides: a.strides, bStrides: b.strides, ctx)
        let bias = ctx.optionalInput(2), activation = try FusedActivation(of: ctx.node)
        if let bias, bias.shape != [plan.n] || bias.dataType != a.tensor.dataType {
            throw ctx.error("bias \(bias.shape) (\(bias.dataType)) must be [\(plan.n)] (\(a.tensor.dataType))")
        }
        guard activation == nil || a.tensor.dataType == .float else {
            throw ctx.error("activation \(activation!.name) needs float inputs, got \(a.tensor.dataType)")
        }
        if let y = MatrixKernels.packedMatMul(ctx, a.tensor, b.tensor, plan, bIsMatrix: b.tensor.rank == 2, bias: bias,
                                              activation: activation) { return [y] }
        let product = try ctx.apply1(matMul, "MatMul", [ctx.materialized(a), ctx.materialized(b)])
        let y = try bias.map { try ctx.apply1(add, "Add", [product, $0]) } ?? product
        activation?.apply(elements(y, Float.self), count: y.count)
        return [y]
    }

    /// vonnx PackedMatMul: TransposedMatMul (permA, bias, activation) whose B is a constant
    /// [`k`, `n`] float32 weight the session packed ahead with `packedMatMulWeight` and holds in
    /// that form only (the graph rewrite that writes it dropped the original), in panels of
    /// `panel` columns. Float32 on CPUs with the packed kernel only, whose panels are as wide
    /// (another CPU's kernel reads another layout).
    public static let packedMatMul: CPUKernel = { ctx in
        let a = try ctx.permutedInput(0, "permA"), packedB = try ctx.input(1)
        guard let k = try ctx.node.int("k"), let n = try ctx.node.int("n"), k >= 0, n >= 0, n <= Int(Int32.max) else {
            throw ctx.error("attributes k and n (B's dims) must be given and in 0...2³¹−1")
        }
        let panel = try ctx.node.int("panel") ?? 0
        guard PackedGemm.available, panel == Int(vx_gemm_col_block(Int32(n))) else {
            throw ctx.error("B was packed in panels of \(panel) columns, which this CPU's kernel does not read: "
                            + "make the session from the original model")
        }
        let plan = try MatrixKernels.MatMulPlan(a.shape, [k, n], aStrides: a.strides, ctx)
        let bias = ctx.optionalInput(2), activation = try FusedActivation(of: ctx.node)
        if let bias, bias.shape != [n] || bias.dataType != .float {
            throw ctx.error("bias \(bias.shape) (\(bias.dataType)) must be [\(n)] (float32)")
        }
        return [try MatrixKernels.prepackedMatMul(ctx, a.tensor, packedB, plan, bias: bias, activation: activation)]
    }

    /// `w`, a float32 MatMul weight (B: [K, N], or with `transposed` its transpose [N, K]),
    /// packed whole for `packedMatMul`, and the columns of its panels (its `panel` attribute);
    /// nil where that kernel would not take it (no packed GEMM kernel on this CPU, another
    /// element type or rank, N of 1, dims past Int32).
    public static func packedMatMulWeight(_ w: Tensor, transposed: Bool) -> (packed: Tensor, panel: Int)? {
        guard PackedGemm.available, w.dataType == .float, w.rank == 2 else { return nil }
        let (k, n) = transposed ? (w.shape[1], w.shape[0]) : (w.shape[0], w.shape[1])
        guard n > 1, max(k, n) <= Int(Int32.max) else { return nil }
        let packed = Tensor(uninitialized: .float, shape: [vx_gemm_packed_b_size(Int32(k), Int32(n))])
        let b = vx_matrix(p: UnsafePointer(elements(w, Float.self)), rs: transposed ? 1 : n, cs: transposed ? k : 1)
        vx_gemm_pack_b_matrix(Int32(k), Int32(n), b, elements(packed, Float.self))
        return (packed, Int(vx_gemm_col_block(Int32(n))))
    }

    /// MatMulInteger: (A − a_zero_point)·(B − b_zero_point) in int32, A and B int8 or uint8.
    public static let matMulInteger: CPUKernel = { ctx in
        let a = try ctx.input(0), b = try ctx.input(1)
        let plan = try MatrixKernels.MatMulPlan(a.shape, b.shape, ctx)
        let za = ctx.optionalInput(2)?.ints() ?? [0], zb = ctx.optionalInput(3)?.ints() ?? [0]
        func run<A: NumericElement>(_: A.Type) throws -> Tensor {
            switch b.dataType {
            case .uint8: try MatrixKernels.integerMatMul(a, b, A.self, UInt8.self, Int32.self, plan: plan, ctx: ctx, aZero: za, bZero: zb)
            case .int8: try MatrixKernels.integerMatMul(a, b, A.self, Int8.self, Int32.self, plan: plan, ctx: ctx, aZero: za, bZero: zb)
            default: throw ctx.error("B must be int8 or uint8, got \(b.dataType)")
            }
        }
        switch a.dataType {
        case .uint8: return [try run(UInt8.self)]
        case .int8: return [try run(Int8.self)]
        default: throw ctx.error("A must be int8 or uint8, got \(a.dataType)")
        }
    }
}
