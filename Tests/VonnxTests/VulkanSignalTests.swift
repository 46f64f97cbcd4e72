import Testing
@testable import Vonnx
import VonnxIR
import VonnxVulkan

// NonMaxSuppression, DFT, STFT and Pow with an exponent
// of another type on the device against the CPU kernels.

private func i64(_ v: [Int]) -> Tensor { Tensor(shape: [v.count], scalars: v.map(Int64.init)) }
private func f32(_ v: Float) -> Tensor { Tensor(shape: [1], scalars: [v]) }

/// Boxes [b, n, 4] on a coarse grid (so that many overlap, some exactly, some have no area,
/// and corners come in either order) and scores [b, c, n] rounded to tenths (ties).
private func detections(_ r: inout SplitMix, batches b: Int, classes c: Int, boxes n: Int) -> [Tensor] {
    let boxes = r.floats([b, n, 4], 0...4).scalars(as: Float.self).map { $0.rounded() }
    let scores = r.floats([b, c, n], 0...1).scalars(as: Float.self).map { ($0 * 10).rounded() / 10 }
    return [Tensor(shape: [b, n, 4], scalars: boxes), Tensor(shape: [b, c, n], scalars: scores)]
}

/// NonMaxSuppression: corner and center boxes, with and without a score threshold, a limit
/// under and over the box count, none, one box, and several batches and classes.
private let nmsCases: [KernelCase] = [
    KernelCase("NonMaxSuppression", opset: 11, detail: "3 classes, limit 4, threshold") { r in
        detections(&r, batches: 2, classes: 3, boxes: 17) + [i64([4]), f32(0.3), f32(0.25)]
    },
    KernelCase("NonMaxSuppression", ["center_point_box": .int(1)], opset: 11, detail: "center boxes, no score threshold") { r in
        detections(&r, batches: 1, classes: 2, boxes: 23) + [i64([100]), f32(0.5)]
    },
    KernelCase("NonMaxSuppression", opset: 11, detail: "no limit: nothing selected") { r in detections(&r, batches: 2, classes: 2, boxes: 5) },
    KernelCase("NonMaxSuppression", opset: 11, detail: "one box, IoU 0") { r in
        detections(&r, batches: 1, classes: 1, boxes: 1) + [i64([3]), f32(0)]
    },
    KernelCase("NonMaxSuppression", opset: 11, detail: "threshold above every score") { r in
        detections(&r, batches: 1, classes: 2, boxes: 6) + [i64([3]), f32(0.5), f32(2)]
    },
]

/// DFT: real and complex input, every axis, forward and inverse, one-sided both ways (odd
/// and even lengths), dft_length padding and truncating, and lengths that are not powers of two.
private let dftCases: [KernelCase] = [
    KernelCase("DFT", opset: 20, detail: "real, default axis") { r in [r.floats([2, 12, 1])] },
    KernelCase("DFT", opset: 20, detail: "complex, axis 1, dft_length 9 (padding)") { r in [r.floats([2, 7, 3, 2]), i64([9]), i64([1])] },
    KernelCase("DFT", ["inverse": .int(1)], opset: 20, detail: "inverse, axis 2, dft_length 5 (truncating)") { r in
        [r.floats([2, 3, 8, 2]), i64([5]), i64([2])]
    },
    KernelCase("DFT", ["onesided": .int(1)], opset: 20, detail: "one-sided forward, length 11") { r in [r.floats([3, 11, 1])] },
    KernelCase("DFT", ["onesided": .int(1), "inverse": .int(1)], opset: 20, detail: "one-sided inverse, n 10") { r in
        [r.floats([2, 6, 4, 2]), nil, i64([1])]
    },
    KernelCase("DFT", ["onesided": .int(1), "inverse": .int(1)], opset: 20, detail: "one-sided inverse, dft_length 9") { r in
        [r.floats([2, 5, 2]), i64([9])]
    },
    KernelCase("DFT", ["axis": .int(2)], opset: 17, detail: "opset 17 axis attribute, length 1") { r in [r.floats([2, 3, 1, 2])] },
]

/// STFT: a window, frame_length alone, two-sided, and a complex signal.
private let stftCases: [KernelCase] = [
    KernelCase("STFT", opset: 17, detail: "window") { r in [r.floats([2, 40, 1]), i64([6]), r.floats([10], 0...1)] },
    KernelCase("STFT", ["onesided": .int(0)], opset: 17, detail: "frame_length, two-sided") { r in [r.floats([1, 33, 1]), i64([4]), nil, i64([9])] },
    KernelCase("STFT", ["onesided": .int(0)], opset: 17, detail: "complex signal, window") { r in
        [r.floats([2, 20, 2]), i64([3]), r.floats([8], 0...1), i64([8])]
    },
]

/// Pow with an exponent of another type: float bases with int32, int64 and uint32 exponents
/// (negative bases, zero to negative powers), and integer bases with float exponents.
private let powCases: [KernelCase] = [
    KernelCase("Pow", detail: "float ^ int64") { r in [r.floats([3, 4], -3...3), r.ints([4], -3...3)] },
    KernelCase("Pow", detail: "float ^ int32") { r in
        [Tensor(shape: [2, 3], scalars: [0, -2, 1.5, -0.5, 0, 3] as [Float]), r.int32s([3], -2...2)]
    },
    KernelCase("Pow", detail: "float ^ uint32") { r in [r.floats([5], 0...2), Tensor(shape: [5], scalars: [0, 1, 2, 3, 4] as [UInt32])] },
    KernelCase("Pow", detail: "int64 ^ float") { r in [r.ints([2, 5], 0...5), Tensor(shape: [5], scalars: [0, 0.5, 1, 2, 3] as [Float])] },
]

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: nmsCases + dftCases + stftCases + powCases)
func vulkanSignalAndSelectionMatchCPU(_ kc: KernelCase) throws { try checkAgainstCPU(kc) }

/// NonMaxSuppression's selection, whose row count only the device knows, ends its partition:
/// the nodes reading it (a Gather of the box indices, a Cast, an Add) make a second partition,
/// fed the selected rows alone, and match the CPU with no fallback.
@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason)) func vulkanSelectionEndsItsPartition() throws {
    var b = GraphBuilder(name: "nms")
    let boxes = b.input("boxes", .float, [.value(1), .value(12), .value(4)]), scores = b.input("scores", .float, [.value(1), .value(2), .value(12)])
    let selected = b.node("NonMaxSuppression", [boxes, scores, b.constant(i64([6])), b.constant(f32(0.3)), b.constant(f32(0.5))])
    let indices = b.node("Gather", [selected, b.constant(Tensor(shape: [1], scalars: [Int64(2)]))], ["axis": .int(1)])
    b.output(b.node("Add", [b.node("Cast", [indices], ["to": .int(Int(DataType.float.rawValue))]), b.constant(f32(1))], output: "y"))
    let model = Model(irVersion: 8, opsets: ["": 11], graph: b.graph)
    let options = SessionOptions(threads: 1, backend: .vulkan, allowFallback: false, vulkanDevice: TestVulkan.device?.info.name,
                                 vulkanDeviceOf: try? TestVulkan.opened.get().session)
    let gpu = try Session(model: model, options: options), cpu = try Session(model: model, options: SessionOptions(threads: 1, backend: .cpu))
    #expect(gpu.vulkanPartitionCount == 2)
    var r = SplitMix(state: UInt64.random(in: 0...UInt64.max))
    for _ in 0..<3 {  // one recording, replayed: the row count is read anew each run
        let feeds = Dictionary(uniqueKeysWithValues: zip(["boxes", "scores"], detections(&r, batches: 1, classes: 2, boxes: 12)))
        let got = try #require(gpu.run(feeds)["y"]), want = try #require(cpu.run(feeds)["y"])
        #expect(got.shape == want.shape && got.scalars(as: Float.self) == want.scalars(as: Float.self), "\(got) vs CPU \(want)")
    }
    let messages = gpu.vulkan?.takeValidationMessages() ?? []
    #expect(messages.isEmpty, "validation: \(messages.joined(separator: "\n"))")
}
