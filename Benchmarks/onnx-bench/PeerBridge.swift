import Glibc
import Vonnx
import VonnxFormat

/// A peer engine for alternating runs, as Benchmarks/peer_bridge.py names them.
enum PeerEngine: String, CaseIterable {
    case onnxruntime
    case ncnnCPU = "ncnn-cpu"
    case ncnnVulkan = "ncnn-vulkan"
}

/// Why a peer cannot run this model (its row in the report says so).
struct PeerUnavailable: Error, CustomStringConvertible {
    let description: String
}

/// A peer engine (onnxruntime, ncnn) in a Python child process (Benchmarks/peer_bridge.py),
/// driven line by line so its runs alternate with Vonnx's.
final class PeerBridge {
    let engine: PeerEngine
    private let pid: pid_t
    private let io: PeerBridgeIO
    /// Scratch folder for the .npy files exchanged with the child.
    private let folder: String
    let createMs: Double
    let firstRunMs: Double
    let version: String

    /// Starts `engine` on `modelPath` with `feeds` (in the model's input order; `device`: a
    /// Vulkan device selector for ncnn-vulkan). Throws PeerUnavailable when the script, Python, the engine
    /// or its conversion of the model is missing.
    static func start(engine: PeerEngine, python: String, script: String, modelPath: String, threads: Int,
                      device: String?, feeds: [(String, Tensor)]) throws -> PeerBridge {
        guard access(script, R_OK) == 0 else {
            throw PeerUnavailable(description: "the peer bridge script \(script) cannot be read (run from the repository root, or pass --bridge-script)")
        }
        var toPipe: [Int32] = [0, 0], fromPipe: [Int32] = [0, 0]
        guard pipe(&toPipe) == 0, pipe(&fromPipe) == 0 else { throw BenchError("cannot create pipes for \(engine.rawValue)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromPipe[1], 1)
        for fd in toPipe + fromPipe { posix_spawn_file_actions_addclose(&actions, fd) }
        let argv = [python, script, engine.rawValue, modelPath, String(threads)] + (device.map { [$0] } ?? [])
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, python, &actions, nil, &cArgs, environ)
        close(toPipe[0]); close(fromPipe[1])
        guard rc == 0 else {
            close(toPipe[1]); close(fromPipe[0])
            throw PeerUnavailable(description: "cannot start \(python)")
        }
        guard let w = fdopen(toPipe[1], "w"), let r = fdopen(fromPipe[0], "r") else { throw BenchError("cannot open pipes to \(engine.rawValue)") }
        let bridge = PeerBridgeIO(write: w, read: r)
        let folder = "/tmp/onnx-bench-\(getpid())-\(pid)"
        mkdir(folder, 0o755)
        for (i, (name, tensor)) in feeds.enumerated() {
            let path = "\(folder)/input_\(i).npy"
            try Npy.write(tensor, path: path)
            bridge.send("feed \(name) \(path)")
            guard bridge.receive() == "ok" else { break }
        }
        bridge.send("start")
        let reply = bridge.receive() ?? "unavailable (no reply)"
        let words = reply.split(separator: " ").map(String.init)
        guard words.first == "ready", words.count >= 4, let create = Double(words[1]), let first = Double(words[2]) else {
            bridge.close()
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            removeFolder(folder)
            throw PeerUnavailable(description: words.first == "unavailable" ? words.dropFirst().joined(separator: " ") : reply)
        }
        return PeerBridge(engine: engine, pid: pid, io: bridge, folder: folder, createMs: create, firstRunMs: first, version: words[3])
    }

    private init(engine: PeerEngine, pid: pid_t, io: PeerBridgeIO, folder: String, createMs: Double, firstRunMs: Double, version: String) {
        self.engine = engine; self.pid = pid; self.io = io; self.folder = folder
        self.createMs = createMs; self.firstRunMs = firstRunMs; self.version = version
    }

    /// One timed run, in milliseconds.
    func run() throws -> Double {
        io.send("run")
        guard let reply = io.receive(), let ms = Double(reply) else { throw BenchError("\(engine.rawValue) stopped answering") }
        return ms
    }

    /// The peer's outputs for the current inputs.
    func outputs() throws -> [Tensor] {
        io.send("save \(folder)")
        guard let reply = io.receive(), let n = Int(reply) else { throw BenchError("\(engine.rawValue) stopped answering") }
        return try (0..<n).map { try Npy.read(path: "\(folder)/output_\($0).npy") }
    }

    /// The peer process's peak resident memory in bytes (the Python interpreter, the engine
    /// and its model, as Vonnx's figure is its whole process's) and its resident memory before
    /// the session was created; nil when unknown.
    func memory() throws -> (peak: Int, baseline: Int)? {
        io.send("peak")
        guard let reply = io.receive() else { throw BenchError("\(engine.rawValue) stopped answering") }
        let fields = reply.split(separator: " ").compactMap { Int($0) }
        guard fields.count == 2 else { throw BenchError("\(engine.rawValue) answered '\(reply)' to 'peak'") }
        return fields[0] > 0 ? (fields[0], fields[1]) : nil
    }

    func stop() {
        io.send("quit")
        io.close()
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        removeFolder(folder)
    }
}

private func removeFolder(_ folder: String) {
    for name in listFolder(folder) { unlink("\(folder)/\(name)") }
    rmdir(folder)
}

private func listFolder(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// Line-based I/O over the child's pipes.
private struct PeerBridgeIO {
    let write: UnsafeMutablePointer<FILE>
    let read: UnsafeMutablePointer<FILE>

    func send(_ line: String) {
        fputs(line + "\n", write)
        fflush(write)
    }

    func receive() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard fgets(&buffer, 4096, read) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func close() { fclose(write); fclose(read) }
}
