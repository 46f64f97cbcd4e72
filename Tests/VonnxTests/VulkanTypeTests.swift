import Testing
@testable import Vonnx
import VonnxCPU
import VonnxIR
@testable import VonnxVulkan

// Every element type the device holds (VulkanTensor), in both storages of the 64-bit types
// (8 bytes on the shared device, which has shaderInt64 and shaderFloat64 on lavapipe; one word
// on the narrow one): casts between each pair, and the elementwise kernels over each type,
// equal to the CPU's results on random values led by each type's edge values (its minimum and
// maximum, 0, ±1; NaN, ±infinity, −0, values past the float16 range, rounding ties and
// saturation bounds for the floats). Each output is checked as downloaded and as the words
// the device holds, which a download alone would not show unwrapped or unrounded.

/// The device types whose values the device holds exactly in one word.
private let exactTypes: [DataType] = [.float, .float16, .bfloat16, .int8, .uint8, .int16, .uint16, .int32, .uint32, .bool]
private let unsignedTypes: [DataType] = [.uint8, .uint16, .uint32, .uint64]

/// A test device and the 64-bit types it holds.
enum Storage64: String, CaseIterable, Sendable {
    /// The shared device: each 64-bit type it has the shader feature for in 8 bytes.
    case wide
    /// The narrow device: int64 and uint64 narrowed to one word, float64 on the host.
    case narrow

    var device: VulkanDevice? { self == .wide ? TestVulkan.device : TestVulkan.narrowDevice }
    /// The 64-bit types the device holds, wide or narrowed.
    var types: [DataType] {
        let wide = device?.storage.wide ?? []
        return [.int64, .uint64, .double].filter { wide.contains($0) || $0 != .double && !wide.contains($0) }
    }
    /// Whether `type`'s values must stay small: narrowed to 32 bits.
    func narrows(_ type: DataType) -> Bool { [.int64, .uint64].contains(type) && !(device?.storage.wide.contains(type) ?? false) }
}

/// A kernel case for the device of a storage.
struct StorageCase: Sendable, CustomTestStringConvertible {
    let storage: Storage64
    let kc: KernelCase
    var testDescription: String { "\(kc.testDescription) (\(storage.rawValue))" }
}

/// Which values a test draws.
private enum Draw {
    /// The type's edge values, then random ones over its range (floats: -300...300).
    case edges
    /// Random ones over the range, no float specials (whose order and C fmod the device does
    /// not pin down).
    case finite
    /// Random ones in 0...100: what survives the 32-bit narrowing of int64 and uint64 through
    /// any cast, and their arithmetic in the tests below, in narrow storage.
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
    case .double: return floats { Double($0) }
    case .bool: return Tensor(shape: shape, scalars: (0..<count).map { _ in Bool.random(using: &r) })
    case .string: preconditionFailure("\(type) is not a device type")
    }
}

/// Float edge values: specials, the end of float16's range and its rounding to infinity,
/// integer saturation bounds, ties (to integers, and to float16's and bfloat16's precision),
/// a float16 subnormal.
private let floatEdges: [Float] = [.nan, .infinity, -.infinity, -0.0, 65504, 65519, 65520, 70000, -1e38, 3e9, -3e9,
                                   2_147_483_520, 127.5, -128.5, 255.5, 32767.5, -0.5, 1.5, 2.5, 1e-7, 6e-8,
                                   0x1.002p0, 0x1.006p0, 0x1.0021p0, 0x1.01p0, 0x1.03p0, 0x1.0101p0]

private let castCases: [StorageCase] = Storage64.allCases.flatMap { storage in
    var c: [KernelCase] = []
    for from in exactTypes + storage.types {
        for to in exactTypes + storage.types {
            let draw: Draw = storage.narrows(from) || storage.narrows(to) ? .small : .edges
            c.append(KernelCase("Cast", ["to": .int(Int(to.rawValue))], detail: "\(from) to \(to)") { [values(from, [40], draw, &$0)] })
        }
    }
    c.append(KernelCase("CastLike", detail: "float32 to float16") { [values(.float, [40], .edges, &$0), values(.float16, [1], .small, &$0)] })
    return c.map { StorageCase(storage: storage, kc: $0) }
}

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: castCases)
func vulkanCastMatchesCPUBitForBit(_ sc: StorageCase) throws {
    try checkAgainstCPU(sc.kc, exact: true, on: sc.storage.device)
    try checkDeviceWords(sc)
}

/// Binary ops over every pair of a type's values (an [n, 1] by [n] broadcast), and unary ones.
private let elementwiseCases: [StorageCase] = Storage64.allCases.flatMap { storage in
    var c: [KernelCase] = []
    for type in exactTypes + storage.types where type != .bool {
        let draw: Draw = storage.narrows(type) ? .small : .edges
        let finite: Draw = draw == .edges && type.isFloatingPoint ? .finite : draw
        func pairs(_ draw: Draw) -> @Sendable (inout SplitMix) -> [Tensor?] {
            { r in [values(type, [24, 1], draw, &r), values(type, [24], draw, &r)] }
        }
        func add(_ op: String, _ attributes: [String: Attribute] = [:], inputs: @escaping @Sendable (inout SplitMix) -> [Tensor?]) {
            c.append(KernelCase(op, attributes, detail: "\(type)", inputs))
        }
        // (narrowed uint64 Sub and BitwiseNot, whose results would leave 32 bits, float64 Mod,
        // which GLSL would compute in float, and bfloat16 Mod, which the CPU lacks, are not accepted)
        let narrowed = storage.narrows(type)
        for op in ["Add", "Sub", "Mul", "Div", "Less", "Greater", "Equal", "LessOrEqual", "GreaterOrEqual"]
        where op != "Sub" || type != .uint64 || !narrowed { add(op, inputs: pairs(draw)) }
        for op in ["Max", "Min"] { add(op, inputs: pairs(finite)) }
        if type != .bfloat16, type != .double { add("Mod", type.isFloatingPoint ? ["fmod": .int(1)] : [:], inputs: pairs(finite)) }
        if type.isInteger {
            for op in ["BitwiseAnd", "BitwiseOr", "BitwiseXor"] { add(op, inputs: pairs(draw)) }
            if type != .uint64 || !narrowed { add("BitwiseNot") { [values(type, [40], draw, &$0)] } }
        }
        if unsignedTypes.contains(type) {
            for direction in ["LEFT", "RIGHT"] {
                // every shift count up to past the widest type (narrowed uint64's 100 << 20 stays in 32 bits)
                let counts = type == .uint64 ? narrowed && direction == "LEFT" ? 20 : 68 : 36
                add("BitShift", ["direction": .string(Array(direction.utf8))]) { [values(type, [24, 1], draw, &$0), shiftCounts(type, counts)] }
            }
        } else {
            for op in ["Abs", "Neg", "Sign"] { add(op) { [values(type, [40], draw, &$0)] } }
        }
    }
    return c.map { StorageCase(storage: storage, kc: $0) }
}

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
func vulkanTypedElementwiseMatchesCPU(_ sc: StorageCase) throws {
    try checkAgainstCPU(sc.kc, exact: true, on: sc.storage.device)
    try checkDeviceWords(sc)
}

/// Expects the output words of `sc`'s case on its device to be those `deviceWords` makes of
/// the CPU's output: each narrow result rounded or wrapped into its type, as the next kernel expects.
private func checkDeviceWords(_ sc: StorageCase) throws {
    let kc = sc.kc, device = try #require(sc.storage.device), storage = device.storage
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    let inputs = kc.inputs(&rng)
    let node = Node(name: kc.op, opType: kc.op, inputs: inputs.indices.map { "in\($0)" }, outputs: ["out"], attributes: kc.attributes)
    let recorder = try VulkanRecorder(device: device)
    let ctx = VulkanKernelContext(node: node, inputs: try inputs.map { try $0.map(recorder.upload) }, hostInputs: inputs,
                                  opset: kc.opset, recorder: recorder)
    let kernel = try #require(VulkanKernels.table[kc.op])
    let y = try kernel(ctx)[0]
    let type = glslType(y.dataType, storage)
    let word: DataType = storage.wide.contains(y.dataType) ? y.dataType : type == "float" ? .float : type == "int" ? .int32 : .uint32
    let download = try recorder.download(VulkanTensor(shape: y.shape, buffer: y.buffer, dataType: word))
    try recorder.submitAndWait()
    let cpu = try #require(opTable[""]?[kc.op]).cpu
    let want = try deviceWords(try cpu(KernelContext(node: node, inputs: inputs, opset: kc.opset, pool: ThreadPool(threads: 1)))[0], storage)
    let downloaded = try download.tensor()
    if let got = bitPatterns64(downloaded), let expected = bitPatterns64(want) {
        #expect(got == expected, "\(sc.testDescription) seed \(seed): device words differ")
        return
    }
    let got = downloaded.doubles(), expected = want.doubles()
    let bad = got.indices.filter { !(got[$0] == expected[$0] || got[$0].isNaN && expected[$0].isNaN) }
    #expect(bad.isEmpty, "\(sc.testDescription) seed \(seed): device words \(bad.prefix(4).map { "[\($0)] \(got[$0]) vs \(expected[$0])" })")
}

/// The kernels that move, pick, order or sum elements, over the full range of each 64-bit type
/// the shared device holds in 8 bytes (edge values first; finite ones where NaN order would
/// matter), against the CPU exactly (float64 reductions, summing in another order, within float
/// tolerance).
private let wideCases: [KernelCase] = (TestVulkan.device?.storage.wide ?? []).sorted { $0.rawValue < $1.rawValue }.flatMap { type in
    let s = [3, 4, 5]
    @Sendable func v(_ shape: [Int], _ draw: Draw = .edges) -> @Sendable (inout SplitMix) -> Tensor { { values(type, shape, draw, &$0) } }
    @Sendable func i64(_ v: [Int]) -> Tensor { Tensor(shape: [v.count], scalars: v.map(Int64.init)) }
    let x = v(s), scalar = v([1]), finite = v(s, .finite)
    var c: [KernelCase] = [
        KernelCase("Transpose", ["perm": .ints([2, 0, 1])]) { [x(&$0)] },
        KernelCase("Concat", ["axis": .int(1)]) { [v([3, 2, 5])(&$0), x(&$0)] },
        KernelCase("Slice") { [x(&$0), i64([3, 0]), i64([0, 4]), i64([2, 1]), i64([-2, 1])] },
        KernelCase("Expand") { [v([4, 1])(&$0), i64([2, 4, 3])] },
        KernelCase("Tile") { [v([2, 3])(&$0), i64([2, 2])] },
        KernelCase("Gather", ["axis": .int(1)]) { [x(&$0), $0.ints([2, 3], -4...3)] },
        KernelCase("GatherElements", ["axis": .int(1)]) { [x(&$0), $0.ints([3, 2, 5], -4...3)] },
        KernelCase("GatherND") { [x(&$0), $0.ints([2, 2], 0...2)] },
        KernelCase("Pad") { r in [x(&r), i64([0, 1, 2, 1, 0, 1]), scalar(&r).reshaped([])] },
        KernelCase("Pad", ["mode": .string(Array("reflect".utf8))]) { [x(&$0), i64([1, 0, 2, 1, 2, 1])] },
        KernelCase("Trilu") { [x(&$0), Tensor(scalar: Int64(-1))] },
        KernelCase("Where") { [$0.bools([4, 1]), x(&$0), v([5])(&$0)] },
        KernelCase("OneHot") { r in [r.ints([2, 3], -4...3), Tensor(scalar: Int64(4)), v([2])(&r)] },
        KernelCase("TopK", ["largest": .int(0)]) { [finite(&$0), i64([3])] },
    ]
    if type != .uint64 { c.append(KernelCase("CumSum", ["reverse": .int(1)]) { [finite(&$0), i64([1])] }) }
    if type == .int64 {
        c.append(KernelCase("ScatterElements", ["axis": .int(0), "reduction": .string(Array("max".utf8))]) { r in
            [finite(&r), r.ints([2, 4, 5], 0...2), finite(&r).sliced(rows: 2)]
        })
    }
    if type == .double {
        for op in ["ReduceSum", "ReduceMax", "ReduceMean", "ReduceLogSumExp"] {
            c.append(KernelCase(op, ["keepdims": .int(0)]) { [v(s, .finite)(&$0), i64([0, 2])] })
        }
        c.append(KernelCase("CumProd", opset: 26) { [v(s, .small)(&$0), i64([2])] })
    }
    return c.map { var k = $0; k.detail = "\(type)"; return k }
}

extension Tensor {
    /// The first `rows` entries of axis 0 (a copy).
    fileprivate func sliced(rows: Int) -> Tensor {
        let size = storage.byteCount / max(shape[0], 1) * rows
        let t = Tensor(zeros: dataType, shape: [rows] + shape.dropFirst())
        t.storage.pointer.copyMemory(from: storage.pointer, byteCount: size)
        return t
    }
}

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: wideCases)
func vulkanWideKernelsMatchCPU(_ kc: KernelCase) throws {
    try checkAgainstCPU(kc, exact: !kc.op.hasPrefix("Reduce"))  // sums in another order
}

/// int64 values past int32 on a device holding int64 in 8 bytes: products, their running sum,
/// and Gather indices computed from it (Mod), all on the device and equal to the CPU's.
@Test(.enabled(if: TestVulkan.device?.storage.wide.contains(.int64) == true, "the shared device holds int64 narrowed"))
func vulkanInt64PastInt32MatchesCPU() throws {
    var b = GraphBuilder(name: "int64")
    let x = b.input("x", .int64, [.value(8)])
    let factor = b.constant(Tensor(scalar: Int64(3_000_000_007))), five = b.constant(Tensor(scalar: Int64(5)))
    let axis = b.constant(Tensor(scalar: Int64(0)))
    let table = b.constant(Tensor(shape: [5, 3], scalars: (0..<15).map { Float($0) }))
    let sums = b.node("CumSum", [b.node("Mul", [x, factor]), axis], output: "sums")
    let indices = b.node("Mod", [sums, five], output: "indices")
    b.output(sums); b.output(indices)
    b.output(b.node("Gather", [table, indices], output: "rows"))
    let model = Model(irVersion: 8, opsets: ["": 17], graph: b.graph)
    var r = SplitMix(state: UInt64.random(in: 0...UInt64.max))
    let feeds = ["x": Tensor(shape: [8], scalars: (0..<8).map { _ in Int64.random(in: -1_000_000...1_000_000, using: &r) })]
    let gpu = try Session(model: model, options: vulkanOptions())
    let got = try gpu.run(feeds), want = try Session(model: model, options: SessionOptions(threads: 1, backend: .cpu)).run(feeds)
    #expect(gpu.fallbackNodes.isEmpty && gpu.partitionsRunOnCPU.isEmpty)
    #expect(try want["sums"]!.scalars(as: Int64.self).contains { Int32(exactly: $0) == nil }, "no sum past int32")
    for name in ["sums", "indices"] {
        #expect(try #require(got[name]).scalars(as: Int64.self) == want[name]!.scalars(as: Int64.self), "\(name)")
    }
    #expect(try #require(got["rows"]).scalars(as: Float.self) == want["rows"]!.scalars(as: Float.self))
    #expect(gpu.vulkan?.takeValidationMessages() ?? [] == [])
}
