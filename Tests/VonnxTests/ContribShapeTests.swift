import Testing
@testable import Vonnx
@testable import VonnxCPU
@testable import VonnxIR

// The shape rules of the contrib and QOperator ops. Each case's expected output types are
// what onnxruntime 1.32 returned for a one-node model of the same op, inputs and attributes
// (run in .testdata/venv); the case also runs our kernel, which must agree with the rule.

private struct ShapeCase: CustomStringConvertible {
    let op: String
    var domain = "com.microsoft"
    let inputs: [(DataType, [Int])?]
    var attributes: [String: Attribute] = [:]
    let expected: [(DataType, [Int])]
    var description: String { "\(op) \(inputs.map { $0.map { "\($0.0)\($0.1)" } ?? "-" })" }
}

private let f = DataType.float, u8 = DataType.uint8, i8 = DataType.int8
private let scale: (DataType, [Int])? = (f, [])

private let cases: [ShapeCase] = [
    .init(op: "FusedMatMul", inputs: [(f, [3, 7, 5]), (f, [3, 6, 7])],
          attributes: ["transA": .int(1), "transB": .int(1), "alpha": .float(0.5)], expected: [(f, [3, 5, 6])]),
    .init(op: "FusedMatMul", inputs: [(f, [2, 1, 4, 5]), (f, [3, 5, 6])], expected: [(f, [2, 3, 4, 6])]),
    .init(op: "Attention", inputs: [(f, [2, 5, 32]), (f, [32, 96]), (f, [96])], attributes: ["num_heads": .int(4)],
          expected: [(f, [2, 5, 32])]),
    .init(op: "Attention", inputs: [(f, [2, 5, 32]), (f, [32, 80]), (f, [80])],
          attributes: ["num_heads": .int(4), "qkv_hidden_sizes": .ints([32, 32, 16])], expected: [(f, [2, 5, 16])]),
    .init(op: "QAttention", inputs: [(u8, [2, 5, 32]), (i8, [32, 96]), (f, [96]), scale, scale, nil, (u8, []), (i8, [])],
          attributes: ["num_heads": .int(4)], expected: [(f, [2, 5, 32])]),
    .init(op: "MultiHeadAttention", inputs: [(f, [2, 5, 32]), (f, [2, 7, 32]), (f, [2, 7, 32]), nil, nil, nil, (f, [2, 4, 3, 8]), (f, [2, 4, 3, 8])],
          attributes: ["num_heads": .int(4)], expected: [(f, [2, 5, 32]), (f, [2, 4, 10, 8]), (f, [2, 4, 10, 8])]),
    .init(op: "MultiHeadAttention", inputs: [(f, [2, 5, 32]), (f, [2, 7, 32]), (f, [2, 7, 16])],
          attributes: ["num_heads": .int(4)], expected: [(f, [2, 5, 16]), (f, [2, 4, 7, 8]), (f, [2, 4, 7, 4])]),
    .init(op: "QLinearAdd", inputs: [(u8, [2, 1, 4]), scale, (u8, []), (u8, [3, 1]), scale, (u8, []), scale, (u8, [])],
          expected: [(u8, [2, 3, 4])]),
    .init(op: "QLinearMul", inputs: [(i8, [2, 1, 4]), scale, (i8, []), (i8, [3, 1]), scale, (i8, []), scale, (i8, [])],
          expected: [(i8, [2, 3, 4])]),
    .init(op: "QLinearSigmoid", inputs: [(i8, [2, 3]), scale, (i8, []), scale, (i8, [])], expected: [(i8, [2, 3])]),
    .init(op: "QLinearLeakyRelu", inputs: [(u8, [2, 3]), scale, (u8, []), scale, (u8, [])], attributes: ["alpha": .float(0.1)],
          expected: [(u8, [2, 3])]),
    .init(op: "QLinearGlobalAveragePool", inputs: [(u8, [2, 8, 5, 5]), scale, (u8, []), scale, (u8, [])], expected: [(u8, [2, 8, 1, 1])]),
    .init(op: "QLinearAveragePool", inputs: [(u8, [2, 8, 9, 9]), scale, (u8, []), scale, (u8, [])],
          attributes: ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])], expected: [(u8, [2, 8, 5, 5])]),
    .init(op: "QLinearConcat", inputs: [scale, (u8, []), (u8, [2, 3, 4]), scale, (u8, []), (u8, [2, 5, 4]), scale, (u8, [])],
          attributes: ["axis": .int(1)], expected: [(u8, [2, 8, 4])]),
    .init(op: "QGemm", inputs: [(u8, [4, 6]), scale, (u8, []), (i8, [5, 6]), scale, (i8, []), nil, scale, (u8, [])],
          attributes: ["transB": .int(1)], expected: [(u8, [4, 5])]),
    .init(op: "QGemm", inputs: [(u8, [4, 6]), scale, (u8, []), (i8, [6, 5]), scale, (i8, [])], expected: [(f, [4, 5])]),
    .init(op: "MatMulNBits", inputs: [(f, [2, 3, 80]), (u8, [48, 3, 16]), (f, [144])],
          attributes: ["K": .int(80), "N": .int(48), "bits": .int(4), "block_size": .int(32)], expected: [(f, [2, 3, 48])]),
    .init(op: "QLinearConv", domain: "", inputs: [(u8, [1, 3, 8, 8]), scale, (u8, []), (u8, [4, 3, 3, 3]), scale, (u8, []), scale, (u8, [])],
          attributes: ["pads": .ints([1, 1, 1, 1]), "strides": .ints([2, 2])], expected: [(u8, [1, 4, 4, 4])]),
]

/// A tensor of ones (zero points 1, scales 1: every kernel accepts them).
private func ones(_ type: DataType, _ shape: [Int]) -> Tensor {
    let n = shape.reduce(1, *)
    switch type {
    case .uint8: return Tensor(shape: shape, scalars: [UInt8](repeating: 1, count: n))
    case .int8: return Tensor(shape: shape, scalars: [Int8](repeating: 1, count: n))
    default: return Tensor(shape: shape, scalars: [Float](repeating: 1, count: n))
    }
}

@Test(arguments: cases) private func contribShapeRuleMatchesOnnxruntime(_ c: ShapeCase) throws {
    let names = c.inputs.indices.map { c.inputs[$0] == nil ? "" : "x\($0)" }
    let outputs = c.expected.indices.map { "y\($0)" }
    let node = Node(name: "n", opType: c.op, domain: c.domain, inputs: names, outputs: outputs, attributes: c.attributes)
    let declared = zip(names, c.inputs).compactMap { name, t in t.map { ValueInfo(name: name, type: .tensor($0.0, shape: $0.1.map(Dim.value))) } }
    let opsets = ["": 13, "com.microsoft": 1]
    let graph = try ShapeInference.inferred(Graph(nodes: [node], inputs: declared), opset: 13) { try? definition(of: $0, opsets: opsets).shape }
    let expected = c.expected.map { ValueType.tensor($0.0, shape: $0.1.map(Dim.value)) }
    #expect(outputs.map { graph.valueInfo[$0]?.type } == expected)

    let actual = try definition(of: node, opsets: opsets).cpu(
        KernelContext(node: node, inputs: c.inputs.map { $0.map { ones($0.0, $0.1) } }, opset: 13, pool: ThreadPool(threads: 1)))
    #expect(actual.prefix(outputs.count).map { ValueType.tensor($0.dataType, shape: $0.shape.map(Dim.value)) } == expected)
}

@Test func contribShapeRulesNameImpossibleSizes() {
    func message(_ op: String, _ inputs: [(DataType, [Int])], _ attributes: [String: Attribute]) -> String {
        let names = inputs.indices.map { "x\($0)" }
        let node = Node(name: "n", opType: op, domain: "com.microsoft", inputs: names, outputs: ["y"], attributes: attributes)
        let declared = zip(names, inputs).map { ValueInfo(name: $0, type: .tensor($1.0, shape: $1.1.map(Dim.value))) }
        do {
            _ = try ShapeInference.inferred(Graph(nodes: [node], inputs: declared), opset: 13) {
                try? definition(of: $0, opsets: ["": 13, "com.microsoft": 1]).shape
            }
            return "no error"
        } catch { return "\(error)" }
    }
    #expect(message("Attention", [(f, [2, 5, 32]), (f, [32, 95])], ["num_heads": .int(4)])
        .contains("node 'n' (Attention): weights' 95 columns do not split in three"))
    #expect(message("MultiHeadAttention", [(f, [2, 5, 32]), (f, [2, 7, 30]), (f, [2, 7, 32])], ["num_heads": .int(4)])
        .contains("key hidden size 30 is not a multiple of num_heads 4"))
}
