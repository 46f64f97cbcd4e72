import VonnxCPU

/// Checks and optimizes a graph before it runs: every op known, sorted, no cycles, types
/// inferred, and (when `optimize`) dead nodes removed, constants folded, Conv fused with
/// BatchNormalization, residual Add and activations (`Passes.fusingConv`), decomposed layer
/// normalizations and Gelus fused (`Passes.fusingLayerNormalization`, `fusingGelu`) and, for the CPU alone, Transposes
/// and bias Adds folded into the MatMuls they feed and follow, and attention's scores, scale,
/// Softmax and product by V fused (`Passes.fusingAttention`).
struct Optimizer {
    let opsets: [String: Int]
    let optimize: Bool
    let limits: Limits
    /// The graph runs wholly on the CPU backend: fusions into ops only its kernels run are made
    /// too (`Passes.fusingIntoMatMul`, `fusingAttention`).
    var cpuOnly = false
    var opset: Int { opsets[""] ?? opsets["ai.onnx"] ?? 1 }

    func prepare(_ graph: Graph) throws -> Graph {
        try checkOps(graph, depth: 0)
        var g = try inferTypes(Passes.topologicallySorted(graph))
        try checkDeclaredOutputs(g)
        guard optimize else { return g }
        g = Passes.withoutDeadNodes(g)
        let pool = ThreadPool(threads: 1)
        // Folding makes constants (and static shapes) that let inference and folding go
        // further, e.g. through exporters' Shape→Gather→Concat→Reshape chains.
        while true {
            let before = g.nodes.count
            g = Passes.foldingConstants(g, opset: opset) { node, inputs in
                guard let def = try? definition(of: node, opsets: opsets),
                      (try? limits.checkOutputs(of: node, def, inputs: inputs, opset: opset)) != nil else { return nil }
                return try? def.cpu(KernelContext(node: node, inputs: inputs, opset: opset, pool: pool, maxTensorBytes: limits.maxTensorBytes))
            }
            g = Passes.withoutDeadNodes(g)
            guard g.nodes.count < before else {
                g = Passes.fusingLayerNormalization(Passes.fusingConv(Passes.fusingGelu(g)))
                return cpuOnly ? Passes.fusingAttention(Passes.fusingIntoMatMul(g), opset: opset) : g
            }
            g = try inferTypes(g)
        }
    }

    private func inferTypes(_ graph: Graph) throws -> Graph {
        try ShapeInference.inferred(graph, opset: opset) { (try? definition(of: $0, opsets: opsets))?.shape }
    }

    /// A graph output declared with one element type but made with another is an error, as in
    /// onnxruntime. Declared shapes are not checked: exporters write wrong ones, and
    /// onnxruntime only warns about them.
    private func checkDeclaredOutputs(_ graph: Graph) throws {
        for output in graph.outputs {
            guard let declared = output.type?.elementType, let made = graph.valueInfo[output.name]?.type?.elementType,
                  declared != made else { continue }
            let maker = graph.nodes.first { $0.outputs.contains(output.name) }.map { "node '\($0.label)' (\($0.opType))" }
            throw VonnxError.invalidModel("output '\(output.name)' is declared \(declared) but \(maker ?? "the graph") makes \(made)")
        }
    }

    /// Every node, subgraphs included, must have a registered op, and subgraphs may nest at
    /// most `limits.maxSubgraphDepth` deep (`depth` is `graph`'s).
    private func checkOps(_ graph: Graph, depth: Int) throws {
        for node in graph.nodes {
            _ = try definition(of: node, opsets: opsets)
            for attr in node.attributes.values {
                let subs: [Graph] = switch attr {
                case .graph(let sub): [sub]
                case .graphs(let subs): subs
                default: []
                }
                guard subs.isEmpty || depth < limits.maxSubgraphDepth else {
                    throw node.error("nests subgraphs deeper than \(limits.maxSubgraphDepth) levels (Limits.maxSubgraphDepth)")
                }
                for s in subs { try checkOps(s, depth: depth + 1) }
            }
        }
    }
}
