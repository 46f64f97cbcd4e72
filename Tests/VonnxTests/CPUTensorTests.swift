import Testing
@testable import VonnxCPU
@testable import VonnxIR
import Vonnx

private let pool = ThreadPool(threads: 2)

/// Runs one node of `op` on `inputs` (nil = omitted) at `opset`.
private func run(_ op: String, _ inputs: [Tensor?], opset: Int = 18, outputs: Int = 1,
                 _ attributes: [String: Attribute] = [:], kernel: CPUKernel) throws -> [Tensor] {
    let node = Node(name: "n", opType: op, inputs: inputs.indices.map { inputs[$0] == nil ? "" : "x\($0)" },
                    outputs: (0..<outputs).map { "y\($0)" }, attributes: attributes)
    return try kernel(KernelContext(node: node, inputs: inputs, opset: opset, pool: pool))
}

private func floats(_ shape: [Int]) -> Tensor {
    Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map(Float.init))
}

private func int64s(_ v: [Int]) -> Tensor { Tensor(shape: [v.count], scalars: v.map(Int64.init)) }

private func message(_ body: () throws -> Void) -> String {
    do { try body(); return "no error" } catch { return "\(error)" }
}

@Test func transposeMatchesNaiveForLargeAndPermutedInputs() throws {
    // 70×45 exercises the tiled path with partial tiles; the 4-D perm NCHW→NHWC too
    let x = floats([70, 45])
    let y = try run("Transpose", [x], kernel: CPUKernels.transpose)[0]
    #expect(y.shape == [45, 70])
    let v = y.scalars(as: Float.self)
    #expect((0..<45).allSatisfy { j in (0..<70).allSatisfy { i in v[j * 70 + i] == Float(i * 45 + j) } })

    let x4 = floats([2, 3, 4, 5])
    let y4 = try run("Transpose", [x4], ["perm": .ints([0, 2, 3, 1])], kernel: CPUKernels.transpose)[0]
    #expect(y4.shape == [2, 4, 5, 3])
    let v4 = y4.scalars(as: Float.self)
    var ok = true
    for n in 0..<2 { for h in 0..<4 { for w in 0..<5 { for c in 0..<3 {
        ok = ok && v4[((n * 4 + h) * 5 + w) * 3 + c] == Float(((n * 3 + c) * 4 + h) * 5 + w)
    } } } }
    #expect(ok)
}

@Test func transposeMovesStringsAndHalfFloats() throws {
    let s = Tensor(strings: ["a", "b", "c", "d", "e", "f"], shape: [2, 3])
    let t = try run("Transpose", [s], kernel: CPUKernels.transpose)[0]
    #expect(t.storage.strings == ["a", "d", "b", "e", "c", "f"])
    let h = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4] as [Float16])
    #expect(try run("Transpose", [h], kernel: CPUKernels.transpose)[0].scalars(as: Float16.self) == [1, 3, 2, 4])
}

@Test func sliceClampsAndWalksBackwards() throws {
    let x = floats([10])
    let y = try run("Slice", [x, int64s([-1]), int64s([Int(Int64.min)]), int64s([0]), int64s([-3])],
                    kernel: CPUKernels.slice)[0]
    #expect(y.scalars(as: Float.self) == [9, 6, 3, 0])
    let z = try run("Slice", [x, int64s([20]), int64s([30])], kernel: CPUKernels.slice)[0]
    #expect(z.shape == [0])
    let old = try run("Slice", [floats([3, 4])], opset: 1,
                      ["starts": .ints([1, 1]), "ends": .ints([1000, 3]), "axes": .ints([0, 1])], kernel: CPUKernels.slice)[0]
    #expect(old.shape == [2, 2] && old.scalars(as: Float.self) == [5, 6, 9, 10])
    #expect(message { _ = try run("Slice", [x, int64s([0]), int64s([5]), int64s([0]), int64s([0])], kernel: CPUKernels.slice) }
        .contains("step on axis 0 is 0"))
}

@Test func reshapeCopiesZerosAndInfers() throws {
    let x = floats([2, 3, 4])
    #expect(try run("Reshape", [x, int64s([0, -1])], kernel: CPUKernels.reshape)[0].shape == [2, 12])
    #expect(message { _ = try run("Reshape", [x, int64s([5, -1])], kernel: CPUKernels.reshape) }.contains("cannot reshape"))
    #expect(message { _ = try run("Reshape", [x, int64s([-1, -1])], kernel: CPUKernels.reshape) }.contains("more than one -1"))
    let empty = Tensor(zeros: .float, shape: [0, 3])
    #expect(try run("Reshape", [empty, int64s([3, 0])], opset: 14, ["allowzero": .int(1)], kernel: CPUKernels.reshape)[0].shape == [3, 0])
}

@Test func padModesMatchNumPy() throws {
    let x = floats([3])
    let pads = int64s([4, 2])
    func pad(_ mode: String) throws -> [Float] {
        try run("Pad", [x, pads], ["mode": .string(Array(mode.utf8))], kernel: CPUKernels.pad)[0].scalars(as: Float.self)
    }
    #expect(try pad("constant") == [0, 0, 0, 0, 0, 1, 2, 0, 0])
    #expect(try pad("edge") == [0, 0, 0, 0, 0, 1, 2, 2, 2])
    #expect(try pad("reflect") == [0, 1, 2, 1, 0, 1, 2, 1, 0])
    #expect(try pad("wrap") == [2, 0, 1, 2, 0, 1, 2, 0, 1])
    let cropped = try run("Pad", [floats([2, 3]), int64s([0, -1, 1, 0])], opset: 11, kernel: CPUKernels.pad)[0]
    #expect(cropped.shape == [3, 2] && cropped.scalars(as: Float.self) == [1, 2, 4, 5, 0, 0])
}

@Test func gatherAndConcatAndSplitMoveRuns() throws {
    let x = floats([3, 2])
    let g = try run("Gather", [x, Tensor(shape: [2], scalars: [2, -3] as [Int32])], kernel: CPUKernels.gather)[0]
    #expect(g.shape == [2, 2] && g.scalars(as: Float.self) == [4, 5, 0, 1])
    #expect(message { _ = try run("Gather", [x, int64s([3])], kernel: CPUKernels.gather) }.contains("out of range"))

    let c = try run("Concat", [x, floats([3, 1])], ["axis": .int(-1)], kernel: CPUKernels.concat)[0]
    #expect(c.shape == [3, 3] && c.scalars(as: Float.self) == [0, 1, 0, 2, 3, 1, 4, 5, 2])

    let parts = try run("Split", [floats([7])], outputs: 3, ["num_outputs": .int(3)], kernel: CPUKernels.split)
    #expect(parts.map(\.shape) == [[3], [3], [1]])
    #expect(parts[2].scalars(as: Float.self) == [6])
}

@Test func scatterNDReducesInOrder() throws {
    let data = floats([4])
    let y = try run("ScatterND", [data, Tensor(shape: [2, 1], scalars: [1, 1] as [Int64]), Tensor(shape: [2], scalars: [10, 20] as [Float])],
                    ["reduction": .string(Array("add".utf8))], kernel: CPUKernels.scatterND)[0]
    #expect(y.scalars(as: Float.self) == [0, 31, 2, 3])
    #expect(data.scalars(as: Float.self) == [0, 1, 2, 3])
}

@Test func nonZeroTriluAndExpand() throws {
    let b = Tensor(shape: [2, 2], scalars: [true, false, false, true])
    #expect(try run("NonZero", [b], kernel: CPUKernels.nonZero)[0].scalars(as: Int64.self) == [0, 1, 0, 1])
    let t = try run("Trilu", [floats([3, 3]), Tensor(scalar: Int64(1))], ["upper": .int(0)], kernel: CPUKernels.trilu)[0]
    #expect(t.scalars(as: Float.self) == [0, 1, 0, 3, 4, 5, 6, 7, 8])
    let e = try run("Expand", [Tensor(shape: [2, 1], scalars: [Int64(1), 2]), int64s([2, 3])], kernel: CPUKernels.expand)[0]
    #expect(e.scalars(as: Int64.self) == [1, 1, 1, 2, 2, 2])
}

@Test func dropoutTrainingMatchesNumPySeed() throws {
    // NumPy: RandomState(0).uniform(0, 1, 3) = [0.5488, 0.7152, 0.6028]
    let x = Tensor(shape: [3], scalars: [1, 1, 1] as [Float])
    let y = try run("Dropout", [x, Tensor(scalar: Float(0.6)), Tensor(scalar: true)], outputs: 2, ["seed": .int(0)],
                    kernel: CPUKernels.dropout)
    #expect(y[1].scalars(as: Bool.self) == [false, true, true])
    #expect(y[0].scalars(as: Float.self).map { ($0 * 1000).rounded() } == [0, 2500, 2500])
}

@Test func shapeRulesFollowConstantInputs() throws {
    let x = ValueType.tensor(.float, shape: [.symbol("N"), .value(3), .value(4)])
    func infer(_ rule: ShapeRule, _ op: String, _ inputs: [ValueType?], _ constants: [Tensor?],
               _ attributes: [String: Attribute] = [:]) throws -> [ValueType?] {
        try rule(ShapeContext(node: Node(name: "n", opType: op, inputs: inputs.indices.map { "x\($0)" }, outputs: ["y"],
                                         attributes: attributes), inputs: inputs, constants: constants, opset: 18))
    }
    #expect(try infer(ShapeRules.reshape, "Reshape", [x, nil], [nil, int64s([0, -1])])[0]
        == .tensor(.float, shape: [.symbol("N"), .unknown]))
    #expect(try infer(ShapeRules.flatten, "Flatten", [x], [nil])[0] == .tensor(.float, shape: [.symbol("N"), .value(12)]))
    #expect(try infer(ShapeRules.slice, "Slice", [x, nil, nil, nil], [nil, int64s([1]), int64s([-1]), int64s([2])])[0]
        == .tensor(.float, shape: [.symbol("N"), .value(3), .value(2)]))
    #expect(try infer(ShapeRules.unsqueeze, "Unsqueeze", [x, nil], [nil, int64s([0, -1])])[0]
        == .tensor(.float, shape: [.value(1), .symbol("N"), .value(3), .value(4), .value(1)]))
    #expect(try infer(ShapeRules.shape, "Shape", [x], [nil], ["start": .int(1)])[0] == .tensor(.int64, shape: [.value(2)]))
}

/// x[N, 3, 4] → Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) = [N, 12], with N
/// symbolic (runs at run time) and static (folds to a constant shape at load).
@Test func shapeChainReshapesThroughTheSession() throws {
    for batch in [Dim.symbol("N"), .value(2)] {
        let graph = Graph(
            nodes: [
                Node(name: "shape", opType: "Shape", inputs: ["x"], outputs: ["s"]),
                Node(name: "gather", opType: "Gather", inputs: ["s", "zero"], outputs: ["n"]),
                Node(name: "unsq", opType: "Unsqueeze", inputs: ["n", "axes"], outputs: ["n1"]),
                Node(name: "concat", opType: "Concat", inputs: ["n1", "minus1"], outputs: ["target"], attributes: ["axis": .int(0)]),
                Node(name: "reshape", opType: "Reshape", inputs: ["x", "target"], outputs: ["y"]),
            ],
            inputs: [ValueInfo(name: "x", type: .tensor(.float, shape: [batch, .value(3), .value(4)]))],
            outputs: [ValueInfo(name: "y", type: nil)],
            initializers: ["zero": Tensor(scalar: Int64(0)), "axes": int64s([0]), "minus1": int64s([-1])])
        let session = try Session(model: Model(irVersion: 8, opsets: ["": 13], graph: graph),
                                  options: SessionOptions(threads: 2, backend: .cpu))
        let y = try session.run(["x": floats([2, 3, 4])])["y"]!
        #expect(y.shape == [2, 12])
        #expect(y.scalars(as: Float.self) == floats([2, 12]).scalars(as: Float.self))
    }
}
