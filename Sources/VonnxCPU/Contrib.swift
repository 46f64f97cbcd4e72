import Glibc
import VonnxIR

/// onnxruntime's com.microsoft contrib ops, as its ContribOperators.md specifies them, built
/// from the standard kernels (MatMul, LayerNormalization, Attention, RotaryEmbedding, the
/// quantize kernels). Attribute or input combinations not implemented throw naming the node.
extension KernelContext {
    /// Runs `kernel` as the standard op `op` on `inputs` with `attributes`, under this node's
    /// name so errors still point at it.
    func apply(_ kernel: CPUKernel, _ op: String, _ inputs: [Tensor?], _ attributes: [String: Attribute] = [:]) throws -> [Tensor] {
        let names = inputs.indices.map { inputs[$0] == nil ? "" : "\(node.label).\(op).\($0)" }
        let inner = Node(name: node.label, opType: "\(node.opType)/\(op)", domain: "", inputs: names,
                         outputs: ["\(node.label).\(op)"], attributes: attributes)
        return try kernel(with(inputs: inputs, node: inner, opset: 23))
    }

    /// The first output of `apply`.
    func apply1(_ kernel: CPUKernel, _ op: String, _ inputs: [Tensor?], _ attributes: [String: Attribute] = [:]) throws -> Tensor {
        try apply(kernel, op, inputs, attributes)[0]
    }

    /// `x + input(i)` when input `i` is given (a bias), else `x`.
    func plusOptional(_ x: Tensor, _ i: Int) throws -> Tensor {
        guard let bias = optionalInput(i) else { return x }
        return try apply1(CPUKernels.add, "Add", [x, bias])
    }
}

extension CPUKernels {
    // MARK: activations

    /// BiasGelu: Gelu (erf) of X + bias.
    public static let biasGelu: CPUKernel = { ctx in
        try ctx.apply(gelu, "Gelu", [try ctx.plusOptional(try ctx.input(0), 1)])
    }

    /// FastGelu: the tanh approximation of Gelu of X (+ bias).
    public static let fastGelu: CPUKernel = { ctx in
        try ctx.apply(gelu, "Gelu", [try ctx.plusOptional(try ctx.input(0), 1)], ["approximate": .string(Array("tanh".utf8))])
    }

    /// QuickGelu: Swish with alpha 1.702 by default.
    public static let quickGelu = swishKernel(defaultAlpha: 1.702)

    // MARK: normalization

    /// SkipLayerNormalization: LayerNormalization over the last axis of input + skip (+ bias);
    /// outputs Y, mean, inverse std and the sum.
    public static let skipLayerNormalization: CPUKernel = { ctx in try skipNormalization(ctx, rms: false) }

    /// SkipSimplifiedLayerNormalization: the RMS form (no mean, no beta) of SkipLayerNormalization.
    public static let skipSimplifiedLayerNormalization: CPUKernel = { ctx in try skipNormalization(ctx, rms: true) }

    private static func skipNormalization(_ ctx: KernelContext, rms: Bool) throws -> [Tensor] {
        let biasInput = rms ? 3 : 4
        let sum = try ctx.plusOptional(try ctx.apply1(add, "Add", [try ctx.input(0), try ctx.input(1)]), biasInput)
        let epsilon: [String: Attribute] = ["epsilon": .float(try ctx.node.float("epsilon", default: 1e-12))]
        if rms {
            try ctx.node.refuseOutputs([1, 2], "mean / inv_std_var")
            let y = try ctx.apply1(rmsNormalization, "RMSNormalization", [sum, try ctx.input(2)], epsilon)
            return [y, y, y, sum]  // outputs 1 and 2 are refused above: placeholders
        }
        return try ctx.apply(layerNormalization, "LayerNormalization", [sum, try ctx.input(2), ctx.optionalInput(3)], epsilon) + [sum]
    }

    /// SimplifiedLayerNormalization: RMSNormalization (inv_std_var output not supported).
    public static let simplifiedLayerNormalization: CPUKernel = { ctx in
        try ctx.node.refuseOutputs([1], "inv_std_var")
        return try rmsNormalization(ctx)
    }

    /// EmbedLayerNormalization: LayerNormalization of word + position (+ segment) embeddings;
    /// outputs Y, mask_index (the count of non-zero mask values per sequence, zeros without a
    /// mask) and the embedding sum.
    public static let embedLayerNormalization: CPUKernel = { ctx in
        try embedLayerNormalization(ctx, tables: (2...6).map { ctx.optionalInput($0) }, positionIDs: ctx.optionalInput(8))
    }

    /// QEmbedLayerNormalization: EmbedLayerNormalization with its five tables dequantized by
    /// their scales (inputs 8–12) and zero points (inputs 13–17).
    public static let qEmbedLayerNormalization: CPUKernel = { ctx in
        try embedLayerNormalization(ctx, tables: try (2...6).map { i in
            try ctx.optionalInput(i).map { try ctx.apply1(dequantizeLinear, "DequantizeLinear", [$0, try ctx.input(i + 6), ctx.optionalInput(i + 11)]) }
        }, positionIDs: nil)
    }

    /// `tables`: word, position, segment embeddings, gamma, beta; `positionIDs` [B or 1, S],
    /// else 0..<S.
    private static func embedLayerNormalization(_ ctx: KernelContext, tables: [Tensor?], positionIDs: Tensor?) throws -> [Tensor] {
        let ids = try ctx.input(0)
        guard ids.rank == 2, let word = tables[0], let position = tables[1], let gamma = tables[3], let beta = tables[4] else {
            throw ctx.error("needs input_ids [batch, sequence], word and position embeddings, gamma and beta")
        }
        let (b, s) = (ids.shape[0], ids.shape[1])
        let positionIDs = positionIDs ?? Tensor(shape: [1, s], scalars: (0..<s).map { Int32($0) })
        var sum = try ctx.apply1(add, "Add", [try ctx.apply1(gather, "Gather", [word, ids]),
                                               try ctx.apply1(gather, "Gather", [position, positionIDs])])
        if let segments = ctx.optionalInput(1), let table = tables[2] {
            sum = try ctx.apply1(add, "Add", [sum, try ctx.apply1(gather, "Gather", [table, segments])])
        }
        let y = try ctx.apply1(layerNormalization, "LayerNormalization", [sum, gamma, beta],
                               ["epsilon": .float(try ctx.node.float("epsilon", default: 1e-12))])
        var counts = [Int32](repeating: 0, count: b)
        if let mask = ctx.optionalInput(7) {
            guard mask.shape == [b, s] else { throw ctx.error("mask \(mask.shape) must be [\(b), \(s)]") }
            let m = mask.ints()
            for i in 0..<b { counts[i] = Int32(m[(i * s)..<((i + 1) * s)].filter { $0 != 0 }.count) }
        }
        return [y, Tensor(shape: [b], scalars: counts), sum]
    }

    // MARK: matrix products

    /// FusedMatMul: alpha · op(A) · op(B), op transposing the last two axes when transA/transB.
    public static let fusedMatMul: CPUKernel = { ctx in
        let transposed = try ContribAttributes.fusedMatMul(ctx.node)
        func operand(_ i: Int, _ swapped: Bool) throws -> Tensor {
            let t = try ctx.input(i)
            guard swapped, t.rank >= 2 else { return t }
            let perm = Array(0..<(t.rank - 2)) + [t.rank - 1, t.rank - 2]
            return try ctx.apply1(transpose, "Transpose", [t], ["perm": .ints(perm)])
        }
        let y = try ctx.apply1(matMul, "MatMul", [try operand(0, transposed.transA), try operand(1, transposed.transB)])
        let alpha = try ctx.node.float("alpha", default: 1)
        return [alpha == 1 ? y : try scaled(y, by: Tensor(scalar: alpha), ctx)]
    }

    /// `x · scale`, the scale cast to x's element type.
    private static func scaled(_ x: Tensor, by scale: Tensor, _ ctx: KernelContext) throws -> Tensor {
        let s = try ctx.apply1(cast, "Cast", [scale], ["to": .int(Int(x.dataType.rawValue))])
        return try ctx.apply1(mul, "Mul", [x, s])
    }

    /// MatMulIntegerToFloat: (A − a_zero_point)·(B − b_zero_point) · a_scale · b_scale (+ bias).
    public static let matMulIntegerToFloat: CPUKernel = { ctx in
        [try integerMatMulToFloat(ctx, a: try ctx.input(0), aScale: try ctx.input(2), aZero: ctx.optionalInput(4),
                                  b: try ctx.input(1), bScale: try ctx.input(3), bZero: ctx.optionalInput(5), bias: ctx.optionalInput(6))]
    }

    /// DynamicQuantizeMatMul: A (float32) quantized to uint8 as DynamicQuantizeLinear does, then
    /// MatMulIntegerToFloat with B, b_scale, b_zero_point and bias.
    public static let dynamicQuantizeMatMul: CPUKernel = { ctx in
        let q = try ctx.apply(dynamicQuantizeLinear, "DynamicQuantizeLinear", [try ctx.input(0)])
        return [try integerMatMulToFloat(ctx, a: q[0], aScale: q[1], aZero: q[2], b: try ctx.input(1), bScale: try ctx.input(2),
                                         bZero: ctx.optionalInput(3), bias: ctx.optionalInput(4))]
    }

    private static func integerMatMulToFloat(_ ctx: KernelContext, a: Tensor, aScale: Tensor, aZero: Tensor?, b: Tensor,
                                             bScale: Tensor, bZero: Tensor?, bias: Tensor?) throws -> Tensor {
        let product = try ctx.apply1(matMulInteger, "MatMulInteger", [a, b, aZero, bZero])
        let y = try ctx.apply1(mul, "Mul", [try ctx.apply1(cast, "Cast", [product], ["to": .int(Int(aScale.dataType.rawValue))]),
                                            try ctx.apply1(mul, "Mul", [aScale, bScale])])
        return try bias.map { try ctx.apply1(add, "Add", [y, $0]) } ?? y
    }

    // MARK: attention

    /// Attention: multi-head self-attention of input · weights (+ bias) split into Q, K and V
    /// (by qkv_hidden_sizes, else in thirds), with mask_index ([B] end positions, [2B] end and
    /// start positions, [B, T] or [B, S, T] 1/0 masks, masked scores getting mask_filter_value),
    /// attention_bias (input 5) and unidirectional. past / present are not supported.
    public static let contribAttention: CPUKernel = { ctx in
        let qkv = try ctx.plusOptional(try ctx.apply1(matMul, "MatMul", [try ctx.input(0), try ctx.input(1)]), 2)
        return try selfAttention(ctx, qkv: qkv, maskIndex: ctx.optionalInput(3), attentionBias: ctx.optionalInput(5))
    }

    /// QAttention: Attention with input and weights quantized (inputs 3, 4 their scales, 6, 7
    /// their zero points), the product taken in integers as MatMulIntegerToFloat does.
    public static let qAttention: CPUKernel = { ctx in
        let qkv = try integerMatMulToFloat(ctx, a: try ctx.input(0), aScale: try ctx.input(3), aZero: ctx.optionalInput(6),
                                           b: try ctx.input(1), bScale: try ctx.input(4), bZero: ctx.optionalInput(7), bias: ctx.optionalInput(2))
        return try selfAttention(ctx, qkv: qkv, maskIndex: ctx.optionalInput(5), attentionBias: nil, pastInput: 8)
    }

    private static func selfAttention(_ ctx: KernelContext, qkv: Tensor, maskIndex: Tensor?, attentionBias: Tensor?,
                                      pastInput: Int = 4) throws -> [Tensor] {
        let (sizes, attributes) = try ContribAttributes.selfAttention(ctx.node, qkv: qkv.shape, pastInput: pastInput)
        let (b, s) = (qkv.shape[0], qkv.shape[1])
        let parts = try ctx.apply(split, "Split", [qkv, Tensor(shape: [3], scalars: sizes.map(Int64.init))], ["axis": .int(2)])
        var mask = try maskIndex.map { try attentionMask($0, batch: b, sequence: s, total: s, ctx) }
        if let attentionBias { mask = try mask.map { try ctx.apply1(add, "Add", [$0, attentionBias]) } ?? attentionBias }
        return [try ctx.apply1(attention, "Attention", [parts[0], parts[1], parts[2], mask], attributes)]
    }

    /// The additive [B, 1, S or 1, T] mask (0 kept, mask_filter_value masked) of a mask_index.
    private static func attentionMask(_ index: Tensor, batch b: Int, sequence s: Int, total t: Int, _ ctx: KernelContext) throws -> Tensor {
        let filter = try ctx.node.float("mask_filter_value", default: -10000)
        let m = index.ints()
        let keep: (Int, Int, Int) -> Bool  // (batch, query, key)
        let rows: Int
        switch try ContribAttributes.maskIndex(ctx.node, shape: index.shape, batch: b, sequence: s, total: t) {
        case .ends: keep = { bi, _, j in j < m[bi] }; rows = 1
        case .endsAndStarts: keep = { bi, _, j in j < m[bi] && j >= m[b + bi] }; rows = 1
        case .keys: keep = { bi, _, j in m[bi * t + j] != 0 }; rows = 1
        case .queriesAndKeys: keep = { bi, i, j in m[(bi * s + i) * t + j] != 0 }; rows = s
        }
        var values = [Float](repeating: 0, count: b * rows * t)
        for bi in 0..<b { for i in 0..<rows { for j in 0..<t where !keep(bi, i, j) { values[(bi * rows + i) * t + j] = filter } } }
        return Tensor(shape: [b, 1, rows, t], scalars: values)
    }

    /// MultiHeadAttention: separate 3-D query, key and value (+ bias [Dq + Dk + Dv]), with
    /// key_padding_mask (as Attention's mask_index), attention_bias, past_key / past_value
    /// ([B, N, P, H]) and present_key / present_value outputs. Packed or 4-D key/value are not supported.
    public static let multiHeadAttention: CPUKernel = { ctx in
        var q = try ctx.input(0), k = try ctx.input(1), v = try ctx.input(2)
        let attributes = try ContribAttributes.multiHeadAttention(ctx.node, query: q.shape, key: k.shape, value: v.shape)
        if let bias = ctx.optionalInput(3) {
            let sizes = [q.shape[2], k.shape[2], v.shape[2]]
            let parts = try ctx.apply(split, "Split", [bias, Tensor(shape: [3], scalars: sizes.map(Int64.init))], ["axis": .int(0)])
            q = try ctx.apply1(add, "Add", [q, parts[0]]); k = try ctx.apply1(add, "Add", [k, parts[1]]); v = try ctx.apply1(add, "Add", [v, parts[2]])
        }
        let (b, s) = (q.shape[0], q.shape[1]), past = ctx.optionalInput(6)
        let total = k.shape[1] + (past?.rank == 4 ? past!.shape[2] : 0)
        var mask = try ctx.optionalInput(4).map { try attentionMask($0, batch: b, sequence: s, total: total, ctx) }
        if let bias = ctx.optionalInput(5) { mask = try mask.map { try ctx.apply1(add, "Add", [$0, bias]) } ?? bias }
        let out = try ctx.apply(attention, "Attention", [q, k, v, mask, past, ctx.optionalInput(7)], attributes)
        return Array(out.prefix(3))
    }

    /// RotaryEmbedding (com.microsoft): the standard RotaryEmbedding with inputs ordered
    /// input, position_ids, cos_cache, sin_cache; position_ids [B, S] or one start offset.
    public static let contribRotaryEmbedding: CPUKernel = { ctx in
        let x = try ctx.input(0), positions = try ctx.input(1), cosCache = try ctx.input(2)
        let attributes = try ContribAttributes.rotaryEmbedding(ctx.node, input: x.shape, cosCache: cosCache.shape)
        let (b, s) = (x.shape[0], x.shape[x.rank == 4 ? 2 : 1])
        let ids: Tensor
        if positions.count == 1 {
            let start = positions.ints()[0]
            guard (0..<cosCache.shape[0]).contains(start) else { throw ctx.error("position offset \(start) is outside cos_cache \(cosCache.shape)") }
            ids = Tensor(shape: [b, s], scalars: (0..<(b * s)).map { Int64(start + $0 % s) })
        } else {
            ids = positions
        }
        return try ctx.apply(rotaryEmbedding, "RotaryEmbedding", [x, cosCache, try ctx.input(3), ids], attributes)
    }
}

extension CPUKernels {
    // MARK: QOperator forms (quantize_static's QOperator format)

    /// A QLinear op as onnxruntime defines it: the quantized inputs, each (x, scale, zero point)
    /// starting at the indices `quantized`, are dequantized, `kernel` runs on them in float
    /// (with `attributes`), and its result is quantized by the (scale, zero point) at `output`.
    private static func qLinear(_ kernel: @escaping CPUKernel, _ op: String, quantized: [Int], output: Int,
                                attributes: [String: Attribute] = [:]) -> CPUKernel {
        { ctx in
            guard try ctx.node.int("channels_last", default: 0) == 0 else { throw ctx.error("channels_last is not supported") }
            let x = try quantized.map { i in
                try ctx.apply1(dequantizeLinear, "DequantizeLinear", [try ctx.input(i), try ctx.input(i + 1), ctx.optionalInput(i + 2)])
            }
            var attrs = ctx.node.attributes.filter { $0.key != "channels_last" }
            attrs.merge(attributes) { _, new in new }
            let y = try ctx.apply1(kernel, op, x, attrs)
            return try ctx.apply(quantizeLinear, "QuantizeLinear", [y, try ctx.input(output), ctx.optionalInput(output + 1)])
        }
    }

    public static let qLinearAdd = qLinear(add, "Add", quantized: [0, 3], output: 6)
    public static let qLinearMul = qLinear(mul, "Mul", quantized: [0, 3], output: 6)
    public static let qLinearSigmoid = qLinear(sigmoid, "Sigmoid", quantized: [0], output: 3)
    public static let qLinearLeakyRelu = qLinear(leakyRelu, "LeakyRelu", quantized: [0], output: 3)
    public static let qLinearGlobalAveragePool = qLinear(globalAveragePool, "GlobalAveragePool", quantized: [0], output: 3)
    public static let qLinearAveragePool = qLinear(averagePool, "AveragePool", quantized: [0], output: 3)

    /// QLinearConcat: Y_scale, Y_zero_point, then one (X, X_scale, X_zero_point) per input.
    public static let qLinearConcat: CPUKernel = { ctx in
        try qLinear(concat, "Concat", quantized: Array(stride(from: 2, to: ctx.inputs.count, by: 3)), output: 0)(ctx)
    }

    /// QGemm: Gemm of dequantized A and B plus C (int32, scale a_scale · b_scale), quantized by
    /// y_scale / y_zero_point when given, else float32. B's scale may be per output column.
    public static let qGemm: CPUKernel = { ctx in
        let a = try ctx.apply1(dequantizeLinear, "DequantizeLinear", [try ctx.input(0), try ctx.input(1), ctx.optionalInput(2)])
        let columnAxis = try ctx.node.int("transB", default: 0) != 0 ? 0 : 1
        let b = try ctx.apply1(dequantizeLinear, "DequantizeLinear", [try ctx.input(3), try ctx.input(4), ctx.optionalInput(5)],
                               ["axis": .int(columnAxis)])
        let c = try ctx.optionalInput(6).map { c in
            let scale = try ctx.apply1(mul, "Mul", [try ctx.input(1), try ctx.input(4)])
            return try ctx.apply1(mul, "Mul", [try ctx.apply1(cast, "Cast", [c], ["to": .int(Int(DataType.float.rawValue))]), scale])
        }
        let y = try ctx.apply1(gemm, "Gemm", [a, b, c], ctx.node.attributes)
        guard let yScale = ctx.optionalInput(7) else { return [y] }
        return try ctx.apply(quantizeLinear, "QuantizeLinear", [y, yScale, ctx.optionalInput(8)])
    }
}

extension CPUKernels {
    // MARK: weight-only and recurrent quantized forms

    /// MatMulNBits: A · Bᵀ (+ bias) with B [N, K] block-quantized along K: `bits`-bit codes
    /// packed low-first in B [N, k_blocks, blob_size], one scale per block (scales [N·k_blocks]),
    /// zero points packed the same way in uint8 or unpacked like the scales (default
    /// 2^(bits−1)). B is dequantized to float32, then MatMul runs; g_idx is not supported.
    public static let matMulNBits: CPUKernel = { ctx in
        let a = try ctx.input(0), packed = try ctx.input(1), scales = try ctx.input(2), zeros = ctx.optionalInput(3)
        let layout = try ContribAttributes.matMulNBits(ctx.node, a: a.shape, b: (packed.shape, packed.dataType), scales: scales.count,
                                                       zeroPoints: zeros.map { ($0.count, $0.dataType) })
        let (k, n, bits, blockSize, blocks, blob) = (layout.k, layout.n, layout.bits, layout.blockSize, layout.blocks, layout.blobBytes)
        let codes = packed.scalars(as: UInt8.self), s = scales.doubles(), mask = (1 << bits) - 1, perByte = 8 / bits
        let zero: (Int, Int) -> Double  // (row, block)
        switch layout.zeroPoints {
        case .implicit: zero = { _, _ in Double(1 << (bits - 1)) }
        case .packed:
            let zb = zeros!.scalars(as: UInt8.self), zeroRow = layout.zeroPointRowBytes
            zero = { row, block in Double((Int(zb[row * zeroRow + block / perByte]) >> (block % perByte * bits)) & mask) }
        case .perBlock:
            let zv = zeros!.doubles()
            zero = { row, block in zv[row * blocks + block] }
        }
        var w = [Float](repeating: 0, count: k * n)  // [K, N]
        for row in 0..<n { for block in 0..<blocks {
            let scale = s[row * blocks + block], z = zero(row, block)
            for i in 0..<min(blockSize, k - block * blockSize) {
                let byte = codes[(row * blocks + block) * blob + i / perByte]
                let code = (Int(byte) >> (i % perByte * bits)) & mask
                w[(block * blockSize + i) * n + row] = Float((Double(code) - z) * scale)
            }
        } }
        let weights = try ctx.apply1(cast, "Cast", [Tensor(shape: [k, n], scalars: w)], ["to": .int(Int(a.dataType.rawValue))])
        return [try ctx.plusOptional(try ctx.apply1(matMul, "MatMul", [a, weights]), 5)]
    }

    /// DynamicQuantizeLSTM: LSTM with W [D, input, 4·hidden] and R [D, hidden, 4·hidden]
    /// quantized per direction or per direction and column (inputs 8–11: W and R scales and
    /// zero points); they are dequantized and transposed to LSTM's layout, and LSTM runs in float.
    public static let dynamicQuantizeLSTM: CPUKernel = { ctx in
        func weights(_ i: Int, scale: Int) throws -> Tensor {
            let q = try ctx.input(i), s = try ctx.input(scale), z = try ctx.input(scale + 1)
            guard q.rank == 3, s.count == q.shape[0] || s.count == q.shape[0] * q.shape[2], z.count == s.count else {
                throw ctx.error("quantized weights \(q.shape) with scale \(s.shape) and zero point \(z.shape) are not [D, rows, columns] per direction or column")
            }
            let (d, rows, cols) = (q.shape[0], q.shape[1], q.shape[2])
            let v = q.doubles(), sv = s.doubles(), zv = z.doubles(), perColumn = s.count != d
            var out = [Float](repeating: 0, count: q.count)  // [D, columns, rows]
            for di in 0..<d { for r in 0..<rows { for c in 0..<cols {
                let p = perColumn ? di * cols + c : di
                out[(di * cols + c) * rows + r] = Float((v[(di * rows + r) * cols + c] - zv[p]) * sv[p])
            } } }
            return Tensor(shape: [d, cols, rows], scalars: out)
        }
        let inputs = [try ctx.input(0), try weights(1, scale: 8), try weights(2, scale: 10)] + (3...7).map { ctx.optionalInput($0) }
        return try ctx.apply(lstm, "LSTM", inputs, ctx.node.attributes)
    }
}
