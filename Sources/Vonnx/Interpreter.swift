import Synchronization
import VonnxCPU

/// Nodes that run on a device together (a `VulkanPartition`), standing as one node in the
/// graph an `Interpreter` runs.
protocol Partition: Sendable {
    /// Runs on `values` (the node's inputs, in order) and returns the node's outputs; with
    /// `profile`, records one event per node run.
    func run(_ values: [Tensor], profile: Profile?) throws -> [Tensor]
}

/// Runs a sorted graph on the CPU kernels. Values live in numbered slots; each slot is
/// released right after its last reader, so memory follows the live set. Immutable after
/// creation: several threads may run it at once. Nodes standing for device partitions run
/// their partition. `limits` are enforced as nodes run.
final class Interpreter: Sendable {
    private enum Work: Sendable {
        case cpu(OpDefinition)
        case partition(any Partition)
    }

    private struct Step: Sendable {
        let node: Node
        let work: Work
        let inputs: [Int?]
        let outputs: [Int?]
        /// The slots it reads: its inputs and the outer values its subgraphs capture.
        let reads: [Int]
        let release: [Int]
        let subgraphs: [String: Interpreter]
        /// What `limits.checkOutputs` learned of this node's outputs in earlier runs.
        let outputTypes = OutputTypeMemo()
    }

    private let steps: [Step]
    private let slotCount: Int
    private let constants: [(slot: Int, tensor: Tensor)]
    private let inputSlots: [Int]
    private let outputSlots: [Int]
    /// The step that produces each slot nodes produce.
    private let producer: [Int: Int]
    /// Outer-scope names this (sub)graph reads, and the slot each is copied into.
    private let captured: [(name: String, slot: Int)]
    private let slotOf: [String: Int]
    private let opset: Int
    private let pool: ThreadPool
    private let limits: Limits

    /// `partitions` maps the names of nodes that stand for device partitions (in the graph or
    /// in its subgraphs) to them.
    init(graph: Graph, opsets: [String: Int], pool: ThreadPool, limits: Limits = .init(), outerScope: Set<String> = [],
         partitions: [String: any Partition] = [:]) throws {
        self.pool = pool
        self.limits = limits
        opset = opsets[""] ?? opsets["ai.onnx"] ?? 1
        var slotOf: [String: Int] = [:]
        func slot(_ name: String) -> Int {
            if let s = slotOf[name] { return s }
            slotOf[name] = slotOf.count
            return slotOf.count - 1
        }
        inputSlots = graph.inputs.map { slot($0.name) }
        constants = graph.initializers.map { (slot($0.key), $0.value) }
        let defined = Set(graph.inputs.map(\.name)).union(graph.initializers.keys).union(graph.nodes.flatMap(\.outputs))
        let capturedNames = graph.capturedNames().subtracting(defined)
        captured = capturedNames.sorted().map { ($0, slot($0)) }
        let scope = outerScope.union(defined)

        var lastUse: [Int: Int] = [:]
        for (i, node) in graph.nodes.enumerated() {
            for name in node.inputs + node.capturedNames() where !name.isEmpty { lastUse[slot(name)] = i }
        }
        let outputSlots = graph.outputs.map { slot($0.name) }
        self.outputSlots = outputSlots
        let kept = Set(outputSlots).union(inputSlots).union(constants.map(\.slot))
        var releaseAt: [Int: [Int]] = [:]
        for (s, i) in lastUse where !kept.contains(s) { releaseAt[i, default: []].append(s) }

        var steps: [Step] = []
        for (i, node) in graph.nodes.enumerated() {
            var subgraphs: [String: Interpreter] = [:]
            for (attr, value) in node.attributes {
                if case .graph(let g) = value {
                    let sorted = try Passes.topologicallySorted(g, outerScope: scope)
                    subgraphs[attr] = try Interpreter(graph: sorted, opsets: opsets, pool: pool, limits: limits, outerScope: scope,
                                                      partitions: partitions)
                }
            }
            let work: Work = if let p = partitions[node.name], node.domain == "vonnx" { .partition(p) } else {
                .cpu(try definition(of: node, opsets: opsets))
            }
            steps.append(Step(node: node, work: work,
                              inputs: node.inputs.map { $0.isEmpty ? nil : slot($0) },
                              outputs: node.outputs.map { $0.isEmpty ? nil : slot($0) },
                              reads: (node.inputs + node.capturedNames()).filter { !$0.isEmpty }.map(slot),
                              release: releaseAt[i] ?? [], subgraphs: subgraphs))
        }
        self.steps = steps
        producer = Dictionary(steps.enumerated().flatMap { i, step in step.outputs.compactMap { $0.map { ($0, i) } } },
                              uniquingKeysWith: { first, _ in first })
        self.slotOf = slotOf
        slotCount = slotOf.count
    }

    /// How often one node application has run its subgraphs (`Limits.maxSubgraphRuns`).
    private final class RunCount: Sendable { let value = Atomic<Int>(0) }

    /// The bytes held by the tensors a run's nodes produced (`Limits.maxRunBytes`), shared by
    /// the run and its subgraph runs; each storage counts once, however many values view it.
    final class RunMemory: Sendable {
        private let state = Mutex<(bytes: Int, holders: [ObjectIdentifier: Int])>((0, [:]))

        var bytes: Int { state.withLock { $0.bytes } }

        func hold(_ t: Tensor) {
            state.withLock { s in
                let id = ObjectIdentifier(t.storage)
                if s.holders[id] == nil { s.bytes += t.storage.byteCount }
                s.holders[id, default: 0] += 1
            }
        }

        func release(_ t: Tensor) {
            state.withLock { s in
                let id = ObjectIdentifier(t.storage)
                guard let n = s.holders[id] else { return }
                if n > 1 { s.holders[id] = n - 1 } else { s.holders[id] = nil; s.bytes -= t.storage.byteCount }
            }
        }
    }

    /// Values of one run; a class so subgraph runners can read the enclosing scope. The values
    /// nodes produced are held in `memory` until released.
    private final class Frame: @unchecked Sendable {
        var slots: [Tensor?]
        var produced: [Bool]
        let outer: (@Sendable (String) -> Tensor?)?
        let memory: RunMemory
        init(count: Int, outer: (@Sendable (String) -> Tensor?)?, memory: RunMemory) {
            slots = .init(repeating: nil, count: count); produced = .init(repeating: false, count: count)
            self.outer = outer; self.memory = memory
        }

        /// Stores the output `t` of a node in slot `s`.
        func store(_ t: Tensor, at s: Int) {
            slots[s] = t
            produced[s] = true
            memory.hold(t)
        }

        /// Empties slot `s` (its value is not read again).
        func release(_ s: Int) {
            if produced[s], let t = slots[s] { memory.release(t) }
            slots[s] = nil
            produced[s] = false
        }

        deinit { for (s, p) in produced.enumerated() where p { slots[s].map(memory.release) } }
    }

    /// Which steps the graph outputs `wanted` (indices into the graph's outputs) need: their
    /// producers and, transitively, the producers of what those read.
    private func steps(computing wanted: [Int]) -> [Bool] {
        var needed = [Bool](repeating: false, count: steps.count)
        var pending = wanted.map { outputSlots[$0] }
        while let s = pending.popLast() {
            guard let i = producer[s], !needed[i] else { continue }
            needed[i] = true
            pending += steps[i].reads
        }
        return needed
    }

    /// Runs with `inputs` bound to the graph inputs in order and returns the graph outputs
    /// `wanted` (indices; nil for all), running only the nodes they need. `outer` resolves
    /// outer-scope names. `cancellation` is checked before every node; `memory` is the
    /// enclosing run's, for a subgraph.
    func run(_ inputs: [Tensor], wanted: [Int]? = nil, outer: (@Sendable (String) -> Tensor?)? = nil, profile: Profile? = nil,
             cancellation: Cancellation? = nil, memory: RunMemory = RunMemory()) throws -> [Tensor] {
        let needed = wanted.map(steps(computing:))
        let frame = Frame(count: slotCount, outer: outer, memory: memory)
        for (s, t) in constants { frame.slots[s] = t }
        for (s, t) in zip(inputSlots, inputs) { frame.slots[s] = t }
        for (name, s) in captured {
            guard let t = outer?(name) else { throw VonnxError.invalidModel("value '\(name)' is not defined in any enclosing graph") }
            frame.slots[s] = t
        }
        try cancellation?.check()
        for (i, step) in steps.enumerated() {
            if let needed, !needed[i] {
                for s in step.release { frame.release(s) }
                continue
            }
            try cancellation?.check()
            let definition: OpDefinition
            switch step.work {
            case .cpu(let d): definition = d
            case .partition(let partition):
                let inputs = try zip(step.node.inputs, step.inputs).map { name, s in
                    guard let t = s.flatMap({ frame.slots[$0] }) else { throw VonnxError.invalidModel("value '\(name)' was not produced") }
                    return t
                }
                let produced = try partition.run(inputs, profile: profile)
                for (s, t) in zip(step.outputs, produced) { if let s { frame.store(t, at: s) } }
                try limits.checkRun(step.node, held: memory.bytes, adding: 0)
                for s in step.release { frame.release(s) }
                continue
            }
            let lookup: @Sendable (String) -> Tensor? = { [frame, slotOf] name in
                if let s = slotOf[name], let t = frame.slots[s] { return t }
                return frame.outer?(name)
            }
            let subgraphRuns = RunCount()
            let ctx = KernelContext(
                node: step.node, inputs: step.inputs.map { $0.flatMap { frame.slots[$0] } }, opset: opset, pool: pool,
                runSubgraph: { [limits] attr, args in
                    guard let sub = step.subgraphs[attr] else { throw step.node.error("has no subgraph '\(attr)'") }
                    guard subgraphRuns.value.add(1, ordering: .relaxed).newValue <= limits.maxSubgraphRuns else {
                        throw step.node.error("ran its subgraph \(limits.maxSubgraphRuns) times, the limit (Limits.maxSubgraphRuns)")
                    }
                    return try sub.run(args, outer: lookup, profile: profile, cancellation: cancellation, memory: memory)
                }, maxTensorBytes: limits.maxTensorBytes)
            let adding = try limits.checkOutputs(of: step.node, definition, inputs: ctx.inputs, opset: opset, memo: step.outputTypes)
            try limits.checkRun(step.node, held: memory.bytes, adding: adding)
            let produced: [Tensor]
            let start = profile?.now() ?? 0
            do { produced = try definition.cpu(ctx) } catch let e as VonnxError {
                if case .invalidArgument(let m) = e { throw step.node.error(m) }
                throw e
            }
            if let profile {
                profile.record(.init(node: step.node.label, opType: step.node.opType, backend: "cpu", start: start,
                                     duration: profile.now() - start, inputShapes: ctx.inputs.map { $0?.shape ?? [] },
                                     outputShapes: produced.map(\.shape)))
            }
            for (i, s) in step.outputs.enumerated() {
                guard let s else { continue }
                guard i < produced.count else { throw step.node.error("produced \(produced.count) outputs, output \(i) is needed") }
                frame.store(produced[i], at: s)
            }
            try limits.checkRun(step.node, held: memory.bytes, adding: 0)
            for s in step.release { frame.release(s) }
        }
        return try (wanted ?? Array(outputSlots.indices)).map { i in
            guard let t = frame.slots[outputSlots[i]] else { throw VonnxError.invalidModel("graph output \(i) was not produced") }
            return t
        }
    }
}
