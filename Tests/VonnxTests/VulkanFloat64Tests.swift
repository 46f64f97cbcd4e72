import Foundation
import Testing
@testable import Vonnx
import VonnxCPU
import VonnxIR
import VonnxVulkan

// float64 where the device holds it (shaderFloat64): Exp and Log (GLSL has no double exp or
// log: elementwise.glsl's exp64 and log64), Mod in double, and the Cast to float16 rounding
// once. Against the CPU's float64 results on fresh random values and edge values, within 2
// units in the last place (Exp, Log) or equal.

private let device = TestVulkan.device
private let hasFloat64 = device?.storage.wide.contains(.double) ?? false

/// A float64 op's case: its inputs and how many units in the last place of the CPU's result
/// the device's may be off (0: equal).
private struct Float64Case: Sendable, CustomTestStringConvertible {
    let op: String
    var attributes: [String: Attribute] = [:]
    let ulps: Double
    let inputs: @Sendable (inout SplitMix) -> [[Double]]
    var testDescription: String { "\(op) \(attributes.keys.sorted())" }
}

/// `count` doubles 10^u · (±1), u uniform in `exponents`.
private func spread(_ count: Int, _ exponents: ClosedRange<Double>, signed: Bool, _ r: inout SplitMix) -> [Double] {
    (0..<count).map { _ in
        let v = pow(10, Double.random(in: exponents, using: &r))
        return signed && Bool.random(using: &r) ? -v : v
    }
}

private let float64Cases: [Float64Case] = [
    Float64Case(op: "Exp", ulps: 2) { r in
        [[0, -0.0, 1, -1, 0.5, 709.7, -708, -745, 710, .infinity, -.infinity, .nan] + (0..<200).map { _ in Double.random(in: -700...700, using: &r) }
         + spread(100, -12...1, signed: true, &r)]
    },
    Float64Case(op: "Log", ulps: 2) { r in
        [[1, 0, -1, 2, 0.5, 1 + 1e-15, 1 - 1e-16, 0.7071067811865476, 1.4142135623730951, .infinity, -.infinity, .nan, .greatestFiniteMagnitude]
         + spread(300, -300...300, signed: false, &r)]
    },
    // exact: quotients below 2^53, as the float32 Mod's below 2^24
    Float64Case(op: "Mod", attributes: ["fmod": .int(1)], ulps: 0) { r in
        [[5.5, -5.5, 1e15 + 0.5, 0.1, -0.3] + spread(200, -5...12, signed: true, &r), [2, 2, 3, 0.03, 0.1] + spread(200, -3...6, signed: true, &r)]
    },
    Float64Case(op: "Cast", attributes: ["to": .int(Int(DataType.float16.rawValue))], ulps: 0) { r in
        // just past halfway between two float16 values: through float32 the excess is lost and the tie goes to even
        [[1 + 0x1p-11 + 0x1p-40, 1 + 0x1p-11 - 0x1p-40, -(3 + 0x1p-10 + 0x1p-35), 65519.99, 0x1p-25 + 0x1p-50] + spread(200, -9...5, signed: true, &r)]
    },
]

@Test(.enabled(if: hasFloat64, "needs a Vulkan device with shaderFloat64"), arguments: float64Cases)
private func vulkanFloat64OpMatchesCPU(_ fc: Float64Case) throws {
    let device = try #require(device)
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    let values = fc.inputs(&rng)
    let count = values.map(\.count).min() ?? 0
    let inputs = values.map { Tensor(shape: [count], scalars: Array($0.prefix(count))) }
    let node = Node(name: fc.op, opType: fc.op, domain: "", inputs: inputs.indices.map { "in\($0)" }, outputs: ["out"], attributes: fc.attributes)
    #expect(VulkanKernels.accepts(node, inputTypes: inputs.map(\.dataType), storage: device.storage), "\(fc.op) not accepted")
    let got = try VulkanKernels.run(node, inputs: inputs, opset: 18, device: device)[0]
    let want = try #require(opTable[""]?[fc.op]).cpu(KernelContext(node: node, inputs: inputs, opset: 18, pool: ThreadPool(threads: 1)))[0]
    #expect(device.takeValidationMessages().isEmpty)
    #expect(got.dataType == want.dataType && got.shape == want.shape)
    let a = got.doubles(), e = want.doubles()
    let bad = a.indices.filter { i in
        !(a[i].isNaN && e[i].isNaN) && a[i] != e[i] && !(abs(a[i] - e[i]) <= fc.ulps * e[i].ulp)
    }
    #expect(bad.isEmpty, "\(fc.testDescription) seed \(seed): \(bad.prefix(4).map { i in "\(inputs.map { $0.doubles()[i] }): \(a[i]) vs \(e[i])" })")
}
