import VonnxIR

/// Einsum of 1 to 3 operands of one type (`EinsumPlan` parses the equation). Two float32
/// operands run as the CPU's `einsumByGemm` does, on `gemm.comp` (`einsumByGemm`); the others
/// (float64, one or three operands, or gathers that would grow too large) on `einsum.comp`.
func recordEinsum(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    guard let equation = try ctx.node.string("equation") else { throw ctx.error("equation is missing") }
    let xs = try ctx.node.inputs.indices.map { try ctx.input($0) }
    guard let first = xs.first, xs.count <= 3 else { throw ctx.error("takes 1 to 3 operands on Vulkan, got \(xs.count)") }
    guard xs.allSatisfy({ $0.dataType == first.dataType }) else { throw ctx.error("inputs must share one element type") }
    let plan = try EinsumPlan(equation: equation, shapes: xs.map(\.shape), node: ctx.node)
    if xs.count == 2, first.dataType == .float, let y = try einsumByGemm(ctx, xs[0], xs[1], plan) { return [y] }
    return [try einsumDirect(ctx, xs, plan)]
}

/// Two-operand Einsum as a batched matrix product: A gathered by strides into [P, M, K], B into
/// [P, K, N] (P: output labels in both, M and N: output labels of one side, K: the summed
/// labels; strides take diagonals and broadcasts), multiplied on `gemm.comp`, and the product
/// copied into the output's label order. Nil when there is nothing to multiply or a gathered
/// operand would be over 16 times the larger input.
private func einsumByGemm(_ ctx: VulkanKernelContext, _ a: VulkanTensor, _ b: VulkanTensor, _ plan: EinsumPlan) throws -> VulkanTensor? {
    let sa = plan.strides[0], sb = plan.strides[1], dims = plan.product, size = dims.size
    let (P, M, N, K) = (dims.p, dims.m, dims.n, dims.k)
    let (p, m, n, k) = (dims.count(P), dims.count(M), dims.count(N), dims.count(K))
    guard p * m * n > 0, k > 0, let gatheredA = checkedElementCount([p, m, k]), let gatheredB = checkedElementCount([p, k, n]),
          max(gatheredA, gatheredB) <= max(a.count, b.count) * 16 else { return nil }
    func gather(_ x: VulkanTensor, _ labels: [Int], _ strides: [Int: Int], as shape: [Int]) throws -> VulkanTensor {
        let t = try ctx.recorder.makeTensor(shape: shape, dataType: .float)
        try recordStridedCopy(ctx, from: x.buffer, inStrides: labels.map { strides[$0] ?? 0 }, to: t.buffer,
                              outStrides: contiguousStrides(labels.map { size[$0]! }), shape: labels.map { size[$0]! })
        return t
    }
    let lhs = try gather(a, P + M + K, sa, as: [p, m, k]), rhs = try gather(b, P + K + N, sb, as: [p, k, n])
    var g = GemmShape(m: m, n: n, k: k, sa: (k, 1), sb: (n, 1))
    if !P.isEmpty { (g.batchShape, g.batchA, g.batchB) = ([p], [m * k], [k * n]) }
    let product = try recordGemmShader(ctx, a: lhs, b: rhs, c: nil, shape: g, output: [p, m, n])
    ctx.recycle(lhs)
    ctx.recycle(rhs)
    let labels = P + M + N
    guard labels != plan.outputLabels else { return VulkanTensor(shape: plan.outShape, buffer: product.buffer, dataType: .float) }
    var strideOf: [Int: Int] = [:]
    for (l, s) in zip(labels, contiguousStrides(labels.map { size[$0]! })) { strideOf[l] = s }
    let y = try ctx.recorder.makeTensor(shape: plan.outShape, dataType: .float)
    try recordStridedCopy(ctx, from: product.buffer, inStrides: plan.outputLabels.map { strideOf[$0]! }, to: y.buffer,
                          outStrides: contiguousStrides(plan.outShape), shape: plan.outShape)
    ctx.recycle(product)
    return y
}

/// Einsum on `einsum.comp`: each output element sums, over the summed labels' index space, the
/// product of the operands' elements read at their strides (in float or double, as the inputs).
private func einsumDirect(_ ctx: VulkanKernelContext, _ xs: [VulkanTensor], _ plan: EinsumPlan) throws -> VulkanTensor {
    let sumCount = plan.sumSizes.reduce(1, *)
    if let limit = ctx.device.properties.loopIterationLimit, sumCount > limit / 2 {
        throw ctx.error("sums \(sumCount) products per output element, past \(ctx.device.info.name)'s loop limit")
    }
    // Per dim, output dims then summed ones: its size and each operand's stride; one spare row
    // keeps the buffer non-empty for a scalar.
    var table: [Int32] = []
    for (l, d) in zip(plan.outputLabels + plan.sumLabels, plan.outShape + plan.sumSizes) {
        for v in [d] + (0..<3).map({ $0 < xs.count ? plan.strides[$0][l] ?? 0 : 0 }) {
            guard let word = Int32(exactly: v) else { throw ctx.error("size or stride \(v) is over 2³¹−1") }
            table.append(word)
        }
    }
    table += [1, 0, 0, 0]
    let y = try ctx.recorder.makeTensor(shape: plan.outShape, dataType: xs[0].dataType)
    let rows = try ctx.recorder.upload(Tensor(shape: [table.count], scalars: table))
    var push = PushConstants()
    for v in [y.count, plan.outShape.count, plan.sumSizes.count, sumCount] { push.add(v) }
    try ctx.dispatch1D("einsum", defines: ["T": glslType(xs[0].dataType, ctx.device.storage), "OPERANDS": "\(xs.count)"],
                       buffers: [rows.buffer] + xs.map(\.buffer) + [y.buffer], push: push, count: y.count)
    return y
}
