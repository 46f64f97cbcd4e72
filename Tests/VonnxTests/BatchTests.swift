import Glibc
import Testing
import Vonnx
@testable import VonnxBatch
import VonnxFormat
import VonnxIR

/// A fresh empty folder under /tmp.
private func scratchFolder() -> String {
    var template = Array("/tmp/vonnx-batch-test-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return String(cString: made!)
}

private func contents(_ path: String) -> [UInt8]? { try? readBytes(path) }

@Test func fnv1aMatchesTheReferenceVectors() {
    #expect(fnv1a64("") == 0xcbf2_9ce4_8422_2325)
    #expect(fnv1a64("a") == 0xaf63_dc4c_8601_ec8c)
}

@Test func shardsAreStableAndCoverEveryItemOnce() throws {
    // Fixed by FNV-1a, so the same on every node and every run (Swift's Hasher is seeded per process).
    #expect(try Shard(index: 2, count: 4).contains("frames/0001.png"))
    #expect(try Shard(index: 3, count: 4).contains("frames/0002.png"))
    let shards = try (0..<5).map { try Shard(index: $0, count: 5) }
    for i in 0..<200 {
        #expect(shards.filter { $0.contains("f/\(i).png") }.count == 1)
    }
    #expect(Shard.whole.contains("anything.npy"))
}

@Test func shardsComeFromFlagsAndSchedulerVariables() throws {
    #expect(try Shard(parsing: "1/4") == Shard(index: 1, count: 4))
    #expect(throws: BatchError.self) { try Shard(parsing: "4/4") }
    #expect(throws: BatchError.self) { try Shard(parsing: "1-4") }
    #expect(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_MAX": "7"]) == Shard(index: 1, count: 4))
    #expect(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3"]) == Shard(index: 2, count: 3))
    #expect(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "0", "JOB_COMPLETION_COUNT": "8"]) == Shard(index: 0, count: 8))
    #expect(try Shard.fromEnvironment(["PATH": "/bin"]) == nil)
    #expect(throws: BatchError.self) { try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "0"]) }
    #expect(throws: BatchError.self) {
        try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "5", "SLURM_ARRAY_TASK_COUNT": "3"])
    }
}

@Test func preprocessingScalesNormalizesAndLaysOut() throws {
    // 2x1 image: pixel 0 = (0.2, 0.4, 0.6), pixel 1 = (1, 0, 0.5).
    let image = Image(width: 2, height: 1, pixels: [0.2, 0.4, 0.6, 1, 0, 0.5])
    var p = Preprocessing()
    try p.set("scale", "255")
    try p.set("mean", "51, 0, 0")
    try p.set("std", "1,2,4")
    let nchw = try p.tensor(from: image)
    #expect(nchw.shape == [3, 1, 2])
    let expected: [Float] = [0, 204, 51, 0, 38.25, 31.875]
    for (got, want) in zip(nchw.scalars(as: Float.self), expected) { #expect(abs(got - want) < 1e-3) }
    try p.set("layout", "nhwc")
    try p.set("channels", "bgr")
    let nhwc = try p.tensor(from: try image.selecting(p.channels))
    #expect(nhwc.shape == [1, 2, 3])
    // Channel 0 is now blue, normalized with mean[0] and std[0].
    #expect(abs(nhwc.scalars(as: Float.self)[0] - (0.6 * 255 - 51)) < 1e-3)
    try p.set("mean", "1,2")
    #expect(throws: BatchError.self) { try p.check(channelCount: 3, for: "--channels") }
    #expect(throws: ItemFailure.self) { try p.tensor(from: image) }
    #expect(throws: BatchError.self) { try p.set("std", "1,0,1") }
    #expect(throws: BatchError.self) { try p.set("gamma", "2") }
}

@Test func resizeIsBilinearWithHalfPixelCentresAndCropIsCentred() throws {
    // A 2x1 ramp 0 → 1 resized to 4x1: samples at source x = -0.25, 0.25, 0.75, 1.25 (clamped).
    let ramp = Image(width: 2, height: 1, pixels: [0, 0, 0, 1, 1, 1])
    let wide = Preprocessing.resized(ramp, width: 4, height: 1)
    #expect(stride(from: 0, to: 12, by: 3).map { wide.pixels[$0] } == [0, 0.25, 0.75, 1])
    var p = Preprocessing()
    try p.set("resize", "4x1")
    try p.set("crop", "2x1")
    #expect(try p.tensor(from: ramp).scalars(as: Float.self) == [0.25, 0.75, 0.25, 0.75, 0.25, 0.75])
    try p.set("resize", "2")            // shorter side 1 → 2: a 4x2 image, cropped to 2x1
    #expect(try p.tensor(from: ramp).shape == [3, 1, 2])
}

@Test func pngRoundTripsAndCorruptImagesFail() throws {
    let samples: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]
    let png = try encodePNG(samples, width: 2, height: 2, channels: 3)
    let image = try Image(decoding: png)
    #expect(image.width == 2 && image.height == 2)
    #expect(image.pixels.map { UInt8(($0 * 255).rounded()) } == samples)
    let grey = try Image(decoding: try encodePNG([0, 128] as [UInt8], width: 2, height: 1, channels: 1))
    #expect(grey.pixels.map { UInt8(($0 * 255).rounded()) } == [0, 0, 0, 128, 128, 128])
    let deep: [UInt16] = [65535, 0, 1, 257, 32768, 65534]
    let png16 = try encodePNG(deep, width: 2, height: 1, channels: 3)
    #expect(png16[24] == 16)                                   // IHDR bit depth
    #expect(try Image(decoding: png16).pixels.map { UInt16(($0 * 65535).rounded()) } == deep)
    #expect(throws: ItemFailure.self) { try Image(decoding: Array(png.prefix(40))) }
    #expect(throws: ItemFailure("not a PNG or JPEG file")) { try Image(decoding: Array("hello".utf8)) }
}

@Test func channelsAreRGBBGROrNamesAndPickedByName() throws {
    #expect(try Preprocessing.channelNames("RGB", key: "channels") == ["R", "G", "B"])
    #expect(try Preprocessing.channelNames("bgr", key: "channels") == ["B", "G", "R"])
    #expect(try Preprocessing.channelNames("albedo.R, albedo.G,Z", key: "channels") == ["albedo.R", "albedo.G", "Z"])
    #expect(throws: BatchError.self) { try Preprocessing.channelNames("R,,G", key: "channels") }
    #expect(throws: BatchError.self) { try Preprocessing.channelNames("R,G,R", key: "channels") }
    let image = Image(width: 1, height: 1, pixels: [0.1, 0.2, 0.3])
    #expect(try image.selecting(["B", "R"]).pixels == [0.3, 0.1])
    #expect(throws: ItemFailure("no channel 'A' (the image has R, G, B)")) { try image.selecting(["A"]) }
}

/// A 5x3 frame of two channels whose values need float (HDR, negative, tiny).
private let exrPlanes: [Float] = (0..<30).map { (i: Int) -> Float in Float(i - 7) * 13.37 + 1e-3 }

@Test func exrRoundTripsFloatAndHalfWithWindowsAndAttributes() throws {
    let windows = ExrWindows(data: [10, 20, 14, 22], display: [0, 0, 99, 59])
    let float = try encodeEXR(exrPlanes, width: 5, height: 3, channels: ["Y", "A"], half: false, windows: windows)
    let read = try Image(decodingEXR: float, channels: ["A", "Y"])
    #expect(read.width == 5 && read.height == 3 && read.windows == windows)
    let y: [Float] = (0..<15).map { read.pixels[$0 * 2 + 1] }, a: [Float] = (0..<15).map { read.pixels[$0 * 2] }
    #expect(y == Array(exrPlanes[..<15]) && a == Array(exrPlanes[15...]))    // exact
    let half = try encodeEXR(exrPlanes, width: 5, height: 3, channels: ["Y", "A"], half: true, header: float)
    let back = try Image(decodingEXR: half, channels: ["Y"])
    let rounded: [Float] = exrPlanes[..<15].map { Float(Float16($0)) }
    #expect(back.pixels == rounded)
    #expect(back.windows == ExrWindows(data: [0, 0, 4, 2], display: [0, 0, 4, 2]))
    #expect(try exrHeader(half).channels == ["A", "Y"])
    #expect(windows.scaled(x: 2, y: 2) == ExrWindows(data: [20, 40, 29, 45], display: [0, 0, 199, 119]))
    let wrong = ExrWindows(data: [0, 0, 5, 2], display: [0, 0, 5, 2])
    #expect(throws: ItemFailure("EXR: the data window is not 5x3")) {
        try encodeEXR(exrPlanes, width: 5, height: 3, channels: ["Y", "A"], half: false, windows: wrong)
    }
}

@Test func damagedEXRFailsWithAOneLineReasonNeverACrash() throws {
    let file = try encodeEXR(exrPlanes, width: 5, height: 3, channels: ["Y", "A"], half: true)
    #expect(throws: ItemFailure("EXR: no channel 'R' (the file has A, Y)")) { try Image(decodingEXR: file, channels: ["R"]) }
    #expect(throws: ItemFailure("EXR: not an OpenEXR file (no magic number)")) { try Image(decodingEXR: Array("hello".utf8), channels: ["Y"]) }
    // Every truncation, and seeded byte changes, decode or fail with a reason: no crash, no hang.
    for n in 0..<file.count {
        #expect(throws: ItemFailure.self) { try Image(decodingEXR: Array(file.prefix(n)), channels: ["Y"]) }
    }
    var rng = SplitMix(state: 20)
    for _ in 0..<2000 {
        var bytes = file
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
        }
        do { _ = try Image(decodingEXR: bytes, channels: ["Y", "A"]) } catch { #expect(!error.reason.contains("\n")) }
    }
}

/// An 8x8 JPEG of the colour (200, 100, 50), made by cjpeg -quality 95 -optimize.
private let solidJPEG: [UInt8] = {
    let hex = Array("ffd8ffe000104a46494600010100000100010000ffdb0043000201010101010201010102020202020403020202020504040304060506060605060606070908060709070606080b08090a0a0a0a0a06080b0c0b0a0c090a0a0affdb004301020202020202050303050a0706070a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0affc00011080008000803012200021101031101ffc4001500010100000000000000000000000000000005ffc40014100100000000000000000000000000000000ffc40014010100000000000000000000000000000008ffc40014110100000000000000000000000000000000ffda000c03010002110311003f009e00ae6c3fffd9".utf8)
    func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : c - 87 }
    return stride(from: 0, to: hex.count, by: 2).map { nibble(hex[$0]) << 4 | nibble(hex[$0 + 1]) }
}()

@Test func jpegDecodesAndTruncatedJPEGFails() throws {
    let image = try Image(decoding: solidJPEG)
    #expect(image.width == 8 && image.height == 8)
    for (i, want) in [200, 100, 50].enumerated() {
        #expect(abs(Int((image.pixels[i] * 255).rounded()) - want) <= 2)
    }
    #expect(throws: ItemFailure.self) { try Image(decoding: Array(solidJPEG.prefix(200))) }
}

@Test func atomicWriterCreatesFoldersLeavesNoTemporariesAndReportsErrors() throws {
    let dir = scratchFolder()
    try AtomicFile.write([1, 2, 3], to: "\(dir)/a/b/out.npy")
    #expect(contents("\(dir)/a/b/out.npy") == [1, 2, 3])
    try AtomicFile.write([4], to: "\(dir)/a/b/out.npy")
    #expect(contents("\(dir)/a/b/out.npy") == [4])
    #expect(throws: BatchError.self) { try AtomicFile.write([1], to: "\(dir)/a/b/out.npy/inside") }
    try AtomicFile.write([9], to: "\(dir)/a/.out.npy.partial-abc123")
    try AtomicFile.write([9], to: "\(dir)/a/.other.npy.partial-abc123")
    AtomicFile.removeStale(under: dir) { $0 == "a/out.npy" }
    #expect(!AtomicFile.exists("\(dir)/a/.out.npy.partial-abc123"))
    #expect(AtomicFile.exists("\(dir)/a/.other.npy.partial-abc123"))
    #expect(AtomicFile.exists("\(dir)/a/b/out.npy"))
    var names: [String] = []
    if let d = opendir("\(dir)/a/b") {
        while let e = readdir(d) { names.append(String(decoding: entryName(e), as: UTF8.self)) }
        closedir(d)
    }
    #expect(names.sorted() == [".", "..", "out.npy"])  // no temporary left by the writes
}

@Test func manifestsListItemsAndNameBadLines() throws {
    let dir = scratchFolder()
    try AtomicFile.write(Array("# frames\nb.png\n\na/x.npy\n".utf8), to: "\(dir)/list.txt")
    let items = try ItemSource.items(from: "\(dir)/list.txt").items
    #expect(items.map(\.relativePath) == ["a/x.npy", "b.png"])
    #expect(items.map(\.files) == [["": .init(path: "\(dir)/a/x.npy", kind: .npy)], ["": .init(path: "\(dir)/b.png", kind: .image)]])
    try AtomicFile.write(Array("b.png\nnotes.txt\n".utf8), to: "\(dir)/bad.txt")
    #expect(throws: BatchError.usage("manifest \(dir)/bad.txt line 2: 'notes.txt' is not a .npy, .pb, .png, .jpg, .jpeg or .exr file")) {
        try ItemSource.items(from: "\(dir)/bad.txt")
    }
    try AtomicFile.write(Array("b.png\nb.png\n".utf8), to: "\(dir)/twice.txt")
    #expect(throws: BatchError.self) { try ItemSource.items(from: "\(dir)/twice.txt") }
    #expect(throws: BatchError.usage("--batch-input \(dir)/none.txt: No such file or directory")) {
        try ItemSource.items(from: "\(dir)/none.txt")
    }
}

@Test func boundedQueueKeepsOrderAndEndsOnClose() {
    let queue = BoundedQueue<Int>(capacity: 2)
    let producer = WorkerThread {
        for i in 0..<100 { queue.push(i) }
        queue.close()
    }
    var got: [Int] = []
    while let i = queue.pop() { got.append(i) }
    producer.join()
    #expect(got == Array(0..<100))
    #expect(!queue.push(1))
}

@Test func hostileTreesListEachItemOnceAndRecordTheRest() throws {
    let dir = scratchFolder(), outside = scratchFolder()
    try AtomicFile.write([0], to: "\(dir)/a.npy")
    #expect(mkdir("\(dir)/sub", 0o755) == 0)
    try AtomicFile.write([0], to: "\(dir)/sub/b.npy")
    try AtomicFile.write([0], to: "\(outside)/x.npy")
    for (target, link) in [(".", "self"), ("..", "sub/up"), (outside, "out"), ("missing.npy", "dangling.npy"),
                           ("loop2.npy", "loop1.npy"), ("loop1.npy", "loop2.npy")] {
        #expect(symlink(target, "\(dir)/\(link)") == 0)
    }
    #expect(mkfifo("\(dir)/fifo.npy", 0o600) == 0)
    let badName = Array("\(dir)/bad".utf8) + [0xFF] + Array(".npy".utf8) + [0]  // a lone 0xFF byte: not UTF-8
    let fd = badName.withUnsafeBufferPointer { p in
        p.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY, 0o644) }
    }
    #expect(fd >= 0)
    close(fd)

    let listing = try ItemSource.items(from: dir)
    #expect(listing.items.map(\.relativePath) == ["a.npy", "sub/b.npy"])
    let reasons = Dictionary(listing.rejected.map { ($0.path, $0.reason) }, uniquingKeysWith: { a, _ in a })
    #expect(reasons["dangling.npy"] == "dangling symlink")
    #expect(reasons["loop1.npy"] == "symlink loop")
    #expect(reasons["fifo.npy"] == "not a regular file")
    #expect(reasons["out"]?.contains("outside the input folder") == true)
    #expect(listing.rejected.contains { $0.reason == "the name is not valid UTF-8" })
    #expect(try ItemSource.items(from: dir, followSymlinks: true).items.map(\.relativePath) == ["a.npy", "out/x.npy", "sub/b.npy"])

    try AtomicFile.write(Array("a.npy\n../escape.npy\n/etc/x.npy\nout/x.npy\n".utf8), to: "\(dir)/list.txt")
    let manifest = try ItemSource.items(from: "\(dir)/list.txt")
    #expect(manifest.items.map(\.relativePath) == ["a.npy"])
    #expect(manifest.rejected.map(\.path) == ["../escape.npy", "/etc/x.npy", "out/x.npy"])
}

/// y[N, 2, 3] = Gather(table[4, 3], x[N, 2]) with int64 indices x: an index of 4 or more
/// fails the run, whatever else is in the batch.
private func lookupSession() throws -> Session {
    let graph = Graph(
        nodes: [Node(name: "gather", opType: "Gather", inputs: ["table", "x"], outputs: ["y"])],
        inputs: [ValueInfo(name: "x", type: .tensor(.int64, shape: [.symbol("N"), .value(2)]))],
        outputs: [ValueInfo(name: "y", type: nil)],
        initializers: ["table": Tensor(shape: [4, 3], scalars: (0..<12).map { Float($0) })])
    return try Session(model: Model(irVersion: 8, opsets: ["": 13], graph: graph), options: SessionOptions(threads: 1, backend: .cpu))
}

@Test func aFailedBatchIsRetriedItemByItem() throws {
    let dir = scratchFolder()
    let indices: [String: [Int64]] = ["a": [0, 1], "b": [2, 3], "c": [1, 9], "d": [3, 0], "e": [1, 1]]
    for (name, pair) in indices { try AtomicFile.write(Npy.encode(Tensor(shape: [2], scalars: pair)), to: "\(dir)/\(name).npy") }
    var spec = BatchJobSpec(input: dir, outputDir: "\(dir)/out")
    spec.batchSize = 4
    let outcome = try BatchJob(session: try lookupSession(), spec: spec).run(progress: false)
    #expect(outcome.succeeded == 4 && outcome.failed == 1)
    let failures = String(decoding: contents("\(dir)/out/failures.jsonl") ?? [], as: UTF8.self)
    #expect(failures.hasPrefix("{\"item\":\"c.npy\",\"reason\":\"inference failed:"))
    #expect(failures.split(separator: "\n").count == 1)
    for (name, pair) in indices where name != "c" {
        let y = try Npy.read(path: "\(dir)/out/\(name).npy.npy")
        #expect(y.shape == [1, 2, 3])
        #expect(y.scalars(as: Float.self) == pair.flatMap { i in (0..<3).map { Float(Int(i) * 3 + $0) } })
    }
}

@Test func multiInputItemsAreFoldersOrJSONManifestLines() throws {
    let dir = scratchFolder()
    for item in ["s/f1", "s/f2", "g"] {
        try AtomicFile.write([0], to: "\(dir)/\(item)/color.png")
        try AtomicFile.write([0], to: "\(dir)/\(item)/albedo.npy")
    }
    try AtomicFile.write([0], to: "\(dir)/g/notes.txt")
    try AtomicFile.write([0], to: "\(dir)/half/color.png")                 // albedo missing
    try AtomicFile.write([0], to: "\(dir)/two/color.png")
    try AtomicFile.write([0], to: "\(dir)/two/color.npy")
    try AtomicFile.write([0], to: "\(dir)/two/albedo.npy")
    try AtomicFile.write([0], to: "\(dir)/loose.npy")
    let listing = try ItemSource.items(from: dir, inputNames: ["color", "albedo"])
    #expect(listing.items.map(\.relativePath) == ["g", "s/f1", "s/f2"])
    #expect(listing.items[1].files == ["color": .init(path: "\(dir)/s/f1/color.png", kind: .image),
                                       "albedo": .init(path: "\(dir)/s/f1/albedo.npy", kind: .npy)])
    let reasons = Dictionary(listing.rejected.map { ($0.path, $0.reason) }, uniquingKeysWith: { a, _ in a })
    #expect(reasons["half"] == "item folder has no .npy, .pb or image file for input 'albedo'")
    #expect(reasons["two"] == "item folder has 2 files (color.npy, color.png) for input 'color'")
    #expect(reasons["loose.npy"]?.hasPrefix("a file outside an item folder") == true)
    // One input: the same tree is plain files again.
    #expect(try ItemSource.items(from: dir, inputNames: ["x"]).items.count == 11)

    try AtomicFile.write(Array("""
        {"color": "s/f1/color.png", "albedo": "s/f1/albedo.npy"}
        { "albedo" : "g/albedo.npy" ,"color":"g/col\\u006fr.png"}

        """.utf8), to: "\(dir)/list.jsonl")
    let manifest = try ItemSource.items(from: "\(dir)/list.jsonl", inputNames: ["color", "albedo"])
    #expect(manifest.items.map(\.relativePath) == ["g/albedo.npy", "s/f1/color.png"])
    #expect(manifest.items[0].files["color"]?.path == "\(dir)/g/color.png")
    for (line, reason) in [
        (#"{"color": "a.png"}"#, "names inputs color; the model's inputs are color, albedo"),
        (#"{"color": "a.png", "albedo": "b.npy", "color": "c.png"}"#, "names inputs color, albedo, color; the model's inputs are color, albedo"),
        (#"{"color": "a.png", "albedo": 3}"#, "not a JSON object of strings (expected '\"')"),
        (#"{"color": "a.png", "albedo": "b.txt"}"#, "'b.txt' is not a .npy, .pb, .png, .jpg, .jpeg or .exr file"),
        (#"{"color": "a.png", "albedo": "b.npy"} x"#, "text after the JSON object"),
        ("a.png", "a model with several inputs needs a JSON object naming each input's file, e.g. {\"color\": \"a/color.png\", ...}"),
    ] {
        try AtomicFile.write(Array(line.utf8), to: "\(dir)/bad.jsonl")
        #expect(throws: BatchError.usage("manifest \(dir)/bad.jsonl line 1: \(reason)")) {
            try ItemSource.items(from: "\(dir)/bad.jsonl", inputNames: ["color", "albedo"])
        }
    }
    try AtomicFile.write(Array(#"{"color": "../a.png", "albedo": "b.npy"}"#.utf8), to: "\(dir)/escape.jsonl")
    #expect(try ItemSource.items(from: "\(dir)/escape.jsonl", inputNames: ["color", "albedo"]).rejected.map(\.path) == ["../a.png"])
}

/// y[N, 3] = a[N, 3] + 10 · b[N, 3].
private func twoInputSession() throws -> Session {
    var b = GraphBuilder(name: "g")
    let a = b.input("a", .float, [.symbol("N"), .value(3)]), x = b.input("b", .float, [.symbol("N"), .value(3)])
    let ten = b.constant(Tensor(shape: [1], scalars: [Float(10)]))
    let scaled = b.node("Mul", [x, ten])
    let y = b.node("Add", [a, scaled])
    b.output(y)
    return try Session(model: Model(irVersion: 8, opsets: ["": 13], graph: b.graph), options: SessionOptions(threads: 1, backend: .cpu))
}

@Test func aMultiInputJobFeedsEachInputItsFile() throws {
    let dir = scratchFolder()
    for i in 0..<3 {
        try AtomicFile.write(Npy.encode(Tensor(shape: [3], scalars: [Float(i), 1, 2])), to: "\(dir)/items/f\(i)/a.npy")
        try AtomicFile.write(Npy.encode(Tensor(shape: [1, 3], scalars: [Float(i), 0, -1])), to: "\(dir)/items/f\(i)/b.npy")
    }
    try AtomicFile.write(Npy.encode(Tensor(shape: [1, 4], scalars: [Float](repeating: 0, count: 4))), to: "\(dir)/items/f1/b.npy")
    var spec = BatchJobSpec(input: "\(dir)/items", outputDir: "\(dir)/out")
    spec.batchSize = 2
    let outcome = try BatchJob(session: try twoInputSession(), spec: spec).run(progress: false)
    #expect(outcome.succeeded == 2 && outcome.failed == 1)
    for i in [0, 2] {
        #expect(try Npy.read(path: "\(dir)/out/f\(i).npy").scalars(as: Float.self) == [Float(11 * i), 1, -8])
    }
    let failures = String(decoding: contents("\(dir)/out/failures.jsonl") ?? [], as: UTF8.self)
    #expect(failures == "{\"item\":\"f1\",\"reason\":\"shape [4] does not fit input 'b' [N, 3]\"}\n")
}

@Test func deviceAutoPicksTheGPUOfTheLocalRank() throws {
    let uuid0: [UInt8] = Array(0..<16), uuid1: [UInt8] = [0x8a, 0x3c] + Array(repeating: 0xff, count: 14)
    // Enumeration: lavapipe first, then two GPUs.
    let devices = [DeviceAssignment.Device(index: 0, kind: "cpu"), .init(index: 1, kind: "discrete", uuid: uuid0),
                   .init(index: 2, kind: "discrete", uuid: uuid1)]
    func choose(_ env: [String: String]) throws -> Int? { try DeviceAssignment.choose(environment: env, devices: devices) }
    #expect(try choose([:]) == nil)
    #expect(try choose(["SLURM_LOCALID": "0"]) == 1)
    #expect(try choose(["SLURM_LOCALID": "1", "LOCAL_RANK": "0"]) == 2)
    #expect(try choose(["LOCAL_RANK": "1"]) == 2)
    // Slurm --gpus-per-task=1: each task sees its one GPU, whatever its rank.
    #expect(try choose(["SLURM_LOCALID": "3", "CUDA_VISIBLE_DEVICES": "1"]) == 2)
    #expect(try choose(["LOCAL_RANK": "1", "CUDA_VISIBLE_DEVICES": "1,0"]) == 1)
    #expect(try choose(["ROCR_VISIBLE_DEVICES": "0"]) == 1)
    #expect(try choose(["CUDA_VISIBLE_DEVICES": "GPU-8a3cffff-ffff-ffff-ffff-ffffffffffff"]) == 2)
    #expect(try choose(["SLURM_LOCALID": "1", "CUDA_VISIBLE_DEVICES": "GPU-00010203,GPU-8A3C"]) == 2)
    for (env, message) in [
        (["SLURM_LOCALID": "2"], "SLURM_LOCALID=2 but this node has 2 GPU(s)"),
        (["LOCAL_RANK": "-1"], "LOCAL_RANK='-1' is not a rank"),
        (["LOCAL_RANK": "2", "CUDA_VISIBLE_DEVICES": "0,1"], "LOCAL_RANK=2 but CUDA_VISIBLE_DEVICES lists 2 device(s)"),
        (["CUDA_VISIBLE_DEVICES": "2"], "CUDA_VISIBLE_DEVICES names GPU 2 but Vulkan sees 2 GPU(s)"),
        (["CUDA_VISIBLE_DEVICES": "GPU-77"], "CUDA_VISIBLE_DEVICES entry 'GPU-77': no GPU has that UUID"),
        (["CUDA_VISIBLE_DEVICES": ""], "CUDA_VISIBLE_DEVICES lists no device"),
    ] {
        #expect(throws: BatchError.usage("--device auto: \(message)")) { try choose(env) }
    }
    #expect(throws: BatchError.usage("--device auto: CUDA_VISIBLE_DEVICES entry 'GPU-8a3c': no Vulkan device UUID is known to match it against")) {
        try DeviceAssignment.choose(environment: ["CUDA_VISIBLE_DEVICES": "GPU-8a3c"], devices: [.init(index: 0, kind: "discrete")])
    }
}

@Test func tilesSpreadEvenlyAndTheirWindowsSumToOne() throws {
    #expect(Tiling.starts(length: 100, tile: 40, overlap: 10) == [0, 30, 60])
    #expect(Tiling.starts(length: 101, tile: 40, overlap: 10) == [0, 20, 41, 61])
    #expect(Tiling.starts(length: 40, tile: 40, overlap: 10) == [0])
    for (length, tile, overlap) in [(100, 40, 10), (101, 40, 10), (517, 64, 32), (64, 33, 16), (50, 10, 0)] {
        let starts = Tiling.starts(length: length, tile: tile, overlap: overlap)
        #expect(starts.first == 0 && starts.last == length - tile)
        var sum = [Float](repeating: 0, count: length)
        for (k, start) in starts.enumerated() {
            if k > 0 { #expect(starts[k - 1] + tile - start >= overlap) }
            let before = k > 0 ? starts[k - 1] + tile - start : 0, after = k + 1 < starts.count ? start + tile - starts[k + 1] : 0
            let window = Tiling.window(size: tile, before: before, after: after)
            // a tile's pixels within a quarter of the overlap of its inner edges never count
            #expect(window.prefix(before / 4).allSatisfy { $0 == 0 } && window.suffix(after / 4).allSatisfy { $0 == 0 })
            for (i, w) in window.enumerated() { sum[start + i] += w }
        }
        #expect(sum.allSatisfy { abs($0 - 1) < 1e-6 }, "\(length) \(tile) \(overlap)")
    }
    #expect(try Tiling(tile: "64x32", overlap: 16) == Tiling(tile: "64x32", overlap: 16))
    #expect(throws: BatchError.usage("--tile 64x30 is smaller than twice --overlap 16")) { try Tiling(tile: "64x30", overlap: 16) }
    #expect(throws: BatchError.usage("--tile '64*64' must be WIDTHxHEIGHT or N, e.g. 512x512")) { try Tiling(tile: "64*64", overlap: 0) }
    #expect(throws: BatchError.usage("--tile \(Int.max)x\(Int.max) is smaller than twice --overlap \(Int.max)")) {
        try Tiling(tile: "\(Int.max)", overlap: .max)                 // no overflow trap
    }
}

/// A fully convolutional ×2 upscaler: Conv 3×3 (3 → 12, receptive field 1 pixel from the
/// centre) → DepthToSpace 2 → [N, 3, 2H, 2W]; or, `halving`, the Conv alone with stride 2.
private func upscaler(halving: Bool = false) throws -> Session {
    var b = GraphBuilder(name: "up"), noise = SplitMix(state: 9)
    let x = b.input("x", .float, [.symbol("N"), .value(3), .symbol("H"), .symbol("W")])
    let w = b.constant(Tensor(shape: [12, 3, 3, 3], scalars: (0..<324).map { _ in Float.random(in: -1...1, using: &noise) }))
    let c = b.node("Conv", [x, w], ["pads": .ints([1, 1, 1, 1]), "strides": .ints(halving ? [2, 2] : [1, 1])])
    b.output(halving ? c : b.node("DepthToSpace", [c], ["blocksize": .int(2)]))
    return try Session(model: Model(irVersion: 8, opsets: ["": 13], graph: b.graph), options: SessionOptions(threads: 2, backend: .cpu))
}

@Test func tiledInferenceEqualsTheWholeFrame() throws {
    let session = try upscaler(), dir = scratchFolder()
    var noise = SplitMix(state: 3)
    let frame = Tensor(shape: [1, 3, 29, 37], scalars: (0..<3 * 29 * 37).map { _ in Float.random(in: 0...1, using: &noise) })
    try AtomicFile.write(Npy.encode(frame), to: "\(dir)/in/frame.npy")
    let whole = try session.run(["x": frame]).first!.value.scalars(as: Float.self)
    var spec = BatchJobSpec(input: "\(dir)/in", outputDir: "\(dir)/out")
    spec.tiling = try Tiling(tile: "16x12", overlap: 6)
    #expect(try BatchJob(session: session, spec: spec).run(progress: false).succeeded == 1)
    let tiled = try Npy.read(path: "\(dir)/out/frame.npy.npy")
    #expect(tiled.shape == [1, 3, 58, 74])
    let err = zip(tiled.scalars(as: Float.self), whole).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
    #expect((err / whole.map { $0 * $0 }.reduce(0, +)).squareRoot() < 1e-6)

    spec.tiling = try Tiling(tile: "16x12", overlap: 0)       // seams: the model's padding inside the frame
    spec.outputDir = "\(dir)/seams"
    _ = try BatchJob(session: session, spec: spec).run(progress: false)
    #expect(try Npy.read(path: "\(dir)/seams/frame.npy.npy").scalars(as: Float.self) != whole)
    spec.tiling = try Tiling(tile: "16", overlap: 4)
    #expect(throws: BatchError.usage("--tile: output 'conv2' is [1, 12, 8, 8] for a 16x16 tile, not an image an integer multiple of it")) {
        try BatchJob(session: try upscaler(halving: true), spec: spec)
    }
}

@Test func tilingWarnsOfWholeImageNormalization() throws {
    var spec = BatchJobSpec(input: "/nonexistent", outputDir: "/nonexistent")
    spec.tiling = try Tiling(tile: "16", overlap: 4)
    #expect(try BatchJob(session: try upscaler(), spec: spec).warnings.isEmpty)
    var b = GraphBuilder(name: "norm")
    let x = b.input("x", .float, [.symbol("N"), .value(3), .symbol("H"), .symbol("W")])
    let scale = b.constant(Tensor(shape: [3], scalars: [Float](repeating: 1, count: 3)))
    let bias = b.constant(Tensor(shape: [3], scalars: [Float](repeating: 0, count: 3)))
    b.output(b.node("InstanceNormalization", [x, scale, bias]))
    let session = try Session(model: Model(irVersion: 8, opsets: ["": 13], graph: b.graph), options: SessionOptions(threads: 1, backend: .cpu))
    let warnings = try BatchJob(session: session, spec: spec).warnings
    #expect(warnings.count == 1 && warnings[0].contains("whole-image ops (InstanceNormalization)"))
}
