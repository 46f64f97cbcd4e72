import Testing
@testable import Vonnx
import VonnxCPU
import VonnxIR
@testable import VonnxVulkan

// The integer products' variants (integerGemm: dot4x8, widened), each forced, against the CPU
// kernels bit for bit on fresh random inputs: int8 and uint8 on either side, zero points none,
// scalar and per row / column / channel, k no multiple of 4, odd sizes, broadcast batches,
// convolutions with pads, strides, dilations and groups; each case once with every input
// recorded and once with B (or w) a weight, which dot4x8 packs once.

private func u8(_ r: inout SplitMix, _ shape: [Int], _ range: ClosedRange<UInt8> = 0...255) -> Tensor {
    Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in UInt8.random(in: range, using: &r) })
}
private func i8(_ r: inout SplitMix, _ shape: [Int], _ range: ClosedRange<Int8> = -128...127) -> Tensor {
    Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Int8.random(in: range, using: &r) })
}
private func scale(_ v: [Float]) -> Tensor { Tensor(shape: v.count == 1 ? [] : [v.count], scalars: v) }
private func bias(_ r: inout SplitMix, _ m: Int) -> Tensor {
    Tensor(shape: [m], scalars: (0..<m).map { _ in Int32.random(in: -20000...20000, using: &r) })
}

/// A case and the input that is a weight in its second run.
struct IntegerDotCase: CustomTestStringConvertible, Sendable {
    let kernel: KernelCase
    let weight: Int
    var testDescription: String { kernel.testDescription }
}

private let matMulCases: [IntegerDotCase] = [
    IntegerDotCase(kernel: KernelCase("MatMulInteger", detail: "uint8 × int8, k 7, zero points per row and per column") { r in
        [u8(&r, [5, 7]), i8(&r, [7, 3]), u8(&r, [5]), i8(&r, [3])]
    }, weight: 1),
    IntegerDotCase(kernel: KernelCase("MatMulInteger", detail: "int8 × uint8, k 13, scalar zero points") { r in
        [i8(&r, [3, 13]), u8(&r, [13, 9]), i8(&r, [1]), u8(&r, [1])]
    }, weight: 1),
    IntegerDotCase(kernel: KernelCase("MatMulInteger", detail: "int8 × int8, broadcast batch, A's zero point only") { r in
        [i8(&r, [2, 1, 3, 6]), i8(&r, [3, 6, 5]), Tensor(scalar: Int8(-3))]
    }, weight: 1),
    IntegerDotCase(kernel: KernelCase("MatMulInteger", detail: "1-D A, uint8 × uint8, no zero points") { r in
        [u8(&r, [10]), u8(&r, [2, 10, 3])]
    }, weight: 1),
    IntegerDotCase(kernel: KernelCase("MatMulInteger", detail: "int8 × uint8, 17 × 70 × 33, zero points per row and column") { r in
        [i8(&r, [17, 70]), u8(&r, [70, 33]), i8(&r, [17]), u8(&r, [33])]
    }, weight: 1),
    IntegerDotCase(kernel: KernelCase("QLinearMatMul", detail: "uint8, k 9") { r in
        [u8(&r, [7, 9]), scale([0.02]), u8(&r, [1], 100...140), u8(&r, [9, 5]), scale([0.03]), u8(&r, [1], 90...130),
         scale([0.05]), u8(&r, [1], 110...140)]
    }, weight: 3),
    IntegerDotCase(kernel: KernelCase("QLinearMatMul", detail: "int8 batch, k 11, saturating") { r in
        [i8(&r, [2, 3, 11]), scale([0.1]), i8(&r, [1]), i8(&r, [11, 4]), scale([0.07]), i8(&r, [1]), scale([0.5]), i8(&r, [1])]
    }, weight: 3),
    // 15 · 0.033333335 (= 0.1f · 0.1f / 0.3f) is 0.500000026, which float32 rounds to the tie 0.5
    IntegerDotCase(kernel: KernelCase("QLinearMatMul", detail: "int8, products float32 rounds to a tie") { _ in
        let zero = Tensor(shape: [1], scalars: [Int8(0)])
        return [Tensor(shape: [2, 1], scalars: [Int8(3), -3]), scale([0.1]), zero, Tensor(shape: [1, 2], scalars: [Int8(5), 15]),
                scale([0.1]), zero, scale([0.3]), zero]
    }, weight: 3),
]

private let convCases: [IntegerDotCase] = [
    IntegerDotCase(kernel: KernelCase("ConvInteger", ["pads": .ints([1, 1, 1, 1])], opset: 10, detail: "uint8, k 27, zero points per channel") { r in
        [u8(&r, [2, 3, 5, 6]), u8(&r, [5, 3, 3, 3]), u8(&r, [1]), u8(&r, [5])]
    }, weight: 1),
    IntegerDotCase(kernel: KernelCase("ConvInteger", ["pads": .ints([0, 2, 1, 0])], opset: 10, detail: "int8 x, uint8 w, asymmetric pads") { r in
        [i8(&r, [1, 3, 6, 5]), u8(&r, [4, 3, 2, 3]), i8(&r, [1]), u8(&r, [1])]
    }, weight: 1),
    IntegerDotCase(kernel: KernelCase("ConvInteger", ["strides": .ints([2, 1]), "dilations": .ints([1, 2]), "group": .int(2)], opset: 10,
                                   detail: "int8, groups, strides, dilations") { r in
        [i8(&r, [1, 4, 7, 7]), i8(&r, [6, 2, 2, 3]), i8(&r, [1]), i8(&r, [6])]
    }, weight: 1),
    IntegerDotCase(kernel: KernelCase("ConvInteger", ["pads": .ints([2, 1])], opset: 10, detail: "1-D, uint8 x, int8 w, no zero points") { r in
        [u8(&r, [2, 2, 9]), i8(&r, [3, 2, 4])]
    }, weight: 1),
    IntegerDotCase(kernel: KernelCase("QLinearConv", ["pads": .ints([1, 1, 1, 1])], opset: 10, detail: "uint8, bias, per-channel w scale") { r in
        [u8(&r, [1, 3, 6, 5]), scale([0.02]), u8(&r, [1]), u8(&r, [4, 3, 3, 3]), scale([0.01, 0.02, 0.005, 0.03]), u8(&r, [4]),
         scale([0.5]), u8(&r, [1], 100...140), bias(&r, 4)]
    }, weight: 3),
    IntegerDotCase(kernel: KernelCase("QLinearConv", ["strides": .ints([2, 2]), "group": .int(3), "pads": .ints([1, 0, 1, 1])], opset: 10,
                                   detail: "int8, saturating, groups") { r in
        [i8(&r, [2, 3, 7, 6]), scale([0.1]), i8(&r, [1]), i8(&r, [6, 1, 3, 2]), scale([0.1]), i8(&r, [1]), scale([0.3]), i8(&r, [1])]
    }, weight: 3),
]

/// Runs `c` on the device forcing `spec`, with and without its weight, against the CPU kernel bit for bit.
private func checkVariant(_ spec: String, _ c: IntegerDotCase) throws {
    let device = try TestVulkan.device(forcing: spec)
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    let inputs = c.kernel.inputs(&rng)
    let node = Node(name: c.kernel.op, opType: c.kernel.op, inputs: inputs.indices.map { inputs[$0] == nil ? "" : "in\($0)" },
                    outputs: ["out0"], attributes: c.kernel.attributes)
    let cpu = try #require(opTable[""]?[c.kernel.op]).cpu
    let want = try cpu(KernelContext(node: node, inputs: inputs, opset: c.kernel.opset, pool: ThreadPool(threads: 1)))[0]
    for weights in [[], [c.weight]] as [Set<Int>] {
        let got = try VulkanKernels.run(node, inputs: inputs, opset: c.kernel.opset, device: device, weights: weights)[0]
        let messages = device.takeValidationMessages()
        let what = "\(spec) \(c.testDescription) weights \(weights.sorted()) seed \(seed)"
        #expect(messages.isEmpty, "\(what): validation: \(messages.joined(separator: "\n"))")
        #expect(got.dataType == want.dataType && got.shape == want.shape, "\(what): \(got) vs CPU \(want)")
        let g = got.ints(), w = want.ints(), bad = g.indices.filter { g[$0] != w[$0] }
        #expect(g.count == w.count && bad.isEmpty, "\(what): \(bad.count) differ, \(bad.prefix(4).map { "[\($0)] \(g[$0]) vs \(w[$0])" })")
    }
}

/// Whether the test device offers packed dot products (lavapipe does), so that forcing dot4x8 takes it.
private let offersIntegerDot = TestVulkan.device?.properties.integerDotProduct == true

@Test(.enabled(if: offersIntegerDot, "needs a Vulkan device with packed 8-bit dot products"), arguments: matMulCases + convCases)
func integerDotProductMatchesCPU(_ c: IntegerDotCase) throws { try checkVariant("integerGemm=dot4x8", c) }

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: matMulCases + convCases)
func widenedIntegerProductMatchesCPU(_ c: IntegerDotCase) throws { try checkVariant("integerGemm=widened", c) }
