import VonnxIR

/// LpNormalization of float32 x along `axis` (default -1) with p 1 or 2 (default 2), as the
/// CPU kernel (`Shaders/lp_normalize.comp`).
func recordLpNormalization(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let p = try ctx.node.int("p", default: 2)
    guard p == 1 || p == 2 else { throw ctx.error("p \(p) must be 1 or 2") }
    let axis = x.rank == 0 ? 0 : try ctx.axis(try ctx.node.int("axis", default: -1), rank: x.rank)
    let n = x.rank == 0 ? 1 : x.shape[axis], inner = x.rank == 0 ? 1 : x.shape[(axis + 1)...].reduce(1, *)
    let y = try ctx.recorder.makeTensor(shape: x.shape)
    var push = PushConstants()
    for v in [x.count, n, inner] { push.add(v) }
    try ctx.dispatch1D("lp_normalize", defines: ["P": "\(p)"], buffers: [x.buffer, y.buffer], push: push, count: x.count)
    return [y]
}
