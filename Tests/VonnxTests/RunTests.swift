import Testing
import Glibc
import Vonnx

// Run options (the outputs to compute, cancellation) and the async run.

private func message(_ body: () throws -> Void) -> String {
    do { try body(); return "no error" } catch { return "\(error)" }
}

private func message<T>(_ result: Result<T, any Error>) -> String {
    message { _ = try result.get() }
}

/// y1 = Neg(Relu(x)) and y2 = Reshape(x, [3]), with x: float32[n]: y2 fails unless n is 3.
private func twoBranchSession() throws -> Session {
    let graph = Graph(
        name: "g",
        nodes: [Node(name: "relu", opType: "Relu", inputs: ["x"], outputs: ["a"]),
                Node(name: "neg", opType: "Neg", inputs: ["a"], outputs: ["y1"]),
                Node(name: "reshape", opType: "Reshape", inputs: ["x", "three"], outputs: ["y2"])],
        inputs: [ValueInfo(name: "x", type: .tensor(.float, shape: [.symbol("n")]))],
        outputs: [ValueInfo(name: "y1", type: nil), ValueInfo(name: "y2", type: nil)],
        initializers: ["three": Tensor(shape: [1], scalars: [3] as [Int64])])
    return try Session(model: Model(irVersion: 8, opsets: ["": 19], graph: graph),
                       options: SessionOptions(threads: 1, backend: .cpu, optimize: false))
}

@Test func runsOnlyTheNodesTheNamedOutputsNeed() throws {
    let session = try twoBranchSession()
    let x = ["x": Tensor(shape: [2], scalars: [-1, 2] as [Float])]
    #expect(message { _ = try session.run(x) }.contains("node 'reshape' (Reshape)"))
    let profile = Profile()
    let only = try session.runOrdered(x, outputs: ["y1"], profile: profile)
    #expect(only.map(\.name) == ["y1"] && (try only[0].tensor.scalars(as: Float.self)) == [0, -2])
    #expect(profile.events.map(\.node) == ["relu", "neg"])

    let three = ["x": Tensor(shape: [3], scalars: [-1, 2, 3] as [Float])]
    let both = try session.runOrdered(three, outputs: ["y2", "y1"])
    #expect(both.map(\.name) == ["y2", "y1"] && both.map(\.tensor.shape) == [[3], [3]])
    #expect(try session.run(three, outputs: ["y2"]).keys.sorted() == ["y2"])
    #expect(message { _ = try session.run(three, outputs: ["y3"]) } == "'y3' is not an output of the model (outputs: y1, y2)")
}

@Test func asyncRunGivesWhatTheSynchronousRunGives() async throws {
    let session = try twoBranchSession()
    let x = ["x": Tensor(shape: [3], scalars: [-1, 2, 3] as [Float])]
    let outputs = try await session.run(x)
    #expect(try outputs["y1"]!.scalars(as: Float.self) == [0, -2, -3])
    #expect(try outputs["y2"]!.scalars(as: Float.self) == [-1, 2, 3])
    #expect(try await session.run(x, outputs: ["y1"]).keys.sorted() == ["y1"])
}

/// A Loop whose condition stays true and whose body passes `v` on: it runs until cancelled.
private func endlessLoopSession() throws -> Session {
    let body = Graph(
        name: "body",
        nodes: [Node(name: "keep", opType: "Identity", inputs: ["cond_in"], outputs: ["cond_out"]),
                Node(name: "same", opType: "Identity", inputs: ["v_in"], outputs: ["v_out"])],
        inputs: [ValueInfo(name: "i", type: .tensor(.int64, shape: [])), ValueInfo(name: "cond_in", type: .tensor(.bool, shape: [])),
                 ValueInfo(name: "v_in", type: .tensor(.float, shape: nil))],
        outputs: [ValueInfo(name: "cond_out", type: nil), ValueInfo(name: "v_out", type: nil)])
    let graph = Graph(
        name: "g",
        nodes: [Node(name: "loop", opType: "Loop", inputs: ["", "c", "v"], outputs: ["y"], attributes: ["body": .graph(body)])],
        inputs: [ValueInfo(name: "v", type: .tensor(.float, shape: [.value(1)]))],
        outputs: [ValueInfo(name: "y", type: nil)],
        initializers: ["c": Tensor(scalar: true)])
    return try Session(model: Model(irVersion: 8, opsets: ["": 19], graph: graph),
                       options: SessionOptions(threads: 1, backend: .cpu, limits: Limits(maxSubgraphRuns: .max)))
}

/// Times the cooperative pool, which synchronous tests running beside it hold for seconds:
/// scripts/test.sh runs it alone.
@Test func asyncRunsHoldNoThreadOfTheCooperativePoolAndStopWhenTheirTaskIsCancelled() async throws {
    let session = try endlessLoopSession()
    let v = ["v": Tensor(shape: [1], scalars: [Float(1)])]
    // More endless runs than the pool has threads (one a core); the runs' own deadline ends
    // them should they block the pool, and then the check below comes too late.
    let shared = Cancellation(timeout: 30)
    let start = ContinuousClock.now
    let runs = (0..<2 * Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) + 2).map { _ in
        Task { try await session.run(v, cancellation: shared) }
    }
    let waited = await Task { ContinuousClock.now - start }.value
    #expect(waited < .seconds(10))
    for run in runs { run.cancel() }
    for run in runs { #expect(message(await run.result) == "the run was cancelled") }
    #expect(!shared.isCancelled)  // cancelling a task stops its run only

    // the handle given still stops an async run, with its own reason
    #expect(message(await Task { try await session.run(v, cancellation: Cancellation(timeout: 0.2)) }.result)
        == "the run was cancelled: its time limit of 0.2 s ran out")
}
