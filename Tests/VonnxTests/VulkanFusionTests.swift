import Foundation
import Testing
@testable import Vonnx
import VonnxCPU
import VonnxIR
@testable import VonnxVulkan

// Chains of elementwise ops recorded as one generated shader (ElementwiseFusion): which nodes
// a chain takes, that a chain records one dispatch, and random chains (broadcast operands,
// scalars, integer and bool values, NaN and infinities) against the CPU backend, with the
// validation layer on.

private let hasDevice = TestVulkan.device != nil

private func node(_ op: String, _ inputs: [String], _ output: String, _ attributes: [String: Attribute] = [:]) -> Node {
    Node(name: output, opType: op, inputs: inputs, outputs: [output], attributes: attributes)
}

@Test func chainsTakeSingleReaderElementwiseNodes() {
    // x → Sigmoid → Mul(x, ·) → Add(·, b) → Relu: one chain rooted at the Relu
    let swish = [node("Sigmoid", ["x"], "s"), node("Mul", ["x", "s"], "m"), node("Add", ["m", "b"], "a"), node("Relu", ["a"], "y")]
    #expect(ElementwiseFusion.roots(swish, kept: ["y"], excluded: []) == [0: 3, 1: 3, 2: 3, 3: 3])
    // a value read after the nodes ends a chain there
    #expect(ElementwiseFusion.roots(swish, kept: ["y", "m"], excluded: []) == [0: 1, 1: 1, 2: 3, 3: 3])
    // a value with two readers, or read by a node that is not elementwise, is not taken
    let shared = [node("Exp", ["x"], "e"), node("Neg", ["e"], "n"), node("Add", ["e", "n"], "y")]
    #expect(ElementwiseFusion.roots(shared, kept: ["y"], excluded: []) == [1: 2, 2: 2])
    let conv = [node("Relu", ["x"], "r"), node("Conv", ["r", "w"], "c"), node("Sigmoid", ["c"], "y")]
    #expect(ElementwiseFusion.roots(conv, kept: ["y"], excluded: []).isEmpty)
    // host-evaluated nodes stay out, and so does a value read as a host input (Clip's bound)
    #expect(ElementwiseFusion.roots(swish, kept: ["y"], excluded: [0]) == [1: 3, 2: 3, 3: 3])
    let bound = [node("Neg", ["x"], "lo"), node("Clip", ["x", "lo"], "y")]
    #expect(ElementwiseFusion.roots(bound, kept: ["y"], excluded: []).isEmpty)
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason)) func fourOpChainRecordsOneDispatch() throws {
    let device = try #require(TestVulkan.device)
    var r = SplitMix(state: 17)
    let x = r.floats([2, 3, 4, 5], -4...4), b = r.floats([3, 1, 1])
    let nodes = [node("Sigmoid", ["x"], "s"), node("Mul", ["x", "s"], "m"), node("Add", ["m", "b"], "a"), node("Relu", ["a"], "y")]
    let recorder = try VulkanRecorder(device: device)
    let values = ["x": try recorder.upload(x), "b": try recorder.upload(b)]
    func context(_ n: Node) -> VulkanKernelContext {
        VulkanKernelContext(node: n, inputs: n.inputs.map { values[$0] }, hostInputs: [], opset: 17, recorder: recorder)
    }
    let chains = ElementwiseFusion()
    for n in nodes.dropLast() { try chains.add(context(n)) }
    #expect(chains.shape(of: "m") == [2, 3, 4, 5])
    let y = try chains.record(context(nodes[3]))
    #expect(recorder.dispatchCount == 1)
    let download = try recorder.download(y)
    try recorder.submitAndWait()
    #expect(device.takeValidationMessages().isEmpty)
    let got = try download.tensor().scalars(as: Float.self), xs = x.scalars(as: Float.self), bs = b.scalars(as: Float.self)
    let want = xs.indices.map { i in max(xs[i] / (1 + exp(-xs[i])) + bs[i / 20 % 3], 0) }
    let wrong = xs.indices.first { abs(got[$0] - want[$0]) > 1e-5 * (1 + abs(want[$0])) }
    #expect(wrong == nil, "element \(wrong ?? 0): \(got[wrong ?? 0]) vs \(want[wrong ?? 0])")
}

/// A random graph whose nodes form elementwise chains over one element family.
private struct RandomChains {
    enum Family: CaseIterable { case float, int32, int8, bool }

    static let shape = [2, 3, 4, 5]
    /// Operand shapes broadcast to `shape`: whole, per last dim, per channel, scalar, rank 0, mixed.
    static let operandShapes = [[2, 3, 4, 5], [5], [3, 1, 1], [1], [], [2, 1, 4, 1], [1, 3, 4, 5]]

    var builder = GraphBuilder(name: "chains")
    var feeds: [String: Tensor] = [:]
    var r: SplitMix
    let family: Family

    init(seed: UInt64, family: Family) {
        r = SplitMix(state: seed)
        self.family = family
    }

    /// Values of the family over `shape`, a few of them NaN, ±infinity or -0 for floats.
    mutating func values(_ shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        switch family {
        case .float:
            let specials: [Float] = [.nan, .infinity, -.infinity, -0.0, 0]
            return Tensor(shape: shape, scalars: (0..<count).map { _ in
                Int.random(in: 0..<12, using: &r) == 0 ? specials.randomElement(using: &r)! : Float.random(in: -3...3, using: &r)
            })
        case .int32: return Tensor(shape: shape, scalars: (0..<count).map { _ in Int32.random(in: -300...300, using: &r) })
        case .int8: return Tensor(shape: shape, scalars: (0..<count).map { _ in Int8.random(in: .min ... .max, using: &r) })
        case .bool: return r.bools(shape)
        }
    }

    /// A new leaf: a graph input or an initializer, of a random operand shape (the whole shape for `full`).
    mutating func leaf(full: Bool = false) -> String {
        let shape = full ? Self.shape : Self.operandShapes.randomElement(using: &r)!
        let t = values(shape)
        if Bool.random(using: &r) { return builder.constant(t) }
        let name = builder.uniqueName("in")
        feeds[name] = t
        return builder.input(name, t.dataType, shape.map { .value($0) })
    }

    /// One unary step over `x`.
    mutating func unary(_ x: String) -> String {
        switch family {
        case .float:
            let ops = ["Relu", "Sigmoid", "Tanh", "Abs", "Neg", "Floor", "Erf", "Softplus", "HardSwish", "Gelu", "Sin", "Exp",
                       "Sqrt", "Sign", "Round", "Reciprocal", "LeakyRelu", "Clip", "HardSigmoid", "Elu"]
            switch ops.randomElement(using: &r)! {
            case "LeakyRelu": return builder.node("LeakyRelu", [x], ["alpha": .float(0.2)])
            case "HardSigmoid": return builder.node("HardSigmoid", [x], ["alpha": .float(0.3), "beta": .float(0.4)])
            case "Clip":
                let lo = builder.constant(Tensor(scalar: Float(-0.5))), hi = builder.constant(Tensor(scalar: Float(1.5)))
                return builder.node("Clip", [x, lo, hi])
            case "Gelu":
                let tanh = Bool.random(using: &r)
                return builder.node("Gelu", [x], tanh ? ["approximate": .string(Array("tanh".utf8))] : [:])
            case let op: return builder.node(op, [x])
            }
        case .int32, .int8:
            let op = ["Abs", "Neg", "Sign"].randomElement(using: &r)!
            return builder.node(op, [x])
        case .bool: return builder.node("Not", [x])
        }
    }

    /// One binary (or Where) step over `x` and `y`.
    mutating func binary(_ x: String, _ y: String) -> String {
        let (a, b) = Bool.random(using: &r) ? (x, y) : (y, x)
        switch family {
        case .float:
            let op = ["Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "Where", "Sum"].randomElement(using: &r)!
            if op == "Where" {
                let bound = leaf()
                let less = builder.node("Less", [a, bound])
                return builder.node("Where", [less, a, b])
            }
            return builder.node(op, [a, b])
        case .int32, .int8:
            let op = ["Add", "Sub", "Mul", "Div", "Max", "Min", "Mod", "Where"].randomElement(using: &r)!
            if op == "Where" {
                let other = leaf()
                let greater = builder.node("Greater", [a, b])
                return builder.node("Where", [greater, a, other])
            }
            return builder.node(op, [a, b], op == "Mod" ? ["fmod": .int(0)] : [:])
        case .bool:
            let op = ["And", "Or", "Xor", "Equal"].randomElement(using: &r)!
            return builder.node(op, [a, b])
        }
    }

    /// A chain of `length` steps from `start`, joined now and then by a chain from a new leaf.
    mutating func chain(from start: String, length: Int, depth: Int = 0) -> String {
        var x = start
        for _ in 0..<length {
            if Int.random(in: 0..<3, using: &r) == 0 {
                x = unary(x)
            } else {
                let other = depth < 1 && Bool.random(using: &r) ? chain(from: leaf(), length: 2, depth: depth + 1) : leaf()
                x = binary(x, other)
            }
        }
        return x
    }
}

@Test(.enabled(if: hasDevice, TestVulkan.skipReason), arguments: RandomChains.Family.allCases, 0..<6)
private func randomChainsMatchCPU(family: RandomChains.Family, round: Int) throws {
    let seed = UInt64(round * 31 + RandomChains.Family.allCases.firstIndex(of: family)! + 1)
    var g = RandomChains(seed: seed, family: family)
    let y = g.chain(from: g.leaf(full: true), length: 6)
    g.builder.output(y)
    let model = Model(irVersion: 8, opsets: ["": 18], graph: g.builder.graph)
    let options = SessionOptions(threads: 1, backend: .vulkan, allowFallback: false, optimize: false,
                                 vulkanDevice: TestVulkan.device?.info.name, vulkanDeviceOf: try? TestVulkan.opened.get().session)
    let gpu = try Session(model: model, options: options), cpu = try Session(model: model, options: SessionOptions(threads: 1, backend: .cpu))
    let gpuProfile = Profile(), cpuProfile = Profile()
    let got = try gpu.runOrdered(g.feeds, profile: gpuProfile)[0].tensor, want = try cpu.runOrdered(g.feeds, profile: cpuProfile)[0].tensor
    let nodes = g.builder.graph.nodes
    let context = "seed \(seed), \(family): \(nodes.map(\.opType))"
    #expect(got.shape == want.shape, "\(context)")
    // Chain members of their root's shape record no dispatch of their own (but a chain the
    // generator does not take, or one of host-evaluated nodes): some of them, at least.
    var shapes: [String: [Int]] = [:]
    for e in cpuProfile.events { shapes[e.node] = e.outputShapes.first }
    let fused = ElementwiseFusion.roots(nodes, kept: [y], excluded: []).filter { member, root in
        member != root && shapes[nodes[member].name] == shapes[nodes[root].name]
    }.map { nodes[$0.key].name }
    let idle = Set(gpuProfile.events.filter { $0.duration == 0 }.map(\.node))
    #expect(fused.isEmpty || fused.contains(where: idle.contains), "\(context)")
    // The kernels one node at a time on the device: where they already differ from the CPU on
    // special values (pow(-inf, 0.5), Gelu(-inf)), the fused shader is held to them instead.
    let device = try #require(TestVulkan.device)
    var values = g.feeds.merging(g.builder.graph.initializers) { $1 }
    for n in nodes { values[n.outputs[0]] = try VulkanKernels.run(n, inputs: n.inputs.map { values[$0] }, opset: 18, device: device)[0] }
    let unfused = try #require(values[y])
    switch family {
    case .float:
        func close(_ a: Float, _ b: Float) -> Bool { a.isNaN ? b.isNaN : a == b || abs(a - b) <= 1e-4 + 2e-3 * abs(b) }
        let (g, c, u) = (got.scalars(as: Float.self), want.scalars(as: Float.self), unfused.scalars(as: Float.self))
        if let i = g.indices.first(where: { !close(g[$0], close(u[$0], c[$0]) ? c[$0] : u[$0]) }) {
            Issue.record("\(context): element \(i): \(g[i]) vs \(c[i]) on the CPU, \(u[i]) unfused")
        }
    case .int32: #expect(got.scalars(as: Int32.self) == want.scalars(as: Int32.self), "\(context)")
    case .int8: #expect(got.scalars(as: Int8.self) == want.scalars(as: Int8.self), "\(context)")
    case .bool: #expect(got.scalars(as: Bool.self) == want.scalars(as: Bool.self), "\(context)")
    }
    let messages = gpu.vulkan?.takeValidationMessages() ?? []
    #expect(messages.isEmpty, "validation: \(messages.joined(separator: "\n"))")
}
