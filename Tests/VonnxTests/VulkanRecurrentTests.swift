import Testing
import VonnxIR
import VonnxVulkan

// RNN, GRU and LSTM on the device against the CPU kernels: directions, both layouts, sequence
// lengths (an entry shorter than the sequence, and one of length 0), initial states, clip,
// peepholes, input_forget and non-default activations; hidden sizes that are and are not a
// multiple of 4 (the vec4 rows of R), and one over the "sequence" variant's workgroup width.

private let recurrentCases: [KernelCase] = {
    let (seq, batch, input, hidden) = (5, 3, 3, 4)
    func text(_ s: String) -> Attribute { .string(Array(s.utf8)) }
    /// X, W, R, B, sequence_lens, initial_h (and initial_c, P for LSTM) of `gates` gates.
    func inputs(_ gates: Int, dirs: Int, layout: Int = 0, lstm: Bool = false, hidden: Int = hidden) -> @Sendable (inout SplitMix) -> [Tensor?] {
        { r in
            let state = layout == 0 ? [dirs, batch, hidden] : [batch, dirs, hidden]
            var t: [Tensor?] = [r.floats(layout == 0 ? [seq, batch, input] : [batch, seq, input]), r.floats([dirs, gates * hidden, input], -0.6...0.6),
                                r.floats([dirs, gates * hidden, hidden], -0.6...0.6), r.floats([dirs, 2 * gates * hidden], -0.5...0.5),
                                Tensor(shape: [batch], scalars: [Int32(seq), 2, 0]), r.floats(state, -1...1)]
            if lstm { t += [r.floats(state, -1...1), r.floats([dirs, 3 * hidden], -0.5...0.5)] }
            return t
        }
    }
    let h = Attribute.int(hidden)
    return [
        KernelCase("LSTM", ["hidden_size": h], detail: "forward, peepholes", inputs(4, dirs: 1, lstm: true)),
        KernelCase("LSTM", ["hidden_size": h, "direction": text("bidirectional"), "layout": .int(1), "clip": .float(0.7), "input_forget": .int(1)],
                   detail: "bidirectional, layout 1", inputs(4, dirs: 2, layout: 1, lstm: true)),
        KernelCase("LSTM", ["hidden_size": h, "direction": text("reverse")], detail: "reverse, no states") { r in
            [r.floats([seq, batch, input]), r.floats([1, 16, input]), r.floats([1, 16, hidden])]
        },
        KernelCase("GRU", ["hidden_size": h, "direction": text("bidirectional"), "linear_before_reset": .int(1)],
                   detail: "bidirectional", inputs(3, dirs: 2)),
        KernelCase("GRU", ["hidden_size": h, "direction": text("bidirectional")], detail: "bidirectional, reset first", inputs(3, dirs: 2)),
        KernelCase("LSTM", ["hidden_size": .int(70), "direction": text("bidirectional")], detail: "bidirectional, hidden 70",
                   inputs(4, dirs: 2, lstm: true, hidden: 70)),
        KernelCase("GRU", ["hidden_size": .int(5)], detail: "hidden 5, reset first", inputs(3, dirs: 1, hidden: 5)),
        KernelCase("GRU", ["hidden_size": h, "direction": text("reverse"), "layout": .int(1), "clip": .float(0.8)],
                   detail: "reverse, layout 1, reset first", inputs(3, dirs: 1, layout: 1)),
        KernelCase("RNN", ["hidden_size": h, "direction": text("reverse"), "activations": .strings([Array("LeakyRelu".utf8)]),
                           "activation_alpha": .floats([0.2])], detail: "reverse, LeakyRelu", inputs(1, dirs: 1)),
        KernelCase("RNN", ["hidden_size": h, "layout": .int(1)], detail: "layout 1", inputs(1, dirs: 1, layout: 1)),
    ]
}()

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: recurrentCases)
func vulkanRecurrentMatchesCPU(_ kc: KernelCase) throws { try checkAgainstCPU(kc) }

/// Every case on each "recurrent" variant, forced.
@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason),
      arguments: TestVulkan.variants.filter { $0.hasPrefix("recurrent=") }, recurrentCases)
func recurrentVariantMatchesCPU(_ spec: String, _ kc: KernelCase) throws {
    try checkAgainstCPU(kc, on: TestVulkan.device(forcing: spec))
}

@Test func recurrentNodesAreAcceptedWhereTheKernelRunsThem() {
    func node(_ op: String, _ attributes: [String: Attribute]) -> Node {
        Node(name: op, opType: op, inputs: ["x", "w", "r"], outputs: ["y"], attributes: attributes)
    }
    func names(_ n: [String]) -> Attribute { .strings(n.map { Array($0.utf8) }) }
    let types: [DataType?] = [.float, .float, .float]
    #expect(VulkanKernels.accepts(node("LSTM", [:]), inputTypes: types))
    #expect(VulkanKernels.accepts(node("GRU", ["linear_before_reset": .int(1)]), inputTypes: types))
    #expect(VulkanKernels.accepts(node("GRU", [:]), inputTypes: types))
    #expect(!VulkanKernels.accepts(node("RNN", ["activations": names(["Tanh", "Relu"]), "direction": .string(Array("bidirectional".utf8))]), inputTypes: types))
    #expect(VulkanKernels.accepts(node("RNN", ["activations": names(["Relu", "Relu"]), "direction": .string(Array("bidirectional".utf8))]), inputTypes: types))
    #expect(!VulkanKernels.accepts(node("RNN", ["activations": names(["Swish"])]), inputTypes: types))
    #expect(!VulkanKernels.accepts(node("LSTM", [:]), inputTypes: [.float16, .float16, .float16]))
}
