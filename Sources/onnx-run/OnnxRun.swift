import ArgumentParser
import Glibc
import Vonnx
import VonnxBatch
import VonnxFormat

/// Runs an ONNX model once on inputs from files (or seeded random data) and writes its outputs.
@main
struct OnnxRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onnx-run",
        abstract: "Run an ONNX model on inputs from .npy/.pb files and write its outputs.")

    @Argument(help: "The .onnx model file.") var model: String?
    @Option(name: .customLong("input"), help: "NAME=FILE: an input from a .npy or TensorProto .pb file (repeatable).")
    var inputs: [String] = []
    @Flag(help: "Fill inputs not given with seeded random data.") var random = false
    @Option(help: "Seed for --random.") var seed: UInt64 = 0
    @Option(name: .customLong("dim"), help: "NAME=VALUE: every dim named NAME, or INPUT:AXIS=VALUE: one input's dim (for unnamed or '?' dims), for --random (default 1).")
    var dims: [String] = []
    @Option(help: "Folder for output_<i>.npy / .pb files.") var outputDir: String?
    @Option(help: "Output file format: npy or pb.") var format: OutputFormat = .npy
    @Option(help: "Backend: cpu, vulkan or auto (a GPU when there is one, lavapipe only when named by --device).")
    var backend: Backend = .auto
    @Option(help: "Vulkan device: an index, a name substring, or auto: the GPU of this task by SLURM_LOCALID/LOCAL_RANK and CUDA_VISIBLE_DEVICES/ROCR_VISIBLE_DEVICES (default: VONNX_VULKAN_DEVICE, else the best GPU).")
    var device: String?
    @Option(help: "fp32, or fp16: float16 weights in the Vulkan conv and matrix-product kernels, float32 sums (an error with --backend cpu).")
    var precision: Precision = .fp32
    @Flag(help: "List the Vulkan devices (index, name, kind, driver, Vulkan version, memory, UUID) and exit.") var listDevices = false
    @Flag(help: "Print the backend in use, why it fell back to the CPU, and the nodes left to the CPU (also those a Vulkan kernel rejected when run).") var verbose = false
    @Flag(help: "Run the graph as written, without graph optimizations (to compare against them).") var noOptimize = false
    @Option(help: "CPU threads, 1...\(SessionOptions.maxThreads) (default: all cores).") var threads: Int?
    @Option(help: "Seconds a run (or, in batch mode, each batch) may take before it is cancelled.") var timeout: Double?
    @Option(help: "The largest tensor a node may produce or --random may fill, in bytes, or with K, M, G, T (default: a quarter of physical memory, at least 1G).",
            transform: Limits.byteCount)
    var maxTensorBytes: Int?
    @OptionGroup(title: "Batch mode") var batch: BatchOptions

    enum OutputFormat: String, ExpressibleByArgument { case npy, pb }

    func validate() throws {
        if let threads, !(1...SessionOptions.maxThreads).contains(threads) {
            throw ValidationError("--threads must be 1...\(SessionOptions.maxThreads), not \(threads)")
        }
        if let timeout, !(timeout > 0 && timeout.isFinite) { throw ValidationError("--timeout must be a positive number of seconds") }
    }

    /// Every error is one line on standard error ("Error: ..."), usage errors included (exit
    /// 64, without the usage text ArgumentParser would add), control characters from a model's
    /// names shown as spaces; --help prints as usual.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            let scalars = message(for: error).unicodeScalars.map { c -> Unicode.Scalar in
                [.control, .lineSeparator, .paragraphSeparator].contains(c.properties.generalCategory) ? " " : c
            }
            writeStandardError("Error: \(String(String.UnicodeScalarView(scalars)))\n")
            Glibc.exit(code.rawValue)
        }
    }

    /// Errors propagate to `main`, which prints them on one line and exits 1.
    func run() throws {
        if listDevices {
            for d in try Session.vulkanDevices() {
                print("\(d.index)\t\(d.name)\t\(d.kind)\t\(d.driver.isEmpty ? "unknown driver" : d.driver)\t"
                      + "Vulkan \(d.apiVersion)\t\(d.deviceLocalBytes >> 20) MiB\t\(d.uuidString ?? "no UUID")")
            }
            return
        }
        guard let model else { throw ValidationError("missing the .onnx model file") }
        var options = SessionOptions.fromEnvironment()
        (options.backend, options.optimize, options.precision) = (backend, !noOptimize, precision)
        if let threads { options.threads = threads }
        if device == "auto" {
            if let index = try DeviceAssignment.fromProcess() { options.vulkanDevice = String(index) }
        } else if let device {
            options.vulkanDevice = device
        }
        if let maxTensorBytes { options.limits.maxTensorBytes = maxTensorBytes }
        if let input = batch.batchInput { runBatch(batch, input: input, model: model, options: options) }
        let session = try Session(path: model, options: options)
        if verbose {
            print("backend: \(session.activeBackend.rawValue)"
                  + (session.vulkan.map { " (\($0.info.name), \(session.vulkanPartitionCount) partition(s))" } ?? ""))
            if let reason = session.fallbackReason { print("fallback: \(reason)") }
            if !session.fallbackNodes.isEmpty {
                print("on the CPU (\(session.fallbackNodes.count)): \(session.fallbackNodes.joined(separator: ", "))")
            }
            for body in session.bodyPlacements { print(body) }
        }
        var feeds: [String: Tensor] = [:]
        for spec in inputs {
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else {
                throw VonnxError.invalidArgument("--input '\(spec)' must be NAME=FILE")
            }
            let name = String(spec[..<eq]), file = String(spec[spec.index(after: eq)...])
            guard session.inputs.contains(where: { $0.name == name }) else {
                throw VonnxError.invalidInput("'\(name)' is not an input of \(model) (inputs: \(session.inputs.map(\.name).joined(separator: ", ")))")
            }
            feeds[name] = file.hasSuffix(".pb") ? try TensorProtoCodec.read(path: file).tensor : try Npy.read(path: file)
        }
        var generator = SplitMix64(seed: seed)
        let openDims = try OpenDims(specs: dims, inputs: session.inputs)
        for info in session.inputs where feeds[info.name] == nil {
            guard random else {
                throw VonnxError.invalidInput("missing input '\(info.name)' (\(info.type.map(\.description) ?? "unknown type")); give --input \(info.name)=FILE or --random")
            }
            feeds[info.name] = try RandomInput.tensor(for: info, shape: try openDims.shape(of: info, tool: "onnx-run"),
                                                      maxBytes: options.limits.maxTensorBytes, generator: &generator)
        }
        let outputs = try session.runOrdered(feeds, cancellation: timeout.map { Cancellation(timeout: $0) })
        if verbose { for partition in session.partitionsRunOnCPU { print(partition) } }
        if let outputDir { try makeDirectory(outputDir) }
        for (i, (name, tensor)) in outputs.enumerated() {
            print("\(name): \(tensor.dataType)\(tensor.shape)")
            guard let outputDir else { continue }
            let path = "\(outputDir)/output_\(i).\(format.rawValue)"
            switch format {
            case .npy: try Npy.write(tensor, path: path)
            case .pb: try TensorProtoCodec.write(tensor, name: name, path: path)
            }
        }
    }

    private func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw VonnxError.io(path: path, message: String(cString: strerror(errno)))
        }
    }
}

extension Backend: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}

/// A small, fast, seedable generator (SplitMix64), so --random inputs are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476C_E5E4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum RandomInput {
    /// Uniform [0, 1) for floats, 0..<10 for integers, random bools, of `info`'s type in `shape`,
    /// written straight into the tensor, which may hold at most `maxBytes`.
    static func tensor(for info: ValueInfo, shape: [Int], maxBytes: Int, generator: inout SplitMix64) throws -> Tensor {
        guard let type = info.type?.elementType else {
            throw VonnxError.invalidInput("input '\(info.name)' has no tensor type; --random cannot fill it")
        }
        guard let n = checkedElementCount(shape, limit: maxBytes / max(type.byteSize, 1)) else {
            throw VonnxError.invalidInput("input '\(info.name)' shape \(shape) is larger than the tensor limit of \(maxBytes) bytes")
        }
        do { try StorageCache.checkMappable(byteCount: n * type.byteSize) } catch {
            throw VonnxError.invalidInput("input '\(info.name)' shape \(shape): \(error)")
        }
        func filled<T: TensorElement>(_ make: (Double) -> T) -> Tensor {
            let t = Tensor(uninitialized: T.dataType, shape: shape)
            t.withUnsafeMutableBufferPointer(as: T.self) { out in
                for i in 0..<n { out[i] = make(Double.random(in: 0..<1, using: &generator)) }
            }
            return t
        }
        switch type {
        case .float: return filled { Float($0) }
        case .double: return filled { $0 }
        case .float16: return filled { Float16(Float($0)) }
        case .bool: return filled { $0 < 0.5 }
        case .int64: return filled { Int64($0 * 10) }
        case .int32: return filled { Int32($0 * 10) }
        case .uint8: return filled { UInt8($0 * 10) }
        case .int8: return filled { Int8($0 * 10) }
        default: throw VonnxError.invalidInput("input '\(info.name)': --random does not generate \(type)")
        }
    }
}
