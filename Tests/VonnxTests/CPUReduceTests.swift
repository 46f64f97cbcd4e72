import Glibc
import Testing
@testable import VonnxCPU
@testable import VonnxIR

private func run(_ kernel: CPUKernel, _ op: String, _ inputs: [Tensor?], opset: Int = 18,
                 attributes: [String: Attribute] = [:], outputs: Int = 1,
                 subgraphs: @escaping SubgraphRunner = { _, _ in throw VonnxError.invalidArgument("no subgraph") }) throws -> [Tensor] {
    let node = Node(name: "n", opType: op, inputs: inputs.indices.map { inputs[$0] == nil ? "" : "x\($0)" },
                    outputs: (0..<outputs).map { "y\($0)" }, attributes: attributes)
    return try kernel(KernelContext(node: node, inputs: inputs, opset: opset, pool: ThreadPool(threads: 2), runSubgraph: subgraphs))
}

private func floats(_ shape: [Int], _ v: [Float]) -> Tensor { Tensor(shape: shape, scalars: v) }
private func axes(_ v: [Int64]) -> Tensor { Tensor(shape: [v.count], scalars: v) }

@Test func reduceSumAxesInputAndAttribute() throws {
    let x = floats([2, 3], [1, 2, 3, 4, 5, 6])
    let y = try run(CPUKernels.reduceSum, "ReduceSum", [x, axes([1])], opset: 13)[0]
    #expect(y.shape == [2, 1] && y.scalars(as: Float.self) == [6, 15])
    let old = try run(CPUKernels.reduceSum, "ReduceSum", [x], opset: 11, attributes: ["axes": .ints([0]), "keepdims": .int(0)])[0]
    #expect(old.shape == [3] && old.scalars(as: Float.self) == [5, 7, 9])
    let all = try run(CPUKernels.reduceSum, "ReduceSum", [x], opset: 13, attributes: ["keepdims": .int(0)])[0]
    #expect(all.shape == [] && all.scalars(as: Float.self) == [21])
    let noop = try run(CPUKernels.reduceSum, "ReduceSum", [x, axes([])], opset: 13, attributes: ["noop_with_empty_axes": .int(1)])[0]
    #expect(noop.shape == [2, 3])
}

@Test func reduceVariants() throws {
    let x = floats([2, 2, 2], [1, -2, 3, 4, 5, 6, -7, 8])
    func r(_ k: CPUKernel, _ a: [Int64]) throws -> [Float] { try run(k, "R", [x, axes(a)])[0].scalars(as: Float.self) }
    #expect(try r(CPUKernels.reduceMax, [0, 2]) == [6, 8])
    #expect(try r(CPUKernels.reduceMin, [-1]) == [-2, 3, 5, -7])
    #expect(try r(CPUKernels.reduceProd, [1]) == [3, -8, -35, 48])
    #expect(try r(CPUKernels.reduceL1, [2]) == [3, 7, 11, 15])
    #expect(try r(CPUKernels.reduceSumSquare, [2]) == [5, 25, 61, 113])
    #expect(try r(CPUKernels.reduceMean, [0, 1, 2]) == [2.25])
    let lse = try r(CPUKernels.reduceLogSumExp, [2])
    #expect(abs(lse[0] - Float(log(exp(1.0) + exp(-2.0)))) < 1e-5)
}

@Test func reduceEmptySetAndIntegers() throws {
    let empty = Tensor(zeros: .float, shape: [2, 0, 4])
    let m = try run(CPUKernels.reduceMax, "ReduceMax", [empty, axes([1])])[0]
    #expect(m.shape == [2, 1, 4] && m.scalars(as: Float.self).allSatisfy { $0 == -.infinity })
    let p = try run(CPUKernels.reduceProd, "ReduceProd", [empty, axes([1])])[0]
    #expect(p.scalars(as: Float.self).allSatisfy { $0 == 1 })
    let ints = Tensor(shape: [3], scalars: [Int64(1) << 60, 3, -1])
    #expect(try run(CPUKernels.reduceSum, "ReduceSum", [ints], opset: 13)[0].scalars(as: Int64.self) == [(Int64(1) << 60) + 2])
    let bools = Tensor(shape: [2, 2], scalars: [true, false, false, false])
    #expect(try run(CPUKernels.reduceMax, "ReduceMax", [bools, axes([1])], opset: 20)[0].scalars(as: Bool.self) == [true, false])
    #expect(throws: VonnxError.self) { try run(CPUKernels.reduceSum, "ReduceSum", [ints, axes([3])], opset: 13) }
}

@Test func argMaxTies() throws {
    let x = floats([2, 3], [1, 5, 5, 7, 7, 0])
    let first = try run(CPUKernels.argMax, "ArgMax", [x], attributes: ["axis": .int(1), "keepdims": .int(0)])[0]
    #expect(first.scalars(as: Int64.self) == [1, 0])
    let last = try run(CPUKernels.argMax, "ArgMax", [x], attributes: ["axis": .int(1), "select_last_index": .int(1)])[0]
    #expect(last.shape == [2, 1] && last.scalars(as: Int64.self) == [2, 1])
    #expect(try run(CPUKernels.argMin, "ArgMin", [x])[0].scalars(as: Int64.self) == [0, 0, 1])
}

@Test func topKOrdersTiesByIndex() throws {
    let x = Tensor(shape: [5], scalars: [Int64(3), 1, 3, 2, 1])
    let k = Tensor(shape: [1], scalars: [Int64(3)])
    let top = try run(CPUKernels.topK, "TopK", [x, k], outputs: 2)
    #expect(top[0].scalars(as: Int64.self) == [3, 3, 2] && top[1].scalars(as: Int64.self) == [0, 2, 3])
    let low = try run(CPUKernels.topK, "TopK", [x, k], attributes: ["largest": .int(0)], outputs: 2)
    #expect(low[0].scalars(as: Int64.self) == [1, 1, 2] && low[1].scalars(as: Int64.self) == [1, 4, 3])
    #expect(throws: VonnxError.self) { try run(CPUKernels.topK, "TopK", [x, Tensor(shape: [1], scalars: [Int64(6)])]) }
}

@Test func cumSumExclusiveReverse() throws {
    let x = Tensor(shape: [4], scalars: [Int32(1), 2, 3, 4])
    let axis = Tensor(scalar: Int32(0))
    #expect(try run(CPUKernels.cumSum, "CumSum", [x, axis])[0].scalars(as: Int32.self) == [1, 3, 6, 10])
    let er = try run(CPUKernels.cumSum, "CumSum", [x, axis], attributes: ["exclusive": .int(1), "reverse": .int(1)])[0]
    #expect(er.scalars(as: Int32.self) == [9, 7, 4, 0])
    #expect(try run(CPUKernels.cumProd, "CumProd", [x, axis])[0].scalars(as: Int32.self) == [1, 2, 6, 24])
}

@Test func einsumForms() throws {
    let a = floats([2, 3], [1, 2, 3, 4, 5, 6]), b = floats([3, 2], [1, 0, 0, 1, 1, 1])
    let mm = try run(CPUKernels.einsum, "Einsum", [a, b], attributes: ["equation": .string(Array("ij,jk->ik".utf8))])[0]
    #expect(mm.shape == [2, 2] && mm.scalars(as: Float.self) == [4, 5, 10, 11])
    let implicit = try run(CPUKernels.einsum, "Einsum", [a], attributes: ["equation": .string(Array("ji".utf8))])[0]
    #expect(implicit.shape == [3, 2] && implicit.scalars(as: Float.self) == [1, 4, 2, 5, 3, 6])
    let sq = floats([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8])
    let diag = try run(CPUKernels.einsum, "Einsum", [sq], attributes: ["equation": .string(Array("...ii ->...i".utf8))])[0]
    #expect(diag.shape == [2, 2] && diag.scalars(as: Float.self) == [1, 4, 5, 8])
    let trace = try run(CPUKernels.einsum, "Einsum", [floats([2, 2], [1, 2, 3, 4])], attributes: ["equation": .string(Array("ii".utf8))])[0]
    #expect(trace.shape == [] && trace.scalars(as: Float.self) == [5])
    #expect(throws: VonnxError.self) {
        try run(CPUKernels.einsum, "Einsum", [a, a], attributes: ["equation": .string(Array("ij,jk->ik".utf8))])
    }
}

@Test func rnnMatchesHandComputation() throws {
    // one step, hidden 1, input 1: h = tanh(w x + r h0 + wb + rb)
    let x = floats([1, 1, 1], [0.5]), w = floats([1, 1, 1], [2]), r = floats([1, 1, 1], [3])
    let b = floats([1, 2], [0.1, 0.2]), h0 = floats([1, 1, 1], [0.25])
    let out = try run(CPUKernels.rnn, "RNN", [x, w, r, b, nil, h0], attributes: ["hidden_size": .int(1)], outputs: 2)
    let expected = Float(tanh(1.0 + 0.75 + 0.3))
    #expect(abs(out[0].scalars(as: Float.self)[0] - expected) < 1e-6)
    #expect(out[1].shape == [1, 1, 1])
}

@Test func lstmBidirectionalShapes() throws {
    let (seq, batch, input, hidden) = (3, 2, 4, 5)
    let x = floats([seq, batch, input], (0..<(seq * batch * input)).map { Float($0) / 10 })
    let w = floats([2, 4 * hidden, input], [Float](repeating: 0.1, count: 2 * 4 * hidden * input))
    let r = floats([2, 4 * hidden, hidden], [Float](repeating: -0.05, count: 2 * 4 * hidden * hidden))
    let lens = Tensor(shape: [batch], scalars: [Int32(3), 1])
    let out = try run(CPUKernels.lstm, "LSTM", [x, w, r, nil, lens], attributes: ["hidden_size": .int(hidden), "direction": .string(Array("bidirectional".utf8))], outputs: 3)
    #expect(out[0].shape == [seq, 2, batch, hidden] && out[1].shape == [2, batch, hidden] && out[2].shape == [2, batch, hidden])
    // batch entry 1 has length 1: its outputs after step 0 are zero
    let y = out[0].scalars(as: Float.self)
    #expect(y[((1 * 2 + 0) * batch + 1) * hidden] == 0)
    let gru = try run(CPUKernels.gru, "GRU", [x, Tensor(zeros: .float, shape: [1, 3 * hidden, input]), Tensor(zeros: .float, shape: [1, 3 * hidden, hidden])],
                      attributes: ["hidden_size": .int(hidden), "layout": .int(0)], outputs: 2)
    // zero weights: z = 0.5, candidate 0, so h halves each step from 0 and stays 0
    #expect(gru[1].scalars(as: Float.self).allSatisfy { $0 == 0 })
}

/// Bidirectional RNN, GRU and LSTM on two threads (the directions at once, each on one thread)
/// against one thread (one direction after the other) on random inputs: odd sizes, batch 1 (a
/// step's product a GEMV) and 3 with a short and an empty sequence, initial states, peepholes.
@Test(arguments: [("RNN", 1), ("GRU", 3), ("LSTM", 4)], [1, 3])
func recurrentDirectionsOnTwoThreadsMatchOneThread(op: (name: String, gates: Int), batch: Int) throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    let (seq, input, hidden, g) = (7, 5, 13, op.gates)
    var inputs: [Tensor?] = [rng.floats([seq, batch, input], -1...1), rng.floats([2, g * hidden, input], -0.6...0.6),
                             rng.floats([2, g * hidden, hidden], -0.6...0.6), rng.floats([2, 2 * g * hidden], -0.5...0.5),
                             Tensor(shape: [batch], scalars: [Int32(seq), 4, 0].prefix(batch).map { $0 }),
                             rng.floats([2, batch, hidden], -1...1)]
    if op.name == "LSTM" { inputs += [rng.floats([2, batch, hidden], -1...1), rng.floats([2, 3 * hidden], -0.5...0.5)] }
    let node = Node(name: "n", opType: op.name, inputs: inputs.indices.map { "i\($0)" }, outputs: ["y", "h"] + (op.name == "LSTM" ? ["c"] : []),
                    attributes: ["hidden_size": .int(hidden), "direction": .string(Array("bidirectional".utf8))])
    let kernel = ["RNN": CPUKernels.rnn, "GRU": CPUKernels.gru, "LSTM": CPUKernels.lstm][op.name]!
    let one = try kernel(KernelContext(node: node, inputs: inputs, opset: 22, pool: ThreadPool(threads: 1)))
    let two = try kernel(KernelContext(node: node, inputs: inputs, opset: 22, pool: ThreadPool(threads: 2)))
    for (a, b) in zip(one, two) {
        let x = a.scalars(as: Float.self), y = b.scalars(as: Float.self)
        let bad = x.indices.filter { !(abs(x[$0] - y[$0]) <= 1e-6 * max(1, abs(x[$0]))) }
        #expect(a.shape == b.shape && bad.isEmpty, "seed \(seed) \(op.name) batch \(batch): \(bad.count) of \(x.count) differ")
    }
}

@Test func loopCarriesAndStacks() throws {
    // body(i, cond, acc) -> (cond, acc + i, acc)
    let body: SubgraphRunner = { _, args in
        let i = args[0].scalars(as: Int64.self)[0], acc = args[2].scalars(as: Int64.self)[0]
        return [args[1], Tensor(scalar: acc + i), Tensor(shape: [1], scalars: [acc])]
    }
    var node = Node(name: "n", opType: "Loop", inputs: ["m", "", "a"], outputs: ["f", "s"])
    node.attributes["body"] = .graph(Graph(outputs: [ValueInfo(name: "c", type: nil), ValueInfo(name: "a", type: nil),
                                                     ValueInfo(name: "s", type: .tensor(.int64, shape: [.value(1)]))]))
    let ctx = KernelContext(node: node, inputs: [Tensor(scalar: Int64(4)), nil, Tensor(scalar: Int64(0))], opset: 13,
                            pool: ThreadPool(threads: 1), runSubgraph: body)
    let out = try CPUKernels.loop(ctx)
    #expect(out[0].scalars(as: Int64.self) == [6])
    #expect(out[1].shape == [4, 1] && out[1].scalars(as: Int64.self) == [0, 0, 1, 3])
    let none = try CPUKernels.loop(KernelContext(node: node, inputs: [Tensor(scalar: Int64(0)), nil, Tensor(scalar: Int64(0))],
                                                 opset: 13, pool: ThreadPool(threads: 1), runSubgraph: body))
    #expect(none[1].shape == [0, 1])
}

@Test func uniqueDetAndNMS() throws {
    let x = floats([6], [2, 1, 1, 3, 4, 3])
    let u = try run(CPUKernels.unique, "Unique", [x], attributes: ["sorted": .int(0)], outputs: 4)
    #expect(u[0].scalars(as: Float.self) == [2, 1, 3, 4] && u[1].scalars(as: Int64.self) == [0, 1, 3, 4])
    #expect(u[2].scalars(as: Int64.self) == [0, 1, 1, 2, 3, 2] && u[3].scalars(as: Int64.self) == [1, 2, 2, 1])
    let d = try run(CPUKernels.det, "Det", [floats([2, 2], [1, 2, 3, 4])])[0]
    #expect(d.shape == [] && abs(d.scalars(as: Float.self)[0] + 2) < 1e-6)
    let boxes = floats([1, 3, 4], [0, 0, 1, 1, 0, 0.1, 1, 1.1, 0, 5, 1, 6])
    let scores = floats([1, 1, 3], [0.9, 0.8, 0.7])
    let sel = try run(CPUKernels.nonMaxSuppression, "NonMaxSuppression",
                      [boxes, scores, Tensor(shape: [1], scalars: [Int64(3)]), floats([1], [0.5])])[0]
    #expect(sel.shape == [2, 3] && sel.scalars(as: Int64.self) == [0, 0, 0, 0, 0, 2])
}

@Test func dftRoundTripAndWindows() throws {
    let x = floats([1, 4, 1], [1, 2, 3, 4])
    let f = try run(CPUKernels.dft, "DFT", [x], opset: 20)[0]
    #expect(f.shape == [1, 4, 2] && zip(f.scalars(as: Float.self), [10, 0, -2, 2, -2, 0, -2, -2] as [Float]).allSatisfy { abs($0 - $1) < 1e-5 })
    let half = try run(CPUKernels.dft, "DFT", [x], opset: 20, attributes: ["onesided": .int(1)])[0]
    #expect(half.shape == [1, 3, 2])
    let back = try run(CPUKernels.dft, "DFT", [half], opset: 20, attributes: ["onesided": .int(1), "inverse": .int(1)])[0]
    #expect(back.shape == [1, 4, 1] && zip(back.scalars(as: Float.self), [1, 2, 3, 4] as [Float]).allSatisfy { abs($0 - $1) < 1e-5 })
    let hann = try run(CPUKernels.hannWindow, "HannWindow", [Tensor(scalar: Int64(4))], attributes: ["periodic": .int(1)])[0]
    #expect(zip(hann.scalars(as: Float.self), [0, 0.5, 1, 0.5] as [Float]).allSatisfy { abs($0 - $1) < 1e-6 })
    #expect(throws: VonnxError.self) { try run(CPUKernels.dft, "DFT", [floats([4], [1, 2, 3, 4])], opset: 20) }
}

@Test func stringOps() throws {
    let s = Tensor(strings: ["a,b,,c", "d"], shape: [2])
    let split = try run(CPUKernels.stringSplit, "StringSplit", [s], attributes: ["delimiter": .string(Array(",".utf8))], outputs: 2)
    #expect(split[0].shape == [2, 4] && split[0].storage.strings == ["a", "b", "", "c", "d", "", "", ""])
    #expect(split[1].scalars(as: Int64.self) == [4, 1])
    #expect(pythonSplit("  a  b c ", separator: nil, maxSplit: 1) == ["a", "b c "])
    let cat = try run(CPUKernels.stringConcat, "StringConcat", [s, Tensor(strings: ["!"], shape: [1])])[0]
    #expect(cat.storage.strings == ["a,b,,c!", "d!"])
    let norm = try run(CPUKernels.stringNormalizer, "StringNormalizer", [Tensor(strings: ["Monday", "tuesday"], shape: [2])],
                       attributes: ["case_change_action": .string(Array("UPPER".utf8)), "stopwords": .strings([Array("monday".utf8)])])[0]
    #expect(norm.storage.strings == ["TUESDAY"])
    let match = try run(CPUKernels.regexFullMatch, "RegexFullMatch", [Tensor(strings: ["ab12", "ab"], shape: [2])],
                        attributes: ["pattern": .string(Array("[a-z]+\\d+".utf8))])[0]
    #expect(match.scalars(as: Bool.self) == [true, false])
}

@Test func tfIdfCountsBigramsWithSkips() throws {
    let x = Tensor(shape: [6], scalars: [Int64(1), 2, 3, 1, 5, 2])
    let attrs: [String: Attribute] = ["min_gram_length": .int(1), "max_gram_length": .int(2), "max_skip_count": .int(1),
                                      "mode": .string(Array("TF".utf8)), "ngram_counts": .ints([0, 2]),
                                      "ngram_indexes": .ints([0, 1, 2]), "pool_int64s": .ints([1, 2, 1, 2])]
    // unigrams 1, 2; bigram (1, 2): adjacent at 0-1, skipping one at 3-5
    #expect(try run(CPUKernels.tfIdfVectorizer, "TfIdfVectorizer", [x], attributes: attrs)[0].scalars(as: Float.self) == [2, 2, 2])
}

@Test func lossesWeightAndIgnore() throws {
    let x = floats([2, 3], [-1, -2, -3, -4, -5, -6])
    let target = Tensor(shape: [2], scalars: [Int64(0), 2])
    let w = floats([3], [1, 1, 3])
    let nll = try run(CPUKernels.negativeLogLikelihoodLoss, "NegativeLogLikelihoodLoss", [x, target, w])[0]
    #expect(nll.shape == [] && abs(nll.scalars(as: Float.self)[0] - 19.0 / 4) < 1e-6)
    let ignored = try run(CPUKernels.negativeLogLikelihoodLoss, "NegativeLogLikelihoodLoss", [x, target],
                          attributes: ["ignore_index": .int(2), "reduction": .string(Array("none".utf8))])[0]
    #expect(ignored.scalars(as: Float.self) == [1, 0])
    let sce = try run(CPUKernels.softmaxCrossEntropyLoss, "SoftmaxCrossEntropyLoss", [floats([1, 2], [0, 0]), Tensor(shape: [1], scalars: [Int64(1)])], outputs: 2)
    #expect(abs(sce[0].scalars(as: Float.self)[0] - Float(log(2.0))) < 1e-6 && sce[1].shape == [1, 2])
    #expect(throws: VonnxError.self) { try run(CPUKernels.negativeLogLikelihoodLoss, "NegativeLogLikelihoodLoss", [x, Tensor(shape: [2], scalars: [Int64(0), 3])]) }
}

@Test func malformedInputsThrow() throws {
    let x = floats([2, 3], [1, 2, 3, 4, 5, 6])
    let s = Tensor(strings: ["a"], shape: [1])
    func eq(_ e: String) -> [String: Attribute] { ["equation": .string(Array(e.utf8))] }
    for e in ["ij->k", "ij,jk->ik", "i...j...->", "i$->i", "ijk->ijk", "ij->ii", "ij->i->j"] {
        #expect(throws: VonnxError.self) { try run(CPUKernels.einsum, "Einsum", [x], attributes: eq(e)) }
    }
    #expect(throws: VonnxError.self) { try run(CPUKernels.reduceMean, "ReduceMean", [x, floats([1], [0])]) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.reduceSum, "ReduceSum", [s], opset: 13) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.argMax, "ArgMax", [x], attributes: ["axis": .int(2)]) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.argMax, "ArgMax", [Tensor(zeros: .float, shape: [0, 2])]) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.topK, "TopK", [x, Tensor(shape: [1], scalars: [Int64(-1)])]) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.cumSum, "CumSum", [x, Tensor(scalar: Int64(5))]) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.lstm, "LSTM", [x, x, x]) }
    #expect(throws: VonnxError.self) {
        try run(CPUKernels.rnn, "RNN", [floats([1, 1, 1], [1]), floats([1, 1, 1], [1]), floats([1, 1, 1], [1]), nil, nil, s])
    }
    #expect(throws: VonnxError.self) { try run(CPUKernels.ifOp, "If", [s]) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.dft, "DFT", [floats([2, 3], [1, 2, 3, 4, 5, 6])], opset: 20) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.stft, "STFT", [floats([1, 2, 1], [1, 2]), Tensor(scalar: Int64(0))]) }
    #expect(throws: VonnxError.self) {
        try run(CPUKernels.melWeightMatrix, "MelWeightMatrix", [Tensor(scalar: Int64(8)), Tensor(scalar: Int64(16)), Tensor(scalar: Int64(100)),
                                                              floats([], [.nan]), floats([], [.infinity])])
    }
    #expect(throws: VonnxError.self) { try run(CPUKernels.hannWindow, "HannWindow", [Tensor(scalar: Int64(-3))]) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.nonMaxSuppression, "NonMaxSuppression", [x, x]) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.det, "Det", [x]) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.regexFullMatch, "RegexFullMatch", [s], attributes: ["pattern": .string(Array("(".utf8))]) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.tfIdfVectorizer, "TfIdfVectorizer", [Tensor(zeros: .float, shape: [2])]) }
}

@Test func reduceFamilyShapeRules() throws {
    func ctx(_ op: String, _ inputs: [ValueType?], _ constants: [Tensor?] = [], _ attrs: [String: Attribute] = [:]) -> ShapeContext {
        ShapeContext(node: Node(name: "n", opType: op, inputs: inputs.indices.map { "x\($0)" }, outputs: ["y", "z", "w"], attributes: attrs),
                     inputs: inputs, constants: constants + [Tensor?](repeating: nil, count: max(0, inputs.count - constants.count)), opset: 18)
    }
    let x = ValueType.tensor(.float, shape: [.symbol("N"), .value(3), .value(4)])
    let axesType = ValueType.tensor(.int64, shape: [.value(1)])
    let r = try ShapeRules.reduce(ctx("ReduceMean", [x, axesType], [nil, Tensor(shape: [1], scalars: [Int64(-1)])], ["keepdims": .int(0)]))
    #expect(r[0] == .tensor(.float, shape: [.symbol("N"), .value(3)]))
    let unknownAxes = try ShapeRules.reduce(ctx("ReduceMean", [x, axesType]))
    #expect(unknownAxes[0] == .tensor(.float, shape: [.unknown, .unknown, .unknown]))
    #expect(try ShapeRules.argReduce(ctx("ArgMax", [x], [], ["axis": .int(1)]))[0] == .tensor(.int64, shape: [.symbol("N"), .value(1), .value(4)]))
    let top = try ShapeRules.topK(ctx("TopK", [x, axesType], [nil, Tensor(shape: [1], scalars: [Int64(2)])]))
    #expect(top[1] == .tensor(.int64, shape: [.symbol("N"), .value(3), .value(2)]))
    let lstm = try ShapeRules.recurrent(ctx("LSTM", [x], [], ["hidden_size": .int(5), "direction": .string(Array("bidirectional".utf8))]))
    #expect(lstm[0] == .tensor(.float, shape: [.symbol("N"), .value(2), .value(3), .value(5)]))
    #expect(lstm[2] == .tensor(.float, shape: [.value(2), .value(3), .value(5)]))
    #expect(throws: VonnxError.self) { try ShapeRules.argReduce(ctx("ArgMax", [x], [], ["axis": .int(3)])) }
}

@Test func quantizeRoundTrip() throws {
    let x = floats([2, 2], [-1, 0.5, 1.5, 2.5])
    let scale = floats([2], [0.5, 1])
    let zp = Tensor(shape: [2], scalars: [UInt8(10), 20])
    let q = try run(CPUKernels.quantizeLinear, "QuantizeLinear", [x, scale, zp], opset: 21, attributes: ["axis": .int(1)])[0]
    // half to even: 0.5 → 0, 2.5 → 2
    #expect(q.dataType == .uint8 && q.scalars(as: UInt8.self) == [8, 20, 13, 22])
    let d = try run(CPUKernels.dequantizeLinear, "DequantizeLinear", [q, scale, zp], opset: 21, attributes: ["axis": .int(1)])[0]
    #expect(d.scalars(as: Float.self) == [-1, 0, 1.5, 2])
    let dyn = try run(CPUKernels.dynamicQuantizeLinear, "DynamicQuantizeLinear", [floats([3], [0, 2.55, -2.55])], outputs: 3)
    #expect(dyn[0].scalars(as: UInt8.self) == [128, 255, 0] && dyn[2].scalars(as: UInt8.self) == [128])
    #expect(throws: VonnxError.self) { try run(CPUKernels.quantizeLinear, "QuantizeLinear", [x, floats([3], [1, 1, 1])], opset: 21) }
    // a one-value scale and zero point are per tensor whatever their ranks ([1] and [])
    let bias = try run(CPUKernels.dequantizeLinear, "DequantizeLinear", [Tensor(shape: [2], scalars: [Int32(7), -3]), floats([1], [0.5]),
                                                                         Tensor(scalar: Int32(1))], opset: 21)[0]
    #expect(bias.scalars(as: Float.self) == [3, -2])
}

/// GlobalAveragePool's float32 path (16 running sums, then the tail) against a Double mean:
/// planes shorter than a vector, of whole vectors plus a tail, and of exactly two vectors.
@Test(arguments: [[2, 3, 3], [2, 5, 7, 9], [1, 4, 4, 8]])
func globalAveragePoolMatchesMean(shape: [Int]) throws {
    let count = shape.reduce(1, *), planes = shape[0] * shape[1], size = count / planes
    let values = (0..<count).map { Float(($0 * 7919) % 1000) / 250 - 2 }
    let y = try run(CPUKernels.globalAveragePool, "GlobalAveragePool", [floats(shape, values)])[0]
    #expect(y.shape == Array(shape[0..<2]) + Array(repeating: 1, count: shape.count - 2))
    let expected = (0..<planes).map { p in values[p * size..<(p + 1) * size].reduce(0.0) { $0 + Double($1) } / Double(size) }
    let got = y.scalars(as: Float.self)
    #expect(zip(got, expected).allSatisfy { abs(Double($0) - $1) <= 1e-6 }, "\(shape): \(got) vs \(expected)")
}
