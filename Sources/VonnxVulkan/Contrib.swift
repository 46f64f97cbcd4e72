import VonnxIR

/// onnxruntime's com.microsoft contrib ops that its transformers optimizer and quantization
/// tools write (the Gelu forms, the fused layer normalizations, EmbedLayerNormalization,
/// FusedMatMul, Attention, MultiHeadAttention, RotaryEmbedding, the dynamic and QOperator
/// quantized forms) and DynamicQuantizeLinear, recorded from the standard Vulkan kernels as the
/// CPU's `Contrib.swift` composes them, so such a model's partition does not split at each of
/// them. Combinations the CPU refuses throw here too, naming the node.
extension VulkanKernelContext {
    /// Records the standard op `op` (default domain) on device `inputs` and host values `host`
    /// (by input slot: shapes, axes, sizes), with `attributes`, under this node's name.
    func apply(_ op: String, _ inputs: [VulkanTensor?], host: [Int: Tensor] = [:], outputs: Int = 1,
               _ attributes: [String: Attribute] = [:]) throws -> [VulkanTensor] {
        guard let kernel = VulkanKernels.table[op] else { throw error("no Vulkan kernel for \(op)") }
        let slots = max(inputs.count, (host.keys.max() ?? -1) + 1)
        let names = (0..<slots).map { i in (i < inputs.count && inputs[i] != nil) || host[i] != nil ? "\(node.label).\(op).\(i)" : "" }
        let inner = Node(name: node.label, opType: op, domain: "", inputs: names,
                         outputs: (0..<outputs).map { "\(node.label).\(op).out\($0)" }, attributes: attributes)
        let deviceInputs = (0..<slots).map { i in i < inputs.count ? inputs[i] : nil }
        let hostValues = (0..<slots).map { host[$0] }
        return try kernel(VulkanKernelContext(node: inner, inputs: deviceInputs, hostInputs: hostValues, opset: 23,
                                              recorder: recorder, preparedWeights: preparedWeights))
    }

    /// The first output of `apply`.
    func apply1(_ op: String, _ inputs: [VulkanTensor?], host: [Int: Tensor] = [:], _ attributes: [String: Attribute] = [:]) throws -> VulkanTensor {
        try apply(op, inputs, host: host, attributes)[0]
    }

    /// `x + input(i)` when input `i` is given (a bias), else `x`.
    func plusOptional(_ x: VulkanTensor, _ i: Int) throws -> VulkanTensor {
        guard let bias = optionalInput(i) else { return x }
        return try apply1("Add", [x, bias])
    }

    /// A float32 scalar on the device.
    func scalar(_ value: Float) throws -> VulkanTensor { try recorder.upload(Tensor(scalar: value)) }

    /// [1, count] holding 0..<count, of the integer type `type` (int32 or int64).
    func positions(_ count: Int, _ type: DataType) throws -> VulkanTensor {
        try recorder.upload(type == .int64 ? Tensor(shape: [1, count], scalars: (0..<count).map { Int64($0) })
                                           : Tensor(shape: [1, count], scalars: (0..<count).map { Int32($0) }))
    }
}

/// The com.microsoft kernels by table key.
let contribKernels: [String: VulkanKernel] = {
    var t: [String: VulkanKernel] = [:]
    t["Gelu"] = { ctx in [try ctx.apply1("Gelu", [try ctx.input(0)])] }
    t["BiasGelu"] = { ctx in [try ctx.apply1("Gelu", [try ctx.plusOptional(try ctx.input(0), 1)])] }
    t["FastGelu"] = { ctx in
        [try ctx.apply1("Gelu", [try ctx.plusOptional(try ctx.input(0), 1)], ["approximate": .string(Array("tanh".utf8))])]
    }
    t["QuickGelu"] = { ctx in
        let x = try ctx.input(0), alpha = try ctx.node.float("alpha", default: 1.702)
        return [try ctx.apply1("Mul", [x, try ctx.apply1("Sigmoid", [try ctx.apply1("Mul", [x, try ctx.scalar(alpha)])])])]
    }
    t["SkipLayerNormalization"] = { try skipNormalization($0, rms: false) }
    t["SkipSimplifiedLayerNormalization"] = { try skipNormalization($0, rms: true) }
    t["EmbedLayerNormalization"] = recordEmbedLayerNormalization
    t["FusedMatMul"] = recordFusedMatMul
    t["Attention"] = recordContribAttention
    t["MultiHeadAttention"] = recordMultiHeadAttention
    t["RotaryEmbedding"] = recordContribRotaryEmbedding
    t["MatMulIntegerToFloat"] = { ctx in
        [try integerMatMulToFloat(ctx, a: try ctx.input(0), aScale: try ctx.input(2), aZero: ctx.optionalInput(4),
                                  b: try ctx.input(1), bScale: try ctx.input(3), bZero: ctx.optionalInput(5), bias: ctx.optionalInput(6))]
    }
    t["DynamicQuantizeMatMul"] = { ctx in
        let q = try recordDynamicQuantizeLinear(try ctx.input(0), ctx)
        return [try integerMatMulToFloat(ctx, a: q[0], aScale: q[1], aZero: q[2], b: try ctx.input(1), bScale: try ctx.input(2),
                                         bZero: ctx.optionalInput(3), bias: ctx.optionalInput(4))]
    }
    t["QAttention"] = { ctx in
        let qkv = try integerMatMulToFloat(ctx, a: try ctx.input(0), aScale: try ctx.input(3), aZero: ctx.optionalInput(6),
                                           b: try ctx.input(1), bScale: try ctx.input(4), bZero: ctx.optionalInput(7), bias: ctx.optionalInput(2))
        return try selfAttention(ctx, qkv: qkv, maskIndex: ctx.optionalInput(5), attentionBias: nil, pastInput: 8)
    }
    t["QEmbedLayerNormalization"] = { ctx in
        try embedLayerNormalization(ctx, tables: try (2...6).map { i in
            try ctx.optionalInput(i).map { try ctx.apply1("DequantizeLinear", [$0, try ctx.input(i + 6), ctx.optionalInput(i + 11)]) }
        }, positionIDs: nil)
    }
    t["QLinearAdd"] = qLinear("Add", quantized: [0, 3], output: 6)
    t["QLinearMul"] = qLinear("Mul", quantized: [0, 3], output: 6)
    t["QLinearSigmoid"] = qLinear("Sigmoid", quantized: [0], output: 3)
    t["QLinearLeakyRelu"] = qLinear("LeakyRelu", quantized: [0], output: 3)
    t["QLinearGlobalAveragePool"] = qLinear("GlobalAveragePool", quantized: [0], output: 3)
    t["QLinearAveragePool"] = qLinear("AveragePool", quantized: [0], output: 3)
    t["QLinearConcat"] = { ctx in try qLinear("Concat", quantized: Array(stride(from: 2, to: ctx.inputs.count, by: 3)), output: 0)(ctx) }
    t["QGemm"] = recordQGemm
    t["MatMulNBits"] = recordMatMulNBits
    t["DynamicQuantizeLSTM"] = recordDynamicQuantizeLSTM
    return Dictionary(uniqueKeysWithValues: t.map { ("com.microsoft::\($0.key)", $0.value) })
}()

/// (A − a_zero_point)·(B − b_zero_point) · a_scale · b_scale (+ bias), the product in integers.
private func integerMatMulToFloat(_ ctx: VulkanKernelContext, a: VulkanTensor, aScale: VulkanTensor, aZero: VulkanTensor?, b: VulkanTensor,
                                  bScale: VulkanTensor, bZero: VulkanTensor?, bias: VulkanTensor?) throws -> VulkanTensor {
    let product = try ctx.apply1("MatMulInteger", [a, b, aZero, bZero])
    let y = try ctx.apply1("Mul", [try ctx.apply1("Cast", [product], ["to": .int(Int(aScale.dataType.rawValue))]),
                                   try ctx.apply1("Mul", [aScale, bScale])])
    return try bias.map { try ctx.apply1("Add", [y, $0]) } ?? y
}

/// DynamicQuantizeLinear of float32 `x`, as the CPU computes it: uint8 over [min(0, x),
/// max(0, x)] with scale (max − min) / 255 (1 / 255 when they are equal) and the zero point
/// −min / scale clipped to [0, 255] and rounded half to even; outputs Y, the scale and the zero point.
func recordDynamicQuantizeLinear(_ x: VulkanTensor, _ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    guard x.dataType == .float else { throw ctx.error("x must be float32, got \(x.dataType)") }
    let keep: [String: Attribute] = ["keepdims": .int(0)], zero = try ctx.scalar(0)
    let maxX = try ctx.apply1("Max", [try ctx.apply1("ReduceMax", [x], keep), zero])
    let minX = try ctx.apply1("Min", [try ctx.apply1("ReduceMin", [x], keep), zero])
    let range = try ctx.apply1("Sub", [maxX, minX])
    let scale = try ctx.apply1("Div", [try ctx.apply1("Where", [try ctx.apply1("Equal", [range, zero]), try ctx.scalar(1), range]),
                                       try ctx.scalar(255)])
    let unclipped = try ctx.apply1("Div", [try ctx.apply1("Neg", [minX]), scale])
    let clipped = try ctx.apply1("Clip", [unclipped], host: [1: Tensor(scalar: Float(0)), 2: Tensor(scalar: Float(255))])
    let zeroPoint = try ctx.apply1("Cast", [try ctx.apply1("Round", [clipped])], ["to": .int(Int(DataType.uint8.rawValue))])
    return [try ctx.apply1("QuantizeLinear", [x, scale, zeroPoint]), scale, zeroPoint]
}

/// A QLinear op as onnxruntime defines it: the quantized inputs, each (x, scale, zero point)
/// starting at the indices `quantized`, are dequantized, `op` runs on them in float (with the
/// node's attributes), and its result is quantized by the (scale, zero point) at `output`.
private func qLinear(_ op: String, quantized: [Int], output: Int) -> VulkanKernel {
    { ctx in
        guard try ctx.node.int("channels_last", default: 0) == 0 else { throw ctx.error("channels_last is not supported") }
        let x = try quantized.map { i in try ctx.apply1("DequantizeLinear", [try ctx.input(i), try ctx.input(i + 1), ctx.optionalInput(i + 2)]) }
        let y = try ctx.apply1(op, x, ctx.node.attributes.filter { $0.key != "channels_last" })
        return try ctx.apply("QuantizeLinear", [y, try ctx.input(output), ctx.optionalInput(output + 1)])
    }
}

/// QGemm: Gemm of dequantized A and B plus C (int32, scale a_scale · b_scale), quantized by
/// y_scale / y_zero_point when given, else float32. B's scale may be per output column.
private func recordQGemm(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let a = try ctx.apply1("DequantizeLinear", [try ctx.input(0), try ctx.input(1), ctx.optionalInput(2)])
    let columnAxis = try ctx.node.int("transB", default: 0) != 0 ? 0 : 1
    let b = try ctx.apply1("DequantizeLinear", [try ctx.input(3), try ctx.input(4), ctx.optionalInput(5)], ["axis": .int(columnAxis)])
    let c = try ctx.optionalInput(6).map { c in
        try ctx.apply1("Mul", [try ctx.apply1("Cast", [c], ["to": .int(Int(DataType.float.rawValue))]),
                               try ctx.apply1("Mul", [try ctx.input(1), try ctx.input(4)])])
    }
    let y = try ctx.apply1("Gemm", [a, b, c], ctx.node.attributes)
    guard let yScale = ctx.optionalInput(7) else { return [y] }
    return try ctx.apply("QuantizeLinear", [y, yScale, ctx.optionalInput(8)])
}

/// The element types the com.microsoft kernels read on the device (float32 where not listed).
let contribInputTypes: [String: Set<DataType>] = [
    "com.microsoft::Attention": [.float, .int32],
    "com.microsoft::MultiHeadAttention": [.float, .int32],
    "com.microsoft::EmbedLayerNormalization": [.float, .int32, .int64],
    "com.microsoft::RotaryEmbedding": [.float, .int64],
    "com.microsoft::MatMulIntegerToFloat": [.float, .int8, .uint8],
    "com.microsoft::DynamicQuantizeMatMul": [.float, .int8, .uint8],
    "com.microsoft::QAttention": [.float, .int8, .uint8, .int32],
    "com.microsoft::QEmbedLayerNormalization": [.float, .int8, .uint8, .int32, .int64],
    "com.microsoft::QGemm": [.float, .int8, .uint8, .int32],
    "com.microsoft::MatMulNBits": [.float, .uint8, .int32],  // int32: g_idx, refused
    "com.microsoft::DynamicQuantizeLSTM": [.float, .int8, .uint8, .int32],  // int32: sequence_lens
] .merging(["QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearGlobalAveragePool", "QLinearAveragePool",
            "QLinearConcat"].map { ("com.microsoft::\($0)", [.float, .int8, .uint8]) }) { a, _ in a }

/// SkipLayerNormalization (and its RMS form): normalization of input + skip (+ bias) over the
/// last axis; outputs Y, mean, inverse std (not for the RMS form) and the sum.
private func skipNormalization(_ ctx: VulkanKernelContext, rms: Bool) throws -> [VulkanTensor] {
    let sum = try ctx.plusOptional(try ctx.apply1("Add", [try ctx.input(0), try ctx.input(1)]), rms ? 3 : 4)
    let epsilon: [String: Attribute] = ["epsilon": .float(try ctx.node.float("epsilon", default: 1e-12))]
    if rms {
        try ctx.node.refuseOutputs([1, 2], "mean / inv_std_var")
        let y = try ctx.apply1("RMSNormalization", [sum, try ctx.input(2)], epsilon)
        return [y, y, y, sum]  // outputs 1 and 2 are refused above: placeholders
    }
    return try ctx.apply("LayerNormalization", [sum, try ctx.input(2), ctx.optionalInput(3)], outputs: 3, epsilon) + [sum]
}

/// SimplifiedLayerNormalization (onnxruntime's, in the default domain): RMSNormalization
/// (inv_std_var output not supported).
func recordSimplifiedLayerNormalization(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    try ctx.node.refuseOutputs([1], "inv_std_var")
    return [try ctx.apply1("RMSNormalization", [try ctx.input(0), try ctx.input(1)], ctx.node.attributes)]
}

/// EmbedLayerNormalization: LayerNormalization of word + position (+ segment) embeddings;
/// outputs Y, mask_index (the count of non-zero mask values per sequence, zeros without a mask)
/// and the embedding sum.
private func recordEmbedLayerNormalization(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    try embedLayerNormalization(ctx, tables: (2...6).map { ctx.optionalInput($0) }, positionIDs: ctx.optionalInput(8))
}

/// `tables`: word, position, segment embeddings, gamma, beta; `positionIDs` [B or 1, S], else 0..<S.
private func embedLayerNormalization(_ ctx: VulkanKernelContext, tables: [VulkanTensor?], positionIDs: VulkanTensor?) throws -> [VulkanTensor] {
    let ids = try ctx.input(0)
    guard ids.rank == 2, let word = tables[0], let position = tables[1], let gamma = tables[3], let beta = tables[4] else {
        throw ctx.error("needs input_ids [batch, sequence], word and position embeddings, gamma and beta")
    }
    let (b, s) = (ids.shape[0], ids.shape[1])
    let positionIDs = try positionIDs ?? ctx.positions(s, .int32)
    var sum = try ctx.apply1("Add", [try ctx.apply1("Gather", [word, ids]), try ctx.apply1("Gather", [position, positionIDs])])
    if let segments = ctx.optionalInput(1), let table = tables[2] {
        sum = try ctx.apply1("Add", [sum, try ctx.apply1("Gather", [table, segments])])
    }
    let y = try ctx.apply1("LayerNormalization", [sum, gamma, beta],
                           ["epsilon": .float(try ctx.node.float("epsilon", default: 1e-12))])
    let counts: VulkanTensor
    if let mask = ctx.optionalInput(7) {
        guard mask.shape == [b, s] else { throw ctx.error("mask \(mask.shape) must be [\(b), \(s)]") }
        let zero = try ctx.recorder.upload(mask.dataType == .int64 ? Tensor(scalar: Int64(0)) : Tensor(scalar: Int32(0)))
        let set = try ctx.apply1("Not", [try ctx.apply1("Equal", [mask, zero])])
        let sums = try ctx.apply1("ReduceSum", [try ctx.apply1("Cast", [set], ["to": .int(Int(DataType.float.rawValue))])],
                                  host: [1: Tensor(shape: [1], scalars: [Int64(1)])], ["keepdims": .int(0)])
        counts = try ctx.apply1("Cast", [sums], ["to": .int(Int(DataType.int32.rawValue))])
    } else {
        counts = try ctx.recorder.upload(Tensor(shape: [b], scalars: [Int32](repeating: 0, count: b)))
    }
    return [y, counts, sum]
}

/// FusedMatMul: alpha · op(A) · op(B), op transposing the last two axes when transA/transB.
private func recordFusedMatMul(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let transposed = try ContribAttributes.fusedMatMul(ctx.node)
    func operand(_ i: Int, _ swapped: Bool) throws -> VulkanTensor {
        let t = try ctx.input(i)
        guard swapped, t.rank >= 2 else { return t }
        return try ctx.apply1("Transpose", [t], ["perm": .ints(Array(0..<(t.rank - 2)) + [t.rank - 1, t.rank - 2])])
    }
    let y = try ctx.apply1("MatMul", [try operand(0, transposed.transA), try operand(1, transposed.transB)])
    let alpha = try ctx.node.float("alpha", default: 1)
    return [alpha == 1 ? y : try ctx.apply1("Mul", [y, try ctx.scalar(alpha)])]
}

/// The additive [B, 1, S or 1, T] float mask (0 kept, mask_filter_value masked) of a
/// mask_index: [B] end positions, [2B] end and start positions, [B, T] or [B, S, T] 1/0 masks.
private func attentionMask(_ ctx: VulkanKernelContext, _ index: VulkanTensor, batch b: Int, sequence s: Int, total t: Int) throws -> VulkanTensor {
    guard index.dataType == .int32 else { throw ctx.error("mask_index must be int32, got \(index.dataType)") }
    let keep: VulkanTensor, rows: Int
    let form = try ContribAttributes.maskIndex(ctx.node, shape: index.shape, batch: b, sequence: s, total: t)
    switch form {
    case .keys, .queriesAndKeys:
        keep = try ctx.apply1("Not", [try ctx.apply1("Equal", [index, try ctx.recorder.upload(Tensor(scalar: Int32(0)))])])
        rows = form == .queriesAndKeys ? s : 1
    case .ends, .endsAndStarts:
        let columns = try ctx.positions(t, .int32)
        func bound(_ start: Int) throws -> VulkanTensor {
            let part = form == .ends ? index : try ctx.apply1("Slice", [index], host: [1: Tensor(shape: [1], scalars: [Int64(start)]),
                                                                                      2: Tensor(shape: [1], scalars: [Int64(start + b)])])
            return try ctx.apply1("Reshape", [part], host: [1: Tensor(shape: [2], scalars: [Int64(b), 1])])
        }
        let beforeEnd = try ctx.apply1("Less", [columns, try bound(0)])
        keep = form == .ends ? beforeEnd
            : try ctx.apply1("And", [beforeEnd, try ctx.apply1("Not", [try ctx.apply1("Less", [columns, try bound(b)])])])
        rows = 1
    }
    let filter = try ctx.node.float("mask_filter_value", default: -10000)
    let additive = try ctx.apply1("Where", [keep, try ctx.scalar(0), try ctx.scalar(filter)])
    return try ctx.apply1("Reshape", [additive], host: [1: Tensor(shape: [4], scalars: [Int64(b), 1, Int64(rows), Int64(t)])])
}

/// Attention: multi-head self-attention of input · weights (+ bias) split into Q, K and V (by
/// qkv_hidden_sizes, else in thirds), with mask_index, attention_bias (input 5) and
/// unidirectional. past / present and do_rotary are not supported.
private func recordContribAttention(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let qkv = try ctx.plusOptional(try ctx.apply1("MatMul", [try ctx.input(0), try ctx.input(1)]), 2)
    return try selfAttention(ctx, qkv: qkv, maskIndex: ctx.optionalInput(3), attentionBias: ctx.optionalInput(5))
}

/// Attention's and QAttention's heads over `qkv` [B, S, Dq + Dk + Dv].
private func selfAttention(_ ctx: VulkanKernelContext, qkv: VulkanTensor, maskIndex: VulkanTensor?, attentionBias: VulkanTensor?,
                           pastInput: Int = 4) throws -> [VulkanTensor] {
    let (sizes, attributes) = try ContribAttributes.selfAttention(ctx.node, qkv: qkv.shape, pastInput: pastInput)
    let (b, s) = (qkv.shape[0], qkv.shape[1])
    let parts = try ctx.apply("Split", [qkv], host: [1: Tensor(shape: [3], scalars: sizes.map(Int64.init))], outputs: 3, ["axis": .int(2)])
    var mask = try maskIndex.map { try attentionMask(ctx, $0, batch: b, sequence: s, total: s) }
    if let attentionBias { mask = try mask.map { try ctx.apply1("Add", [$0, attentionBias]) } ?? attentionBias }
    return [try ctx.apply1("Attention", [parts[0], parts[1], parts[2], mask], attributes)]
}

/// MultiHeadAttention: separate 3-D query, key and value (+ bias [Dq + Dk + Dv]), with
/// key_padding_mask (as Attention's mask_index), attention_bias, past_key / past_value
/// ([B, N, P, H]) and present_key / present_value outputs. Packed or 4-D key/value are not supported.
private func recordMultiHeadAttention(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    var q = try ctx.input(0), k = try ctx.input(1), v = try ctx.input(2)
    let attributes = try ContribAttributes.multiHeadAttention(ctx.node, query: q.shape, key: k.shape, value: v.shape)
    if let bias = ctx.optionalInput(3) {
        let sizes = [q.shape[2], k.shape[2], v.shape[2]]
        let parts = try ctx.apply("Split", [bias], host: [1: Tensor(shape: [3], scalars: sizes.map(Int64.init))], outputs: 3, ["axis": .int(0)])
        q = try ctx.apply1("Add", [q, parts[0]]); k = try ctx.apply1("Add", [k, parts[1]]); v = try ctx.apply1("Add", [v, parts[2]])
    }
    let (b, s) = (q.shape[0], q.shape[1]), past = ctx.optionalInput(6)
    let total = k.shape[1] + (past?.rank == 4 ? past!.shape[2] : 0)
    var mask = try ctx.optionalInput(4).map { try attentionMask(ctx, $0, batch: b, sequence: s, total: total) }
    if let bias = ctx.optionalInput(5) { mask = try mask.map { try ctx.apply1("Add", [$0, bias]) } ?? bias }
    let out = try ctx.apply("Attention", [q, k, v, mask, past, ctx.optionalInput(7)], outputs: 3, attributes)
    return Array(out.prefix(3))
}

/// RotaryEmbedding (com.microsoft): the standard RotaryEmbedding with inputs ordered input,
/// position_ids, cos_cache, sin_cache; position_ids [B, S] or one start offset.
private func recordContribRotaryEmbedding(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), positions = try ctx.input(1), cosCache = try ctx.input(2)
    let attributes = try ContribAttributes.rotaryEmbedding(ctx.node, input: x.shape, cosCache: cosCache.shape)
    let s = x.shape[x.rank == 4 ? 2 : 1]
    // one offset: positions offset..<offset + S (the kernel clamps each to the cache's rows)
    let ids = positions.count == 1 ? try ctx.apply1("Add", [try ctx.positions(s, positions.dataType), positions]) : positions
    return try ctx.apply("RotaryEmbedding", [x, cosCache, try ctx.input(3), ids], attributes)
}
