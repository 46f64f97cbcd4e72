import Testing
@testable import Vonnx
import VonnxCPU
@testable import VonnxVulkan

// Device tensors (I/O binding) on the Vulkan test device: a pipeline of runs kept on the device
// gives what the same runs give through the host, bit for bit, and misuse is a one-line error.
// Skipped without a Vulkan device.

private let deviceName = TestVulkan.device?.info.name
private let hasDevice = deviceName != nil

/// On the device of `other`, by default the validated test session's.
private func options(sharing other: Session? = try? TestVulkan.opened.get().session) -> SessionOptions {
    SessionOptions(threads: 1, backend: .vulkan, vulkanDevice: deviceName, vulkanDeviceOf: other)
}

/// On a device of the session's own, which closes with it (without validation: see `TestVulkan`).
private let ownDevice = SessionOptions(threads: 1, backend: .vulkan, vulkanDevice: deviceName)

private func message(_ body: () throws -> Void) -> String {
    do { try body(); return "no error" } catch { return "\(error)" }
}

private func random(_ shape: [Int]) -> Tensor {
    Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -2...2) })
}

/// `input`[N, `width`] → MatMul → Add → `op` (of `operands` times the sum) → `output`[N, `width`]:
/// `op` of "Tanh" runs wholly on Vulkan; "SwiGLU" has no Vulkan kernel and falls back to the CPU.
private func layer(_ input: String, _ output: String, width: Int = 6, op: String = "Tanh", operands: Int = 1) -> Model {
    var b = GraphBuilder(name: output)
    let x = b.input(input, .float, [.symbol("N"), .value(width)])
    let h = b.node("Add", [b.node("MatMul", [x, b.constant(random([width, width]))]), b.constant(random([width]))])
    b.output(b.node(op, Array(repeating: h, count: operands), output: output))
    return Model(irVersion: 8, opsets: ["": 17], graph: b.graph)
}

private func expectSameBits(_ a: Tensor, _ b: Tensor, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.shape == b.shape, sourceLocation: sourceLocation)
    #expect(a.scalars(as: Float.self).map(\.bitPattern) == b.scalars(as: Float.self).map(\.bitPattern), sourceLocation: sourceLocation)
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func deviceTensorsPipeTwoModelsAsTheHostDoes() throws {
    let first = try Session(model: layer("x", "h"), options: options())
    let second = try Session(model: layer("h", "y"), options: options(sharing: first))
    #expect(second.vulkan === first.vulkan)
    let x = random([3, 6])
    let viaHost = try second.run(["h": try first.run(["x": x])["h"]!])["y"]!
    for _ in 0..<2 {  // the second time replays both recordings
        let h = try first.run(onDevice: ["x": try first.upload(x)])["h"]!
        let y = try second.run(onDevice: ["h": h])
        #expect(Array(y.keys) == ["y"])
        #expect("\(y["y"]!)" == "DeviceTensor<float32>[3, 6] on \(deviceName!)")
        expectSameBits(try y["y"]!.toHost(), viaHost)
    }
    let messages = first.vulkan?.takeValidationMessages() ?? []
    #expect(messages.isEmpty, "validation: \(messages.joined(separator: "\n"))")
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func deviceTensorFedBackAsTheHostDoes() throws {
    let session = try Session(model: layer("x", "y"), options: options())
    var onHost = random([2, 6])
    var onDevice = try session.upload(onHost)
    var firstOutputs: (host: Tensor, device: DeviceTensor)?
    for _ in 0..<3 {
        onHost = try session.run(["x": onHost])["y"]!
        onDevice = try session.run(onDevice: ["x": onDevice])["y"]!
        firstOutputs = firstOutputs ?? (onHost, onDevice)
    }
    expectSameBits(try onDevice.toHost(), onHost)
    // Later runs did not write into an output already returned.
    expectSameBits(try firstOutputs!.device.toHost(), firstOutputs!.host)
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func deviceTensorOutlivesItsSession() throws {
    let x = random([1, 6])
    let kept = try Session(model: layer("x", "y"), options: ownDevice).upload(x)
    expectSameBits(try kept.toHost(), x)
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func deviceTensorMisuseIsAnError() throws {
    let session = try Session(model: layer("x", "y"), options: options())
    let x = try session.upload(random([2, 6]))
    let cpu = try Session(model: layer("x", "y"), options: SessionOptions(threads: 1, backend: .cpu))
    #expect(message { _ = try cpu.upload(random([2, 6])) }
        == "device tensors need a session that runs on Vulkan; this one runs on the CPU (backend .cpu)")
    #expect(message { _ = try cpu.run(onDevice: ["x": x]) }.hasPrefix("device tensors need a session that runs on Vulkan"))
    #expect(message { _ = try Session(model: layer("x", "y"), options: options(sharing: cpu)) }
        == "vulkanDeviceOf names a session that runs on the CPU (backend .cpu)")

    let other = try Session(model: layer("x", "y"), options: ownDevice)
    #expect(message { _ = try other.run(onDevice: ["x": x]) }.hasPrefix("invalid input: input 'x' is a device tensor of another Vulkan device"))
    #expect(message { _ = try session.run(onDevice: ["x": try session.upload(random([2, 5]))]) }
        == "invalid input: input 'x' has shape [2, 5], expected float32[N,6] (dim 1 must be 6)")
    #expect(message { _ = try session.run(onDevice: [:]) } == "invalid input: missing input 'x' (expected float32[N,6])")
    #expect(message { _ = try session.run(onDevice: ["x": x], outputs: ["z"]) } == "'z' is not an output of the model (outputs: y)")

    let split = try Session(model: layer("x", "y", op: "SwiGLU", operands: 2), options: options())  // SwiGLU has no Vulkan kernel
    #expect(message { _ = try split.run(onDevice: ["x": try split.upload(random([2, 6]))]) }
        .hasPrefix("device tensors need a session whose whole graph runs on Vulkan; these nodes run on the CPU: "))
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func deviceTensorsCannotFeedHostReadInputs() throws {
    // Reshape's shape input is read on the host, where a device tensor is not.
    var b = GraphBuilder(name: "reshape")
    let x = b.input("x", .float, [.value(2), .value(3)]), shape = b.input("shape", .int64, [.value(2)])
    b.output(b.node("Reshape", [x, shape], output: "y"))
    let session = try Session(model: Model(irVersion: 8, opsets: ["": 17], graph: b.graph), options: options())
    let feeds = try ["x": session.upload(random([2, 3])), "shape": session.upload(Tensor(shape: [2], scalars: [3, 2] as [Int64]))]
    #expect(message { _ = try session.run(onDevice: feeds) }
        == "'shape' is read on the host (as a shape or an index, say): pass it in a run with host tensors")
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func deviceTensorsThroughRejectedKernels() throws {
    // The Vulkan Conv is 1-D/2-D: a 3-D Conv is placed on the device but rejected when recorded,
    // so the partition runs on the CPU, its device inputs and outputs copied through the host.
    var b = GraphBuilder(name: "conv3d")
    let x = b.input("x", .float, [.value(1), .value(2), .value(4), .value(4), .value(4)])
    b.output(b.node("Relu", [b.node("Conv", [x, b.constant(random([3, 2, 2, 2, 2]))])], output: "y"))
    let session = try Session(model: Model(irVersion: 8, opsets: ["": 17], graph: b.graph), options: options())
    let input = random([1, 2, 4, 4, 4])
    expectSameBits(try session.run(onDevice: ["x": session.upload(input)])["y"]!.toHost(), try session.run(["x": input])["y"]!)
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func deviceRunsOnTheStagingPath() throws {
    // A discrete GPU's memory is not mapped: uploads and downloads go through staging copies,
    // which a device run must not go through (nor be overwritten by). New buffers are NaN.
    let device = try TestVulkan.opened.get().staging
    let model = layer("x", "y")
    let graph = try Optimizer(opsets: model.opsets, optimize: true, limits: Limits()).prepare(model.graph)
    let placement = try VulkanPlacement(graph, device: device, opsets: model.opsets, pool: ThreadPool(threads: 1),
                                        limits: Limits(), fallback: false)
    let partition = try #require(placement.partitions.values.first)
    for _ in 0..<2 {
        let x = random([2, 6])
        let onDevice = try partition.runOnDevice(device.upload([x]))
        expectSameBits(try device.download(onDevice)[0], try partition.run([x], profile: nil)[0])
    }
    #expect(device.takeValidationMessages().isEmpty)
}
