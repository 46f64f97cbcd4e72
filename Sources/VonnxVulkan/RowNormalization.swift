import VonnxIR

/// Records `normalize.comp` over the contiguous [rows, len] layout of `x`; returns Y and each
/// row's mean and inverse standard deviation (shape [rows]). `stdEpsilon`: the epsilon is added
/// to the standard deviation, not the variance.
private func recordNormalize(_ ctx: VulkanKernelContext, _ x: VulkanTensor, rows: Int, len: Int, scale: VulkanTensor,
                             bias: VulkanTensor?, period: Int, div: Int, epsilon: Float, rms: Bool = false,
                             stdEpsilon: Bool = false) throws -> [VulkanTensor] {
    guard x.dataType == .float, scale.dataType == .float, bias?.dataType ?? .float == .float else {
        throw ctx.error("normalization takes float32 tensors")
    }
    let y = try ctx.recorder.makeTensor(shape: x.shape)
    let mean = try ctx.recorder.makeTensor(shape: [rows]), invStd = try ctx.recorder.makeTensor(shape: [rows])
    var push = PushConstants()
    push.add(rows); push.add(len); push.add(period); push.add(max(div, 1)); push.add(epsilon); push.add(bias == nil ? 0 : 1); push.add(rms ? 1 : 0)
    try ctx.dispatchRows("normalize", defines: ["STD_EPSILON": stdEpsilon ? "1" : "0"], buffers: [x.buffer, scale.buffer, (bias ?? scale).buffer, y.buffer, mean.buffer, invStd.buffer],
                         push: push, rows: rows, len: len, passes: rms ? 2 : 3)
    return [y, mean, invStd]
}

/// Throws unless `t` has exactly `count` elements.
private func expect(_ t: VulkanTensor?, count: Int, _ what: String, _ ctx: VulkanKernelContext) throws {
    if let t, t.count != count { throw ctx.error("\(what) has shape \(t.shape), expected \(count) elements") }
}

/// LayerNormalization over the dims from `axis` on, with its optional Mean and InvStdDev
/// outputs (shape of X with 1 from `axis` on), or RMSNormalization (no mean, no bias). Scale
/// and B broadcast to those dims.
func recordLayerNormalization(rms: Bool, _ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let axis = try ctx.axis(try ctx.node.int("axis", default: -1), rank: x.rank)
    let rows = x.shape[..<axis].reduce(1, *), len = x.shape[axis...].reduce(1, *)
    let rowShape = Array(x.shape[axis...])
    /// A parameter broadcast to the normalized dims (a copy when it is smaller).
    func full(_ t: VulkanTensor) throws -> VulkanTensor {
        guard t.count != len else { return t }
        guard broadcast(t.shape, rowShape) == rowShape else { throw ctx.error("\(t.shape) does not broadcast to \(rowShape)") }
        let y = try ctx.recorder.makeTensor(shape: rowShape)
        try recordStridedCopy(ctx, from: t.buffer, inStrides: broadcastStrides(t.shape, to: rowShape), to: y.buffer,
                              outStrides: contiguousStrides(rowShape), shape: rowShape)
        return y
    }
    let outs = try recordNormalize(ctx, x, rows: rows, len: len, scale: try full(try ctx.input(1)),
                                   bias: rms ? nil : try ctx.optionalInput(2).map(full), period: 1, div: 1,
                                   epsilon: try ctx.node.float("epsilon", default: 1e-5), rms: rms)
    if rms { return [outs[0]] }
    let statShape = Array(x.shape[..<axis]) + Array(repeating: 1, count: x.rank - axis)
    return Array([outs[0], outs[1].reshaped(statShape), outs[2].reshaped(statShape)].prefix(max(ctx.node.outputs.count, 1)))
}

/// MeanVarianceNormalization over `axes` (default [0, 2, 3]): (x − mean) / (σ + 1e-9), σ the
/// population standard deviation, as the CPU computes it; the axes are moved last for the
/// rows and back after.
func recordMeanVarianceNormalization(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let axes = try Set((try ctx.node.ints("axes") ?? [0, 2, 3]).map { try ctx.axis($0, rank: x.rank) })
    let (rowMajor, rows, len) = try ctx.rows(x, reducing: axes)
    let one = try ctx.recorder.upload(Tensor(shape: [1], scalars: [Float(1)]))
    let y = try recordNormalize(ctx, rowMajor, rows: rows, len: len, scale: one, bias: nil, period: 1, div: len, epsilon: 1e-9,
                                stdEpsilon: true)[0]
    guard rowMajor.buffer !== x.buffer else { return [y] }
    ctx.recycle(rowMajor)
    // back from the kept-then-reduced order of `rows`
    let order = x.shape.indices.filter { !axes.contains($0) } + axes.sorted(), strides = contiguousStrides(order.map { x.shape[$0] })
    var from = [Int](repeating: 0, count: x.rank)
    for (i, axis) in order.enumerated() { from[axis] = strides[i] }
    let out = try ctx.recorder.makeTensor(shape: x.shape)
    try recordStridedCopy(ctx, from: y.buffer, inStrides: from, to: out.buffer, outStrides: contiguousStrides(x.shape), shape: x.shape)
    ctx.recycle(y)
    return [out]
}

/// Det of float32 [..., n, n]: one determinant per matrix, as the CPU computes it
/// (`Shaders/det.comp`, on a copy it eliminates in place).
func recordDet(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    guard x.rank >= 2, x.shape[x.rank - 1] == x.shape[x.rank - 2] else { throw ctx.error("input must end in square matrices, got shape \(x.shape)") }
    let n = x.shape[x.rank - 1], batch = Array(x.shape.dropLast(2)), count = batch.reduce(1, *)
    let scratch = try ctx.recorder.makeTensor(shape: x.shape)
    try recordStridedCopy(ctx, from: x.buffer, inStrides: [1], to: scratch.buffer, outStrides: [1], shape: [x.count])
    let y = try ctx.recorder.makeTensor(shape: batch)
    var push = PushConstants()
    push.add(count); push.add(n)
    try ctx.dispatch1D("det", buffers: [scratch.buffer, y.buffer], push: push, count: count)
    ctx.recycle(scratch)
    return [y]
}

/// InstanceNormalization: per (n, c) over the spatial dims, scale and B of shape [C].
func recordInstanceNormalization(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), scale = try ctx.input(1), bias = try ctx.input(2)
    guard x.rank >= 2 else { throw ctx.error("input must be at least 2-D, got \(x.shape)") }
    let c = x.shape[1], len = x.shape[2...].reduce(1, *)
    try expect(scale, count: c, "scale", ctx); try expect(bias, count: c, "B", ctx)
    return [try recordNormalize(ctx, x, rows: x.shape[0] * c, len: len, scale: scale, bias: bias, period: c, div: len,
                                epsilon: try ctx.node.float("epsilon", default: 1e-5))[0]]
}

/// GroupNormalization: per (n, group) over the group's channels and spatial dims; scale and
/// bias per channel (opset 21) or per group (opset 18).
func recordGroupNormalization(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), scale = try ctx.input(1), bias = try ctx.input(2)
    guard let groups = try ctx.node.int("num_groups"), groups > 0, x.rank >= 2, x.shape[1] % groups == 0 else {
        throw ctx.error("num_groups must divide the channels of \(x.shape)")
    }
    let c = x.shape[1], spatial = x.shape[2...].reduce(1, *), len = c / groups * spatial
    let perChannel = scale.count == c && (ctx.opset >= 21 || c != groups)
    try expect(scale, count: perChannel ? c : groups, "scale", ctx); try expect(bias, count: scale.count, "bias", ctx)
    return [try recordNormalize(ctx, x, rows: x.shape[0] * groups, len: len, scale: scale, bias: bias, period: groups,
                                div: perChannel ? spatial : len, epsilon: try ctx.node.float("epsilon", default: 1e-5))[0]]
}

/// Hardmax along `axis` (opset 13; before, over the flattened dims from `axis` on).
func recordHardmax(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let axis = try ctx.axis(try ctx.node.int("axis", default: ctx.opset < 13 ? 1 : -1), rank: x.rank)
    let len = ctx.opset < 13 ? x.shape[axis...].reduce(1, *) : x.shape[axis]
    let inner = ctx.opset < 13 ? 1 : x.shape[(axis + 1)...].reduce(1, *)
    let y = try ctx.recorder.makeTensor(shape: x.shape)
    let lines = len == 0 ? 0 : x.count / len
    var push = PushConstants()
    push.add(lines); push.add(len); push.add(inner)
    try ctx.dispatch1D("hardmax", buffers: [x.buffer, y.buffer], push: push, count: lines)
    return [y]
}

/// LRN across the channels (dim 1) of an [N, C, …] input.
func recordLRN(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    guard x.rank >= 2, let size = try ctx.node.int("size"), size > 0 else { throw ctx.error("needs an [N, C, …] input and a positive size") }
    let y = try ctx.recorder.makeTensor(shape: x.shape)
    var push = PushConstants()
    push.add(x.count); push.add(x.shape[1]); push.add(x.shape[2...].reduce(1, *)); push.add(size)
    push.add(try ctx.node.float("alpha", default: 1e-4)); push.add(try ctx.node.float("beta", default: 0.75))
    push.add(try ctx.node.float("bias", default: 1))
    try ctx.dispatch1D("lrn", buffers: [x.buffer, y.buffer], push: push, count: x.count)
    return [y]
}
