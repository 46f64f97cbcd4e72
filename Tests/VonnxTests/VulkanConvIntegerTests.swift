import Testing
import VonnxIR
import VonnxVulkan

// ConvInteger and QLinearConv on the device against the CPU kernels.

private func u8(_ r: inout SplitMix, _ shape: [Int], _ range: ClosedRange<UInt8> = 0...255) -> Tensor {
    Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in UInt8.random(in: range, using: &r) })
}
private func i8(_ r: inout SplitMix, _ shape: [Int], _ range: ClosedRange<Int8> = -128...127) -> Tensor {
    Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Int8.random(in: range, using: &r) })
}
private func scale(_ v: [Float]) -> Tensor { Tensor(shape: v.count == 1 ? [] : [v.count], scalars: v) }

/// ConvInteger with and without zero points (one per output channel), pads, strides,
/// dilations, groups, 1-D; QLinearConv to uint8 and int8 (saturating), per-channel w scales,
/// a bias, no output zero point.
private let convIntegerCases: [KernelCase] = [
    KernelCase("ConvInteger", ["pads": .ints([1, 1, 1, 1])], opset: 10, detail: "uint8, zero points per channel") { r in
        [u8(&r, [2, 3, 5, 6]), u8(&r, [4, 3, 3, 3]), u8(&r, [1]), u8(&r, [4])]
    },
    KernelCase("ConvInteger", ["strides": .ints([2, 1]), "dilations": .ints([1, 2]), "group": .int(2)], opset: 10, detail: "int8, groups") { r in
        [i8(&r, [1, 4, 7, 7]), i8(&r, [6, 2, 2, 3]), i8(&r, [1])]
    },
    KernelCase("ConvInteger", ["pads": .ints([2, 0])], opset: 10, detail: "1-D, no zero points") { r in [u8(&r, [2, 2, 9]), i8(&r, [3, 2, 4])] },
    KernelCase("QLinearConv", ["pads": .ints([1, 1, 1, 1])], opset: 10, detail: "uint8, bias, per-channel w scale") { r in
        [u8(&r, [1, 3, 6, 5]), scale([0.02]), u8(&r, [1]), u8(&r, [4, 3, 3, 3]), scale([0.01, 0.02, 0.005, 0.03]), u8(&r, [4]),
         scale([0.5]), u8(&r, [1], 100...140), Tensor(shape: [4], scalars: (0..<4).map { _ in Int32.random(in: -5000...5000, using: &r) })]
    },
    KernelCase("QLinearConv", ["strides": .ints([2, 2]), "group": .int(3)], opset: 10, detail: "int8, saturating, groups") { r in
        [i8(&r, [2, 3, 7, 6]), scale([0.1]), i8(&r, [1]), i8(&r, [6, 1, 3, 2]), scale([0.1]), i8(&r, [1]), scale([0.3]), i8(&r, [1])]
    },
    KernelCase("QLinearConv", opset: 10, detail: "no output zero point") { r in
        [u8(&r, [1, 2, 4, 4]), scale([0.05]), u8(&r, [1]), u8(&r, [2, 2, 1, 1]), scale([0.05]), u8(&r, [1]), scale([0.2])]
    },
]

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: convIntegerCases)
func vulkanConvIntegerMatchesCPU(_ kc: KernelCase) throws { try checkAgainstCPU(kc) }
