import Testing
@testable import Vonnx
import VonnxCPU
import VonnxIR
import VonnxVulkan

// onnxruntime's com.microsoft ops (and SimplifiedLayerNormalization, DynamicQuantizeLinear) on
// the device, composed from the standard kernels, against the CPU's compositions on fresh
// random inputs: every mask_index form of Attention, bias and no bias, the dynamic and
// QOperator quantized forms.

private extension SplitMix {
    mutating func bytes(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in UInt8.random(in: 0...255, using: &self) })
    }
    mutating func signedBytes(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Int8.random(in: -128...127, using: &self) })
    }
    /// Random 1/0 masks whose rows keep their first key: a row of only masked keys leaves
    /// softmax over scores near mask_filter_value, where float32 keeps about 1e-3 of the score.
    mutating func flags(_ shape: [Int]) -> Tensor {
        let length = shape.last ?? 1
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { $0 % length == 0 ? 1 : Int32.random(in: 0...1, using: &self) })
    }
}

private let ms = "com.microsoft"
private func scalar(_ v: Float) -> Tensor { Tensor(scalar: v) }
private func byte(_ v: UInt8) -> Tensor { Tensor(scalar: v) }

private let floatCases: [KernelCase] = {
    let x = [2, 3, 8]
    var c: [KernelCase] = []
    c.append(KernelCase("Gelu", domain: ms) { [$0.floats(x, -4...4)] })
    c.append(KernelCase("BiasGelu", domain: ms) { [$0.floats(x, -4...4), $0.floats([8])] })
    c.append(KernelCase("FastGelu", domain: ms) { [$0.floats(x, -4...4), $0.floats([8])] })
    c.append(KernelCase("FastGelu", domain: ms, detail: "no bias") { [$0.floats(x, -4...4)] })
    c.append(KernelCase("QuickGelu", domain: ms) { [$0.floats(x, -6...6)] })
    c.append(KernelCase("QuickGelu", ["alpha": .float(1)], domain: ms) { [$0.floats(x, -6...6)] })
    c.append(KernelCase("SkipLayerNormalization", ["epsilon": .float(1e-5)], domain: ms, detail: "beta, bias, all outputs", outputs: 4) { r in
        [r.floats(x), r.floats(x), r.floats([8]), r.floats([8]), r.floats([8])]
    })
    c.append(KernelCase("SkipLayerNormalization", domain: ms, detail: "no beta") { r in [r.floats(x), r.floats(x), r.floats([8])] })
    c.append(KernelCase("SkipSimplifiedLayerNormalization", domain: ms) { r in [r.floats(x), r.floats(x), r.floats([8]), r.floats([8])] })
    c.append(KernelCase("SimplifiedLayerNormalization", ["epsilon": .float(1e-6), "axis": .int(-1)]) { r in [r.floats(x), r.floats([8])] })
    c.append(KernelCase("EmbedLayerNormalization", domain: ms, detail: "segments and mask", outputs: 3) { r in
        [r.int32s([2, 5], 0...9), r.int32s([2, 5], 0...1), r.floats([10, 8]), r.floats([6, 8]), r.floats([2, 8]), r.floats([8]), r.floats([8]),
         r.flags([2, 5])]
    })
    c.append(KernelCase("EmbedLayerNormalization", domain: ms, detail: "no segments, no mask", outputs: 3) { r in
        [r.int32s([2, 5], 0...9), nil, r.floats([10, 8]), r.floats([6, 8]), nil, r.floats([8]), r.floats([8])]
    })
    c.append(KernelCase("FusedMatMul", ["transA": .int(1), "transB": .int(1), "alpha": .float(0.5)], domain: ms) { r in
        [r.floats([2, 3, 4]), r.floats([5, 3])]
    })
    c.append(KernelCase("FusedMatMul", domain: ms) { r in [r.floats([2, 4, 3]), r.floats([2, 3, 5])] })
    let heads: [String: Attribute] = ["num_heads": .int(3)]
    c.append(KernelCase("Attention", heads, domain: ms, detail: "[B, T] mask", outputs: 1) { r in
        [r.floats([2, 4, 12]), r.floats([12, 36], -0.5...0.5), r.floats([36]), r.flags([2, 4])]
    })
    c.append(KernelCase("Attention", heads.merging(["unidirectional": .int(1)]) { $1 }, domain: ms, detail: "[B] ends", outputs: 1) { r in
        [r.floats([2, 4, 12]), r.floats([12, 36], -0.5...0.5), r.floats([36]), r.int32s([2], 1...4)]
    })
    c.append(KernelCase("Attention", heads.merging(["mask_filter_value": .float(-1e4)]) { $1 }, domain: ms, detail: "[2B] ends, starts", outputs: 1) { r in
        [r.floats([2, 4, 12]), r.floats([12, 36], -0.5...0.5), nil, Tensor(shape: [4], scalars: [3, 4, 0, 1] as [Int32])]
    })
    c.append(KernelCase("Attention", heads.merging(["qkv_hidden_sizes": .ints([12, 12, 6]), "scale": .float(0.3)]) { $1 }, domain: ms,
                        detail: "[B, S, T] mask, narrower V", outputs: 1) { r in
        [r.floats([2, 4, 12]), r.floats([12, 30], -0.5...0.5), r.floats([30]), r.flags([2, 4, 4])]
    })
    c.append(KernelCase("MultiHeadAttention", heads, domain: ms, detail: "bias, key padding mask", outputs: 1) { r in
        [r.floats([2, 4, 12]), r.floats([2, 5, 12]), r.floats([2, 5, 12]), r.floats([36]), r.flags([2, 5])]
    })
    c.append(KernelCase("RotaryEmbedding", ["num_heads": .int(2)], domain: ms, detail: "position ids") { r in
        [r.floats([2, 3, 8]), r.ints([2, 3], 0...5), r.floats([6, 2]), r.floats([6, 2])]
    })
    c.append(KernelCase("RotaryEmbedding", ["interleaved": .int(1)], domain: ms, detail: "start offset, heads from the cache") { r in
        [r.floats([2, 3, 8]), Tensor(shape: [1], scalars: [2] as [Int64]), r.floats([6, 2]), r.floats([6, 2])]
    })
    return c
}()

private let quantizedCases: [KernelCase] = {
    var c: [KernelCase] = []
    c.append(KernelCase("DynamicQuantizeLinear", outputs: 3) { [$0.floats([3, 7], -3...5)] })
    c.append(KernelCase("DynamicQuantizeLinear", detail: "all positive", outputs: 3) { [$0.floats([3, 7], 0.5...5)] })
    c.append(KernelCase("DynamicQuantizeLinear", detail: "all zero", outputs: 3) { _ in [Tensor(shape: [4], scalars: [Float](repeating: 0, count: 4))] })
    c.append(KernelCase("MatMulIntegerToFloat", domain: ms) { r in
        [r.bytes([3, 8]), r.signedBytes([8, 5]), scalar(0.02), r.floats([5], 0.01...0.05), byte(120),
         Tensor(shape: [5], scalars: [1, -2, 0, 3, -1] as [Int8]), r.floats([5])]
    })
    c.append(KernelCase("DynamicQuantizeMatMul", domain: ms) { r in
        [r.floats([3, 8], -3...3), r.signedBytes([8, 5]), r.floats([5], 0.01...0.05), Tensor(shape: [5], scalars: [0, 1, -1, 2, 0] as [Int8]), r.floats([5])]
    })
    c.append(KernelCase("QAttention", ["num_heads": .int(3)], domain: ms) { r in
        [r.bytes([2, 4, 12]), r.signedBytes([12, 36]), r.floats([36]), scalar(0.01), scalar(0.005), r.flags([2, 4]), byte(128),
         Tensor(scalar: Int8(0))]
    })
    c.append(KernelCase("QEmbedLayerNormalization", domain: ms, outputs: 3) { r in
        [r.int32s([2, 5], 0...9), r.int32s([2, 5], 0...1), r.bytes([10, 8]), r.bytes([6, 8]), r.bytes([2, 8]), r.bytes([8]), r.bytes([8]),
         r.flags([2, 5])] + (0..<5).map { _ in scalar(0.01) } + (0..<5).map { _ in byte(128) }
    })
    // requantized results: one step apart where the device rounds a float32 value the CPU computes in double
    let qx = [2, 3, 4, 4]
    c.append(KernelCase("QLinearAdd", domain: ms) { r in
        [r.bytes(qx), scalar(0.02), byte(100), r.bytes([4]), scalar(0.03), byte(128), scalar(0.05), byte(90)]
    })
    c.append(KernelCase("QLinearMul", domain: ms) { r in
        [r.bytes(qx), scalar(0.02), byte(100), r.bytes(qx), scalar(0.03), byte(128), scalar(0.1), byte(10)]
    })
    c.append(KernelCase("QLinearSigmoid", domain: ms) { r in [r.bytes(qx), scalar(0.05), byte(128), scalar(1.0 / 256), byte(0)] })
    c.append(KernelCase("QLinearLeakyRelu", ["alpha": .float(0.1)], domain: ms) { r in [r.bytes(qx), scalar(0.05), byte(128), scalar(0.04), byte(20)] })
    c.append(KernelCase("QLinearGlobalAveragePool", domain: ms) { r in [r.bytes(qx), scalar(0.05), byte(128), scalar(0.02), byte(120)] })
    c.append(KernelCase("QLinearAveragePool", ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])], domain: ms) { r in
        [r.bytes(qx), scalar(0.05), byte(128), scalar(0.02), byte(120)]
    })
    c.append(KernelCase("QLinearConcat", ["axis": .int(1)], domain: ms) { r in
        [scalar(0.05), byte(128), r.bytes(qx), scalar(0.04), byte(120), r.bytes([2, 1, 4, 4]), scalar(0.06), byte(130)]
    })
    c.append(KernelCase("QGemm", ["transB": .int(1)], domain: ms, detail: "per-column B, quantized Y") { r in
        [r.bytes([3, 8]), scalar(0.02), byte(120), r.signedBytes([5, 8]), r.floats([5], 0.01...0.03), Tensor(shape: [5], scalars: [Int8](repeating: 0, count: 5)),
         r.int32s([5], -500...500), scalar(0.1), byte(128)]
    })
    c.append(KernelCase("QGemm", domain: ms, detail: "float Y") { r in
        [r.bytes([3, 8]), scalar(0.02), byte(120), r.signedBytes([8, 5]), scalar(0.02), Tensor(scalar: Int8(0))]
    })
    return c
}()

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: floatCases)
func vulkanContribOpMatchesCPU(_ kc: KernelCase) throws { try checkAgainstCPU(kc) }

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: quantizedCases)
func vulkanQuantizedContribOpMatchesCPU(_ kc: KernelCase) throws {
    try checkAgainstCPU(kc, integerSlack: kc.op.hasPrefix("QLinear") || kc.op == "QGemm" ? 1 : 0)
}

/// Nodes both backends refuse (`ContribAttributes`): past, do_rotary, QKV sizes that do not fit,
/// an unknown mask_index shape, transBatch, 4-D MultiHeadAttention query, a rotary scale, and
/// MatMulNBits' bits, scales and zero points that do not fit.
private let refusedCases: [KernelCase] = {
    let heads: [String: Attribute] = ["num_heads": .int(3)]
    let qkv: @Sendable (inout SplitMix) -> [Tensor?] = { r in [r.floats([2, 4, 12]), r.floats([12, 36]), r.floats([36])] }
    var c: [KernelCase] = []
    c.append(KernelCase("Attention", heads.merging(["do_rotary": .int(1)]) { $1 }, domain: ms, outputs: 1, qkv))
    c.append(KernelCase("Attention", heads, domain: ms, detail: "past", outputs: 1) { r in qkv(&r) + [nil, r.floats([2, 2, 3, 1, 4])] })
    c.append(KernelCase("Attention", heads.merging(["qkv_hidden_sizes": .ints([12, 9, 15])]) { $1 }, domain: ms, outputs: 1, qkv))
    c.append(KernelCase("Attention", heads, domain: ms, detail: "[3] mask_index", outputs: 1) { r in
        qkv(&r) + [Tensor(shape: [3], scalars: [1, 2, 3] as [Int32])]
    })
    c.append(KernelCase("FusedMatMul", ["transBatchA": .int(1)], domain: ms) { r in [r.floats([2, 4, 3]), r.floats([2, 3, 5])] })
    c.append(KernelCase("MultiHeadAttention", heads, domain: ms, detail: "4-D query", outputs: 1) { r in
        [r.floats([2, 3, 4, 4]), r.floats([2, 5, 12]), r.floats([2, 5, 12])]
    })
    c.append(KernelCase("RotaryEmbedding", ["scale": .float(2)], domain: ms) { r in
        [r.floats([2, 3, 8]), r.ints([2, 3], 0...5), r.floats([6, 2]), r.floats([6, 2])]
    })
    let nBits: [String: Attribute] = ["K": .int(32), "N": .int(4), "bits": .int(4), "block_size": .int(16)]
    c.append(KernelCase("MatMulNBits", nBits.merging(["bits": .int(3)]) { $1 }, domain: ms) { r in
        [r.floats([2, 32]), r.bytes([4, 2, 8]), r.floats([8])]
    })
    c.append(KernelCase("MatMulNBits", nBits, domain: ms, detail: "4 scales") { r in [r.floats([2, 32]), r.bytes([4, 2, 8]), r.floats([4])] })
    c.append(KernelCase("MatMulNBits", nBits, domain: ms, detail: "3 zero points") { r in
        [r.floats([2, 32]), r.bytes([4, 2, 8]), r.floats([8]), r.floats([3])]
    })
    return c
}()

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: refusedCases)
func vulkanContribOpRefusesWhatTheCPURefuses(_ kc: KernelCase) throws {
    let device = try #require(TestVulkan.device)
    var rng = SplitMix(state: 7)
    let inputs = kc.inputs(&rng)
    let node = Node(name: kc.op, opType: kc.op, domain: kc.domain, inputs: inputs.indices.map { inputs[$0] == nil ? "" : "in\($0)" },
                    outputs: (0..<(kc.outputs ?? 1)).map { "out\($0)" }, attributes: kc.attributes)
    let cpu = try #require(opTable[kc.domain]?[kc.op]).cpu
    let cpuError = #expect(throws: VonnxError.self) {
        try cpu(KernelContext(node: node, inputs: inputs, opset: kc.opset, pool: ThreadPool(threads: 1)))
    }
    let vulkanError = #expect(throws: VonnxError.self) { try VulkanKernels.run(node, inputs: inputs, opset: kc.opset, device: device) }
    #expect(vulkanError.map { "\($0)" } == cpuError.map { "\($0)" })
    #expect(device.takeValidationMessages().isEmpty)
}
