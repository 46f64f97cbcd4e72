import Testing
@testable import Vonnx
import VonnxVulkan

// Ops whose inputs are all read on the host (Range's bounds, a window's size, NonZero's
// input…) have no device kernel: a partition evaluates them with the CPU kernel while
// recording (`VulkanPartition.evaluatesOnHost`) and uploads the value for its device readers.

/// One node fed by graph inputs, each case's inputs as given.
struct HostValueCase: CustomTestStringConvertible, Sendable {
    let op: String
    var attributes: [String: Attribute] = [:]
    var opset = 18
    let inputs: [Tensor]
    var detail = ""
    var testDescription: String { "\(op) \(attributes.keys.sorted())\(detail.isEmpty ? "" : " " + detail)" }
}

private func bf16(_ bits: UInt16) -> Tensor { Tensor(dataType: .bfloat16, shape: [], storage: Tensor(shape: [], scalars: [bits]).storage) }
private func bytes(_ t: Tensor) -> [UInt8] { Array(UnsafeRawBufferPointer(start: t.storage.pointer, count: t.storage.byteCount)) }
private func dtype(_ t: DataType) -> Attribute { .int(Int(t.rawValue)) }

private let hostValueCases: [HostValueCase] = {
    var c: [HostValueCase] = [
        HostValueCase(op: "Range", inputs: [Tensor(scalar: Int64(1)), Tensor(scalar: Int64(10)), Tensor(scalar: Int64(3))]),
        HostValueCase(op: "Range", inputs: [Tensor(scalar: Float(-1)), Tensor(scalar: Float(3.3)), Tensor(scalar: Float(0.75))]),
        HostValueCase(op: "Range", inputs: [Tensor(scalar: Float16(1.1)), Tensor(scalar: Float16(7.3)), Tensor(scalar: Float16(0.7))], detail: "float16"),
        HostValueCase(op: "Range", inputs: [bf16(0x3F80), bf16(0x4100), bf16(0x3F00)], detail: "bfloat16, 1 to 8 by 0.5"),
        HostValueCase(op: "NonZero", opset: 13, inputs: [Tensor(shape: [3, 4, 2], scalars: (0..<24).map { Int64($0 % 3 - 1) })]),
        HostValueCase(op: "NonZero", opset: 13, inputs: [Tensor(scalar: true)], detail: "bool scalar"),
        HostValueCase(op: "ConstantOfShape", attributes: ["value": .tensor(Tensor(shape: [1], scalars: [Int64(7)]))],
                      inputs: [Tensor(shape: [2], scalars: [Int64(2), 3])]),
        HostValueCase(op: "ConstantOfShape", inputs: [Tensor(shape: [2], scalars: [Int64(3), 0])], detail: "empty"),
        HostValueCase(op: "HannWindow", attributes: ["output_datatype": dtype(.float16)], opset: 17, inputs: [Tensor(scalar: Int64(1))], detail: "size 1"),
        HostValueCase(op: "BlackmanWindow", opset: 17, inputs: [Tensor(scalar: Int64(0))], detail: "size 0"),
        HostValueCase(op: "MelWeightMatrix", opset: 17, inputs: [Tensor(scalar: Int64(8)), Tensor(scalar: Int64(33)), Tensor(scalar: Int64(8000)),
                                                                 Tensor(scalar: Float(0)), Tensor(scalar: Float(4000))]),
        HostValueCase(op: "MelWeightMatrix", attributes: ["output_datatype": dtype(.int32)], opset: 17,
                      inputs: [Tensor(scalar: Int32(5)), Tensor(scalar: Int32(20)), Tensor(scalar: Int32(16000)), Tensor(scalar: Float(100)),
                               Tensor(scalar: Float(7000))], detail: "int32"),
    ]
    for op in ["HannWindow", "HammingWindow", "BlackmanWindow"] {
        c.append(HostValueCase(op: op, opset: 17, inputs: [Tensor(scalar: Int32(11))]))
        c.append(HostValueCase(op: op, attributes: ["periodic": .int(0), "output_datatype": dtype(.double)], opset: 17, inputs: [Tensor(scalar: Int64(8))]))
    }
    return c
}()

/// Each case in one partition with no fallback: its value is the CPU kernel's, bit for bit, both
/// as a graph output and read back through a device Identity.
@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: hostValueCases)
func hostValueOpsRunInsideVulkanPartitions(_ hc: HostValueCase) throws {
    var b = GraphBuilder(name: "host-value")
    let names = hc.inputs.enumerated().map { i, t in b.input("in\(i)", t.dataType, t.shape.map { .value($0) }) }
    let value = b.node(hc.op, names, hc.attributes, output: "value")
    b.output(value)
    b.output(b.node("Identity", [value], output: "copy"))
    let model = Model(irVersion: 8, opsets: ["": hc.opset], graph: b.graph)
    let gpu = try Session(model: model, options: vulkanOptions(allowFallback: false))
    #expect(gpu.vulkanPartitionCount == 1 && gpu.fallbackNodes.isEmpty)
    let feeds = Dictionary(uniqueKeysWithValues: zip(names, hc.inputs))
    let got = try gpu.run(feeds), want = try Session(model: model, options: SessionOptions(threads: 1, backend: .cpu)).run(feeds)
    for name in ["value", "copy"] {
        let g = try #require(got[name]), w = try #require(want[name])
        #expect(g.dataType == w.dataType && g.shape == w.shape && bytes(g) == bytes(w), "\(name): \(g) vs CPU \(w)")
    }
}

/// A graph input that decides shapes (a CenterCropPad's target shape, a window's size) is read on
/// the host, with the arithmetic on it, so one partition takes it with no fallback and each
/// value gets its own recording; an input that decides no shape (`scale`) stays on the device.
@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason))
func shapeDecidingInputsAreReadOnTheHost() throws {
    var b = GraphBuilder(name: "shape-inputs")
    let x = b.input("x", .float, [.value(4), .value(6)])
    let target = b.input("target", .int64, [.value(2)])
    let size = b.input("size", .int64, [])
    let scale = b.input("scale", .float, [])
    // Pad x up to `target` on both sides (CenterCropPad's expansion).
    let xShape = b.node("Shape", [x])
    let grow = b.node("Sub", [b.node("Max", [xShape, target]), xShape])
    let before = b.node("Div", [grow, b.constant(Tensor(scalar: Int64(2)))])
    let pads = b.node("Concat", [before, b.node("Sub", [grow, before])], ["axis": .int(0)])
    b.output(b.node("Mul", [b.node("Pad", [x, pads]), scale], output: "padded"))
    // A ramp of `size` values scaled by 1/size (a window's expansion: the size is data too).
    let n = b.node("Cast", [size], ["to": .int(Int(DataType.float.rawValue))])
    let ramp = b.node("Range", [b.constant(Tensor(scalar: Float(0))), n, b.constant(Tensor(scalar: Float(1)))])
    b.output(b.node("Div", [ramp, n], output: "ramp"))
    let model = Model(irVersion: 8, opsets: ["": 18], graph: b.graph)
    #expect(VulkanPlacement.hostReadable(model.graph) == ["target", "size"])

    let gpu = try Session(model: model, options: vulkanOptions(allowFallback: false))
    #expect(gpu.vulkanPartitionCount == 1 && gpu.fallbackNodes.isEmpty)
    let cpu = try Session(model: model, options: SessionOptions(threads: 1, backend: .cpu))
    let image = Tensor(shape: [4, 6], scalars: (0..<24).map { Float($0) })
    for (t, s, k) in [([Int64(7), 9], Int64(5), Float(2)), ([4, 6], 1, -1), ([9, 6], 12, 0.5)] {
        let feeds = ["x": image, "target": Tensor(shape: [2], scalars: t), "size": Tensor(scalar: s), "scale": Tensor(scalar: k)]
        let got = try gpu.run(feeds), want = try cpu.run(feeds)
        for name in ["padded", "ramp"] {
            let g = try #require(got[name]), w = try #require(want[name])
            #expect(try g.shape == w.shape && g.scalars(as: Float.self) == w.scalars(as: Float.self), "\(name) for target \(t), size \(s): \(g) vs CPU \(w)")
        }
    }
}
