import VonnxIR

/// NegativeLogLikelihoodLoss on float32 log-probabilities [N, C, d...] and int32/int64
/// targets [N, d...], with optional class weights, ignore_index and reduction none, sum or
/// mean (the summed losses over the summed weights of the counted elements), as the CPU kernel.
func recordNegativeLogLikelihoodLoss(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    [try recordNLL(ctx, logProbabilities: try ctx.input(0))]
}

/// SoftmaxCrossEntropyLoss: the log-softmax over axis 1, then the NLL loss; its second output
/// is the log-probabilities.
func recordSoftmaxCrossEntropyLoss(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    guard x.rank >= 2 else { throw ctx.error("scores must be [N, C, d...], got \(x.shape)") }
    let logp = try ctx.recordSoftmaxRows(x, outer: x.shape[0], length: x.shape[1], inner: x.shape[2...].reduce(1, *), log: true)
    return [try recordNLL(ctx, logProbabilities: logp), logp]
}

private func recordNLL(_ ctx: VulkanKernelContext, logProbabilities x: VulkanTensor) throws -> VulkanTensor {
    let target = try ctx.input(1), weight = ctx.optionalInput(2)
    guard x.rank >= 2, x.dataType == .float, target.dataType == .int32 || target.dataType == .int64,
          target.shape == [x.shape[0]] + x.shape[2...] else {
        throw ctx.error("input \(x) and target \(target) must be float32 [N, C, d...] and integer [N, d...]")
    }
    if let weight, weight.shape != [x.shape[1]] || weight.dataType != .float {
        throw ctx.error("weight \(weight) must be float32 [\(x.shape[1])]")
    }
    let reductions = ["none": 0, "sum": 1, "mean": 2], name = try ctx.node.string("reduction", default: "mean")
    guard let reduction = reductions[name] else { throw ctx.error("unknown reduction '\(name)'") }
    let ignore = try ctx.node.int("ignore_index")
    var push = PushConstants()
    push.add(target.count); push.add(x.shape[1]); push.add(x.shape[2...].reduce(1, *))
    push.add(ignore == nil ? 0 : 1); push.add(signed: min(max(ignore ?? 0, Int(Int32.min)), Int(Int32.max)))
    let losses = try ctx.recorder.makeTensor(shape: reduction == 0 ? target.shape : [2, target.count])
    let defines = wordDefines(nil, indices: target).merging(["FINAL": "0", "REDUCE": "\(reduction)", "WEIGHT": weight == nil ? "0" : "1"]) { $1 }
    try ctx.dispatch1D("nll", defines: defines, buffers: [x.buffer, target.buffer, (weight ?? x).buffer, losses.buffer],
                       push: push, count: target.count)
    guard reduction != 0 else { return losses }
    // Row 0 sums the losses, row 1 the weights.
    let sums = try ctx.recordReduce("OP_SUM", losses, reducing: [1], shape: [2])
    let y = try ctx.recorder.makeTensor(shape: [])
    var one = PushConstants()
    one.add(1); one.add(0); one.add(1); one.add(0); one.add(signed: 0)
    try ctx.dispatch1D("nll", defines: defines.merging(["FINAL": "1"]) { $1 }, buffers: [sums.buffer, target.buffer, sums.buffer, y.buffer],
                       push: one, count: 1)
    return y
}
