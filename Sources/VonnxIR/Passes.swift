import Synchronization

/// Graph passes that do not depend on any backend. A pass takes a graph and returns a new one.
public enum Passes {
    /// Orders nodes so each comes after the producers of its inputs. Fails with the node's
    /// name when an input is produced by nothing in scope (`outerScope` holds the names
    /// visible from enclosing graphs) or when nodes form a cycle.
    public static func topologicallySorted(_ graph: Graph, outerScope: Set<String> = []) throws -> Graph {
        var available = outerScope.union(graph.inputs.map(\.name)).union(graph.initializers.keys)
        available.insert("")
        var producer: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() {
            for o in node.outputs where !o.isEmpty {
                if producer[o] != nil || graph.initializers[o] != nil || graph.inputs.contains(where: { $0.name == o }) {
                    throw node.error("output '\(o)' is produced more than once")
                }
                producer[o] = i
            }
        }
        // Kahn's algorithm over node indices; subgraph outer-scope reads count as inputs.
        var pending = [Int](repeating: 0, count: graph.nodes.count)
        var consumers: [String: [Int]] = [:]
        for (i, node) in graph.nodes.enumerated() {
            for name in Set(node.inputs + node.capturedNames()) where !available.contains(name) {
                guard producer[name] != nil else {
                    throw node.error("input '\(name)' is not produced by any node, initializer or graph input")
                }
                pending[i] += 1
                consumers[name, default: []].append(i)
            }
        }
        // `ready` is kept in descending order, so the file's order wins among ready nodes.
        var ready = (0..<graph.nodes.count).filter { pending[$0] == 0 }.reversed() as [Int]
        var order: [Int] = []
        order.reserveCapacity(graph.nodes.count)
        while let i = ready.popLast() {
            order.append(i)
            var released: [Int] = []
            for o in graph.nodes[i].outputs {
                for c in consumers[o] ?? [] {
                    pending[c] -= 1
                    if pending[c] == 0 { released.append(c) }
                }
            }
            if !released.isEmpty { ready = (ready + released).sorted(by: >) }
        }
        guard order.count == graph.nodes.count else {
            let stuck = graph.nodes.indices.first { pending[$0] > 0 }.map { graph.nodes[$0].label } ?? "?"
            throw VonnxError.invalidModel("graph '\(graph.name)' has a cycle through node '\(stuck)'")
        }
        var result = graph
        result.nodes = order.map { graph.nodes[$0] }
        return result
    }

    /// Drops nodes whose outputs reach no graph output (nodes in sorted order expected).
    public static func withoutDeadNodes(_ graph: Graph) -> Graph {
        var live = Set(graph.outputs.map(\.name))
        var kept: [Node] = []
        for node in graph.nodes.reversed() where node.outputs.contains(where: live.contains) {
            kept.append(node)
            live.formUnion(node.inputs)
            live.formUnion(node.capturedNames())
        }
        var result = graph
        result.nodes = kept.reversed()
        let used = live
        result.initializers = graph.initializers.filter { used.contains($0.key) }
        return result
    }

    /// Ops whose result is not a function of their inputs alone; never folded.
    public static let nondeterministic: Set<String> = ["RandomNormal", "RandomUniform", "RandomNormalLike",
                                                "RandomUniformLike", "Multinomial", "Bernoulli", "Dropout"]

    /// Replaces nodes whose inputs are all constants by initializers holding their outputs,
    /// and Shape/Size of values whose shape is static (from `graph.valueInfo`). `evaluate`
    /// computes a node's outputs, or returns nil when it cannot. Sorted nodes expected.
    public static func foldingConstants(_ graph: Graph, opset: Int,
                                        evaluate: (Node, [Tensor?]) throws -> [Tensor]?) rethrows -> Graph {
        var result = graph
        var constants = graph.initializers
        var kept: [Node] = []
        let graphOutputs = Set(graph.outputs.map(\.name))
        for node in graph.nodes {
            if let folded = try fold(node, constants: constants, valueInfo: graph.valueInfo, evaluate: evaluate),
               !node.outputs.contains(where: graphOutputs.contains) {
                for (name, t) in zip(node.outputs, folded) where !name.isEmpty { constants[name] = t }
            } else {
                kept.append(node)
            }
        }
        result.nodes = kept
        result.initializers = constants
        return result
    }

    private static func fold(_ node: Node, constants: [String: Tensor], valueInfo: [String: ValueInfo],
                             evaluate: (Node, [Tensor?]) throws -> [Tensor]?) rethrows -> [Tensor]? {
        guard node.domain.isEmpty, !nondeterministic.contains(node.opType),
              !node.attributes.values.contains(where: { if case .graph = $0 { true } else if case .graphs = $0 { true } else { false } })
        else { return nil }
        if node.opType == "Shape" || node.opType == "Size", let x = node.inputs.first,
           let shape = constants[x]?.shape ?? valueInfo[x]?.type?.staticShape {
            return try? staticShapeValue(node, shape)
        }
        var inputs: [Tensor?] = []
        for name in node.inputs {
            if name.isEmpty { inputs.append(nil); continue }
            guard let t = constants[name] else { return nil }
            inputs.append(t)
        }
        guard let outputs = try? evaluate(node, inputs), outputs.count >= node.outputs.filter({ !$0.isEmpty }).count
        else { return nil }
        return outputs
    }
}

/// The output of Shape (opset 15's start/end included) or Size for an input of `shape`.
private func staticShapeValue(_ node: Node, _ shape: [Int]) throws -> [Tensor] {
    if node.opType == "Size" {
        guard let n = checkedElementCount(shape, limit: .max) else { throw node.error("shape \(shape) has too many elements") }
        return [Tensor(scalar: Int64(n))]
    }
    let rank = shape.count
    func clamp(_ i: Int) -> Int { min(max(i < 0 ? i + rank : i, 0), rank) }
    let start = clamp(try node.int("start", default: 0)), end = clamp(try node.int("end", default: rank))
    let dims = start < end ? shape[start..<end].map { Int64($0) } : []
    return [Tensor(shape: [dims.count], scalars: dims)]
}

extension Node {
    /// Names read by this node's subgraphs from enclosing scopes, each once.
    public func capturedNames() -> Set<String> {
        var names: Set<String> = []
        for attr in attributes.values {
            switch attr {
            case .graph(let g): names.formUnion(g.capturedNames())
            case .graphs(let gs): for g in gs { names.formUnion(g.capturedNames()) }
            default: break
            }
        }
        return names
    }
}

extension Graph {
    /// Counts the graphs whose captured names are computed rather than remembered, for tests.
    final class ScanCount: Sendable { let value = Atomic<Int>(0) }
    @TaskLocal static var captureScans: ScanCount?

    /// Names this graph reads that it does not define itself (outer-scope values). Remembered
    /// with the graph (and its subgraphs), so that passes and interpreters asking at every
    /// level of nested subgraphs do work linear in the depth, not quadratic or worse.
    public func capturedNames() -> Set<String> {
        captures.names.withLock { memo in
            if let memo { return memo }
            Self.captureScans?.value.add(1, ordering: .relaxed)
            let names = scanCapturedNames()
            memo = names
            return names
        }
    }

    private func scanCapturedNames() -> Set<String> {
        var defined = Set(inputs.map(\.name)).union(initializers.keys)
        defined.insert("")
        var captured: Set<String> = []
        for node in nodes { defined.formUnion(node.outputs) }
        for node in nodes {
            for name in node.inputs where !defined.contains(name) { captured.insert(name) }
            captured.formUnion(node.capturedNames().subtracting(defined))
        }
        return captured
    }
}
