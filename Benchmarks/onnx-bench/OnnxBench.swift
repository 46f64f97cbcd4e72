import ArgumentParser
import Glibc
import Vonnx
import VonnxFormat

/// Benchmarks a model on each backend (and optionally onnxruntime) and prints one table.
@main
struct OnnxBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onnx-bench",
        abstract: "Time an ONNX model on Vonnx's backends side by side (default: an embedded ResNet-50 v1).")

    @Argument(help: "The .onnx model (default: ResNet-50 v1 built in memory); with --suite, the suite's models to run (default: all).")
    var models: [String] = []
    @Flag(help: "Run the benchmark suite (Benchmarks/suite; its models are written by scripts/setup.sh).") var suite = false
    @Option(help: "The folder of the suite's models and its suite.txt.") var suiteDir = ".testdata/suite"
    @Option(help: "Comma-separated backends to time: cpu, vulkan.") var backends = "cpu,vulkan"
    @Option(help: "Comma-separated Vulkan devices (index or name substring), one vulkan row each (default: VONNX_VULKAN_DEVICE, else the best GPU).")
    var device: String?
    @Option(help: "Precision of the vulkan rows: fp32, or fp16 (float16 weights in the conv and matrix-product kernels, float32 sums).")
    var precision: Precision = .fp32
    @Option(help: "Comma-separated batch sizes, for a model whose first input's first dim is symbolic.") var batch = "1"
    @Option(name: .customLong("dim"), help: "NAME=VALUE for a symbolic dim (repeatable).") var dims: [String] = []
    @Option(name: .customLong("input"), help: "NAME=FILE (.npy or .pb) instead of random data (repeatable).") var inputs: [String] = []
    @Option(help: "Timed runs per backend and batch.") var runs = 20
    @Option(help: "Untimed warm-up runs.") var warmup = 3
    @Option(help: "Seconds after which a backend's timed runs stop early (at least 3 runs).") var timeLimit = 30.0
    @Option(help: "CPU threads (default: all cores).") var threads: Int?
    @Option(help: "The largest tensor a node may produce, in bytes, or with K, M, G, T (default: a quarter of physical memory, at least 1G).",
            transform: Limits.byteCount)
    var maxTensorBytes: Int?
    @Option(help: "Seed for random inputs.") var seed: UInt64 = 0
    @Flag(help: "Time each op type and list the slowest nodes.") var profile = false
    @Option(help: "Write a chrome://tracing JSON of one profiled run to this file.") var trace: String?
    @Option(help: "Write a machine-readable report (see Benchmarks/README.md) to this file.") var json: String?
    @Flag(help: "Also time onnxruntime's CPU provider (Python) on the same inputs, alternating runs.") var compareOrt = false
    @Flag(help: "Also time ncnn (Python, the model converted by pnnx) on the CPU and on the Vulkan devices, alternating runs.")
    var compareNcnn = false
    @Option(help: "Python interpreter for --compare-ort and --compare-ncnn.") var python = "python3"
    @Option(help: "The peer bridge script for --compare-ort and --compare-ncnn.") var bridgeScript = "Benchmarks/peer_bridge.py"
    @Option(help: "Save the embedded ResNet-50 to this path and exit.") var writeModel: String?

    func run() throws {
        do { try execute() } catch let e as BenchError {
            print("onnx-bench: error: \(e)")
            throw ExitCode(2)
        } catch let e as VonnxError {
            print("onnx-bench: error: \(e)")
            throw ExitCode(2)
        }
    }

    private func execute() throws {
        if let writeModel {
            try ModelWriter.write(ResNet50.model(seed: seed), path: writeModel)
            print("wrote ResNet-50 v1 to \(writeModel)")
            return
        }
        // every session loads the model afresh from a file (the embedded one is written to a
        // temporary file first) and the harness keeps no copy: a session's memory is then what
        // a process that opens the model and runs it holds, as onnxruntime's bridge does
        let jobs: [BenchJob]
        if suite {
            jobs = try BenchJob.suite(folder: suiteDir, names: models)
        } else {
            guard models.count <= 1 else { throw BenchError("give one model, or --suite with model names") }
            jobs = [BenchJob(name: models.first ?? "resnet50 (embedded)", path: models.first ?? "/tmp/onnx-bench-\(getpid()).onnx",
                             batches: batch, inputs: inputs)]
            if models.isEmpty { try ModelWriter.write(ResNet50.model(seed: seed), path: jobs[0].path) }
        }
        defer { if models.isEmpty && !suite { unlink(jobs[0].path) } }
        guard runs > 0, warmup >= 0 else { throw BenchError("--runs must be positive and --warmup non-negative") }

        var results: [BenchResult] = []
        var profiles: [(String, Profile)] = []
        for job in jobs {
            let (modelResults, modelProfiles) = try bench(job)
            progress("")
            print(Report.table(model: job.name, results: modelResults))
            if profile { for (label, p) in modelProfiles { print(Report.profileSummary(label: label, profile: p)) } }
            results += modelResults
            profiles += modelProfiles
        }
        if suite { print(Report.suiteSummary(results)) }
        if let trace, let first = profiles.first { try writeText(Report.chromeTrace(first.1), to: trace) }
        if let json { try writeText(Report.json(model: suite ? "suite" : jobs[0].name, results: results), to: json) }
    }

    /// One model on every backend, batch size and peer asked for, and its profiles.
    private func bench(_ job: BenchJob) throws -> ([BenchResult], [(String, Profile)]) {
        let plan = try BenchPlan(inputs: ModelReader.load(path: job.path).graph.inputs, batchList: job.batches, dims: dims,
                                 inputFiles: job.inputs, backends: backends, threads: threads ?? SessionOptions().threads)
        var results: [BenchResult] = []
        var profiles: [(String, Profile)] = []
        let devices: [String?] = device.map { $0.split(separator: ",").map { String($0.trimmingCharacters()) } } ?? [nil]
        for b in plan.batches {
            let feeds = try plan.inputs(batch: b, seed: seed)
            var reference: [Tensor]?
            for (backend, vulkanDevice) in plan.backends.flatMap({ b in b == .vulkan ? devices.map { (b, $0) } : [(b, nil)] }) {
                let label = "\(job.name): \(backend.rawValue)\(vulkanDevice.map { "[\($0)]" } ?? "") batch \(b)"
                var runner = Runner(modelPath: job.path, backend: backend, threads: plan.threads, runs: runs, warmup: warmup,
                                    timeLimit: timeLimit, label: label)
                runner.vulkanDevice = vulkanDevice
                if backend == .vulkan { runner.precision = precision }
                if let maxTensorBytes { runner.limits.maxTensorBytes = maxTensorBytes }
                var peers: [PeerBridge] = [], unavailable: [BenchResult] = []
                defer { for p in peers { p.stop() } }
                for engine in peerEngines(backend) {
                    progress("\(label): starting \(engine.rawValue)")
                    do {
                        peers.append(try PeerBridge.start(engine: engine, python: python, script: bridgeScript, modelPath: job.path,
                                                          threads: plan.threads, device: vulkanDevice ?? SessionOptions.fromEnvironment().vulkanDevice,
                                                          feeds: plan.ordered(feeds)))
                    } catch let e as PeerUnavailable {
                        unavailable.append(.failed(engine.rawValue, device: engine == .ncnnVulkan ? "vulkan" : "cpu", batch: b,
                                                   threads: plan.threads, reason: e.description))
                    }
                }
                defer { results += unavailable }
                var (result, peerResults): (BenchResult, [BenchResult])
                do {
                    (result, peerResults) = try runner.measure(feeds: feeds, batch: b, peers: peers)
                } catch let e as VonnxError where suite || plan.backends.count > 1 {
                    results.append(.failed(backend.rawValue, device: vulkanDevice ?? backend.rawValue, batch: b, threads: plan.threads,
                                           reason: "\(e)"))
                    continue
                }
                if let reference { result.relativeError = relativeL2(result.outputs, reference) }
                reference = reference ?? result.outputs
                if profile || trace != nil { profiles.append(("\(job.name) \(backend.rawValue) batch \(b)", try runner.profile(feeds: feeds))) }
                results.append(result)
                for var peer in peerResults {
                    // ncnn drops batch dims of 1: its outputs take the reference's shapes
                    peer.relativeError = relativeL2(peer.outputs.reshaped(like: reference ?? peer.outputs), reference ?? peer.outputs)
                    results.append(peer)
                }
            }
        }
        return (results.map { var r = $0; r.model = job.name; r.outputs = []; return r }, profiles)
    }

    /// The peers timed in alternation with a backend's runs.
    private func peerEngines(_ backend: Backend) -> [PeerEngine] {
        switch backend {
        case .cpu: return (compareOrt ? [.onnxruntime] : []) + (compareNcnn ? [.ncnnCPU] : [])
        case .vulkan: return compareNcnn ? [.ncnnVulkan] : []
        case .auto: return []
        }
    }
}

/// One model to benchmark: its name in the report, its file, batch sizes and input files.
struct BenchJob {
    let name: String
    let path: String
    let batches: String
    let inputs: [String]

    /// The suite's models listed in `folder`/suite.txt (lines `NAME BATCHES [INPUT=FILE...]`,
    /// files relative to the folder), all or those named.
    static func suite(folder: String, names: [String]) throws -> [BenchJob] {
        guard let text = readText("\(folder)/suite.txt") else {
            throw BenchError("no \(folder)/suite.txt: write the suite with scripts/setup.sh (or Benchmarks/suite/make_suite.py \(folder))")
        }
        let all = text.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.filter { !$0.isEmpty }.map { w in
            BenchJob(name: w[0], path: "\(folder)/\(w[0]).onnx", batches: w.count > 1 ? w[1] : "1",
                     inputs: w.dropFirst(2).map { spec in spec.replacingFirst("=", with: "=\(folder)/") })
        }
        let wanted = names.flatMap { $0.split(separator: ",").map(String.init) }
        if let unknown = wanted.first(where: { n in !all.contains { $0.name == n } }) {
            throw BenchError("'\(unknown)' is not in the suite (\(all.map(\.name).joined(separator: ", ")))")
        }
        return wanted.isEmpty ? all : all.filter { wanted.contains($0.name) }
    }
}

/// What to run: batch sizes, backends, input shapes.
struct BenchPlan {
    let inputs: [ValueInfo]
    let batches: [Int]
    let backends: [Backend]
    let threads: Int
    let openDims: OpenDims
    let files: [String: Tensor]
    /// Where --batch goes: the first input's first dim, when it is not fixed.
    let batchDim: (input: String, dim: Dim)?

    init(inputs: [ValueInfo], batchList: String, dims: [String], inputFiles: [String], backends: String, threads: Int) throws {
        self.inputs = inputs
        self.threads = threads
        openDims = try OpenDims(specs: dims, inputs: inputs)
        var files: [String: Tensor] = [:]
        for spec in inputFiles {
            guard let eq = spec.firstIndex(of: "=") else { throw BenchError("--input '\(spec)' must be NAME=FILE") }
            let name = String(spec[..<eq]), path = String(spec[spec.index(after: eq)...])
            guard inputs.contains(where: { $0.name == name }) else { throw BenchError("'\(name)' is not an input of the model") }
            files[name] = path.hasSuffix(".pb") ? try TensorProtoCodec.read(path: path).tensor : try Npy.read(path: path)
        }
        self.files = files
        if let first = inputs.first, let dim = first.type?.shape?.first, dim.value == nil { batchDim = (first.name, dim) } else { batchDim = nil }
        let list = batchList.split(separator: ",").map { Int($0.trimmingCharacters()) }
        guard !list.isEmpty, list.allSatisfy({ ($0 ?? 0) > 0 }) else { throw BenchError("--batch '\(batchList)' must be a comma-separated list of positive integers") }
        if batchDim == nil && list != [1] { throw BenchError("--batch needs a model whose first input has an open first dim") }
        batches = list.map { $0! }
        self.backends = try backends.split(separator: ",").map { name in
            guard let b = Backend(rawValue: name.trimmingCharacters()), b != .auto else {
                throw BenchError("unknown backend '\(name)' (expected cpu or vulkan)")
            }
            return b
        }
    }

    /// The open dims' values with the batch dim set to `batch`.
    private func dims(batch: Int) -> OpenDims {
        switch batchDim {
        case (_, .symbol(let s))?: openDims.setting(s, to: batch)
        case (let input, _)?: openDims.setting(input: input, axis: 0, to: batch)
        case nil: openDims
        }
    }

    /// The feeds in the model's input order (as a peer engine numbers its inputs).
    func ordered(_ feeds: [String: Tensor]) -> [(String, Tensor)] {
        inputs.compactMap { info in feeds[info.name].map { (info.name, $0) } }
    }

    /// Seeded random inputs (floats uniform in [0, 1)) at this batch size, or the files given.
    func inputs(batch: Int, seed: UInt64) throws -> [String: Tensor] {
        var generator = NormalGenerator(seed: seed)
        var feeds: [String: Tensor] = [:]
        for info in self.inputs {
            if let t = files[info.name] { feeds[info.name] = t; continue }
            guard let type = info.type?.elementType else { throw BenchError("input '\(info.name)' has no tensor type; give --input") }
            let shape = try dims(batch: batch).shape(of: info, tool: "onnx-bench")
            guard let n = checkedElementCount(shape, limit: 1 << 31) else { throw BenchError("input '\(info.name)' shape \(shape) is too large; give --input") }
            switch type {
            case .float: feeds[info.name] = Tensor(shape: shape, scalars: (0..<n).map { _ in generator.uniform() })
            case .int64: feeds[info.name] = Tensor(shape: shape, scalars: (0..<n).map { _ in Int64(generator.uniform() * 10) })
            default: throw BenchError("input '\(info.name)' is \(type); give --input")
            }
        }
        return feeds
    }
}

extension Substring {
    func trimmingCharacters() -> String { String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()) }
}

extension String {
    func replacingFirst(_ target: Character, with replacement: String) -> String {
        guard let i = firstIndex(of: target) else { return self }
        return self[..<i] + replacement + self[index(after: i)...]
    }
}

extension [Tensor] {
    /// Each tensor in the shape of its counterpart in `reference` when their element counts agree.
    func reshaped(like reference: [Tensor]) -> [Tensor] {
        guard count == reference.count else { return self }
        return zip(self, reference).map { $0.count == $1.count ? $0.reshaped($1.shape) : $0 }
    }
}

/// Relative L2 error ‖a − b‖ / ‖b‖ over all outputs (float outputs only).
func relativeL2(_ a: [Tensor], _ b: [Tensor]) -> Double {
    // outputs that differ in number or shape disagree outright
    guard a.count == b.count, zip(a, b).allSatisfy({ $0.shape == $1.shape }) else { return .infinity }
    var num = 0.0, den = 0.0
    for (x, y) in zip(a, b) where x.dataType.isFloatingPoint {
        for (p, q) in zip(x.doubles(), y.doubles()) { num += (p - q) * (p - q); den += q * q }
    }
    return den > 0 ? (num / den).squareRoot() : (num == 0 ? 0 : .infinity)
}

extension Precision: ExpressibleByArgument {}
