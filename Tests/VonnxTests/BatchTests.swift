import Glibc
import Testing
@testable import VonnxBatch
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
    let image = RGBImage(width: 2, height: 1, pixels: [0.2, 0.4, 0.6, 1, 0, 0.5])
    var p = Preprocessing()
    try p.set("scale", "255")
    try p.set("mean", "51, 0, 0")
    try p.set("std", "1,2,4")
    let nchw = p.tensor(from: image)
    #expect(nchw.shape == [3, 1, 2])
    let expected: [Float] = [0, 204, 51, 0, 38.25, 31.875]
    for (got, want) in zip(nchw.scalars(as: Float.self), expected) { #expect(abs(got - want) < 1e-3) }
    try p.set("layout", "nhwc")
    try p.set("channels", "bgr")
    let nhwc = p.tensor(from: image)
    #expect(nhwc.shape == [1, 2, 3])
    // Channel 0 is now blue, normalized with mean[0] and std[0].
    #expect(abs(nhwc.scalars(as: Float.self)[0] - (0.6 * 255 - 51)) < 1e-3)
    #expect(throws: BatchError.self) { try p.set("mean", "1,2") }
    #expect(throws: BatchError.self) { try p.set("std", "1,0,1") }
    #expect(throws: BatchError.self) { try p.set("gamma", "2") }
}

@Test func resizeIsBilinearWithHalfPixelCentresAndCropIsCentred() throws {
    // A 2x1 ramp 0 → 1 resized to 4x1: samples at source x = -0.25, 0.25, 0.75, 1.25 (clamped).
    let ramp = RGBImage(width: 2, height: 1, pixels: [0, 0, 0, 1, 1, 1])
    let wide = Preprocessing.resized(ramp, width: 4, height: 1)
    #expect(stride(from: 0, to: 12, by: 3).map { wide.pixels[$0] } == [0, 0.25, 0.75, 1])
    var p = Preprocessing()
    try p.set("resize", "4x1")
    try p.set("crop", "2x1")
    #expect(p.tensor(from: ramp).scalars(as: Float.self) == [0.25, 0.75, 0.25, 0.75, 0.25, 0.75])
    try p.set("resize", "2")            // shorter side 1 → 2: a 4x2 image, cropped to 2x1
    #expect(p.tensor(from: ramp).shape == [3, 1, 2])
}

@Test func pngRoundTripsAndCorruptImagesFail() throws {
    let samples: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]
    let png = try encodePNG(samples, width: 2, height: 2, channels: 3)
    let image = try RGBImage(decoding: png)
    #expect(image.width == 2 && image.height == 2)
    #expect(image.pixels.map { UInt8(($0 * 255).rounded()) } == samples)
    let grey = try RGBImage(decoding: try encodePNG([0, 128], width: 2, height: 1, channels: 1))
    #expect(grey.pixels.map { UInt8(($0 * 255).rounded()) } == [0, 0, 0, 128, 128, 128])
    #expect(throws: ItemFailure.self) { try RGBImage(decoding: Array(png.prefix(40))) }
    #expect(throws: ItemFailure("not a PNG or JPEG file")) { try RGBImage(decoding: Array("hello".utf8)) }
}

/// An 8x8 JPEG of the colour (200, 100, 50), made by cjpeg -quality 95 -optimize.
private let solidJPEG: [UInt8] = {
    let hex = Array("ffd8ffe000104a46494600010100000100010000ffdb0043000201010101010201010102020202020403020202020504040304060506060605060606070908060709070606080b08090a0a0a0a0a06080b0c0b0a0c090a0a0affdb004301020202020202050303050a0706070a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0affc00011080008000803012200021101031101ffc4001500010100000000000000000000000000000005ffc40014100100000000000000000000000000000000ffc40014010100000000000000000000000000000008ffc40014110100000000000000000000000000000000ffda000c03010002110311003f009e00ae6c3fffd9".utf8)
    func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : c - 87 }
    return stride(from: 0, to: hex.count, by: 2).map { nibble(hex[$0]) << 4 | nibble(hex[$0 + 1]) }
}()

@Test func jpegDecodesAndTruncatedJPEGFails() throws {
    let image = try RGBImage(decoding: solidJPEG)
    #expect(image.width == 8 && image.height == 8)
    for (i, want) in [200, 100, 50].enumerated() {
        #expect(abs(Int((image.pixels[i] * 255).rounded()) - want) <= 2)
    }
    #expect(throws: ItemFailure.self) { try RGBImage(decoding: Array(solidJPEG.prefix(200))) }
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
    #expect(items.map(\.path) == ["\(dir)/a/x.npy", "\(dir)/b.png"])
    #expect(items.map(\.kind) == [.npy, .image])
    try AtomicFile.write(Array("b.png\nnotes.txt\n".utf8), to: "\(dir)/bad.txt")
    #expect(throws: BatchError.usage("manifest \(dir)/bad.txt line 2: 'notes.txt' is not a .npy, .pb, .png, .jpg or .jpeg file")) {
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
