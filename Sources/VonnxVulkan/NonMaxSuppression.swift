import VonnxIR

/// NonMaxSuppression (opset 10/11) of float32 boxes [B, N, 4] and scores [B, C, N] as the CPU
/// kernel, with max_output_boxes_per_class, iou_threshold and score_threshold read on the
/// host (`Shaders/nms.comp`: rank the candidates, select greedily per class, compact).
///
/// How many boxes are selected is known only once the device has run: the output is made
/// for the most there can be, [B·C·min(max_output_boxes_per_class, N), 3] int64, and carries
/// the device count of its rows (`VulkanTensor.rowCount`), so a download reads back that one
/// count with it and keeps only the selected rows. No kernel reads such a tensor: a partition
/// ends after this node (`VulkanKernels.hasDeviceRowCount`), and what reads the selection runs
/// from the host copy.
func recordNonMaxSuppression(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let boxes = try ctx.input(0), scores = try ctx.input(1)
    guard boxes.rank == 3, boxes.shape[2] == 4, scores.rank == 3, scores.shape[0] == boxes.shape[0],
          scores.shape[2] == boxes.shape[1] else {
        throw ctx.error("boxes \(boxes.shape) and scores \(scores.shape) must be [B, N, 4] and [B, C, N]")
    }
    func scalar(_ i: Int, _ name: String) throws -> Tensor? {
        guard let t = try ctx.hostInput(i), t.count > 0 else { return nil }
        guard t.dataType != .string else { throw ctx.error("\(name) must be numeric") }
        return t
    }
    let maxPerClass = try scalar(2, "max_output_boxes_per_class")?.ints()[0] ?? 0
    let iou = try scalar(3, "iou_threshold")?.doubles()[0] ?? 0
    let scoreThreshold = try scalar(4, "score_threshold")?.doubles()[0]
    let (classes, n) = (scores.shape[1], boxes.shape[1])
    let k = max(0, min(maxPerClass, n)), lines = scores.shape[0] * classes
    let (capacity, overflow) = lines.multipliedReportingOverflow(by: k)
    guard !overflow else { throw ctx.error("\(lines) classes of \(k) boxes overflow") }
    var selected = try ctx.recorder.makeTensor(shape: [capacity, 3], dataType: .int64)
    let total = try ctx.recorder.makeTensor(shape: [1], dataType: .int32)
    selected.rowCount = total.buffer
    guard capacity > 0 else {
        try ctx.recorder.fill(total, bits: 0)
        return [selected]
    }
    let order = try ctx.recorder.makeTensor(shape: [lines * n], dataType: .int32)
    let kept = try ctx.recorder.makeTensor(shape: [capacity], dataType: .int32)
    let counts = try ctx.recorder.makeTensor(shape: [lines], dataType: .int32)
    try ctx.recorder.fill(order, bits: UInt32.max)
    let buffers = [boxes, scores, order, kept, counts, selected, total].map(\.buffer)
    var defines = ["CENTER": try ctx.node.int("center_point_box", default: 0) != 0 ? "1" : "0",
                   "THRESHOLD": scoreThreshold == nil ? "0" : "1"].merging(wordDefines(nil, indices: selected)) { $1 }
    for (pass, count) in [lines * n, lines, capacity].enumerated() {
        var push = PushConstants()
        for v in [count, classes, n, k] { push.add(v) }
        push.add(Float(iou)); push.add(Float(scoreThreshold ?? 0))
        defines["PASS"] = "\(pass)"
        try ctx.dispatch1D("nms", defines: defines, buffers: buffers, push: push, count: count)
    }
    for t in [order, kept, counts] { ctx.recorder.recycle(t) }
    return [selected]
}
