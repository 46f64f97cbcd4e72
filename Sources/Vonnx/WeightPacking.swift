import VonnxCPU

/// `graph` (which the CPU runs whole) with each float32 MatMul or vonnx TransposedMatMul whose B
/// is a 2-D weight no other node reads turned into a vonnx PackedMatMul over that weight packed
/// ahead, under the same name, and the weight itself dropped. The packed kernel reads only the
/// packed form, and packing on first use kept both: transformers held their weights twice
/// (vit-b16: 346 MB of weights, 700 MB peak). Each weight is released as soon as its packed form
/// replaces it, when nothing else holds it (the session made from a file), so that the peak
/// stays near one copy. Control-flow bodies are left as they are; a node this CPU's packed
/// kernel would not take (another element type, N of 1, no AVX2) keeps its weight.
func packingMatMulWeights(_ graph: consuming Graph) -> Graph {
    let reads = Passes.readCounts(graph)
    for (i, node) in graph.nodes.enumerated() {
        guard let transposed = readsWeightTransposed(node) else { continue }
        let name = node.inputs[1]
        guard reads[name] == 1, let weight = graph.initializers[name],
              let packed = CPUKernels.packedMatMulWeight(weight, transposed: transposed) else { continue }
        var attributes = node.attributes
        attributes["permB"] = nil
        attributes["k"] = .int(weight.shape[transposed ? 1 : 0])
        attributes["n"] = .int(weight.shape[transposed ? 0 : 1])
        attributes["panel"] = .int(packed.panel)
        graph.nodes[i] = Node(name: node.name, opType: "PackedMatMul", domain: "vonnx", inputs: node.inputs,
                              outputs: node.outputs, attributes: attributes)
        graph.initializers[name] = packed.packed
        graph.valueInfo[name] = nil
    }
    return graph
}

/// For a MatMul or TransposedMatMul that `PackedMatMul` can stand for: whether it reads its B
/// transposed (`permB` [1, 0]); nil for any other node.
private func readsWeightTransposed(_ node: Node) -> Bool? {
    switch (node.domain, node.opType) {
    case ("", "MatMul"): return node.inputs.count == 2 ? false : nil
    case ("vonnx", "TransposedMatMul"):
        guard node.inputs.count >= 2 else { return nil }
        let permB: [Int]?
        do { permB = try node.ints("permB") } catch { return nil }
        return permB == nil || permB == [0, 1] ? false : permB == [1, 0] ? true : nil
    default: return nil
    }
}
