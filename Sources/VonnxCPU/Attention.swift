import Glibc
import VonnxIR

/// Attention (opset 23/24): scaled dot-product attention with optional mask, causal mask,
/// past key/value, grouped-query heads, softcap and the qk_matmul_output modes, following
/// the ONNX reference implementation. GEMMs per (batch, head), split over the pool; the
/// softmax accumulates in float64.
enum AttentionKernel {
    struct Apply: RealVisitor {
        let ctx: KernelContext
        func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
            let node = ctx.node
            var q = try ctx.input(0), k = try ctx.input(1), v = try ctx.input(2)
            let mask = ctx.optionalInput(3), pastK = ctx.optionalInput(4), pastV = ctx.optionalInput(5)
            let nonpad = ctx.optionalInput(6)
            guard q.rank == k.rank, k.rank == v.rank, q.rank == 3 || q.rank == 4 else {
                throw ctx.error("Q \(q.shape), K \(k.shape), V \(v.shape) must all be 3-D or 4-D")
            }
            guard k.dataType == q.dataType, v.dataType == q.dataType else { throw ctx.error("Q, K and V must share one element type") }
            let threeD = q.rank == 3
            let b = q.shape[0]
            if threeD {
                let qh = try node.int("q_num_heads") ?? 0, kvh = try node.int("kv_num_heads") ?? 0
                guard qh > 0, kvh > 0, q.shape[2] % qh == 0, k.shape[2] % kvh == 0, v.shape[2] % kvh == 0 else {
                    throw ctx.error("3-D inputs need q_num_heads and kv_num_heads dividing the hidden sizes")
                }
                q = heads(q, qh, T.self); k = heads(k, kvh, T.self); v = heads(v, kvh, T.self)
            }
            let (hq, sq, dq) = (q.shape[1], q.shape[2], q.shape[3])
            let (hkv, skv, dk) = (k.shape[1], k.shape[2], k.shape[3])
            let dv = v.shape[3]
            guard k.shape[0] == b, v.shape[0] == b, v.shape[1] == hkv, v.shape[2] == skv, dk == dq, hkv > 0, hq % hkv == 0 else {
                throw ctx.error("Q \(q.shape), K \(k.shape), V \(v.shape) do not fit together")
            }
            // present = concat(past, current) along the sequence axis
            func present(_ past: Tensor?, _ cur: Tensor, _ d: Int) throws -> (Tensor, Int) {
                guard let past else { return (cur, 0) }
                guard past.rank == 4, past.shape[0] == b, past.shape[1] == hkv, past.shape[3] == d, past.dataType == cur.dataType else {
                    throw ctx.error("past state \(past.shape) must be [\(b), \(hkv), S, \(d)]")
                }
                let sp = past.shape[2], s = cur.shape[2]
                let out = Tensor(zeros: T.dataType, shape: [b, hkv, sp + s, d])
                let po = elements(out, T.self), pp = elements(past, T.self), pc = elements(cur, T.self)
                for bh in 0..<(b * hkv) {
                    (po + bh * (sp + s) * d).update(from: pp + bh * sp * d, count: sp * d)
                    (po + (bh * (sp + s) + sp) * d).update(from: pc + bh * s * d, count: s * d)
                }
                return (out, sp)
            }
            let (kAll, pastLength) = try present(pastK, k, dk)
            let (vAll, _) = try present(pastV, v, dv)
            let total = kAll.shape[2]
            guard vAll.shape[2] == total else { throw ctx.error("past_key and past_value lengths differ") }

            let scaleAttr = Double(try node.float("scale", default: 0))
            let scale = scaleAttr != 0 ? scaleAttr : 1 / Double(dq).squareRoot()
            let softcap = Double(try node.float("softcap", default: 0))
            let causal = try node.int("is_causal", default: 0) != 0
            let mode = try node.int("qk_matmul_output_mode", default: 0)

            // additive bias [B?, H?, Sq, total] read through broadcast strides
            var maskValues: [Double] = [], maskStrides = [0, 0, 0, 0], maskCols = 0
            if let mask {
                guard mask.rank >= 2, mask.rank <= 4, mask.shape[mask.rank - 1] <= total else {
                    throw ctx.error("attn_mask \(mask.shape) does not fit [\(b), \(hq), \(sq), \(total)]")
                }
                let shape4 = Array(repeating: 1, count: 4 - mask.rank) + mask.shape
                guard (shape4[0] == 1 || shape4[0] == b), (shape4[1] == 1 || shape4[1] == hq), shape4[2] == 1 || shape4[2] == sq else {
                    throw ctx.error("attn_mask \(mask.shape) does not broadcast to [\(b), \(hq), \(sq), \(total)]")
                }
                maskCols = shape4[3]
                let own = contiguousStrides(shape4)
                maskStrides = (0..<4).map { shape4[$0] == 1 ? 0 : own[$0] }
                maskValues = mask.dataType == .bool ? mask.scalars(as: Bool.self).map { $0 ? 0 : -Double.infinity } : mask.doubles()
            }
            let lengths = nonpad?.ints()
            if let lengths, lengths.count != b { throw ctx.error("nonpad_kv_seqlen must hold \(b) values") }

            // per (batch, head): scores = scale·Q·Kᵀ by GEMM, bias + softmax per row, Y = P·V by GEMM
            // each thread's scores, and qk_matmul_output only when the node asks for it: [Sq, total]
            // and [B, H, Sq, total] can be far larger than the inputs and Y
            try ctx.checkAllocatable("the attention scores", dims: [sq, total], T.dataType)
            try ctx.checkAllocatable("a row of attention scores", dims: [total], .double)
            let wantsQK = node.outputs.count > 3 && !node.outputs[3].isEmpty
            if wantsQK { try ctx.checkAllocatable("qk_matmul_output", dims: [b, hq, sq, total], T.dataType) }
            let y = Tensor(zeros: T.dataType, shape: [b, hq, sq, dv]), qkOut = wantsQK ? Tensor(zeros: T.dataType, shape: [b, hq, sq, total]) : nil
            nonisolated(unsafe) let (pq, pk, pv) = (UnsafePointer(elements(q, T.self)), UnsafePointer(elements(kAll, T.self)), UnsafePointer(elements(vAll, T.self)))
            nonisolated(unsafe) let (py, po) = (elements(y, T.self), qkOut.map { elements($0, T.self) })
            let group = hq / hkv, hasMask = mask != nil, mv = maskValues, ms = maskStrides, mc = maskCols
            ctx.pool.parallelFor(b * hq) { r in
                let scores = UnsafeMutablePointer<T>.allocate(capacity: max(sq * total, 1))
                defer { scores.deallocate() }
                var row = [Double](repeating: 0, count: total)
                for bh in r {
                    let bi = bh / hq, h = bh % hq, kvBase = (bi * hkv + h / group) * total
                    T.gemm(transA: false, transB: true, m: sq, n: total, k: dq, alpha: T(scale), a: pq + bh * sq * dq, lda: max(dq, 1),
                           b: pk + kvBase * dk, ldb: max(dk, 1), beta: .zero, c: scores, ldc: max(total, 1))
                    for i in 0..<sq {
                        let at = (bh * sq + i) * total
                        for j in 0..<total {
                            var raw = Double(scores[i * total + j])
                            if softcap > 0 { raw = softcap * tanh(raw / softcap) }
                            var bias = 0.0
                            if hasMask { bias = j < mc ? mv[bi * ms[0] + h * ms[1] + i * ms[2] + j * ms[3]] : -Double.infinity }
                            if causal && j - pastLength > i { bias += -Double.infinity }
                            if let lengths, j >= lengths[bi] { bias += -Double.infinity }
                            row[j] = raw + bias
                            if mode != 3 { po?[at + j] = T(mode == 2 ? raw + bias : raw) }
                        }
                        let m = row.max() ?? 0
                        var sum = 0.0
                        for j in 0..<total { row[j] = Glibc.exp(row[j] - m); sum += row[j] }
                        for j in 0..<total {
                            let p = T(row[j] / sum)
                            scores[i * total + j] = p
                            if mode == 3 { po?[at + j] = p }
                        }
                    }
                    T.gemm(transA: false, transB: false, m: sq, n: dv, k: total, alpha: T(1), a: scores, lda: max(total, 1),
                           b: pv + kvBase * dv, ldb: max(dv, 1), beta: .zero, c: py + bh * sq * dv, ldc: max(dv, 1))
                }
            }
            var out = y
            if threeD { out = merge(out, T.self) }
            return [out, kAll, vAll] + (qkOut.map { [$0] } ?? [])
        }

        /// [B, S, H·D] → [B, H, S, D].
        func heads<T: RealElement>(_ t: Tensor, _ h: Int, _: T.Type) -> Tensor {
            let (b, s, d) = (t.shape[0], t.shape[1], t.shape[2] / h)
            let src = elements(t, T.self)
            var out = [T](repeating: .zero, count: t.count)
            for bi in 0..<b { for si in 0..<s { for hi in 0..<h { for di in 0..<d {
                out[((bi * h + hi) * s + si) * d + di] = src[((bi * s + si) * h + hi) * d + di]
            } } } }
            return Tensor(shape: [b, h, s, d], scalars: out)
        }

        /// [B, H, S, D] → [B, S, H·D].
        func merge<T: RealElement>(_ t: Tensor, _: T.Type) -> Tensor {
            let (b, h, s, d) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
            let src = elements(t, T.self)
            var out = [T](repeating: .zero, count: t.count)
            for bi in 0..<b { for hi in 0..<h { for si in 0..<s { for di in 0..<d {
                out[((bi * s + si) * h + hi) * d + di] = src[((bi * h + hi) * s + si) * d + di]
            } } } }
            return Tensor(shape: [b, s, h * d], scalars: out)
        }
    }
}

extension CPUKernels {
    public static let attention: CPUKernel = widenFloat16 { ctx in
        try ctx.input(0).dataType.visitReal(AttentionKernel.Apply(ctx: ctx), ctx)
    }
}

extension CPUKernels {
    /// LinearAttention (opset 27): the recurrent linear / gated / delta / gated_delta state
    /// update token by token, with grouped-query heads; inputs packed [B, T, H·D].
    public static let linearAttention: CPUKernel = widenFloat16 { ctx in
        struct Apply: RealVisitor {
            let ctx: KernelContext
            func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
                let q = try ctx.input(0), k = try ctx.input(1), v = try ctx.input(2)
                let past = ctx.optionalInput(3), decay = ctx.optionalInput(4), beta = ctx.optionalInput(5)
                let layout = try OpLayouts.linearAttention(ctx.node, query: q.shape, key: k.shape, value: v.shape, pastState: past?.shape,
                                                           decay: decay?.shape, beta: beta?.shape)
                let (b, steps, hq, hkv) = (layout.batch, layout.steps, layout.queryHeads, layout.kvHeads)
                let (dk, dv, group) = (layout.keySize, layout.valueSize, hq / hkv), decayPerFeature = layout.decayPerFeature, betaPerHead = layout.betaPerHead
                let qv = q.doubles(), kv = k.doubles(), vv = v.doubles()
                let dv4 = decay?.doubles(), bv = beta?.doubles()
                var state = past?.doubles() ?? [Double](repeating: 0, count: b * hkv * dk * dv)
                let scale = layout.scale
                var out = [Double](repeating: 0, count: b * steps * hq * dv)
                var update = [Double](repeating: 0, count: dv)
                for bi in 0..<b { for t in 0..<steps { for h in 0..<hkv {
                    let s0 = (bi * hkv + h) * dk * dv, kBase = ((bi * steps + t) * hkv + h) * dk, vBase = ((bi * steps + t) * hkv + h) * dv
                    if let dv4 {
                        for d in 0..<dk {
                            let g = decayPerFeature ? dv4[((bi * steps + t) * hkv + h) * dk + d] : dv4[(bi * steps + t) * hkv + h]
                            let f = exp(g)
                            for m in 0..<dv { state[s0 + d * dv + m] *= f }
                        }
                    }
                    for m in 0..<dv { update[m] = vv[vBase + m] }
                    if let bv {
                        let rate = bv[(bi * steps + t) * (betaPerHead ? hkv : 1) + (betaPerHead ? h : 0)]
                        for m in 0..<dv {
                            var retrieved = 0.0
                            for d in 0..<dk { retrieved += state[s0 + d * dv + m] * kv[kBase + d] }
                            update[m] = rate * (update[m] - retrieved)
                        }
                    }
                    for d in 0..<dk { for m in 0..<dv { state[s0 + d * dv + m] += kv[kBase + d] * update[m] } }
                    for g in 0..<group {
                        let head = h * group + g, qBase = ((bi * steps + t) * hq + head) * dk, oBase = ((bi * steps + t) * hq + head) * dv
                        for m in 0..<dv {
                            var s = 0.0
                            for d in 0..<dk { s += qv[qBase + d] * state[s0 + d * dv + m] }
                            out[oBase + m] = scale * s
                        }
                    }
                } } }
                return [Tensor(shape: [b, steps, hq * dv], scalars: out.map { T($0) }),
                        Tensor(shape: [b, hkv, dk, dv], scalars: state.map { T($0) })]
            }
        }
        return try ctx.input(0).dataType.visitReal(Apply(ctx: ctx), ctx)
    }
}
