import CGemm
import VonnxIR

extension CPUKernels {
    /// vonnx SoftmaxAttention: Softmax(scale·(A·B) (+ D)) over the last axis, times C —
    /// attention's scores, their scale, additive mask D (optional input 3, broadcasting to the
    /// scores) and Softmax, and the product by V, as the graph optimizer fuses them — each
    /// operand read through its `permA` / `permB` / `permC` as TransposedMatMul's, `scale` 1 when
    /// absent, the result transposed by `permY` when given (a Transpose the optimizer folded in,
    /// as the heads' [B, H, N, d] → [B, N, H, d] before the output projection). On the packed
    /// kernel each thread makes, masks, normalizes and uses the scores a block of rows at a time
    /// in scratch that stays in cache, so they are never written out whole, and stores each row
    /// where `permY` puts it (when that keeps the last axis last); elsewhere the steps run as their ops.
    public static let softmaxAttention: CPUKernel = { ctx in
        let q = try ctx.permutedInput(0, "permA"), k = try ctx.permutedInput(1, "permB"), v = try ctx.permutedInput(2, "permC")
        let type = q.tensor.dataType
        guard k.tensor.dataType == type, v.tensor.dataType == type else {
            throw ctx.error("input types differ: \(type), \(k.tensor.dataType) and \(v.tensor.dataType)")
        }
        guard q.shape.count >= 2, k.shape.count >= 2, v.shape.count >= 2 else {
            throw ctx.error("A \(q.shape), B \(k.shape) and C \(v.shape) must have 2 axes or more")
        }
        let scale = try ctx.node.float("scale", default: 1)
        let scores = try MatrixKernels.MatMulPlan(q.shape, k.shape, aStrides: q.strides, bStrides: k.strides, ctx)
        let context = try MatrixKernels.MatMulPlan(scores.outShape, v.shape, bStrides: v.strides, ctx)
        let mask = ctx.optionalInput(3), permY = try ctx.node.ints("permY")
        if let permY, permY.count != context.outShape.count || Set(permY) != Set(context.outShape.indices) {
            throw ctx.error("permY \(permY) is not a permutation of the \(context.outShape.count) axes of the result \(context.outShape)")
        }
        if let y = try MatrixKernels.blockedAttention(ctx, q, k, v, mask: mask, scores: scores, context: context, scale: scale,
                                                      permY: permY) {
            return [y]
        }
        var s = try ctx.apply1(matMul, "MatMul", [ctx.materialized(q), ctx.materialized(k)])
        if scale != 1 { s = try ctx.apply1(mul, "Mul", [s, Tensor(type, shape: [], converting: [Double(scale)])]) }
        if let mask { s = try ctx.apply1(add, "Add", [s, mask]) }
        let p = try ctx.apply1(softmax, "Softmax", [s], ["axis": .int(-1)])
        let y = try ctx.apply1(matMul, "MatMul", [p, ctx.materialized(v)])
        return [try permY.map { try ctx.apply1(transpose, "Transpose", [y], ["perm": .ints($0)]) } ?? y]
    }
}

extension MatrixKernels {
    /// SoftmaxAttention on CGemm's `vx_attention` (float32, when the CPU has it, and the scores'
    /// batches are the output's, C and the mask broadcasting no further): units of (batch, block
    /// of `vx_attention_block()` queries) split over the pool, each thread packing B (the keys)
    /// and Cᵀ of the batch in hand once for all its blocks; the scores of a block are made, masked,
    /// normalized and used in the thread's scratch, never written out whole; each row stored where
    /// the output's transpose by `permY` (if any, keeping the last axis last) puts it. nil when it does not apply.
    static func blockedAttention(_ ctx: KernelContext, _ q: PermutedInput, _ k: PermutedInput, _ v: PermutedInput, mask: Tensor?,
                                 scores: MatMulPlan, context: MatMulPlan, scale: Float, permY: [Int]?) throws -> Tensor? {
        let (m, n, depth, width) = (scores.m, scores.n, scores.k, context.n)
        let rank = context.outShape.count, perm = permY ?? Array(0..<rank)
        guard q.tensor.dataType == .float, PackedGemm.available, m > 0, n > 0, width > 0, context.batch == scores.batch,
              perm.last == rank - 1, max(m, n, depth, width) <= Int(Int32.max),
              context.aOffsets.enumerated().allSatisfy({ $1 == $0 * m * n }),
              mask.map({ $0.dataType == .float && broadcastShape([$0.shape, scores.outShape]) == scores.outShape }) ?? true
        else { return nil }
        // the mask's element (batch i, row r, column j) at maskOffsets[i] + r·rs + j·cs
        let dims = scores.outShape, maskStrides = mask.map { broadcastStrides($0.shape, to: dims) } ?? []
        let maskOffsets: [Int] = mask == nil ? [] : (0..<scores.batch).map { i in
            var rest = i, offset = 0
            for axis in stride(from: dims.count - 3, through: 0, by: -1) {
                offset += rest % dims[axis] * maskStrides[axis]
                rest /= dims[axis]
            }
            return offset
        }
        let (maskRows, maskColumns) = mask == nil ? (0, 0) : (maskStrides[dims.count - 2], maskStrides[dims.count - 1])
        nonisolated(unsafe) let maskBase = mask.map { UnsafePointer(elements($0, Float.self)) }
        let block = Int(vx_attention_block()), blocks = (m + block - 1) / block
        let keyFloats = vx_gemm_packed_a_size(Int32(n), Int32(depth)), valueFloats = vx_gemm_packed_a_size(Int32(width), Int32(n))
        try ctx.checkAllocatable("attention keys and values packed", dims: [ctx.pool.threads, keyFloats + valueFloats], .float)
        // the product's element (batch i, row r, column c) at outOffsets[i] + r·rowStride + c in y
        let yShape = perm.map { context.outShape[$0] }, yStrides = contiguousStrides(yShape)
        var strides = [Int](repeating: 0, count: rank)
        for (axis, source) in perm.enumerated() { strides[source] = yStrides[axis] }
        let rowStride = strides[rank - 2]
        guard rowStride <= Int(Int32.max) else { return nil }
        let outOffsets: [Int] = (0..<context.batch).map { i in
            var rest = i, offset = 0
            for axis in stride(from: rank - 3, through: 0, by: -1) {
                offset += rest % context.outShape[axis] * strides[axis]
                rest /= context.outShape[axis]
            }
            return offset
        }
        let y = Tensor(uninitialized: .float, shape: yShape)  // every block of queries is written below
        nonisolated(unsafe) let lhs = PackedGemm.Operand(base: elements(q.tensor, Float.self), offsets: scores.aOffsets,
                                                         rowStride: scores.aLayout.rows, columnStride: scores.aLayout.columns)
        nonisolated(unsafe) let rhs = PackedGemm.Operand(base: elements(k.tensor, Float.self), offsets: scores.bOffsets,
                                                         rowStride: scores.bLayout.rows, columnStride: scores.bLayout.columns)
        nonisolated(unsafe) let values = PackedGemm.Operand(base: elements(v.tensor, Float.self), offsets: context.bOffsets,
                                                            rowStride: context.bLayout.rows, columnStride: context.bLayout.columns)
        nonisolated(unsafe) let out = elements(y, Float.self)
        ctx.pool.parallelFor(scores.batch * blocks, chunksPerThread: 1) { units in
            // B and Cᵀ of the batch in hand, packed once for all its blocks; so one chunk a thread
            let keys = UnsafeMutablePointer<Float>.allocate(capacity: keyFloats)
            let vals = UnsafeMutablePointer<Float>.allocate(capacity: valueFloats)
            defer { keys.deallocate(); vals.deallocate() }
            var packed = -1
            for unit in units {
                let i = unit / blocks, r0 = unit % blocks * block
                if i != packed {
                    vx_gemm_pack_a_matrix(Int32(n), Int32(depth), rhs.matrix(i).transposed, keys)
                    vx_gemm_pack_a_matrix(Int32(width), Int32(n), values.matrix(i).transposed, vals)
                    packed = i
                }
                vx_attention(Int32(min(block, m - r0)), Int32(n), Int32(depth), Int32(width), lhs.matrix(i, row: r0),
                             keys, vals, scale, maskBase.map { $0 + maskOffsets[i] + r0 * maskRows }, maskRows, maskColumns,
                             out + outOffsets[i] + r0 * rowStride, Int32(rowStride))
            }
        }
        return y
    }
}

extension vx_matrix {
    /// The same elements as the transposed matrix.
    var transposed: vx_matrix { vx_matrix(p: p, rs: cs, cs: rs) }
}
