import Testing
@testable import Vonnx

/// Seeded floats in [-1, 1) (an LCG).
private struct Noise {
    var state: UInt64
    mutating func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int(state >> 40) % 2000 - 1000) / 1000
    }
    mutating func tensor(_ shape: [Int], offset: Float = 0) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in offset + next() })
    }
}

/// Runs `graph` optimized and unoptimized on the same random input `x` (shape `xShape`) and
/// returns the optimized graph's op types and the relative L2 error between the outputs. A
/// PackedMatMul (a TransposedMatMul whose weight the session packed ahead, where the CPU has the
/// packed kernel) counts as the TransposedMatMul it stands for.
private func compare(_ graph: Graph, xShape: [Int], seed: UInt64 = 7) throws -> (ops: [String], error: Double) {
    let model = Model(irVersion: 8, opsets: ["": 17], graph: graph)
    var noise = Noise(state: seed)
    let x = noise.tensor(xShape)
    let fused = try Session(model: model, options: SessionOptions(threads: 2, backend: .cpu))
    let plain = try Session(model: model, options: SessionOptions(threads: 2, backend: .cpu, optimize: false))
    let name = graph.outputs[0].name
    let a = try fused.run(["x": x])[name]!.scalars(as: Float.self)
    let b = try plain.run(["x": x])[name]!.scalars(as: Float.self)
    #expect(a.count == b.count)
    let diff = zip(a, b).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
    let norm = b.reduce(0.0) { $0 + Double($1 * $1) }
    let ops = fused.model.graph.nodes.map { $0.opType == "PackedMatMul" ? "TransposedMatMul" : $0.opType }
    return (ops, (diff / max(norm, 1e-30)).squareRoot())
}

private func conv(_ b: inout GraphBuilder, _ noise: inout Noise, _ x: String, _ cin: Int, _ cout: Int, k: Int,
                  stride: Int = 1, bias: Bool = true) -> String {
    let w = b.constant(noise.tensor([cout, cin, k, k]), prefix: "w")
    var inputs = [x, w]
    if bias { inputs.append(b.constant(noise.tensor([cout]), prefix: "b")) }
    return b.node("Conv", inputs, ["strides": .ints([stride, stride]), "pads": .ints(Array(repeating: k / 2, count: 4))])
}

private func bn(_ b: inout GraphBuilder, _ noise: inout Noise, _ x: String, _ c: Int) -> String {
    let params = [noise.tensor([c], offset: 1.5), noise.tensor([c]), noise.tensor([c]), noise.tensor([c], offset: 1.5)]
    return b.node("BatchNormalization", [x] + params.map { b.constant($0) }, ["epsilon": .float(1e-5)])
}

@Test func foldsBatchNormAndScaleIntoConv() throws {
    var b = GraphBuilder(name: "g"), noise = Noise(state: 1)
    let x = b.input("x", .float, [.symbol("N"), .value(3), .value(9), .value(9)])
    var h = bn(&b, &noise, conv(&b, &noise, x, 3, 8, k: 3, bias: false), 8)
    h = b.node("Mul", [h, b.constant(noise.tensor([8, 1, 1]))])
    h = b.node("Add", [h, b.constant(Tensor(shape: [1], scalars: [Float(0.25)]))])
    b.output(h)
    let (ops, error) = try compare(b.graph, xShape: [2, 3, 9, 9])
    #expect(ops == ["Conv"])
    #expect(error < 1e-5)
}

/// DenseNet's pre-activation: BatchNormalization then Mul and Add by per-channel constants and
/// a Relu after a Concat, not a Conv, becomes one depthwise FusedConv (and a two-input Sum,
/// the residual of older models, fuses like an Add).
@Test func foldsPreActivationIntoDepthwiseConv() throws {
    var b = GraphBuilder(name: "g"), noise = Noise(state: 4)
    let x = b.input("x", .float, [.symbol("N"), .value(4), .value(6), .value(6)])
    var h = bn(&b, &noise, b.node("Concat", [x, x], ["axis": .int(1)]), 8)
    h = b.node("Mul", [h, b.constant(noise.tensor([8, 1, 1]))])
    h = b.node("Add", [h, b.constant(noise.tensor([8, 1, 1]))])
    h = b.node("Relu", [h])
    let c = conv(&b, &noise, h, 8, 8, k: 1)
    b.output(b.node("Relu", [b.node("Sum", [c, h])]))
    let (ops, error) = try compare(b.graph, xShape: [2, 4, 6, 6])
    #expect(ops == ["Concat", "FusedConv", "FusedConv"])
    #expect(error < 1e-5)
}

@Test func fusesResidualAddAndRelu() throws {
    var b = GraphBuilder(name: "g"), noise = Noise(state: 2)
    let x = b.input("x", .float, [.symbol("N"), .value(4), .value(8), .value(8)])
    let stem = b.node("Relu", [bn(&b, &noise, conv(&b, &noise, x, 4, 6, k: 3), 6)])
    let branch = bn(&b, &noise, conv(&b, &noise, stem, 6, 6, k: 1), 6)
    let shortcut = conv(&b, &noise, x, 4, 6, k: 1, stride: 1)
    let y = b.node("Relu", [b.node("Add", [shortcut, branch])])
    b.output(y)
    let (ops, error) = try compare(b.graph, xShape: [3, 4, 8, 8])
    #expect(ops.filter { $0 == "FusedConv" }.count == 2)
    #expect(!ops.contains("Relu") && !ops.contains("Add") && !ops.contains("BatchNormalization"))
    #expect(error < 1e-5)
}

@Test func keepsIntermediatesOthersRead() throws {
    var b = GraphBuilder(name: "g"), noise = Noise(state: 3)
    let x = b.input("x", .float, [.value(1), .value(2), .value(5), .value(5)])
    let c = conv(&b, &noise, x, 2, 4, k: 3, stride: 2)
    let r = b.node("Relu", [c])
    b.output(b.node("Add", [r, c]))  // the Conv's output is read twice: nothing to fuse
    let (ops, error) = try compare(b.graph, xShape: [1, 2, 5, 5])
    #expect(ops == ["Conv", "Relu", "Add"])
    #expect(error < 1e-5)
}

@Test func fusedConvRejectsBadResidual() throws {
    let graph = Graph(name: "g",
                      nodes: [Node(name: "fc", opType: "FusedConv", domain: "com.microsoft", inputs: ["x", "w", "", "z"],
                                   outputs: ["y"], attributes: ["activation": .string(Array("Relu".utf8))])],
                      inputs: [ValueInfo(name: "x", type: .tensor(.float, shape: [.value(1), .value(1), .value(3), .value(3)])),
                               ValueInfo(name: "z", type: .tensor(.float, shape: [.value(1), .value(1), .value(2), .value(2)]))],
                      outputs: [ValueInfo(name: "y", type: nil)],
                      initializers: ["w": Tensor(shape: [1, 1, 1, 1], scalars: [Float(2)])])
    let session = try Session(model: Model(irVersion: 8, opsets: ["": 17, "com.microsoft": 1], graph: graph),
                              options: SessionOptions(threads: 1, backend: .cpu))
    let x = Tensor(shape: [1, 1, 3, 3], scalars: [Float](repeating: 1, count: 9))
    let z = Tensor(shape: [1, 1, 2, 2], scalars: [Float](repeating: 1, count: 4))
    do {
        _ = try session.run(["x": x, "z": z])
        Issue.record("expected an error")
    } catch {
        #expect("\(error)".contains("Z [1, 1, 2, 2]"))
    }
}

/// Each activation form exporters write after a Conv (an op, or x·f(x) decomposed) fuses into
/// the Conv as that activation, with the unoptimized graph's outputs; `form` names the form,
/// `fused` the activation expected on the FusedConv.
@Test(arguments: [("Relu", "Relu"), ("Clip", "Clip"), ("LeakyRelu", "LeakyRelu"), ("Sigmoid", "Sigmoid"), ("Tanh", "Tanh"),
                  ("HardSigmoid", "HardSigmoid"), ("HardSwish", "HardSwish"), ("Gelu", "Gelu"), ("GeluTanh", "GeluTanh"),
                  ("Mish", "Mish"), ("x·Sigmoid", "Silu"), ("x·HardSigmoid", "HardSwish"), ("x·Clip/6", "HardSwish"),
                  ("x·(Clip·⅙)", "HardSwish"), ("x·Tanh·Softplus", "Mish")])
func fusesActivationForms(form: String, fused: String) throws {
    var b = GraphBuilder(name: "g"), noise = Noise(state: 5)
    let x = b.input("x", .float, [.symbol("N"), .value(3), .value(7), .value(7)])
    let c = conv(&b, &noise, x, 3, 5, k: 3)
    func scalar(_ v: Float) -> String { b.constant(Tensor(shape: [], scalars: [v])) }
    let y: String
    switch form {
    case "Clip": y = b.node("Clip", [c, scalar(-0.5), scalar(0.75)])
    case "LeakyRelu": y = b.node("LeakyRelu", [c], ["alpha": .float(0.2)])
    case "HardSigmoid": y = b.node("HardSigmoid", [c], ["alpha": .float(0.3), "beta": .float(0.4)])
    case "Gelu": y = b.node("Gelu", [c])
    case "GeluTanh": y = b.node("Gelu", [c], ["approximate": .string(Array("tanh".utf8))])
    case "x·Sigmoid": y = b.node("Mul", [b.node("Sigmoid", [c]), c])
    case "x·HardSigmoid": y = b.node("Mul", [c, b.node("HardSigmoid", [c], ["alpha": .float(1 / 6), "beta": .float(0.5)])])
    case "x·Clip/6", "x·(Clip·⅙)":
        let clip = b.node("Clip", [b.node("Add", [c, scalar(3)]), scalar(0), scalar(6)])
        y = form == "x·Clip/6" ? b.node("Div", [b.node("Mul", [c, clip]), scalar(6)])
                               : b.node("Mul", [c, b.node("Mul", [clip, scalar(1 / 6)])])
    case "x·Tanh·Softplus": y = b.node("Mul", [c, b.node("Tanh", [b.node("Softplus", [c])])])
    default: y = b.node(form, [c])
    }
    b.output(y)
    let (ops, error) = try compare(b.graph, xShape: [2, 3, 7, 7])
    #expect(ops == ["FusedConv"], "\(form)")
    #expect(error < 1e-5, "\(form)")
    let model = Model(irVersion: 8, opsets: ["": 17], graph: b.graph)
    let node = try Session(model: model, options: SessionOptions(threads: 1, backend: .cpu)).model.graph.nodes[0]
    #expect(try node.string("activation", default: "") == fused)
}

/// x·HardSigmoid(x) is HardSwish only with HardSwish's 1/6 and 1/2; a Sigmoid whose input
/// something else also reads stays a Sigmoid.
@Test func keepsActivationFormsThatDiffer() throws {
    var b = GraphBuilder(name: "g"), noise = Noise(state: 6)
    let x = b.input("x", .float, [.value(1), .value(3), .value(6), .value(6)])
    let c = conv(&b, &noise, x, 3, 4, k: 1)
    let h = b.node("Mul", [c, b.node("HardSigmoid", [c], ["alpha": .float(0.2), "beta": .float(0.5)])])
    let d = conv(&b, &noise, h, 4, 4, k: 1)
    b.output(b.node("Add", [b.node("Mul", [d, b.node("Sigmoid", [d])]), d]))
    let (ops, error) = try compare(b.graph, xShape: [1, 3, 6, 6])
    #expect(ops == ["Conv", "HardSigmoid", "Mul", "Conv", "Sigmoid", "Mul", "Add"])
    #expect(error < 1e-5)
}

/// The decomposed layer normalization exporters write over the last axis: ReduceMean, Sub,
/// Pow by 2 (or the Mul of the difference by itself), ReduceMean, Add ε, Sqrt, Div, then Mul by γ
/// (either order) and Add β (optional). `extraReader` also reads the difference elsewhere.
private func decomposedLayerNorm(squareByMul: Bool, gammaFirst: Bool, beta: Bool, axesInput: Bool,
                                 extraReader: Bool = false) throws -> (ops: [String], error: Double) {
    var b = GraphBuilder(name: "g"), noise = Noise(state: 3)
    let x = b.input("x", .float, [.symbol("N"), .value(5), .value(37)])
    func mean(_ v: String) -> String {
        axesInput ? b.node("ReduceMean", [v, b.constant(Tensor(shape: [1], scalars: [Int64(-1)]))])
            : b.node("ReduceMean", [v], ["axes": .ints([-1])])
    }
    let d = b.node("Sub", [x, mean(x)])
    let square = squareByMul ? b.node("Mul", [d, d]) : b.node("Pow", [d, b.constant(Tensor(scalar: Float(2)))])
    let std = b.node("Sqrt", [b.node("Add", [mean(square), b.constant(Tensor(scalar: Float(1e-5)))])])
    let gamma = b.constant(noise.tensor([37], offset: 1))
    let normalized = b.node("Div", [d, std])
    var y = b.node("Mul", gammaFirst ? [gamma, normalized] : [normalized, gamma])
    if beta { y = b.node("Add", [b.constant(noise.tensor([37])), y]) }
    if extraReader { y = b.node("Add", [y, d]) }
    b.output(y)
    return try compare(b.graph, xShape: [2, 5, 37])
}

@Test(arguments: [(false, false, true, false), (true, true, true, true), (false, true, false, false), (true, false, false, true)])
func fusesDecomposedLayerNormalization(squareByMul: Bool, gammaFirst: Bool, beta: Bool, axesInput: Bool) throws {
    let (ops, error) = try decomposedLayerNorm(squareByMul: squareByMul, gammaFirst: gammaFirst, beta: beta, axesInput: axesInput)
    #expect(ops == ["LayerNormalization"])
    #expect(error < 1e-5)
}

@Test func keepsDecomposedLayerNormalizationWhoseDifferenceIsReadElsewhere() throws {
    let (ops, error) = try decomposedLayerNorm(squareByMul: false, gammaFirst: false, beta: true, axesInput: false, extraReader: true)
    #expect(!ops.contains("LayerNormalization"))
    #expect(error < 1e-6)
}

/// Attention's head split: Q, K and V projected (MatMul, bias Add), reshaped to heads and
/// transposed (K to Kᵀ) before the MatMuls, the scores scaled (`scale`: a Div or Mul by a
/// constant, or none) and normalized, and the context transposed back (by `contextPerm`). On
/// the CPU the Transposes feeding MatMuls and the bias Adds fold into `vonnx::TransposedMatMul`
/// and the scores' MatMul, scale, Softmax and MatMul by V into one `vonnx::SoftmaxAttention`
/// — unless the scores are read elsewhere too (`scoresRead`: an output) — and the Transpose
/// after it too (`permY`), unless it moves the last axis or the context is read elsewhere too
/// (`contextRead`: an output); another backend keeps them all.
@Test(arguments: [("Div", false, [0, 2, 1, 3], false), ("Mul", false, [2, 0, 1, 3], false), ("", false, [0, 2, 1, 3], false),
                  ("Div", true, [0, 2, 1, 3], false), ("Div", false, [0, 2, 3, 1], false), ("Div", false, [0, 2, 1, 3], true)])
func foldsTransposesAndAttentionOnTheCPUOnly(scale: String, scoresRead: Bool, contextPerm: [Int], contextRead: Bool) throws {
    var b = GraphBuilder(name: "g"), noise = Noise(state: 5)
    let x = b.input("x", .float, [.value(2), .value(9), .value(12)])
    func heads(_ perm: [Int]) -> String {
        let projected = b.node("Add", [b.node("MatMul", [x, b.constant(noise.tensor([12, 12]))]), b.constant(noise.tensor([12]))])
        let split = b.node("Reshape", [projected, b.constant(Tensor(shape: [4], scalars: [2, 9, 3, 4] as [Int64]))])
        return b.node("Transpose", [split], ["perm": .ints(perm)])
    }
    let q = heads([0, 2, 1, 3]), kt = heads([0, 2, 3, 1]), v = heads([0, 2, 1, 3])
    var scores = b.node("MatMul", [q, kt])
    if !scale.isEmpty { scores = b.node(scale, [scores, b.constant(Tensor(scalar: Float(scale == "Div" ? 2 : 0.5)))]) }
    let p = b.node("Softmax", [scores], ["axis": .int(-1)])
    let heads = b.node("MatMul", [p, v])
    let context = b.node("Transpose", [heads], ["perm": .ints(contextPerm)])
    b.output(b.node("Reshape", [context, b.constant(Tensor(shape: [3], scalars: [2, 9, 12] as [Int64]))]))
    if scoresRead { b.output(scores) }
    if contextRead { b.output(heads) }
    let (ops, error) = try compare(b.graph, xShape: [2, 9, 12])
    let count = { (op: String) in ops.filter { $0 == op }.count }
    if scoresRead {
        #expect(count("TransposedMatMul") == 5 && count("Softmax") == 1 && count("SoftmaxAttention") == 0, "\(ops)")
    } else {
        let transposeStays = contextRead || contextPerm.last != 3
        #expect(count("TransposedMatMul") == 3 && count("SoftmaxAttention") == 1 && count("Transpose") == (transposeStays ? 1 : 0)
                && !ops.contains("Add") && !ops.contains("MatMul") && !ops.contains("Softmax") && !ops.contains(scale), "\(ops)")
    }
    #expect(error < 1e-5)
    let elsewhere = try Optimizer(opsets: ["": 17], optimize: true, limits: Limits(), cpuOnly: false).prepare(b.graph)
    #expect(elsewhere.nodes.filter { $0.opType == "Transpose" }.count == 4 && elsewhere.nodes.filter { $0.opType == "Softmax" }.count == 1
            && !elsewhere.nodes.contains { $0.domain == "vonnx" })
}

/// MiniLM's and BERT's attention: the hidden states' shape unknown to inference (position
/// embeddings gathered by ids a Slice cut to the input's symbolic length), and a padding mask
/// (`mask`: constant, 0 or −10000, broadcast over heads and query rows) added to the scaled
/// scores. The projections' bias Adds still fold into their MatMuls (the width read from the
/// weight), and the mask and the context's Transpose into `vonnx::SoftmaxAttention` — unless it would widen the scores
/// (`widening`: a mask of two heads against scores of one), which then stay unfused. The
/// feed-forward MatMul after it takes its bias and decomposed Gelu as its epilogue.
@Test(arguments: [(true, false), (false, false), (true, true)])
func foldsMaskedAttentionBehindAnUnknownShape(mask: Bool, widening: Bool) throws {
    var b = GraphBuilder(name: "g"), noise = Noise(state: 9)
    let heads = widening ? 1 : 3, depth = 12 / heads
    let x0 = b.input("x", .float, [.symbol("N"), .value(9), .value(12)])
    let length = b.node("Unsqueeze", [b.node("Gather", [b.node("Shape", [x0]), b.constant(Tensor(scalar: Int64(1)))]),
                                      b.constant(Tensor(shape: [1], scalars: [0] as [Int64]))])
    let ids = b.node("Slice", [b.constant(Tensor(shape: [1, 16], scalars: (0..<16).map { Int64($0) })),
                               b.constant(Tensor(shape: [1], scalars: [0] as [Int64])), length,
                               b.constant(Tensor(shape: [1], scalars: [1] as [Int64]))])
    let x = b.node("Add", [x0, b.node("Gather", [b.constant(noise.tensor([16, 12])), ids])])
    func project(_ perm: [Int]) -> String {
        let projected = b.node("Add", [b.constant(noise.tensor([12])), b.node("MatMul", [x, b.constant(noise.tensor([12, 12]))])])
        let split = b.node("Reshape", [projected, b.constant(Tensor(shape: [4], scalars: [0, 0, Int64(heads), Int64(depth)]))])
        return b.node("Transpose", [split], ["perm": .ints(perm)])
    }
    let q = project([0, 2, 1, 3]), kt = project([0, 2, 3, 1]), v = project([0, 2, 1, 3])
    var scores = b.node("Div", [b.node("MatMul", [q, kt]), b.constant(Tensor(scalar: Float(2)))])
    if mask {
        let padding = (0..<(widening ? 2 : 1) * 9).map { Float($0 % 9 >= 6 ? -10000 : 0) }
        scores = b.node("Add", [scores, b.constant(Tensor(shape: [1, widening ? 2 : 1, 1, 9], scalars: padding))])
    }
    let p = b.node("Softmax", [scores], ["axis": .int(-1)])
    let context = b.node("Transpose", [b.node("MatMul", [p, v])], ["perm": .ints([0, 2, 1, 3])])
    let merged = b.node("Reshape", [context, b.constant(Tensor(shape: [3], scalars: [0, 0, -1] as [Int64]))])
    let hidden = b.node("Add", [b.node("MatMul", [merged, b.constant(noise.tensor([widening ? 24 : 12, 20]))]), b.constant(noise.tensor([20]))])
    let erf = b.node("Erf", [b.node("Div", [hidden, b.constant(Tensor(scalar: Float(1.4142135)))])])
    b.output(b.node("Mul", [b.node("Mul", [hidden, b.node("Add", [erf, b.constant(Tensor(scalar: Float(1)))])]), b.constant(Tensor(scalar: Float(0.5)))]))
    let (ops, error) = try compare(b.graph, xShape: [1, 9, 12])
    let count = { (op: String) in ops.filter { $0 == op }.count }
    if widening {
        #expect(count("SoftmaxAttention") == 0 && count("Softmax") == 1 && count("Add") == 2, "\(ops)")
    } else {
        #expect(count("TransposedMatMul") == 4 && count("SoftmaxAttention") == 1 && count("Add") == 1 && !ops.contains("MatMul")
                && !ops.contains("Softmax") && !ops.contains("Transpose"), "\(ops)")
    }
    #expect(!ops.contains("Gelu") && !ops.contains("Erf"), "\(ops)")
    #expect(error < 1e-5)
}

/// GPT-2's causal attention: the scaled scores chosen by a constant lower-triangular condition
/// against a fill (`fill`: finfo.min or −10⁴), the fill where the condition is false (or, with
/// `swapped`, the condition inverted and the fill where it is true). On the CPU the Where
/// becomes an additive mask of `vonnx::SoftmaxAttention` — unless the fill is not that low
/// (−1 changes the Softmax), or some row keeps no score (`emptyRow`: Where's uniform row, which
/// a mask would not give).
@Test(arguments: [(-Float.greatestFiniteMagnitude, false, false), (-10000, true, false), (-1, false, false),
                  (-Float.greatestFiniteMagnitude, false, true)])
func foldsCausalWhereIntoAttention(fill: Float, swapped: Bool, emptyRow: Bool) throws {
    var b = GraphBuilder(name: "g"), noise = Noise(state: 13)
    let x = b.input("x", .float, [.value(2), .value(7), .value(12)])
    func heads(_ perm: [Int]) -> String {
        let projected = b.node("MatMul", [x, b.constant(noise.tensor([12, 12]))])
        return b.node("Transpose", [b.node("Reshape", [projected, b.constant(Tensor(shape: [4], scalars: [2, 7, 3, 4] as [Int64]))])],
                      ["perm": .ints(perm)])
    }
    let q = heads([0, 2, 1, 3]), kt = heads([0, 2, 3, 1]), v = heads([0, 2, 1, 3])
    let scores = b.node("Div", [b.node("MatMul", [q, kt]), b.constant(Tensor(scalar: Float(2)))])
    let causal = (0..<49).map { ($0 % 7 <= $0 / 7) && !(emptyRow && $0 / 7 == 3) }
    let condition = b.constant(Tensor(shape: [1, 1, 7, 7], scalars: swapped ? causal.map { !$0 } : causal))
    let fillValue = b.constant(Tensor(scalar: fill))
    let masked = b.node("Where", swapped ? [condition, fillValue, scores] : [condition, scores, fillValue])
    let context = b.node("MatMul", [b.node("Softmax", [masked], ["axis": .int(-1)]), v])
    b.output(b.node("Reshape", [b.node("Transpose", [context], ["perm": .ints([0, 2, 1, 3])]),
                                b.constant(Tensor(shape: [3], scalars: [2, 7, 12] as [Int64]))]))
    let (ops, error) = try compare(b.graph, xShape: [2, 7, 12])
    let fused = fill <= -1e4 && !emptyRow
    #expect(ops.contains("SoftmaxAttention") == fused && ops.contains("Where") == !fused, "\(ops)")
    #expect(error < 1e-5)
}

/// Gelu as exporters decompose it, after a MatMul: one Gelu node, which on the CPU the MatMul
/// takes as its epilogue (the error tells the tanh form from the Erf one). `form` picks the
/// Erf form by division by √2 with (x·a)·½, by a product with 1/√2 with (x·½)·a, or the tanh
/// approximation with (a·½)·x.
@Test(arguments: ["erf", "erf-mul", "tanh"])
func fusesDecomposedGelu(form: String) throws {
    var b = GraphBuilder(name: "g"), noise = Noise(state: 11)
    let x = b.input("x", .float, [.value(3), .value(16)])
    let h = b.node("MatMul", [x, b.constant(noise.tensor([16, 16]))])
    func c(_ v: Float) -> String { b.constant(Tensor(scalar: v)) }
    let y: String
    switch form {
    case "erf":
        let a = b.node("Add", [b.node("Erf", [b.node("Div", [h, c(1.4142135)])]), c(1)])
        y = b.node("Mul", [b.node("Mul", [h, a]), c(0.5)])
    case "erf-mul":
        let a = b.node("Add", [c(1), b.node("Erf", [b.node("Mul", [c(0.70710678), h])])])
        y = b.node("Mul", [b.node("Mul", [h, c(0.5)]), a])
    default:
        let cube = b.node("Pow", [h, c(3)])
        let inner = b.node("Mul", [b.node("Add", [h, b.node("Mul", [cube, c(0.044715)])]), c(0.7978846)])
        let a = b.node("Add", [c(1), b.node("Tanh", [inner])])
        y = b.node("Mul", [b.node("Mul", [a, c(0.5)]), h])
    }
    b.output(y)
    let (ops, error) = try compare(b.graph, xShape: [3, 16])
    #expect(ops == ["TransposedMatMul"], "\(ops)")
    #expect(error < 1e-5)
    let elsewhere = try Optimizer(opsets: ["": 17], optimize: true, limits: Limits(), cpuOnly: false).prepare(b.graph)
    #expect(elsewhere.nodes.map(\.opType) == ["MatMul", "Gelu"], "\(elsewhere.nodes.map(\.opType))")
}
