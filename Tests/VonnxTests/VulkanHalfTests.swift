import Testing
@testable import Vonnx
import VonnxCPU
import VonnxIR
@testable import VonnxVulkan

// float16 and bfloat16 graphs on the device: the kernels that compute in float32 (matrix
// products, convs, reductions, softmax, pools, normalizations, the float functions; Attention's
// are the fp16 and bf16 node tests of the conformance lists) against
// the CPU kernel on fresh random inputs. Each output is checked as the words the device holds,
// which a download (rounding to the type on the host) would not show unrounded: each must be a
// value of the output's type, as the next kernel reads it, and within one unit in the last
// place of the CPU's (both round a float32-or-better result once; one near a rounding boundary
// may land on either side of it).

extension SplitMix {
    /// Random values in `range` as `type` (float16 or bfloat16, each the nearest to a random float).
    fileprivate mutating func halves(_ type: DataType, _ shape: [Int], _ range: ClosedRange<Float> = -2...2) -> Tensor {
        let values = floats(shape, range).scalars(as: Float.self)
        if type == .float16 { return Tensor(shape: shape, scalars: values.map(Float16.init)) }
        let bits = Tensor(shape: shape, scalars: values.map { UInt16(($0.bitPattern + 0x7FFF + ($0.bitPattern >> 16) & 1) >> 16) })
        return Tensor(dataType: .bfloat16, shape: shape, storage: bits.storage)
    }
}

private let halfCases: [KernelCase] = [DataType.float16, .bfloat16].flatMap { type in
    @Sendable func h(_ shape: [Int], _ range: ClosedRange<Float> = -2...2) -> @Sendable (inout SplitMix) -> Tensor {
        { $0.halves(type, shape, range) }
    }
    let i64: @Sendable ([Int]) -> Tensor = { Tensor(shape: [$0.count], scalars: $0.map(Int64.init)) }
    let x = h([2, 3, 5, 6])
    var c: [KernelCase] = [
        KernelCase("MatMul") { [h([2, 7, 33])(&$0), h([33, 5])(&$0)] },
        KernelCase("Gemm", ["transB": .int(1), "alpha": .float(0.5)]) { [h([6, 20])(&$0), h([9, 20])(&$0), h([9])(&$0)] },
        KernelCase("Conv", ["pads": .ints([1, 1, 1, 1])]) { [h([1, 8, 7, 7])(&$0), h([4, 8, 3, 3])(&$0), h([4])(&$0)] },
        KernelCase("Conv", ["group": .int(3)]) { [x(&$0), h([6, 1, 2, 2])(&$0)] },
        KernelCase("ConvTranspose", ["strides": .ints([2, 2])]) { [x(&$0), h([3, 2, 2, 2])(&$0)] },
        KernelCase("Softmax", ["axis": .int(-1)]) { [h([4, 9], -6...6)(&$0)] },
        KernelCase("LogSoftmax", ["axis": .int(1)]) { [h([4, 9], -6...6)(&$0)] },
        KernelCase("ReduceMean", ["keepdims": .int(1)]) { [x(&$0), i64([-1])] },
        KernelCase("ReduceSum", ["keepdims": .int(0)]) { [x(&$0), i64([1, 3])] },
        KernelCase("ReduceL2") { [x(&$0), i64([2])] },
        KernelCase("ReduceMax") { [x(&$0), i64([3])] },
        KernelCase("LayerNormalization", ["axis": .int(-1)], opset: 17, outputs: 3) { [x(&$0), h([6])(&$0), h([6])(&$0)] },
        KernelCase("BatchNormalization") { r in [x(&r), h([3])(&r), h([3])(&r), h([3])(&r), h([3], 0.5...2)(&r)] },
        KernelCase("InstanceNormalization") { [x(&$0), h([3])(&$0), h([3])(&$0)] },
        KernelCase("LpNormalization", ["axis": .int(1)]) { [x(&$0)] },
        KernelCase("GroupNormalization", ["num_groups": .int(3)], opset: 21) { [x(&$0), h([3])(&$0), h([3])(&$0)] },
        KernelCase("RMSNormalization", ["axis": .int(-1)], opset: 23) { [x(&$0), h([6])(&$0)] },
        KernelCase("LRN", ["size": .int(3), "alpha": .float(0.01)]) { [x(&$0)] },
        KernelCase("Hardmax", ["axis": .int(1)]) { [h([4, 9])(&$0)] },
        KernelCase("Sqrt") { [h([40], 0...300)(&$0)] },
        KernelCase("LinearAttention", ["q_num_heads": .int(4), "kv_num_heads": .int(2)], outputs: 2) { r in
            [h([2, 3, 12])(&r), h([2, 3, 6], -0.6...0.6)(&r), h([2, 3, 10])(&r), h([2, 2, 3, 5])(&r), h([2, 3, 2], -1...0)(&r),
             h([2, 3, 2], 0...1)(&r)]
        },
        KernelCase("CausalConvWithState", ["activation": .string(Array("silu".utf8))], outputs: 2) { r in
            [h([2, 3, 7])(&r), h([3, 1, 4])(&r), h([3])(&r), h([2, 3, 3])(&r)]
        },
    ]
    for op in ["Erf", "Tanh", "Sigmoid", "Relu", "LeakyRelu", "Exp", "Gelu", "Softplus"] {
        c.append(KernelCase(op) { [h([40], -4...4)(&$0)] })
    }
    if type == .float16 {  // the CPU pools, clips and raises to powers no bfloat16
        c += [
            KernelCase("Pow") { [h([40], 0.1...9)(&$0), h([1], -2...3)(&$0)] },
            KernelCase("AveragePool", ["kernel_shape": .ints([3, 3]), "pads": .ints([1, 1, 1, 1])]) { [x(&$0)] },
            KernelCase("GlobalAveragePool") { [x(&$0)] },
            KernelCase("GlobalMaxPool") { [x(&$0)] },
            KernelCase("LpPool", ["kernel_shape": .ints([2, 2])]) { [x(&$0)] },
            KernelCase("Clip", opset: 13) { r in [h([40])(&r), h([1], -1...(-0.5))(&r).reshaped([]), h([1], 0.5...1)(&r).reshaped([])] },
        ]
    }
    return c.map { var k = $0; k.detail = "\(type)"; return k }
}

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: halfCases)
func vulkanHalfKernelsRoundLikeCPU(_ kc: KernelCase) throws {
    let device = try #require(TestVulkan.device)
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    let inputs = kc.inputs(&rng)
    let node = Node(name: kc.op, opType: kc.op, domain: kc.domain, inputs: inputs.indices.map { "in\($0)" },
                    outputs: (0..<(kc.outputs ?? 1)).map { "out\($0)" }, attributes: kc.attributes)
    #expect(VulkanKernels.accepts(node, inputTypes: inputs.map { $0?.dataType }, storage: device.storage), "\(kc.testDescription) not accepted")
    let recorder = try VulkanRecorder(device: device)
    let host = VulkanKernels.hostInputs(of: node)
    let onDevice = try inputs.indices.map { i in try host.contains(i) ? nil : inputs[i].map(recorder.upload) }
    let ctx = VulkanKernelContext(node: node, inputs: onDevice, hostInputs: inputs, opset: kc.opset, recorder: recorder)
    let kernel = try #require(VulkanKernels.table[VulkanKernels.key(of: node)])
    let outputs = try kernel(ctx)
    let words = try outputs.map { try recorder.download(VulkanTensor(shape: $0.shape, buffer: $0.buffer, dataType: .float)) }
    try recorder.submitAndWait()
    let messages = device.takeValidationMessages()
    #expect(messages.isEmpty, "validation: \(messages.joined(separator: "\n"))")
    let cpu = try #require(opTable[kc.domain]?[kc.op]).cpu
    let want = try cpu(KernelContext(node: node, inputs: inputs, opset: kc.opset, pool: ThreadPool(threads: 1)))
    #expect(outputs.count == want.count)
    for (i, (y, w)) in zip(zip(outputs, words), want).enumerated() {
        let what = "\(kc.testDescription) output \(i) seed \(seed)"
        #expect(y.0.dataType == w.dataType && y.0.shape == w.shape, "\(what): \(y.0) vs CPU \(w)")
        let got = try y.1.tensor().scalars(as: Float.self), expected = w.doubles()
        /// The value `v` has in the output's type, and one unit in its last place.
        func held(_ v: Float) -> (value: Float, ulp: Double) {
            w.dataType == .float16 ? (Float(Float16(v)), Double(Float16(v).ulp))
                : (Float(bitPattern: v.bitPattern & 0xFFFF_0000), Double(v.ulp) * 65536)
        }
        let unrounded = got.indices.filter { !got[$0].isNaN && held(got[$0]).value != got[$0] }
        #expect(unrounded.isEmpty, "\(what): device words not \(w.dataType): \(unrounded.prefix(4).map { "[\($0)] \(got[$0])" })")
        let bad = got.indices.filter { j in
            let (a, e) = (Double(got[j]), expected[j])
            return !(a.isNaN && e.isNaN) && a != e && !(abs(a - e) <= max(held(Float(e)).ulp, 1e-5 + 1e-4 * abs(e)))
        }
        #expect(bad.isEmpty, "\(what): \(bad.prefix(4).map { "[\($0)] \(got[$0]) vs \(expected[$0])" })")
    }
}

/// A float16 encoder block as onnxruntime's float16 converter writes one (the LayerNorm
/// decomposed into ReduceMean, Sub, Pow, Sqrt, Div; MatMul, Softmax, Erf-Gelu, Tanh, Conv,
/// pools): one partition on the device, no node left to the CPU, and the CPU's outputs within
/// float16 rounding.
@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason)) func vulkanFloat16GraphRunsWhollyOnDevice() throws {
    var r = SplitMix(state: UInt64.random(in: 0...UInt64.max))
    var b = GraphBuilder(name: "float16")
    let x = b.input("x", .float16, [.value(2), .value(8), .value(16)])
    func const(_ shape: [Int], _ range: ClosedRange<Float> = -0.5...0.5) -> String { b.constant(r.halves(.float16, shape, range)) }
    func half(_ v: Float) -> String { b.constant(Tensor(scalar: Float16(v))) }
    let axes = b.constant(Tensor(shape: [1], scalars: [Int64(-1)]))
    let mean = b.node("ReduceMean", [x, axes])
    let centred = b.node("Sub", [x, mean])
    let variance = b.node("ReduceMean", [b.node("Pow", [centred, half(2)]), axes])
    let normed = b.node("Div", [centred, b.node("Sqrt", [b.node("Add", [variance, half(1e-5)])])])
    let h = b.node("MatMul", [b.node("Add", [b.node("Mul", [normed, const([16], 0.5...1.5)]), const([16])]), const([16, 16])])
    let gelu = b.node("Mul", [b.node("Mul", [h, half(0.5)]),
                              b.node("Add", [half(1), b.node("Erf", [b.node("Div", [h, half(1.4142135)])])])])
    let scores = b.node("Softmax", [b.node("MatMul", [gelu, b.node("Transpose", [gelu], ["perm": .ints([0, 2, 1])])])], ["axis": .int(-1)])
    let image = b.node("Reshape", [b.node("Tanh", [scores]), b.constant(Tensor(shape: [4], scalars: [Int64(2), 1, 8, 8]))])
    let conv = b.node("Relu", [b.node("Conv", [image, const([4, 1, 3, 3]), const([4])], ["pads": .ints([1, 1, 1, 1])])])
    let pooled = b.node("GlobalAveragePool", [b.node("AveragePool", [conv], ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])])])
    b.output(b.node("Sigmoid", [b.node("Flatten", [pooled])], output: "y"))
    b.output(b.node("ReduceMax", [gelu, axes], output: "peak"))
    let model = Model(irVersion: 8, opsets: ["": 17], graph: b.graph)
    let feeds = ["x": r.halves(.float16, [2, 8, 16], -3...3)]
    let gpu = try Session(model: model, options: vulkanOptions(allowFallback: false))
    #expect(gpu.vulkanPartitionCount == 1 && gpu.fallbackNodes.isEmpty && gpu.partitionsRunOnCPU.isEmpty)
    let got = try gpu.run(feeds), want = try Session(model: model, options: SessionOptions(threads: 1, backend: .cpu)).run(feeds)
    for (name, w) in want {
        let g = try #require(got[name])
        #expect(g.dataType == .float16 && g.shape == w.shape, "\(name): \(g) vs CPU \(w)")
        // each op rounds to float16 on both sides: a result near a rounding boundary may land on either side, and the
        // next ops carry that difference of 2^-11 of a value on
        for (a, e) in zip(g.doubles(), w.doubles()) where !(abs(a - e) <= 1e-3 + 4e-3 * abs(e)) {
            Issue.record("\(name): \(a) vs CPU \(e)")
            break
        }
    }
}
