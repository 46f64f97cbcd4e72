import VonnxIR

/// How one `gemm.comp` dispatch reads its operands.
struct GemmShape {
    var m: Int, n: Int, k: Int
    var sa: (Int, Int), sb: (Int, Int), sc: (Int, Int) = (0, 0)
    var alpha: Float = 1, beta: Float = 0
    var batchShape: [Int] = [], batchA: [Int] = [], batchB: [Int] = []

    /// The vec4 loads `gemm.comp`'s register variants can make (its VEC4): 1 when A's rows and
    /// B's rows are contiguous (B's rows N long, or padded to a multiple of 4), 2 when A's rows
    /// and B's columns are contiguous along K, else 0.
    var vec4Loads: Int {
        guard sa.1 == 1, k % 4 == 0, sa.0 % 4 == 0, (batchA + batchB).allSatisfy({ $0 % 4 == 0 }) else { return 0 }
        if sb.1 == 1, sb.0 % 4 == 0, sb.0 >= (n + 3) / 4 * 4 { return 1 }
        return sb.0 == 1 && sb.1 % 4 == 0 ? 2 : 0
    }

    /// The product Yᵀ = Bᵀ·Aᵀ of the same output memory when Y has one column (N = 1): one row,
    /// so the GEMV path runs it instead of blocks that would be 1 column in 32 busy.
    var transposed: GemmShape {
        var t = GemmShape(m: n, n: m, k: k, sa: (0, sb.0), sb: (sa.1, sa.0), sc: (sc.1, sc.0), alpha: alpha, beta: beta)
        t.batchShape = batchShape; t.batchA = batchB; t.batchB = batchA
        return t
    }
}

/// Records `gemm.comp`, in the variant `KernelVariants` picks, writing a new tensor of shape
/// `output` (batch × M × N elements), plus `residual` (of that shape), then `activation`.
/// A constant A or B is read as float16 at fp16 precision (`VulkanKernelContext.operand`).
func recordGemmShader(_ ctx: VulkanKernelContext, a: VulkanTensor, b: VulkanTensor, c: VulkanTensor?,
                      residual: VulkanTensor? = nil, activation: FusedActivation? = nil, shape g: GemmShape,
                      output: [Int]) throws -> VulkanTensor {
    guard g.batchShape.count <= 4 else { throw ctx.error("more than 4 batch dims are not implemented on Vulkan") }
    let (g, wholeA, wholeB) = g.n == 1 && g.m > 1 ? (g.transposed, b, a) : (g, a, b)
    let (a, halfA) = try ctx.operand(wholeA), (b, halfB) = try ctx.operand(wholeB)
    let variant = KernelVariants.choose("gemm", rows: g.m, columns: g.n, device: ctx.device)
    let y = try ctx.recorder.makeTensor(shape: output)
    var push = PushConstants()
    for v in [g.m, g.n, g.k, g.batchShape.count, g.sa.0, g.sa.1, g.sb.0, g.sb.1, g.sc.0, g.sc.1] { push.add(v) }
    push.add(g.alpha); push.add(g.beta)
    push.add(g.batchShape, length: 4); push.add(g.batchA, length: 4); push.add(g.batchB, length: 4)
    let act = ShaderActivation(activation)
    act.push(&push)
    let buffers = [a.buffer, b.buffer, y.buffer] + [c, residual].compactMap { $0?.buffer }
    var defines = ["HAS_C": c == nil ? "0" : "1", "HAS_Z": residual == nil ? "0" : "1", "ACT": act.define,
                   "VEC4": "\(variant.vectorLoads ? g.vec4Loads : 0)"]
    if halfA { defines["A_HALF"] = "1" }
    if halfB { defines["B_HALF"] = "1" }
    try ctx.dispatch(variant, defines: defines, buffers: buffers, push: push,
                     columns: g.n, rows: g.m, batch: g.batchShape.reduce(1, *))
    return y
}

func recordGemm(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let a = try ctx.input(0), b = try ctx.input(1), c = ctx.optionalInput(2)
    guard a.rank == 2, b.rank == 2 else { throw ctx.error("Gemm takes 2-D A and B, got \(a.shape) and \(b.shape)") }
    let transA = try ctx.node.int("transA", default: 0) != 0, transB = try ctx.node.int("transB", default: 0) != 0
    let (m, k) = transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
    let (kb, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
    guard k == kb else { throw ctx.error("inner dimensions differ: A \(a.shape), B \(b.shape)") }
    var g = GemmShape(m: m, n: n, k: k, sa: transA ? (1, m) : (k, 1), sb: transB ? (1, k) : (n, 1))
    g.alpha = try ctx.node.float("alpha", default: 1)
    g.beta = try ctx.node.float("beta", default: 1)
    if let c {
        guard c.rank <= 2 else { throw ctx.error("C \(c.shape) has rank over 2") }
        let cs = [Int](repeating: 1, count: 2 - c.rank) + c.shape
        guard (cs[0] == 1 || cs[0] == m), (cs[1] == 1 || cs[1] == n) else {
            throw ctx.error("C \(c.shape) does not broadcast to [\(m), \(n)]")
        }
        g.sc = (cs[0] == 1 ? 0 : cs[1], cs[1] == 1 ? 0 : 1)
    }
    return [try recordGemmShader(ctx, a: a, b: b, c: c, shape: g, output: [m, n])]
}

func recordMatMul(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let a = try ctx.input(0), b = try ctx.input(1)
    let (g, output) = try matMulShape(a, b, ctx)
    return [try recordGemmShader(ctx, a: a, b: b, c: nil, shape: g, output: output)]
}

/// NumPy matmul of contiguous `a` and `b` (either 1-D) as a `GemmShape`, and its output shape.
func matMulShape(_ a: VulkanTensor, _ b: VulkanTensor, _ ctx: VulkanKernelContext) throws -> (GemmShape, output: [Int]) {
    guard a.rank >= 1, b.rank >= 1 else { throw ctx.error("MatMul inputs must have rank >= 1") }
    let aShape = a.rank == 1 ? [1] + a.shape : a.shape
    let bShape = b.rank == 1 ? b.shape + [1] : b.shape
    let (m, k) = (aShape[aShape.count - 2], aShape[aShape.count - 1])
    let (kb, n) = (bShape[bShape.count - 2], bShape[bShape.count - 1])
    guard k == kb else { throw ctx.error("inner dimensions differ: \(a.shape) and \(b.shape)") }
    let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
    guard let batchShape = broadcast(aBatch, bBatch) else {
        throw ctx.error("batch dims of \(a.shape) and \(b.shape) do not broadcast")
    }
    var g = GemmShape(m: m, n: n, k: k, sa: (k, 1), sb: (n, 1))
    g.batchShape = batchShape
    g.batchA = broadcastStrides(aBatch, to: batchShape).map { $0 * m * k }
    g.batchB = broadcastStrides(bBatch, to: batchShape).map { $0 * k * n }
    return (g, batchShape + (a.rank == 1 ? [] : [m]) + (b.rank == 1 ? [] : [n]))
}
