import Foundation
import Testing
import VonnxIR
@testable import VonnxVulkan

// The SPIR-V and pipeline disk cache: SHA-256, entry checks, and cold versus warm device
// creation in a fresh temporary cache folder. The devices here are opened and closed by the
// tests, so without validation (see `TestVulkan`); skipped when there is no Vulkan device.

private let hasVulkan = TestVulkan.device != nil

/// A new empty folder, removed after `body`.
private func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vonnx-cache-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try body(dir)
}

private func files(in dir: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
}

@Test func sha256KnownVectors() {
    let vectors: [(String, String)] = [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        (String(repeating: "a", count: 1_000_000), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
    ]
    for (message, digest) in vectors {
        #expect(hexString(SHA256.hash(Array(message.utf8))) == digest, "SHA-256 of \(message.prefix(20))… (\(message.count) bytes)")
    }
    // 55, 56 and 64 bytes straddle the padding boundary.
    #expect(hexString(SHA256.hash([UInt8](repeating: 0x61, count: 64)))
            == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
    #expect(hexString(SHA256.hash([UInt8](repeating: 0x61, count: 55)))
            == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
    #expect(hexString(SHA256.hash([UInt8](repeating: 0x61, count: 56)))
            == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
}

@Test func cacheFolderResolution() {
    #expect(PipelineDiskCache.resolve("off") == nil)
    #expect(PipelineDiskCache.resolve("/tmp/x") == "/tmp/x")
    #expect(PipelineDiskCache.resolve("") == PipelineDiskCache.resolve(nil), "an empty option counts as unset")
    #expect(PipelineDiskCache.resolve(nil) != "off")
}

@Test func diskCacheEntriesThatDoNotCheckOutAreMisses() throws {
    try withTemporaryDirectory { dir in
        let cache = PipelineDiskCache(directory: dir + "/nested/folder")
        let key = SHA256.hash(Array("key".utf8)), payload: [UInt8] = Array(0..<200)
        #expect(cache.load("entry", key: key) == nil)
        cache.store("entry", key: key, payload: payload)
        #expect(cache.load("entry", key: key) == payload)
        #expect(cache.load("entry", key: SHA256.hash(Array("other".utf8))) == nil, "another key")
        #expect(files(in: dir + "/nested/folder") == ["entry"], "no temporary file left behind")

        let path = dir + "/nested/folder/entry"
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        func damaged(_ what: String, _ change: (inout Data) -> Void) throws {
            var bytes = good
            change(&bytes)
            try bytes.write(to: URL(fileURLWithPath: path))
            #expect(cache.load("entry", key: key) == nil, "\(what) entry")
            cache.store("entry", key: key, payload: payload)
            #expect(cache.load("entry", key: key) == payload, "\(what) entry overwritten by the next store")
        }
        try damaged("corrupt") { $0[$0.count - 7] ^= 0x40 }
        try damaged("truncated") { $0 = $0.prefix($0.count - 1) }
        try damaged("header-only") { $0 = $0.prefix(30) }
        try damaged("empty") { $0 = Data() }
        try damaged("wrong-version") { $0[4] = 99 }
        try damaged("wrong-magic") { $0[0] ^= 1 }
    }
}

@Test func unwritableOrDisabledCacheIsSilentlySkipped() throws {
    try withTemporaryDirectory { dir in
        // A folder below a plain file can never be made.
        #expect(FileManager.default.createFile(atPath: dir + "/file", contents: Data([1])))
        let cache = PipelineDiskCache(directory: dir + "/file/cache")
        let key = SHA256.hash([1, 2, 3])
        cache.store("entry", key: key, payload: [1, 2, 3])
        cache.store("entry", key: key, payload: [1, 2, 3])
        #expect(cache.load("entry", key: key) == nil)
        #expect(files(in: dir) == ["file"])
    }
}

/// The nodes whose pipelines ResNet-50 needs, on small inputs: convolutions with and without
/// bias and fused ReLU (3×3 and 1×1), batch normalization, pools, Add, Relu, Gemm, Softmax.
private func runResNetKernels(_ device: VulkanDevice) throws -> Int {
    func t(_ shape: [Int]) -> Tensor { Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { Float($0 % 7) * 0.1 - 0.3 }) }
    func n(_ op: String, _ inputs: Int, domain: String = "", _ attributes: [String: Attribute] = [:]) -> Node {
        Node(name: op.lowercased(), opType: op, domain: domain, inputs: (0..<inputs).map { "in\($0)" }, outputs: ["out0"],
             attributes: attributes)
    }
    let x = t([1, 4, 8, 8])
    let relu: [String: Attribute] = ["activation": .string(Array("Relu".utf8)), "pads": .ints([1, 1, 1, 1])]
    let cases: [(Node, [Tensor?])] = [
        (n("Conv", 3, ["pads": .ints([3, 3, 3, 3]), "strides": .ints([2, 2])]), [x, t([8, 4, 7, 7]), t([8])]),
        (n("Conv", 2, ["pads": .ints([1, 1, 1, 1])]), [x, t([8, 4, 3, 3])]),
        (n("Conv", 3), [x, t([8, 4, 1, 1]), t([8])]),
        (n("FusedConv", 3, domain: "com.microsoft", relu), [x, t([8, 4, 3, 3]), t([8])]),
        (n("FusedConv", 3, domain: "com.microsoft", ["activation": .string(Array("Relu".utf8))]), [x, t([8, 4, 1, 1]), t([8])]),
        (n("BatchNormalization", 5), [x, t([4]), t([4]), t([4]), Tensor(shape: [4], scalars: [1, 1.5, 2, 2.5] as [Float])]),
        (n("MaxPool", 1, ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]), [x]),
        (n("GlobalAveragePool", 1), [x]),
        (n("Add", 2), [x, x]),
        (n("Relu", 1), [x]),
        (n("Gemm", 3, ["transB": .int(1)]), [t([2, 16]), t([10, 16]), t([10])]),
        (n("Softmax", 1), [t([2, 10])]),
    ]
    for (node, inputs) in cases { _ = try VulkanKernels.run(node, inputs: inputs, opset: 17, device: device) }
    return cases.count
}

/// Opens a device on `dir`, runs the ResNet-50 kernels and closes it; its SPIR-V statistics,
/// pipeline-cache bytes it started with, and milliseconds taken.
private func session(_ dir: String) throws -> (ShaderCompiler.Statistics, Int, Double) {
    let clock = ContinuousClock()
    var result: (ShaderCompiler.Statistics, Int)!
    let elapsed = try clock.measure {
        let device = try VulkanDevice(options: .init(cacheDirectory: dir))
        _ = try runResNetKernels(device)
        result = (device.compiler.statistics, device.pipelineCacheLoadedBytes)
    }
    return (result.0, result.1, Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3)
}

@Test(.enabled(if: hasVulkan, TestVulkan.skipReason)) func secondDeviceTakesSPIRVAndPipelinesFromDisk() throws {
    try withTemporaryDirectory { dir in
        let (cold, coldSeed, coldMs) = try session(dir)
        #expect(cold.compiled > 0 && cold.fromDisk == 0)
        #expect(coldSeed == 0, "the first device starts with an empty pipeline cache")
        let saved = files(in: dir)
        #expect(saved.filter { $0.hasPrefix("spirv-") }.count == cold.compiled)
        #expect(saved.filter { $0.hasPrefix("pipelines-") }.count == 1, "files: \(saved)")
        #expect(!saved.contains { $0.hasSuffix(".tmp") })

        let (warm, warmSeed, warmMs) = try session(dir)
        #expect(warm.compiled == 0, "the second device compiles nothing")
        #expect(warm.fromDisk == cold.compiled)
        #expect(warmSeed > 0, "the second device seeds its pipeline cache from disk")
        print("Vulkan cache: \(cold.compiled) shaders; device + ResNet-50 kernels cold \(Int(coldMs)) ms, warm \(Int(warmMs)) ms")

        // A corrupt SPIR-V entry and a pipeline cache from another device are misses.
        let spirv = try #require(saved.first { $0.hasPrefix("spirv-") })
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir + "/" + spirv))
        let pipelines = try #require(saved.first { $0.hasPrefix("pipelines-") })
        let disk = PipelineDiskCache(directory: dir)
        let key = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + pipelines))[8..<40])
        var blob = try #require(disk.load(pipelines, key: key))
        blob[20] ^= 0xFF  // inside the header's pipelineCacheUUID
        disk.store(pipelines, key: key, payload: blob)
        let (afterDamage, foreignSeed, _) = try session(dir)
        #expect(afterDamage.compiled == 1, "only the corrupt entry is compiled again")
        #expect(foreignSeed == 0, "a pipeline cache with another UUID is not passed to the driver")
        let (repaired, repairedSeed, _) = try session(dir)
        #expect(repaired.compiled == 0 && repairedSeed > 0, "both entries were rewritten")
    }
}

@Test(.enabled(if: hasVulkan, TestVulkan.skipReason)) func cacheOffWritesNothing() throws {
    let before = files(in: ".")
    let device = try VulkanDevice(options: .init(cacheDirectory: "off"))
    #expect(device.compiler.disk.directory == nil)
    _ = try runResNetKernels(device)
    #expect(device.compiler.statistics.compiled > 0 && device.pipelineCacheLoadedBytes == 0)
    #expect(files(in: ".") == before, "nothing written to the working folder (as a folder named 'off')")
}

@Test(.enabled(if: hasVulkan, TestVulkan.skipReason)) func savePipelineCacheWritesBeforeTheDeviceCloses() throws {
    try withTemporaryDirectory { dir in
        let device = try VulkanDevice(options: .init(cacheDirectory: dir))
        _ = try runResNetKernels(device)
        #expect(!files(in: dir).contains { $0.hasPrefix("pipelines-") })
        device.savePipelineCache()
        #expect(files(in: dir).contains { $0.hasPrefix("pipelines-") })
    }
}
