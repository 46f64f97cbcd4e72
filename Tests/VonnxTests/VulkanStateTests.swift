import Testing
@testable import Vonnx
import VonnxCPU
import VonnxIR
import VonnxVulkan

// The ops that carry a recurrent state across a sequence (LinearAttention's [dk, dv] state per
// kv head, CausalConvWithState's last K−1 inputs), against the CPU kernel on fresh random
// inputs: every update rule, decay and beta shape, grouped-query heads, with and without a past
// state, bias and activation. Their float16 and bfloat16 forms are in VulkanHalfTests.

private func text(_ s: String) -> Attribute { .string(Array(s.utf8)) }

private let linearAttentionCases: [KernelCase] = {
    // B 2, T 5, hq 4 over hkv 2 (group 2), dk 3, dv 5; keys small so the delta rule stays tame
    let (b, t, hq, hkv, dk, dv) = (2, 5, 4, 2, 3, 5)
    let heads: [String: Attribute] = ["q_num_heads": .int(hq), "kv_num_heads": .int(hkv)]
    @Sendable func qkv(_ r: inout SplitMix) -> [Tensor?] { [r.floats([b, t, hq * dk]), r.floats([b, t, hkv * dk], -0.6...0.6), r.floats([b, t, hkv * dv])] }
    @Sendable func past(_ r: inout SplitMix) -> Tensor { r.floats([b, hkv, dk, dv]) }
    func with(_ extra: [String: Attribute]) -> [String: Attribute] { heads.merging(extra) { $1 } }
    return [
        KernelCase("LinearAttention", with(["update_rule": text("linear")]), outputs: 2) { r in qkv(&r) },
        KernelCase("LinearAttention", with(["update_rule": text("linear"), "scale": .float(0.7)]), detail: "past", outputs: 2) { r in
            qkv(&r) + [past(&r)]
        },
        KernelCase("LinearAttention", with(["update_rule": text("gated")]), detail: "decay per head", outputs: 2) { r in
            qkv(&r) + [past(&r), r.floats([b, t, hkv], -1...0)]
        },
        KernelCase("LinearAttention", with(["update_rule": text("gated")]), detail: "decay per key feature", outputs: 2) { r in
            qkv(&r) + [nil, r.floats([b, t, hkv * dk], -1...0)]
        },
        KernelCase("LinearAttention", with(["update_rule": text("delta")]), detail: "beta per head", outputs: 2) { r in
            qkv(&r) + [past(&r), nil, r.floats([b, t, hkv], 0...1)]
        },
        KernelCase("LinearAttention", heads, detail: "gated_delta, one beta a step", outputs: 2) { r in
            qkv(&r) + [nil, r.floats([b, t, hkv * dk], -1...0), r.floats([b, t, 1], 0...1)]
        },
        KernelCase("LinearAttention", ["q_num_heads": .int(3), "kv_num_heads": .int(3), "scale": .float(0.5)],
                   detail: "gated_delta, no groups", outputs: 2) { r in
            [r.floats([1, 4, 6]), r.floats([1, 4, 6], -0.6...0.6), r.floats([1, 4, 9]), r.floats([1, 3, 2, 3]),
             r.floats([1, 4, 3], -1...0), r.floats([1, 4, 3], 0...1)]
        },
    ]
}()

private let causalConvCases: [KernelCase] = [
    KernelCase("CausalConvWithState", outputs: 2) { r in [r.floats([2, 3, 7]), r.floats([3, 1, 4])] },
    KernelCase("CausalConvWithState", ["activation": text("silu")], detail: "bias, past", outputs: 2) { r in
        [r.floats([2, 3, 7]), r.floats([3, 1, 4]), r.floats([3]), r.floats([2, 3, 3])]
    },
    KernelCase("CausalConvWithState", ["activation": text("swish")], detail: "past, no bias, past longer than the input", outputs: 2) { r in
        [r.floats([1, 5, 2]), r.floats([5, 1, 6]), nil, r.floats([1, 5, 5])]
    },
    KernelCase("CausalConvWithState", detail: "kernel 1", outputs: 2) { r in [r.floats([2, 3, 5]), r.floats([3, 1, 1]), r.floats([3])] },
]

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: linearAttentionCases + causalConvCases)
func vulkanStateOpsMatchCPU(_ kc: KernelCase) throws { try checkAgainstCPU(kc) }
