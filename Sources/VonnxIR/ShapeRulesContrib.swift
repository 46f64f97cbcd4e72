/// Shape rules of onnxruntime's com.microsoft contrib ops.
extension ShapeRules {
    /// SkipLayerNormalization (and the simplified form): Y and the sum like input 0; mean and
    /// inverse std [..., 1].
    public static let skipLayerNormalization: ShapeRule = { ctx in
        let stats = try layerNormalization(ctx)
        return [ctx.input(0), stats[1], stats[2], ctx.input(0)]
    }

    /// EmbedLayerNormalization (and the quantized form): Y and the embedding sum [B, S, hidden]
    /// (hidden from gamma), mask_index int32 [B].
    public static let embedLayerNormalization: ShapeRule = { ctx in
        guard let ids = ctx.input(0)?.shape, ids.count == 2, let gamma = ctx.input(5), let hidden = gamma.shape?.last else { return [nil, nil, nil] }
        // the quantized form's gamma is an integer tensor; its output is float32
        let y = ValueType.tensor(gamma.elementType.flatMap { $0.isFloatingPoint ? $0 : nil } ?? .float, shape: ids + [hidden])
        return [y, .tensor(.int32, shape: [ids[0]]), y]
    }
}

/// Shape rules of the contrib matrix products and attention.
extension ShapeRules {
    /// vonnx TransposedMatMul: MatMul of A and B transposed by `permA` / `permB` (each the
    /// identity when absent).
    public static let transposedMatMul: ShapeRule = { ctx in
        try matMul()(ctx.with(inputs: [permuted(ctx, 0, "permA"), permuted(ctx, 1, "permB")]))
    }

    /// vonnx PackedMatMul: MatMul of A transposed by `permA` (the identity when absent) and a
    /// [`k`, `n`] B that input 1 holds as a CPU kernel's packed panels, not as a matrix.
    public static let packedMatMul: ShapeRule = { ctx in
        guard let k = try ctx.node.int("k"), let n = try ctx.node.int("n") else { return [nil] }
        let b = ValueType.tensor(ctx.input(0)?.elementType ?? .float, shape: [.value(k), .value(n)])
        return try matMul()(ctx.with(inputs: [permuted(ctx, 0, "permA"), b]))
    }

    /// vonnx SoftmaxAttention: Softmax(scale·(A·B))·C, each operand transposed by `permA` /
    /// `permB` / `permC` (the identity when absent): MatMul's result of the scores by C,
    /// transposed by `permY` when given.
    public static let softmaxAttention: ShapeRule = { ctx in
        let scores = try matMul()(ctx.with(inputs: [permuted(ctx, 0, "permA"), permuted(ctx, 1, "permB")]))[0]
        let y = try matMul()(ctx.with(inputs: [scores, permuted(ctx, 2, "permC")]))[0]
        return [try transposed(y, ctx, by: "permY")]
    }

    /// Input `i`'s type transposed by the permutation in the node's `attribute`, when it has one.
    private static func permuted(_ ctx: ShapeContext, _ i: Int, _ attribute: String) throws -> ValueType? {
        try transposed(ctx.input(i), ctx, by: attribute)
    }

    /// `type` transposed by the permutation in the node's `attribute`, when it has one.
    private static func transposed(_ type: ValueType?, _ ctx: ShapeContext, by attribute: String) throws -> ValueType? {
        guard let perm = try ctx.node.ints(attribute) else { return type }
        var node = ctx.node
        node.attributes = ["perm": .ints(perm)]
        return try transpose(ShapeContext(node: node, inputs: [type], constants: [], opset: ctx.opset))[0]
    }

    /// FusedMatMul: MatMul of A and B with their last two axes swapped by transA / transB
    /// (the batch-transposing forms, which the kernel refuses, stay unknown).
    public static let fusedMatMul: ShapeRule = { ctx in
        guard let elem = ctx.input(0)?.elementType else { return [nil] }
        guard try ctx.node.int("transBatchA", default: 0) == 0, try ctx.node.int("transBatchB", default: 0) == 0 else {
            return [.tensor(elem, shape: nil)]
        }
        let operands = try [(0, "transA"), (1, "transB")].map { i, attribute -> ValueType? in
            guard let s = ctx.input(i)?.shape, s.count >= 2, try ctx.node.int(attribute, default: 0) != 0 else { return ctx.input(i) }
            return .tensor(elem, shape: s.dropLast(2) + [s[s.count - 1], s[s.count - 2]])
        }
        return try matMul()(ctx.with(inputs: operands))
    }

    /// MatMulNBits: A [..., K] · B [K, N] → [..., N], N from the attribute.
    public static let matMulNBits: ShapeRule = { ctx in
        guard let a = ctx.input(0), let elem = a.elementType else { return [nil] }
        guard let s = a.shape, !s.isEmpty, let n = try ctx.node.int("N"), n > 0, n <= maxDim else { return [.tensor(elem, shape: nil)] }
        return [.tensor(elem, shape: s.dropLast() + [.value(n)])]
    }

    /// QGemm: Gemm's [M, N]; quantized to y_zero_point's type (uint8 without one) when
    /// y_scale is given, else float32.
    public static let qGemm: ShapeRule = { ctx in
        let elem: DataType = ctx.input(7) == nil ? .float : ctx.input(8)?.elementType ?? .uint8
        return try gemm(ctx.selecting([0, 3])).map { $0.map { .tensor(elem, shape: $0.shape) } }
    }

    /// Attention (and QAttention, whose output takes input_scale's element type): input
    /// [B, S, ·] → [B, S, V], V from qkv_hidden_sizes or a third of the weights' columns.
    /// present (refused by the kernel) stays unknown.
    public static func attention(elementFrom typeInput: Int) -> ShapeRule {
        { ctx in
            guard let elem = ctx.input(typeInput)?.elementType else { return [nil] }
            guard let x = ctx.input(0)?.shape, x.count == 3 else { return [.tensor(elem, shape: nil)] }
            let v: Dim
            if let sizes = try ctx.node.ints("qkv_hidden_sizes") {
                guard sizes.count == 3, sizes.allSatisfy({ $0 > 0 && $0 <= maxDim }) else {
                    throw ctx.error("qkv_hidden_sizes \(sizes) must be three positive sizes")
                }
                v = .value(sizes[2])
            } else if let columns = ctx.input(1)?.shape?.last?.value {
                guard columns % 3 == 0 else { throw ctx.error("weights' \(columns) columns do not split in three (Q, K, V)") }
                v = .value(columns / 3)
            } else {
                v = .unknown
            }
            return [.tensor(elem, shape: [x[0], x[1], v])]
        }
    }

    /// MultiHeadAttention with 3-D query [B, S, ·], key [B, L, Dk] and value [B, L, Dv]:
    /// output [B, S, Dv]; present_key / present_value [B, heads, P + L, Dk or Dv / heads], P
    /// from past_key ([B, heads, P, ·]) or 0. Other layouts (refused by the kernel) stay unknown.
    public static let multiHeadAttention: ShapeRule = { ctx in
        guard let elem = ctx.input(0)?.elementType else { return [nil, nil, nil] }
        let unknown = ValueType.tensor(elem, shape: nil)
        let heads = try ctx.node.int("num_heads") ?? 0
        guard heads > 0, let q = ctx.input(0)?.shape, let k = ctx.input(1)?.shape, let v = ctx.input(2)?.shape,
              q.count == 3, k.count == 3, v.count == 3 else { return [unknown, unknown, unknown] }
        func perHead(_ d: Dim, _ what: String) throws -> Dim {
            guard let n = d.value else { return .unknown }
            guard n % heads == 0 else { throw ctx.error("\(what) hidden size \(n) is not a multiple of num_heads \(heads)") }
            return .value(n / heads)
        }
        var total = k[1]
        if ctx.node.inputs.count > 6, !ctx.node.inputs[6].isEmpty {
            let past = ctx.input(6)?.shape
            if let p = past?.count == 4 ? past?[2].value : nil, let l = k[1].value {
                total = .value(try checkedSum(p, l))
            } else {
                total = .unknown
            }
        }
        return [.tensor(elem, shape: [q[0], q[1], v[2]]),
                .tensor(elem, shape: [q[0], .value(heads), total, try perHead(k[2], "key")]),
                .tensor(elem, shape: [q[0], .value(heads), total, try perHead(v[2], "value")])]
    }
}

/// Shape rules of the QOperator ops (QLinearConv and onnxruntime's QLinear* contrib ops).
extension ShapeRules {
    /// The float op's `rule` applied to the quantized inputs at `inputs`, its output 0 taking
    /// the element type of the zero point at `zeroPoint` (uint8 when omitted, as QuantizeLinear).
    /// The channels_last forms (refused by the kernels) stay unknown.
    public static func quantized(_ rule: @escaping ShapeRule, inputs: [Int], zeroPoint: Int) -> ShapeRule {
        { ctx in
            let elem = ctx.input(zeroPoint)?.elementType ?? .uint8
            guard try ctx.node.int("channels_last", default: 0) == 0 else { return [.tensor(elem, shape: nil)] }
            guard let y = try rule(ctx.selecting(inputs)).first ?? nil else { return [nil] }
            return [.tensor(elem, shape: y.shape)]
        }
    }

    /// QLinearConcat: Concat of the X in each (X, scale, zero point) triple after Y's scale and zero point.
    public static let qLinearConcat: ShapeRule = { ctx in
        try quantized(concat, inputs: Array(stride(from: 2, to: ctx.inputs.count, by: 3)), zeroPoint: 1)(ctx)
    }
}
