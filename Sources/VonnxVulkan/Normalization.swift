import VonnxIR

func recordBatchNormalization(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    if try ctx.node.int("training_mode", default: 0) != 0 {
        throw ctx.error("training_mode is not implemented on Vulkan")
    }
    let x = try ctx.input(0)
    guard x.rank >= 2 else { throw ctx.error("input \(x.shape) must have rank >= 2") }
    let c = x.shape[1]
    let params = try (1...4).map { try ctx.input($0) }
    for (i, p) in params.enumerated() where p.shape != [c] {
        throw ctx.error("input \(i + 1) has shape \(p.shape), expected [\(c)]")
    }
    let y = try ctx.recorder.makeTensor(shape: x.shape)
    var push = PushConstants()
    push.add(x.count); push.add(c); push.add(x.shape[2...].reduce(1, *))
    push.add(try ctx.node.float("epsilon", default: 1e-5))
    try ctx.dispatch1D("batchnorm", buffers: [x.buffer] + params.map(\.buffer) + [y.buffer], push: push, count: x.count)
    return [y]
}

/// Softmax and LogSoftmax: along `axis` from opset 13 (default -1); before it, over the
/// flattened dims from `axis` on (default 1).
func recordSoftmax(_ ctx: VulkanKernelContext, log: Bool) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let axis = try ctx.axis(try ctx.node.int("axis", default: ctx.opset >= 13 ? -1 : 1), rank: x.rank)
    let outer = x.shape[..<axis].reduce(1, *)
    let (length, inner) = ctx.opset >= 13 || x.rank == 0
        ? (x.rank == 0 ? 1 : x.shape[axis], x.rank == 0 ? 1 : x.shape[(axis + 1)...].reduce(1, *))
        : (x.shape[axis...].reduce(1, *), 1)
    return [try ctx.recordSoftmaxRows(x, outer: outer, length: length, inner: inner, log: log)]
}

extension VulkanKernelContext {
    /// Softmax (or LogSoftmax) of `x` viewed as [outer, length, inner] along its middle dim.
    func recordSoftmaxRows(_ x: VulkanTensor, outer: Int, length: Int, inner: Int, log: Bool) throws -> VulkanTensor {
        let y = try recorder.makeTensor(shape: x.shape)
        var push = PushConstants()
        push.add(outer); push.add(length); push.add(inner)
        try dispatchRows("softmax", defines: ["LOG": log ? "1" : "0"], buffers: [x.buffer, y.buffer], push: push,
                         rows: outer * inner, len: length, passes: 3)
        return y
    }
}
