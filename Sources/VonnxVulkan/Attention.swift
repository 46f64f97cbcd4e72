import VonnxIR

/// Attention (opset 23/24) on float32 Q, K, V with an optional float or bool mask, causal
/// masking, past key/value, grouped-query heads, softcap and qk_matmul_output, as the CPU
/// kernel computes it; 3-D inputs [B, S, H·D] take their head counts from q_num_heads and
/// kv_num_heads. Present key/value are [B, hkv, past + S, d]. nonpad_kv_seqlen is left to the CPU.
func recordAttention(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let q = try ctx.input(0), k = try ctx.input(1), v = try ctx.input(2), mask = ctx.optionalInput(3)
    guard ctx.node.inputs.count <= 6 || ctx.node.inputs[6].isEmpty else { throw ctx.error("nonpad_kv_seqlen is not implemented on Vulkan") }
    guard q.rank == k.rank, k.rank == v.rank, q.rank == 3 || q.rank == 4, [q, k, v].allSatisfy({ $0.dataType == .float }) else {
        throw ctx.error("Q \(q), K \(k), V \(v) must all be float32 and 3-D or 4-D")
    }
    let threeD = q.rank == 3, b = q.shape[0]
    let hq = threeD ? try ctx.node.int("q_num_heads") ?? 0 : q.shape[1], hkv = threeD ? try ctx.node.int("kv_num_heads") ?? 0 : k.shape[1]
    guard hq > 0, hkv > 0, hq % hkv == 0, !threeD || (q.shape[2] % hq == 0 && k.shape[2] % hkv == 0 && v.shape[2] % hkv == 0) else {
        throw ctx.error("head counts \(hq) (query) and \(hkv) (key/value) do not fit Q \(q.shape), K \(k.shape), V \(v.shape)")
    }
    /// Sequence length, head size and (batch, head, seq) strides of a tensor with `heads` heads.
    func layout(_ t: VulkanTensor, _ heads: Int) -> (s: Int, d: Int, strides: [Int]) {
        threeD ? (t.shape[1], t.shape[2] / heads, [t.shape[1] * t.shape[2], t.shape[2] / heads, t.shape[2]])
            : (t.shape[2], t.shape[3], [heads * t.shape[2] * t.shape[3], t.shape[2] * t.shape[3], t.shape[3]])
    }
    let ql = layout(q, hq), kl = layout(k, hkv), vl = layout(v, hkv)
    guard k.shape[0] == b, v.shape[0] == b, threeD || v.shape[1] == hkv, kl.s == vl.s, kl.d == ql.d else {
        throw ctx.error("Q \(q.shape), K \(k.shape), V \(v.shape) do not fit together")
    }
    /// [B, hkv, past + S, d]: the past state (input `slot`) followed by the current keys or values.
    func present(_ slot: Int, _ current: VulkanTensor, _ l: (s: Int, d: Int, strides: [Int])) throws -> VulkanTensor {
        let past = ctx.optionalInput(slot)
        if let past, past.rank != 4 || past.shape[0] != b || past.shape[1] != hkv || past.shape[3] != l.d || past.dataType != .float {
            throw ctx.error("past state \(past) must be float32 [\(b), \(hkv), S, \(l.d)]")
        }
        if past == nil && !threeD { return current }
        let sp = past?.shape[2] ?? 0
        let out = try ctx.recorder.makeTensor(shape: [b, hkv, sp + l.s, l.d])
        let strides = contiguousStrides(out.shape)
        if let past {
            try recordStridedCopy(ctx, from: past.buffer, inStrides: contiguousStrides(past.shape), to: out.buffer, outStrides: strides, shape: past.shape)
        }
        try recordStridedCopy(ctx, from: current.buffer, inStrides: l.strides + [1], to: out.buffer, outOffset: sp * l.d,
                              outStrides: strides, shape: [b, hkv, l.s, l.d])
        return out
    }
    let keys = try present(4, k, kl), values = try present(5, v, vl)
    let total = keys.shape[2], pastLength = total - kl.s
    guard values.shape[2] == total else { throw ctx.error("past_key and past_value lengths differ") }

    var maskShape = [1, 1, 1, 1], maskKind = 0
    if let mask {
        maskShape = Array(repeating: 1, count: max(4 - mask.rank, 0)) + mask.shape
        guard mask.rank >= 2, mask.rank <= 4, mask.dataType == .float || mask.dataType == .bool, maskShape[3] <= total,
              maskShape[0] == 1 || maskShape[0] == b, maskShape[1] == 1 || maskShape[1] == hq, maskShape[2] == 1 || maskShape[2] == ql.s else {
            throw ctx.error("attn_mask \(mask) does not broadcast to [\(b), \(hq), \(ql.s), \(total)]")
        }
        maskKind = mask.dataType == .float ? 1 : 2
    }
    let maskStrides = zip(maskShape, contiguousStrides(maskShape)).map { $0 == 1 ? 0 : $1 }
    let scaleAttribute = try ctx.node.float("scale", default: 0)
    let y = try ctx.recorder.makeTensor(shape: threeD ? [b, ql.s, hq * vl.d] : [b, hq, ql.s, vl.d])
    let yStrides = threeD ? [ql.s * hq * vl.d, vl.d, hq * vl.d] : [hq * ql.s * vl.d, ql.s * vl.d, vl.d]
    func push(count: Int) throws -> PushConstants {
        var push = PushConstants()
        [count, hq, hkv, ql.s, total, ql.d, vl.d].forEach { push.add($0) }
        (ql.strides + yStrides + maskStrides + [maskShape[3]]).forEach { push.add($0) }
        push.add(try ctx.node.int("is_causal", default: 0) != 0 ? 1 : 0); push.add(pastLength)
        push.add(scaleAttribute != 0 ? scaleAttribute : 1 / Float(ql.d).squareRoot()); push.add(try ctx.node.float("softcap", default: 0))
        return push
    }
    let buffers = [q.buffer, keys.buffer, values.buffer, mask?.buffer ?? q.buffer]
    try ctx.dispatch1D("attention", defines: ["MASK": "\(maskKind)", "QK": "-1"], buffers: buffers + [y.buffer],
                       push: try push(count: y.count), count: y.count)
    guard ctx.node.outputs.count > 3, !ctx.node.outputs[3].isEmpty else { return [y, keys, values] }
    let mode = try ctx.node.int("qk_matmul_output_mode", default: 0)
    let qk = try ctx.recorder.makeTensor(shape: [b, hq, ql.s, total])
    try ctx.dispatch1D("attention", defines: ["MASK": "\(maskKind)", "QK": mode == 3 ? "3" : mode == 2 ? "2" : "0"],
                       buffers: buffers + [qk.buffer], push: try push(count: qk.count), count: qk.count)
    return [y, keys, values, qk]
}

/// LinearAttention (opset 27) on float32 query, key and value packed [B, T, heads·D], as the
/// CPU kernel: the linear, gated, delta or gated_delta state update step by step, grouped-query
/// heads, decay per kv head or per key feature, beta per kv head or one a step, past_state
/// [B, hkv, dk, dv] or zeros. Outputs y [B, T, hq·dv] and the final state (`Shaders/linear_attention.comp`).
func recordLinearAttention(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let q = try ctx.input(0), k = try ctx.input(1), v = try ctx.input(2)
    let past = ctx.optionalInput(3), decay = ctx.optionalInput(4), beta = ctx.optionalInput(5)
    guard [q, k, v, past, decay, beta].allSatisfy({ $0.map { $0.dataType == .float } ?? true }) else {
        throw ctx.error("query \(q), key \(k), value \(v), past_state, decay and beta must be float32 on Vulkan")
    }
    let layout = try OpLayouts.linearAttention(ctx.node, query: q.shape, key: k.shape, value: v.shape, pastState: past?.shape,
                                               decay: decay?.shape, beta: beta?.shape)
    let (b, steps, hq, hkv, dk, dv) = (layout.batch, layout.steps, layout.queryHeads, layout.kvHeads, layout.keySize, layout.valueSize)
    let y = try ctx.recorder.makeTensor(shape: [b, steps, hq * dv]), state = try ctx.recorder.makeTensor(shape: [b, hkv, dk, dv])
    var push = PushConstants()
    for n in [b * hkv * dv, steps, hkv, hq / hkv, dk, dv] { push.add(n) }
    push.add(Float(layout.scale))
    let flags = ["PAST": past != nil, "GATED": layout.gated, "DECAY_PER_FEATURE": layout.decayPerFeature,
                 "DELTA": layout.delta, "BETA_PER_HEAD": layout.betaPerHead]
    try ctx.dispatch1D("linear_attention", defines: flags.mapValues { $0 ? "1" : "0" },
                       buffers: [q, k, v, past ?? q, decay ?? q, beta ?? q, y, state].map(\.buffer), push: push, count: b * hkv * dv)
    return [y, state]
}
