import VonnxIR

/// The Reduce* ops of `Shaders/reduce.comp`, by ONNX name.
let reduceOps: [String: String] = [
    "ReduceSum": "OP_SUM", "ReduceMean": "OP_MEAN", "ReduceMax": "OP_MAX", "ReduceMin": "OP_MIN",
    "ReduceProd": "OP_PROD", "ReduceL1": "OP_L1", "ReduceL2": "OP_L2", "ReduceLogSum": "OP_LOG_SUM",
    "ReduceLogSumExp": "OP_LOG_SUM_EXP", "ReduceSumSquare": "OP_SUM_SQUARE",
]

extension VulkanKernelContext {
    /// `x` with the `reduced` axes moved last (a copy unless they already are), as
    /// (tensor, rows, row length): the layout `reduce.comp` and `normalize.comp` read.
    func rows(_ x: VulkanTensor, reducing reduced: Set<Int>) throws -> (VulkanTensor, Int, Int) {
        let kept = x.shape.indices.filter { !reduced.contains($0) }, perm = kept + reduced.sorted()
        let rows = kept.reduce(1) { $0 * x.shape[$1] }, len = reduced.reduce(1) { $0 * x.shape[$1] }
        // Size-1 dims do not change the element order.
        guard perm.filter({ x.shape[$0] != 1 }) != x.shape.indices.filter({ x.shape[$0] != 1 }) else { return (x, rows, len) }
        let shape = perm.map { x.shape[$0] }, strides = contiguousStrides(x.shape)
        let t = try recorder.makeTensor(shape: shape, dataType: x.dataType)
        try recordStridedCopy(self, from: x.buffer, inStrides: perm.map { strides[$0] }, to: t.buffer,
                              outStrides: contiguousStrides(shape), shape: shape, wide: x.isWide)
        return (t, rows, len)
    }

    /// Records `shader`, a row reduction of rows.glsl's kind, over `rows` rows of `len` elements
    /// that it reads `passes` times: one invocation a row where that variant suits (and the
    /// device's loop limit allows), else one workgroup a row, wide enough that no invocation
    /// passes the loop limit. Throws when no workgroup is that wide.
    func dispatchRows(_ shader: String, defines: [String: String] = [:], buffers: [VulkanBuffer], push: PushConstants,
                      rows: Int, len: Int, passes: Int) throws {
        guard rows > 0 else { return }
        let device = self.device.properties, limit = device.loopIterationLimit.map { $0 / 2 } ?? .max
        let work = passes * len
        let variant = KernelVariants.choose("rows", rows: work, device: self.device) { $0.name != "invocation" || work <= limit }
        let defines = variant.defines.merging(defines) { $1 }
        guard variant.name == "workgroup" else {
            let p = try self.device.pipeline(shader, defines: defines, bindings: buffers.count, workgroup: (UInt32(variant.width), 1, 1))
            return try recorder.dispatch(p, buffers: buffers, push: push.words, count: rows, groupSize: variant.width)
        }
        // CPU devices run a workgroup as a loop: as narrow as the loop limit allows.
        var width = device.prefersSharedMemory ? variant.width : 32
        while passes * ((len + width - 1) / width) > limit { width *= 2 }
        guard width <= device.maxWorkgroupWidth else {
            throw error("rows of \(len) elements are too long for \(self.device.info.name) (its loops stop after \(limit * 2) iterations)")
        }
        let x = min(rows, 65535), y = (rows + x - 1) / x
        guard y <= 65535 else { throw error("\(rows) rows are over the Vulkan dispatch limit") }
        let p = try self.device.pipeline(shader, defines: defines, bindings: buffers.count, workgroup: (UInt32(width), 1, 1))
        try recorder.dispatch(p, buffers: buffers, push: push.words, groups: (UInt32(x), UInt32(y), 1))
    }

    /// Records `reduce.comp`'s `op` over `reduced` axes of `x` (float32 or float64); the result
    /// has `shape` and element type `type`.
    func recordReduce(_ op: String, _ x: VulkanTensor, reducing reduced: Set<Int>, shape: [Int],
                      to type: DataType = .float, last: Bool = false) throws -> VulkanTensor {
        let (src, rows, len) = try self.rows(x, reducing: reduced)
        let y = try recorder.makeTensor(shape: shape, dataType: type)
        var push = PushConstants()
        push.add(rows); push.add(len); push.add(last ? 1 : 0)
        let passes = op == "OP_LOG_SUM_EXP" ? 2 : 1
        let defines = ["OP": op, "T": glslType(x.dataType, device.storage), "R": glslType(type, device.storage)]
        try dispatchRows("reduce", defines: defines, buffers: [src.buffer, y.buffer], push: push,
                         rows: rows, len: len, passes: passes)
        return y
    }
}

/// The Reduce* ops: axes from the attribute or (newer opsets) input 1, keepdims,
/// noop_with_empty_axes. ReduceMax and ReduceMin also take bool (any true, all true): the
/// flags as floats reduced, then compared with zero.
func recordReduction(_ op: String, _ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let given = ctx.node.inputs.count > 1 ? try ctx.hostInput(1)?.ints() : try ctx.node.ints("axes")
    if (given ?? []).isEmpty, try ctx.node.int("noop_with_empty_axes", default: 0) != 0 { return [x] }
    let axes = try Set((given ?? []).map { try ctx.axis($0, rank: x.rank) })
    let reduced = axes.isEmpty ? Set(x.shape.indices) : axes
    let keep = try ctx.node.int("keepdims", default: 1) != 0
    let shape = x.shape.indices.compactMap { reduced.contains($0) ? (keep ? 1 : nil) : x.shape[$0] }
    guard x.dataType == .bool else { return [try ctx.recordReduce(op, x, reducing: reduced, shape: shape, to: x.dataType)] }
    guard op == "OP_MAX" || op == "OP_MIN" else { throw ctx.error("\(ctx.node.opType) of bool is not defined") }
    let flags = try recordUnary("OP_CONVERT", x, to: .float, ctx)
    let reducedFlags = try ctx.recordReduce(op, flags, reducing: reduced, shape: shape)
    ctx.recycle(flags)
    return [try recordUnary("OP_NONZERO", reducedFlags, to: .bool, ctx)]
}

/// ArgMax and ArgMin along `axis`, with keepdims and select_last_index; int64 indices.
func recordArgReduce(max: Bool, _ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let axis = try ctx.axis(try ctx.node.int("axis", default: 0), rank: x.rank)
    guard x.shape[axis] > 0 else { throw ctx.error("cannot take the arg\(max ? "max" : "min") of an empty axis") }
    let keep = try ctx.node.int("keepdims", default: 1) != 0
    var shape = x.shape
    if keep { shape[axis] = 1 } else { shape.remove(at: axis) }
    return [try ctx.recordReduce(max ? "OP_ARGMAX" : "OP_ARGMIN", x, reducing: [axis], shape: shape, to: .int64,
                                 last: try ctx.node.int("select_last_index", default: 0) != 0)]
}
