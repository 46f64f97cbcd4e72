import ArgumentParser
import Glibc
import Vonnx
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
    @Option(help: "Vulkan device: an index or a name substring (default: VONNX_VULKAN_DEVICE, else the best GPU).")
    var device: String?
    @Flag(help: "List the Vulkan devices and exit.") var listDevices = false
    @Flag(help: "Print the backend in use, why it fell back to the CPU, and the nodes left to the CPU.") var verbose = false
    @Option(help: "CPU threads (default: all cores).") var threads: Int?
    @OptionGroup(title: "Batch mode") var batch: BatchOptions

    enum OutputFormat: String, ExpressibleByArgument { case npy, pb }

    /// Errors propagate to ArgumentParser, which prints them on one line and exits 1.
    func run() throws {
        if listDevices {
            for d in try Session.vulkanDevices() {
                print("\(d.index)\t\(d.name)\t\(d.kind)\t\(d.driver.isEmpty ? "unknown driver" : d.driver)\t"
                      + "Vulkan \(d.apiVersion)\t\(d.deviceLocalBytes >> 20) MiB")
            }
            return
        }
        guard let model else { throw ValidationError("missing the .onnx model file") }
        var options = SessionOptions(threads: threads, backend: backend)
        if let device { options.vulkanDevice = device }
        if let input = batch.batchInput { runBatch(batch, input: input, model: model, options: options) }
        let session = try Session(path: model, options: options)
        if verbose {
            print("backend: \(session.activeBackend.rawValue)"
                  + (session.vulkan.map { " (\($0.info.name), \(session.vulkanPartitionCount) partition(s))" } ?? ""))
            if let reason = session.fallbackReason { print("fallback: \(reason)") }
            if !session.fallbackNodes.isEmpty {
                print("on the CPU (\(session.fallbackNodes.count)): \(session.fallbackNodes.joined(separator: ", "))")
            }
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
            let shape = try openDims.shape(of: info, tool: "onnx-run")
            feeds[info.name] = try RandomInput.tensor(for: info, shape: shape, generator: &generator)
        }
        let outputs = try session.runOrdered(feeds)
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
    /// Uniform [0, 1) for floats, 0..<10 for integers, random bools, of `info`'s type in `shape`.
    static func tensor(for info: ValueInfo, shape: [Int], generator: inout SplitMix64) throws -> Tensor {
        guard let type = info.type?.elementType else {
            throw VonnxError.invalidInput("input '\(info.name)' has no tensor type; --random cannot fill it")
        }
        guard let n = checkedElementCount(shape, limit: 1 << 31) else {
            throw VonnxError.invalidInput("input '\(info.name)' shape \(shape) is too large for --random")
        }
        let values = (0..<n).map { _ in Double.random(in: 0..<1, using: &generator) }
        switch type {
        case .float: return Tensor(shape: shape, scalars: values.map { Float($0) })
        case .double: return Tensor(shape: shape, scalars: values)
        case .float16: return Tensor(shape: shape, scalars: values.map { Float16(Float($0)) })
        case .bool: return Tensor(shape: shape, scalars: values.map { $0 < 0.5 })
        case .int64: return Tensor(shape: shape, scalars: values.map { Int64($0 * 10) })
        case .int32: return Tensor(shape: shape, scalars: values.map { Int32($0 * 10) })
        case .uint8: return Tensor(shape: shape, scalars: values.map { UInt8($0 * 10) })
        case .int8: return Tensor(shape: shape, scalars: values.map { Int8($0 * 10) })
        default: throw VonnxError.invalidInput("input '\(info.name)': --random does not generate \(type)")
        }
    }
}
