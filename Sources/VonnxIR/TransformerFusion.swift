extension Passes {
    /// The layer normalization exporters write decomposed over the last axis,
    /// `d = x − ReduceMean(x)`, `d / Sqrt(ReduceMean(d^2) + ε) · γ (+ β)` (Pow by 2 or d·d;
    /// either operand order of the Add, Mul and bias Add), becomes one LayerNormalization
    /// (axis −1, ε; γ and β 1-D float constants). Intermediates are only fused away when
    /// nothing else reads them. Sorted nodes and inferred shapes expected; the result stays sorted.
    public static func fusingLayerNormalization(_ graph: Graph) -> Graph {
        let (reads, producer, consumers, outputs) = wiring(graph)
        var taken = Set<Int>(), replaced: [Int: Node] = [:]
        /// The nodes reading `value`, when they are all its readers (graph outputs excluded).
        func readers(_ value: String) -> [Int]? {
            guard !outputs.contains(value), let c = consumers[value], reads[value] == c.count,
                  !c.contains(where: taken.contains) else { return nil }
            return c
        }
        /// The one node reading `value`, when it is a default-domain `op`.
        func sole(_ value: String, _ op: String) -> Node? {
            guard let c = readers(value), c.count == 1, graph.nodes[c[0]].opType == op, graph.nodes[c[0]].domain.isEmpty else {
                return nil
            }
            return graph.nodes[c[0]]
        }
        /// The float constant among a two-input node's inputs, the other being `value`.
        func constant(_ node: Node, besides value: String) -> (name: String, tensor: Tensor)? {
            guard node.inputs.count == 2, node.inputs.contains(value) else { return nil }
            let other = node.inputs[0] == value ? node.inputs[1] : node.inputs[0]
            guard other != value, let t = graph.initializers[other], t.dataType == .float else { return nil }
            return (other, t)
        }
        /// A ReduceMean of `value` over its last axis only, keeping dims.
        func meanOverLastAxis(_ node: Node, of value: String, rank: Int) -> Bool {
            guard node.opType == "ReduceMean", node.domain.isEmpty, node.inputs.first == value,
                  (try? node.int("keepdims", default: 1)) == 1 else { return false }
            let axes = node.inputs.count > 1 ? graph.initializers[node.inputs[1]]?.ints() : (try? node.ints("axes")) ?? nil
            return axes.map { $0.count == 1 && ($0[0] == -1 || $0[0] == rank - 1) } ?? false
        }
        for mean in graph.nodes where mean.opType == "ReduceMean" && mean.outputs.count == 1 {
            guard let x = mean.inputs.first, let type = graph.type(of: x), type.elementType == .float,
                  let rank = type.shape?.count, rank > 0, let width = type.shape?.last?.value,
                  meanOverLastAxis(mean, of: x, rank: rank),
                  let sub = sole(mean.outputs[0], "Sub"), sub.inputs == [x, mean.outputs[0]] else { continue }
            let d = sub.outputs[0]
            guard let dReaders = readers(d), dReaders.count == 2 || dReaders.count == 3 else { continue }
            /// d^2 as Pow(d, 2) or Mul(d, d) (which reads d twice).
            func squares(_ n: Node) -> Bool {
                if n.opType == "Mul" { return n.inputs == [d, d] }
                guard n.opType == "Pow", n.inputs.first == d, let e = constant(n, besides: d) else { return false }
                return e.tensor.scalars(as: Float.self) == [2]
            }
            guard let square = dReaders.map({ graph.nodes[$0] }).first(where: squares), let variance = sole(square.outputs[0], "ReduceMean"), meanOverLastAxis(variance, of: square.outputs[0], rank: rank),
                  let addEps = sole(variance.outputs[0], "Add"), let eps = constant(addEps, besides: variance.outputs[0]),
                  eps.tensor.count == 1, let sqrt = sole(addEps.outputs[0], "Sqrt"),
                  let div = sole(sqrt.outputs[0], "Div"), div.inputs == [d, sqrt.outputs[0]],
                  dReaders.count == (square.opType == "Mul" ? 3 : 2),
                  let mul = sole(div.outputs[0], "Mul"), let gamma = constant(mul, besides: div.outputs[0]),
                  gamma.tensor.shape == [width] else { continue }
            var inputs = [x, gamma.name], out = mul.outputs[0]
            if let add = sole(out, "Add"), let beta = constant(add, besides: out), beta.tensor.shape == [width] {
                inputs.append(beta.name)
                out = add.outputs[0]
            }
            let chain = [mean, sub, square, variance, addEps, sqrt, div, mul].map(\.outputs[0]) + (inputs.count == 3 ? [out] : [])
            let indices = chain.map { producer[$0]! }
            guard !indices.contains(where: taken.contains) else { continue }
            // The fused node takes the last node's place, where every input is available.
            replaced[indices.max()!] = Node(name: mean.name, opType: "LayerNormalization", inputs: inputs, outputs: [out],
                                            attributes: ["axis": .int(-1), "epsilon": .float(eps.tensor.scalars(as: Float.self)[0])])
            taken.formUnion(indices)
        }
        var result = graph
        result.nodes = graph.nodes.indices.compactMap { i in replaced[i] ?? (taken.contains(i) ? nil : graph.nodes[i]) }
        return withoutUnusedInitializers(result)
    }
}

extension Passes {
    /// A Transpose read only by a float MatMul, an Add of a 1-D float constant of the output's
    /// width that alone reads the product (a linear layer's bias), and an activation that alone
    /// reads the result (a feed-forward layer's Gelu) are folded into it: the MatMul becomes one
    /// `vonnx::TransposedMatMul` (`permA` / `permB`, the bias as input 2, the activation as
    /// `FusedActivation`'s attributes) whose CPU kernel reads the operands through the transposed
    /// strides (attention's Q, Kᵀ and V heads are such Transposes) and adds the bias and applies
    /// the activation as the product is stored. Only for graphs that run wholly on the CPU: no
    /// other backend runs the op. Sorted nodes and inferred types expected; the result stays sorted.
    public static func fusingIntoMatMul(_ graph: Graph) -> Graph {
        let (reads, producer, consumers, outputs) = wiring(graph)
        var removed = Set<Int>(), replaced: [Int: Node] = [:]
        let activations = ActivationMatcher(graph: graph, consumers: consumers, reads: reads, outputs: outputs)
        /// The columns of a product by `b` when `b` is a constant matrix (or a stack of them):
        /// the width even where the product's shape is unknown, as behind an embedding whose
        /// length a Slice took from the input's symbolic shape (MiniLM's position ids).
        func matrixWidth(_ b: String) -> Int? {
            guard let t = graph.initializers[b], t.rank >= 2 else { return nil }
            return t.shape[t.rank - 1]
        }
        for (mi, matMul) in graph.nodes.enumerated()
        where matMul.opType == "MatMul" && matMul.domain.isEmpty && matMul.inputs.count == 2 {
            guard graph.type(of: matMul.inputs[0])?.elementType == .float else { continue }
            var fused = Node(name: matMul.name, opType: "TransposedMatMul", domain: "vonnx", inputs: matMul.inputs, outputs: matMul.outputs)
            for (i, attribute) in ["permA", "permB"].enumerated() {
                let value = matMul.inputs[i]
                guard reads[value] == 1, !outputs.contains(value), let ti = producer[value], !removed.contains(ti) else { continue }
                let transpose = graph.nodes[ti]
                guard transpose.opType == "Transpose", transpose.domain.isEmpty, transpose.inputs.count == 1,
                      let rank = graph.type(of: transpose.inputs[0])?.shape?.count, rank >= 2 else { continue }
                let perm = (try? transpose.ints("perm")) ?? Array((0..<rank).reversed())
                guard perm.count == rank else { continue }
                fused.inputs[i] = transpose.inputs[0]
                fused.attributes[attribute] = .ints(perm)
                removed.insert(ti)
            }
            // the bias: the product's one reader adds a [width] constant; the fused node takes its place
            var at = mi
            let product = matMul.outputs[0]
            if reads[product] == 1, !outputs.contains(product), let ai = consumers[product]?.first,
               graph.nodes[ai].opType == "Add", graph.nodes[ai].domain.isEmpty, graph.nodes[ai].inputs.count == 2,
               let width = graph.type(of: product)?.shape?.last?.value ?? matrixWidth(matMul.inputs[1]) {
                let add = graph.nodes[ai], bias = add.inputs[0] == product ? add.inputs[1] : add.inputs[0]
                if let t = graph.initializers[bias], t.dataType == .float, t.shape == [width] {
                    fused.inputs.append(bias)
                    fused.outputs = add.outputs
                    removed.insert(ai)
                    at = ai
                }
            }
            if let (activation, nodes) = activations.match(after: fused.outputs[0]), !nodes.contains(where: removed.contains) {
                fused.attributes.merge(activation.attributes) { $1 }
                fused.outputs = graph.nodes[nodes.last!].outputs
                removed.formUnion(nodes)
                at = nodes.last!
            }
            if !fused.attributes.isEmpty || fused.inputs.count == 3 { replaced[at] = fused; if at != mi { removed.insert(mi) } }
        }
        var result = graph
        result.nodes = graph.nodes.indices.compactMap { i in replaced[i] ?? (removed.contains(i) ? nil : graph.nodes[i]) }
        return result
    }
}

extension Passes {
    /// The Gelu exporters write decomposed becomes one Gelu node (both backends run it):
    /// x·½·(1 + Erf(x/√2)) (the division or a product by 1/√2), and the tanh approximation
    /// x·½·(1 + Tanh(√(2/π)·(x + 0.044715·x³))) (`approximate` "tanh"), the products by x and ½
    /// in any grouping and operand order. Intermediates are only fused away when nothing else
    /// reads them. Sorted nodes expected; the result stays sorted.
    public static func fusingGelu(_ graph: Graph) -> Graph {
        let (reads, producer, consumers, outputs) = wiring(graph)
        var taken = Set<Int>(), replaced: [Int: Node] = [:]
        func scalar(_ name: String) -> Float? {
            guard let t = graph.initializers[name], t.dataType == .float, t.count == 1 else { return nil }
            return t.scalars(as: Float.self)[0]
        }
        func near(_ name: String, _ value: Float) -> Bool { scalar(name).map { abs($0 - value) <= 1e-5 * abs(value) } ?? false }
        /// The node index of the one reader of `value`, a default-domain `op`, when nothing else reads it.
        func sole(_ value: String, _ op: String) -> Int? {
            guard reads[value] == 1, !outputs.contains(value), let c = consumers[value], c.count == 1, !taken.contains(c[0]),
                  graph.nodes[c[0]].opType == op, graph.nodes[c[0]].domain.isEmpty else { return nil }
            return c[0]
        }
        /// The producer of `value` when it is a default-domain `op` and `value` is read once.
        func made(_ value: String, _ op: String) -> Int? {
            guard reads[value] == 1, !outputs.contains(value), let p = producer[value], !taken.contains(p),
                  graph.nodes[p].opType == op, graph.nodes[p].domain.isEmpty else { return nil }
            return p
        }
        /// The other input of a two-input node.
        func other(_ node: Node, _ value: String) -> String? {
            guard node.inputs.count == 2, node.inputs.contains(value) else { return nil }
            return node.inputs[0] == value ? node.inputs[1] : node.inputs[0]
        }
        /// The input a two-input node combines with the constant `value` (its divisor, for a Div).
        func operand(_ node: Node, by value: Float) -> String? {
            guard node.inputs.count == 2 else { return nil }
            if near(node.inputs[1], value) { return node.inputs[0] }
            return node.opType != "Div" && near(node.inputs[0], value) ? node.inputs[1] : nil
        }
        /// The rest of ½·x·(1 + f) for f = `f` (made by `nodes`): the + 1 and the products by x
        /// and ½ in any grouping; all the nodes, and the final output.
        func product(x: String, f: String, nodes: [Int]) -> ([Int], String)? {
            guard let ai = sole(f, "Add"), let one = other(graph.nodes[ai], f), near(one, 1) else { return nil }
            let a = graph.nodes[ai].outputs[0]
            guard let mi = sole(a, "Mul"), let o = other(graph.nodes[mi], a) else { return nil }
            let m = graph.nodes[mi].outputs[0]
            if o == x, let hi = sole(m, "Mul"), let half = other(graph.nodes[hi], m), near(half, 0.5) {
                return (nodes + [ai, mi, hi], graph.nodes[hi].outputs[0])  // (x·a)·½
            }
            if near(o, 0.5), let xi = sole(m, "Mul"), other(graph.nodes[xi], m) == x {
                return (nodes + [ai, mi, xi], graph.nodes[xi].outputs[0])  // (a·½)·x
            }
            if let hi = made(o, "Mul"), let half = other(graph.nodes[hi], x), near(half, 0.5) {
                return (nodes + [ai, hi, mi], m)  // (x·½)·a
            }
            return nil
        }
        for (i, node) in graph.nodes.enumerated() where node.domain.isEmpty && !taken.contains(i) {
            var match: (approximate: String, x: String, nodes: [Int], out: String)?
            if node.opType == "Erf", let si = made(node.inputs[0], "Div") ?? made(node.inputs[0], "Mul"),
               let x = operand(graph.nodes[si], by: graph.nodes[si].opType == "Div" ? 1.41421356 : 0.70710678),
               let (nodes, out) = product(x: x, f: node.outputs[0], nodes: [si, i]) {
                match = ("none", x, nodes, out)
            } else if node.opType == "Tanh", let si = made(node.inputs[0], "Mul"), let r = operand(graph.nodes[si], by: 0.79788456),
                      let ri = made(r, "Add") {
                // x + 0.044715·Pow(x, 3), either operand order
                for x in graph.nodes[ri].inputs {
                    guard let q = other(graph.nodes[ri], x), let qi = made(q, "Mul"), let p = operand(graph.nodes[qi], by: 0.044715),
                          let pi = made(p, "Pow"), graph.nodes[pi].inputs.first == x, operand(graph.nodes[pi], by: 3) == x,
                          let (nodes, out) = product(x: x, f: node.outputs[0], nodes: [pi, qi, ri, si, i]) else { continue }
                    match = ("tanh", x, nodes, out)
                    break
                }
            }
            guard let match, graph.type(of: match.x)?.elementType == .float else { continue }
            var attributes: [String: Attribute] = [:]
            if match.approximate == "tanh" { attributes["approximate"] = .string(Array("tanh".utf8)) }
            // The fused node takes the last node's place, where x is available.
            replaced[match.nodes.max()!] = Node(name: node.name, opType: "Gelu", inputs: [match.x], outputs: [match.out], attributes: attributes)
            taken.formUnion(match.nodes)
        }
        var result = graph
        result.nodes = graph.nodes.indices.compactMap { i in replaced[i] ?? (taken.contains(i) ? nil : graph.nodes[i]) }
        return withoutUnusedInitializers(result)
    }
}

extension Passes {
    /// Attention's core, Softmax(Q·K · c (+ D)) · V, becomes one `vonnx::SoftmaxAttention`
    /// (inputs Q, K, V and the mask D when there is one; `scale` c; `permA`, `permB`, `permC` the
    /// operands' transposes), whose CPU kernel never writes the scores out whole: a float MatMul
    /// or TransposedMatMul without bias or activation, then optionally a Div by (c = 1/d) or a
    /// Mul by (c) a one-element float constant d, optionally an Add of a float mask D (a padding
    /// mask's large negatives) of known rank that does not broadcast the scores wider, a Softmax
    /// over the last axis, and a MatMul or TransposedMatMul without bias (nor a transposed first
    /// operand) of that by V, and optionally a Transpose of the result that keeps its last axis
    /// last (`permY`: the heads' [B, H, N, d] → [B, N, H, d] before the output projection, which
    /// the kernel then stores in place). Only for graphs that run wholly on the CPU, after
    /// `fusingIntoMatMul`; intermediates are only fused away when nothing else reads them.
    /// Sorted nodes and inferred types expected; the result stays sorted.
    public static func fusingAttention(_ graph: Graph, opset: Int) -> Graph {
        let (reads, _, consumers, outputs) = wiring(graph)
        var taken = Set<Int>(), replaced: [Int: Node] = [:]
        /// The one node reading `value`, when nothing else (graph outputs included) does.
        func sole(_ value: String) -> Int? {
            guard reads[value] == 1, !outputs.contains(value), let c = consumers[value], c.count == 1, !taken.contains(c[0]) else { return nil }
            return c[0]
        }
        /// A float MatMul (or TransposedMatMul without bias) of two operands of rank 2 or more.
        func product(_ i: Int) -> Bool {
            let n = graph.nodes[i]
            guard n.opType == "MatMul" && n.domain.isEmpty || n.opType == "TransposedMatMul" && n.domain == "vonnx",
                  n.inputs.count == 2, n.outputs.count == 1, n.attributes["activation"] == nil else { return false }
            return n.inputs.allSatisfy { graph.type(of: $0)?.elementType == .float && (graph.type(of: $0)?.shape?.count ?? 0) >= 2 }
        }
        /// The value of a one-element float constant.
        func scalar(_ name: String) -> Float? {
            guard let t = graph.initializers[name], t.dataType == .float, t.count == 1 else { return nil }
            return t.scalars(as: Float.self)[0]
        }
        /// `mask` is float, of known rank no more than the scores', and no dim of it that is
        /// more than 1 meets one of 1 in the scores (so that adding it keeps their shape).
        func widensNothing(_ mask: String, _ scores: String) -> Bool {
            let type = graph.type(of: mask) ?? graph.initializers[mask].map { ValueType.tensor($0.dataType, shape: $0.shape.map(Dim.value)) }
            guard type?.elementType == .float, let m = type?.shape else { return false }
            return widensNothing(m, scores)
        }
        /// A mask of shape `m` added to `scores` keeps their shape.
        func widensNothing(_ m: [Dim], _ scores: String) -> Bool {
            guard let s = graph.type(of: scores)?.shape, m.count <= s.count else { return false }
            return zip(m, s.suffix(m.count)).allSatisfy { $0.value == 1 || $1.value != 1 }
        }
        var names = Set<String>(), masks: [String: Tensor] = [:]
        /// `node` as the additive mask it stands for: a Where choosing, by a constant boolean
        /// condition, between the scores and a one-element float constant fill of −10⁴ or less
        /// (either order: the fill where the condition is false, as a causal mask's, or where it
        /// is true), with some score kept in every row of the condition. The mask is 0 where the
        /// scores are kept and the fill elsewhere: a row's kept scores then set its maximum, and
        /// exp(fill − maximum) and exp(score + fill − maximum) both underflow to 0 (for scores
        /// spanning less than ~10⁴), so that the Softmax is the same.
        func additiveMask(_ node: Node, of scores: String) -> String? {
            guard node.opType == "Where", node.domain.isEmpty, node.inputs.count == 3, node.outputs.count == 1,
                  let condition = graph.initializers[node.inputs[0]], condition.dataType == .bool, condition.rank >= 1,
                  let keepWhere = [true, false].first(where: { node.inputs[$0 ? 1 : 2] == scores }),
                  let fill = scalar(node.inputs[keepWhere ? 2 : 1]), fill <= -1e4,
                  (graph.initializers[node.inputs[keepWhere ? 2 : 1]]?.rank ?? 0) <= condition.rank,
                  widensNothing(condition.shape.map(Dim.value), scores) else { return nil }
            let kept = condition.scalars(as: Bool.self).map { $0 == keepWhere }, width = condition.shape[condition.rank - 1]
            guard width > 0, stride(from: 0, to: kept.count, by: width).allSatisfy({ kept[$0..<$0 + width].contains(true) }) else { return nil }
            let name = Passes.freshName(node.outputs[0] + "_mask", in: graph, taken: &names)
            masks[name] = Tensor(shape: condition.shape, scalars: kept.map { $0 ? Float(0) : fill })
            return name
        }
        /// The perm of `node` when it is a Transpose of `value` by an explicit perm that keeps the
        /// last axis last, so that the kernel can store each row of the product where the Transpose puts it.
        func outputTranspose(_ node: Node, of value: String) -> [Int]? {
            guard node.opType == "Transpose", node.domain.isEmpty, node.inputs == [value], node.outputs.count == 1,
                  let perm = (try? node.ints("perm")) ?? nil, Set(perm) == Set(perm.indices), perm.last == perm.count - 1 else { return nil }
            return perm
        }
        for (qi, qk) in graph.nodes.enumerated() where product(qi) && !taken.contains(qi) {
            guard let rank = graph.type(of: qk.outputs[0])?.shape?.count, var at = sole(qk.outputs[0]) else { continue }
            var chain = [qi], scale: Float = 1, scores = qk.outputs[0]
            let scaling = graph.nodes[at]
            if ["Div", "Mul"].contains(scaling.opType), scaling.domain.isEmpty, scaling.inputs.count == 2,
               let other = scaling.inputs.first(where: { $0 != scores }), scaling.opType == "Mul" || scaling.inputs[0] == scores,
               let c = scalar(other), c != 0, (graph.initializers[other]?.rank ?? 0) <= rank, let next = sole(scaling.outputs[0]) {
                scale = scaling.opType == "Div" ? 1 / c : c
                chain.append(at)
                scores = scaling.outputs[0]
                at = next
            }
            var mask: [String] = []
            let masking = graph.nodes[at]
            if masking.opType == "Add", masking.domain.isEmpty, masking.inputs.count == 2, masking.inputs.contains(scores),
               let other = masking.inputs.first(where: { $0 != scores }), widensNothing(other, scores), let next = sole(masking.outputs[0]) {
                mask = [other]
                chain.append(at)
                at = next
            } else if let next = sole(masking.outputs[0]), let additive = additiveMask(masking, of: scores) {
                mask = [additive]
                chain.append(at)
                at = next
            }
            let softmax = graph.nodes[at]
            guard softmax.opType == "Softmax", softmax.domain.isEmpty, softmax.outputs.count == 1,
                  let axis = try? softmax.int("axis", default: opset >= 13 ? -1 : 1), axis == -1 || axis == rank - 1,
                  let pi = sole(softmax.outputs[0]), product(pi), graph.nodes[pi].inputs[0] == softmax.outputs[0],
                  graph.nodes[pi].inputs[1] != softmax.outputs[0], graph.nodes[pi].attributes["permA"] == nil else { continue }
            let pv = graph.nodes[pi]
            var attributes: [String: Attribute] = scale == 1 ? [:] : ["scale": .float(scale)]
            attributes["permA"] = qk.attributes["permA"]
            attributes["permB"] = qk.attributes["permB"]
            attributes["permC"] = pv.attributes["permB"]
            chain += [at, pi]
            var out = pv.outputs
            if let ti = sole(out[0]), let perm = outputTranspose(graph.nodes[ti], of: out[0]) {
                attributes["permY"] = .ints(perm)
                out = graph.nodes[ti].outputs
                chain.append(ti)
            }
            // The fused node takes the last product's place, where every input is available.
            replaced[pi] = Node(name: qk.name, opType: "SoftmaxAttention", domain: "vonnx", inputs: qk.inputs + [pv.inputs[1]] + mask,
                                outputs: out, attributes: attributes)
            taken.formUnion(chain)
        }
        var result = graph
        result.nodes = graph.nodes.indices.compactMap { i in replaced[i] ?? (taken.contains(i) ? nil : graph.nodes[i]) }
        result.initializers.merge(masks) { $1 }
        return withoutUnusedInitializers(result)
    }
}
