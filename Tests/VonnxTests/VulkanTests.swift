import CVulkan
import Foundation
import Testing
import VonnxCPU
import VonnxIR
@testable import VonnxVulkan

// Every Vulkan kernel against the CPU kernel where VonnxCPU has it, else against a plain
// Swift reference below, on fresh random inputs. The device runs with validation on (any
// message fails the test) and poisons new buffers with NaN, so an unwritten output shows.

private let testDevice = TestVulkan.device
private let hasDevice = testDevice != nil


private final class Inputs {
    let seed = UInt64.random(in: 0...UInt64.max)
    lazy var rng = SplitMix(state: seed)
    func tensor(_ shape: [Int], _ range: ClosedRange<Float> = -2...2) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: range, using: &rng) })
    }
}

private func node(_ op: String, _ inputs: Int, outputs: Int = 1, domain: String = "", _ attributes: [String: Attribute] = [:]) -> Node {
    Node(name: op.lowercased(), opType: op, domain: domain, inputs: (0..<inputs).map { "in\($0)" },
         outputs: (0..<outputs).map { "out\($0)" }, attributes: attributes)
}

/// Runs `node` on the test device and fails on any validation message.
private func gpu(_ n: Node, _ inputs: [Tensor?], opset: Int = 17) throws -> [Tensor] {
    let device = try #require(testDevice)
    let out = try VulkanKernels.run(n, inputs: inputs, opset: opset, device: device)
    let messages = device.takeValidationMessages()
    #expect(messages.isEmpty, "validation: \(messages.joined(separator: "\n"))")
    return out
}

private func cpu(_ kernel: CPUKernel, _ n: Node, _ inputs: [Tensor?], opset: Int = 17) throws -> Tensor {
    try kernel(KernelContext(node: n, inputs: inputs, opset: opset, pool: ThreadPool(threads: 1)))[0]
}

private func expectClose(_ got: Tensor, _ want: Tensor, rtol: Float = 1e-4, atol: Float = 1e-5, _ what: String,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.shape == want.shape, "\(what): shape \(got.shape) != \(want.shape)", sourceLocation: sourceLocation)
    guard got.shape == want.shape else { return }
    let g = got.scalars(as: Float.self), w = want.scalars(as: Float.self)
    var bad: [String] = []
    for i in g.indices {
        let ok = w[i].isNaN ? g[i].isNaN : (abs(g[i] - w[i]) <= atol + rtol * abs(w[i]) || (g[i] == w[i]))
        if !ok && bad.count < 5 { bad.append("[\(i)] \(g[i]) != \(w[i])") }
    }
    #expect(bad.isEmpty, "\(what): \(bad.joined(separator: ", "))", sourceLocation: sourceLocation)
}

// MARK: - Infrastructure

@Test func embeddedShadersMatchShaderFiles() throws {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Shaders").standardized
    let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".comp") || $0.hasSuffix(".glsl") }
    var onDisk: [String: String] = [:]
    for f in files {
        var text = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)
        if text.hasSuffix("\n") { text.removeLast() }
        onDisk[f.hasSuffix(".comp") ? String(f.dropLast(5)) : f] = text
    }
    #expect(onDisk.keys.sorted() == EmbeddedShaders.sources.keys.sorted(), "EmbeddedShaders.swift is stale: run scripts/embed-shaders.sh")
    #expect(onDisk == EmbeddedShaders.sources, "EmbeddedShaders.swift is stale: run scripts/embed-shaders.sh")
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func devicesAreListedAndSelected() throws {
    let devices = try VulkanDevice.availableDevices()
    #expect(!devices.isEmpty)
    #expect(devices.allSatisfy { !$0.name.isEmpty && !$0.apiVersion.isEmpty })
    let first = devices[0]
    let byIndex = try VulkanDevice(options: .init(device: "0"))
    #expect(byIndex.info.name == first.name)
    let byName = try VulkanDevice(options: .init(device: String(first.name.prefix(4)).uppercased()))
    #expect(byName.info.index == first.index)
    #expect(throws: VonnxError.self) { try VulkanDevice(options: .init(device: "no-such-gpu-xyz")) }
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func shaderVariantsCompileOnceAndBadShadersReportGlslangErrors() throws {
    let a = try ShaderCompiler.shared.spirv("unary", defines: ["OP": "OP_TANH"])
    let b = try ShaderCompiler.shared.spirv("unary", defines: ["OP": "OP_TANH"])
    #expect(a == b && a.first == 0x0723_0203)  // SPIR-V magic
    #expect(throws: VonnxError.self) { try ShaderCompiler.shared.spirv("unary", defines: ["OP": "999"]) }
    let device = try #require(testDevice)
    let p1 = try device.pipeline("unary", defines: ["OP": "OP_EXP"], bindings: 2, workgroup: (256, 1, 1))
    let p2 = try device.pipeline("unary", defines: ["OP": "OP_EXP"], bindings: 2, workgroup: (256, 1, 1))
    #expect(p1 === p2)
}

/// Kernels record into one recorder and hand device tensors to each other: one submission.
@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func kernelsChainOnTheDeviceInOneSubmission() throws {
    let device = try #require(testDevice)
    let inputs = Inputs()
    let x = inputs.tensor([1, 3, 8, 8]), w = inputs.tensor([4, 3, 3, 3]), bias = inputs.tensor([4])
    let weights = try device.upload([w, bias])  // resident before the run, as initializers would be
    let recorder = try VulkanRecorder(device: device, profile: true)
    let (dx, dw, db) = (try recorder.upload(x), weights[0], weights[1])
    let convNode = node("Conv", 3, ["pads": .ints([1, 1, 1, 1])])
    recorder.label = "conv"
    let conv = try VulkanKernels.table["Conv"]!(VulkanKernelContext(node: convNode, inputs: [dx, dw, db], hostInputs: [], opset: 17, recorder: recorder))[0]
    recorder.label = "relu"
    let relu = try VulkanKernels.table["Relu"]!(VulkanKernelContext(node: node("Relu", 1), inputs: [conv], hostInputs: [], opset: 17, recorder: recorder))[0]
    recorder.label = "pool"
    let pool = try VulkanKernels.table["GlobalAveragePool"]!(VulkanKernelContext(node: node("GlobalAveragePool", 1), inputs: [relu], hostInputs: [], opset: 17, recorder: recorder))[0]
    let out = try recorder.download(pool)
    #expect(recorder.dispatchCount == 3)
    try recorder.submitAndWait()
    #expect(device.takeValidationMessages().isEmpty)
    #expect(recorder.timings.map(\.label) == ["conv", "relu", "pool"])
    #expect(recorder.timings.allSatisfy { $0.nanoseconds >= 0 && $0.nanoseconds < 1e10 })
    let ref = referencePool(referenceConv(x, w, bias, pads: [1, 1, 1, 1]).map { max($0, 0) }, kernel: [8, 8], max: false)
    expectClose(try out.tensor(), ref, "chain seed \(inputs.seed)")

    // Replay the same recording on new input values.
    let x2 = inputs.tensor([1, 3, 8, 8])
    try recorder.rewrite(dx, with: x2)
    try recorder.submitAndWait()
    #expect(device.takeValidationMessages().isEmpty)
    let ref2 = referencePool(referenceConv(x2, w, bias, pads: [1, 1, 1, 1]).map { max($0, 0) }, kernel: [8, 8], max: false)
    expectClose(try out.tensor(), ref2, "replayed chain seed \(inputs.seed)")
    #expect(recorder.timings.count == 3)
    #expect(throws: VonnxError.self) { try recorder.makeTensor(shape: [1]) }
    #expect(throws: VonnxError.self) { try recorder.rewrite(dw, with: w) }
}

// MARK: - Elementwise

/// Over 65535 × 256 elements the 1-D grid is capped and invocations loop (grid stride).
@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func elementwiseLoopsPastTheGridLimit() throws {
    let count = 65535 * 256 + 4097
    let x = Tensor(zeros: .float, shape: [count])  // outputs start as NaN: a skipped element shows
    let y = try gpu(node("Neg", 1), [x])[0]
    y.withUnsafeBufferPointer(as: Float.self) { y in
        #expect(stride(from: 0, to: count, by: 997).allSatisfy { y[$0] == 0 })
        #expect((count - 5000..<count).allSatisfy { y[$0] == 0 })
    }
}

private let unaryReferences: [(String, [String: Attribute], ClosedRange<Float>, @Sendable (Float) -> Float)] = [
    ("Relu", [:], -2...2, { max($0, 0) }),
    ("LeakyRelu", ["alpha": .float(0.3)], -2...2, { $0 < 0 ? 0.3 * $0 : $0 }),
    ("Sigmoid", [:], -10...10, { 1 / (1 + Foundation.exp(-$0)) }),
    ("Tanh", [:], -10...10, { Foundation.tanh($0) }),
    ("Exp", [:], -5...5, { Foundation.exp($0) }),
    ("Log", [:], 0.01...10, { Foundation.log($0) }),
    ("Abs", [:], -2...2, { abs($0) }),
    ("Neg", [:], -2...2, { -$0 }),
    ("Sqrt", [:], 0...10, { $0.squareRoot() }),
    ("Reciprocal", [:], 0.5...4, { 1 / $0 }),
    ("Floor", [:], -5...5, { $0.rounded(.down) }),
    ("Ceil", [:], -5...5, { $0.rounded(.up) }),
    ("Elu", ["alpha": .float(0.7)], -3...3, { $0 < 0 ? 0.7 * (Foundation.exp($0) - 1) : $0 }),
    ("Selu", [:], -3...3, { $0 <= 0 ? 1.05070102214813232421875 * 1.67326319217681884765625 * (Foundation.exp($0) - 1) : 1.05070102214813232421875 * $0 }),
    ("HardSigmoid", ["alpha": .float(0.25), "beta": .float(0.4)], -5...5, { min(max(0.25 * $0 + 0.4, 0), 1) }),
    ("Softplus", [:], -10...30, { $0 > 20 ? $0 : Foundation.log(1 + Foundation.exp($0)) }),
    ("HardSwish", [:], -5...5, { $0 * min(max($0 / 6 + 0.5, 0), 1) }),
    ("Sin", [:], -3...3, { Foundation.sin($0) }),
    ("Cos", [:], -3...3, { Foundation.cos($0) }),
]

@Test(.enabled(if: hasDevice, TestVulkan.skipReason), arguments: unaryReferences.indices)
func unaryOpMatchesReference(_ i: Int) throws {
    let (op, attrs, range, f) = unaryReferences[i]
    let inputs = Inputs()
    let x = inputs.tensor([3, 5, 67], range)
    let got = try gpu(node(op, 1, attrs), [x])[0]
    let want = Tensor(shape: x.shape, scalars: x.scalars(as: Float.self).map(f))
    expectClose(got, want, rtol: 2e-5, atol: 2e-6, "\(op) seed \(inputs.seed)")
    if op == "Relu" { expectClose(got, try cpu(CPUKernels.relu, node(op, 1), [x]), "Relu vs CPU seed \(inputs.seed)") }
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func clipReadsAttributesBeforeOpset11AndInputsAfter() throws {
    let inputs = Inputs()
    let x = inputs.tensor([100])
    let want = Tensor(shape: [100], scalars: x.scalars(as: Float.self).map { min(max($0, -0.5), 0.75) })
    expectClose(try gpu(node("Clip", 1, ["min": .float(-0.5), "max": .float(0.75)]), [x], opset: 6)[0], want, "Clip-6")
    expectClose(try gpu(node("Clip", 3), [x, Tensor(scalar: Float(-0.5)), Tensor(scalar: Float(0.75))], opset: 13)[0], want, "Clip-13")
    let lower = Tensor(shape: [100], scalars: x.scalars(as: Float.self).map { max($0, -0.5) })
    expectClose(try gpu(node("Clip", 2), [x, Tensor(scalar: Float(-0.5))], opset: 13)[0], lower, "Clip-13 min only")
}

private let broadcastCases: [([Int], [Int])] = [
    ([2, 3, 4, 5], [2, 3, 4, 5]), ([2, 3, 4, 5], [5]), ([2, 3, 4, 5], [3, 1, 5]), ([1, 4, 1], [3, 1, 6]),
    ([7], []), ([], [2, 2]), ([1, 2, 1, 2, 1, 2, 1, 2], [2, 1, 2, 1, 2, 1, 2, 1]),
]

@Test(.enabled(if: hasDevice, TestVulkan.skipReason), arguments: ["Add", "Sub", "Mul", "Div"])
func arithmeticMatchesCPUKernel(_ op: String) throws {
    let kernel: CPUKernel = [
        "Add": CPUKernels.add, "Sub": CPUKernels.sub, "Mul": CPUKernels.mul, "Div": CPUKernels.div,
    ][op]!
    for (sa, sb) in broadcastCases {
        let inputs = Inputs()
        let a = inputs.tensor(sa), b = op == "Div" ? inputs.tensor(sb, 0.5...3) : inputs.tensor(sb)
        let n = node(op, 2)
        expectClose(try gpu(n, [a, b])[0], try cpu(kernel, n, [a, b]), "\(op) \(sa) \(sb) seed \(inputs.seed)")
    }
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func maxMinPowPReluMatchReference() throws {
    let inputs = Inputs()
    let a = inputs.tensor([4, 1, 6]), b = inputs.tensor([5, 1]), c = inputs.tensor([6])
    func ref(_ x: Tensor, _ y: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        let shape = broadcastShape([x.shape, y.shape])!
        let sx = VonnxCPU.broadcastStrides(x.shape, to: shape), sy = VonnxCPU.broadcastStrides(y.shape, to: shape)
        let xs = x.scalars(as: Float.self), ys = y.scalars(as: Float.self), strides = contiguousStrides(shape)
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { i in
            var (ix, iy) = (0, 0)
            for d in shape.indices { let c = i / strides[d] % shape[d]; ix += c * sx[d]; iy += c * sy[d] }
            return f(xs[ix], ys[iy])
        })
    }
    expectClose(try gpu(node("Max", 3), [a, b, c])[0], ref(ref(a, b, max), c, max), "Max seed \(inputs.seed)")
    expectClose(try gpu(node("Max", 1), [a])[0], a, "Max of one")
    expectClose(try gpu(node("Sum", 3), [a, b, c])[0], ref(ref(a, b, +), c, +), "Sum seed \(inputs.seed)")
    expectClose(try gpu(node("Min", 2), [a, b])[0], ref(a, b, min), "Min seed \(inputs.seed)")
    let base = inputs.tensor([4, 1, 6], 0.1...3)
    expectClose(try gpu(node("Pow", 2), [base, b])[0], ref(base, b) { Foundation.pow($0, $1) }, rtol: 1e-4, "Pow seed \(inputs.seed)")
    let integral = Tensor(shape: [3], scalars: [2, 3, -1] as [Float]), neg = Tensor(shape: [3], scalars: [-2, -2, -4] as [Float])
    expectClose(try gpu(node("Pow", 2), [neg, integral])[0], Tensor(shape: [3], scalars: [4, -8, -0.25] as [Float]), "Pow negative base")
    let slope = inputs.tensor([6])
    expectClose(try gpu(node("PRelu", 2), [a, slope])[0], ref(a, slope) { $0 < 0 ? $0 * $1 : $0 }, "PRelu seed \(inputs.seed)")
}

// MARK: - Convolution, pooling, normalization

/// Plain NCHW convolution; pads are [top, left, bottom, right].
private func referenceConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, strides: [Int] = [1, 1], pads: [Int] = [0, 0, 0, 0],
                           dilations: [Int] = [1, 1], group: Int = 1) -> Tensor {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (m, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    let oh = (h + pads[0] + pads[2] - (kh - 1) * dilations[0] - 1) / strides[0] + 1
    let ow = (wd + pads[1] + pads[3] - (kw - 1) * dilations[1] - 1) / strides[1] + 1
    let xs = x.scalars(as: Float.self), ws = w.scalars(as: Float.self), bs = b?.scalars(as: Float.self)
    let cg = c / group, mg = m / group
    var out = [Float](repeating: 0, count: n * m * oh * ow)
    for ni in 0..<n { for mi in 0..<m { for y in 0..<oh { for xo in 0..<ow {
        var acc = bs?[mi] ?? 0
        let g = mi / mg
        for ci in 0..<cg { for ky in 0..<kh { for kx in 0..<kw {
            let iy = y * strides[0] - pads[0] + ky * dilations[0], ix = xo * strides[1] - pads[1] + kx * dilations[1]
            guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
            acc += xs[((ni * c + g * cg + ci) * h + iy) * wd + ix] * ws[((mi * cg + ci) * kh + ky) * kw + kx]
        } } }
        out[((ni * m + mi) * oh + y) * ow + xo] = acc
    } } } }
    return Tensor(shape: [n, m, oh, ow], scalars: out)
}

private extension Tensor {
    func map(_ f: (Float) -> Float) -> Tensor { Tensor(shape: shape, scalars: scalars(as: Float.self).map(f)) }
}

struct ConvCase: Sendable, CustomStringConvertible {
    var x: [Int], w: [Int], bias = true, strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1], group = 1
    var description: String { "x\(x) w\(w) s\(strides) p\(pads) d\(dilations) g\(group)" }
}

private let convCases: [ConvCase] = [
    ConvCase(x: [1, 3, 9, 9], w: [4, 3, 3, 3], pads: [1, 1, 1, 1]),
    ConvCase(x: [2, 4, 10, 7], w: [6, 4, 1, 1], bias: false, strides: [2, 2]),
    ConvCase(x: [2, 20, 9, 7], w: [19, 20, 1, 1]),  // pointwise: the gemm path
    ConvCase(x: [1, 5, 6, 6], w: [7, 5, 1, 1], bias: false),
    ConvCase(x: [1, 6, 8, 8], w: [6, 1, 3, 3], pads: [1, 1, 1, 1], group: 6),
    ConvCase(x: [1, 4, 11, 9], w: [4, 2, 3, 2], strides: [2, 1], pads: [0, 1, 2, 0], dilations: [2, 1], group: 2),
    ConvCase(x: [1, 3, 16, 16], w: [8, 3, 7, 7], strides: [2, 2], pads: [3, 3, 3, 3]),
]

@Test(.enabled(if: hasDevice, TestVulkan.skipReason), arguments: convCases)
func convMatchesReference(_ cc: ConvCase) throws {
    let inputs = Inputs()
    let x = inputs.tensor(cc.x), w = inputs.tensor(cc.w), b = cc.bias ? inputs.tensor([cc.w[0]]) : nil
    let attrs: [String: Attribute] = ["strides": .ints(cc.strides), "pads": .ints(cc.pads),
                                      "dilations": .ints(cc.dilations), "group": .int(cc.group)]
    let want = referenceConv(x, w, b, strides: cc.strides, pads: cc.pads, dilations: cc.dilations, group: cc.group)
    expectClose(try gpu(node("Conv", cc.bias ? 3 : 2, attrs), [x, w] + (b.map { [$0] } ?? []))[0], want,
                "Conv \(cc) seed \(inputs.seed)")
    var fused = attrs
    fused["activation"] = .string(Array("Relu".utf8))
    expectClose(try gpu(node("FusedConv", cc.bias ? 3 : 2, domain: "com.microsoft", fused), [x, w] + (b.map { [$0] } ?? []))[0],
                want.map { max($0, 0) }, "FusedConv \(cc) seed \(inputs.seed)")
    if let b {  // with a residual input Z added before the activation
        let z = inputs.tensor(want.shape)
        let residual = Tensor(shape: want.shape, scalars: zip(want.scalars(as: Float.self), z.scalars(as: Float.self)).map { max($0 + $1, 0) })
        expectClose(try gpu(node("FusedConv", 4, domain: "com.microsoft", fused), [x, w, b, z])[0], residual,
                    "FusedConv+Z \(cc) seed \(inputs.seed)")
    }
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func convAutoPadAndOneDimensional() throws {
    let inputs = Inputs()
    let x = inputs.tensor([1, 2, 7, 7]), w = inputs.tensor([3, 2, 3, 3])
    // SAME_UPPER with stride 2 on 7: output 4, total pad 2 → 1 before, 1 after.
    let same = try gpu(node("Conv", 2, ["auto_pad": .string(Array("SAME_UPPER".utf8)), "strides": .ints([2, 2])]), [x, w])[0]
    expectClose(same, referenceConv(x, w, nil, strides: [2, 2], pads: [1, 1, 1, 1]), "SAME_UPPER seed \(inputs.seed)")
    let x1 = inputs.tensor([2, 3, 20]), w1 = inputs.tensor([4, 3, 5]), b1 = inputs.tensor([4])
    let got = try gpu(node("Conv", 3, ["pads": .ints([2, 1]), "strides": .ints([3])]), [x1, w1, b1])[0]
    let want = referenceConv(x1.reshaped([2, 3, 1, 20]), w1.reshaped([4, 3, 1, 5]), b1, strides: [1, 3], pads: [0, 2, 0, 1])
    expectClose(got, want.reshaped([2, 4, want.shape[3]]), "Conv1D seed \(inputs.seed)")
}

/// Pooling over NCHW with ONNX semantics; pads are [top, left, bottom, right].
private func referencePool(_ x: Tensor, kernel: [Int], strides: [Int] = [1, 1], pads: [Int] = [0, 0, 0, 0],
                           dilations: [Int] = [1, 1], max isMax: Bool, includePad: Bool = false, output: [Int]? = nil) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let oh = output?[0] ?? (h + pads[0] + pads[2] - (kernel[0] - 1) * dilations[0] - 1) / strides[0] + 1
    let ow = output?[1] ?? (w + pads[1] + pads[3] - (kernel[1] - 1) * dilations[1] - 1) / strides[1] + 1
    let xs = x.scalars(as: Float.self)
    var out: [Float] = []
    for plane in 0..<(n * c) { for y in 0..<oh { for xo in 0..<ow {
        var acc: Float = isMax ? -.infinity : 0
        var inside = 0, padded = 0
        for ky in 0..<kernel[0] { for kx in 0..<kernel[1] {
            let iy = y * strides[0] - pads[0] + ky * dilations[0], ix = xo * strides[1] - pads[1] + kx * dilations[1]
            guard iy < h + pads[2], ix < w + pads[3] else { continue }
            padded += 1
            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
            inside += 1
            let v = xs[(plane * h + iy) * w + ix]
            acc = isMax ? max(acc, v) : acc + v
        } }
        out.append(isMax ? acc : acc / Float(includePad ? padded : inside))
    } } }
    return Tensor(shape: [n, c, oh, ow], scalars: out)
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func poolsMatchReference() throws {
    let inputs = Inputs()
    let x = inputs.tensor([2, 3, 9, 10])
    let k3s2p1: [String: Attribute] = ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]
    expectClose(try gpu(node("MaxPool", 1, k3s2p1), [x])[0],
                referencePool(x, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], max: true), "MaxPool seed \(inputs.seed)")
    expectClose(try gpu(node("AveragePool", 1, k3s2p1), [x])[0],
                referencePool(x, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], max: false), "AveragePool seed \(inputs.seed)")
    var include = k3s2p1
    include["count_include_pad"] = .int(1)
    expectClose(try gpu(node("AveragePool", 1, include), [x])[0],
                referencePool(x, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], max: false, includePad: true),
                "AveragePool count_include_pad seed \(inputs.seed)")
    // ceil_mode on 9×10 with kernel 2, stride 2: 5×5 outputs, the last rows/columns partial.
    let ceil: [String: Attribute] = ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "ceil_mode": .int(1)]
    expectClose(try gpu(node("MaxPool", 1, ceil), [x])[0],
                referencePool(x, kernel: [2, 2], strides: [2, 2], max: true, output: [5, 5]), "MaxPool ceil seed \(inputs.seed)")
    // ceil_mode with padding, averaging over the positions inside the padded input.
    let ceilPad: [String: Attribute] = ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 0, 1, 0]),
                                        "ceil_mode": .int(1), "count_include_pad": .int(1)]
    expectClose(try gpu(node("AveragePool", 1, ceilPad), [x])[0],
                referencePool(x, kernel: [3, 3], strides: [2, 2], pads: [1, 0, 1, 0], max: false, includePad: true, output: [5, 5]),
                "AveragePool ceil+pad seed \(inputs.seed)")
    let dilated: [String: Attribute] = ["kernel_shape": .ints([2, 3]), "dilations": .ints([2, 2]), "pads": .ints([1, 1, 0, 2])]
    expectClose(try gpu(node("MaxPool", 1, dilated), [x])[0],
                referencePool(x, kernel: [2, 3], pads: [1, 1, 0, 2], dilations: [2, 2], max: true), "MaxPool dilated seed \(inputs.seed)")
    expectClose(try gpu(node("GlobalAveragePool", 1), [x])[0], referencePool(x, kernel: [9, 10], max: false), "GAP seed \(inputs.seed)")
    expectClose(try gpu(node("GlobalMaxPool", 1), [x])[0], referencePool(x, kernel: [9, 10], max: true), "GMP seed \(inputs.seed)")
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func batchNormalizationMatchesReference() throws {
    let inputs = Inputs()
    let x = inputs.tensor([2, 5, 4, 3]), scale = inputs.tensor([5]), bias = inputs.tensor([5])
    let mean = inputs.tensor([5]), variance = inputs.tensor([5], 0.1...2)
    let (xs, s, b, m, v) = (x.scalars(as: Float.self), scale.scalars(as: Float.self), bias.scalars(as: Float.self),
                            mean.scalars(as: Float.self), variance.scalars(as: Float.self))
    let want = Tensor(shape: x.shape, scalars: xs.indices.map { i in
        let c = i / 12 % 5
        return (xs[i] - m[c]) / (v[c] + 1e-3).squareRoot() * s[c] + b[c]
    })
    expectClose(try gpu(node("BatchNormalization", 5, ["epsilon": .float(1e-3)]), [x, scale, bias, mean, variance])[0],
                want, "BatchNormalization seed \(inputs.seed)")
}

/// Softmax over [outer, length, inner].
private func referenceSoftmax(_ x: Tensor, outer: Int, length: Int, inner: Int, log: Bool) -> Tensor {
    let xs = x.scalars(as: Float.self)
    var out = xs
    for o in 0..<outer { for i in 0..<inner {
        let idx = (0..<length).map { (o * length + $0) * inner + i }
        let m = idx.map { xs[$0] }.max()!
        let s = idx.reduce(Float(0)) { $0 + Foundation.exp(xs[$1] - m) }
        for j in idx { out[j] = log ? xs[j] - m - Foundation.log(s) : Foundation.exp(xs[j] - m) / s }
    } }
    return Tensor(shape: x.shape, scalars: out)
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func softmaxMatchesReference() throws {
    let inputs = Inputs()
    let x = inputs.tensor([3, 4, 5], -5...5)
    expectClose(try gpu(node("Softmax", 1), [x])[0], referenceSoftmax(x, outer: 12, length: 5, inner: 1, log: false), "Softmax-13 last")
    expectClose(try gpu(node("Softmax", 1, ["axis": .int(1)]), [x])[0],
                referenceSoftmax(x, outer: 3, length: 4, inner: 5, log: false), "Softmax-13 axis 1 seed \(inputs.seed)")
    expectClose(try gpu(node("Softmax", 1), [x], opset: 11)[0],
                referenceSoftmax(x, outer: 3, length: 20, inner: 1, log: false), "Softmax-11 coerced seed \(inputs.seed)")
    expectClose(try gpu(node("LogSoftmax", 1), [x])[0],
                referenceSoftmax(x, outer: 12, length: 5, inner: 1, log: true), "LogSoftmax seed \(inputs.seed)")
}

// MARK: - Matrix products

private func referenceMatMul(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Float] {
    (0..<(m * n)).map { i in (0..<k).reduce(Float(0)) { $0 + a[i / n * k + $1] * b[$1 * n + i % n] } }
}

private func transposed(_ t: Tensor) -> Tensor {
    let (r, c) = (t.shape[0], t.shape[1]), s = t.scalars(as: Float.self)
    return Tensor(shape: [c, r], scalars: (0..<(r * c)).map { s[$0 % r * c + $0 / r] })
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func gemmMatchesReference() throws {
    let inputs = Inputs()
    let (m, k, n) = (37, 45, 29)
    let a = inputs.tensor([m, k]), b = inputs.tensor([k, n])
    let ab = referenceMatMul(a.scalars(as: Float.self), b.scalars(as: Float.self), m: m, k: k, n: n)
    for (cShape, cStride) in [([n], (0, 1)), ([m, 1], (1, 0)), ([m, n], (n, 1)), ([], (0, 0))] as [([Int], (Int, Int))] {
        let c = inputs.tensor(cShape)
        let cs = c.scalars(as: Float.self)
        let want = Tensor(shape: [m, n], scalars: ab.indices.map { i in 0.5 * ab[i] + 2 * cs[i / n * cStride.0 + i % n * cStride.1] })
        for (ta, tb) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            let attrs: [String: Attribute] = ["alpha": .float(0.5), "beta": .float(2), "transA": .int(ta), "transB": .int(tb)]
            let got = try gpu(node("Gemm", 3, attrs), [ta == 1 ? transposed(a) : a, tb == 1 ? transposed(b) : b, c])[0]
            expectClose(got, want, rtol: 1e-4, atol: 1e-4, "Gemm C\(cShape) tA\(ta) tB\(tb) seed \(inputs.seed)")
        }
    }
    let noC = try gpu(node("Gemm", 2), [a, b])[0]
    expectClose(noC, Tensor(shape: [m, n], scalars: ab), rtol: 1e-4, atol: 1e-4, "Gemm without C seed \(inputs.seed)")
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func matMulBroadcastsBatchesAndVectors() throws {
    let inputs = Inputs()
    let a = inputs.tensor([2, 1, 5, 20]), b = inputs.tensor([3, 20, 7])
    let got = try gpu(node("MatMul", 2), [a, b])[0]
    #expect(got.shape == [2, 3, 5, 7])
    let as_ = a.scalars(as: Float.self), bs = b.scalars(as: Float.self), gs = got.scalars(as: Float.self)
    for i in 0..<2 { for j in 0..<3 {
        let want = referenceMatMul(Array(as_[(i * 100)..<(i * 100 + 100)]), Array(bs[(j * 140)..<(j * 140 + 140)]), m: 5, k: 20, n: 7)
        let part = Array(gs[((i * 3 + j) * 35)..<((i * 3 + j) * 35 + 35)])
        expectClose(Tensor(shape: [35], scalars: part), Tensor(shape: [35], scalars: want), atol: 1e-4, "MatMul batch \(i),\(j) seed \(inputs.seed)")
    } }
    let v = inputs.tensor([20]), mtx = inputs.tensor([20, 7])
    let vm = try gpu(node("MatMul", 2), [v, mtx])[0]
    expectClose(vm, Tensor(shape: [7], scalars: referenceMatMul(v.scalars(as: Float.self), mtx.scalars(as: Float.self), m: 1, k: 20, n: 7)),
                atol: 1e-4, "vector·matrix seed \(inputs.seed)")
    let mv = try gpu(node("MatMul", 2), [transposed(mtx), v])[0]
    expectClose(mv, Tensor(shape: [7], scalars: referenceMatMul(transposed(mtx).scalars(as: Float.self), v.scalars(as: Float.self), m: 7, k: 20, n: 1)),
                atol: 1e-4, "matrix·vector seed \(inputs.seed)")
}

// MARK: - Layout

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func transposeAndConcatMatchReference() throws {
    let inputs = Inputs()
    let x = inputs.tensor([2, 3, 4, 5])
    let perm = [2, 0, 3, 1]
    let xs = x.scalars(as: Float.self), inStrides = contiguousStrides(x.shape)
    let outShape = perm.map { x.shape[$0] }, outStrides = contiguousStrides(outShape)
    let want = Tensor(shape: outShape, scalars: (0..<x.count).map { i in
        perm.indices.reduce(0) { acc, d in acc + (i / outStrides[d] % outShape[d]) * inStrides[perm[d]] }
    }.map { xs[$0] })
    expectClose(try gpu(node("Transpose", 1, ["perm": .ints(perm)]), [x])[0], want, "Transpose seed \(inputs.seed)")
    expectClose(try gpu(node("Transpose", 1), [transposed(x.reshaped([6, 20]))])[0].reshaped([6, 20]), x.reshaped([6, 20]), "Transpose default")

    let a = inputs.tensor([2, 3, 4]), b = inputs.tensor([2, 1, 4]), c = inputs.tensor([2, 2, 4])
    let got = try gpu(node("Concat", 3, ["axis": .int(-2)]), [a, b, c])[0]
    let (av, bv, cv) = (a.scalars(as: Float.self), b.scalars(as: Float.self), c.scalars(as: Float.self))
    var rows: [Float] = []
    for i in 0..<2 {
        rows += av[(i * 12)..<(i * 12 + 12)]
        rows += bv[(i * 4)..<(i * 4 + 4)]
        rows += cv[(i * 8)..<(i * 8 + 8)]
    }
    expectClose(got, Tensor(shape: [2, 6, 4], scalars: rows), "Concat seed \(inputs.seed)")
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func viewsKeepTheBufferAndComputeShapes() throws {
    let inputs = Inputs()
    let x = inputs.tensor([2, 3, 1, 4])
    let shape = Tensor(shape: [3], scalars: [0, -1, 2] as [Int64])
    expectClose(try gpu(node("Reshape", 2), [x, shape])[0], x.reshaped([2, 6, 2]), "Reshape")
    expectClose(try gpu(node("Flatten", 1, ["axis": .int(2)]), [x])[0], x.reshaped([6, 4]), "Flatten")
    expectClose(try gpu(node("Identity", 1), [x])[0], x, "Identity")
    expectClose(try gpu(node("Dropout", 1, ["ratio": .float(0.5)]), [x], opset: 11)[0], x, "Dropout")
    expectClose(try gpu(node("Dropout", 3), [x, Tensor(scalar: Float(0.3)), Tensor(scalar: false)])[0], x, "Dropout-13")
    #expect(throws: VonnxError.self) { try gpu(node("Dropout", 3), [x, Tensor(scalar: Float(0.3)), Tensor(scalar: true)]) }
    let masked = try gpu(node("Dropout", 1, outputs: 2), [x], opset: 9)
    expectClose(masked[1], Tensor(shape: x.shape, scalars: [Float](repeating: 1, count: x.count)), "Dropout-7 mask")
    let mask = try gpu(node("Dropout", 1, outputs: 2), [x], opset: 11)[1]
    #expect(mask.dataType == .bool && mask.shape == x.shape && mask.scalars(as: Bool.self).allSatisfy { $0 }, "Dropout mask")
    expectClose(try gpu(node("Squeeze", 1), [x])[0], x.reshaped([2, 3, 4]), "Squeeze all")
    expectClose(try gpu(node("Squeeze", 2), [x, Tensor(shape: [1], scalars: [-2] as [Int64])], opset: 13)[0], x.reshaped([2, 3, 4]), "Squeeze-13")
    expectClose(try gpu(node("Unsqueeze", 1, ["axes": .ints([0, 5])]), [x], opset: 11)[0], x.reshaped([1, 2, 3, 1, 4, 1]), "Unsqueeze-11")
    #expect(throws: VonnxError.self) { try gpu(node("Squeeze", 2), [x, Tensor(shape: [1], scalars: [0] as [Int64])], opset: 13) }
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func unsupportedNodesThrow() throws {
    let x = Tensor(shape: [1, 1, 2, 2, 2, 2], scalars: [Float](repeating: 1, count: 16))
    #expect(throws: VonnxError.self) { try gpu(node("Conv", 2), [x, x]) }  // 4-D
    #expect(throws: VonnxError.self) { try gpu(node("NoSuchOp", 1), [x]) }
    #expect(!VulkanKernels.supports(node("NoSuchOp", 1)))
    #expect(VulkanKernels.accepts(node("Reshape", 2), inputTypes: [.float, .int64]))
    #expect(!VulkanKernels.accepts(node("Add", 2), inputTypes: [.double, .double]))
    #expect(!VulkanKernels.accepts(node("Relu", 1), inputTypes: [.int64]))
    #expect(!VulkanKernels.accepts(node("Relu", 1), inputTypes: [nil]))
}

// MARK: - The test harness itself

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func poisonedBuffersReadBackAsNaN() throws {
    let device = try #require(testDevice)
    let recorder = try VulkanRecorder(device: device)
    let download = try recorder.download(try recorder.makeTensor(shape: [3, 5]))
    try recorder.submitAndWait()
    #expect(try download.tensor().scalars(as: Float.self).allSatisfy(\.isNaN))
}

/// Dispatches that bind disjoint buffers go without a barrier between them; one that reads what
/// they wrote waits for them; synchronization validation sees no hazard, and the result holds.
@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func barriersOnlyOrderDependentDispatches() throws {
    let device = try TestVulkan.opened.get().synchronized  // a missing barrier is a message
    let recorder = try VulkanRecorder(device: device)
    let a = Tensor(shape: [5], scalars: [Float(-2), -1, 0, 1, 2]), b = Tensor(shape: [5], scalars: [Float(3), -3, 1, -1, 0])
    let (da, db) = (try recorder.upload(a), try recorder.upload(b))
    func record(_ op: String, _ inputs: [VulkanTensor]) throws -> VulkanTensor {
        let n = Node(name: op, opType: op, inputs: inputs.indices.map { "in\($0)" }, outputs: ["out"])
        return try VulkanKernels.table[op]!(VulkanKernelContext(node: n, inputs: inputs, hostInputs: [], opset: 17, recorder: recorder))[0]
    }
    let relu = try record("Relu", [da]), negated = try record("Neg", [db])
    #expect(recorder.dispatchCount == 2 && recorder.barrierCount == 0)
    let sum = try record("Add", [relu, negated])
    #expect(recorder.dispatchCount == 3 && recorder.barrierCount == 1)
    let download = try recorder.download(sum)
    try recorder.submitAndWait()
    #expect(try download.tensor().scalars(as: Float.self) == [-3, 3, -1, 2, 2])
    #expect(device.takeValidationMessages().isEmpty)
}

/// `warmUp` binds each recorded pipeline without running it: the output stays as it was (NaN,
/// poisoned), validation sees a valid command buffer, and the recording then runs as recorded.
@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func warmUpRunsNothingAndKeepsTheRecording() throws {
    let device = try #require(testDevice)
    let recorder = try VulkanRecorder(device: device)
    let input = try recorder.upload(Tensor(shape: [4], scalars: [Float(-1), 2, -3, 4]))
    let n = Node(name: "Relu", opType: "Relu", inputs: ["in0"], outputs: ["out"])
    let relu = try VulkanKernels.table["Relu"]!(VulkanKernelContext(node: n, inputs: [input], hostInputs: [], opset: 17,
                                                                    recorder: recorder))[0]
    let download = try recorder.download(relu)
    try recorder.warmUp()
    let untouched = try #require(relu.buffer.mapped, "lavapipe's buffers are mapped")
    #expect((0..<4).allSatisfy { untouched.load(fromByteOffset: 4 * $0, as: Float.self).isNaN })
    try recorder.submitAndWait()
    try recorder.submitAndWait()  // the fence the warm-up waited on is ready for replays
    #expect(try download.tensor().scalars(as: Float.self) == [0, 2, 0, 4])
    #expect(device.takeValidationMessages().isEmpty)
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func validationMessagesAreCollected() throws {
    let device = try TestVulkan.opened.get().provoked
    var info = VkBufferCreateInfo()
    info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO
    info.size = 0  // invalid: VUID-VkBufferCreateInfo-size-00912
    info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT.rawValue
    var buffer: VkBuffer?
    _ = vkCreateBuffer(device.handle, &info, nil, &buffer)
    if let buffer { vkDestroyBuffer(device.handle, buffer, nil) }
    #expect(!device.takeValidationMessages().isEmpty)
}

/// Times two ResNet-50 convolutions (3×3 64→64 and 1×1 256→64 at 56×56) on the device; set
/// VONNX_VULKAN_BENCH=1 to run it.
@Test(.enabled(if: hasDevice, TestVulkan.skipReason), .enabled(if: ProcessInfo.processInfo.environment["VONNX_VULKAN_BENCH"] == "1", "set VONNX_VULKAN_BENCH=1"))
func convTiming() throws {
    let device = try #require(testDevice)
    let inputs = Inputs()
    var start = Date()
    _ = try ShaderCompiler.shared.spirv("unary", defines: ["OP": "OP_EXP"])
    let first = Date().timeIntervalSince(start)
    start = Date()
    let variants = ["OP_RELU", "OP_SIGMOID", "OP_TANH", "OP_ABS", "OP_NEG", "OP_SQRT", "OP_LOG", "OP_CEIL", "OP_FLOOR", "OP_ELU"]
    for v in variants { _ = try device.pipeline("unary", defines: ["OP": v], bindings: 2, workgroup: (256, 1, 1)) }
    print("cold start: glslang init + first compile \(Int(first * 1000)) ms; then \(String(format: "%.1f", Date().timeIntervalSince(start) * 1000 / Double(variants.count))) ms per pipeline (compile + vkCreateComputePipelines)")
    try timeConv(inputs.tensor([1, 64, 56, 56]), inputs.tensor([64, 64, 3, 3]), inputs.tensor([64]), pads: [1, 1, 1, 1], on: device)
    try timeConv(inputs.tensor([1, 256, 56, 56]), inputs.tensor([64, 256, 1, 1]), inputs.tensor([64]), pads: [0, 0, 0, 0], on: device)
}

private func timeConv(_ x: Tensor, _ w: Tensor, _ b: Tensor, pads: [Int], on device: VulkanDevice) throws {
    let n = node("Conv", 3, ["pads": .ints(pads)])
    _ = try gpu(n, [x, w, b])
    var best = Double.infinity
    var start = Date()
    for _ in 0..<3 {
        let recorder = try VulkanRecorder(device: device)
        let (dx, dw, db) = (try recorder.upload(x), try recorder.upload(w), try recorder.upload(b))
        let y = try VulkanKernels.table["Conv"]!(VulkanKernelContext(node: n, inputs: [dx, dw, db], hostInputs: [], opset: 17, recorder: recorder))[0]
        _ = try recorder.download(y)
        start = Date()
        try recorder.submitAndWait()
        best = min(best, Date().timeIntervalSince(start))
    }
    start = Date()
    _ = referenceConv(x, w, b, pads: pads)
    let cpu = Date().timeIntervalSince(start)
    let gflop = 2.0 * Double(w.count * x.shape[2] * x.shape[3]) / 1e9
    print("Conv x\(x.shape) w\(w.shape) on \(device.info.name): \(Int(best * 1000)) ms (\(String(format: "%.1f", gflop / best)) GFLOP/s); plain Swift loops: \(Int(cpu * 1000)) ms")
}

/// The discrete-GPU path: device-local buffers filled and read through staging copies.
@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func stagingPathMatchesReference() throws {
    let device = try TestVulkan.opened.get().staging
    #expect(!device.unifiedMemory)
    let inputs = Inputs()
    let x = inputs.tensor([2, 3, 6, 6]), w = inputs.tensor([5, 3, 3, 3])
    let recorder = try VulkanRecorder(device: device)
    let (dx, dw) = (try recorder.upload(x), try recorder.upload(w))
    let conv = try VulkanKernels.table["Conv"]!(VulkanKernelContext(node: node("Conv", 2), inputs: [dx, dw], hostInputs: [], opset: 17, recorder: recorder))[0]
    let sig = try VulkanKernels.table["Sigmoid"]!(VulkanKernelContext(node: node("Sigmoid", 1), inputs: [conv], hostInputs: [], opset: 17, recorder: recorder))[0]
    let (convOut, sigOut) = (try recorder.download(conv), try recorder.download(sig))
    let unwritten = try recorder.download(try recorder.makeTensor(shape: [4]))
    for run in 0..<2 {
        let xr = run == 0 ? x : inputs.tensor(x.shape)
        if run > 0 { try recorder.rewrite(dx, with: xr) }
        try recorder.submitAndWait()
        #expect(device.takeValidationMessages().isEmpty)
        let ref = referenceConv(xr, w, nil)
        expectClose(try convOut.tensor(), ref, "staged Conv run \(run) seed \(inputs.seed)")
        expectClose(try sigOut.tensor(), ref.map { 1 / (1 + Foundation.exp(-$0)) }, "staged Sigmoid run \(run) seed \(inputs.seed)")
        #expect(try unwritten.tensor().scalars(as: Float.self).allSatisfy(\.isNaN))
    }
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func allocatorReusesAndReleasesBlocks() throws {
    let device = try #require(testDevice)
    let allocator = MemoryAllocator(device: device.handle)
    defer { allocator.releaseAll() }
    let a = try allocator.allocate(size: 1000, alignment: 256, type: 0, hostVisible: false)
    let b = try allocator.allocate(size: 1000, alignment: 256, type: 0, hostVisible: false)
    #expect(a.memory == b.memory && b.offset == 1024 && a.offset == 0)
    allocator.free(a)
    let c = try allocator.allocate(size: 512, alignment: 256, type: 0, hostVisible: false)
    #expect(c.offset == 0)
    let big = try allocator.allocate(size: 32 << 20, alignment: 256, type: 0, hostVisible: false)
    #expect(big.memory != a.memory && big.offset == 0)
    [b, c, big].forEach(allocator.free)
}

@Test func deviceSelectionByIndexNameAndPreference() throws {
    func info(_ i: Int, _ name: String, _ kind: String) -> VulkanDeviceInfo {
        VulkanDeviceInfo(index: i, name: name, kind: kind, driver: "", apiVersion: "1.3.0", vendorID: 0, deviceID: 0, deviceLocalBytes: 0, uuid: nil)
    }
    let infos = [info(0, "llvmpipe (LLVM 15)", "cpu"), info(1, "Intel UHD 770", "integrated"), info(2, "NVIDIA H200", "discrete")]
    #expect(try VulkanDevice.select(from: infos, selector: nil).index == 2)
    #expect(try VulkanDevice.select(from: infos, selector: "").index == 2)
    #expect(try VulkanDevice.select(from: infos, selector: "1").index == 1)
    #expect(try VulkanDevice.select(from: infos, selector: "LLVMPIPE").index == 0)
    #expect(throws: VonnxError.self) { try VulkanDevice.select(from: infos, selector: "radeon") }
    #expect(throws: VonnxError.self) { try VulkanDevice.select(from: [], selector: nil) }
}

@Test func coalescingMergesContiguousDims() {
    let same = coalesce([2, 3, 4], [[12, 4, 1], [12, 4, 1]])
    #expect(same.shape == [24] && same.strides == [[1], [1]])
    let bcast = coalesce([2, 1, 3, 4], [[0, 0, 4, 1], [12, 12, 4, 1]])
    #expect(bcast.shape == [2, 12] && bcast.strides == [[0, 1], [12, 1]])
    let transpose = coalesce([3, 2], [[1, 3], [2, 1]])
    #expect(transpose.shape == [3, 2] && transpose.strides == [[1, 3], [2, 1]])
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func highRankBroadcastAndTransposeCoalesce() throws {
    let inputs = Inputs()
    let a = inputs.tensor([2, 1, 2, 1, 2, 1, 2, 1, 2, 3]), b = inputs.tensor([3])
    let n = node("Add", 2)
    expectClose(try gpu(n, [a, b])[0], try cpu(CPUKernels.add, n, [a, b]), "rank-10 Add seed \(inputs.seed)")
    let perm = [0, 1, 2, 3, 4, 5, 6, 7, 9, 8]
    let t = try gpu(node("Transpose", 1, ["perm": .ints(perm)]), [a])[0]
    #expect(t.shape == perm.map { a.shape[$0] })
    expectClose(try gpu(node("Transpose", 1, ["perm": .ints(perm)]), [t])[0], a, "rank-10 Transpose round trip")
}

/// 300 dispatches in one submission: several descriptor and timestamp query pools.
@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func longRecordingsSpanSeveralPools() throws {
    let device = try #require(testDevice)
    let inputs = Inputs()
    let x = inputs.tensor([64], -1...1)
    let recorder = try VulkanRecorder(device: device, profile: true)
    var t = try recorder.upload(x)
    let neg = node("Neg", 1)
    for _ in 0..<300 {
        t = try VulkanKernels.table["Neg"]!(VulkanKernelContext(node: neg, inputs: [t], hostInputs: [], opset: 17, recorder: recorder))[0]
    }
    let out = try recorder.download(t)
    try recorder.submitAndWait()
    #expect(device.takeValidationMessages().isEmpty)
    #expect(recorder.timings.count == 300)
    expectClose(try out.tensor(), x, "300 × Neg")
}

@Test(.enabled(if: hasDevice, "needs a Vulkan device")) func devicesReportTheirUUID() throws {
    // What `--device auto` matches CUDA_VISIBLE_DEVICES's GPU-… entries against.
    for d in try VulkanDevice.availableDevices() {
        #expect(d.uuid?.count == 16, "\(d.name): \(String(describing: d.uuid))")
        #expect(d.uuidString?.count == 36 && d.description.contains(d.uuidString ?? "?"), "\(d)")
    }
}
