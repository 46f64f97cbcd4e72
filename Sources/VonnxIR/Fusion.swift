/// Inference-time Conv fusions, as onnxruntime does them:
/// - BatchNormalization (inference mode), and Mul or Add by a scalar or per-channel constant,
///   after a Conv with constant float weights is folded into the Conv's weights and bias;
/// - a BatchNormalization not preceded by a Conv (as in DenseNet's pre-activations), with the
///   Mul or Add by such constants after it, becomes one depthwise 1×1 Conv over 2-D maps
///   (a BatchNormalization elsewhere), so a Relu after it fuses too;
/// - a Conv followed by an Add of a same-shaped value (a residual) and/or an activation becomes
///   one `com.microsoft::FusedConv` node: inputs X, W, B, Z (Z, when present, is added before
///   the activation), the activation as `FusedActivation`'s attributes. Activations are the
///   ops Relu, Clip (constant bounds), LeakyRelu, Sigmoid, Tanh, HardSigmoid, HardSwish, Gelu
///   and Mish, and the decomposed forms exporters write: x·Sigmoid(x) (SiLU),
///   x·HardSigmoid(x) with HardSwish's 1/6 and 1/2, x·Clip(x + 3, 0, 6)/6 (either order of the
///   product and the division) and x·Tanh(Softplus(x)) (Mish); every backend's conv kernel
///   applies all of them.
/// Intermediates are only fused away when nothing else reads them. Sorted nodes and inferred
/// shapes (`graph.valueInfo`) expected; the result stays sorted.
extension Passes {
    /// `graph` with the Conv fusions above made.
    public static func fusingConv(_ graph: Graph) -> Graph {
        var g = graph
        g = foldingAffineIntoConv(g)
        g = foldingAffineIntoBatchNorm(g)
        g = fusingConvActivation(g)
        return g
    }

    /// How many times each value is read (node inputs, subgraph captures, graph outputs).
    package static func readCounts(_ graph: Graph) -> [String: Int] {
        var counts: [String: Int] = [:]
        for node in graph.nodes {
            for name in node.inputs + node.capturedNames() where !name.isEmpty { counts[name, default: 0] += 1 }
        }
        for o in graph.outputs { counts[o.name, default: 0] += 1 }
        return counts
    }

    /// What the pattern-matching passes look up in `graph`: how often each value is read
    /// (`readCounts`), the node producing it, the nodes reading it as an input, and the graph's
    /// output names.
    static func wiring(_ graph: Graph)
        -> (reads: [String: Int], producer: [String: Int], consumers: [String: [Int]], outputs: Set<String>) {
        var producer: [String: Int] = [:], consumers: [String: [Int]] = [:]
        for (i, node) in graph.nodes.enumerated() {
            for name in node.outputs { producer[name] = i }
            for name in node.inputs { consumers[name, default: []].append(i) }
        }
        return (readCounts(graph), producer, consumers, Set(graph.outputs.map(\.name)))
    }

    /// A name not yet used by any initializer, input or node output of `graph`.
    static func freshName(_ base: String, in graph: Graph, taken: inout Set<String>) -> String {
        if taken.isEmpty {
            taken = Set(graph.initializers.keys).union(graph.inputs.map(\.name)).union(graph.nodes.flatMap(\.outputs))
        }
        var name = base, i = 1
        while taken.contains(name) { name = "\(base)_\(i)"; i += 1 }
        taken.insert(name)
        return name
    }

    /// The per-output-channel affine map y·scale + shift that `node` applies to its input
    /// `value` (an output of `channels` channels, rank `rank`), when the node is an
    /// inference BatchNormalization, or a Mul/Add by a constant that is a scalar or per channel.
    static func channelAffine(_ node: Node, of value: String, channels m: Int, rank: Int,
                              _ graph: Graph) -> (scale: [Double], shift: [Double])? {
        guard node.domain.isEmpty, node.inputs.first == value || node.opType != "BatchNormalization" else { return nil }
        func constant(_ name: String) -> [Double]? {
            guard let t = graph.initializers[name], t.dataType == .float, t.rank <= rank else { return nil }
            if t.count == 1 { return Array(repeating: Double(t.scalars(as: Float.self)[0]), count: m) }
            // per channel: [M, 1, …] aligned with the output's channel axis (axis 1)
            let axis = t.rank - (rank - 1)
            guard axis >= 0, t.shape[axis] == m, t.count == m else { return nil }
            return t.scalars(as: Float.self).map(Double.init)
        }
        switch node.opType {
        case "BatchNormalization":
            guard node.inputs.count == 5, node.outputs.dropFirst().allSatisfy(\.isEmpty),
                  (try? node.int("training_mode", default: 0)) == 0,
                  let eps = try? node.float("epsilon", default: 1e-5) else { return nil }
            let p = node.inputs[1...].map { graph.initializers[$0] }
            guard p.allSatisfy({ $0?.dataType == .float && $0?.count == m }) else { return nil }
            let (g, b, mean, v) = (p[0]!.scalars(as: Float.self), p[1]!.scalars(as: Float.self),
                                   p[2]!.scalars(as: Float.self), p[3]!.scalars(as: Float.self))
            let scale = (0..<m).map { Double(g[$0]) / (Double(v[$0]) + Double(eps)).squareRoot() }
            return (scale, (0..<m).map { Double(b[$0]) - Double(mean[$0]) * scale[$0] })
        case "Mul", "Add":
            guard node.inputs.count == 2 else { return nil }
            let other = node.inputs[0] == value ? node.inputs[1] : node.inputs[0]
            guard other != value, let c = constant(other) else { return nil }
            return node.opType == "Mul" ? (c, Array(repeating: 0, count: m)) : (Array(repeating: 1, count: m), c)
        default: return nil
        }
    }

    /// Folds chains of BatchNormalization and Mul/Add by per-channel constants that follow a
    /// Conv with constant float weights into the Conv's weights and bias, composing each chain
    /// first so the weights are rewritten (and copied) once.
    static func foldingAffineIntoConv(_ graph: Graph) -> Graph {
        let reads = readCounts(graph)
        let outputs = Set(graph.outputs.map(\.name))
        var consumers: [String: [Int]] = [:]
        for (i, node) in graph.nodes.enumerated() { for name in node.inputs { consumers[name, default: []].append(i) } }
        var result = graph, removed = Set<Int>(), taken = Set<String>()
        for (ci, conv) in graph.nodes.enumerated() where conv.opType == "Conv" && conv.domain.isEmpty {
            guard conv.outputs.count == 1, conv.inputs.count >= 2,
                  let wt = graph.initializers[conv.inputs[1]], wt.dataType == .float, wt.rank >= 3 else { continue }
            let m = wt.shape[0], per = wt.count / max(m, 1)
            let hasBias = conv.inputs.count > 2 && !conv.inputs[2].isEmpty
            guard !hasBias || (graph.initializers[conv.inputs[2]]?.dataType == .float
                               && graph.initializers[conv.inputs[2]]?.count == m) else { continue }
            var scale = [Double](repeating: 1, count: m), shift = [Double](repeating: 0, count: m)
            var out = conv.outputs[0], chain: [Int] = []
            while reads[out] == 1, !outputs.contains(out), let c = consumers[out], c.count == 1,
                  let (s, t) = channelAffine(graph.nodes[c[0]], of: out, channels: m, rank: wt.rank, graph) {
                for i in 0..<m { scale[i] *= s[i]; shift[i] = shift[i] * s[i] + t[i] }
                chain.append(c[0]); out = graph.nodes[c[0]].outputs[0]
            }
            guard !chain.isEmpty else { continue }
            let bias = hasBias ? graph.initializers[conv.inputs[2]]!.scalars(as: Float.self) : Array(repeating: 0, count: m)
            let w = Tensor(zeros: .float, shape: wt.shape)
            wt.withUnsafeBufferPointer(as: Float.self) { src in
                w.withUnsafeMutableBufferPointer(as: Float.self) { dst in
                    for c in 0..<m { for j in c * per..<(c + 1) * per { dst[j] = Float(Double(src[j]) * scale[c]) } }
                }
            }
            let b = (0..<m).map { Float(Double(bias[$0]) * scale[$0] + shift[$0]) }
            let wName = freshName(conv.inputs[1] + "_folded", in: graph, taken: &taken)
            let bName = freshName(out + "_bias", in: graph, taken: &taken)
            result.initializers[wName] = w
            result.initializers[bName] = Tensor(shape: [m], scalars: b)
            var fused = conv
            fused.inputs = [conv.inputs[0], wName, bName]
            fused.outputs = [out]
            // the Conv moves to the chain's end, where its output was produced
            result.nodes[chain.last!] = fused
            removed.insert(ci)
            removed.formUnion(chain.dropLast())
        }
        result.nodes = result.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return withoutUnusedInitializers(result)
    }

    static func fusingConvActivation(_ graph: Graph) -> Graph {
        let reads = readCounts(graph)
        var consumers: [String: [Int]] = [:]
        for (i, node) in graph.nodes.enumerated() { for name in node.inputs { consumers[name, default: []].append(i) } }
        let outputs = Set(graph.outputs.map(\.name))
        var taken = Set<Int>(), replaced: [Int: Node] = [:]
        /// The single node reading `value`, when nothing else (graph outputs included) reads it
        /// and its op is one of `ops`.
        func soleConsumer(_ value: String, _ ops: Set<String>) -> Int? {
            guard reads[value] == 1, !outputs.contains(value), let c = consumers[value], c.count == 1,
                  !taken.contains(c[0]), ops.contains(graph.nodes[c[0]].opType), graph.nodes[c[0]].domain.isEmpty else { return nil }
            return c[0]
        }
        let activations = ActivationMatcher(graph: graph, consumers: consumers, reads: reads, outputs: outputs)
        /// Known, equal shapes (a symbolic dim matches only the same named symbol).
        func sameShape(_ a: String, _ b: String) -> Bool {
            guard let sa = graph.type(of: a)?.shape, let sb = graph.type(of: b)?.shape, sa == sb else { return false }
            return sa.allSatisfy { $0.value != nil || $0.description != "" }
        }
        for (ci, conv) in graph.nodes.enumerated() where conv.opType == "Conv" && conv.domain.isEmpty && conv.outputs.count == 1 {
            guard let t = graph.type(of: conv.outputs[0])?.elementType, t == .float || t == .double else { continue }
            var inputs = conv.inputs + Array(repeating: "", count: max(0, 3 - conv.inputs.count))
            var chain: [Int] = [], out = conv.outputs[0], attributes = conv.attributes
            // a residual Add (or a two-input Sum, as older exporters wrote it)
            if let ai = soleConsumer(out, ["Add", "Sum"]), graph.nodes[ai].inputs.count == 2 {
                let add = graph.nodes[ai]
                let other = add.inputs[0] == out ? add.inputs[1] : add.inputs[0]
                if other != out, sameShape(other, out), graph.type(of: other)?.elementType == t {
                    inputs.append(other)
                    chain.append(ai); out = add.outputs[0]
                }
            }
            if let (activation, nodes) = activations.match(after: out), !nodes.contains(where: taken.contains) {
                attributes.merge(activation.attributes) { $1 }
                chain += nodes; out = graph.nodes[nodes.last!].outputs[0]
            }
            guard let last = chain.last else { continue }
            // The fused node takes the last node's place, where every input is available.
            replaced[last] = Node(name: conv.name, opType: "FusedConv", domain: "com.microsoft",
                                  inputs: inputs, outputs: [out], attributes: attributes)
            taken.insert(ci)
            taken.formUnion(chain)
        }
        var result = graph
        result.nodes = graph.nodes.indices.compactMap { i in replaced[i] ?? (taken.contains(i) ? nil : graph.nodes[i]) }
        return result
    }

    /// Recognizes the activation applied to a value (see `fusingConv`).
    struct ActivationMatcher {
        let graph: Graph, consumers: [String: [Int]], reads: [String: Int], outputs: Set<String>

        /// The activation applied to `value` and the nodes computing it (the last one writes
        /// its result), when only they read `value` and nothing else reads their intermediates.
        func match(after value: String) -> (FusedActivation, [Int])? {
            guard !outputs.contains(value), let c = consumers[value], reads[value] == c.count else { return nil }
            if c.count == 1, let a = single(graph.nodes[c[0]], value) { return (a, c) }
            guard c.count == 2 else { return nil }
            return product(value, mul: c[0], head: c[1]) ?? product(value, mul: c[1], head: c[0])
        }

        /// The activation op `node` applies to its input 0, `value`.
        func single(_ node: Node, _ value: String) -> FusedActivation? {
            guard node.domain.isEmpty, node.inputs.first == value, node.outputs.count == 1 else { return nil }
            switch node.opType {
            case "Relu": return .relu
            case "Sigmoid": return .sigmoid
            case "Tanh": return .tanh
            case "HardSwish": return .hardSwish
            case "Mish": return .mish
            case "LeakyRelu": return (try? node.float("alpha", default: 0.01)).map { .leakyRelu(alpha: $0) }
            case "HardSigmoid":
                guard let alpha = try? node.float("alpha", default: 0.2), let beta = try? node.float("beta", default: 0.5) else { return nil }
                return .hardSigmoid(alpha: alpha, beta: beta)
            case "Gelu":
                switch try? node.string("approximate", default: "none") {
                case "none": return .gelu
                case "tanh": return .geluTanh
                default: return nil
                }
            case "Clip":
                // bounds from inputs 1 and 2 (opset 11 on) or from attributes (before)
                func bound(_ i: Int, _ attribute: String, _ absent: Float) -> Float? {
                    if node.inputs.count > i { return node.inputs[i].isEmpty ? absent : scalar(node.inputs[i]) }
                    return try? node.float(attribute, default: absent)
                }
                guard let lo = bound(1, "min", -.infinity), let hi = bound(2, "max", .infinity), lo <= hi else { return nil }
                return .clip(min: lo, max: hi)
            default: return nil
            }
        }

        /// x·f(x): `mul` multiplies `value` by the end of the chain of single-consumer nodes
        /// from `head`, and that chain (with a division by 6 after the product for the Clip
        /// form of HardSwish) is a known f.
        func product(_ value: String, mul: Int, head: Int) -> (FusedActivation, [Int])? {
            let m = graph.nodes[mul]
            guard m.opType == "Mul", m.domain.isEmpty, m.inputs.count == 2, m.inputs.contains(value),
                  graph.nodes[head].inputs.first == value else { return nil }
            let other = m.inputs[0] == value ? m.inputs[1] : m.inputs[0]
            var chain = [head]
            while graph.nodes[chain.last!].outputs.first != other {
                guard chain.count < 3, let next = sole(graph.nodes[chain.last!].outputs.first ?? ""),
                      graph.nodes[next].inputs.first == graph.nodes[chain.last!].outputs.first else { return nil }
                chain.append(next)
            }
            guard chain.allSatisfy({ graph.nodes[$0].domain.isEmpty && graph.nodes[$0].outputs.count == 1 }),
                  reads[other] == 1, !outputs.contains(other) else { return nil }
            let nodes = chain.map { graph.nodes[$0] }
            func near(_ a: Float?, _ b: Float) -> Bool { a.map { abs($0 - b) <= 1e-6 * max(1, abs(b)) } ?? false }
            /// A node dividing by 6 or multiplying by 1/6.
            func sixth(_ n: Node) -> Bool {
                n.inputs.count == 2 && (n.opType == "Div" && near(scalar(n.inputs[1]), 6)
                                        || n.opType == "Mul" && near(scalar(n.inputs[1]) ?? scalar(n.inputs[0]), 1 / 6))
            }
            /// Add of 3 then Clip to [0, 6].
            func shiftedClip(_ add: Node, _ clip: Node) -> Bool {
                add.opType == "Add" && add.inputs.count == 2 && near(scalar(add.inputs[1]) ?? scalar(add.inputs[0]), 3)
                    && single(clip, add.outputs[0]) == .clip(min: 0, max: 6)
            }
            switch nodes.map(\.opType) {
            case ["Sigmoid"]: return (.silu, chain + [mul])
            case ["HardSigmoid"]:
                guard case .hardSigmoid(let alpha, let beta)? = single(nodes[0], value), near(alpha, 1 / 6), near(beta, 0.5) else { return nil }
                return (.hardSwish, chain + [mul])
            case ["Softplus", "Tanh"]: return (.mish, chain + [mul])
            case ["Add", "Clip", "Div"], ["Add", "Clip", "Mul"]:
                guard shiftedClip(nodes[0], nodes[1]), sixth(nodes[2]), nodes[2].inputs[0] == nodes[1].outputs[0] else { return nil }
                return (.hardSwish, chain + [mul])
            case ["Add", "Clip"]:
                guard shiftedClip(nodes[0], nodes[1]), let d = sole(m.outputs[0]), graph.nodes[d].inputs[0] == m.outputs[0],
                      sixth(graph.nodes[d]) else { return nil }
                return (.hardSwish, chain + [mul, d])
            default: return nil
            }
        }

        /// The one node reading `value`, when nothing else (graph outputs included) does.
        private func sole(_ value: String) -> Int? {
            guard reads[value] == 1, !outputs.contains(value), let c = consumers[value], c.count == 1 else { return nil }
            return c[0]
        }

        /// The value of a one-element float initializer.
        private func scalar(_ name: String) -> Float? {
            guard let t = graph.initializers[name], t.dataType == .float, t.count == 1 else { return nil }
            return t.scalars(as: Float.self)[0]
        }
    }

    /// Folds chains of Mul/Add (and BatchNormalization) by per-channel constants that follow an
    /// inference BatchNormalization with constant float parameters into one node computing the
    /// composed x·scale + shift: over 2-D maps a depthwise 1×1 Conv (so a following Relu fuses
    /// into it), else a BatchNormalization (mean 0, variance 1 − epsilon).
    static func foldingAffineIntoBatchNorm(_ graph: Graph) -> Graph {
        let reads = readCounts(graph)
        let outputs = Set(graph.outputs.map(\.name))
        var consumers: [String: [Int]] = [:]
        for (i, node) in graph.nodes.enumerated() { for name in node.inputs { consumers[name, default: []].append(i) } }
        var result = graph, removed = Set<Int>(), folded = Set<Int>(), taken = Set<String>()
        for (bi, bn) in graph.nodes.enumerated() where bn.opType == "BatchNormalization" && bn.outputs.count >= 1 {
            guard !folded.contains(bi), let m = graph.initializers[bn.inputs.count > 1 ? bn.inputs[1] : ""]?.count,
                  let rank = graph.valueInfo[bn.outputs[0]]?.type?.shape?.count, rank >= 2,
                  let (scale0, shift0) = channelAffine(bn, of: bn.inputs[0], channels: m, rank: rank, graph) else { continue }
            var scale = scale0, shift = shift0, out = bn.outputs[0], chain: [Int] = []
            while reads[out] == 1, !outputs.contains(out), let c = consumers[out], c.count == 1,
                  let (s, t) = channelAffine(graph.nodes[c[0]], of: out, channels: m, rank: rank, graph) {
                for i in 0..<m { scale[i] *= s[i]; shift[i] = shift[i] * s[i] + t[i] }
                chain.append(c[0]); out = graph.nodes[c[0]].outputs[0]
            }
            // over 2-D maps: a depthwise 1×1 Conv (a Relu after it then fuses like any conv's)
            let depthwise = rank == 4
            guard depthwise || !chain.isEmpty else { continue }
            let epsilon: Float = 1e-5
            var names: [String] = []
            let parameters: [(String, [Int], [Float])] = depthwise
                ? [("weight", [m, 1, 1, 1], scale.map { Float($0) }), ("bias", [m], shift.map { Float($0) })]
                : [("scale", [m], scale.map { Float($0) }), ("shift", [m], shift.map { Float($0) }),
                   ("mean", [m], [Float](repeating: 0, count: m)), ("var", [m], [Float](repeating: 1 - epsilon, count: m))]
            for (suffix, shape, values) in parameters {
                let name = freshName(out + "_bn_" + suffix, in: graph, taken: &taken)
                result.initializers[name] = Tensor(shape: shape, scalars: values)
                names.append(name)
            }
            let fused = depthwise
                ? Node(name: bn.name, opType: "Conv", inputs: [bn.inputs[0]] + names, outputs: [out],
                       attributes: ["group": .int(m), "kernel_shape": .ints([1, 1])])
                : Node(name: bn.name, opType: "BatchNormalization", inputs: [bn.inputs[0]] + names, outputs: [out],
                       attributes: ["epsilon": .float(epsilon)])
            // the node moves to the chain's end, where its output was produced
            result.nodes[chain.last ?? bi] = fused
            if let last = chain.last, last != bi { removed.insert(bi) }
            removed.formUnion(chain.dropLast())
            folded.formUnion(chain)
        }
        result.nodes = result.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return withoutUnusedInitializers(result)
    }

    /// Drops initializers no node, capture or graph output reads.
    static func withoutUnusedInitializers(_ graph: Graph) -> Graph {
        let reads = readCounts(graph)
        var result = graph
        result.initializers = graph.initializers.filter { reads[$0.key] != nil }
        return result
    }
}
