import VonnxCPU

/// Checks and optimizes a graph before it runs: every op known, sorted, no cycles, types
/// inferred, and (when `optimize`) dead nodes removed and constants folded.
struct Optimizer {
    let opsets: [String: Int]
    let optimize: Bool
    var opset: Int { opsets[""] ?? opsets["ai.onnx"] ?? 1 }

    func prepare(_ graph: Graph) throws -> Graph {
        try checkOps(graph)
        var g = try Passes.topologicallySorted(graph)
        g = try ShapeInference.inferred(g, opset: opset) { (try? definition(of: $0, opsets: opsets))?.shape }
        guard optimize else { return g }
        g = Passes.withoutDeadNodes(g)
        let pool = ThreadPool(threads: 1)
        g = Passes.foldingConstants(g, opset: opset) { node, inputs in
            guard let def = try? definition(of: node, opsets: opsets) else { return nil }
            return try? def.cpu(KernelContext(node: node, inputs: inputs, opset: opset, pool: pool))
        }
        return Passes.withoutDeadNodes(g)
    }

    /// Every node, subgraphs included, must have a registered op.
    private func checkOps(_ graph: Graph) throws {
        for node in graph.nodes {
            _ = try definition(of: node, opsets: opsets)
            for attr in node.attributes.values {
                if case .graph(let sub) = attr { try checkOps(sub) }
                if case .graphs(let subs) = attr { for s in subs { try checkOps(s) } }
            }
        }
    }
}
