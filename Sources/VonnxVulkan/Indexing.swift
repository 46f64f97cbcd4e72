import VonnxIR

// Data movement of elements of any device type (Shaders/words.glsl): slices, gathers, broadcasts, pads.

/// Slice: starts/ends/axes/steps from inputs 1–4 (host) or, before opset 10, attributes;
/// a strided copy (negative steps read backwards).
func recordSlice(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let starts: [Int], ends: [Int], rawAxes: [Int]?, steps: [Int]?
    if ctx.opset < 10 {
        guard let s = try ctx.node.ints("starts"), let e = try ctx.node.ints("ends") else { throw ctx.error("starts and ends are required") }
        (starts, ends, rawAxes, steps) = (s, e, try ctx.node.ints("axes"), nil)
    } else {
        guard let s = try ctx.hostInput(1), let e = try ctx.hostInput(2) else { throw ctx.error("starts and ends are required") }
        (starts, ends, rawAxes, steps) = (s.ints(), e.ints(), try ctx.hostInput(3)?.ints(), try ctx.hostInput(4)?.ints())
    }
    let axes = try (rawAxes ?? Array(0..<starts.count)).map { try ctx.axis($0, rank: x.rank) }
    guard ends.count == starts.count, axes.count == starts.count, Set(axes).count == axes.count,
          steps.map({ $0.count == starts.count && !$0.contains(0) }) ?? true else {
        throw ctx.error("starts \(starts), ends \(ends), axes \(rawAxes ?? []), steps \(steps ?? []) do not match")
    }
    let strides = contiguousStrides(x.shape)
    var shape = x.shape, inStrides = strides, offset = 0
    for (k, a) in axes.enumerated() {
        let dim = x.shape[a], step = steps?[k] ?? 1
        func clampIndex(_ v: Int, _ lo: Int, _ hi: Int) -> Int { min(max(v < 0 ? v + dim : v, lo), hi) }
        let start = step > 0 ? clampIndex(starts[k], 0, dim) : clampIndex(starts[k], 0, dim - 1)
        let end = step > 0 ? clampIndex(ends[k], 0, dim) : clampIndex(ends[k], -1, dim - 1)
        shape[a] = max(0, step > 0 ? (end - start + step - 1) / step : (start - end - step - 1) / -step)
        offset += start * strides[a]
        inStrides[a] = strides[a] * step
    }
    let y = try ctx.recorder.makeTensor(shape: shape, dataType: x.dataType)
    if y.count > 0 {
        try recordStridedCopy(ctx, from: x.buffer, inOffset: offset, inStrides: inStrides, to: y.buffer,
                              outStrides: contiguousStrides(shape), shape: shape, wide: x.isWide)
    }
    return [y]
}

/// Expand: broadcasts the input to the shape of host input 1 (NumPy rules).
func recordExpand(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    guard let target = try ctx.hostInput(1)?.ints(), let shape = broadcast(x.shape, target) else {
        throw ctx.error("input \(x.shape) does not broadcast to the requested shape")
    }
    return [try broadcastCopy(ctx, x, to: shape)]
}

/// `x` broadcast to `shape` in a new tensor.
private func broadcastCopy(_ ctx: VulkanKernelContext, _ x: VulkanTensor, to shape: [Int]) throws -> VulkanTensor {
    let y = try ctx.recorder.makeTensor(shape: shape, dataType: x.dataType)
    try recordStridedCopy(ctx, from: x.buffer, inStrides: broadcastStrides(x.shape, to: shape), to: y.buffer,
                          outStrides: contiguousStrides(shape), shape: shape, wide: x.isWide)
    return y
}

/// Tile by host input 1's repeats: the output seen as [r0, d0, r1, d1, …] reads the input with
/// stride 0 along each repeat.
func recordTile(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    guard let repeats = try ctx.hostInput(1)?.ints(), repeats.count == x.rank, repeats.allSatisfy({ $0 >= 0 }) else {
        throw ctx.error("repeats must have one non-negative entry per dim of \(x.shape)")
    }
    let shape = zip(x.shape, repeats).map { $0 * $1 }
    let y = try ctx.recorder.makeTensor(shape: shape, dataType: x.dataType)
    let strides = contiguousStrides(x.shape)
    let split = zip(repeats, x.shape).flatMap { [$0, $1] }
    let inStrides = strides.flatMap { [0, $0] }
    try recordStridedCopy(ctx, from: x.buffer, inStrides: inStrides, to: y.buffer,
                          outStrides: contiguousStrides(split), shape: split, wide: x.isWide)
    return [y]
}

/// Split along `axis` by the sizes of host input 1 (or the attribute before opset 13), else
/// into num_outputs (or as many outputs as the node has) near-equal parts.
func recordSplit(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let axis = try ctx.axis(try ctx.node.int("axis", default: 0), rank: x.rank), dim = x.shape[axis]
    let parts = ctx.node.outputs.count
    var sizes = ctx.opset < 13 ? try ctx.node.ints("split") : try ctx.hostInput(1)?.ints()
    if sizes == nil {
        let n = try ctx.node.int("num_outputs", default: parts), chunk = (dim + n - 1) / max(n, 1)
        sizes = (0..<n).map { min(chunk, max(0, dim - $0 * chunk)) }
    }
    guard let sizes, sizes.count == parts, sizes.reduce(0, +) == dim, sizes.allSatisfy({ $0 >= 0 }) else {
        throw ctx.error("split sizes do not add up to \(dim) along axis \(axis) in \(parts) parts")
    }
    let strides = contiguousStrides(x.shape)
    var offset = 0
    return try sizes.map { size in
        var shape = x.shape
        shape[axis] = size
        let y = try ctx.recorder.makeTensor(shape: shape, dataType: x.dataType)
        if y.count > 0 {
            try recordStridedCopy(ctx, from: x.buffer, inOffset: offset * strides[axis], inStrides: strides, to: y.buffer,
                                  outStrides: contiguousStrides(shape), shape: shape, wide: x.isWide)
        }
        offset += size
        return y
    }
}

/// DepthToSpace (DCR or CRD) and SpaceToDepth: a 6-D transpose.
func recordDepthSpace(toSpace: Bool, _ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    guard let b = try ctx.node.int("blocksize"), b > 0, x.rank == 4 else { throw ctx.error("needs a 4-D input and a positive blocksize") }
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let view: [Int], perm: [Int], shape: [Int]
    if toSpace {
        guard c % (b * b) == 0 else { throw ctx.error("channels \(c) are not divisible by blocksize² \(b * b)") }
        if try ctx.node.string("mode", default: "DCR") == "CRD" {
            view = [n, c / (b * b), b, b, h, w]; perm = [0, 1, 4, 2, 5, 3]
        } else {
            view = [n, b, b, c / (b * b), h, w]; perm = [0, 3, 4, 1, 5, 2]
        }
        shape = [n, c / (b * b), h * b, w * b]
    } else {
        guard h % b == 0, w % b == 0 else { throw ctx.error("spatial dims \(h)×\(w) are not divisible by blocksize \(b)") }
        view = [n, c, h / b, b, w / b, b]; perm = [0, 3, 5, 1, 2, 4]
        shape = [n, c * b * b, h / b, w / b]
    }
    let strides = contiguousStrides(view)
    let y = try ctx.recorder.makeTensor(shape: shape, dataType: x.dataType)
    let permuted = perm.map { view[$0] }
    try recordStridedCopy(ctx, from: x.buffer, inStrides: perm.map { strides[$0] }, to: y.buffer,
                          outStrides: contiguousStrides(permuted), shape: permuted, wide: x.isWide)
    return [y]
}

/// Shape (with start/end) and Size: computed from the device tensor's shape and uploaded.
func recordShape(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    [try ctx.recorder.upload(try ShapeRules.shapeValue(ctx.node, of: try ctx.input(0).shape))]
}

/// Gather along `axis` with device int32/int64 indices of any shape.
func recordGather(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), indices = try ctx.input(1)
    guard indices.dataType != .float, indices.dataType != .bool else { throw ctx.error("indices must be integers, got \(indices.dataType)") }
    return [try recordGather(ctx, x, indices, axis: try ctx.axis(try ctx.node.int("axis", default: 0), rank: x.rank))]
}

/// Records the entries of `x` along `axis` that the integer `indices` name (negative ones count
/// from the end), in the indices' shape.
private func recordGather(_ ctx: VulkanKernelContext, _ x: VulkanTensor, _ indices: VulkanTensor, axis: Int) throws -> VulkanTensor {
    let shape = Array(x.shape[..<axis]) + indices.shape + Array(x.shape[(axis + 1)...])
    let y = try ctx.recorder.makeTensor(shape: shape, dataType: x.dataType)
    var push = PushConstants()
    push.add(y.count); push.add(x.shape[axis]); push.add(x.shape[(axis + 1)...].reduce(1, *)); push.add(indices.count)
    try ctx.dispatch1D("gather", defines: wordDefines(x, indices: indices), buffers: [x.buffer, indices.buffer, y.buffer],
                       push: push, count: y.count)
    return y
}

/// Compress with its condition read on the host (the output's length depends on it): the
/// selected entries along `axis`, or of the flattened input without one, gathered.
func recordCompress(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    var x = try ctx.input(0)
    guard let condition = try ctx.hostInput(1), condition.rank <= 1, condition.dataType != .string else {
        throw ctx.error("condition must be a 1-D tensor known on the host")
    }
    let axis: Int
    if let a = try ctx.node.int("axis") { axis = try ctx.axis(a, rank: x.rank) } else { x = x.reshaped([x.count]); axis = 0 }
    let picks = condition.doubles().enumerated().filter { $0.element != 0 }.map(\.offset)
    if let last = picks.last, last >= x.shape[axis] { throw ctx.error("condition selects index \(last) beyond the axis size \(x.shape[axis])") }
    guard !picks.isEmpty else {
        var shape = x.shape
        shape[axis] = 0
        return [try ctx.recorder.makeTensor(shape: shape, dataType: x.dataType)]
    }
    return [try recordGather(ctx, x, try ctx.recorder.upload(Tensor(shape: [picks.count], scalars: picks.map { Int32($0) })), axis: axis)]
}

/// GatherElements along `axis`: the output has the indices' shape.
func recordGatherElements(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), indices = try ctx.input(1)
    guard indices.dataType != .float, indices.dataType != .bool, indices.rank == x.rank, x.rank <= maxShaderRank else {
        throw ctx.error("indices must be integers of the input's rank (at most \(maxShaderRank)), got \(indices)")
    }
    let axis = try ctx.axis(try ctx.node.int("axis", default: 0), rank: x.rank)
    let y = try ctx.recorder.makeTensor(shape: indices.shape, dataType: x.dataType)
    var push = PushConstants()
    push.add(y.count); push.add(x.rank); push.add(axis); push.add(x.shape[axis])
    push.add(indices.shape, length: maxShaderRank); push.add(contiguousStrides(x.shape), length: maxShaderRank)
    try ctx.dispatch1D("gather_elements", defines: wordDefines(x, indices: indices), buffers: [x.buffer, indices.buffer, y.buffer], push: push, count: y.count)
    return [y]
}

/// Pad (constant, reflect, edge, wrap) with pads from host input 1 (attribute before opset
/// 11), an optional host constant value (input 2) and axes (input 3).
func recordPad(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let rawPads = ctx.opset < 11 ? try ctx.node.ints("pads") : try ctx.hostInput(1)?.ints()
    let axes = try (try ctx.hostInput(3)?.ints() ?? Array(0..<x.rank)).map { try ctx.axis($0, rank: x.rank) }
    guard let rawPads, rawPads.count == 2 * axes.count, x.rank <= maxShaderRank else {
        throw ctx.error("pads must have two entries per padded axis (rank at most \(maxShaderRank))")
    }
    var before = [Int](repeating: 0, count: x.rank), after = before
    for (k, a) in axes.enumerated() { before[a] = rawPads[k]; after[a] = rawPads[k + axes.count] }
    let shape = x.shape.indices.map { x.shape[$0] + before[$0] + after[$0] }
    guard shape.allSatisfy({ $0 >= 0 }) else { throw ctx.error("pads \(rawPads) crop \(x.shape) below zero") }
    let mode = try ctx.node.string("mode", default: "constant")
    let modes = ["constant": 0, "reflect": 1, "edge": 2, "wrap": 3]
    guard let m = modes[mode] else { throw ctx.error("unknown mode '\(mode)'") }
    if m != 0, x.count == 0, shape.reduce(1, *) > 0 { throw ctx.error("cannot \(mode)-pad an empty tensor") }
    var value: [UInt32] = [0, 0]
    if let v = ctx.opset < 11 ? Tensor(scalar: try ctx.node.float("value", default: 0)) : try ctx.hostInput(2) {
        guard v.count == 1, glslType(v.dataType, ctx.device.storage) == glslType(x.dataType, ctx.device.storage) else {
            throw ctx.error("constant_value must be a scalar of the input's type \(x.dataType), got \(v)")
        }
        value = try deviceBits(v, ctx.device.storage) + [0]
    }
    let y = try ctx.recorder.makeTensor(shape: shape, dataType: x.dataType)
    var push = PushConstants()
    push.add(y.count); push.add(x.rank); push.add(bits: value[0]); push.add(bits: value[1])
    push.add(shape, length: maxShaderRank); push.add(x.shape, length: maxShaderRank)
    for d in 0..<maxShaderRank { push.add(signed: d < x.rank ? before[d] : 0) }
    try ctx.dispatch1D("pad", defines: wordDefines(x).merging(["MODE": "\(m)"]) { $1 }, buffers: [x.buffer, y.buffer], push: push, count: y.count)
    return [y]
}

/// Trilu: keeps the upper (or lower) triangle of the last two dims from diagonal k (host input 1).
func recordTrilu(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    guard x.rank >= 2 else { throw ctx.error("input must be at least 2-D, got \(x.shape)") }
    let k = try ctx.hostInput(1)?.ints().first ?? 0
    let y = try ctx.recorder.makeTensor(shape: x.shape, dataType: x.dataType)
    var push = PushConstants()
    push.add(x.count); push.add(x.shape[x.rank - 2]); push.add(x.shape[x.rank - 1])
    push.add(signed: max(min(k, Int(Int32.max)), Int(Int32.min)))
    let upper = try ctx.node.int("upper", default: 1) != 0
    try ctx.dispatch1D("trilu", defines: wordDefines(x).merging(["UPPER": upper ? "1" : "0"]) { $1 }, buffers: [x.buffer, y.buffer], push: push, count: x.count)
    return [y]
}

/// CumSum and CumProd along the axis of host input 1, with exclusive and reverse.
func recordCumSum(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    guard let a = try ctx.hostInput(1)?.ints(), a.count == 1 else { throw ctx.error("axis must be a scalar") }
    guard x.dataType != .bool else { throw ctx.error("\(ctx.node.opType) takes numbers, got bool") }
    let axis = try ctx.axis(a[0], rank: x.rank)
    let inner = x.shape[(axis + 1)...].reduce(1, *), len = x.shape[axis]
    let y = try ctx.recorder.makeTensor(shape: x.shape, dataType: x.dataType)
    var push = PushConstants()
    push.add(x.count / max(len, 1)); push.add(len); push.add(inner)
    push.add(try ctx.node.int("exclusive", default: 0) != 0 ? 1 : 0); push.add(try ctx.node.int("reverse", default: 0) != 0 ? 1 : 0)
    try ctx.dispatch1D("cumsum", defines: ["T": glslType(x.dataType, ctx.device.storage), "PROD": ctx.node.opType == "CumProd" ? "1" : "0"],
                       buffers: [x.buffer, y.buffer], push: push,
                       count: len == 0 ? 0 : x.count / len)
    return [y]
}

/// EyeLike of a 2-D input: `OpLayouts.eyeLikeValue`, made on the host from the input's shape
/// alone (its values are not read) and uploaded.
func recordEyeLike(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    return [try ctx.recorder.upload(try OpLayouts.eyeLikeValue(ctx.node, shape: x.shape, input: x.dataType))]
}

/// ScatterElements and ScatterND (reduction none/add/mul/max/min): the data copied, then the
/// updates applied in order by one invocation (the ops define repeated indices by order).
func recordScatter(elements: Bool, _ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), indices = try ctx.input(1), updates = try ctx.input(2)
    guard x.dataType != .bool, indices.dataType == .int32 || indices.dataType == .int64, updates.dataType == x.dataType,
          x.rank <= maxShaderRank else {
        throw ctx.error("takes numeric data of rank at most \(maxShaderRank), integer indices and updates of the data's type")
    }
    let reductions = ["none": 0, "add": 1, "mul": 2, "max": 3, "min": 4]
    let name = try ctx.node.string("reduction", default: "none")
    guard let reduction = reductions[name] else { throw ctx.error("unknown reduction '\(name)'") }
    let y = try ctx.recorder.makeTensor(shape: x.shape, dataType: x.dataType)
    let strides = contiguousStrides(x.shape)
    try recordStridedCopy(ctx, from: x.buffer, inStrides: strides, to: y.buffer, outStrides: strides, shape: x.shape, wide: x.isWide)
    var push = PushConstants()
    if elements {
        guard indices.shape == updates.shape, indices.rank == x.rank else { throw ctx.error("indices \(indices.shape) and updates \(updates.shape) must match in shape and rank") }
        let axis = try ctx.axis(try ctx.node.int("axis", default: 0), rank: x.rank)
        push.add(updates.count); push.add(x.rank); push.add(axis); push.add(0); push.add(0)
        push.add(updates.shape, length: maxShaderRank)
    } else {
        guard let k = indices.shape.last, k <= x.rank,
              updates.shape == Array(indices.shape.dropLast()) + Array(x.shape[k...]) else {
            throw ctx.error("indices \(indices.shape) and updates \(updates.shape) do not fit data \(x.shape)")
        }
        push.add(indices.count / max(k, 1)); push.add(x.rank); push.add(0); push.add(k); push.add(x.shape[k...].reduce(1, *))
        push.add([], length: maxShaderRank)
    }
    push.add(x.shape, length: maxShaderRank); push.add(strides, length: maxShaderRank)
    let defines = wordDefines(nil, indices: indices).merging(["T": glslType(x.dataType, ctx.device.storage),
                                                              "ELEMENTS": elements ? "1" : "0", "REDUCTION": "\(reduction)"]) { $1 }
    try ctx.dispatch1D("scatter", defines: defines,
                       buffers: [y.buffer, indices.buffer, updates.buffer], push: push, count: updates.count > 0 ? 1 : 0)
    return [y]
}

/// ReverseSequence of x (any type, rank ≥ 2, time_axis and batch_axis 0 and 1 in either order):
/// each batch entry's first sequence_lens[b] steps reversed (`Shaders/reverse_sequence.comp`).
/// The lengths are read on the host and checked as the CPU checks them.
func recordReverseSequence(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let timeAxis = try ctx.node.int("time_axis", default: 0), batchAxis = try ctx.node.int("batch_axis", default: 1)
    guard x.rank >= 2, Set([timeAxis, batchAxis]) == [0, 1] else {
        throw ctx.error("time_axis \(timeAxis) and batch_axis \(batchAxis) must be 0 and 1 of a rank ≥ 2 input")
    }
    let steps = x.shape[timeAxis], batch = x.shape[batchAxis]
    guard let lens = try ctx.hostInput(1), lens.dataType.isInteger, lens.count == batch, lens.ints().allSatisfy({ (0...steps).contains($0) }) else {
        throw ctx.error("sequence_lens must hold \(batch) integers in 0...\(steps)")
    }
    let lengths = try ctx.recorder.upload(Tensor(shape: [batch], scalars: lens.ints().map { Int32($0) }))
    let y = try ctx.recorder.makeTensor(shape: x.shape, dataType: x.dataType)
    var push = PushConstants()
    for v in [x.count, x.shape[1], x.shape[2...].reduce(1, *)] { push.add(v) }
    try ctx.dispatch1D("reverse_sequence", defines: wordDefines(x).merging(["TIME_FIRST": timeAxis == 0 ? "1" : "0"]) { $1 },
                       buffers: [x.buffer, lengths.buffer, y.buffer], push: push, count: x.count)
    return [y]
}

/// OneHot: device indices, host depth (input 1) and values (input 2, [off, on]); the output
/// has the values' type.
func recordOneHot(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let indices = try ctx.input(0)
    let floatIndices: Set<DataType> = [.float, .float16, .bfloat16]
    guard indices.dataType == .int32 || indices.dataType == .int64 || floatIndices.contains(indices.dataType) else {
        throw ctx.error("indices must be int32, int64, float32, float16 or bfloat16, got \(indices.dataType)")
    }
    guard let depthValue = try ctx.hostInput(1), depthValue.count == 1, let values = try ctx.hostInput(2), values.count == 2,
          ctx.device.storage.dataTypes.contains(values.dataType) else {
        throw ctx.error("depth must be a known scalar and values a known [off, on] pair of a device type")
    }
    let depthNumber = depthValue.doubles()[0]
    guard depthNumber.isFinite, depthNumber >= 1, depthNumber <= Double(1 << 31) else { throw ctx.error("depth \(depthNumber) is invalid") }
    let depth = Int(depthNumber)
    let axis = try ctx.axis(try ctx.node.int("axis", default: -1), rank: indices.rank + 1)
    var shape = indices.shape
    shape.insert(depth, at: axis)
    let words = try deviceBits(values, ctx.device.storage), half = words.count / 2  // [off, on], each 1 or 2 words
    let y = try ctx.recorder.makeTensor(shape: shape, dataType: values.dataType)
    var push = PushConstants()
    push.add(y.count); push.add(depth); push.add(indices.shape[axis...].reduce(1, *))
    for w in [words[0], words[half], half == 2 ? words[1] : 0, half == 2 ? words[3] : 0] { push.add(bits: w) }
    var defines = wordDefines(y, indices: indices)
    if floatIndices.contains(indices.dataType) { defines["FLOAT_INDEX"] = "1" }
    try ctx.dispatch1D("onehot", defines: defines, buffers: [indices.buffer, y.buffer], push: push, count: y.count)
    return [y]
}

/// GatherND with batch_dims: each index tuple selects a slice of the data.
func recordGatherND(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), indices = try ctx.input(1)
    let b = try ctx.node.int("batch_dims", default: 0)
    guard indices.dataType == .int32 || indices.dataType == .int64, let k = indices.shape.last, b >= 0, b < indices.rank,
          b + k <= x.rank, k <= maxShaderRank, Array(x.shape[..<b]) == Array(indices.shape[..<b]) else {
        throw ctx.error("indices \(indices.shape) (batch_dims \(b)) do not fit data \(x.shape)")
    }
    let shape = Array(indices.shape.dropLast()) + Array(x.shape[(b + k)...])
    let y = try ctx.recorder.makeTensor(shape: shape, dataType: x.dataType)
    let strides = contiguousStrides(x.shape), batches = x.shape[..<b].reduce(1, *)
    var push = PushConstants()
    push.add(y.count); push.add(k); push.add(x.shape[(b + k)...].reduce(1, *))
    push.add(indices.count / max(k, 1) / max(batches, 1)); push.add(x.shape[b...].reduce(1, *))
    push.add(Array(x.shape[b..<(b + k)]), length: maxShaderRank); push.add(Array(strides[b..<(b + k)]), length: maxShaderRank)
    try ctx.dispatch1D("gather_nd", defines: wordDefines(x, indices: indices), buffers: [x.buffer, indices.buffer, y.buffer], push: push, count: y.count)
    return [y]
}
