import VonnxIR

// onnxruntime's contrib ops whose weights arrive quantized: MatMulNBits and DynamicQuantizeLSTM.
// As the CPU kernels, each dequantizes its weights to float32 and runs the float op (MatMul,
// LSTM); here the dequantized weights are made once per partition when the quantized ones are
// its weights (`prepared(from:key:_:)`), at 8× the memory of 4-bit packed codes.

/// MatMulNBits: A · Bᵀ (+ bias) with B [N, K] block-quantized along K: `bits`-bit codes packed
/// low-first in B [N, k_blocks, blob_size], one scale per block, zero points packed the same way
/// in uint8 or one float per block (default 2^(bits−1)); B dequantized to float32 W [K, N]
/// (`Shaders/dequantize_nbits.comp`), then MatMul. accuracy_level is ignored (float32 products,
/// as the CPU); g_idx is not supported.
func recordMatMulNBits(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let a = try ctx.input(0), packed = try ctx.input(1), scales = try ctx.input(2), zeros = ctx.optionalInput(3)
    guard ctx.optionalInput(4) == nil else { throw ctx.error("input g_idx is not supported") }
    let k = try ctx.node.int("K") ?? 0, n = try ctx.node.int("N") ?? 0
    let bits = try ctx.node.int("bits", default: 4), blockSize = try ctx.node.int("block_size") ?? 0
    guard [2, 4, 8].contains(bits), (16...(1 << 16)).contains(blockSize), blockSize & (blockSize - 1) == 0,
          (1...(1 << 31)).contains(k), n > 0 else {
        throw ctx.error("bits \(bits), block_size \(blockSize), K \(k), N \(n) are not supported (bits 2, 4 or 8; block_size a power of 2 from 16)")
    }
    let blocks = (k + blockSize - 1) / blockSize, blob = blockSize * bits / 8, zeroRow = (blocks * bits + 7) / 8
    guard a.dataType == .float, packed.dataType == .uint8, packed.shape == [n, blocks, blob], scales.count == n * blocks,
          a.shape.last == k else {
        throw ctx.error("A \(a.shape) (\(a.dataType)), B \(packed.shape) (\(packed.dataType)), scales \(scales.shape) do not fit K \(k), N \(n), block_size \(blockSize), bits \(bits)")
    }
    let zeroForm: Int
    switch zeros {
    case nil: zeroForm = 0
    case let z? where z.dataType == .uint8 && z.count == n * zeroRow: zeroForm = 1
    case let z? where z.dataType == .float && z.count == n * blocks: zeroForm = 2
    case let z?: throw ctx.error("zero_points \(z.shape) (\(z.dataType)) fit neither the packed nor the unpacked form")
    }
    guard let count = checkedElementCount([k, n]), count <= Int(UInt32.max) else {
        throw ctx.error("the dequantized weight [\(k), \(n)] is too large for the device")
    }
    let sources = [packed, scales] + (zeros.map { [$0] } ?? [])
    let weights = try ctx.prepared(from: sources, key: "dequantize_nbits \(bits) \(blockSize) \(k)") { ctx in
        let w = try ctx.recorder.makeTensor(shape: [k, n])
        var push = PushConstants()
        for v in [count, n, blocks, blockSize, blob, bits, zeroRow] { push.add(v) }
        try ctx.dispatch1D("dequantize_nbits", defines: ["ZERO": "\(zeroForm)"],
                           buffers: [packed.buffer, scales.buffer, (zeros ?? scales).buffer, w.buffer], push: push, count: count)
        return w
    }
    let y = try ctx.apply1("MatMul", [a, weights])
    ctx.recycle(weights)
    return [try ctx.plusOptional(y, 5)]
}

/// DynamicQuantizeLSTM: LSTM with W [D, input, 4·hidden] and R [D, hidden, 4·hidden] quantized
/// per direction or per direction and column (inputs 8–11: W and R scales and zero points),
/// dequantized ((q − zero point) · scale, exact in float32 as in the CPU's double) and transposed
/// to LSTM's layout, then LSTM in float32 with the node's attributes.
func recordDynamicQuantizeLSTM(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    func weights(_ i: Int, scale: Int) throws -> VulkanTensor {
        let q = try ctx.input(i), s = try ctx.input(scale), z = try ctx.input(scale + 1)
        guard q.rank == 3, s.count == q.shape[0] || s.count == q.shape[0] * q.shape[2], z.count == s.count, s.dataType == .float else {
            throw ctx.error("quantized weights \(q.shape) with scale \(s.shape) and zero point \(z.shape) are not [D, rows, columns] per direction or column")
        }
        let (d, cols) = (q.shape[0], q.shape[2]), perColumn = s.count != d
        return try ctx.prepared(from: [q, s, z], key: "dequantized LSTM weights") { ctx in
            let float: [String: Attribute] = ["to": .int(Int(DataType.float.rawValue))]
            let shape = Tensor(shape: [3], scalars: [Int64(d), 1, Int64(perColumn ? cols : 1)])
            let zero = try ctx.apply1("Reshape", [try ctx.apply1("Cast", [z], float)], host: [1: shape])
            let centered = try ctx.apply1("Sub", [try ctx.apply1("Cast", [q], float), zero])
            let values = try ctx.apply1("Mul", [centered, try ctx.apply1("Reshape", [s], host: [1: shape])])
            return try ctx.apply1("Transpose", [values], ["perm": .ints([0, 2, 1])])
        }
    }
    let w = try weights(1, scale: 8), r = try weights(2, scale: 10)
    let outputs = try ctx.apply("LSTM", [try ctx.input(0), w, r] + (3...7).map { ctx.optionalInput($0) }, outputs: 3, ctx.node.attributes)
    ctx.recycle(w)
    ctx.recycle(r)
    return outputs
}
