import VonnxIR

/// TopK along `axis` with k read on the host (input 1, or the opset-1 attribute): values and
/// int64 indices, largest or smallest first, equal values by lower index (`Shaders/topk.comp`:
/// each element counts the elements of its row ahead of it, so past the device's loop limit or
/// 2³² comparisons the kernel refuses and a fallback runs the CPU kernel).
func recordTopK(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    guard x.rank > 0 else { throw ctx.error("input must have rank 1 or more") }
    let axis = try ctx.axis(try ctx.node.int("axis", default: -1), rank: x.rank)
    let k: Int
    if let kt = try ctx.hostInput(1) {
        guard kt.count == 1, kt.dataType.isInteger else { throw ctx.error("k must be a single integer, got \(kt)") }
        k = kt.ints()[0]
    } else {
        guard let attribute = try ctx.node.int("k") else { throw ctx.error("k is missing") }
        k = attribute
    }
    let n = x.shape[axis]
    guard k >= 0, k <= n else { throw ctx.error("k \(k) is out of range for axis size \(n)") }
    try ctx.checkLoops(n, steps: [x.count, n])
    var shape = x.shape
    shape[axis] = k
    let values = try ctx.recorder.makeTensor(shape: shape, dataType: x.dataType)
    let indices = try ctx.recorder.makeTensor(shape: shape, dataType: .int64)
    var push = PushConstants()
    for v in [x.count, n, x.shape[(axis + 1)...].reduce(1, *), k] { push.add(v) }
    let defines = typeDefines(x.dataType, x.dataType, ctx.device.storage).merging(wordDefines(nil, indices: indices)) { $1 }.merging(["LARGEST": try ctx.node.int("largest", default: 1) != 0 ? "1" : "0"]) { $1 }
    if k > 0 {
        try ctx.dispatch1D("topk", defines: defines, buffers: [x.buffer, values.buffer, indices.buffer], push: push, count: x.count)
    }
    return [values, indices]
}

/// RotaryEmbedding (opset 23) as the CPU kernel: input [B, H, S, D], or [B, S, H·D] with
/// `num_heads`; the first `rotary_embedding_dim` features of each head rotated by the cos/sin
/// cache rows that position_ids (on the device) pick, else row b·S + s
/// (`Shaders/rotary.comp`). A position id outside the cache reads its nearest row: the device
/// cannot throw for it.
func recordRotaryEmbedding(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), cosCache = try ctx.input(1), sinCache = try ctx.input(2), positions = ctx.optionalInput(3)
    guard x.rank == 3 || x.rank == 4 else { throw ctx.error("input \(x.shape) must be 3-D or 4-D") }
    let (b, h, s, d): (Int, Int, Int, Int)
    if x.rank == 4 {
        (b, h, s, d) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    } else {
        let heads = try ctx.node.int("num_heads", default: 0)
        guard heads > 0, x.shape[2] % heads == 0 else { throw ctx.error("num_heads \(heads) must divide \(x.shape[2])") }
        (b, h, s, d) = (x.shape[0], heads, x.shape[1], x.shape[2] / heads)
    }
    var rot = try ctx.node.int("rotary_embedding_dim", default: 0)
    if rot == 0 { rot = d }
    guard rot > 0, rot <= d, rot % 2 == 0 else { throw ctx.error("rotary_embedding_dim \(rot) must be even, positive and ≤ \(d)") }
    let half = rot / 2
    guard cosCache.shape.last == half, sinCache.shape == cosCache.shape, cosCache.dataType == x.dataType, sinCache.dataType == x.dataType else {
        throw ctx.error("cos_cache \(cosCache) and sin_cache \(sinCache) must be of x's type and end in \(half)")
    }
    if let positions {
        guard positions.count == b * s || positions.count == s else { throw ctx.error("position_ids \(positions.shape) must hold \(b * s) values") }
    } else {
        guard cosCache.count == b * s * half else { throw ctx.error("cos_cache \(cosCache.shape) must be [\(b), \(s), \(half)]") }
    }
    let y = try ctx.recorder.makeTensor(shape: x.shape, dataType: x.dataType)
    var push = PushConstants()
    for v in [x.count, h, s, d, rot, positions?.count ?? 0, cosCache.count / half] { push.add(v) }
    let defines = fitDefines(x.dataType).merging(wordDefines(nil, indices: positions)) { $1 }.merging(["HEADS_LAST": x.rank == 3 ? "1" : "0",
                                                  "INTERLEAVED": try ctx.node.int("interleaved", default: 0) != 0 ? "1" : "0"]) { $1 }
    try ctx.dispatch1D("rotary", defines: defines, buffers: [x.buffer, cosCache.buffer, sinCache.buffer, (positions ?? x).buffer, y.buffer],
                       push: push, count: x.count)
    return [y]
}
