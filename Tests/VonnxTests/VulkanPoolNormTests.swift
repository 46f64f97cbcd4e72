import Testing
import VonnxIR
import VonnxVulkan

// MaxPool's Indices output and integer MaxPool, and LpNormalization, on the device against
// the CPU kernels.

/// Values rounded to halves, so that windows hold ties (the first greatest wins).
private func ties(_ r: inout SplitMix, _ shape: [Int]) -> Tensor {
    Tensor(shape: shape, scalars: r.floats(shape).scalars(as: Float.self).map { ($0 * 2).rounded() / 2 })
}

private func withIndices(_ attributes: [String: Attribute], detail: String,
                         _ inputs: @escaping @Sendable (inout SplitMix) -> [Tensor?]) -> KernelCase {
    var c = KernelCase("MaxPool", attributes, detail: detail, inputs)
    c.outputs = 2
    return c
}

/// MaxPool with Indices in 1-D to 3-D, row- and column-major (storage_order 1), pads,
/// strides, dilations and ceil_mode, ties; MaxPool of uint8 and int32.
private let maxPoolCases: [KernelCase] = [
    withIndices(["kernel_shape": .ints([3, 3]), "pads": .ints([1, 1, 1, 1])], detail: "2-D, pads, ties") { r in [ties(&r, [2, 3, 6, 5])] },
    withIndices(["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "storage_order": .int(1)], detail: "2-D column-major") { r in
        [r.floats([2, 2, 6, 7])]
    },
    withIndices(["kernel_shape": .ints([2, 2, 2]), "dilations": .ints([1, 2, 1]), "storage_order": .int(1), "ceil_mode": .int(1)],
                detail: "3-D column-major, dilations, ceil_mode") { r in [ties(&r, [1, 2, 4, 5, 3])] },
    withIndices(["kernel_shape": .ints([3]), "strides": .ints([2])], detail: "1-D") { r in [r.floats([2, 3, 9])] },
    KernelCase("MaxPool", ["kernel_shape": .ints([3, 3]), "pads": .ints([1, 1, 1, 1])], detail: "uint8") { r in
        [Tensor(shape: [1, 2, 5, 5], scalars: (0..<50).map { _ in UInt8.random(in: 0...255, using: &r) })]
    },
    withIndices(["kernel_shape": .ints([2, 3])], detail: "int32, indices") { r in [r.int32s([2, 1, 4, 6], -5...5)] },
]

/// LpNormalization with p 1 and 2 along the first, a middle and the last axis, with a line
/// of zeros (normalized to zeros).
private let lpNormalizationCases: [KernelCase] = {
    @Sendable func zeroLine(_ r: inout SplitMix, _ shape: [Int]) -> Tensor {
        var v = r.floats(shape).scalars(as: Float.self)
        for i in 0..<shape[shape.count - 1] { v[i] = 0 }
        return Tensor(shape: shape, scalars: v)
    }
    return [
        KernelCase("LpNormalization", detail: "p 2, last axis, zero line") { r in [zeroLine(&r, [3, 4, 7])] },
        KernelCase("LpNormalization", ["p": .int(1), "axis": .int(1)], detail: "p 1, middle axis") { r in [r.floats([2, 5, 3])] },
        KernelCase("LpNormalization", ["p": .int(2), "axis": .int(0)], detail: "p 2, first axis") { r in [r.floats([6, 4])] },
        KernelCase("LpNormalization", ["p": .int(1), "axis": .int(-1)], detail: "p 1, 1-D") { r in [r.floats([9], -1000...1000)] },
    ]
}()

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: maxPoolCases + lpNormalizationCases)
func vulkanMaxPoolAndLpNormalizationMatchCPU(_ kc: KernelCase) throws { try checkAgainstCPU(kc) }
