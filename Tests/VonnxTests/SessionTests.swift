import Testing
import Dispatch
import Glibc
import VonnxVulkan
import VonnxCPU
import VonnxFormat
@testable import Vonnx

/// A one-node model y = Relu(x + b) with x: float32[N, 4] and a constant b.
private func reluModel(opset: Int = 13) -> Model {
    let graph = Graph(
        name: "g",
        nodes: [
            Node(name: "add", opType: "Add", inputs: ["x", "b"], outputs: ["s"]),
            Node(name: "relu", opType: "Relu", inputs: ["s"], outputs: ["y"]),
        ],
        inputs: [ValueInfo(name: "x", type: .tensor(.float, shape: [.symbol("N"), .value(4)]))],
        outputs: [ValueInfo(name: "y", type: nil)],
        initializers: ["b": Tensor(shape: [4], scalars: [1, -1, 0.5, -0.5] as [Float])])
    return Model(irVersion: 8, opsets: ["": opset], graph: graph)
}

private func message(_ body: () throws -> Void) -> String {
    do { try body(); return "no error" } catch { return "\(error)" }
}

@Test func runsWithSymbolicBatch() throws {
    let session = try Session(model: reluModel(), options: SessionOptions(threads: 2, backend: .cpu))
    for batch in [1, 3] {
        let x = Tensor(shape: [batch, 4], scalars: (0..<batch * 4).map { Float($0) - 6 })
        let y = try session.run(["x": x])["y"]!
        #expect(y.shape == [batch, 4])
        let expected = (0..<batch * 4).map { i in max(0, Float(i) - 6 + [1, -1, 0.5, -0.5][i % 4]) }
        #expect(y.scalars(as: Float.self) == expected)
    }
}

@Test func rejectsWrongInputs() throws {
    let session = try Session(model: reluModel())
    #expect(message { _ = try session.run([:]) }.contains("missing input 'x'"))
    #expect(message { _ = try session.run(["x": Tensor(shape: [2, 5], scalars: [Float](repeating: 0, count: 10))]) }
        .contains("dim 1 must be 4"))
    #expect(message { _ = try session.run(["x": Tensor(shape: [1, 4], scalars: [Int64](repeating: 0, count: 4))]) }
        .contains("element type int64, expected float32"))
    #expect(message { _ = try session.run(["x": Tensor(shape: [4], scalars: [Float](repeating: 0, count: 4))]) }
        .contains("expected rank 2"))
    #expect(message { _ = try session.run(["z": Tensor(scalar: Float(0))]) }.contains("'z' is not an input"))
}

@Test func rejectsUnknownOp() {
    var model = reluModel()
    model.graph.nodes[1].opType = "FrobnicateV2"
    let m = message { _ = try Session(model: model) }
    #expect(m.contains("node 'relu'") && m.contains("FrobnicateV2") && m.contains("ai.onnx") && m.contains("opset 13"))
    model.graph.nodes[1].opType = "Relu"
    model.graph.nodes[1].domain = "com.example"
    #expect(message { _ = try Session(model: model) }.contains("com.example::Relu"))
}

@Test func theCPUBackendRefusesFp16() {
    #expect(message { _ = try Session(model: reluModel(), options: SessionOptions(backend: .cpu, precision: .fp16)) }
        == "precision fp16 needs the Vulkan backend: the CPU backend computes in float32 only")
    #expect(message { _ = try Session(model: reluModel(), options: SessionOptions(backend: .cpu, precision: .fp32)) } == "no error")
}

@Test func rejectsAnOutputDeclaredWithAnotherElementType() {
    var model = reluModel()
    model.graph.outputs[0].type = .tensor(.int64, shape: nil)
    #expect(message { _ = try Session(model: model) } == "invalid model: output 'y' is declared int64 but node 'relu' (Relu) makes float32")
    model.graph.outputs[0].type = .tensor(.float, shape: [.value(7)])  // shapes are not checked, as in onnxruntime
    #expect(message { _ = try Session(model: model) } == "no error")
}

@Test func rejectsCycle() {
    var model = reluModel()
    model.graph.nodes[0].inputs = ["x", "y"]
    model.graph.nodes[1].outputs = ["y"]
    model.graph.nodes.append(Node(name: "loop", opType: "Relu", inputs: ["s"], outputs: ["unused"]))
    #expect(message { _ = try Session(model: model) }.contains("cycle"))
}

@Test func rejectsInputNothingProduces() {
    var model = reluModel()
    model.graph.nodes[1].inputs = ["ghost"]
    let m = message { _ = try Session(model: model) }
    #expect(m.contains("node 'relu'") && m.contains("'ghost' is not produced"))
}

@Test func runsFromManyThreadsAtOnce() throws {
    let session = try Session(model: reluModel(), options: SessionOptions(threads: 2))
    let x = Tensor(shape: [64, 4], scalars: (0..<256).map { Float($0 % 7) - 3 })
    let reference = try session.run(["x": x])["y"]!.scalars(as: Float.self)
    let failures = Counter()
    DispatchQueue.concurrentPerform(iterations: 16) { _ in
        let y = try? session.run(["x": x])["y"]?.scalars(as: Float.self)
        if y != reference { failures.increment() }
    }
    #expect(failures.value == 0)
}

/// On a CPU with the packed kernel, a MatMul whose weight only it reads (here fused with its
/// bias Add) runs as vonnx PackedMatMul over the weight packed ahead, and the session keeps no
/// other copy of the weight (the model it was made from gone); a weight two MatMuls share stays
/// as it is. Outputs match the unoptimized session's for several rows and a single row (which
/// only the packed path runs packed), and runs from many threads at once agree.
@Test func packsMatMulWeightsAheadAndDropsTheOriginals() throws {
    weak var packedOnly: TensorStorage?
    var made = 0
    func model() -> Model {
        var rng = SplitMix(state: 18)
        var b = GraphBuilder(name: "g")
        let x = b.input("x", .float, [.symbol("N"), .value(16)])
        let w1 = rng.floats([16, 24])
        if made == 0 { packedOnly = w1.storage }
        made += 1
        let h = b.node("Add", [b.node("MatMul", [x, b.constant(w1, prefix: "w1")]), b.constant(rng.floats([24]))])
        let shared = b.constant(rng.floats([24, 24]), prefix: "shared")
        b.output(b.node("MatMul", [b.node("MatMul", [h, shared]), shared]))
        return Model(irVersion: 8, opsets: ["": 17], graph: b.graph)
    }
    let session = try Session(model: model(), options: SessionOptions(threads: 2, backend: .cpu))
    let plain = try Session(model: model(), options: SessionOptions(threads: 2, backend: .cpu, optimize: false))
    let packs = CPUKernels.packedMatMulWeight(Tensor(zeros: .float, shape: [2, 2]), transposed: false) != nil
    let graph = session.model.graph
    let packedNodes = graph.nodes.filter { $0.opType == "PackedMatMul" }
    #expect(packedNodes.count == (packs ? 1 : 0), "\(graph.nodes.map(\.opType))")
    if packs {
        #expect(packedOnly == nil, "the session still holds the original weight")
        #expect(graph.initializers[packedNodes[0].inputs[1]]?.shape != [16, 24])
        #expect(graph.initializers.values.contains { $0.shape == [24, 24] })
    }
    let name = session.outputs[0].name
    for rows in [5, 1] {
        var rng = SplitMix(state: UInt64(rows))
        let x = rng.floats([rows, 16])
        let got = try session.run(["x": x])[name]!.scalars(as: Float.self)
        let want = try plain.run(["x": x])[name]!.scalars(as: Float.self)
        let error = zip(got, want).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +) / want.map { Double($0 * $0) }.reduce(0, +)
        #expect(got.count == rows * 24 && error.squareRoot() < 1e-5, "rows \(rows): relative L2 \(error.squareRoot())")
        let failures = Counter()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            if (try? session.run(["x": x])[name]?.scalars(as: Float.self)) != got { failures.increment() }
        }
        #expect(failures.value == 0)
    }
}

/// A thread-safe counter for the concurrency test.
private final class Counter: @unchecked Sendable {
    private let lock = DispatchSemaphore(value: 1)
    private var count = 0
    func increment() { lock.wait(); count += 1; lock.signal() }
    var value: Int { lock.wait(); defer { lock.signal() }; return count }
}

@Test func runsWhatTheCurrentOnnxReleaseWritesAndNamesTheRangeOfNewerOnes() throws {
    var model = reluModel(opset: 28)
    model.irVersion = 14  // onnx 1.23 writes ir_version 14, opset 28
    let session = try Session(bytes: ModelWriter.serialize(model), options: SessionOptions(threads: 1, backend: .cpu))
    let y = try session.run(["x": Tensor(shape: [1, 4], scalars: [0, 0, 0, 0] as [Float])])["y"]!
    #expect(y.scalars(as: Float.self) == [1, 0, 0.5, 0])
    model.irVersion = 15
    #expect(message { _ = try Session(bytes: ModelWriter.serialize(model)) }.contains("ir_version 15 is not supported (supported: 3...14)"))
    model = reluModel(opset: 29)
    #expect(message { _ = try Session(bytes: ModelWriter.serialize(model)) }.contains("opset 29 of domain 'ai.onnx' is not supported (supported: 1...28)"))
}

@Test func onlyRealDimNamesTieDimsTogether() throws {
    // x as Paddle2ONNX writes a text-direction classifier's input, [?, 3, 48, ?]; a and b share N.
    let graph = Graph(
        name: "g",
        nodes: [Node(name: "relu", opType: "Relu", inputs: ["x"], outputs: ["y"]),
                Node(name: "add", opType: "Add", inputs: ["a", "b"], outputs: ["s"])],
        inputs: [ValueInfo(name: "x", type: .tensor(.float, shape: [.symbol("?"), .value(3), .value(48), .symbol("?")])),
                 ValueInfo(name: "a", type: .tensor(.float, shape: [.symbol("N"), .symbol("")])),
                 ValueInfo(name: "b", type: .tensor(.float, shape: [.symbol("N"), .symbol("")]))],
        outputs: [ValueInfo(name: "y", type: .tensor(.float, shape: [.symbol("?"), .value(3), .value(48), .symbol("?")])),
                  ValueInfo(name: "s", type: nil)])
    let bytes = ModelWriter.serialize(Model(irVersion: 8, opsets: ["": 13], graph: graph))
    let session = try Session(bytes: bytes, options: SessionOptions(threads: 1, backend: .cpu))
    func feeds(_ a: [Int], _ b: [Int]) -> [String: Tensor] {
        ["x": Tensor(shape: [1, 3, 48, 192], scalars: [Float](repeating: -1, count: 3 * 48 * 192)),
         "a": Tensor(shape: a, scalars: [Float](repeating: 1, count: a.reduce(1, *))),
         "b": Tensor(shape: b, scalars: [Float](repeating: 1, count: b.reduce(1, *)))]
    }
    let out = try session.run(feeds([2, 3], [2, 1]))
    #expect(out["y"]!.shape == [1, 3, 48, 192] && out["s"]!.shape == [2, 3])
    #expect(message { _ = try session.run(feeds([2, 3], [1, 3])) }.contains("'a' set 'N' to 2"))
}

@Test func openDimsComeFromNamesOrPositionsElseOne() throws {
    let x = ValueInfo(name: "x", type: .tensor(.float, shape: [.unknown, .value(3), .symbol("H"), .symbol("?")]))
    let z = ValueInfo(name: "z", type: .tensor(.float, shape: [.symbol("H")]))
    var notes: [String] = []
    let dims = try OpenDims(specs: ["H=48", "x:3=192"], inputs: [x, z])
    #expect(try dims.shape(of: x) { notes.append($0) } == [1, 3, 48, 192])
    #expect(try dims.shape(of: z) { notes.append($0) } == [48])
    #expect(notes == ["input 'x' dim 0 ('?') set to 1; give --dim x:0=VALUE to choose"])
    #expect(try dims.setting(input: "x", axis: 2, to: 7).shape(of: x) { _ in } == [1, 3, 7, 192])
    #expect(message { _ = try OpenDims(specs: ["W=4"], inputs: [x]) }.contains("no input has a dim named 'W'"))
    #expect(message { _ = try OpenDims(specs: ["x:4=1"], inputs: [x]) }.contains("input 'x' has no dim 4"))
    #expect(message { _ = try OpenDims(specs: ["H=0"], inputs: [x]) }.contains("positive VALUE"))
}

@Test func onlyFromEnvironmentReadsTheEnvironment() {
    _ = TestVulkan.opened  // the one other reader of these variables, settled before they change
    let names = ["VONNX_VULKAN_DEVICE", "VONNX_VULKAN_KERNELS"]
    let saved = names.map { getenv($0).map { String(cString: $0) } }
    defer { for (name, value) in zip(names, saved) { if let value { setenv(name, value, 1) } else { unsetenv(name) } } }
    setenv("VONNX_VULKAN_DEVICE", "some-gpu", 1)
    setenv("VONNX_VULKAN_KERNELS", "gemm=tiled", 1)
    #expect(SessionOptions().vulkanDevice == nil)
    #expect(SessionOptions().vulkanKernelVariants == nil)
    #expect(VulkanOptions().device == nil)
    let fromEnvironment = SessionOptions.fromEnvironment()
    #expect(fromEnvironment.vulkanDevice == "some-gpu")
    #expect(fromEnvironment.vulkanKernelVariants == "gemm=tiled")
    #expect(fromEnvironment.backend == SessionOptions().backend)
}

@Test func describesItsInputsOutputsAndTheModelsMetadata() throws {
    var model = reluModel(opset: 17)
    model.producer = "pytorch"
    model.producerVersion = "2.5"
    model.metadata = ["license": "MIT"]
    let session = try Session(bytes: ModelWriter.serialize(model), options: SessionOptions(threads: 1, backend: .cpu))
    #expect(session.inputs.map(\.name) == ["x"])
    #expect(session.inputs[0].elementType == .float)
    #expect(session.inputs[0].shape == [.symbol("N"), .value(4)])
    #expect(session.outputs.map(\.name) == ["y"])
    #expect(session.outputs[0].shape == nil)
    #expect(session.model.producer == "pytorch")
    #expect(session.model.producerVersion == "2.5")
    #expect(session.model.opsets == ["": 17])
    #expect(session.model.metadata == ["license": "MIT"])
}
