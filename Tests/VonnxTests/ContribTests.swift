import Testing
@testable import VonnxCPU
@testable import VonnxIR

// onnxruntime's com.microsoft ops; scripts/check-contrib.sh compares each with onnxruntime
// itself, these pin the semantics that differ from the standard ops and the refusals.

private func run(_ kernel: CPUKernel, _ op: String, _ inputs: [Tensor?], _ attributes: [String: Attribute] = [:],
                 outputs: [String] = ["y"]) throws -> [Tensor] {
    let names = inputs.indices.map { inputs[$0] == nil ? "" : "x\($0)" }
    let node = Node(name: "n", opType: op, domain: "com.microsoft", inputs: names, outputs: outputs, attributes: attributes)
    return try kernel(KernelContext(node: node, inputs: inputs, opset: 17, pool: ThreadPool(threads: 2)))
}

private func f32(_ shape: [Int], _ v: [Float]) -> Tensor { Tensor(shape: shape, scalars: v) }

private func message(_ body: () throws -> Any) -> String {
    do { _ = try body(); return "no error" } catch { return "\(error)" }
}

@Test func skipLayerNormalizationNormalizesInputPlusSkipPlusBias() throws {
    let out = try run(CPUKernels.skipLayerNormalization, "SkipLayerNormalization",
                      [f32([1, 1, 2], [1, 3]), f32([1, 1, 2], [0, 2]), f32([2], [1, 2]), f32([2], [0, 1]), f32([2], [1, -1])],
                      ["epsilon": .float(0)], outputs: ["y", "", "", "sum"])
    #expect(out[3].scalars(as: Float.self) == [2, 4])  // 1 + 0 + 1, 3 + 2 − 1
    #expect(out[0].scalars(as: Float.self) == [-1, 3])  // (±1)·gamma + beta
}

@Test func attentionMaskIndexEndsEachSequence() throws {
    // one head, Q = K = V = x (weights [I I I]); keys from mask_index on are masked
    let x = f32([2, 3, 2], [1, 0, 0, 1, 2, 2, 3, 1, 0, 2, 1, 1])
    let w = f32([2, 6], [1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1])
    let y = try run(CPUKernels.contribAttention, "Attention", [x, w, nil, Tensor(shape: [2], scalars: [1, 3] as [Int32])],
                    ["num_heads": .int(1)])[0].scalars(as: Float.self)
    #expect(Array(y[0..<6]) == [1, 0, 1, 0, 1, 0])  // batch 0 sees key 0 only
    #expect(Array(y[6..<12]) != [3, 1, 3, 1, 3, 1])  // batch 1 sees all three
}

@Test func embedLayerNormalizationCountsTheMask() throws {
    let ids = Tensor(shape: [1, 3], scalars: [2, 0, 1] as [Int32])
    let word = f32([3, 2], [0, 1, 2, 3, 4, 6]), position = f32([3, 2], [0, 0, 0, 0, 1, 0])
    let out = try run(CPUKernels.embedLayerNormalization, "EmbedLayerNormalization",
                      [ids, nil, word, position, nil, f32([2], [1, 1]), f32([2], [0, 0]), Tensor(shape: [1, 3], scalars: [1, 1, 0] as [Int32])],
                      outputs: ["y", "mask_index", "sum"])
    #expect(out[1].scalars(as: Int32.self) == [2])
    #expect(out[2].scalars(as: Float.self) == [4, 6, 0, 1, 3, 3])
}

@Test func rotaryEmbeddingTakesAStartOffsetAsPositions() throws {
    let x = f32([1, 2, 4], [1, 2, 3, 4, 5, 6, 7, 8])
    let cosCache = f32([4, 2], [1, 1, 0.5, 0.8, 0, 0.6, -1, 0.2]), sinCache = f32([4, 2], [0, 0, 0.8, 0.6, 1, 0.8, 0, 0.9])
    let attributes: [String: Attribute] = ["num_heads": .int(1)]
    let offset = try run(CPUKernels.contribRotaryEmbedding, "RotaryEmbedding", [x, Tensor(shape: [1], scalars: [2] as [Int64]), cosCache, sinCache], attributes)
    let explicit = try run(CPUKernels.contribRotaryEmbedding, "RotaryEmbedding", [x, Tensor(shape: [1, 2], scalars: [2, 3] as [Int64]), cosCache, sinCache], attributes)
    #expect(offset[0].scalars(as: Float.self) == explicit[0].scalars(as: Float.self))
    #expect(offset[0].scalars(as: Float.self)[0] == 1 * 0 - 3 * 1)  // position 2: cos 0, sin 1
}

@Test func qLinearAddDequantizesAddsAndRequantizes() throws {
    let y = try run(CPUKernels.qLinearAdd, "QLinearAdd", [
        Tensor(shape: [1], scalars: [10] as [UInt8]), Tensor(scalar: Float(0.5)), Tensor(scalar: UInt8(0)),
        Tensor(shape: [1], scalars: [4] as [UInt8]), Tensor(scalar: Float(1)), Tensor(scalar: UInt8(2)),
        Tensor(scalar: Float(0.25)), Tensor(scalar: UInt8(3)),
    ])[0]
    #expect(y.scalars(as: UInt8.self) == [31])  // (5 + 2) / 0.25 + 3
}

@Test func contribOpsNameWhatTheyDoNotSupport() {
    let x = f32([1, 2, 2], [1, 2, 3, 4]), w = f32([2, 6], [Float](repeating: 0.1, count: 12))
    #expect(message { try run(CPUKernels.contribAttention, "Attention", [x, w, nil, nil, x], ["num_heads": .int(1)]) }
        .contains("node 'n' (Attention): input past is not supported"))
    #expect(message { try run(CPUKernels.contribAttention, "Attention", [x, w, nil, f32([1, 1, 2, 2], [0, 0, 0, 0])], ["num_heads": .int(1)]) }
        .contains("mask_index [1, 1, 2, 2] is not supported"))
    #expect(message { try run(CPUKernels.fusedMatMul, "FusedMatMul", [x, x], ["transBatchA": .int(1)]) }
        .contains("transBatchA / transBatchB are not supported"))
    #expect(message { try run(CPUKernels.skipSimplifiedLayerNormalization, "SkipSimplifiedLayerNormalization",
                              [x, x, f32([2], [1, 1])], outputs: ["y", "mean"]) }.contains("output mean / inv_std_var is not supported"))
    #expect(message { try run(CPUKernels.qLinearSigmoid, "QLinearSigmoid", [Tensor(shape: [1], scalars: [1] as [UInt8]), Tensor(scalar: Float(1)), nil,
                                                                             Tensor(scalar: Float(1))], ["channels_last": .int(1)]) }
        .contains("channels_last is not supported"))
}

@Test func matMulNBitsUnpacksLowNibbleFirstWithDefaultOrPackedZeroPoints() throws {
    // one column of K = 16 4-bit codes 0...15 in one block, scale 0.5
    let pairs: [UInt8] = (0..<8).map { (i: UInt8) -> UInt8 in (2 * i) | ((2 * i + 1) << 4) }
    let codes = Tensor(shape: [1, 1, 8], scalars: pairs)
    let a = f32([1, 16], [Float](repeating: 1, count: 16)), scale = f32([1], [0.5])
    let attributes: [String: Attribute] = ["K": .int(16), "N": .int(1), "bits": .int(4), "block_size": .int(16)]
    let byDefault = try run(CPUKernels.matMulNBits, "MatMulNBits", [a, codes, scale], attributes)[0]
    #expect(byDefault.shape == [1, 1] && byDefault.scalars(as: Float.self) == [-4])  // Σ (i − 8) / 2
    let packedZero = try run(CPUKernels.matMulNBits, "MatMulNBits", [a, codes, scale, Tensor(shape: [1], scalars: [0xF3] as [UInt8])], attributes)[0]
    #expect(packedZero.scalars(as: Float.self) == [36])  // Σ (i − 3) / 2: the low nibble is block 0's
    #expect(message { try run(CPUKernels.matMulNBits, "MatMulNBits", [a, codes, scale], attributes.merging(["bits": .int(3)]) { $1 }) }
        .contains("bits 3"))
}
