import Foundation
import Testing
import VonnxFormat
import VonnxIR
import VonnxVulkan

// Measures how many ONNX node tests run on Vulkan kernels alone: every node of the test's
// graph must be accepted by `VulkanKernels.accepts` and run through `VulkanKernels.run`,
// and the outputs must match test_data_set_0 (the conformance tolerances). Opt-in, as it
// takes minutes: VONNX_VULKAN_NODE_TESTS=<dir with the node tests>; writes the passing names
// to $VONNX_VULKAN_NODE_TESTS_OUT when set.

private let nodeTestRoot = ProcessInfo.processInfo.environment["VONNX_VULKAN_NODE_TESTS"]

@Test(.enabled(if: nodeTestRoot != nil, "set VONNX_VULKAN_NODE_TESTS to measure node-test coverage"))
func vulkanNodeTestCoverage() throws {
    let root = try #require(nodeTestRoot)
    let device = try VulkanDevice()
    let fm = FileManager.default
    var passed: [String] = [], failed: [String] = [], total = 0
    for name in try fm.contentsOfDirectory(atPath: root).sorted() {
        let dir = "\(root)/\(name)", set = "\(dir)/test_data_set_0"
        guard fm.fileExists(atPath: set) else { continue }
        total += 1
        guard let model = try? ModelReader.load(path: "\(dir)/model.onnx") else { continue }
        let graph = model.graph
        let files = try fm.contentsOfDirectory(atPath: set)
        func file(_ prefix: String, _ i: Int) -> String { "\(set)/\(prefix)_\(i).pb" }
        var values = graph.initializers
        let inputNames = graph.inputs.map(\.name).filter { values[$0] == nil }
        guard files.filter({ $0.hasPrefix("input_") }).count == inputNames.count else { continue }
        do {
            for (i, n) in inputNames.enumerated() { values[n] = try TensorProtoCodec.read(path: file("input", i)).tensor }
        } catch { continue }  // sequences, optionals and exotic types
        do {
            var onDevice = true
            for node in graph.nodes {
                let inputs = node.inputs.map { $0.isEmpty ? nil : values[$0] }
                guard VulkanKernels.accepts(node, inputTypes: inputs.map { $0?.dataType }) else { onDevice = false; break }
                let outputs = try VulkanKernels.run(node, inputs: inputs, opset: model.defaultOpset, device: device)
                for (o, t) in zip(node.outputs, outputs) where !o.isEmpty { values[o] = t }
            }
            guard onDevice else { continue }
            for (i, info) in graph.outputs.enumerated() {
                let expected = try TensorProtoCodec.read(path: file("output", i)).tensor
                guard let got = values[info.name] else { throw VonnxError.invalidArgument("no output \(info.name)") }
                if let why = mismatch(got, expected) { throw VonnxError.invalidArgument("output \(i): \(why)") }
            }
            passed.append(name)
        } catch {
            failed.append("\(name): \(error)")
        }
    }
    print("Vulkan node tests: \(passed.count) of \(total) pass; \(failed.count) accepted but failed:")
    failed.forEach { print("  \($0)") }
    // The light models, on the conformance runner's input: arange(n) / n in the declared shape.
    let light = "\(root)/../light"
    var lightPassed = 0, lightTotal = 0
    for file in (try? fm.contentsOfDirectory(atPath: light))?.sorted() ?? [] where file.hasSuffix(".onnx") {
        lightTotal += 1
        do {
            let model = try ModelReader.load(path: "\(light)/\(file)")
            var values = model.graph.initializers
            for info in model.graph.inputs where values[info.name] == nil {
                let shape = (info.type?.shape ?? []).map { $0.value ?? 1 }, n = shape.reduce(1, *)
                values[info.name] = Tensor(shape: shape, scalars: (0..<n).map { Float(Double($0) / Double(n)) })
            }
            for node in model.graph.nodes {
                let inputs = node.inputs.map { $0.isEmpty ? nil : values[$0] }
                guard VulkanKernels.accepts(node, inputTypes: inputs.map { $0?.dataType }) else {
                    throw VonnxError.invalidArgument("\(node.opType) not accepted")
                }
                let outputs = try VulkanKernels.run(node, inputs: inputs, opset: model.defaultOpset, device: device)
                for (o, t) in zip(node.outputs, outputs) where !o.isEmpty { values[o] = t }
            }
            let expected = try TensorProtoCodec.read(path: "\(light)/\(file.dropLast(5))_output_0.pb").tensor
            guard let got = values[model.graph.outputs[0].name] else { throw VonnxError.invalidArgument("no output") }
            if let why = mismatch(got, expected) { throw VonnxError.invalidArgument(why) }
            lightPassed += 1
        } catch {
            print("  light \(file): \(error)")
        }
    }
    print("Vulkan light models: \(lightPassed) of \(lightTotal) pass")
    if let out = ProcessInfo.processInfo.environment["VONNX_VULKAN_NODE_TESTS_OUT"] {
        try passed.joined(separator: "\n").write(toFile: out, atomically: true, encoding: .utf8)
    }
}

/// Nil when `got` matches `expected` (rtol 1e-3, atol 1e-5 for floats; exact otherwise).
private func mismatch(_ got: Tensor, _ expected: Tensor) -> String? {
    guard got.dataType == expected.dataType else { return "element type \(got.dataType), expected \(expected.dataType)" }
    guard got.shape == expected.shape else { return "shape \(got.shape), expected \(expected.shape)" }
    let a = got.doubles(), e = expected.doubles(), tolerant = got.dataType.isFloatingPoint
    for i in a.indices where !(a[i].isNaN && e[i].isNaN) && a[i] != e[i] {
        if !tolerant || !(abs(a[i] - e[i]) <= 1e-5 + 1e-3 * abs(e[i])) { return "at \(i) got \(a[i]), expected \(e[i])" }
    }
    return nil
}
