import VonnxIR

/// Records `y[outOffset + i·outStrides] = x[inOffset + i·inStrides]` for every index `i` of
/// `shape` (element offsets and strides; input strides may be negative or 0), of 4-byte
/// elements, or 8-byte ones when `wide`.
func recordStridedCopy(_ ctx: VulkanKernelContext, from x: VulkanBuffer, inOffset: Int = 0, inStrides: [Int],
                       to y: VulkanBuffer, outOffset: Int = 0, outStrides: [Int], shape: [Int], wide: Bool = false) throws {
    let count = shape.reduce(1, *)
    guard count > 0 else { return }
    var walk = coalesce(shape, [inStrides, outStrides])
    guard walk.shape.count <= maxShaderRank else { throw ctx.error("copy of \(shape) needs more than \(maxShaderRank) dims") }
    if walk.shape.isEmpty { walk = ([1], [[0], [0]]) }
    let variant = KernelVariants.choose("copy", rows: 1, device: ctx.device), run = variant.columns
    // Runs along a last dim shorter than a run would save little: they go along the longest.
    if let longest = walk.shape.indices.max(by: { walk.shape[$0] < walk.shape[$1] }), walk.shape[walk.shape.count - 1] < run {
        walk.shape.append(walk.shape.remove(at: longest))
        for k in walk.strides.indices { walk.strides[k].append(walk.strides[k].remove(at: longest)) }
    }
    let inner = walk.shape[walk.shape.count - 1], runs = count / inner * ((inner + run - 1) / run)
    var push = PushConstants()
    push.add(runs); push.add(walk.shape.count); push.add(signed: inOffset); push.add(outOffset)
    push.add(walk.shape, length: maxShaderRank)
    for d in 0..<maxShaderRank { push.add(signed: d < walk.shape.count ? walk.strides[0][d] : 0) }
    push.add(walk.strides[1], length: maxShaderRank)
    let defines = variant.defines.merging(wide ? ["WIDE": "1"] : [:]) { $1 }
    let pipeline = try ctx.device.pipeline(variant.shader, defines: defines, bindings: 2,
                                           workgroup: (UInt32(variant.width), 1, 1))
    try ctx.recorder.dispatch(pipeline, buffers: [x, y], push: push.words, count: runs, groupSize: variant.width)
}

func recordTranspose(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let perm = try ctx.node.ints("perm") ?? Array((0..<x.rank).reversed())
    guard perm.count == x.rank, Set(perm) == Set(0..<x.rank) else { throw ctx.error("perm \(perm) is not a permutation of 0..<\(x.rank)") }
    let shape = perm.map { x.shape[$0] }
    let inStrides = contiguousStrides(x.shape)
    let y = try ctx.recorder.makeTensor(shape: shape, dataType: x.dataType)
    try recordStridedCopy(ctx, from: x.buffer, inStrides: perm.map { inStrides[$0] }, to: y.buffer,
                          outStrides: contiguousStrides(shape), shape: shape, wide: x.isWide)
    return [y]
}

func recordConcat(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let parts = ctx.inputs.compactMap { $0 }
    guard let first = parts.first, parts.count == ctx.node.inputs.filter({ !$0.isEmpty }).count else {
        throw ctx.error("Concat needs its inputs on the device")
    }
    guard let axisAttr = try ctx.node.int("axis") else { throw ctx.error("attribute 'axis' is required") }
    let axis = try ctx.axis(axisAttr, rank: first.rank)
    var shape = first.shape
    shape[axis] = 0
    for p in parts {
        guard p.rank == first.rank, p.dataType == first.dataType, (0..<p.rank).allSatisfy({ $0 == axis || p.shape[$0] == first.shape[$0] }) else {
            throw ctx.error("input \(p.shape) does not fit \(first.shape) along axis \(axis)")
        }
        shape[axis] += p.shape[axis]
    }
    let y = try ctx.recorder.makeTensor(shape: shape, dataType: first.dataType)
    let outStrides = contiguousStrides(shape)
    var offset = 0
    for p in parts where p.count > 0 {
        try recordStridedCopy(ctx, from: p.buffer, inStrides: contiguousStrides(p.shape), to: y.buffer,
                              outOffset: offset * outStrides[axis], outStrides: outStrides, shape: p.shape, wide: p.isWide)
        offset += p.shape[axis]
    }
    return [y]
}

// Reshape, Flatten, Squeeze, Unsqueeze, Identity and Dropout at inference are views: device
// tensors are contiguous and immutable, so they share the input's buffer and record nothing.

/// Identity: the input itself.
func recordIdentity(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] { [try ctx.input(0)] }

func recordReshape(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let requested: [Int]
    if ctx.opset < 5 {
        guard let s = try ctx.node.ints("shape") else { throw ctx.error("attribute 'shape' is required") }
        requested = s
    } else {
        guard let t = try ctx.hostInput(1) else { throw ctx.error("input 'shape' is required") }
        requested = t.ints()
    }
    let allowZero = try ctx.node.int("allowzero", default: 0) != 0
    var shape = requested.enumerated().map { i, d in d == 0 && !allowZero && i < x.rank ? x.shape[i] : d }
    let unknown = shape.indices.filter { shape[$0] == -1 }
    guard unknown.count <= 1, shape.allSatisfy({ $0 >= -1 }) else { throw ctx.error("invalid shape \(requested)") }
    if let u = unknown.first {
        let known = shape.enumerated().filter { $0.offset != u }.reduce(1) { $0 * $1.element }
        guard known > 0, x.count % known == 0 else { throw ctx.error("cannot reshape \(x.shape) to \(requested)") }
        shape[u] = x.count / known
    }
    guard shape.reduce(1, *) == x.count else { throw ctx.error("cannot reshape \(x.shape) to \(requested)") }
    return [x.reshaped(shape)]
}

func recordFlatten(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    var axis = try ctx.node.int("axis", default: 1)
    if axis < 0 { axis += x.rank }
    guard axis >= 0, axis <= x.rank else { throw ctx.error("axis \(axis) is out of range for rank \(x.rank)") }
    return [x.reshaped([x.shape[..<axis].reduce(1, *), x.shape[axis...].reduce(1, *)])]
}

/// Axes from the attribute (before opset 13) or from input 1.
private func axesArgument(_ ctx: VulkanKernelContext) throws -> [Int]? {
    ctx.opset < 13 ? try ctx.node.ints("axes") : try ctx.hostInput(1)?.ints()
}

func recordSqueeze(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let axes = try axesArgument(ctx).map { try Set($0.map { try ctx.axis($0, rank: x.rank) }) }
        ?? Set(x.shape.indices.filter { x.shape[$0] == 1 })
    for a in axes where x.shape[a] != 1 { throw ctx.error("cannot squeeze axis \(a) of \(x.shape)") }
    return [x.reshaped(x.shape.indices.filter { !axes.contains($0) }.map { x.shape[$0] })]
}

func recordUnsqueeze(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    guard let raw = try axesArgument(ctx) else { throw ctx.error("axes are required") }
    let rank = x.rank + raw.count
    let axes = Set(try raw.map { try ctx.axis($0, rank: rank) })
    guard axes.count == raw.count else { throw ctx.error("axes \(raw) repeat") }
    var rest = x.shape.makeIterator()
    return [x.reshaped((0..<rank).map { axes.contains($0) ? 1 : rest.next()! })]
}
