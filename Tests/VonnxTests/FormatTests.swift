import Glibc
import Testing
@testable import VonnxBatch
@testable import VonnxFormat
import VonnxIR

// MARK: - Helpers

/// A fresh folder under /tmp, removed (files and one level of subfolders) when released.
private final class TempDir {
    let path: String
    private var created: [String] = []
    private var folders: [String] = []

    init() {
        var template = Array("/tmp/vonnx-format-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit {
        for f in created.reversed() { unlink(f) }
        for d in folders.reversed() { rmdir(d) }
        rmdir(path)
    }

    /// The path of `name` inside the folder, remembered for removal.
    func file(_ name: String) -> String {
        created.append(path + "/" + name)
        return path + "/" + name
    }

    func folder(_ name: String) -> String {
        mkdir(path + "/" + name, 0o755)
        folders.append(path + "/" + name)
        return path + "/" + name
    }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = file(name)
        try writeFileAtomically(bytes, to: p)
        return p
    }
}

/// The text of the error `body` throws ("no error" when it throws none).
private func errorText(_ body: () throws -> Any) -> String {
    do { _ = try body(); return "no error" } catch { return "\(error)" }
}

/// A minimal protobuf encoder, to build the malformed messages the writer never makes.
private enum PB {
    static func varint(_ value: UInt64) -> [UInt8] {
        var v = value, out: [UInt8] = []
        repeat { out.append(UInt8(v & 0x7f) | (v > 0x7f ? 0x80 : 0)); v >>= 7 } while v != 0
        return out
    }
    static func int(_ field: Int, _ v: Int64) -> [UInt8] { varint(UInt64(field << 3)) + varint(UInt64(bitPattern: v)) }
    static func bytes(_ field: Int, _ b: [UInt8]) -> [UInt8] { varint(UInt64(field << 3 | 2)) + varint(UInt64(b.count)) + b }
    static func string(_ field: Int, _ s: String) -> [UInt8] { bytes(field, Array(s.utf8)) }

    /// A TensorProto named `name` with `type` and `dims`, followed by `data` fields.
    static func tensor(_ name: String, type: Int64, dims: [Int64], _ data: [UInt8] = []) -> [UInt8] {
        dims.flatMap { int(1, $0) } + int(2, type) + string(8, name) + data
    }
    /// External data fields (external_data entries, data_location EXTERNAL).
    static func external(_ entries: [(String, String)]) -> [UInt8] {
        entries.flatMap { bytes(13, string(1, $0.0) + string(2, $0.1)) } + int(14, 1)
    }
    /// A ModelProto whose graph has `initializer` and `nodes`, one output "y".
    static func model(ir: Int64 = 8, opsets: [Int64] = [13], initializer: [UInt8]? = nil, nodes: [[UInt8]] = [],
                      inputs: [[UInt8]] = []) -> [UInt8] {
        let graph = string(2, "g") + nodes.flatMap { bytes(1, $0) } + (initializer.map { bytes(5, $0) } ?? [])
            + inputs.flatMap { bytes(11, $0) } + bytes(12, string(1, "y"))
        return int(1, ir) + opsets.flatMap { bytes(8, string(1, "") + int(2, $0)) } + bytes(7, graph)
    }
}

private func bytesOf<T>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

private func modelWithInitializer(_ tensor: [UInt8]) throws -> Model {
    try ModelReader.load(bytes: PB.model(initializer: tensor), baseDirectory: nil)
}

/// Tensor equality by type, shape and element bytes (or strings).
private func same(_ a: Tensor, _ b: Tensor) -> Bool {
    guard a.dataType == b.dataType, a.shape == b.shape else { return false }
    if a.dataType == .string { return a.storage.strings == b.storage.strings }
    let n = a.count * a.dataType.byteSize
    return memcmp(a.storage.pointer, b.storage.pointer, n) == 0
}

private let sampleTensors: [String: Tensor] = [
    "f32": Tensor(shape: [2, 3], scalars: [1, -2, 3.5, 0, .infinity, -0.25] as [Float]),
    "f64": Tensor(shape: [2], scalars: [1e300, -2] as [Double]),
    "f16": Tensor(shape: [3], scalars: [1, 0.5, -65504] as [Float16]),
    "bf16": Tensor(dataType: .bfloat16, shape: [2], storage: Tensor(shape: [2], scalars: [0x3f80, 0xc000] as [UInt16]).storage),
    "i8": Tensor(shape: [2, 2], scalars: [-128, 127, 0, -1] as [Int8]),
    "u8": Tensor(shape: [1], scalars: [255] as [UInt8]),
    "i16": Tensor(shape: [2], scalars: [-300, 300] as [Int16]),
    "u16": Tensor(shape: [1], scalars: [65535] as [UInt16]),
    "i32": Tensor(shape: [2], scalars: [Int32.min, 7] as [Int32]),
    "u32": Tensor(shape: [1], scalars: [UInt32.max] as [UInt32]),
    "i64": Tensor(scalar: Int64.min),
    "u64": Tensor(shape: [1], scalars: [UInt64.max] as [UInt64]),
    "bool": Tensor(shape: [3], scalars: [true, false, true]),
    "empty": Tensor(zeros: .float, shape: [0, 4]),
    "str": Tensor(strings: ["héllo", "", "ONNX"], shape: [3]),
]

/// A model using every attribute kind, a subgraph (If), symbolic and unknown dims.
private func sampleModel(irVersion: Int = 8) -> Model {
    let branch = Graph(name: "then", nodes: [Node(name: "inner", opType: "Identity", inputs: ["y"], outputs: ["t"])],
                       outputs: [ValueInfo(name: "t", type: .tensor(.float, shape: [.symbol("N"), .value(3)]))])
    let attrs: [String: Attribute] = [
        "f": .float(1.5), "i": .int(-3), "s": .string(Array("abc".utf8)), "t": .tensor(sampleTensors["i8"]!),
        "fs": .floats([1, 2]), "is": .ints([4, -5, 6]), "ss": .strings([Array("x".utf8), []]),
        "ts": .tensors([sampleTensors["f16"]!, sampleTensors["str"]!]), "gs": .graphs([branch, Graph(name: "empty")]),
        "tp": .typeProto(.sequence(.tensor(.float, shape: [.unknown]))),
    ]
    let graph = Graph(
        name: "main",
        nodes: [
            Node(name: "add", opType: "Add", inputs: ["x", "f32"], outputs: ["y"]),
            Node(name: "if", opType: "If", inputs: ["cond"], outputs: ["z"],
                 attributes: ["then_branch": .graph(branch), "else_branch": .graph(branch)]),
            Node(name: "custom", opType: "Thing", domain: "com.example", inputs: ["z", ""], outputs: ["w"], attributes: attrs),
        ],
        inputs: [ValueInfo(name: "x", type: .tensor(.float, shape: [.symbol("N"), .value(3)])),
                 ValueInfo(name: "cond", type: .tensor(.bool, shape: [])),
                 ValueInfo(name: "m", type: .map(key: .int64, value: .optional(.tensor(.string, shape: nil))))],
        outputs: [ValueInfo(name: "w", type: .tensor(.float, shape: [.unknown, .value(3)])), ValueInfo(name: "z", type: nil)],
        initializers: sampleTensors,
        valueInfo: ["y": ValueInfo(name: "y", type: .tensor(.float, shape: nil))])
    return Model(irVersion: irVersion, opsets: ["": 17, "com.example": 2], producer: "vonnx-tests", graph: graph,
                 metadata: ["author": "me", "note": "ü"])
}

// MARK: - Models

@Test func modelRoundTrip() throws {
    let original = sampleModel()
    let bytes = ModelWriter.serialize(original)
    let dir = TempDir()
    let path = dir.file("model.onnx")
    try ModelWriter.write(original, path: path)
    let loaded = try ModelReader.load(path: path)
    #expect(ModelWriter.serialize(loaded) == bytes)  // everything survives, byte for byte
    #expect(loaded.irVersion == 8 && loaded.opsets == ["": 17, "com.example": 2] && loaded.producer == "vonnx-tests")
    #expect(loaded.metadata == ["author": "me", "note": "ü"])
    let g = loaded.graph
    #expect(g.inputs == original.graph.inputs && g.outputs == original.graph.outputs)
    #expect(g.inputs[0].type == .tensor(.float, shape: [.symbol("N"), .value(3)]))
    #expect(g.valueInfo["y"]?.type == .tensor(.float, shape: nil))
    for (name, t) in sampleTensors { #expect(g.initializers[name].map { same($0, t) } == true, "initializer \(name)") }
    #expect(g.nodes.map(\.name) == ["add", "if", "custom"] && g.nodes[2].domain == "com.example")
    let thenBranch = try g.nodes[1].graph("then_branch")
    #expect(thenBranch.nodes.first?.opType == "Identity" && thenBranch.outputs.first?.type?.shape == [.symbol("N"), .value(3)])
    let custom = g.nodes[2]
    #expect(custom.inputs == ["z", ""])
    #expect(try custom.float("f") == 1.5 && custom.int("i") == -3 && custom.string("s") == "abc")
    #expect(try custom.ints("is") == [4, -5, 6] && custom.floats("fs") == [1, 2] && custom.strings("ss") == ["x", ""])
    #expect(try custom.tensor("t").map { same($0, sampleTensors["i8"]!) } == true)
    if case .typeProto(let t)? = custom.attributes["tp"] { #expect(t == .sequence(.tensor(.float, shape: [.unknown]))) }
    else { Issue.record("tp attribute lost") }
    if case .graphs(let gs)? = custom.attributes["gs"] { #expect(gs.map(\.name) == ["then", "empty"]) }
    else { Issue.record("gs attribute lost") }
}

@Test func largeInitializersReadFromTheFileMatchTheParsedOnes() throws {
    var rng = SplitMix(state: 18)
    let n = RawDataInFile.minimumBytes / 4 + 3
    var model = sampleModel()
    model.graph.initializers["big"] = Tensor(shape: [n], scalars: (0..<n).map { _ in Float.random(in: -1...1, using: &rng) })
    model.graph.initializers["big2"] = Tensor(shape: [2, n], scalars: (0..<2 * n).map { _ in Int32.random(in: .min ... .max, using: &rng) })
    model.graph.initializers["bigBool"] = Tensor(shape: [RawDataInFile.minimumBytes], scalars: (0..<RawDataInFile.minimumBytes).map { $0 % 3 == 0 })
    let bytes = ModelWriter.serialize(model)
    let dir = TempDir()
    let path = try dir.write("big.onnx", bytes)
    let split = try #require(try RawDataInFile.read(path: path))
    #expect(split.rawData.ranges.count == 3 && split.skeleton.count < bytes.count - 3 * RawDataInFile.minimumBytes)
    let fromFile = try ModelReader.load(path: path), parsed = try ModelReader.load(bytes: bytes, baseDirectory: nil)
    #expect(Set(fromFile.graph.initializers.keys) == Set(model.graph.initializers.keys))
    for (name, t) in model.graph.initializers {
        #expect(fromFile.graph.initializers[name].map { same($0, t) } == true, "initializer \(name)")
        #expect(parsed.graph.initializers[name].map { same($0, t) } == true, "initializer \(name)")
    }
    #expect(ModelWriter.serialize(fromFile) == bytes)
}

@Test func largeRawDataOfTheWrongLengthIsRejected() throws {
    let data = PB.bytes(9, [UInt8](repeating: 1, count: RawDataInFile.minimumBytes))
    let dir = TempDir()
    let path = try dir.write("wrong.onnx", PB.model(initializer: PB.tensor("w", type: 1, dims: [3], data)))
    #expect(try RawDataInFile.read(path: path)?.rawData.ranges.count == 1)
    #expect(errorText { try ModelReader.load(path: path) }.contains("tensor 'w': raw_data has \(RawDataInFile.minimumBytes) bytes, but dims [3] of float32 need 12"))
    // a raw_data given twice (protobuf keeps the last) is left to the plain parse
    let twice = try dir.write("twice.onnx", PB.model(initializer: PB.tensor("w", type: 1, dims: [1], data + PB.bytes(9, bytesOf([Float(5)])))))
    #expect(try RawDataInFile.read(path: twice) == nil)
    #expect(try ModelReader.load(path: twice).graph.initializers["w"]?.scalars(as: Float.self) == [5])
}

@Test func oldIRVersionListsInitializersAsInputsButLoadsThemAsInitializers() throws {
    let bytes = ModelWriter.serialize(sampleModel(irVersion: 3))
    let loaded = try ModelReader.load(bytes: bytes, baseDirectory: nil)
    #expect(loaded.graph.inputs.map(\.name) == ["x", "cond", "m"])
    #expect(loaded.graph.initializers.count == sampleTensors.count)
}

@Test func aiOnnxDomainIsTheDefaultDomain() throws {
    let node = PB.string(1, "a") + PB.string(2, "y") + PB.string(4, "Relu") + PB.string(7, "ai.onnx")
    var bytes = PB.model(nodes: [node])
    bytes += PB.bytes(8, PB.string(1, "ai.onnx") + PB.int(2, 11))
    let model = try ModelReader.load(bytes: bytes, baseDirectory: nil)
    #expect(model.opsets == ["": 11] && model.graph.nodes[0].domain == "")
}

@Test func typedDataFields() throws {
    func load(_ type: Int64, _ dims: [Int64], _ data: [UInt8]) throws -> Tensor {
        try TensorProtoCodec.decode(bytes: PB.tensor("t", type: type, dims: dims, data)).tensor
    }
    #expect(try load(1, [2], PB.bytes(4, bytesOf([Float(1), -2]))).scalars(as: Float.self) == [1, -2])
    #expect(try load(11, [1], PB.bytes(10, bytesOf([2.5]))).scalars(as: Double.self) == [2.5])
    #expect(try load(7, [2], PB.int(7, -5) + PB.int(7, 9)).scalars(as: Int64.self) == [-5, 9])
    #expect(try load(3, [2], PB.int(5, -3) + PB.int(5, 100)).scalars(as: Int8.self) == [-3, 100])
    #expect(try load(9, [3], PB.int(5, 1) + PB.int(5, 0) + PB.int(5, 7)).scalars(as: Bool.self) == [true, false, true])
    // float16 arrives as bit patterns in int32_data
    #expect(try load(10, [2], PB.int(5, 0x3c00) + PB.int(5, 0xc000)).scalars(as: Float16.self) == [1, -2])
    #expect(try load(12, [1], PB.int(11, 0xffff_ffff)).scalars(as: UInt32.self) == [UInt32.max])
    #expect(try load(8, [2], PB.string(6, "a") + PB.string(6, "bc")).storage.strings == ["a", "bc"])
    // bool raw_data bytes other than 0/1 become true
    #expect(try load(9, [2], PB.bytes(9, [0, 5])).scalars(as: Bool.self) == [false, true])
    #expect(errorText { try load(1, [3], PB.bytes(4, bytesOf([Float(1), 2]))) }.contains("float_data has 2 values, but dims [3] need 3"))
    #expect(errorText { try load(8, [2], PB.string(6, "a")) }.contains("string_data has 1 values"))
    #expect(errorText { try load(7, [2], []) }.contains("tensor 't': int64_data has 0 values"))
}

// MARK: - Bad model files

@Test func missingFile() {
    let text = errorText { try ModelReader.load(path: "/tmp/vonnx-no-such-dir/model.onnx") }
    #expect(text.contains("/tmp/vonnx-no-such-dir/model.onnx") && text.contains("No such file"))
}

@Test func directoryIsNotAModel() {
    #expect(errorText { try ModelReader.load(path: "/tmp") }.contains("/tmp: not a regular file"))
}

@Test func emptyFile() throws {
    let dir = TempDir()
    let path = try dir.write("empty.onnx", [])
    let text = errorText { try ModelReader.load(path: path) }
    #expect(text.contains(path) && text.contains("empty"))
}

@Test func truncatedFile() throws {
    let dir = TempDir()
    let bytes = ModelWriter.serialize(sampleModel())
    let path = try dir.write("cut.onnx", Array(bytes[..<(bytes.count / 2)]))
    let text = errorText { try ModelReader.load(path: path) }
    #expect(text.contains(path) && text.contains("not an ONNX model (protobuf parse failed)"))
}

@Test func randomBytes() throws {
    var state: UInt64 = 0x9e37_79b9_7f4a_7c15
    let noise = (0..<4096).map { _ -> UInt8 in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
    let dir = TempDir()
    let path = try dir.write("noise.onnx", noise)
    let text = errorText { try ModelReader.load(path: path) }
    #expect(text.contains(path) && text.contains("not an ONNX model"))
}

@Test func tensorProtoIsNotAModel() {
    let bytes = TensorProtoCodec.encode(Tensor(shape: [2], scalars: [1, 2] as [Float]), name: "w")
    #expect(errorText { try ModelReader.load(bytes: bytes, baseDirectory: nil) }.contains("not an ONNX model"))
}

@Test func irVersionOutOfRange() {
    #expect(errorText { try ModelReader.load(bytes: PB.model(ir: 2), baseDirectory: nil) }.contains("ir_version 2 is not supported"))
    #expect(errorText { try ModelReader.load(bytes: PB.model(ir: 99), baseDirectory: nil) }.contains("ir_version 99 is not supported"))
}

@Test func rawDataLengthMismatch() {
    let text = errorText { try modelWithInitializer(PB.tensor("w", type: 1, dims: [2], PB.bytes(9, [1, 2, 3, 4, 5, 6, 7]))) }
    #expect(text.contains("tensor 'w': raw_data has 7 bytes, but dims [2] of float32 need 8"))
}

@Test func overflowingDims() {
    let text = errorText { try modelWithInitializer(PB.tensor("big", type: 1, dims: [1 << 40, 1 << 40], PB.bytes(9, [0]))) }
    #expect(text.contains("tensor 'big': invalid dims"))
}

@Test func negativeDims() {
    let text = errorText { try modelWithInitializer(PB.tensor("neg", type: 1, dims: [-1, 2], PB.bytes(9, []))) }
    #expect(text.contains("tensor 'neg': invalid dims [-1, 2]"))
}

@Test func unsupportedDataType() {
    let text = errorText { try modelWithInitializer(PB.tensor("q", type: 17, dims: [1], PB.bytes(9, [0]))) }
    #expect(text.contains("tensor 'q': data type FLOAT8E4M3FN is not supported"))
    #expect(errorText { try modelWithInitializer(PB.tensor("u", type: 99, dims: [1])) }.contains("tensor 'u': data type 99"))
}

@Test func badTensorInAttributeNamesTheNode() {
    let value = PB.tensor("", type: 1, dims: [2], PB.bytes(9, [0]))
    let attr = PB.string(1, "value") + PB.bytes(5, value) + PB.int(20, 4)
    let node = PB.string(2, "y") + PB.string(3, "const0") + PB.string(4, "Constant") + PB.bytes(5, attr)
    let text = errorText { try ModelReader.load(bytes: PB.model(nodes: [node]), baseDirectory: nil) }
    #expect(text.contains("node 'const0' (Constant) attribute 'value': tensor '': raw_data has 1 bytes"))
}

@Test func badOpsetsRefAttributesAndInputDims() {
    for (opsets, message) in [([] as [Int64], "no opset_import"), ([0], "opset 0 of domain 'ai.onnx' is not supported"),
                              ([-3], "opset -3 of"), ([29], "opset 29 of domain 'ai.onnx' is not supported (supported: 1...28)")] {
        #expect(errorText { try ModelReader.load(bytes: PB.model(opsets: opsets), baseDirectory: nil) }.contains(message))
    }
    let attr = PB.string(1, "alpha") + PB.int(20, 1) + PB.string(21, "outer_alpha")
    let node = PB.string(1, "x") + PB.string(2, "y") + PB.string(3, "elu") + PB.string(4, "Elu") + PB.bytes(5, attr)
    #expect(errorText { try ModelReader.load(bytes: PB.model(nodes: [node]), baseDirectory: nil) }
        .contains("node 'elu' (Elu) attribute 'alpha': ref_attr_name 'outer_alpha' refers to a function's attribute outside a function"))
    let dims = PB.bytes(1, PB.int(1, 2)) + PB.bytes(1, PB.int(1, -5))
    let input = PB.string(1, "x") + PB.bytes(2, PB.bytes(1, PB.int(1, 1) + PB.bytes(2, dims)))
    #expect(errorText { try ModelReader.load(bytes: PB.model(inputs: [input]), baseDirectory: nil) }
        .contains("input 'x' has a negative dim -5"))
    // a sequence input's TypeProto holds no tensor type (protobuf-c's oneof is a union)
    let sequence = PB.string(1, "s") + PB.bytes(2, PB.bytes(4, PB.bytes(1, PB.bytes(1, PB.int(1, 1)))))
    #expect(errorText { _ = try ModelReader.load(bytes: PB.model(inputs: [sequence]), baseDirectory: nil) } == "no error")
}

@Test func sparseInitializerBecomesDense() throws {
    let values = PB.tensor("sp", type: 1, dims: [2], PB.bytes(4, bytesOf([Float(5), 7])))
    let indices = PB.tensor("", type: 7, dims: [2], PB.int(7, 1) + PB.int(7, 5))
    let sparse = PB.bytes(1, values) + PB.bytes(2, indices) + PB.int(3, 2) + PB.int(3, 3)
    let graph = PB.string(2, "g") + PB.bytes(15, sparse) + PB.bytes(12, PB.string(1, "y"))
    let bytes = PB.int(1, 8) + PB.bytes(8, PB.int(2, 13)) + PB.bytes(7, graph)
    let t = try ModelReader.load(bytes: bytes, baseDirectory: nil).graph.initializers["sp"]
    #expect(t?.shape == [2, 3] && t?.scalars(as: Float.self) == [0, 5, 0, 0, 0, 7])
}

// MARK: - External data

/// Writes a model whose initializer 'w' (float [2]) lives in external data `entries`.
private func externalModel(_ dir: TempDir, _ entries: [(String, String)]) throws -> String {
    try dir.write("model.onnx", PB.model(initializer: PB.tensor("w", type: 1, dims: [2], PB.external(entries))))
}

@Test func externalDataLoads() throws {
    let dir = TempDir()
    _ = dir.folder("data")
    try dir.write("data/weights.bin", [0xAA, 0xBB] + bytesOf([Float(3), -4]))
    let path = try externalModel(dir, [("location", "./data/../data/weights.bin"), ("offset", "2"), ("length", "8")])
    #expect(try ModelReader.load(path: path).graph.initializers["w"]?.scalars(as: Float.self) == [3, -4])
}

@Test func externalDataEscapingTheFolder() throws {
    let dir = TempDir()
    let path = try externalModel(dir, [("location", "../secret.bin")])
    #expect(errorText { try ModelReader.load(path: path) }.contains("tensor 'w': external data path '../secret.bin' escapes the model's folder"))
    let sneaky = try externalModel(dir, [("location", "a/../../secret.bin")])
    #expect(errorText { try ModelReader.load(path: sneaky) }.contains("escapes the model's folder"))
}

@Test func externalDataAbsolutePath() throws {
    let dir = TempDir()
    let path = try externalModel(dir, [("location", "/etc/passwd")])
    #expect(errorText { try ModelReader.load(path: path) }.contains("tensor 'w': external data path '/etc/passwd' is absolute"))
}

@Test func externalDataSymlinkOutOfTheFolder() throws {
    let dir = TempDir()
    let outside = TempDir()
    let target = try outside.write("real.bin", bytesOf([Float(1), 2]))
    symlink(target, dir.file("link.bin"))
    let path = try externalModel(dir, [("location", "link.bin")])
    #expect(errorText { try ModelReader.load(path: path) }.contains("tensor 'w': external data path 'link.bin' resolves to '\(target)', outside"))
}

@Test func externalFileTooShort() throws {
    let dir = TempDir()
    try dir.write("w.bin", bytesOf([Float(1)]))
    let path = try externalModel(dir, [("location", "w.bin")])
    let text = errorText { try ModelReader.load(path: path) }
    #expect(text.contains("tensor 'w'") && text.contains("w.bin' has 4 bytes, too few for offset 0 + length 8"))
    try dir.write("w2.bin", bytesOf([Float(1), 2]))
    let shifted = try externalModel(dir, [("location", "w2.bin"), ("offset", "4")])
    #expect(errorText { try ModelReader.load(path: shifted) }.contains("too few for offset 4 + length 8"))
}

@Test func externalLengthDisagreesWithDims() throws {
    let dir = TempDir()
    try dir.write("w.bin", bytesOf([Float(1), 2, 3]))
    let path = try externalModel(dir, [("location", "w.bin"), ("length", "12")])
    #expect(errorText { try ModelReader.load(path: path) }.contains("tensor 'w': external data 'w.bin': length 12 disagrees"))
}

@Test func missingExternalFile() throws {
    let dir = TempDir()
    let path = try externalModel(dir, [("location", "gone.bin")])
    let text = errorText { try ModelReader.load(path: path) }
    #expect(text.contains("gone.bin") && text.contains("external data of tensor 'w'") && text.contains("No such file"))
}

@Test func externalDataInAFifoIsRefusedWithoutBlocking() throws {
    let dir = TempDir()
    #expect(mkfifo(dir.file("w.bin"), 0o600) == 0)
    let path = try externalModel(dir, [("location", "w.bin")])
    #expect(errorText { try ModelReader.load(path: path) }.contains("w.bin: external data of tensor 'w': not a regular file"))
}

@Test func externalDataWithoutBaseDirectory() {
    let bytes = PB.model(initializer: PB.tensor("w", type: 1, dims: [2], PB.external([("location", "w.bin")])))
    #expect(errorText { try ModelReader.load(bytes: bytes, baseDirectory: nil) }.contains("tensor 'w': external data 'w.bin' cannot be read"))
}

// MARK: - TensorProto files

@Test func tensorProtoRoundTrip() throws {
    let dir = TempDir()
    for (name, t) in sampleTensors {
        let decoded = try TensorProtoCodec.decode(bytes: TensorProtoCodec.encode(t, name: name))
        #expect(decoded.name == name && same(decoded.tensor, t), "\(name)")
    }
    let path = dir.file("t.pb")
    try TensorProtoCodec.write(sampleTensors["f32"]!, name: "input", path: path)
    let read = try TensorProtoCodec.read(path: path)
    #expect(read.name == "input" && same(read.tensor, sampleTensors["f32"]!))
    #expect(errorText { try TensorProtoCodec.decode(bytes: [0xff, 0xff, 0xff]) }.contains("not a TensorProto"))
    let bad = try dir.write("bad.pb", PB.tensor("x", type: 1, dims: [3], PB.bytes(9, [1])))
    #expect(errorText { try TensorProtoCodec.read(path: bad) }.contains("\(bad): tensor 'x': raw_data has 1 bytes"))
}

// MARK: - NumPy files

@Test func npyRoundTrip() throws {
    let dir = TempDir()
    for (name, t) in sampleTensors where t.dataType != .bfloat16 {
        #expect(same(try Npy.decode(bytes: Npy.encode(t)), t), "\(name)")
    }
    let path = dir.file("a.npy")
    try Npy.write(sampleTensors["i16"]!, path: path)
    #expect(same(try Npy.read(path: path), sampleTensors["i16"]!))
    #expect(errorText { try Npy.encode(sampleTensors["bf16"]!) }.contains("bfloat16"))
}

/// Bytes NumPy 2.4 writes for np.array([1, 2, 3], dtype='<i4') and np.array(['ab', 'c']).
private let numpyInt32 = "934e554d5059010076007b276465736372273a20273c6934272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028332c292c207d" + String(repeating: "20", count: 60) + "0a010000000200000003000000"
private let numpyStrings = "934e554d5059010076007b276465736372273a20273c5532272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c292c207d" + String(repeating: "20", count: 60) + "0a61000000620000006300000000000000"

private func hex(_ s: String) -> [UInt8] {
    let c = Array(s.utf8)
    return stride(from: 0, to: c.count, by: 2).map { UInt8(String(decoding: c[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
}

@Test func npyMatchesNumPy() throws {
    let ints = Tensor(shape: [3], scalars: [1, 2, 3] as [Int32])
    #expect(try Npy.encode(ints) == hex(numpyInt32))
    #expect(try Npy.decode(bytes: hex(numpyInt32)).scalars(as: Int32.self) == [1, 2, 3])
    let strings = try Npy.decode(bytes: hex(numpyStrings))
    #expect(strings.storage.strings == ["ab", "c"] && strings.shape == [2])
    #expect(try Npy.encode(strings) == hex(numpyStrings))
}

@Test func badNpy() throws {
    func header(_ dict: String, data: [UInt8] = []) -> [UInt8] {
        let h = Array(dict.utf8) + [0x0a]
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(h.count), 0] + h + data
    }
    #expect(errorText { try Npy.decode(bytes: Array("hello world!".utf8)) }.contains("bad magic"))
    #expect(errorText { try Npy.decode(bytes: [0x93] + Array("NUMPY".utf8) + [9, 0, 0, 0]) }.contains("format version 9.0"))
    #expect(errorText { try Npy.decode(bytes: [0x93] + Array("NUMPY".utf8) + [1, 0, 200, 0, 1]) }.contains("header length 200 exceeds"))
    #expect(errorText { try Npy.decode(bytes: header("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", data: [0, 0, 0, 0])) }
        .contains("fortran_order True"))
    #expect(errorText { try Npy.decode(bytes: header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data: [0, 0, 0, 0])) }
        .contains("data has 4 bytes, shape [2] of '<f4' needs 2 × 4"))
    #expect(errorText { try Npy.decode(bytes: header("{'descr': '>f4', 'fortran_order': False, 'shape': (), }")) }.contains("big-endian"))
    #expect(errorText { try Npy.decode(bytes: header("{'descr': '<c8', 'fortran_order': False, 'shape': (), }")) }.contains("dtype '<c8'"))
    #expect(errorText { try Npy.decode(bytes: header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }")) }.contains("invalid shape"))
    #expect(errorText { try Npy.decode(bytes: header("{'descr': '<f4', 'shape': (1, ")) }.contains("bad header"))
    #expect(errorText { try Npy.decode(bytes: header("[1, 2]")) }.contains("bad header"))
    let dir = TempDir()
    let path = try dir.write("bad.npy", [1, 2, 3])
    #expect(errorText { try Npy.read(path: path) }.contains("\(path): not a valid .npy file: bad magic"))
}

// MARK: - ONNX node tests (scripts/setup.sh fetches them; skipped, with the reason, when absent)

/// The onnx 1.22.0 wheel's test data, where scripts/setup.sh puts it in this checkout.
private let onnxData = String(#filePath.dropLast("Tests/VonnxTests/FormatTests.swift".count)) + ".testdata/onnx-1.22.0/onnx/backend/test/data"

private func folderEntries(_ path: String) -> [String] {
    guard let d = opendir(path) else { return [] }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let name = String(decoding: entryName(e), as: UTF8.self)
        if !name.hasPrefix(".") { names.append(name) }
    }
    return names.sorted()
}

/// Every node and light model loads, and every test data file of a tensor-typed input or
/// output reads as a TensorProto (sequence, optional and map values are other protos).
@Test(.enabled(if: access(onnxData + "/node", F_OK) == 0, "no ONNX test data: run scripts/setup.sh"))
func onnxNodeTestModelsLoad() throws {
    var failures: [String] = []
    var models = 0, loaded = 0, tensorFiles = 0, otherFiles = 0
    for test in folderEntries(onnxData + "/node") {
        let folder = onnxData + "/node/" + test
        models += 1
        let graph: Graph
        do { graph = try ModelReader.load(path: folder + "/model.onnx").graph; loaded += 1 } catch { failures.append("\(error)"); continue }
        for set in folderEntries(folder) where set.hasPrefix("test_data_set_") {
            for file in folderEntries(folder + "/" + set) where file.hasSuffix(".pb") {
                let isInput = file.hasPrefix("input_")
                guard let index = Int(file.dropFirst(isInput ? 6 : 7).dropLast(3)) else { failures.append("\(test)/\(set)/\(file): unexpected name"); continue }
                let values = isInput ? graph.inputs : graph.outputs
                guard index < values.count else { failures.append("\(test)/\(set)/\(file): the model has \(values.count) \(isInput ? "inputs" : "outputs")"); continue }
                guard case .tensor? = values[index].type else { otherFiles += 1; continue }
                tensorFiles += 1
                do { _ = try TensorProtoCodec.read(path: folder + "/" + set + "/" + file) }
                catch { failures.append("\(test)/\(set)/\(file): \(error)") }
            }
        }
    }
    for light in folderEntries(onnxData + "/light") where light.hasSuffix(".onnx") {
        models += 1
        do { _ = try ModelReader.load(path: onnxData + "/light/" + light); loaded += 1 } catch { failures.append("\(error)") }
    }
    print("ONNX node/light models: \(loaded) of \(models) load; \(tensorFiles) tensor .pb files read, \(otherFiles) of other types not read")
    #expect(failures.isEmpty, "\(failures.count) failures: \(failures.prefix(10).joined(separator: "; "))")
    #expect(models >= 1765 && tensorFiles > 5000)
}

@Test func externalDataEntryWithNulIsRefused() throws {
    // protobuf-c's C strings end at a NUL: 'w.bin\0...' would silently read w.bin
    let dir = TempDir()
    try dir.write("w.bin", bytesOf([Float(1), 2]))
    let refusal = "an external_data entry (location, offset or length) holds a NUL byte"
    let path = try externalModel(dir, [("location", "w.bin\0/../../elsewhere")])
    #expect(errorText { try ModelReader.load(path: path) }.contains(refusal))
    // in a Constant node's tensor attribute, and in a TensorProto file
    let tensor = PB.tensor("w", type: 1, dims: [2], PB.external([("location", "w.bin"), ("offset", "0\0")]))
    let constant = PB.string(2, "y") + PB.string(4, "Constant") + PB.bytes(5, PB.string(1, "value") + PB.bytes(5, tensor) + PB.int(20, 4))
    let constantPath = try dir.write("constant.onnx", PB.model(nodes: [constant]))
    #expect(errorText { try ModelReader.load(path: constantPath) }.contains(refusal))
    let pb = try dir.write("w.pb", tensor)
    #expect(errorText { try TensorProtoCodec.read(path: pb) }.contains(refusal))
    // without the NUL, the same tensor loads
    let clean = try dir.write("clean.pb", PB.tensor("w", type: 1, dims: [2], PB.external([("location", "w.bin")])))
    #expect(try TensorProtoCodec.read(path: clean).tensor.scalars(as: Float.self) == [1, 2])
}
