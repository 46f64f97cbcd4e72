import Testing
@testable import Vonnx
import VonnxCPU
import VonnxIR
@testable import VonnxVulkan

// Every kernel variant of `KernelVariants.table`, forced on a device of its own, against the
// CPU kernels on fresh random inputs with sizes that are no multiple of any tile: so a
// discrete GPU's shared-memory variant is checked on lavapipe too. Validation is on (any
// message fails) and new buffers are poisoned with NaN, so an unwritten output shows.

private let hasDevice = TestVulkan.device != nil

/// The test device forcing `spec` ("family=variant,…") at `precision`: validated, synchronization included.
private func device(forcing spec: String, precision: Precision = .fp32) throws -> VulkanDevice {
    try TestVulkan.device(forcing: spec, precision: precision)
}

private let variants = TestVulkan.variants

/// A node of `op` with inputs in0… (empty where nil) and outputs out0…
private func node(_ op: String, domain: String = "", _ inputs: [Tensor?], _ attributes: [String: Attribute]) -> Node {
    Node(name: op, opType: op, domain: domain, inputs: inputs.indices.map { inputs[$0] == nil ? "" : "in\($0)" },
         outputs: ["out0"], attributes: attributes)
}

/// The CPU kernel's first output for `n`.
private func cpuOutput(_ n: Node, _ inputs: [Tensor?]) throws -> Tensor {
    let cpu = try #require(opTable[n.domain]?[n.opType]).cpu
    return try cpu(KernelContext(node: n, inputs: inputs, opset: 18, pool: ThreadPool(threads: 1)))[0]
}

/// Runs `n` on the device forcing `spec` and on the CPU, and compares.
private func expectMatchesCPU(_ spec: String, _ n: Node, _ inputs: [Tensor?], _ what: String,
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
    try expectMatches(spec, n, inputs, try cpuOutput(n, inputs), what, sourceLocation: sourceLocation)
}

/// Runs `n` on `device` (by default the one forcing `spec`, at fp32), the inputs at `weights`
/// as its weights, and compares with `want`, allowing each value `slack` more than the float32
/// tolerance (none when empty); returns what the device computed.
@discardableResult
private func expectMatches(_ spec: String, _ n: Node, _ inputs: [Tensor?], _ want: Tensor, _ what: String,
                           on given: VulkanDevice? = nil, weights: Set<Int> = [], slack: [Float] = [],
                           sourceLocation: SourceLocation = #_sourceLocation) throws -> Tensor? {
    let device = try given ?? device(forcing: spec)
    let got = try VulkanKernels.run(n, inputs: inputs, opset: 18, device: device, weights: weights)[0]
    let messages = device.takeValidationMessages()
    #expect(messages.isEmpty, "\(spec) \(what): validation: \(messages.joined(separator: "\n"))", sourceLocation: sourceLocation)
    #expect(got.shape == want.shape, "\(spec) \(what): shape \(got.shape), CPU \(want.shape)", sourceLocation: sourceLocation)
    guard got.shape == want.shape else { return nil }
    guard want.dataType == .float else {
        #expect(got.dataType == want.dataType && got.ints() == want.ints(), "\(spec) \(what): \(got.ints().prefix(8)), CPU \(want.ints().prefix(8))",
                sourceLocation: sourceLocation)
        return got
    }
    // Within 1e-4 of each value, or of the outputs' typical size for values near zero: a sum that
    // cancels keeps the rounding errors of its terms (Winograd's transforms add their own).
    let g = got.scalars(as: Float.self), w = want.scalars(as: Float.self)
    let typical = w.isEmpty ? 0 : (w.reduce(0) { $0 + $1 * $1 } / Float(w.count)).squareRoot()
    let bad = g.indices.filter { i in
        let extra: Float = slack.isEmpty ? 0 : slack[i]
        return !(abs(g[i] - w[i]) <= 1e-4 + 1e-4 * max(abs(w[i]), typical) + extra)
    }
    #expect(bad.isEmpty, "\(spec) \(what): \(bad.count) differ, \(bad.prefix(4).map { "[\($0)] \(g[$0]) vs \(w[$0])" })",
            sourceLocation: sourceLocation)
    return got
}

@Test(.enabled(if: hasDevice, "needs a Vulkan device"), arguments: variants.filter { $0.hasPrefix("gemm=") })
func gemmVariantMatchesCPU(_ spec: String) throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    // Row counts of 1 (GEMV), under and over a block; column counts over 256 (4 × 64 columns a workgroup);
    // one column (run as the transposed product). K and N multiples of 4 take the vec4 loads.
    for (m, k, n) in [(1, 37, 29), (37, 45, 29), (9, 13, 300), (1, 16, 12), (11, 20, 264), (13, 24, 1), (10, 7, 1)] {
        for (ta, tb) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            let a = rng.floats(ta == 1 ? [k, m] : [m, k]), b = rng.floats(tb == 1 ? [n, k] : [k, n])
            for c in [nil, rng.floats([n]), rng.floats([m, 1]), rng.floats([m, n])] {
                let attrs: [String: Attribute] = ["alpha": .float(0.5), "beta": .float(2), "transA": .int(ta), "transB": .int(tb)]
                try expectMatchesCPU(spec, node("Gemm", [a, b, c], attrs), [a, b, c],
                                     "Gemm \(m)×\(k)×\(n) tA\(ta) tB\(tb) C\(c?.shape ?? []) seed \(seed)")
            }
        }
    }
    for (sa, sb) in [([2, 1, 5, 20], [3, 20, 7]), ([2, 1, 5, 20], [3, 20, 8]), ([20], [20, 7]), ([7, 20], [20]), ([1, 33], [33, 65]),
                     ([2, 1, 5, 20], [3, 20, 1])] {
        let a = rng.floats(sa), b = rng.floats(sb)
        try expectMatchesCPU(spec, node("MatMul", [a, b], [:]), [a, b], "MatMul \(sa)·\(sb) seed \(seed)")
    }
}

/// A convolution: input and weight shapes and its attributes.
private struct ConvProblem {
    let x: [Int], w: [Int]
    var attributes: [String: Attribute] = [:]
}

private let convCases: [ConvProblem] = [
    ConvProblem(x: [1, 5, 9, 7], w: [19, 5, 3, 3], attributes: ["pads": .ints([1, 1, 1, 1])]),
    ConvProblem(x: [2, 20, 20, 17], w: [19, 20, 1, 1]),  // pointwise (the gemm path), channels no multiple of 8
    ConvProblem(x: [2, 8, 6, 6], w: [9, 8, 1, 1]),  // pointwise with vec4 loads
    ConvProblem(x: [2, 8, 7, 7], w: [9, 8, 1, 1]),  // pointwise, pixels no multiple of 4 (padded by im2col on CPU devices)
    ConvProblem(x: [1, 8, 20, 17], w: [9, 8, 3, 3], attributes: ["pads": .ints([1, 1, 1, 1])]),  // over 256 pixels
    ConvProblem(x: [1, 4, 11, 9], w: [4, 2, 3, 2], attributes: ["strides": .ints([2, 1]), "pads": .ints([0, 1, 2, 0]),
                                                             "dilations": .ints([2, 1]), "group": .int(2)]),
    ConvProblem(x: [1, 6, 8, 8], w: [6, 1, 3, 3], attributes: ["pads": .ints([1, 1, 1, 1]), "group": .int(6)]),
    // depthwise: channel multiplier 2, stride 2, 5×5 with asymmetric pads; 1-D with dilation
    ConvProblem(x: [2, 5, 11, 9], w: [10, 1, 5, 5], attributes: ["strides": .ints([2, 2]), "pads": .ints([2, 1, 2, 2]), "group": .int(5)]),
    ConvProblem(x: [1, 7, 13], w: [7, 1, 3], attributes: ["dilations": .ints([2]), "pads": .ints([2, 2]), "group": .int(7)]),
    // depthwise rows of several strips and a partial one, strided and dilated across them
    ConvProblem(x: [1, 4, 6, 37], w: [8, 1, 3, 3], attributes: ["strides": .ints([2, 2]), "pads": .ints([1, 0, 1, 2]),
                                                             "dilations": .ints([1, 2]), "group": .int(4)]),
    ConvProblem(x: [1, 3, 5, 27], w: [3, 1, 3, 3], attributes: ["pads": .ints([1, 1, 1, 1]), "group": .int(3)]),
    ConvProblem(x: [1, 3, 16, 16], w: [17, 3, 7, 7], attributes: ["strides": .ints([2, 2]), "pads": .ints([3, 3, 3, 3])]),
    ConvProblem(x: [2, 3, 20], w: [33, 3, 5], attributes: ["pads": .ints([2, 1]), "strides": .ints([3])]),
    // 3×3 stride 1 with 8+ channels (Winograd): odd outputs, no or asymmetric pads, channels no multiple of 4
    ConvProblem(x: [2, 12, 7, 9], w: [16, 12, 3, 3]),
    ConvProblem(x: [1, 9, 6, 5], w: [10, 9, 3, 3], attributes: ["pads": .ints([0, 1, 1, 0])]),
    ConvProblem(x: [2, 10, 13, 11], w: [12, 10, 3, 3], attributes: ["pads": .ints([1, 2, 0, 1])]),  // several F(4×4) tiles a row
    // Fewer output pixels than 8 (lanes over channels): a voice model's framing conv (1 input
    // channel, long strided kernel, 4 frames); 2 frames of 2 images; groups that end inside a block.
    ConvProblem(x: [1, 1, 40], w: [19, 1, 16], attributes: ["strides": .ints([8])]),
    ConvProblem(x: [2, 13, 4], w: [17, 13, 3], attributes: ["pads": .ints([1, 1]), "strides": .ints([2])]),
    ConvProblem(x: [1, 6, 3, 3], w: [10, 3, 2, 2], attributes: ["group": .int(2)]),
]

@Test(.enabled(if: hasDevice, "needs a Vulkan device"), arguments: TestVulkan.convSpecs)
func convVariantMatchesCPU(_ spec: String) throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    for cc in convCases {
        let x = rng.floats(cc.x), w = rng.floats(cc.w), b = rng.floats([cc.w[0]])
        let what = "\(cc.x) * \(cc.w) \(cc.attributes.keys.sorted()) seed \(seed)"
        try expectMatchesCPU(spec, node("Conv", [x, w], cc.attributes), [x, w], "Conv " + what)
        try expectMatchesCPU(spec, node("Conv", [x, w, b], cc.attributes), [x, w, b], "Conv+bias " + what)
        // The residual and Relu epilogue, as the fusion pass writes it.
        let y = try VulkanKernels.run(node("Conv", [x, w], cc.attributes), inputs: [x, w], opset: 18, device: device(forcing: spec))[0]
        let z = rng.floats(y.shape)
        var fused = cc.attributes
        fused["activation"] = .string(Array("Relu".utf8))
        try expectMatchesCPU(spec, node("FusedConv", domain: "com.microsoft", [x, w, b, z], fused), [x, w, b, z], "FusedConv+Z " + what)
        try expectMatchesCPU(spec, node("FusedConv", domain: "com.microsoft", [x, w, nil, z], cc.attributes), [x, w, nil, z],
                             "FusedConv+Z without bias or Relu " + what)
        // Every fused activation, against the reference applied to the CPU's output without it.
        let plain = try cpuOutput(node("FusedConv", domain: "com.microsoft", [x, w, b, z], cc.attributes), [x, w, b, z])
        for activation in fusedActivations {
            let want = Tensor(shape: plain.shape, scalars: plain.scalars(as: Float.self).map { Float(activation(Double($0))) })
            let fused = cc.attributes.merging(activation.attributes) { $1 }
            try expectMatches(spec, node("FusedConv", domain: "com.microsoft", [x, w, b, z], fused), [x, w, b, z], want,
                              "FusedConv+Z \(activation) " + what)
        }
    }
}

/// Each ConvTranspose variant: 1-D to 3-D, strides, dilations, pads, output padding, groups
/// (the GEMM variant takes group 1 only), and sizes with and without the GEMM's vec4 loads.
@Test(.enabled(if: hasDevice, "needs a Vulkan device"), arguments: variants.filter { $0.hasPrefix("convTranspose=") })
func convTransposeVariantMatchesCPU(_ spec: String) throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    let cases: [ConvProblem] = [
        ConvProblem(x: [2, 8, 4, 4], w: [8, 12, 2, 2], attributes: ["strides": .ints([2, 2])]),  // vec4 loads
        ConvProblem(x: [1, 5, 3, 7], w: [5, 3, 3, 3], attributes: ["strides": .ints([2, 1]), "pads": .ints([1, 0, 0, 1]),
                                                               "output_padding": .ints([1, 0]), "dilations": .ints([1, 2])]),
        ConvProblem(x: [2, 4, 3, 4], w: [4, 3, 3, 2], attributes: ["strides": .ints([2, 1]), "group": .int(2)]),
        ConvProblem(x: [1, 3, 9], w: [3, 2, 4], attributes: ["strides": .ints([3]), "pads": .ints([1, 2])]),
        ConvProblem(x: [1, 2, 3, 2, 3], w: [2, 3, 2, 2, 2], attributes: ["strides": .ints([2, 1, 2])]),
        // disjoint taps (kernel = stride), whose gather is a strided copy: 1-D, and 3-D with a size-1 kernel dim
        ConvProblem(x: [2, 3, 9], w: [3, 5, 3], attributes: ["strides": .ints([3])]),
        ConvProblem(x: [1, 2, 3, 2, 3], w: [2, 3, 2, 1, 2], attributes: ["strides": .ints([2, 1, 2])]),
    ]
    for cc in cases {
        var group = 1
        if case .int(let g)? = cc.attributes["group"] { group = g }
        let x = rng.floats(cc.x), w = rng.floats(cc.w), b = rng.floats([cc.w[1] * group])
        let what = "\(cc.x) * \(cc.w) \(cc.attributes.keys.sorted()) seed \(seed)"
        try expectMatchesCPU(spec, node("ConvTranspose", [x, w], cc.attributes), [x, w], "ConvTranspose " + what)
        try expectMatchesCPU(spec, node("ConvTranspose", [x, w, b], cc.attributes), [x, w, b], "ConvTranspose+bias " + what)
    }
}

/// Weights the conv variants transform (Winograd filters, im2col's padded rows) are made once,
/// when the weight is a partition's, and give the same results on every later recording.
@Test(.enabled(if: hasDevice, "needs a Vulkan device"), arguments: ["conv=winograd4", "conv=winograd2", "conv=im2col"])
func preparedWeightsAreMadeOnce(_ spec: String) throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    let device = try device(forcing: spec)
    let cc = ConvProblem(x: [1, 9, 10, 7], w: [11, 9, 3, 3], attributes: ["pads": .ints([1, 1, 1, 1])])
    let x = rng.floats(cc.x), w = rng.floats(cc.w), conv = node("Conv", [x, w], cc.attributes)
    let want = try cpuOutput(conv, [x, w]).scalars(as: Float.self)
    let weight = try device.upload([w])[0]
    let prepared = PreparedWeights(weights: [weight])
    for recording in 0..<2 {
        let recorder = try VulkanRecorder(device: device)
        let ctx = VulkanKernelContext(node: conv, inputs: [try recorder.upload(x), weight], hostInputs: [], opset: 18,
                                      recorder: recorder, preparedWeights: prepared)
        let y = try recorder.download(try VulkanKernels.table["Conv"]!(ctx)[0])
        try recorder.submitAndWait()
        let got = try y.tensor().scalars(as: Float.self)
        #expect(zip(got, want).allSatisfy { abs($0 - $1) <= 1e-4 + 1e-4 * abs($1) }, "\(spec) recording \(recording) seed \(seed)")
        #expect(prepared.count == 1, "\(spec): \(prepared.count) prepared after recording \(recording)")
    }
    #expect(device.takeValidationMessages().isEmpty)
}

/// One of each activation of the fused epilogues' vocabulary.
private let fusedActivations: [FusedActivation] = [
    .relu, .clip(min: -0.5, max: 1.5), .leakyRelu(alpha: 0.1), .sigmoid, .tanh, .hardSigmoid(alpha: 0.2, beta: 0.5),
    .silu, .hardSwish, .gelu, .geluTanh, .mish,
]

@Test func fusedActivationsReadBackFromTheirAttributes() throws {
    for activation in fusedActivations {
        let n = Node(name: "f", opType: "FusedConv", domain: "com.microsoft", inputs: [], outputs: [], attributes: activation.attributes)
        #expect(try FusedActivation(of: n) == activation)
    }
    let none = Node(name: "f", opType: "FusedConv", domain: "com.microsoft", inputs: [], outputs: [], attributes: [:])
    #expect(try FusedActivation(of: none) == nil)
    for bad: [String: Attribute] in [["activation": .string(Array("Swish9".utf8))],
                                     ["activation": .string(Array("Clip".utf8)), "activation_params": .floats([1])]] {
        let n = Node(name: "f", opType: "FusedConv", domain: "com.microsoft", inputs: [], outputs: [], attributes: bad)
        #expect(throws: VonnxError.self) { try FusedActivation(of: n) }
        #expect(!VulkanKernels.accepts(n, inputTypes: []))
    }
}

/// Each row-reduction variant on short rows and on rows longer than lavapipe's loop limit
/// (65,535 iterations an invocation) allows one invocation to read them as often as the op does.
@Test(.enabled(if: hasDevice, "needs a Vulkan device"), arguments: variants.filter { $0.hasPrefix("rows=") })
func rowVariantMatchesCPU(_ spec: String) throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    func check(_ op: String, _ shapes: [[Int]], _ attributes: [String: Attribute] = [:], range: ClosedRange<Float> = -2...2,
               levels: Int? = nil) throws {
        let inputs = shapes.map { shape in
            guard let levels else { return rng.floats(shape, range) }
            return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float(Int.random(in: 0..<levels, using: &rng)) })
        }
        try expectMatchesCPU(spec, node(op, inputs, attributes), inputs, "\(op) \(shapes) \(attributes.keys.sorted()) seed \(seed)")
    }
    for shape in [[5, 7], [2, 40_000]] {
        try check("Softmax", [shape])
        try check("LogSoftmax", [shape])
    }
    try check("Softmax", [[2, 30_000, 3]], ["axis": .int(1)])
    for shape in [[4, 10], [3, 25_000]] {
        try check("LayerNormalization", [shape, [shape[1]], [shape[1]]])
        try check("RMSNormalization", [shape, [shape[1]]])
    }
    for shape in [[2, 3, 4, 5], [1, 3, 150, 150]] {
        try check("InstanceNormalization", [shape, [3], [3]])
        try check("GlobalAveragePool", [shape])
        try check("GlobalMaxPool", [shape])
    }
    try check("GroupNormalization", [[1, 4, 120, 120], [4], [4]], ["num_groups": .int(2)])
    for shape in [[6, 9], [3, 70_001]] {
        for op in ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare"] {
            // positive values: a float sum of 70,000 terms that cancels to near 0 is off by more than the tolerance
            try check(op, [shape], ["axes": .ints([1])], range: 0...1)
        }
        for op in ["ArgMax", "ArgMin"] {
            for last in [0, 1] {
                try check(op, [shape], ["axis": .int(1), "select_last_index": .int(last)])
                try check(op, [shape], ["axis": .int(1), "select_last_index": .int(last)], levels: 3)  // ties decide
            }
        }
    }
    try check("ReduceProd", [[6, 9]], ["axes": .ints([1])], range: 0.5...1.5)
}

/// Each broadcast binary-op variant: last dims longer and shorter than a run and broadcast
/// along either operand, a scalar against a tensor, two scalars, an empty tensor, and integer
/// and comparison ops.
@Test(.enabled(if: hasDevice, "needs a Vulkan device"), arguments: variants.filter { $0.hasPrefix("binary=") })
func binaryVariantMatchesCPU(_ spec: String) throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    func check(_ op: String, _ inputs: [Tensor]) throws {
        try expectMatchesCPU(spec, node(op, inputs, [:]), inputs, "\(op) \(inputs.map(\.shape)) seed \(seed)")
    }
    for (sa, sb) in [([2, 5, 37], [2, 5, 37]), ([1, 6, 7, 9], [1, 6, 1, 1]), ([3, 1, 5], [3, 40, 1]), ([37], []), ([], []),
                     ([4, 0, 3], [4, 1, 3])] {
        try check("Mul", [rng.floats(sa), rng.floats(sb)])
        try check("Sub", [rng.floats(sb), rng.floats(sa)])
    }
    try check("Greater", [rng.floats([5, 19]), rng.floats([19])])
    try check("Add", [rng.int32s([3, 21], -99...99), rng.int32s([3, 1], -99...99)])
}

/// Each strided-copy variant through the ops made of it: runs longer and shorter than the last
/// dim, reversed and broadcast reads, a 6-D DepthToSpace whose last dim is shorter than a run,
/// a scalar, and 32-bit integers.
@Test(.enabled(if: hasDevice, "needs a Vulkan device"), arguments: variants.filter { $0.hasPrefix("copy=") })
func copyVariantMatchesCPU(_ spec: String) throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    func check(_ op: String, _ inputs: [Tensor], _ attributes: [String: Attribute] = [:]) throws {
        try expectMatchesCPU(spec, node(op, inputs, attributes), inputs, "\(op) \(inputs.map(\.shape)) \(attributes) seed \(seed)")
    }
    let ints = { (v: [Int]) in Tensor(shape: [v.count], scalars: v.map(Int64.init)) }
    try check("Transpose", [rng.floats([3, 37, 5])], ["perm": .ints([2, 0, 1])])
    try check("Transpose", [rng.floats([2, 3, 4, 5, 6])], ["perm": .ints([4, 2, 0, 3, 1])])
    try check("Concat", [rng.floats([2, 3, 17]), rng.floats([2, 5, 17]), rng.floats([2, 1, 17])], ["axis": .int(1)])
    try check("Slice", [rng.floats([4, 50]), ints([3, 45]), ints([0, 2]), ints([0, 1]), ints([-1, -3])])
    try check("Expand", [rng.floats([3, 1, 2]), ints([2, 3, 19, 2])])
    try check("Tile", [rng.floats([2, 33]), ints([3, 2])])
    for mode in ["DCR", "CRD"] {
        try check("DepthToSpace", [rng.floats([1, 12, 5, 7])], ["blocksize": .int(2), "mode": .string(Array(mode.utf8))])
    }
    try check("SpaceToDepth", [rng.floats([2, 3, 6, 34])], ["blocksize": .int(2)])
    try check("Transpose", [Tensor(scalar: Float(2.5))])
    let labels = Tensor(shape: [4, 21], scalars: (0..<84).map { _ in Int32.random(in: -9...9, using: &rng) })
    try check("Transpose", [labels], ["perm": .ints([1, 0])])
}

@Test func kernelVariantSpecsAreChecked() throws {
    #expect(try KernelVariants.parse("gemm=tiled,conv=narrow") == ["gemm": "tiled", "conv": "narrow"])
    for bad in ["gemm=nope", "fft=fast", "gemm"] {
        #expect(throws: VonnxError.self, "\(bad)") { try KernelVariants.parse(bad) }
    }
}

@Test(.enabled(if: hasDevice, "needs a Vulkan device")) func kernelVariantsAreChosenForTheDevice() throws {
    let device = try VulkanDevice(options: .init(kernelVariants: ""))
    let gpu = device.properties.prefersSharedMemory
    #expect(device.properties.kind == device.info.kind && device.properties.subgroupSize >= 1 && device.properties.sharedMemoryBytes > 0)
    #expect(KernelVariants.choose("gemm", rows: 1, device: device).name == "gemv")
    let broadcasts = device.properties.subgroupBroadcast && device.properties.subgroupSize >= 8
    #expect(KernelVariants.choose("gemm", rows: 64, device: device).name == (gpu ? "tiled" : broadcasts ? "broadcast8" : "registers"))
    // A depthwise conv takes its own kernel; the others (where it does not apply) as follows.
    #expect(KernelVariants.choose("conv", rows: 1, device: device).name == (gpu ? "depthwise" : "depthwiseStrips"))
    let general: (KernelVariant) -> Bool = { $0.shader != "depthwise" }
    #expect(KernelVariants.choose("conv", rows: 64, device: device, where: general).name == "winograd4")
    #expect(KernelVariants.choose("conv", rows: 64, columns: 7 * 7, device: device, where: general).name == "winograd2")
    #expect(KernelVariants.choose("conv", rows: 64, device: device) { general($0) && $0.shader != "winograd" }.name
            == (gpu ? "blocked" : "im2col"))
    #expect(KernelVariants.choose("conv", rows: 4, device: device, where: general).name == (gpu ? "narrow" : "winograd4"))
    #expect(KernelVariants.choose("conv", rows: 4, device: device) { general($0) && $0.shader != "winograd" }.name == (gpu ? "narrow" : "quad"))
    #expect(KernelVariants.choose("conv", rows: 2, device: device, where: general).name == "narrow")
    #expect(KernelVariants.choose("conv", rows: 128, columns: 4, device: device, where: general).name == (gpu ? "winograd2" : "channels"))
    #expect(KernelVariants.choose("conv", rows: 128, columns: 9, device: device, where: general).name == "winograd2")
    for family in ["copy", "binary"] {
        #expect(KernelVariants.choose(family, rows: 1, device: device).name == (device.properties.kind == "cpu" ? "runs" : "elements"))
    }
    #expect(KernelVariants.choose("recurrent", rows: 2, columns: 96, device: device).name == (gpu ? "sequence" : "steps"))
    #expect(KernelVariants.choose("recurrent", rows: 2, columns: 512, device: device).name == "steps")
    let forced = try VulkanDevice(options: .init(kernelVariants: "gemm=tiled"))
    #expect(KernelVariants.choose("gemm", rows: 1, device: forced).name == "tiled")
}

// fp16 precision: every conv and gemm variant reading its weights as float16, against the CPU's
// float32 result. Rounding a value v to float16 moves it by less than one float16 ulp of it: a
// relative 2⁻¹⁰ (GLSL leaves packHalf2x16's rounding direction to the driver), or 2⁻²⁴ below
// float16's normal range (2⁻¹⁴). So an output Σ w·x moves by at most 2⁻¹⁰ · Σ max(|w|, 2⁻¹⁴)·|x|,
// which the CPU computes as the same op on those magnitudes; that is each value's slack over
// the float32 tolerance. And the device's output must differ from the float32 device's, or the
// weights were not read as float16 at all.

/// float16's relative rounding bound (one ulp at 1), and the magnitude under which its spacing
/// is constant (its smallest normal).
private let halfUlp: Float = 0x1p-10, halfSmallestNormal: Float = 0x1p-14

/// The magnitudes whose products bound float16 rounding's effect: |t|, and for a weight no less
/// than float16's smallest normal.
private func magnitudes(_ t: Tensor?, weight: Bool) -> Tensor? {
    t.map { Tensor(shape: $0.shape, scalars: $0.scalars(as: Float.self).map { weight ? max(abs($0), halfSmallestNormal) : abs($0) }) }
}

/// Runs `n` at fp16 precision (the inputs at `weights` as weights) forcing `spec`, expecting the
/// CPU's float32 result within `gain` × 2⁻¹⁰ more than the float32 tolerance, and a result
/// other than the float32 device's.
private func expectHalfWeightsMatch(_ spec: String, _ n: Node, _ inputs: [Tensor?], weights: Set<Int>, gain: [Float],
                                    _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let got = try expectMatches(spec, n, inputs, try cpuOutput(n, inputs), "fp16 " + what, on: device(forcing: spec, precision: .fp16),
                                weights: weights, slack: gain.map { $0 * halfUlp }, sourceLocation: sourceLocation)
    let full = try VulkanKernels.run(n, inputs: inputs, opset: 18, device: device(forcing: spec), weights: weights)[0]
    #expect(got?.scalars(as: Float.self) != full.scalars(as: Float.self), "\(spec) \(what): fp16 gave fp32's result",
            sourceLocation: sourceLocation)
}

@Test(.enabled(if: hasDevice, "needs a Vulkan device"), arguments: variants.filter { $0.hasPrefix("gemm=") })
func gemmVariantWithHalfWeightsMatchesCPU(_ spec: String) throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    for (m, k, n) in [(1, 37, 29), (37, 45, 29), (9, 13, 300), (11, 20, 264), (13, 24, 1), (1, 64, 40)] {
        for (ta, tb) in [(0, 0), (0, 1), (1, 1)] {
            let a = rng.floats(ta == 1 ? [k, m] : [m, k]), b = rng.floats(tb == 1 ? [n, k] : [k, n]), c = rng.floats([n])
            // B a weight (a classifier's), then A (a pointwise conv's)
            for weight in [1, 0] {
                let attrs: [String: Attribute] = ["alpha": .float(0.5), "transA": .int(ta), "transB": .int(tb)]
                let gain = try cpuOutput(node("Gemm", [a, b], attrs), [magnitudes(a, weight: weight == 0), magnitudes(b, weight: weight == 1)])
                try expectHalfWeightsMatch(spec, node("Gemm", [a, b, c], attrs), [a, b, c], weights: [weight, 2],
                                           gain: gain.scalars(as: Float.self), "Gemm \(m)×\(k)×\(n) tA\(ta) tB\(tb) weight \(weight) seed \(seed)")
            }
        }
    }
    for (sa, sb) in [([2, 5, 20], [20, 7]), ([3, 1, 33], [33, 65]), ([7, 20], [20])] {
        let a = rng.floats(sa), b = rng.floats(sb)
        let gain = try cpuOutput(node("MatMul", [a, b], [:]), [magnitudes(a, weight: false), magnitudes(b, weight: true)])
        try expectHalfWeightsMatch(spec, node("MatMul", [a, b], [:]), [a, b], weights: [1], gain: gain.scalars(as: Float.self),
                                   "MatMul \(sa)·\(sb) seed \(seed)")
    }
}

@Test(.enabled(if: hasDevice, "needs a Vulkan device"), arguments: TestVulkan.convSpecs)
func convVariantWithHalfWeightsMatchesCPU(_ spec: String) throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    for cc in convCases {
        let x = rng.floats(cc.x), w = rng.floats(cc.w), b = rng.floats([cc.w[0]])
        let conv = node("Conv", [x, w, b], cc.attributes)
        let direct = try cpuOutput(node("Conv", [x, w], cc.attributes), [magnitudes(x, weight: false), magnitudes(w, weight: true)])
        let gain = try winogradTiles(spec, cc).reduce(direct.scalars(as: Float.self)) { gain, tile in
            zip(gain, try winogradRoundingGain(x: x, w: w, cc, tile: tile)).map { max($0, $1) }
        }
        try expectHalfWeightsMatch(spec, conv, [x, w, b], weights: [1, 2], gain: gain,
                                   "Conv+bias \(cc.x) * \(cc.w) \(cc.attributes.keys.sorted()) seed \(seed)")
    }
}

/// The output tile sizes of the Winograd variants that may run `cc` (3×3, stride 1, undilated,
/// group 1, 8 input channels or more) under `spec`: the forced one's; either where the forced
/// variant does not take a group-1 conv (depthwise) and the device chooses; else none.
private func winogradTiles(_ spec: String, _ cc: ConvProblem) -> [Int] {
    guard cc.x.count == 4, cc.x[1] >= 8, cc.w[2...] == [3, 3],
          ["strides", "dilations", "group"].allSatisfy({ cc.attributes[$0] == nil }) else { return [] }
    return spec.contains("conv=winograd4") ? [4] : spec.contains("conv=winograd2") ? [2] : spec.contains("conv=depthwise") ? [4, 2] : []
}

/// For a Winograd F(tile×tile, 3×3) conv whose transformed filters U = G w Gᵀ are rounded to
/// float16: each output Σ_c Aᵀ (|U| ⊙ |V|) A, V = Bᵀ d B of the input patch d (winograd.comp's
/// transforms), which bounds what rounding each U by a relative 2⁻¹⁰ changes it by, per 2⁻¹⁰.
private func winogradRoundingGain(x: Tensor, w: Tensor, _ cc: ConvProblem, tile: Int) throws -> [Float] {
    let bt: [[Double]], g: [[Double]], at: [[Double]]
    if tile == 2 {
        bt = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
        g = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
        at = [[1, 1, 1, 0], [0, 1, -1, -1]]
    } else {
        bt = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
        g = [[0.25, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6], [1.0 / 24, 1.0 / 12, 1.0 / 6],
             [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]]
        at = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]
    }
    let (n, c, h, wd, m, alpha) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], w.shape[0], tile + 2)
    var pads = [0, 0, 0, 0]
    if case .ints(let p)? = cc.attributes["pads"] { pads = p }
    let (oh, ow) = (h + pads[0] + pads[2] - 2, wd + pads[1] + pads[3] - 2)
    let xs = x.scalars(as: Float.self).map(Double.init), ws = w.scalars(as: Float.self).map(Double.init)
    /// Σ_kl left[i][k] · v[k][l] · right[j][l] for an α×α result.
    func sandwich(_ left: [[Double]], _ v: (Int, Int) -> Double, _ right: [[Double]]) -> [Double] {
        (0..<alpha * alpha).map { ij in
            let (i, j) = (ij / alpha, ij % alpha)
            return (0..<left[0].count).reduce(0.0) { s, k in
                s + (0..<right[0].count).reduce(0.0) { s, l in s + left[i][k] * v(k, l) * right[j][l] }
            }
        }
    }
    // |U| per (m, c), no less than float16's smallest normal
    let u = (0..<m * c).map { mc in
        sandwich(g, { ws[(mc * 3 + $0) * 3 + $1] }, g).map { max(abs($0), Double(halfSmallestNormal)) }
    }
    var gain = [Float](repeating: 0, count: n * m * oh * ow)
    for ni in 0..<n {
        for ty in 0..<(oh + tile - 1) / tile {
            for tx in 0..<(ow + tile - 1) / tile {
                for ci in 0..<c {
                    let v = sandwich(bt, { k, l in
                        let (y, xx) = (ty * tile - pads[0] + k, tx * tile - pads[1] + l)
                        return y >= 0 && y < h && xx >= 0 && xx < wd ? xs[((ni * c + ci) * h + y) * wd + xx] : 0
                    }, bt).map(abs)
                    for mi in 0..<m {
                        let uv = zip(u[mi * c + ci], v).map { $0 * $1 }
                        for i in 0..<tile where ty * tile + i < oh {
                            for j in 0..<tile where tx * tile + j < ow {
                                var s = 0.0
                                for k in 0..<alpha { for l in 0..<alpha { s += abs(at[i][k]) * uv[k * alpha + l] * abs(at[j][l]) } }
                                gain[((ni * m + mi) * oh + ty * tile + i) * ow + tx * tile + j] += Float(s)
                            }
                        }
                    }
                }
            }
        }
    }
    return gain
}
