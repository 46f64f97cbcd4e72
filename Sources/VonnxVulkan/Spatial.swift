import VonnxIR

/// The 2-D sliding window of a Conv or pool node: kernel, strides, dilations, pads and the
/// output size. 1-D nodes become 2-D with a height of 1.
struct Window2D {
    var kernel: [Int], strides: [Int], dilations: [Int]
    /// [top, left, bottom, right].
    var pads: [Int]
    var output: [Int]

    /// Reads the window attributes of `node` for an input of spatial size `input` (1 or 2
    /// dims, up to `maxRank`: a 3-D window keeps its 3 dims, pads [begins, ends]); `kernel` is
    /// the kernel size when it comes from a weight shape.
    init(_ ctx: VulkanKernelContext, input: [Int], kernel givenKernel: [Int]?, ceilMode: Bool, maxRank: Int = 2) throws {
        let node = ctx.node, r = input.count
        guard r >= 1, r <= maxRank else { throw ctx.error("the Vulkan kernel handles 1-D to \(maxRank)-D windows, got \(r)-D") }
        func attr(_ name: String, _ fallback: Int, count: Int) throws -> [Int] {
            let v = try node.ints(name) ?? [Int](repeating: fallback, count: count)
            guard v.count == count else { throw ctx.error("attribute '\(name)' has \(v.count) values, expected \(count)") }
            return v
        }
        guard let k = try node.ints("kernel_shape") ?? givenKernel, k.count == r else {
            throw ctx.error("kernel_shape is missing or does not have \(r) values")
        }
        if let givenKernel, k != givenKernel { throw ctx.error("kernel_shape \(k) differs from the weights' \(givenKernel)") }
        let s = try attr("strides", 1, count: r), d = try attr("dilations", 1, count: r)
        var p = try attr("pads", 0, count: 2 * r)
        guard p.allSatisfy({ $0 >= 0 }) else { throw ctx.error("pads \(p) must not be negative") }
        let autoPad = try node.string("auto_pad", default: "NOTSET")
        var out = [Int](repeating: 0, count: r)
        for i in 0..<r {
            guard k[i] > 0, s[i] > 0, d[i] > 0 else { throw ctx.error("kernel, strides and dilations must be positive") }
            let eff = (k[i] - 1) * d[i] + 1
            switch autoPad {
            case "SAME_UPPER", "SAME_LOWER":
                out[i] = (input[i] + s[i] - 1) / s[i]
                let total = Swift.max(0, (out[i] - 1) * s[i] + eff - input[i])
                let small = total / 2
                p[i] = autoPad == "SAME_UPPER" ? small : total - small
                p[i + r] = total - p[i]
            case "VALID", "NOTSET":
                if autoPad == "VALID" { p[i] = 0; p[i + r] = 0 }
                let span = input[i] + p[i] + p[i + r] - eff
                guard span >= 0 else { throw ctx.error("the window (\(eff)) is larger than the padded input (\(input[i] + p[i] + p[i + r]))") }
                out[i] = (ceilMode ? (span + s[i] - 1) / s[i] : span / s[i]) + 1
                // With ceil_mode, the last window must start inside the input or its left pad.
                if ceilMode && (out[i] - 1) * s[i] >= input[i] + p[i] { out[i] -= 1 }
            default: throw ctx.error("unknown auto_pad '\(autoPad)'")
            }
        }
        if r == 1 {
            kernel = [1] + k; strides = [1] + s; dilations = [1] + d
            pads = [0, p[0], 0, p[1]]; output = [1] + out
        } else {
            kernel = k; strides = s; dilations = d; pads = p; output = out
        }
    }
}

/// Batch, input and output channels and the node's `group` of a convolution of x (1-D or 2-D
/// NCHW) by w; throws unless w fits x in that many groups.
func convChannels(_ ctx: VulkanKernelContext, _ x: VulkanTensor, _ w: VulkanTensor) throws -> (n: Int, c: Int, m: Int, group: Int) {
    guard x.rank == 3 || x.rank == 4, w.rank == x.rank else {
        throw ctx.error("the Vulkan \(ctx.node.opType) takes 1-D or 2-D NCHW input, got \(x.shape) with weights \(w.shape)")
    }
    let group = try ctx.node.int("group", default: 1)
    let (n, c, m) = (x.shape[0], x.shape[1], w.shape[0])
    guard group > 0, c % group == 0, m % group == 0, w.shape[1] == c / group else {
        throw ctx.error("weights \(w.shape) do not fit input \(x.shape) with group \(group)")
    }
    return (n, c, m, group)
}

/// Conv (inputs X, W, optional bias) in the variant `KernelVariants` picks among those that
/// apply (a pointwise conv is a GEMM; Winograd; im2col and the GEMM; a direct implicit GEMM),
/// with `residual` added and `activation` applied before the output is written.
func recordConv(_ ctx: VulkanKernelContext, residual: VulkanTensor? = nil, activation: FusedActivation? = nil) throws -> [VulkanTensor] {
    let x = try ctx.input(0), w = try ctx.input(1), bias = ctx.optionalInput(2)
    guard x.rank <= 5 else { throw ctx.error("the Vulkan Conv takes 1-D to 3-D input, got \(x.shape) with weights \(w.shape)") }
    if x.rank == 5 { return [try recordConv3D(ctx, x, w, bias: bias, residual: residual, activation: activation)] }
    let (n, c, m, group) = try convChannels(ctx, x, w)
    if let bias, bias.shape != [m] { throw ctx.error("bias \(bias.shape) must be [\(m)]") }
    let window = try Window2D(ctx, input: Array(x.shape[2...]), kernel: Array(w.shape[2...]), ceilMode: false)
    let (h, wd) = x.rank == 4 ? (x.shape[2], x.shape[3]) : (1, x.shape[2])
    let outShape = [n, m] + (x.rank == 4 ? window.output : [window.output[1]])
    if let residual, residual.shape != outShape { throw ctx.error("residual \(residual.shape) must be the output's shape \(outShape)") }
    if window.kernel == [1, 1], window.strides == [1, 1], window.pads == [0, 0, 0, 0], group == 1,
       (h * wd) % 4 == 0 || ctx.device.properties.prefersSharedMemory {
        // A pointwise convolution is a matrix product per image: Y[n] = W[M×C] · X[n][C×HW] (+ bias
        // broadcast along rows), which the gemm shader's vec4 loads do faster. (Where they pay and
        // HW is no multiple of 4, the im2col variant pads the rows first.)
        var g = GemmShape(m: m, n: h * wd, k: c, sa: (c, 1), sb: (h * wd, 1), sc: (1, 0), beta: 1)
        g.batchShape = [n]; g.batchA = [0]; g.batchB = [c * h * wd]
        return [try recordGemmShader(ctx, a: w, b: x, c: bias, residual: residual, activation: activation, shape: g, output: outShape)]
    }
    let mg = m / group
    let pixels = window.output[0] * window.output[1], rowLength = (pixels + 3) / 4 * 4
    let k = c * window.kernel[0] * window.kernel[1], k4 = (k + 3) / 4 * 4
    let maxScratch = min(ctx.device.maxBufferBytes, 1 << 28) / 4
    let c4 = (c + 3) / 4 * 4, m4 = (m + 3) / 4 * 4
    /// A Winograd variant's output tile size, and F(tm×tm, 3×3)'s tiles: per row and in all.
    func tileSize(_ v: KernelVariant) -> Int { Int(v.defines["WINO_M"]!)! }
    func tiles(_ tm: Int) -> (row: Int, all: Int) {
        let row = (window.output[1] + tm - 1) / tm
        return (row, row * ((window.output[0] + tm - 1) / tm))
    }
    let variant = KernelVariants.choose("conv", rows: mg, columns: pixels, device: ctx.device) { v in
        switch v.shader {
        case "winograd":
            x.rank == 4 && group == 1 && c >= 8 && window.kernel == [3, 3] && window.strides == [1, 1] && window.dilations == [1, 1]
                && (checkedElementCount([n, (tileSize(v) + 2) * (tileSize(v) + 2), max(c4, m), tiles(tileSize(v)).all]) ?? .max) <= maxScratch
        case "im2col": group == 1 && (checkedElementCount([n, k4, rowLength]) ?? .max) <= maxScratch
        case "depthwise": group == c && group > 1
        default: true
        }
    }
    let act = ShaderActivation(activation)
    let epilogue = ["HAS_BIAS": bias == nil ? "0" : "1", "HAS_Z": residual == nil ? "0" : "1", "ACT": act.define]
    /// The weights as the direct kernels read them, and their defines (float16 at fp16 precision).
    func directWeights() throws -> (VulkanBuffer, [String: String]) {
        let (weights, half) = try ctx.operand(w)
        return (weights.buffer, half ? epilogue.merging(["W_HALF": "1"]) { $1 } : epilogue)
    }
    let convWindow = [window.output[0], window.output[1], window.strides[0], window.strides[1], window.pads[0], window.pads[1],
                      window.dilations[0], window.dilations[1]]
    if variant.shader == "depthwise" {
        let (weights, defines) = try directWeights()
        let y = try ctx.recorder.makeTensor(shape: outShape)
        var push = PushConstants()
        for v in [c, h, wd, m] + convWindow { push.add(v) }
        act.push(&push)
        let strip = Int(variant.defines["PX"]!)!
        let shape = ["KH": window.kernel[0], "KW": window.kernel[1], "STRIDE_W": window.strides[1], "DIL_W": window.dilations[1]]
        try ctx.dispatch(variant, defines: defines.merging(shape.mapValues { "\($0)" }) { $1 },
                         buffers: [x.buffer, weights, y.buffer] + [bias, residual].compactMap { $0?.buffer }, push: push,
                         columns: window.output[0] * ((window.output[1] + strip - 1) / strip) * strip, rows: m, batch: n)
        return [y]
    }
    if variant.shader == "winograd" {
        // Transformed input tiles V[n][α²][T][C4] (α = tm + 2) and filters U[α²][C4][M4] (made once
        // per weight); their product per position P[n][α²][T][M]; then the output transform with
        // the epilogue.
        let tm = tileSize(variant), alpha2 = (tm + 2) * (tm + 2), (tileRow, tileCount) = tiles(tm)
        func push(count: Int) -> PushConstants {
            var push = PushConstants()
            for v in [count, c, c4, m, h, wd, window.output[0], window.output[1], tileRow, tileCount, m4,
                      window.pads[0], window.pads[1]] { push.add(v) }
            act.push(&push)
            return push
        }
        let defines = variant.defines
        let filters = try ctx.prepared(w, key: "winograd\(tm)") { ctx in
            let u = try ctx.recorder.makeTensor(shape: [alpha2, c4, m4])
            try ctx.dispatch1D("winograd", defines: defines.merging(["STAGE": "0"]) { $1 }, buffers: [w.buffer, u.buffer],
                               push: push(count: c4 * m4), count: c4 * m4)
            return u
        }
        let inputs = try ctx.recorder.makeTensor(shape: [n, alpha2, tileCount, c4])
        try ctx.dispatch1D("winograd", defines: defines.merging(["STAGE": "1"]) { $1 }, buffers: [x.buffer, inputs.buffer],
                           push: push(count: n * tileCount * c4), count: n * tileCount * c4)
        var g = GemmShape(m: tileCount, n: m, k: c4, sa: (c4, 1), sb: (m4, 1))
        g.batchShape = [n, alpha2]; g.batchA = [alpha2 * tileCount * c4, tileCount * c4]; g.batchB = [0, c4 * m4]
        let products = try recordGemmShader(ctx, a: inputs, b: filters, c: nil, shape: g, output: [n, alpha2, tileCount, m])
        ctx.recycle(filters)
        ctx.recycle(inputs)
        let y = try ctx.recorder.makeTensor(shape: outShape)
        let outputStage = defines.merging(epilogue) { $1 }.merging(["STAGE": "2"]) { $1 }
        try ctx.dispatch1D("winograd", defines: outputStage, buffers: [products.buffer, y.buffer] + [bias, residual].compactMap { $0?.buffer },
                           push: push(count: n * m * tileCount), count: n * m * tileCount)
        ctx.recycle(products)
        return [y]
    }
    if variant.shader == "im2col" {
        // The im2col matrix, then one GEMM per image: Y[n] = W[M×K] · col[n][K×pixels], with K
        // padded to a multiple of 4 (zero weight columns and col rows) for the GEMM's vec4 loads.
        let weights = k4 == k ? w : try ctx.prepared(w, key: "im2col") { ctx in
            let padded = try ctx.recorder.makeTensor(shape: [m, k4])
            try ctx.recorder.fill(padded, bits: 0)
            try recordStridedCopy(ctx, from: w.buffer, inStrides: [k, 1], to: padded.buffer, outStrides: [k4, 1], shape: [m, k])
            return padded
        }
        let col = try ctx.recorder.makeTensor(shape: [n, k4, rowLength])
        var push = PushConstants()
        for v in [n * k4 * rowLength / 4, c, h, wd, window.output[1], pixels, rowLength, k4, window.kernel[0], window.kernel[1],
                  window.strides[0], window.strides[1], window.pads[0], window.pads[1], window.dilations[0],
                  window.dilations[1]] { push.add(v) }
        try ctx.dispatch1D("im2col", buffers: [x.buffer, col.buffer], push: push, count: n * k4 * rowLength / 4)
        var g = GemmShape(m: m, n: pixels, k: k4, sa: (k4, 1), sb: (rowLength, 1), sc: (1, 0), beta: 1)
        g.batchShape = [n]; g.batchA = [0]; g.batchB = [k4 * rowLength]
        let y = try recordGemmShader(ctx, a: weights, b: col, c: bias, residual: residual, activation: activation, shape: g,
                                     output: outShape)
        ctx.recorder.recycle(col)
        if k4 != k { ctx.recycle(weights) }
        return [y]
    }
    let (weights, weightDefines) = try directWeights()
    let y = try ctx.recorder.makeTensor(shape: outShape)
    var push = PushConstants()
    for v in [c, h, wd, m] + convWindow + [group] { push.add(v) }
    act.push(&push)
    let buffers = [x.buffer, weights, y.buffer] + [bias, residual].compactMap { $0?.buffer }
    var defines = weightDefines.merging(["KH": "\(window.kernel[0])", "KW": "\(window.kernel[1])"]) { $1 }
    // lanes over channels: an invocation's pixels are all the conv has, up to the workgroup's
    if variant.defines["CHANNEL_LANES"] != nil { defines["PX"] = "\(min(pixels, variant.width * variant.columns))" }
    let block = variant.height * variant.rows
    try ctx.dispatch(variant, defines: defines, buffers: buffers, push: push, columns: pixels,
                     rows: group * ((mg + block - 1) / block) * block, batch: n)
    return [y]
}

/// A 3-D Conv (NCDHW input, weights [M, C/group, KD, KH, KW]) with strides, dilations, pads
/// or auto_pad and groups, one direct pass (`Shaders/conv3d.comp`), with `residual` added and
/// `activation` applied before the output is written.
private func recordConv3D(_ ctx: VulkanKernelContext, _ x: VulkanTensor, _ w: VulkanTensor, bias: VulkanTensor?,
                          residual: VulkanTensor?, activation: FusedActivation?) throws -> VulkanTensor {
    let group = try ctx.node.int("group", default: 1)
    let (n, c, m) = (x.shape[0], x.shape[1], w.shape[0])
    guard w.rank == 5, group > 0, c % group == 0, m % group == 0, w.shape[1] == c / group else {
        throw ctx.error("weights \(w.shape) do not fit input \(x.shape) with group \(group)")
    }
    if let bias, bias.shape != [m] { throw ctx.error("bias \(bias.shape) must be [\(m)]") }
    let window = try Window2D(ctx, input: Array(x.shape[2...]), kernel: Array(w.shape[2...]), ceilMode: false, maxRank: 3)
    let y = try ctx.recorder.makeTensor(shape: [n, m] + window.output)
    if let residual, residual.shape != y.shape { throw ctx.error("residual \(residual.shape) must be the output's shape \(y.shape)") }
    var push = PushConstants()
    for v in [y.count, c, m, group] { push.add(v) }
    for v in [Array(x.shape[2...]), window.output, Array(window.pads[..<3])] { push.add(v, length: 3) }
    let act = ShaderActivation(activation)
    act.push(&push)
    var defines = ["HAS_BIAS": bias == nil ? "0" : "1", "HAS_Z": residual == nil ? "0" : "1", "ACT": act.define]
    for (name, values) in [("K", window.kernel), ("S", window.strides), ("D", window.dilations)] {
        for (i, v) in values.enumerated() { defines["\(name)\(i)"] = "\(v)u" }
    }
    try ctx.dispatch1D("conv3d", defines: defines, buffers: [x, w, y, bias ?? x, residual ?? x].map(\.buffer), push: push, count: y.count)
    return y
}

/// GlobalMaxPool and GlobalAveragePool: a reduction over each channel's map, which splits
/// long maps across a workgroup.
func recordGlobalPool(_ ctx: VulkanKernelContext, max: Bool) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    guard x.rank >= 2 else { throw ctx.error("input must be at least 2-D, got \(x.shape)") }
    return [try ctx.recordReduce(max ? "OP_MAX" : "OP_MEAN", x, reducing: Set(2..<x.rank),
                                 shape: Array(x.shape[..<2]) + Array(repeating: 1, count: x.rank - 2))]
}

/// The pooling of `Shaders/pool.comp` (its POOL define).
enum PoolKind: Int { case average = 0, max = 1, lp = 2 }

/// MaxPool (any numeric type, with its Indices output), AveragePool and LpPool (float32) over
/// 1 to 3 spatial dims (`Shaders/pool.comp`, which walks every input as 3-D).
func recordPool(_ ctx: VulkanKernelContext, _ kind: PoolKind) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    guard (3...5).contains(x.rank) else { throw ctx.error("the Vulkan pool takes 1-D to 3-D [N, C, ...] input, got \(x.shape)") }
    guard kind == .max || x.dataType == .float else { throw ctx.error("the Vulkan average and Lp pools take float32, got \(x.dataType)") }
    let wantsIndices = kind == .max && ctx.node.outputs.count > 1 && !ctx.node.outputs[1].isEmpty
    let spatial = Array(x.shape[2...])
    let window = try Window2D(ctx, input: spatial, kernel: nil, ceilMode: try ctx.node.int("ceil_mode", default: 0) != 0, maxRank: 3)
    // as 3-D: a 2-D window (1-D ones are 2-D already) gains a depth of 1
    let flat = window.kernel.count == 2, size = [Int](repeating: 1, count: 5 - x.rank) + spatial
    let deepen = { (v: [Int], fill: Int) in flat ? [fill] + v : v }
    let pads = flat ? [0, window.pads[0], window.pads[1], 0, window.pads[2], window.pads[3]] : window.pads
    let output = deepen(window.output, 1)
    let y = try ctx.recorder.makeTensor(shape: Array(x.shape[..<2]) + output.suffix(spatial.count), dataType: x.dataType)
    let indices = try wantsIndices ? ctx.recorder.makeTensor(shape: y.shape, dataType: .int64) : nil
    var push = PushConstants()
    push.add(x.shape[0] * x.shape[1])
    for v in [size, output, deepen(window.kernel, 1), deepen(window.strides, 1), Array(pads[..<3]), Array(pads[3...]),
              deepen(window.dilations, 1)] { push.add(v, length: 3) }
    push.add(try ctx.node.int("count_include_pad", default: 0))
    push.add(kind == .lp ? try ctx.node.float("p", default: 2) : 0)
    let defines = wordDefines(nil, indices: indices).merging(["POOL": "\(kind.rawValue)", "T": glslType(x.dataType, ctx.device.storage),
        "INDICES": indices == nil ? "0" : "1", "COLUMN_MAJOR": try ctx.node.int("storage_order", default: 0) != 0 ? "1" : "0"]) { $1 }
    let outputs = [y] + (indices.map { [$0] } ?? [])
    try ctx.dispatch1D("pool", defines: defines, buffers: [x.buffer] + outputs.map(\.buffer), push: push, count: y.count)
    return outputs
}

/// MaxUnpool of x [N, C, ...] (any element type, 1 to 3 spatial dims) by its int64 indices
/// into the output MaxPool's window implies (kernel_shape, strides, pads), placed into
/// `output_shape` (input 2, read on the host) when given: zeros but where an index points,
/// there the element of x with the highest index pointing there, as the CPU kernel's writes in
/// order leave it (`Shaders/maxunpool.comp`). An index outside the implied output is skipped:
/// the device cannot throw for it.
func recordMaxUnpool(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), indices = try ctx.input(1)
    guard (3...5).contains(x.rank), indices.shape == x.shape else {
        throw ctx.error("X \(x.shape) and I \(indices.shape) must match, [N, C, ...] with 1 to 3 spatial dims")
    }
    let d = x.rank - 2
    guard let kernel = try ctx.node.ints("kernel_shape"), kernel.count == d else { throw ctx.error("kernel_shape needs \(d) values") }
    let strides = try ctx.node.ints("strides") ?? Array(repeating: 1, count: d)
    let pads = try ctx.node.ints("pads") ?? Array(repeating: 0, count: 2 * d)
    guard strides.count == d, pads.count == 2 * d, (kernel + strides).allSatisfy({ $0 > 0 }), pads.allSatisfy({ $0 >= 0 }),
          (kernel + strides + pads).allSatisfy({ $0 < Int(Int32.max) }) else {
        throw ctx.error("kernel_shape \(kernel), strides \(strides), pads \(pads) do not fit \(d) dims")
    }
    let inferred = try Array(x.shape[..<2]) + (0..<d).map { i in
        let (span, overflow) = (x.shape[i + 2] - 1).multipliedReportingOverflow(by: strides[i])
        guard !overflow, span <= Int(Int32.max) else { throw ctx.error("the output of input \(x.shape) by strides \(strides) is too large") }
        return span - pads[i] - pads[i + d] + kernel[i]
    }
    var shape = inferred
    if let given = try ctx.hostInput(2) {
        shape = given.ints()
        guard shape.count == x.rank, zip(shape, inferred).allSatisfy({ $0 >= $1 }) else {
            throw ctx.error("output_shape \(shape) must have rank \(x.rank) and not be smaller than \(inferred)")
        }
    }
    guard inferred.allSatisfy({ $0 > 0 }) else { throw ctx.error("output shape \(inferred) is invalid") }
    let y = try ctx.recorder.makeTensor(shape: shape, dataType: x.dataType)
    guard let inferredCount = checkedElementCount(inferred, limit: Int(Int32.max)), y.count <= Int(Int32.max) else {
        throw ctx.error("output shape \(shape) has more elements than int32 indices reach")
    }
    let winners = try ctx.recorder.makeTensor(shape: [y.count], dataType: .int32)
    try ctx.recorder.fill(winners, bits: UInt32.max)
    var push = PushConstants()
    for v in [x.count, y.count, inferredCount, x.rank] { push.add(v) }
    push.add(inferred, length: 5)
    push.add(contiguousStrides(shape), length: 5)
    var defines = wordDefines(x, indices: indices)
    for (pass, count) in [x.count, y.count].enumerated() {
        defines["PASS"] = "\(pass)"
        try ctx.dispatch1D("maxunpool", defines: defines, buffers: [x, indices, winners, y].map(\.buffer), push: push, count: count)
    }
    ctx.recorder.recycle(winners)
    return [y]
}

/// RoiAlign (opsets 10 and 16) of float32 x [N, C, H, W] over rois [R, 4] of the images
/// batch_indices [R] (int64) picks, as the CPU kernel: output [R, C, output_height,
/// output_width], each bin the average or (mode max) the maximum of its bilinear samples,
/// coordinate_transformation_mode half_pixel (opset 16's default) or output_half_pixel
/// (`Shaders/roialign.comp`, one invocation per output element, in float32 where the CPU
/// computes in double).
func recordRoiAlign(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), rois = try ctx.input(1), batch = try ctx.input(2)
    guard x.rank == 4, rois.rank == 2, rois.shape[1] == 4, batch.count == rois.shape[0] else {
        throw ctx.error("X \(x.shape) must be 4-D, rois \(rois.shape) [R, 4] and batch_indices hold R values")
    }
    let node = ctx.node
    let halfPixel = try ctx.opset >= 16 && node.string("coordinate_transformation_mode", default: "half_pixel") == "half_pixel"
    let mode = try node.string("mode", default: "avg")
    let oh = try node.int("output_height", default: 1), ow = try node.int("output_width", default: 1)
    let ratio = try node.int("sampling_ratio", default: 0)
    guard mode == "avg" || mode == "max", oh > 0, ow > 0, ratio >= 0, ratio <= 65536 else {
        throw ctx.error("mode '\(mode)', output \(oh)×\(ow) or sampling_ratio \(ratio) is invalid")
    }
    let y = try ctx.recorder.makeTensor(shape: [rois.shape[0], x.shape[1], oh, ow])
    guard x.shape[0] > 0 || y.count == 0 else { throw ctx.error("X \(x.shape) has no image for the regions") }
    var push = PushConstants()
    for v in [y.count] + x.shape + [oh, ow, ratio] { push.add(v) }
    push.add(try node.float("spatial_scale", default: 1))
    let defines = wordDefines(nil, indices: batch).merging(["MAX": mode == "max" ? "1" : "0", "HALF_PIXEL": halfPixel ? "1" : "0"]) { $1 }
    try ctx.dispatch1D("roialign", defines: defines, buffers: [x, rois, batch, y].map(\.buffer), push: push, count: y.count)
    return [y]
}

/// ConvTranspose with 1 to 3 spatial dims: strides, dilations, group, pads or auto_pad,
/// output_padding and output_shape as ONNX defines them.
func recordConvTranspose(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), w = try ctx.input(1), bias = ctx.optionalInput(2)
    let r = x.rank - 2, node = ctx.node
    guard (1...3).contains(r), w.rank == x.rank else { throw ctx.error("takes 1-D to 3-D inputs with matching weights, got \(x.shape) and \(w.shape)") }
    let group = try node.int("group", default: 1), inC = x.shape[1]
    guard group > 0, inC % group == 0, w.shape[0] == inC else { throw ctx.error("weights \(w.shape) do not fit \(inC) input channels in \(group) groups") }
    let outC = w.shape[1] * group
    if let bias, bias.count != outC { throw ctx.error("bias has \(bias.count) values, expected \(outC)") }
    func attr(_ name: String, _ fallback: Int, count: Int) throws -> [Int] {
        let v = try node.ints(name) ?? [Int](repeating: fallback, count: count)
        guard v.count == count else { throw ctx.error("attribute '\(name)' has \(v.count) values, expected \(count)") }
        return v
    }
    let k = Array(w.shape[2...]), s = try attr("strides", 1, count: r), d = try attr("dilations", 1, count: r)
    let outPad = try attr("output_padding", 0, count: r), input = Array(x.shape[2...])
    guard s.allSatisfy({ $0 > 0 }), d.allSatisfy({ $0 > 0 }) else { throw ctx.error("strides and dilations must be positive") }
    var pads = try attr("pads", 0, count: 2 * r), out = [Int](repeating: 0, count: r)
    let autoPad = try node.string("auto_pad", default: "NOTSET")
    let outputShape = try node.ints("output_shape").map { Array($0.suffix(r)) }
    for i in 0..<r {
        let full = s[i] * (input[i] - 1) + outPad[i] + (k[i] - 1) * d[i] + 1
        if outputShape != nil || autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
            out[i] = outputShape?[i] ?? input[i] * s[i]
            let total = max(0, full - out[i])
            let lower = autoPad == "SAME_UPPER" || (autoPad != "SAME_LOWER" && outputShape != nil) ? total / 2 : total - total / 2
            pads[i] = lower; pads[i + r] = total - lower
        } else {
            if autoPad == "VALID" { pads[i] = 0; pads[i + r] = 0 }
            out[i] = full - pads[i] - pads[i + r]
        }
        guard out[i] > 0 else { throw ctx.error("output size \(out[i]) along spatial dim \(i) is not positive") }
    }
    let pad3 = { (v: [Int], fill: Int) in [Int](repeating: fill, count: 3 - r) + v }
    let n = x.shape[0], pixels = input.reduce(1, *), kSpatial = k.reduce(1, *), taps = outC * kSpatial
    let maxScratch = min(ctx.device.maxBufferBytes, 1 << 28) / 4
    let variant = KernelVariants.choose("convTranspose", rows: taps, columns: pixels, device: ctx.device) { v in
        v.name != "gemm" || (group == 1 && (checkedElementCount([n, taps, pixels]) ?? .max) <= maxScratch)
    }
    let y = try ctx.recorder.makeTensor(shape: [n, outC] + out)
    var push = PushConstants()
    push.add(y.count); push.add(inC); push.add(outC); push.add(group); push.add(bias == nil ? 0 : 1)
    for v in [pad3(input, 1), pad3(out, 1), pad3(Array(pads[..<r]), 0)] { push.add(v, length: 3) }
    var defines = variant.defines
    for (name, values) in [("K", pad3(k, 1)), ("S", pad3(s, 1)), ("D", pad3(d, 1))] {
        for (i, v) in values.enumerated() { defines["\(name)\(i)"] = "\(v)u" }
    }
    guard variant.name == "gemm" else {
        try ctx.dispatch1D("conv_transpose", defines: defines, buffers: [x.buffer, (bias ?? x).buffer, y.buffer, w.buffer],
                           push: push, count: y.count)
        return [y]
    }
    // columns[n] = Wᵀ · X[n]: (outC·taps) × inC by inC × pixels, with Wᵀ made once per weight
    // (rows along inC, for the GEMM's vec4 loads); then each output gathers its taps.
    let wt = try ctx.prepared(w, key: "transposed") { ctx in
        let t = try ctx.recorder.makeTensor(shape: [taps, inC])
        try recordStridedCopy(ctx, from: w.buffer, inStrides: [1, taps], to: t.buffer, outStrides: [inC, 1], shape: [taps, inC])
        return t
    }
    var g = GemmShape(m: taps, n: pixels, k: inC, sa: (inC, 1), sb: (pixels, 1))
    g.batchShape = [n]; g.batchA = [0]; g.batchB = [inC * pixels]
    // Where the taps do not overlap (kernel = stride, undilated, unpadded: the k2s2 upsampling
    // of U-Nets), each output takes exactly one column entry: the bias goes into the GEMM, a
    // value per column row, and the gather is a strided copy.
    let disjoint = k == s && d.allSatisfy { $0 == 1 } && pads.allSatisfy { $0 == 0 } && (0..<r).allSatisfy { out[$0] == input[$0] * s[$0] }
    let rowBias = try disjoint ? bias.map { bias in
        try ctx.prepared(bias, key: "perTap") { ctx in
            let t = try ctx.recorder.makeTensor(shape: [taps])
            try recordStridedCopy(ctx, from: bias.buffer, inStrides: [1, 0], to: t.buffer, outStrides: [kSpatial, 1], shape: [outC, kSpatial])
            return t
        }
    } : nil
    if rowBias != nil { g.sc = (1, 0); g.beta = 1 }
    let columns = try recordGemmShader(ctx, a: wt, b: x, c: rowBias, shape: g, output: [n, taps, pixels])
    ctx.recycle(wt)
    if let rowBias { ctx.recycle(rowBias) }
    if disjoint {
        // columns[n][oc][k0, k1, k2][i0, i1, i2] to y[n][oc][i0·S0 + k0][i1·S1 + k1][i2·S2 + k2].
        let inStrides = contiguousStrides(input), kStrides = contiguousStrides(k), outStrides = contiguousStrides(out)
        let outPixels = out.reduce(1, *)
        var shape = [n, outC], from = [taps * pixels, kSpatial * pixels], to = [outC * outPixels, outPixels]
        for i in 0..<r {
            shape += [input[i], k[i]]
            from += [inStrides[i], kStrides[i] * pixels]
            to += [s[i] * outStrides[i], outStrides[i]]
        }
        try recordStridedCopy(ctx, from: columns.buffer, inStrides: from, to: y.buffer, outStrides: to, shape: shape)
    } else {
        try ctx.dispatch1D("conv_transpose", defines: defines, buffers: [columns.buffer, (bias ?? x).buffer, y.buffer],
                           push: push, count: y.count)
    }
    ctx.recorder.recycle(columns)
    return [y]
}

/// Resize (opset 10 on) of float32 tensors, antialiased or not (`recordResampling`).
func recordResize(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), eleven = ctx.opset >= 11
    let plan = try ResizeSampling.plan(ctx.node, input: x.shape, opset: ctx.opset, roi: eleven ? try ctx.hostInput(1) : nil,
                                       scales: try ctx.hostInput(eleven ? 2 : 1), sizes: eleven ? try ctx.hostInput(3) : nil)
    return [try recordResampling(ctx, x, plan)]
}

/// Upsample (opsets 7 and 9, scales an attribute or input 1; mode nearest, linear or bilinear),
/// as the CPU reads it: a Resize with asymmetric coordinates and floor rounding.
func recordUpsample(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    var node = ctx.node
    let scales = try node.floats("scales").map { Tensor(shape: [$0.count], scalars: $0) } ?? ctx.hostInput(1)
    guard let scales, scales.count == x.rank, scales.doubles().allSatisfy({ $0 > 0 && $0.isFinite && $0 < Double(Int32.max) }) else {
        throw ctx.error("scales must hold one positive value per dim of \(x.shape)")
    }
    let mode = try node.string("mode", default: "nearest")
    guard mode == "nearest" || mode == "linear" || mode == "bilinear" else { throw ctx.error("mode '\(mode)' is not nearest or linear") }
    node.attributes["mode"] = .string(Array((mode == "bilinear" ? "linear" : mode).utf8))
    let plan = try ResizeSampling.plan(node, input: x.shape, opset: 10, roi: nil, scales: scales, sizes: nil)
    return [try recordResampling(ctx, x, plan)]
}

/// Resamples float32 `x` as `plan` says, one pass per resized axis with its taps computed on
/// the host (`ResizeSampling`, as the CPU kernel samples). Axes whose taps repeat each input
/// a whole number of times (nearest at an integer scale) are resized together at the end by
/// one strided copy instead.
private func recordResampling(_ ctx: VulkanKernelContext, _ input: VulkanTensor, _ plan: ResizeSampling.Plan) throws -> VulkanTensor {
    var x = input
    let r = x.rank
    var repeats: [Int: Int] = [:]
    for axis in 0..<r {
        let rb = plan.roi.count == 2 * r ? plan.roi[axis] : 0, re = plan.roi.count == 2 * r ? plan.roi[axis + r] : 1
        let inW = x.shape[axis], outW = plan.sizes[axis]
        if outW == inW && abs(plan.scales[axis] - 1) < 1e-9 && abs(rb) < 1e-9 && abs(re - 1) < 1e-9 { continue }
        guard inW > 0 else { throw ctx.error("cannot resize an empty axis \(axis) of \(x.shape)") }
        let taps = ResizeSampling.taps(input: inW, output: outW, scale: plan.scales[axis], roi: (rb, re), plan.options)
        if let times = repetitions(taps, input: inW), r + repeats.count < maxShaderRank {
            repeats[axis] = times
            continue
        }
        let n = taps.lazy.compactMap { $0?.indices.count }.first ?? 0
        var table: [Float] = []
        for t in taps {
            guard let (indices, weights) = t else {
                table += [Float](repeating: 0, count: 1 + 2 * n)
                continue
            }
            table.append(1)
            table += indices.map { Float($0) }
            table += weights.map { Float($0) }
        }
        let tableTensor = try ctx.recorder.upload(Tensor(shape: [outW, 1 + 2 * n], scalars: table))
        var shape = x.shape
        shape[axis] = outW
        let y = try ctx.recorder.makeTensor(shape: shape)
        var push = PushConstants()
        push.add(y.count); push.add(inW); push.add(outW); push.add(x.shape[(axis + 1)...].reduce(1, *)); push.add(n)
        push.add(Float(plan.options.extrapolation))
        try ctx.dispatch1D("resample", buffers: [x.buffer, tableTensor.buffer, y.buffer], push: push, count: y.count)
        x = y
    }
    guard !repeats.isEmpty else { return x }
    // Each repeated axis of length d becomes two, [d, times]: the input steps along the first
    // only, the output along both.
    var outShape = x.shape
    for (axis, times) in repeats { outShape[axis] *= times }
    let inStrides = contiguousStrides(x.shape), outStrides = contiguousStrides(outShape)
    var shape: [Int] = [], from: [Int] = [], to: [Int] = []
    for axis in 0..<r {
        let times = repeats[axis] ?? 1
        shape += [x.shape[axis], times]
        from += [inStrides[axis], 0]
        to += [outStrides[axis] * times, outStrides[axis]]
    }
    let y = try ctx.recorder.makeTensor(shape: outShape)
    try recordStridedCopy(ctx, from: x.buffer, inStrides: from, to: y.buffer, outStrides: to, shape: shape)
    return y
}

/// How many times in a row `taps` repeat each of `input` indices, where they do so for every
/// input in order (each output reads one input with weight 1): nearest at an integer scale.
private func repetitions(_ taps: [ResizeSampling.Taps], input: Int) -> Int? {
    guard input > 0, taps.count % input == 0 else { return nil }
    let times = taps.count / input
    for (i, t) in taps.enumerated() {
        guard let t, t.weights.filter({ $0 != 0 }) == [1], t.indices[t.weights.firstIndex(of: 1)!] == i / times else { return nil }
    }
    return times
}

/// CausalConvWithState of float32 x [B, C, L] by depthwise w [C, 1, K], optional bias [C] and
/// past_state [B, C, K−1] (zeros when omitted), activation none, silu or swish, as the CPU
/// kernel: outputs y [B, C, L] and the new state, the last K−1 values of [past_state, x]
/// (`Shaders/causal_conv.comp`).
func recordCausalConvWithState(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), w = try ctx.input(1), bias = ctx.optionalInput(2), past = ctx.optionalInput(3)
    guard [x, w, bias, past].allSatisfy({ $0.map { $0.dataType == .float } ?? true }) else {
        throw ctx.error("input \(x), weight \(w), bias and past_state must be float32 on Vulkan")
    }
    let layout = try OpLayouts.causalConvWithState(ctx.node, input: x.shape, weight: w.shape, biasCount: bias?.count, pastState: past?.shape)
    let (b, c, l, k) = (layout.batch, layout.channels, layout.length, layout.kernel)
    let y = try ctx.recorder.makeTensor(shape: [b, c, l]), state = try ctx.recorder.makeTensor(shape: [b, c, k - 1])
    let count = b * c * (l + k - 1)
    var push = PushConstants()
    for n in [count, c, l, k] { push.add(n) }
    let flags = ["BIAS": bias != nil, "PAST": past != nil, "SILU": layout.silu]
    try ctx.dispatch1D("causal_conv", defines: flags.mapValues { $0 ? "1" : "0" },
                       buffers: [x, w, bias ?? x, past ?? x, y, state].map(\.buffer), push: push, count: count)
    return [y, state]
}

/// Col2Im of float32 columns [N, C·∏block, L] into images [N, C, image_shape...] over 1 to 3
/// spatial dims (image_shape and block_shape read on the host; strides, dilations, pads), as
/// the CPU sums them: the column gather of a ConvTranspose made by a GEMM, whose columns these
/// are (`Shaders/conv_transpose.comp` with FROM_COLUMNS).
func recordCol2Im(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), node = ctx.node
    guard let image = try ctx.hostInput(1)?.ints(), let block = try ctx.hostInput(2)?.ints() else { throw ctx.error("image_shape and block_shape are required") }
    let layout = try OpLayouts.col2Im(node, columns: x.shape, image: image, block: block), d = image.count
    guard d <= 3 else { throw ctx.error("Col2Im over \(d) spatial dims is not implemented on Vulkan (at most 3)") }
    let (blocks, pads, channels) = (layout.blocks, layout.pads, layout.channels)
    guard let count = checkedElementCount([x.shape[0], channels] + image) else { throw ctx.error("image \(image) is too large") }
    let y = try ctx.recorder.makeTensor(shape: [x.shape[0], channels] + image)
    let pad3 = { (v: [Int], fill: Int) in [Int](repeating: fill, count: 3 - d) + v }
    var push = PushConstants()
    push.add(count); push.add(channels); push.add(channels); push.add(1); push.add(0)
    for v in [pad3(blocks, 1), pad3(image, 1), pad3(Array(pads[..<d]), 0)] { push.add(v, length: 3) }
    var defines = ["FROM_COLUMNS": "1"]
    for (name, values) in [("K", pad3(block, 1)), ("S", pad3(layout.strides, 1)), ("D", pad3(layout.dilations, 1))] {
        for (i, v) in values.enumerated() { defines["\(name)\(i)"] = "\(v)u" }
    }
    try ctx.dispatch1D("conv_transpose", defines: defines, buffers: [x.buffer, x.buffer, y.buffer], push: push, count: count)
    return [y]
}
