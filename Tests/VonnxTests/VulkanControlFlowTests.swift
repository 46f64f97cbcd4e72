import Testing
@testable import Vonnx

// If and Loop bodies placed on the Vulkan device (`VulkanPlacement.placingBodies`), against
// the CPU backend on fresh random inputs, on the test session's validated device.

private let hasDevice = TestVulkan.device != nil

/// A fresh seed for a test's random inputs, to name in its failures.
private func seed() -> UInt64 { UInt64.random(in: 0...UInt64.max) }

/// A body graph of `ops` applied in a chain to `from` (an outer-scope value), output `output`;
/// an op given as "Mul:w" takes the value `w` as its second operand.
private func chain(_ name: String, from: String, _ ops: [String], output: String) -> Graph {
    var b = GraphBuilder(name: name), value = from
    for (i, op) in ops.enumerated() {
        let parts = op.split(separator: ":").map(String.init)
        value = b.node(parts[0], [value] + parts.dropFirst(), output: i == ops.count - 1 ? output : nil)
    }
    b.output(value)
    return b.graph
}

/// y = If(c, then_branch, else_branch) on x[2, 4] and the weight w, with c a graph input.
private func ifModel(then: Graph, else other: Graph) -> Model {
    var rng = SplitMix(state: 7)
    let graph = Graph(name: "if", nodes: [Node(name: "branch", opType: "If", inputs: ["c"], outputs: ["y"],
                                               attributes: ["then_branch": .graph(then), "else_branch": .graph(other)])],
                      inputs: [ValueInfo(name: "x", type: .tensor(.float, shape: [.value(2), .value(4)])),
                               ValueInfo(name: "c", type: .tensor(.bool, shape: []))],
                      outputs: [ValueInfo(name: "y", type: nil)], initializers: ["w": rng.floats([2, 4])])
    return Model(irVersion: 8, opsets: ["": 17], graph: graph)
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func ifBranchesRunOnTheDevice() throws {
    // both branches read the outer input x and the outer weight w; no node may fall back
    let model = ifModel(then: chain("then", from: "x", ["Mul:w", "Relu", "Exp"], output: "t"),
                        else: chain("else", from: "x", ["Add:w", "Sigmoid"], output: "e"))
    let s = seed()
    var rng = SplitMix(state: s)
    for taken in [true, false, true] {
        let session = try expectMatchesCPU(model, ["x": rng.floats([2, 4]), "c": Tensor(scalar: taken)],
                                           options: vulkanOptions(allowFallback: false))
        #expect(session.vulkanPartitionCount == 2, "seed \(s)")
        #expect(session.fallbackNodes.isEmpty)
        #expect(session.bodyPlacements.map(\.description)
                == ["If 'branch' else_branch: 1 partition(s), 0 fallback", "If 'branch' then_branch: 1 partition(s), 0 fallback"])
    }
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func nestedIfRunsOnTheDevice() throws {
    // the then-branch holds an If on the outer input d, whose branches read x and w
    let inner = Node(name: "inner", opType: "If", inputs: ["d"], outputs: ["z"], attributes: [
        "then_branch": .graph(chain("inner_then", from: "x", ["Mul:w", "Tanh"], output: "it")),
        "else_branch": .graph(chain("inner_else", from: "x", ["Neg", "Sigmoid"], output: "ie"))])
    var then = Graph(name: "then", nodes: [inner], outputs: [ValueInfo(name: "z", type: nil)])
    then.nodes.append(Node(name: "after", opType: "Relu", inputs: ["z"], outputs: ["r"]))
    then.outputs = [ValueInfo(name: "r", type: nil)]
    var model = ifModel(then: then, else: chain("else", from: "x", ["Abs"], output: "e"))
    model.graph.inputs.append(ValueInfo(name: "d", type: .tensor(.bool, shape: [])))
    var rng = SplitMix(state: seed())
    let session = try Session(model: model, options: vulkanOptions(allowFallback: false))
    #expect(session.bodyPlacements.map(\.description) == [
        "If 'branch' else_branch: 1 partition(s), 0 fallback",
        "If 'branch' then_branch: 1 partition(s), 0 fallback",
        "If 'branch' then_branch / If 'inner' else_branch: 1 partition(s), 0 fallback",
        "If 'branch' then_branch / If 'inner' then_branch: 1 partition(s), 0 fallback"])
    for (c, d) in [(true, true), (true, false), (false, true)] {
        try expectMatchesCPU(model, ["x": rng.floats([2, 4]), "c": Tensor(scalar: c), "d": Tensor(scalar: d)],
                             options: vulkanOptions(allowFallback: false))
    }
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func bodyNodesFallBackOneByOne() throws {
    // SwiGLU has no Vulkan kernel: the branch runs as two partitions around it
    let model = ifModel(then: chain("then", from: "x", ["Mul:w", "SwiGLU:x", "Sigmoid"], output: "t"),
                        else: chain("else", from: "x", ["Relu"], output: "e"))
    var rng = SplitMix(state: seed())
    for taken in [true, false] {
        let session = try expectMatchesCPU(model, ["x": rng.floats([2, 4]), "c": Tensor(scalar: taken)])
        #expect(session.fallbackNodes == ["swiglu2"])
        #expect(session.bodyPlacements.map(\.description) == [
            "If 'branch' else_branch: 1 partition(s), 0 fallback",
            "If 'branch' then_branch: 2 partition(s), 1 fallback (swiglu2)"])
    }
    #expect(throws: UnsupportedOnVulkan.self) { try Session(model: model, options: vulkanOptions(allowFallback: false)) }
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func loopWithDataDependentConditionRunsOnTheDevice() throws {
    // v ← Tanh(v·w + x) and total ← total + Σ|v| while total < 12 and at most M times; the
    // scan output stacks every v
    let body = Graph(name: "body", nodes: [
        Node(name: "scale", opType: "Mul", inputs: ["v_in", "w"], outputs: ["scaled"]),
        Node(name: "shift", opType: "Add", inputs: ["scaled", "x"], outputs: ["shifted"]),
        Node(name: "squash", opType: "Tanh", inputs: ["shifted"], outputs: ["v_out"]),
        Node(name: "size", opType: "Abs", inputs: ["v_out"], outputs: ["magnitude"]),
        Node(name: "sum", opType: "ReduceSum", inputs: ["magnitude"], outputs: ["step"], attributes: ["keepdims": .int(0)]),
        Node(name: "accumulate", opType: "Add", inputs: ["total_in", "step"], outputs: ["total_out"]),
        Node(name: "go_on", opType: "Less", inputs: ["total_out", "limit"], outputs: ["cond_out"]),
        Node(name: "copy", opType: "Identity", inputs: ["v_out"], outputs: ["scanned"])],
        inputs: [ValueInfo(name: "i", type: .tensor(.int64, shape: [])), ValueInfo(name: "cond_in", type: .tensor(.bool, shape: [])),
                 ValueInfo(name: "v_in", type: .tensor(.float, shape: [.value(2), .value(4)])),
                 ValueInfo(name: "total_in", type: .tensor(.float, shape: []))],
        outputs: ["cond_out", "v_out", "total_out", "scanned"].map { ValueInfo(name: $0, type: nil) })
    var rng = SplitMix(state: 7)
    let graph = Graph(name: "loop", nodes: [Node(name: "loop", opType: "Loop", inputs: ["M", "go", "x", "zero"],
                                                 outputs: ["v", "total", "all"], attributes: ["body": .graph(body)])],
                      inputs: [ValueInfo(name: "x", type: .tensor(.float, shape: [.value(2), .value(4)])),
                               ValueInfo(name: "M", type: .tensor(.int64, shape: []))],
                      outputs: ["v", "total", "all"].map { ValueInfo(name: $0, type: nil) },
                      initializers: ["go": Tensor(scalar: true), "zero": Tensor(scalar: Float(0)), "limit": Tensor(scalar: Float(12)),
                                     "w": rng.floats([2, 4])])
    let model = Model(irVersion: 8, opsets: ["": 17], graph: graph)
    let s = seed()
    var inputs = SplitMix(state: s)
    for trips in [Int64(0), 2, 50] {
        let feeds = ["x": inputs.floats([2, 4]), "M": Tensor(scalar: trips)]
        let session = try expectMatchesCPU(model, feeds, options: vulkanOptions(allowFallback: false))
        #expect(session.bodyPlacements.map(\.description) == ["Loop 'loop' body: 1 partition(s), 0 fallback"])
        // the condition, not M, ends the long run: Σ|v| ≤ 8 an iteration, so 12 is passed within 50
        let iterations = try #require(session.run(feeds)["all"]).shape.first ?? -1
        #expect(trips == 50 ? (2..<50).contains(iterations) : iterations == Int(trips), "seed \(s): \(iterations) iterations")
    }
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func scanBodyRunsOnTheDevice() throws {
    // s ← Tanh(s·w + x[t]) over the 5 rows of x, backwards; the scan output stacks every s
    let body = Graph(name: "body", nodes: [
        Node(name: "scale", opType: "Mul", inputs: ["s_in", "w"], outputs: ["scaled"]),
        Node(name: "shift", opType: "Add", inputs: ["scaled", "row"], outputs: ["shifted"]),
        Node(name: "squash", opType: "Tanh", inputs: ["shifted"], outputs: ["s_out"]),
        Node(name: "copy", opType: "Identity", inputs: ["s_out"], outputs: ["scanned"])],
        inputs: ["s_in", "row"].map { ValueInfo(name: $0, type: .tensor(.float, shape: [.value(4)])) },
        outputs: ["s_out", "scanned"].map { ValueInfo(name: $0, type: nil) })
    var rng = SplitMix(state: seed())
    let graph = Graph(name: "scan", nodes: [Node(name: "scan", opType: "Scan", inputs: ["s", "x"], outputs: ["final", "all"],
                                                 attributes: ["body": .graph(body), "num_scan_inputs": .int(1),
                                                              "scan_input_directions": .ints([1])])],
                      inputs: [ValueInfo(name: "s", type: .tensor(.float, shape: [.value(4)])),
                               ValueInfo(name: "x", type: .tensor(.float, shape: [.value(5), .value(4)]))],
                      outputs: ["final", "all"].map { ValueInfo(name: $0, type: nil) }, initializers: ["w": rng.floats([4])])
    let model = Model(irVersion: 8, opsets: ["": 17], graph: graph)
    let session = try expectMatchesCPU(model, ["s": rng.floats([4]), "x": rng.floats([5, 4])], options: vulkanOptions(allowFallback: false))
    #expect(session.bodyPlacements.map(\.description) == ["Scan 'scan' body: 1 partition(s), 0 fallback"])
}
