/// Splits Gemm and MatMul nodes whose constant float32 weight is larger than `maxBytes`, and
/// Gathers along axis 0 of such a 2-D table (an embedding), into several nodes over column
/// blocks of the output, joined by a Concat on the last axis.
///
/// For a backend whose buffers have a size limit (Vulkan's maxStorageBufferRange, 128 MiB on
/// lavapipe) where fully connected layers of VGG or AlexNet are bigger. The result is exact:
/// each block computes its own output columns. A node whose bias varies along the output
/// columns but is not a constant is left as it is.
public func splittingOversizedWeights(_ graph: Graph, maxBytes: Int) -> Graph {
    var result = graph
    result.nodes = []
    for node in graph.nodes {
        if let parts = splitLinear(node, in: &result, maxBytes: maxBytes) {
            result.nodes += parts
        } else {
            result.nodes.append(node)
        }
    }
    return result
}

/// The replacement nodes for one oversized Gemm, MatMul or Gather, registering the weight
/// blocks as initializers of `graph`; nil when `node` needs no split or cannot be split.
private func splitLinear(_ node: Node, in graph: inout Graph, maxBytes: Int) -> [Node]? {
    // A Gather's table is its input 0, [K, N] like a MatMul weight.
    let gather = node.opType == "Gather" && ((try? node.int("axis", default: 0)) ?? 1) == 0, slot = gather ? 0 : 1
    guard node.domain.isEmpty || node.domain == "ai.onnx", node.opType == "Gemm" || node.opType == "MatMul" || gather,
          node.inputs.count >= 2, node.outputs.count == 1,
          let weight = graph.initializers[node.inputs[slot]], weight.dataType == .float, weight.shape.count == 2,
          weight.count * 4 > maxBytes else { return nil }
    // The weight as [K, N] (`transposed`: stored as [N, K]).
    let transposed = node.opType == "Gemm" && ((try? node.int("transB", default: 0)) ?? 0) != 0
    let n = transposed ? weight.shape[0] : weight.shape[1]
    let k = transposed ? weight.shape[1] : weight.shape[0]
    let blocks = (weight.count * 4 + maxBytes - 1) / maxBytes
    let width = (n + blocks - 1) / blocks
    guard blocks > 1, width > 0 else { return nil }

    // A Gemm bias varying along N is split with the weight; a broadcast one is shared.
    var bias: Tensor?
    if node.opType == "Gemm", node.inputs.count > 2, !node.inputs[2].isEmpty {
        if let c = graph.initializers[node.inputs[2]], c.dataType == .float, c.shape.last ?? 1 == n, n > 1 {
            bias = c
        } else if graph.initializers[node.inputs[2]] == nil {
            return nil
        }
    }

    let values = weight.scalars(as: Float.self)
    var parts: [Node] = []
    var partOutputs: [String] = []
    for (index, start) in stride(from: 0, to: n, by: width).enumerated() {
        let end = min(start + width, n)
        let prefix = "\(node.outputs[0])__block\(index)"
        var block: [Float] = []
        block.reserveCapacity((end - start) * k)
        if transposed {
            block += values[(start * k)..<(end * k)]
            graph.initializers[prefix + "_weight"] = Tensor(shape: [end - start, k], scalars: block)
        } else {
            for row in 0..<k { block += values[(row * n + start)..<(row * n + end)] }
            graph.initializers[prefix + "_weight"] = Tensor(shape: [k, end - start], scalars: block)
        }
        var inputs = node.inputs
        inputs[slot] = prefix + "_weight"
        if let bias {
            let c = bias.scalars(as: Float.self)
            let rows = c.count / n
            var slice: [Float] = []
            for row in 0..<rows { slice += c[(row * n + start)..<(row * n + end)] }
            graph.initializers[prefix + "_bias"] = Tensor(shape: bias.shape.dropLast() + [end - start], scalars: slice)
            inputs[2] = prefix + "_bias"
        }
        parts.append(Node(name: prefix, opType: node.opType, domain: node.domain, inputs: inputs,
                          outputs: [prefix], attributes: node.attributes))
        partOutputs.append(prefix)
        if let info = graph.valueInfo[node.outputs[0]], case .tensor(let type, var shape?)? = info.type, !shape.isEmpty {
            shape[shape.count - 1] = .value(end - start)
            graph.valueInfo[prefix] = ValueInfo(name: prefix, type: .tensor(type, shape: shape))
        }
    }
    parts.append(Node(name: "\(node.label)__concat", opType: "Concat", inputs: partOutputs, outputs: node.outputs,
                      attributes: ["axis": .int(-1)]))
    return parts
}
