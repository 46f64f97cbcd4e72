import VonnxIR

/// Unique (opset 11) as the CPU kernel: over the elements (no `axis`: the input flattened) or
/// the slices along `axis`, compared lexicographically; Y in ascending order, or in order of
/// first occurrence with `sorted` 0, and int64 first-occurrence indices, inverse indices and
/// counts (`Shaders/unique.comp`: find each item's first occurrence, number the groups by
/// counting, scatter). The counting compares every item with every other: past the device's
/// loop limit or 2³² element comparisons the kernel refuses (a fallback runs the CPU kernel).
///
/// How many groups there are is known only once the device has run: Y, indices and counts are
/// made for the most there can be (a group per item) and carry that one device count
/// (`VulkanTensor.rowCount`, along `axis` for Y), as NonMaxSuppression's selection does;
/// inverse_indices has its shape.
func recordUnique(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let axis = try ctx.node.int("axis").map { try ctx.axis($0, rank: x.rank) }
    if axis != nil && x.rank == 0 { throw ctx.error("axis needs an input of rank 1 or more") }
    let shape = axis == nil ? [x.count] : x.shape, a = axis ?? 0
    let n = shape[a]
    guard n <= Int(Int32.max) else { throw ctx.error("\(n) items along the axis are more than int32 indices reach") }
    let slice = n == 0 ? 0 : x.count / n
    try ctx.checkLoops(max(n, slice), steps: [n, n, slice])
    var y = try ctx.recorder.makeTensor(shape: shape, dataType: x.dataType)
    var indices = try ctx.recorder.makeTensor(shape: [n], dataType: .int64)
    let inverse = try ctx.recorder.makeTensor(shape: [n], dataType: .int64)
    var counts = try ctx.recorder.makeTensor(shape: [n], dataType: .int64)
    let total = try ctx.recorder.makeTensor(shape: [1], dataType: .int32)
    (y.rowCount, y.rowAxis, indices.rowCount, counts.rowCount) = (total.buffer, a, total.buffer, total.buffer)
    guard n > 0 else {
        try ctx.recorder.fill(total, bits: 0)
        return [y, indices, inverse, counts]
    }
    let scratch = try ctx.recorder.makeTensor(shape: [2 * n], dataType: .int32)
    var push = PushConstants()
    for v in [n, shape[..<a].reduce(1, *), shape[(a + 1)...].reduce(1, *)] { push.add(v) }
    var defines = typeDefines(x.dataType, x.dataType, ctx.device.storage).merging(wordDefines(nil, indices: indices)) { $1 }
    defines["SORTED"] = try ctx.node.int("sorted", default: 1) != 0 ? "1" : "0"
    for pass in 0..<3 {
        defines["PASS"] = "\(pass)"
        try ctx.dispatch1D("unique", defines: defines, buffers: [x, scratch, y, indices, inverse, counts, total].map(\.buffer),
                           push: push, count: n)
    }
    ctx.recorder.recycle(scratch)
    return [y, indices, inverse, counts]
}
