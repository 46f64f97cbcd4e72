import Testing
import VonnxIR
import VonnxVulkan

// TopK, Unique, RotaryEmbedding, GridSample, pooling and Mean on the device against the CPU kernels.

private func i64(_ v: [Int]) -> Tensor { Tensor(shape: [v.count], scalars: v.map(Int64.init)) }

/// TopK: largest and smallest, ties (values rounded to halves), axes first, middle and last,
/// integer and unsigned types, k = 0 and k = n.
private let topKCases: [KernelCase] = {
    @Sendable func ties(_ r: inout SplitMix, _ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: r.floats(shape, -2...2).scalars(as: Float.self).map { ($0 * 2).rounded() / 2 })
    }
    return [
        KernelCase("TopK", opset: 11, detail: "last axis, ties") { r in [ties(&r, [3, 4, 9]), i64([4])] },
        KernelCase("TopK", ["axis": .int(1), "largest": .int(0)], opset: 11, detail: "smallest, middle axis") { r in [ties(&r, [3, 7, 5]), i64([3])] },
        KernelCase("TopK", ["axis": .int(0)], opset: 11, detail: "int64, all of the axis") { r in [r.ints([6, 4], -3...3), i64([6])] },
        KernelCase("TopK", opset: 11, detail: "uint32, k 0") { r in [Tensor(shape: [2, 5], scalars: (0..<10).map { _ in UInt32.random(in: 0...9, using: &r) }), i64([0])] },
        KernelCase("TopK", ["k": .int(2)], opset: 1, detail: "k attribute") { r in [r.floats([4, 6])] },
    ]
}()

/// Unique: flattened and along the first, a middle, the last and a negative axis (items of
/// 0s and 1s, so whole slices repeat), sorted and in order of first occurrence, one item and
/// none; float with ties, int64, int32, uint8, float16, bool and float64 elements.
private let uniqueCases: [KernelCase] = {
    @Sendable func halves(_ r: inout SplitMix, _ shape: [Int]) -> [Float] {
        r.floats(shape, -2...2).scalars(as: Float.self).map { ($0 * 2).rounded() / 2 }
    }
    func unique(_ attributes: [String: Attribute], _ detail: String, _ x: @escaping @Sendable (inout SplitMix) -> Tensor) -> KernelCase {
        KernelCase("Unique", attributes, opset: 11, detail: detail, outputs: 4) { r in [x(&r)] }
    }
    let unsorted: [String: Attribute] = ["sorted": .int(0)]
    return [
        unique([:], "flattened, float ties") { r in Tensor(shape: [3, 7], scalars: halves(&r, [3, 7])) },
        unique(unsorted, "flattened, unsorted") { r in Tensor(shape: [5, 5], scalars: halves(&r, [5, 5])) },
        unique(["axis": .int(0)], "rows, int64") { r in r.ints([9, 2], 0...1) },
        unique(["axis": .int(1), "sorted": .int(0)], "middle axis, unsorted, int32") { r in r.int32s([2, 11, 2], 0...1) },
        unique(["axis": .int(-1)], "last axis, uint8") { r in
            Tensor(shape: [3, 7], scalars: r.ints([3, 7], 0...1).scalars(as: Int64.self).map { UInt8($0 * 200) })
        },
        unique(["axis": .int(2)], "last of 3-D, float16") { r in Tensor(shape: [2, 2, 9], scalars: halves(&r, [2, 2, 9]).map { Float16($0 / 4) }) },
        unique(unsorted, "bool") { r in r.bools([3, 5]) },
        unique([:], "float64") { r in Tensor(shape: [13], scalars: halves(&r, [13]).map(Double.init)) },
        unique(["axis": .int(0)], "one item") { r in r.floats([1, 3]) },
        unique(["axis": .int(1)], "no items") { _ in Tensor(shape: [2, 0], scalars: [Float]()) },
    ]
}()

/// RotaryEmbedding: 4-D and 3-D inputs, position ids per batch and shared, none, interleaved
/// pairs and a partial rotary dim.
private let rotaryCases: [KernelCase] = {
    let (b, h, s, d) = (2, 3, 4, 8)
    @Sendable func positions(_ r: inout SplitMix, _ count: Int, _ rows: Int) -> Tensor {
        Tensor(shape: count == s ? [s] : [b, s], scalars: (0..<count).map { _ in Int64.random(in: 0..<Int64(rows), using: &r) })
    }
    return [
        KernelCase("RotaryEmbedding", opset: 23, detail: "4-D, position ids") { r in
            [r.floats([b, h, s, d]), r.floats([10, d / 2], -1...1), r.floats([10, d / 2], -1...1), positions(&r, b * s, 10)]
        },
        KernelCase("RotaryEmbedding", ["interleaved": .int(1), "num_heads": .int(h)], opset: 23, detail: "3-D, interleaved, no ids") { r in
            [r.floats([b, s, h * d]), r.floats([b, s, d / 2], -1...1), r.floats([b, s, d / 2], -1...1)]
        },
        KernelCase("RotaryEmbedding", ["rotary_embedding_dim": .int(4)], opset: 23, detail: "partial rotary dim, shared ids") { r in
            [r.floats([b, h, s, d]), r.floats([6, 2], -1...1), r.floats([6, 2], -1...1), positions(&r, s, 6)]
        },
        KernelCase("RotaryEmbedding", ["rotary_embedding_dim": .int(6), "interleaved": .int(1)], opset: 23, detail: "interleaved, partial") { r in
            [r.floats([b, h, s, d]), r.floats([5, 3], -1...1), r.floats([5, 3], -1...1), positions(&r, b * s, 5)]
        },
    ]
}()

/// LpPool in 1-D and 2-D with p 1, 2 and 3, pads, strides, dilations and auto_pad.
private let lpPoolCases: [KernelCase] = [
    KernelCase("LpPool", ["kernel_shape": .ints([3, 2])], detail: "p 2") { [$0.floats([2, 3, 6, 5])] },
    KernelCase("LpPool", ["kernel_shape": .ints([3, 3]), "p": .int(3), "pads": .ints([1, 0, 1, 2]), "strides": .ints([2, 1]),
                          "dilations": .ints([1, 2])], detail: "p 3, pads, strides, dilations") { [$0.floats([1, 2, 7, 6])] },
    KernelCase("LpPool", ["kernel_shape": .ints([2]), "p": .int(1), "auto_pad": .string(Array("SAME_UPPER".utf8))], detail: "1-D, p 1") { [$0.floats([2, 2, 7])] },
]

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: topKCases + rotaryCases + lpPoolCases)
func vulkanOrderingAndPoolingMatchCPU(_ kc: KernelCase) throws { try checkAgainstCPU(kc) }

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: uniqueCases)
func vulkanUniqueMatchesCPU(_ kc: KernelCase) throws { try checkAgainstCPU(kc) }

@Test(.enabled(if: TestVulkan.narrowDevice != nil, TestVulkan.skipReason), arguments: uniqueCases.filter { $0.detail != "float64" })
func vulkanUniqueMatchesCPUInNarrowStorage(_ kc: KernelCase) throws { try checkAgainstCPU(kc, on: TestVulkan.narrowDevice) }

/// GridSample in 1-D to 3-D, every mode and padding, both align_corners, the grid reaching
/// past the input, and a NaN coordinate (not with reflection, where the CPU reflects the
/// −1e9 it reads NaN as in float64: float32 cannot follow that far).
private let gridSampleCases: [KernelCase] = {
    func text(_ s: String) -> Attribute { .string(Array(s.utf8)) }
    @Sendable func grid(_ r: inout SplitMix, _ shape: [Int], nan: Bool = true) -> Tensor {
        let v = r.floats(shape, -1.6...1.6).scalars(as: Float.self)
        return Tensor(shape: shape, scalars: (nan ? [Float.nan] : [v[0]]) + v.dropFirst())
    }
    var c: [KernelCase] = []
    for mode in ["nearest", "linear", "cubic"] {
        for padding in ["zeros", "border", "reflection"] {
            for align in [0, 1] {
                c.append(KernelCase("GridSample", ["mode": text(mode), "padding_mode": text(padding), "align_corners": .int(align)], opset: 22,
                                    detail: "2-D") { r in [r.floats([2, 3, 5, 4]), grid(&r, [2, 6, 3, 2], nan: padding != "reflection")] })
            }
        }
    }
    c.append(KernelCase("GridSample", ["mode": text("linear"), "padding_mode": text("reflection")], opset: 22, detail: "3-D") { r in
        [r.floats([1, 2, 3, 4, 5]), grid(&r, [1, 2, 3, 4, 3], nan: false)]
    })
    c.append(KernelCase("GridSample", ["mode": text("nearest"), "align_corners": .int(1)], opset: 22, detail: "3-D") { r in
        [r.floats([2, 1, 2, 3, 4]), grid(&r, [2, 3, 2, 2, 3])]
    })
    c.append(KernelCase("GridSample", ["mode": text("cubic"), "padding_mode": text("border")], opset: 22, detail: "1-D") { r in
        [r.floats([2, 2, 6]), grid(&r, [2, 5, 1])]
    })
    return c
}()

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: gridSampleCases)
func vulkanGridSampleMatchesCPU(_ kc: KernelCase) throws { try checkAgainstCPU(kc) }

/// 3-D pooling: max, average (with and without the pads counted, ceil_mode) and Lp.
private let pool3DCases: [KernelCase] = [
    KernelCase("MaxPool", ["kernel_shape": .ints([2, 3, 2]), "strides": .ints([1, 2, 1]), "dilations": .ints([2, 1, 1]),
                           "pads": .ints([1, 0, 1, 0, 1, 1])], detail: "3-D") { [$0.floats([2, 2, 5, 6, 4])] },
    KernelCase("AveragePool", ["kernel_shape": .ints([3, 2, 2]), "strides": .ints([2, 2, 1]), "pads": .ints([1, 1, 0, 1, 0, 1]),
                               "count_include_pad": .int(1), "ceil_mode": .int(1)], detail: "3-D, pads counted, ceil") { [$0.floats([1, 3, 6, 5, 4])] },
    KernelCase("AveragePool", ["kernel_shape": .ints([2, 2, 2]), "auto_pad": .string(Array("SAME_LOWER".utf8))], detail: "3-D, SAME_LOWER") { [$0.floats([2, 1, 3, 4, 5])] },
    KernelCase("LpPool", ["kernel_shape": .ints([2, 2, 2]), "p": .int(2)], detail: "3-D") { [$0.floats([1, 2, 3, 4, 4])] },
]

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: pool3DCases)
func vulkanPool3DMatchesCPU(_ kc: KernelCase) throws { try checkAgainstCPU(kc) }

/// Mean of one, two and three broadcast inputs.
private let meanCases: [KernelCase] = [
    KernelCase("Mean", detail: "one input") { [$0.floats([3, 4])] },
    KernelCase("Mean", detail: "two inputs") { [$0.floats([3, 4]), $0.floats([4])] },
    KernelCase("Mean", detail: "three inputs, broadcast") { [$0.floats([2, 1, 4]), $0.floats([3, 1]), $0.floats([2, 3, 4])] },
]

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: meanCases)
func vulkanMeanMatchesCPU(_ kc: KernelCase) throws { try checkAgainstCPU(kc) }

/// Unique and TopK compare every item of a row with every other: past lavapipe's loop limit the
/// kernels refuse with the node named (a fallback then runs the CPU kernel), as they do on any
/// device past 2³² comparisons, rather than stopping early with wrong results.
@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason))
func pairwiseKernelsRefuseRowsPastTheLoopLimit() throws {
    let device = try #require(TestVulkan.device)
    let long = Tensor(shape: [40_000], scalars: (0..<40_000).map { Float($0 % 7) })
    let cases: [(Node, [Tensor?])] = [
        (Node(name: "u", opType: "Unique", inputs: ["x"], outputs: ["y", "i", "v", "c"]), [long]),
        (Node(name: "t", opType: "TopK", inputs: ["x", "k"], outputs: ["y", "i"]), [long, i64([3])]),
    ]
    for (node, inputs) in cases {
        if device.properties.loopIterationLimit != nil {
            let error = #expect(throws: VonnxError.self) { try VulkanKernels.run(node, inputs: inputs, opset: 11, device: device) }
            #expect(error.map { "\($0)".contains("loop limit") } == true)
        }
        let huge = Tensor(shape: [70_000], scalars: [Float](repeating: 0, count: 70_000))
        #expect(throws: VonnxError.self) { try VulkanKernels.run(node, inputs: [huge] + inputs.dropFirst(), opset: 11, device: device) }
    }
    #expect(device.takeValidationMessages().isEmpty)
}

/// MaxUnpool's window attributes come from the model file: one past Int32 is refused with the
/// node named, as the CPU refuses it, not an overflow trap while the output shape is inferred.
@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason))
func maxUnpoolRefusesWindowValuesPastInt32() throws {
    let device = try #require(TestVulkan.device)
    let x = Tensor(shape: [1, 1, 2], scalars: [Float(1), 2]), i = Tensor(shape: [1, 1, 2], scalars: [Int64(0), 1])
    for attributes: [String: Attribute] in [["kernel_shape": .ints([Int.max])], ["kernel_shape": .ints([2]), "pads": .ints([0, Int.max])]] {
        let node = Node(name: "m", opType: "MaxUnpool", inputs: ["x", "i"], outputs: ["y"], attributes: attributes)
        #expect(throws: VonnxError.self) { try VulkanKernels.run(node, inputs: [x, i], opset: 11, device: device) }
    }
    #expect(device.takeValidationMessages().isEmpty)
}
