/// What an op's attributes and input shapes ask of a kernel, checked in one place for the ops
/// whose checks are more than a shape rule: both backends refuse the same inputs with the same
/// message (naming the node) and read the same sizes; only the kernels differ.
public enum OpLayouts {
    /// LinearAttention's sizes: query [B, T, hq·dk], key [B, T, hkv·dk], value [B, T, hkv·dv].
    public struct LinearAttention: Sendable, Equatable {
        /// Batch, time steps, query and key/value heads, key and value features per head.
        public let batch, steps, queryHeads, kvHeads, keySize, valueSize: Int
        /// The update rule: gated (decay given) and delta (beta given).
        public let gated, delta: Bool
        /// decay has one value per key feature (else one per kv head); beta one per kv head (else one a step).
        public let decayPerFeature, betaPerHead: Bool
        /// The scale of the output (the `scale` attribute, else 1/√dk).
        public let scale: Double
    }

    /// LinearAttention (opset 27) with the shapes of query, key, value and of past_state, decay
    /// and beta when given. Throws for an unknown update_rule, head counts that do not divide,
    /// decay or beta present against the rule, or shapes that do not fit.
    public static func linearAttention(_ node: Node, query q: [Int], key k: [Int], value v: [Int],
                                       pastState past: [Int]?, decay: [Int]?, beta: [Int]?) throws -> LinearAttention {
        let rule = try node.string("update_rule", default: "gated_delta")
        let hq = try node.int("q_num_heads") ?? 0, hkv = try node.int("kv_num_heads") ?? 0
        guard ["linear", "gated", "delta", "gated_delta"].contains(rule) else { throw node.error("update_rule '\(rule)' is not supported") }
        guard hq > 0, hkv > 0, hq % hkv == 0 else { throw node.error("q_num_heads \(hq) must be a positive multiple of kv_num_heads \(hkv)") }
        let gated = rule.hasPrefix("gated"), delta = rule.hasSuffix("delta")
        guard gated == (decay != nil), delta == (beta != nil) else {
            throw node.error("update_rule '\(rule)' needs decay \(gated ? "given" : "absent") and beta \(delta ? "given" : "absent")")
        }
        guard q.count == 3, k.count == 3, v.count == 3, k[0] == q[0], v[0] == q[0], k[1] == q[1], v[1] == q[1],
              q[2] % hq == 0, v[2] % hkv == 0, k[2] == q[2] / hq * hkv else {
            throw node.error("query \(q), key \(k), value \(v) do not fit the head counts")
        }
        let (b, steps) = (q[0], q[1]), dk = q[2] / hq, dv = v[2] / hkv
        if let decay, decay.count != 3 || decay[0] != b || decay[1] != steps || (decay[2] != hkv && decay[2] != hkv * dk) {
            throw node.error("decay \(decay) must be [\(b), \(steps), \(hkv) or \(hkv * dk)]")
        }
        if let beta, beta.count != 3 || beta[0] != b || beta[1] != steps || (beta[2] != hkv && beta[2] != 1) {
            throw node.error("beta \(beta) must be [\(b), \(steps), \(hkv) or 1]")
        }
        if let past, past != [b, hkv, dk, dv] { throw node.error("past_state \(past) must be [\(b), \(hkv), \(dk), \(dv)]") }
        let scale = Double(try node.float("scale", default: 0))
        return LinearAttention(batch: b, steps: steps, queryHeads: hq, kvHeads: hkv, keySize: dk, valueSize: dv, gated: gated,
                               delta: delta, decayPerFeature: decay.map { $0[2] != hkv } ?? false,
                               betaPerHead: beta.map { $0[2] == hkv } ?? false, scale: scale != 0 ? scale : 1 / Double(dk).squareRoot())
    }

    /// CausalConvWithState's sizes: input [B, C, L], depthwise weight [C, 1, K].
    public struct CausalConv: Sendable, Equatable {
        /// Batch, channels, length and kernel size.
        public let batch, channels, length, kernel: Int
        /// The activation is SiLU (`silu` or `swish`), else none.
        public let silu: Bool
    }

    /// CausalConvWithState with the shapes of input and weight, bias's element count and
    /// past_state's shape when given. Throws for other shapes or an activation other than none,
    /// silu or swish.
    public static func causalConvWithState(_ node: Node, input x: [Int], weight w: [Int], biasCount: Int?,
                                           pastState past: [Int]?) throws -> CausalConv {
        guard x.count == 3, w.count == 3, w[0] == x[1], w[1] == 1, w[2] >= 1 else {
            throw node.error("input \(x) must be [B, C, L] and weight \(w) [C, 1, k]")
        }
        let (b, c, l, k) = (x[0], x[1], x[2], w[2])
        if let past, past != [b, c, k - 1] { throw node.error("past_state \(past) must be [\(b), \(c), \(k - 1)]") }
        if let biasCount, biasCount != c { throw node.error("bias of \(biasCount) values must hold \(c)") }
        let activation = try node.string("activation", default: "none")
        guard ["none", "silu", "swish"].contains(activation) else { throw node.error("activation '\(activation)' is not none, silu or swish") }
        return CausalConv(batch: b, channels: c, length: l, kernel: k, silu: activation != "none")
    }

    /// Col2Im's geometry: columns [N, C·∏block, L] summed into images [N, C, image...].
    public struct Col2Im: Sendable, Equatable {
        /// The image's and a block's spatial dims, the attributes per spatial dim (pads: begins, then ends).
        public let image, block, strides, dilations, pads: [Int]
        /// Blocks along each spatial dim (their product is L).
        public let blocks: [Int]
        /// The images' channels (C).
        public let channels: Int
    }

    /// Col2Im of columns shaped `columns` with the values of image_shape and block_shape.
    /// Throws when they and the strides, dilations and pads do not fit (each below 2³¹), or
    /// when the columns do not match the blocks.
    public static func col2Im(_ node: Node, columns x: [Int], image: [Int], block: [Int]) throws -> Col2Im {
        let d = image.count
        let strides = try node.ints("strides") ?? Array(repeating: 1, count: d)
        let dilations = try node.ints("dilations") ?? Array(repeating: 1, count: d)
        let pads = try node.ints("pads") ?? Array(repeating: 0, count: 2 * d)
        let bounded = { (values: [Int], least: Int) in values.allSatisfy { $0 >= least && $0 < Int(Int32.max) } }
        guard x.count == 3, d > 0, block.count == d, strides.count == d, dilations.count == d, pads.count == 2 * d,
              bounded(block + image + strides + dilations, 1), bounded(pads, 0),
              let kernelSize = checkedElementCount(block), x[1] % kernelSize == 0 else {
            throw node.error("input \(x), image_shape \(image), block_shape \(block) and the attributes do not fit")
        }
        let blocks = (0..<d).map {
            ShapeRules.windowOutput(image[$0], kernel: block[$0], stride: strides[$0], dilation: dilations[$0],
                                    padBegin: pads[$0], padEnd: pads[$0 + d])
        }
        guard checkedElementCount(blocks, limit: .max) == x[2] else {
            throw node.error("\(x[2]) columns do not match the \(blocks) blocks of image \(image)")
        }
        return Col2Im(image: image, block: block, strides: strides, dilations: dilations, pads: pads, blocks: blocks,
                      channels: x[1] / kernelSize)
    }

    /// The element type an EyeLike node makes: its `dtype` attribute, else its input's `type`.
    public static func eyeLikeType(_ node: Node, input type: DataType) throws -> DataType {
        guard let raw = try node.int("dtype") else { return type }
        guard let t = DataType(rawValue: Int32(truncatingIfNeeded: raw)), t != .string else { throw node.error("dtype \(raw) is not supported") }
        return t
    }

    /// The value an EyeLike node makes of an input shaped `shape` of element `type` (the input's
    /// values are not read): ones on diagonal `k`, zeros elsewhere. Throws unless it is 2-D.
    public static func eyeLikeValue(_ node: Node, shape: [Int], input type: DataType) throws -> Tensor {
        guard shape.count == 2 else { throw node.error("input must be 2-D, got \(shape)") }
        let out = Tensor(zeros: try eyeLikeType(node, input: type), shape: shape)
        let one = try Tensor(out.dataType, shape: [], converting: [1]), size = out.dataType.byteSize
        let k = try node.int("k", default: 0), (rows, cols) = (shape[0], shape[1])
        guard k > -rows, k < cols else { return out }
        for i in max(0, -k)..<min(rows, cols - k) {
            (out.storage.pointer + (i * cols + i + k) * size).copyMemory(from: one.storage.pointer, byteCount: size)
        }
        return out
    }
}
