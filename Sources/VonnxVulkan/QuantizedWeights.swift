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
    let layout = try ContribAttributes.matMulNBits(ctx.node, a: a.shape, b: (packed.shape, packed.dataType), scales: scales.count,
                                                   zeroPoints: zeros.map { ($0.count, $0.dataType) })
    guard a.dataType == .float, layout.zeroPoints != .perBlock || zeros?.dataType == .float else {
        throw ctx.error("only float32 A and zero points are supported on the device")
    }
    let (k, n, bits, blockSize) = (layout.k, layout.n, layout.bits, layout.blockSize)
    let zeroForm = switch layout.zeroPoints { case .implicit: 0; case .packed: 1; case .perBlock: 2 }
    guard let count = checkedElementCount([k, n]), count <= Int(UInt32.max) else {
        throw ctx.error("the dequantized weight [\(k), \(n)] is too large for the device")
    }
    let sources = [packed, scales] + (zeros.map { [$0] } ?? [])
    let weights = try ctx.prepared(from: sources, key: "dequantize_nbits \(bits) \(blockSize) \(k)") { ctx in
        let w = try ctx.recorder.makeTensor(shape: [k, n])
        var push = PushConstants()
        for v in [count, n, layout.blocks, blockSize, layout.blobBytes, bits, layout.zeroPointRowBytes] { push.add(v) }
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
