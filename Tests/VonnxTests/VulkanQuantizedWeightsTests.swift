import Testing
import VonnxIR
import VonnxVulkan

// MatMulNBits and DynamicQuantizeLSTM on the device against the CPU kernels on fresh random
// inputs, each case twice: with the quantized weights as the node's weights (dequantized once,
// as in a partition) and as plain inputs (dequantized in the recording).

private extension SplitMix {
    mutating func bytes(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in UInt8.random(in: 0...255, using: &self) })
    }
    mutating func signedBytes(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Int8.random(in: -128...127, using: &self) })
    }
}

private let ms = "com.microsoft"

/// MatMulNBits' zero points: packed `bits`-bit codes in uint8, one float per block, or none.
private enum ZeroPoints: String { case packed, float, none }

/// A MatMulNBits case: A `rows` × K (with `batch` in front when given), N columns, random codes,
/// scales, zero points and, with `bias`, a bias.
private func nbits(bits: Int, block: Int, k: Int, n: Int, zeros: ZeroPoints, bias: Bool, batch: [Int] = []) -> KernelCase {
    let blocks = (k + block - 1) / block, blob = block * bits / 8, zeroRow = (blocks * bits + 7) / 8
    let attributes: [String: Attribute] = ["K": .int(k), "N": .int(n), "bits": .int(bits), "block_size": .int(block)]
    return KernelCase("MatMulNBits", attributes, domain: ms, detail: "bits \(bits) block \(block) K \(k) zeros \(zeros.rawValue) bias \(bias)") { r in
        var inputs: [Tensor?] = [r.floats(batch + [3, k], -1...1), r.bytes([n, blocks, blob]), r.floats([n * blocks], 0.001...0.02)]
        switch zeros {
        case .packed: inputs.append(r.bytes([n * zeroRow]))
        case .float: inputs.append(r.floats([n * blocks], 0...Float((1 << bits) - 1)))
        case .none: inputs.append(nil)
        }
        if bias { inputs += [nil, r.floats([n])] }
        return inputs
    }
}

private let matMulNBitsCases: [KernelCase] = [
    nbits(bits: 4, block: 16, k: 40, n: 5, zeros: .packed, bias: true),
    nbits(bits: 4, block: 16, k: 48, n: 3, zeros: .none, bias: false),
    nbits(bits: 4, block: 32, k: 80, n: 6, zeros: .packed, bias: false, batch: [2]),
    nbits(bits: 4, block: 32, k: 75, n: 4, zeros: .float, bias: true),
    nbits(bits: 4, block: 128, k: 300, n: 4, zeros: .packed, bias: true),
    nbits(bits: 4, block: 128, k: 130, n: 5, zeros: .none, bias: true),
    nbits(bits: 2, block: 16, k: 50, n: 3, zeros: .packed, bias: false),
    nbits(bits: 8, block: 16, k: 20, n: 4, zeros: .float, bias: false),
]

/// A DynamicQuantizeLSTM case over X [4, 2, 3] with hidden size 5: int8 (or uint8) weights
/// quantized per direction or per direction and column, with or without initial states.
private func quantizedLSTM(_ direction: String, perColumn: Bool, states: Bool, unsigned: Bool = false) -> KernelCase {
    let d = direction == "bidirectional" ? 2 : 1, (input, hidden) = (3, 5), gates = 4 * hidden
    let attributes: [String: Attribute] = ["direction": .string(Array(direction.utf8)), "hidden_size": .int(hidden)]
    return KernelCase("DynamicQuantizeLSTM", attributes, domain: ms,
                      detail: "\(perColumn ? "per column" : "per direction")\(states ? ", initial states" : "")\(unsigned ? ", uint8" : "")",
                      outputs: 3) { r in
        func quantized(_ shape: [Int]) -> Tensor { unsigned ? r.bytes(shape) : r.signedBytes(shape) }
        func zeroPoints(_ shape: [Int]) -> Tensor {
            unsigned ? Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in UInt8.random(in: 120...136, using: &r) })
                     : Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Int8.random(in: -8...8, using: &r) })
        }
        let parameters = perColumn ? [d, gates] : [d]
        let state = [d, 2, hidden]
        return [r.floats([4, 2, input]), quantized([d, input, gates]), quantized([d, hidden, gates]), r.floats([d, 8 * hidden], -0.5...0.5), nil,
                states ? r.floats(state, -1...1) : nil, states ? r.floats(state, -1...1) : nil, nil,
                r.floats(parameters, 0.002...0.01), zeroPoints(parameters), r.floats(parameters, 0.002...0.01), zeroPoints(parameters)]
    }
}

private let dynamicQuantizeLSTMCases: [KernelCase] = [
    quantizedLSTM("forward", perColumn: false, states: true),
    quantizedLSTM("forward", perColumn: true, states: false, unsigned: true),
    quantizedLSTM("reverse", perColumn: true, states: false),
    quantizedLSTM("reverse", perColumn: false, states: true),
    quantizedLSTM("bidirectional", perColumn: true, states: true),
    quantizedLSTM("bidirectional", perColumn: false, states: false),
]

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: matMulNBitsCases, [false, true])
func vulkanMatMulNBitsMatchesCPU(_ kc: KernelCase, prepared: Bool) throws {
    try checkAgainstCPU(kc, weights: prepared ? [1, 2, 3] : [])
}

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: dynamicQuantizeLSTMCases, [false, true])
func vulkanDynamicQuantizeLSTMMatchesCPU(_ kc: KernelCase, prepared: Bool) throws {
    try checkAgainstCPU(kc, weights: prepared ? [1, 2, 8, 9, 10, 11] : [])
}

/// What the CPU refuses (g_idx), the device refuses too, naming the node and the input.
@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason))
func vulkanMatMulNBitsRefusesGroupIndices() throws {
    let device = try #require(TestVulkan.device)
    var r = SplitMix(state: 1)
    let inputs: [Tensor?] = [r.floats([2, 32]), r.bytes([3, 1, 16]), r.floats([3]), nil, Tensor(shape: [32], scalars: [Int32](repeating: 0, count: 32))]
    let node = Node(name: "mm4", opType: "MatMulNBits", domain: ms, inputs: ["a", "b", "s", "", "g"], outputs: ["y"],
                    attributes: ["K": .int(32), "N": .int(3), "bits": .int(4), "block_size": .int(32)])
    #expect { try VulkanKernels.run(node, inputs: inputs, opset: 18, device: device) } throws: { "\($0)".contains("mm4") && "\($0)".contains("g_idx") }
}
