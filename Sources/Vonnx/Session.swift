import Glibc
import VonnxCPU
import VonnxFormat

/// Where a session runs its nodes.
public enum Backend: String, Sendable, CaseIterable {
    case cpu, vulkan, auto
}

public struct SessionOptions: Sendable {
    /// Threads for the CPU kernels (default: the machine's online cores).
    public var threads: Int
    public var backend: Backend
    /// Whether nodes the preferred backend cannot run may fall back to the CPU.
    public var allowFallback: Bool
    /// Graph optimizations (dead-node removal, constant folding); off runs the graph as written.
    public var optimize: Bool

    public init(threads: Int? = nil, backend: Backend = .auto, allowFallback: Bool = true, optimize: Bool = true) {
        self.threads = max(1, threads ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        self.backend = backend
        self.allowFallback = allowFallback
        self.optimize = optimize
    }
}

/// A loaded, checked and optimized model, ready to run. Immutable; `run` may be called from
/// several threads at once.
public final class Session: Sendable {
    /// The model as it runs (after optimization).
    public let model: Model
    public let options: SessionOptions
    public var inputs: [ValueInfo] { model.graph.inputs }
    public var outputs: [ValueInfo] { model.graph.outputs }
    private let interpreter: Interpreter

    public convenience init(path: String, options: SessionOptions = .init()) throws {
        try self.init(model: ModelReader.load(path: path), options: options)
    }

    public convenience init(bytes: [UInt8], options: SessionOptions = .init()) throws {
        try self.init(model: ModelReader.load(bytes: bytes, baseDirectory: nil), options: options)
    }

    public init(model: Model, options: SessionOptions = .init()) throws {
        if options.backend == .vulkan {
            throw VonnxError.invalidArgument("the Vulkan backend is not available in this build; use --backend cpu or auto")
        }
        self.options = options
        let pool = ThreadPool(threads: options.threads)
        let prepared = try Optimizer(opsets: model.opsets, optimize: options.optimize).prepare(model.graph)
        var optimized = model
        optimized.graph = prepared
        self.model = optimized
        interpreter = try Interpreter(graph: prepared, opsets: model.opsets, pool: pool)
    }

    /// Runs the model on named inputs and returns every graph output by name.
    public func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        Dictionary(try runOrdered(feeds).map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
    }

    /// Runs the model and returns the outputs in the graph's output order; with `profile`,
    /// records one timed event per node.
    public func runOrdered(_ feeds: [String: Tensor], profile: Profile? = nil) throws -> [(name: String, tensor: Tensor)] {
        try InputCheck.validate(feeds, against: model.graph.inputs)
        let results = try interpreter.run(model.graph.inputs.map { feeds[$0.name]! }, profile: profile)
        return zip(model.graph.outputs, results).map { ($0.name, $1) }
    }
}
