import Testing
@testable import Vonnx

/// y = op(x, W[, C]) with random constants; x: float32[3, 5].
private func linearModel(_ op: String, transB: Bool, bias: [Int]?) -> Model {
    var rng = SystemRandomNumberGenerator()
    func random(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
    }
    var initializers = ["W": random(transB ? [7, 5] : [5, 7])]
    var inputs = ["x", "W"]
    if let bias { initializers["C"] = random(bias); inputs.append("C") }
    let attributes: [String: Attribute] = op == "Gemm" ? ["transB": .int(transB ? 1 : 0), "alpha": .float(0.5), "beta": .float(2)] : [:]
    let graph = Graph(name: "g", nodes: [Node(name: "fc", opType: op, inputs: inputs, outputs: ["y"], attributes: attributes)],
                      inputs: [ValueInfo(name: "x", type: .tensor(.float, shape: [.value(3), .value(5)]))],
                      outputs: [ValueInfo(name: "y", type: nil)], initializers: initializers)
    return Model(irVersion: 8, opsets: ["": 13], graph: graph)
}

@Test(arguments: [("Gemm", true, [7]), ("Gemm", false, [1, 7]), ("Gemm", true, [3, 1]), ("Gemm", false, nil), ("MatMul", false, nil)] as [(String, Bool, [Int]?)])
func splitLinearMatchesUnsplit(op: String, transB: Bool, bias: [Int]?) throws {
    let model = linearModel(op, transB: transB, bias: bias)
    var split = model
    split.graph = splittingOversizedWeights(model.graph, maxBytes: 48)  // 12 floats: three blocks of 3, 3, 1 columns
    #expect(split.graph.nodes.filter { $0.opType == op }.count == 3)
    #expect(split.graph.nodes.last?.opType == "Concat")
    let x = Tensor(shape: [3, 5], scalars: (0..<15).map { Float($0) / 7 - 1 })
    let options = SessionOptions(threads: 1, backend: .cpu)
    let expected = try Session(model: model, options: options).run(["x": x])["y"]!
    let actual = try Session(model: split, options: options).run(["x": x])["y"]!
    #expect(actual.shape == expected.shape)
    for (a, e) in zip(actual.scalars(as: Float.self), expected.scalars(as: Float.self)) { #expect(abs(a - e) <= 1e-5 * max(1, abs(e))) }
}

@Test func smallWeightsAreNotSplit() {
    let model = linearModel("Gemm", transB: true, bias: [7])
    #expect(splittingOversizedWeights(model.graph, maxBytes: 1 << 20).nodes.count == 1)
}

@Test func splitGatherMatchesUnsplit() throws {
    // An oversized embedding table [5, 7] gathered by ids splits into column blocks like a MatMul weight.
    let table = Tensor(shape: [5, 7], scalars: (0..<35).map { Float($0) / 3 })
    let graph = Graph(name: "g", nodes: [Node(name: "embed", opType: "Gather", inputs: ["W", "ids"], outputs: ["y"])],
                      inputs: [ValueInfo(name: "ids", type: .tensor(.int64, shape: [.value(2), .value(3)]))],
                      outputs: [ValueInfo(name: "y", type: nil)], initializers: ["W": table])
    let model = Model(irVersion: 8, opsets: ["": 13], graph: graph)
    var split = model
    split.graph = splittingOversizedWeights(model.graph, maxBytes: 60)  // 15 floats: blocks of 3, 3, 1 columns
    #expect(split.graph.nodes.filter { $0.opType == "Gather" }.count == 3)
    let ids = Tensor(shape: [2, 3], scalars: [Int64(4), 0, -1, 2, 2, 1])
    let options = SessionOptions(threads: 1, backend: .cpu)
    let expected = try Session(model: model, options: options).run(["ids": ids])["y"]!
    let actual = try Session(model: split, options: options).run(["ids": ids])["y"]!
    #expect(actual.shape == [2, 3, 7] && actual.scalars(as: Float.self) == expected.scalars(as: Float.self))
}
