import Testing
@testable import Vonnx
import VonnxCPU
import VonnxIR
@testable import VonnxVulkan

// Every element type the device holds (VulkanTensor): casts between each pair, and the
// elementwise kernels over each type, equal to the CPU's results on random values led by each
// type's edge values (its minimum and maximum, 0, ±1; NaN, ±infinity, −0, values past the
// float16 range, rounding ties and saturation bounds for the floats). Each output is checked
// as downloaded and as the words the device holds, which a download alone would not show
// unwrapped or unrounded.

/// The device types whose values the device holds exactly, and the 64-bit ones it narrows.
private let exactTypes: [DataType] = [.float, .float16, .bfloat16, .int8, .uint8, .int16, .uint16, .int32, .uint32, .bool]
private let narrowedTypes: [DataType] = [.int64, .uint64]
private let unsignedTypes: [DataType] = [.uint8, .uint16, .uint32, .uint64]

/// Which values a test draws.
private enum Draw {
    /// The type's edge values, then random ones over its range (floats: -300...300).
    case edges
    /// Random ones over the range, no float specials (whose order and C fmod the device does
    /// not pin down).
    case finite
    /// Random ones in 0...100: what survives the 32-bit narrowing of int64 and uint64 through
    /// any cast, and their arithmetic in the tests below.
    case small
}

/// Values of `type` over `shape`, drawn as `draw` says.
private func values(_ type: DataType, _ shape: [Int], _ draw: Draw, _ r: inout SplitMix) -> Tensor {
    let count = shape.reduce(1, *)
    func ints<I: FixedWidthInteger & TensorElement>(_: I.Type) -> Tensor {
        let special: [I] = draw == .edges ? [I.min, I.max, 0, 1, I.min &+ 1, I.max &- 1] + (I.isSigned ? [0 &- 1] : []) : []
        let random = (0..<count).map { _ in draw == .small ? I.random(in: 0...100, using: &r) : I.random(in: I.min...I.max, using: &r) }
        return Tensor(shape: shape, scalars: Array((special + random).prefix(count)))
    }
    func floats<F: TensorElement>(_ make: (Float) -> F) -> Tensor {
        let special: [Float] = draw == .edges ? floatEdges : []
        let random = (0..<count).map { _ in draw == .small ? Float.random(in: 0...100, using: &r) : Float.random(in: -300...300, using: &r) }
        return Tensor(shape: shape, scalars: (special + random).prefix(count).map(make))
    }
    switch type {
    case .float: return floats { $0 }
    case .float16: return floats { Float16($0) }
    case .bfloat16:
        let bits = floats { v in v.isNaN ? UInt16(0x7FC0) : UInt16(v.bitPattern >> 16) }
        return Tensor(dataType: .bfloat16, shape: shape, storage: bits.storage)
    case .int8: return ints(Int8.self)
    case .uint8: return ints(UInt8.self)
    case .int16: return ints(Int16.self)
    case .uint16: return ints(UInt16.self)
    case .int32: return ints(Int32.self)
    case .uint32: return ints(UInt32.self)
    case .int64: return ints(Int64.self)
    case .uint64: return ints(UInt64.self)
    case .bool: return Tensor(shape: shape, scalars: (0..<count).map { _ in Bool.random(using: &r) })
    case .double, .string: preconditionFailure("\(type) is not a device type")
    }
}

/// Float edge values: specials, the end of float16's range and its rounding to infinity,
/// integer saturation bounds, ties (to integers, and to float16's and bfloat16's precision),
/// a float16 subnormal.
private let floatEdges: [Float] = [.nan, .infinity, -.infinity, -0.0, 65504, 65519, 65520, 70000, -1e38, 3e9, -3e9,
                                   2_147_483_520, 127.5, -128.5, 255.5, 32767.5, -0.5, 1.5, 2.5, 1e-7, 6e-8,
                                   0x1.002p0, 0x1.006p0, 0x1.0021p0, 0x1.01p0, 0x1.03p0, 0x1.0101p0]

private let castCases: [KernelCase] = {
    var c: [KernelCase] = []
    for from in exactTypes + narrowedTypes {
        for to in exactTypes + narrowedTypes {
            let draw: Draw = narrowedTypes.contains(from) || narrowedTypes.contains(to) ? .small : .edges
            c.append(KernelCase("Cast", ["to": .int(Int(to.rawValue))], detail: "\(from) to \(to)") { [values(from, [40], draw, &$0)] })
        }
    }
    c.append(KernelCase("CastLike", detail: "float32 to float16") { [values(.float, [40], .edges, &$0), values(.float16, [1], .small, &$0)] })
    return c
}()

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: castCases)
func vulkanCastMatchesCPUBitForBit(_ kc: KernelCase) throws {
    try checkAgainstCPU(kc, exact: true)
    try checkDeviceWords(kc)
}

/// Binary ops over every pair of a type's values (an [n, 1] by [n] broadcast), and unary ones.
private let elementwiseCases: [KernelCase] = {
    var c: [KernelCase] = []
    for type in exactTypes + narrowedTypes where type != .bool {
        let draw: Draw = narrowedTypes.contains(type) ? .small : .edges
        let finite: Draw = draw == .edges && type.isFloatingPoint ? .finite : draw
        func pairs(_ draw: Draw) -> @Sendable (inout SplitMix) -> [Tensor?] {
            { r in [values(type, [24, 1], draw, &r), values(type, [24], draw, &r)] }
        }
        func add(_ op: String, _ attributes: [String: Attribute] = [:], inputs: @escaping @Sendable (inout SplitMix) -> [Tensor?]) {
            c.append(KernelCase(op, attributes, detail: "\(type)", inputs))
        }
        // (uint64 Sub and BitwiseNot, whose results would leave 32 bits, and bfloat16 Mod, which
        // the CPU lacks, are not accepted)
        for op in ["Add", "Sub", "Mul", "Div", "Less", "Greater", "Equal", "LessOrEqual", "GreaterOrEqual"]
        where op != "Sub" || type != .uint64 { add(op, inputs: pairs(draw)) }
        for op in ["Max", "Min"] { add(op, inputs: pairs(finite)) }
        if type != .bfloat16 { add("Mod", type.isFloatingPoint ? ["fmod": .int(1)] : [:], inputs: pairs(finite)) }
        if type.isInteger {
            for op in ["BitwiseAnd", "BitwiseOr", "BitwiseXor"] { add(op, inputs: pairs(draw)) }
            if type != .uint64 { add("BitwiseNot") { [values(type, [40], draw, &$0)] } }
        }
        if unsignedTypes.contains(type) {
            for direction in ["LEFT", "RIGHT"] {
                // every shift count up to past the widest type (uint64's 100 << 20 stays in 32 bits)
                let counts = type == .uint64 && direction == "LEFT" ? 20 : 36
                add("BitShift", ["direction": .string(Array(direction.utf8))]) { [values(type, [24, 1], draw, &$0), shiftCounts(type, counts)] }
            }
        } else {
            for op in ["Abs", "Neg", "Sign"] { add(op) { [values(type, [40], draw, &$0)] } }
        }
    }
    return c
}()

/// 0, 1, …, count - 1 as the unsigned `type`.
private func shiftCounts(_ type: DataType, _ count: Int) -> Tensor {
    let n = Array(0..<count)
    switch type {
    case .uint8: return Tensor(shape: [count], scalars: n.map(UInt8.init))
    case .uint16: return Tensor(shape: [count], scalars: n.map(UInt16.init))
    case .uint32: return Tensor(shape: [count], scalars: n.map(UInt32.init))
    default: return Tensor(shape: [count], scalars: n.map(UInt64.init))
    }
}

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: elementwiseCases)
func vulkanTypedElementwiseMatchesCPU(_ kc: KernelCase) throws {
    try checkAgainstCPU(kc, exact: true)
    try checkDeviceWords(kc)
}

/// Expects `kc`'s output words on the device to be those `deviceWords` makes of the CPU's
/// output: each narrow result rounded or wrapped into its type, as the next kernel expects.
private func checkDeviceWords(_ kc: KernelCase) throws {
    let device = try #require(TestVulkan.device)
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    let inputs = kc.inputs(&rng)
    let node = Node(name: kc.op, opType: kc.op, inputs: inputs.indices.map { "in\($0)" }, outputs: ["out"], attributes: kc.attributes)
    let recorder = try VulkanRecorder(device: device)
    let ctx = VulkanKernelContext(node: node, inputs: try inputs.map { try $0.map(recorder.upload) }, hostInputs: inputs,
                                  opset: kc.opset, recorder: recorder)
    let kernel = try #require(VulkanKernels.table[kc.op])
    let y = try kernel(ctx)[0]
    let word: DataType = glslType(y.dataType) == "float" ? .float : glslType(y.dataType) == "int" ? .int32 : .uint32
    let download = try recorder.download(VulkanTensor(shape: y.shape, buffer: y.buffer, dataType: word))
    try recorder.submitAndWait()
    let cpu = try #require(opTable[""]?[kc.op]).cpu
    let want = try deviceWords(try cpu(KernelContext(node: node, inputs: inputs, opset: kc.opset, pool: ThreadPool(threads: 1)))[0])
    let got = try download.tensor().doubles(), expected = want.doubles()
    let bad = got.indices.filter { !(got[$0] == expected[$0] || got[$0].isNaN && expected[$0].isNaN) }
    #expect(bad.isEmpty, "\(kc.testDescription) seed \(seed): device words \(bad.prefix(4).map { "[\($0)] \(got[$0]) vs \(expected[$0])" })")
}
