import VonnxCPU
#if Vulkan
import VonnxVulkan
#endif

/// How one control-flow body (an If branch, a Loop or Scan body) of a session on a Vulkan
/// device was placed: its own partitions and CPU nodes, not those of the bodies nested in it.
public struct BodyPlacement: Sendable, CustomStringConvertible {
    /// The body's path: each enclosing node's op, label and attribute, as
    /// "If 'cond' then_branch / Loop 'steps' body".
    public let path: String
    /// How many runs of consecutive nodes of the body execute on the Vulkan device.
    public let partitions: Int
    /// Labels of the body's nodes left to the CPU.
    public let fallbackNodes: [String]

    /// "PATH: N partition(s), M fallback", with the fallback nodes' labels when there are any.
    public var description: String {
        "\(path): \(partitions) partition(s), \(fallbackNodes.count) fallback"
            + (fallbackNodes.isEmpty ? "" : " (\(fallbackNodes.joined(separator: ", ")))")
    }
}

extension Node {
    /// Whether the node holds a graph attribute (If, Loop, Scan).
    var hasSubgraphs: Bool {
        attributes.values.contains {
            switch $0 { case .graph, .graphs: true; default: false }
        }
    }
}

#if Vulkan
extension VulkanPlacement {
    /// `node` (a control-flow node of `graph`, which the host runs) with each of its bodies placed
    /// like a graph of its own: sorted, its types inferred from the types `graph` knows for the
    /// values it captures, and split into Vulkan partitions and CPU nodes by the same rules.
    /// The initializers of `graph` a body captures become the body's own, so they are uploaded
    /// once as weights. The condition or trip count stays a host value the node's CPU kernel
    /// reads; a body's partitions are recorded once per input shapes and replayed on each run.
    /// `outputTypes` are the element types (shapes unknown) of If, Loop and Scan outputs that
    /// their bodies agree on, which no shape rule infers, so that device nodes may read them.
    static func placingBodies(of node: Node, in graph: Graph, prefix: String, device: VulkanDevice, opsets: [String: Int],
                              pool: ThreadPool, limits: Limits, fallback: Bool)
        throws -> (node: Node, partitions: [String: VulkanPartition], cpuNodes: [Node], bodies: [BodyPlacement],
                   outputTypes: [String: ValueType]) {
        var known = graph.valueInfo.compactMapValues(\.type)
        for v in graph.inputs { if let t = v.type { known[v.name] = t } }
        for (name, t) in graph.initializers { known[name] = .tensor(t.dataType, shape: t.shape.map(Dim.value)) }
        let scope = Set(graph.inputs.map(\.name)).union(graph.initializers.keys).union(graph.nodes.flatMap(\.outputs))
            .union(graph.capturedNames())
        let opset = opsets[""] ?? opsets["ai.onnx"] ?? 1
        var placedNode = node, partitions: [String: VulkanPartition] = [:], cpuNodes: [Node] = [], bodies: [BodyPlacement] = []
        var bodyOutputs: [[DataType?]] = []
        for (attr, value) in node.attributes.sorted(by: { $0.key < $1.key }) {
            guard case .graph(let body) = value else { continue }
            let path = "\(prefix.isEmpty ? "" : prefix + " / ")\(node.opType) '\(node.label)' \(attr)"
            var sorted = try Passes.topologicallySorted(body, outerScope: scope)
            let captured = sorted.capturedNames().sorted()
            for name in captured { if let weight = graph.initializers[name] { sorted.initializers[name] = weight } }
            var seeded = sorted
            seeded.inputs += captured.compactMap { name in known[name].map { ValueInfo(name: name, type: $0) } }
            // A body whose types cannot be inferred (one the CPU ran before) leaves its nodes to the CPU.
            sorted.valueInfo = (try? ShapeInference.inferred(seeded, opset: opset) { (try? definition(of: $0, opsets: opsets))?.shape })?
                .valueInfo ?? [:]
            for name in captured { if let t = known[name] { sorted.valueInfo[name] = ValueInfo(name: name, type: t) } }
            let placed = try VulkanPlacement(sorted, device: device, opsets: opsets, pool: pool, limits: limits, fallback: fallback,
                                             prefix: path)
            placedNode.attributes[attr] = .graph(placed.graph)
            partitions.merge(placed.partitions) { a, _ in a }
            cpuNodes += placed.cpuNodes
            bodies += [BodyPlacement(path: path, partitions: placed.own.partitions, fallbackNodes: placed.own.cpuNodes.map(\.label))]
                + placed.bodies
            bodyOutputs.append(placed.graph.outputs.map { output in
                placed.graph.initializers[output.name]?.dataType ?? placed.graph.type(of: output.name)?.elementType
            })
        }
        // A Loop body's first output is its condition; then each body output is the node's output of its index.
        var outputTypes: [String: ValueType] = [:]
        if let skip = ["If": 0, "Loop": 1, "Scan": 0][node.opType], node.domain.isEmpty, let first = bodyOutputs.first {
            for (k, name) in node.outputs.enumerated() where !name.isEmpty && skip + k < first.count {
                guard let t = first[skip + k], bodyOutputs.allSatisfy({ skip + k < $0.count && $0[skip + k] == t }) else { continue }
                outputTypes[name] = .tensor(t, shape: nil)
            }
        }
        return (placedNode, partitions, cpuNodes, bodies, outputTypes)
    }
}
#endif
