/// What onnxruntime's com.microsoft ops ask of the standard ops each backend builds them from,
/// worked out from the node and its input shapes in one place: both backends check the same
/// attributes, refuse the same combinations (naming the node) and pass the standard ops the
/// same attributes; only the compositions differ by backend.
public enum ContribAttributes {
    /// The form of an attention mask_index for batch B, sequence S and total (key) length T.
    public enum MaskIndex: Sendable, Equatable {
        /// [B]: the keys before each batch's end position are kept.
        case ends
        /// [2B]: end positions, then start positions; the keys from start to end are kept.
        case endsAndStarts
        /// [B, T]: a 1/0 mask of the keys, shared by every query.
        case keys
        /// [B, S, T]: a 1/0 mask of the keys for each query.
        case queriesAndKeys
    }

    /// Attention and QAttention over a packed `qkv` [B, S, Dq + Dk + Dv]: the Q, K and V widths
    /// (qkv_hidden_sizes, else thirds) and the standard Attention's attributes. Throws when the
    /// node gives its past input (index `pastInput`), asks for present (output 1) or do_rotary,
    /// or when the sizes do not fit `qkv` and num_heads.
    public static func selfAttention(_ node: Node, qkv: [Int], pastInput: Int) throws -> (sizes: [Int], attention: [String: Attribute]) {
        guard !node.hasInput(pastInput) else { throw node.error("input past is not supported") }
        try node.refuseOutputs([1], "present")
        guard try node.int("do_rotary", default: 0) == 0 else { throw node.error("do_rotary is not supported") }
        let heads = try node.int("num_heads") ?? 0
        guard qkv.count == 3, heads > 0 else { throw node.error("needs a 3-D input and num_heads > 0, got \(qkv) and \(heads)") }
        let sizes = try node.ints("qkv_hidden_sizes") ?? Array(repeating: qkv[2] / 3, count: 3)
        guard sizes.count == 3, sizes.allSatisfy({ $0 > 0 && $0 <= qkv[2] && $0 % heads == 0 }),
              sizes.reduce(0, +) == qkv[2], sizes[0] == sizes[1] else {
            throw node.error("qkv_hidden_sizes \(sizes) do not fit QKV \(qkv) and \(heads) heads")
        }
        return (sizes, try attention(node, heads: heads))
    }

    /// MultiHeadAttention with 3-D `query`, `key` and `value`: the standard Attention's attributes.
    public static func multiHeadAttention(_ node: Node, query: [Int], key: [Int], value: [Int]) throws -> [String: Attribute] {
        let heads = try node.int("num_heads") ?? 0
        guard query.count == 3, key.count == 3, value.count == 3, heads > 0 else {
            throw node.error("only 3-D query, key and value with num_heads > 0 are supported, got \(query), \(key), \(value)")
        }
        return try attention(node, heads: heads)
    }

    /// The standard Attention's attributes for `heads` heads, from unidirectional and scale.
    private static func attention(_ node: Node, heads: Int) throws -> [String: Attribute] {
        var attributes: [String: Attribute] = ["q_num_heads": .int(heads), "kv_num_heads": .int(heads),
                                               "is_causal": .int(try node.int("unidirectional", default: 0))]
        if let scale = try node.float("scale") { attributes["scale"] = .float(scale) }
        return attributes
    }

    /// The form of mask_index `shape` for batch `b`, sequence `s` and total length `t`; throws for any other shape.
    public static func maskIndex(_ node: Node, shape: [Int], batch b: Int, sequence s: Int, total t: Int) throws -> MaskIndex {
        switch shape {
        case [b]: return .ends
        case [2 * b]: return .endsAndStarts
        case [b, t]: return .keys
        case [b, s, t]: return .queriesAndKeys
        default: throw node.error("mask_index \(shape) is not supported (expected [\(b)], [\(2 * b)], [\(b), \(t)] or [\(b), \(s), \(t)])")
        }
    }

    /// FusedMatMul: whether A and B have their last two axes swapped; throws for transBatchA / transBatchB.
    public static func fusedMatMul(_ node: Node) throws -> (transA: Bool, transB: Bool) {
        guard try node.int("transBatchA", default: 0) == 0, try node.int("transBatchB", default: 0) == 0 else {
            throw node.error("transBatchA / transBatchB are not supported")
        }
        return (try node.int("transA", default: 0) != 0, try node.int("transB", default: 0) != 0)
    }

    /// How MatMulNBits' B [N, K] is block-quantized along K: `bits`-bit codes packed low-first in
    /// [N, blocks, blobBytes] bytes, one scale per row and block, and the zero points' form.
    public struct NBitsLayout: Sendable, Equatable {
        /// Where the zero points come from.
        public enum ZeroPoints: Sendable, Equatable {
            /// None given: 2^(bits−1).
            case implicit
            /// uint8 codes packed like B's, `zeroPointRowBytes` bytes per row.
            case packed
            /// One floating-point value per row and block, like the scales.
            case perBlock
        }
        /// The K and N attributes, bits per code and the block size along K.
        public let k, n, bits, blockSize: Int
        /// The zero points' form.
        public let zeroPoints: ZeroPoints
        /// Blocks per row (the last one may be partial).
        public var blocks: Int { (k + blockSize - 1) / blockSize }
        /// Bytes of codes per block.
        public var blobBytes: Int { blockSize * bits / 8 }
        /// Bytes per row of packed zero points.
        public var zeroPointRowBytes: Int { (blocks * bits + 7) / 8 }
    }

    /// MatMulNBits with A's shape `a`, B's shape and type `b`, `scales` scale values and the
    /// zero points' element count and type when given: B's layout. Throws for g_idx, bits other
    /// than 2, 4 or 8, a block size not a power of 2 from 16, or inputs that do not fit K and N.
    public static func matMulNBits(_ node: Node, a: [Int], b: (shape: [Int], type: DataType), scales: Int,
                                   zeroPoints: (count: Int, type: DataType)?) throws -> NBitsLayout {
        guard !node.hasInput(4) else { throw node.error("input g_idx is not supported") }
        let k = try node.int("K") ?? 0, n = try node.int("N") ?? 0
        let bits = try node.int("bits", default: 4), blockSize = try node.int("block_size") ?? 0
        guard [2, 4, 8].contains(bits), (16...(1 << 16)).contains(blockSize), blockSize & (blockSize - 1) == 0,
              (1...(1 << 31)).contains(k), (1...(1 << 31)).contains(n) else {
            throw node.error("bits \(bits), block_size \(blockSize), K \(k), N \(n) are not supported (bits 2, 4 or 8; block_size a power of 2 from 16)")
        }
        let layout = NBitsLayout(k: k, n: n, bits: bits, blockSize: blockSize, zeroPoints: .implicit)
        guard b.type == .uint8, b.shape == [n, layout.blocks, layout.blobBytes], scales == n * layout.blocks, a.last == k else {
            throw node.error("A \(a), B \(b.shape) (\(b.type)), \(scales) scales do not fit K \(k), N \(n), block_size \(blockSize), bits \(bits)")
        }
        let form: NBitsLayout.ZeroPoints
        switch zeroPoints {
        case nil: form = .implicit
        case let z? where z.type == .uint8 && z.count == n * layout.zeroPointRowBytes: form = .packed
        case let z? where z.type.isFloatingPoint && z.count == n * layout.blocks: form = .perBlock
        case let z?: throw node.error("\(z.count) zero_points (\(z.type)) fit neither the packed nor the unpacked form")
        }
        return NBitsLayout(k: k, n: n, bits: bits, blockSize: blockSize, zeroPoints: form)
    }

    /// RotaryEmbedding (com.microsoft) on `input` [B, S, hidden] or [B, heads, S, head size]
    /// with `cosCache` [positions, rotary dim / 2]: the standard RotaryEmbedding's attributes,
    /// num_heads derived from the cache when a 3-D input leaves it out. Throws for packed
    /// batching, a scale other than 1, or other ranks.
    public static func rotaryEmbedding(_ node: Node, input: [Int], cosCache: [Int]) throws -> [String: Attribute] {
        guard try node.int("is_packed_batching", default: 0) == 0 else { throw node.error("is_packed_batching is not supported") }
        guard try node.float("scale", default: 1) == 1 else { throw node.error("scale other than 1 is not supported") }
        guard input.count == 3 || input.count == 4, cosCache.count == 2 else {
            throw node.error("input \(input) must be 3-D or 4-D and cos_cache 2-D")
        }
        var attributes: [String: Attribute] = ["interleaved": .int(try node.int("interleaved", default: 0))]
        let rotary = try node.int("rotary_embedding_dim", default: 0)
        if rotary != 0 { attributes["rotary_embedding_dim"] = .int(rotary) }
        var heads = try node.int("num_heads", default: 0)
        if heads == 0 && input.count == 3 {
            guard cosCache[1] > 0, input[2] % (2 * cosCache[1]) == 0 else {
                throw node.error("num_heads is needed: cos_cache \(cosCache) does not divide hidden size \(input[2])")
            }
            heads = input[2] / (2 * cosCache[1])
        }
        if heads != 0 { attributes["num_heads"] = .int(heads) }
        return attributes
    }
}

extension Node {
    /// Whether input `i` is given (named).
    public func hasInput(_ i: Int) -> Bool { i < inputs.count && !inputs[i].isEmpty }

    /// Throws when any of the outputs at `indices` is requested (named), saying `what` is not supported.
    public func refuseOutputs(_ indices: [Int], _ what: String) throws {
        if indices.contains(where: { $0 < outputs.count && !outputs[$0].isEmpty }) {
            throw error("output \(what) is not supported")
        }
    }
}
