import Glibc
import VonnxCPU
import VonnxFormat
#if Vulkan
import VonnxVulkan
#endif

/// Where a session runs its nodes.
public enum Backend: String, Sendable, CaseIterable {
    /// Every node on the CPU.
    case cpu
    /// A Vulkan device; making the session throws when there is none.
    case vulkan
    /// A GPU when there is one, else the CPU (`Session.fallbackReason` says why).
    case auto
}

/// How a ``Session`` loads and runs a model. The initializer reads no environment variable;
/// ``fromEnvironment()`` is the explicit way to honour them.
public struct SessionOptions: Sendable {
    /// Threads for the CPU kernels (default: the machine's online cores).
    public var threads: Int
    /// The backend to prefer (default `.auto`: a GPU when there is one, else the CPU).
    public var backend: Backend
    /// Whether nodes the preferred backend cannot run may fall back to the CPU.
    public var allowFallback: Bool
    /// Graph optimizations (dead-node removal, constant folding); off runs the graph as written.
    public var optimize: Bool
    /// The Vulkan device: an index ("0") or a case-insensitive name substring ("llvmpipe");
    /// nil takes the best GPU. With `.auto`, a CPU Vulkan device (lavapipe) is used only when
    /// named here.
    public var vulkanDevice: String?
    /// Vulkan kernel variants forced whatever the device, as "FAMILY=VARIANT,…" ("gemm=tiled");
    /// nil chooses each kernel's variant for the device. For tests and comparisons.
    public var vulkanKernelVariants: String?
    /// `.fp16` stores the Vulkan conv and matrix-product kernels' weights as float16, summing in
    /// float32 (see ``/VonnxIR/Precision``; ResNet-50 stays within a relative L2 error of 1e-2 of `.fp32`);
    /// nodes that run on the CPU compute in float32. With `.cpu`, `.fp16` is an error. The
    /// default is `.fp32`. With `vulkanDeviceOf`, the other session's precision applies.
    public var precision: Precision
    /// Keeps every Vulkan element one 32-bit word (int64 and uint64 narrowed, float64 on the
    /// CPU) even where the device could hold 64-bit types in 8 bytes (`VulkanOptions.narrow64`).
    /// For tests and comparisons.
    public var vulkanNarrow64: Bool
    /// Turns on the Vulkan validation layer; its messages are read with
    /// `session.vulkan?.takeValidationMessages()`.
    public var vulkanValidation: Bool
    /// What a model may ask of memory and time (tensor size, Loop iterations, subgraph depth).
    public var limits: Limits
    /// A session whose Vulkan device this one runs on instead of opening its own (so that
    /// ``DeviceTensor``s pass between them); the device settings above are then that session's.
    /// Making the session throws when that one runs on the CPU. Ignored by `.cpu`.
    public var vulkanDeviceOf: Session?

    /// The most CPU threads a session accepts.
    public static let maxThreads = 1024

    /// Each argument sets the property of its name; nil `threads` takes the online cores.
    public init(threads: Int? = nil, backend: Backend = .auto, allowFallback: Bool = true, optimize: Bool = true,
                vulkanDevice: String? = nil, vulkanKernelVariants: String? = nil,
                vulkanValidation: Bool = false, precision: Precision = .fp32, limits: Limits = .init(),
                vulkanDeviceOf: Session? = nil, vulkanNarrow64: Bool = false) {
        self.threads = max(1, threads ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        self.backend = backend
        self.allowFallback = allowFallback
        self.optimize = optimize
        self.vulkanDevice = vulkanDevice.flatMap { $0.isEmpty ? nil : $0 }
        self.vulkanKernelVariants = vulkanKernelVariants
        self.vulkanValidation = vulkanValidation
        self.precision = precision
        self.limits = limits
        self.vulkanDeviceOf = vulkanDeviceOf
        self.vulkanNarrow64 = vulkanNarrow64
    }

    /// The defaults, with the Vulkan settings the environment names: `vulkanDevice` from
    /// VONNX_VULKAN_DEVICE, `vulkanKernelVariants` from VONNX_VULKAN_KERNELS (empty counts
    /// as unset) and `vulkanNarrow64` when VONNX_VULKAN_NARROW64 is 1. What the command-line
    /// tools start from.
    public static func fromEnvironment() -> SessionOptions {
        func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
        return SessionOptions(vulkanDevice: env("VONNX_VULKAN_DEVICE"), vulkanKernelVariants: env("VONNX_VULKAN_KERNELS"),
                              vulkanNarrow64: env("VONNX_VULKAN_NARROW64") == "1")
    }
}

/// A `.vulkan` session without fallback has nodes the Vulkan kernels cannot run.
public struct UnsupportedOnVulkan: Error, Sendable, CustomStringConvertible {
    /// Each node as "'label' (op)".
    public let nodes: [String]
    public var description: String {
        "the Vulkan backend cannot run \(nodes.count) node(s) and fallback is off: \(nodes.joined(separator: ", "))"
    }
}

/// A loaded, checked and optimized model, ready to run. Immutable; `run` may be called from
/// several threads at once.
public final class Session: Sendable {
    /// The model as it runs (after optimization); its `producer`, `producerVersion`,
    /// `opsets` and `metadata` (`metadata_props`) are the file's. On the CPU, a MatMul weight
    /// that only the packed kernel reads is a vonnx PackedMatMul's input holding the packed
    /// panels, under the weight's name, not the [K, N] matrix.
    public let model: Model
    /// The options the session was made with.
    public let options: SessionOptions
    /// The inputs `run` takes, in the model's order: each one's `name`, `elementType` and
    /// `shape` (numbers, symbolic names such as "batch", or unknown).
    public var inputs: [ValueInfo] { model.graph.inputs }
    /// The outputs `run` returns, in the model's order, as declared (a type may be missing).
    public var outputs: [ValueInfo] { model.graph.outputs }
    /// Where the nodes run: `.vulkan` when at least one Vulkan partition exists, else `.cpu`.
    public let activeBackend: Backend
    /// Why a session that asked for `.vulkan` or `.auto` runs (wholly) on the CPU.
    public let fallbackReason: String?
    /// Labels of the nodes placed on the CPU in a session that uses a Vulkan device.
    public let fallbackNodes: [String]
    /// How many runs of consecutive nodes execute on the Vulkan device (control-flow bodies' included).
    public let vulkanPartitionCount: Int
    /// How the bodies of the control-flow nodes (If, Loop, Scan), which the host runs, were
    /// placed on the Vulkan device: one entry a body, nested ones included; empty on the CPU.
    public let bodyPlacements: [BodyPlacement]
    /// The Vulkan partitions whose nodes ran on the CPU because a kernel rejected the input shapes
    /// met so far (a 3-D Conv, say), which only recording finds out; `fallbackNodes` are those
    /// placed on the CPU up front. Empty when every partition ran on the device.
    public var partitionsRunOnCPU: [PartitionRunOnCPU] {
        #if Vulkan
        vulkanPartitions.flatMap { name, partition in
            partition.rejections.map { PartitionRunOnCPU(partition: name, nodes: partition.nodes.count, reason: $0) }
        }
        #else
        []
        #endif
    }
    #if Vulkan
    /// The Vulkan device the partitions run on, or nil. (With the package trait `Vulkan` only.)
    public let vulkan: VulkanDevice?
    /// The partition that is the whole graph, when there is one: what `run(onDevice:)` runs.
    let wholeGraphPartition: VulkanPartition?
    /// The Vulkan partitions by name, in name order.
    private let vulkanPartitions: [(name: String, partition: VulkanPartition)]
    #endif
    private let interpreter: Interpreter

    /// Loads the model file at `path` (external data beside it); throws when it cannot be
    /// read, is not a usable model, or `options` cannot be met.
    public convenience init(path: String, options: SessionOptions = .init()) throws {
        try self.init(model: ModelReader.load(path: path), options: options)
    }

    /// Loads a model from its serialized bytes (no external data).
    public convenience init(bytes: [UInt8], options: SessionOptions = .init()) throws {
        try self.init(model: ModelReader.load(bytes: bytes, baseDirectory: nil), options: options)
    }

    /// Checks, optimizes and places an in-memory model. Weights that only the CPU's packed
    /// kernels read are held packed only (see `model`); their original bytes are freed once
    /// no copy of `model` outside the session holds them.
    public init(model: consuming Model, options: SessionOptions = .init()) throws {
        self.options = options
        guard (1...SessionOptions.maxThreads).contains(options.threads) else {
            throw VonnxError.invalidArgument("threads must be 1...\(SessionOptions.maxThreads), not \(options.threads)")
        }
        let pool = ThreadPool(threads: options.threads)
        let placement = try Placement(&model, options: options, pool: pool)
        model.graph = placement.prepared
        self.model = model
        #if Vulkan
        vulkan = placement.device
        wholeGraphPartition = placement.graph.nodes.count == 1 ? placement.partitions[placement.graph.nodes[0].name] as? VulkanPartition : nil
        vulkanPartitions = placement.partitions.compactMap { name, p in (p as? VulkanPartition).map { (name, $0) } }
            .sorted { $0.name < $1.name }
        #endif
        activeBackend = placement.partitions.isEmpty ? .cpu : .vulkan
        fallbackReason = placement.reason
        fallbackNodes = placement.cpuNodes
        bodyPlacements = placement.bodies
        vulkanPartitionCount = placement.partitions.count
        interpreter = try Interpreter(graph: placement.graph, opsets: model.opsets, pool: pool,
                                      limits: options.limits, partitions: placement.partitions)
    }

    #if Vulkan
    /// Every Vulkan device the loader sees; throws when there is no Vulkan driver.
    public static func vulkanDevices() throws -> [VulkanDeviceInfo] { try VulkanDevice.availableDevices() }
    #endif

    /// Runs the model on named inputs and returns its outputs by name: those named in
    /// `outputs` (only the nodes they need run), or every one when nil. `cancellation` stops
    /// the run (throwing `RunCancelled`) when cancelled or past its deadline. Blocks the
    /// calling thread until the run ends; in Swift concurrency code, `await` the async overload.
    public func run(_ feeds: [String: Tensor], outputs: [String]? = nil,
                    cancellation: Cancellation? = nil) throws -> [String: Tensor] {
        Dictionary(try runOrdered(feeds, outputs: outputs, cancellation: cancellation).map { ($0.name, $0.tensor) },
                   uniquingKeysWith: { a, _ in a })
    }

    /// `run(_:outputs:cancellation:)` for Swift concurrency: the run goes on a thread of its
    /// own, so the awaiting task holds no thread of the cooperative pool (which has one a core)
    /// while the model runs. Cancelling the task stops the run, which throws `RunCancelled`.
    public func run(_ feeds: [String: Tensor], outputs: [String]? = nil,
                    cancellation: Cancellation? = nil) async throws -> [String: Tensor] {
        let task = Cancellation(within: cancellation)
        return try await withTaskCancellationHandler {
            try await onOwnThread { try self.run(feeds, outputs: outputs, cancellation: task) }
        } onCancel: {
            task.cancel()
        }
    }

    /// Runs the model and returns the outputs named in `outputs` in that order (only the
    /// nodes they need run), or every output in the graph's order when nil; with `profile`,
    /// records one timed event per node run. Throws `invalidArgument` for a name that is not
    /// an output.
    public func runOrdered(_ feeds: [String: Tensor], outputs: [String]? = nil, profile: Profile? = nil,
                           cancellation: Cancellation? = nil) throws -> [(name: String, tensor: Tensor)] {
        let declared = model.graph.outputs.map(\.name)
        let wanted = try outputs.map(outputIndices)
        try InputCheck.validate(feeds, against: model.graph.inputs)
        let results = try StorageCache.duringRun {
            try interpreter.run(model.graph.inputs.map { feeds[$0.name]! }, wanted: wanted, profile: profile,
                                cancellation: cancellation)
        }
        return zip(wanted ?? Array(declared.indices), results).map { (declared[$0], $1) }
    }
}

extension Session {
    /// The index in the model's outputs of each of `names`; throws for a name that is not an output.
    func outputIndices(_ names: [String]) throws -> [Int] {
        let declared = model.graph.outputs.map(\.name)
        return try names.map { name in
            guard let i = declared.firstIndex(of: name) else {
                throw VonnxError.invalidArgument("'\(name)' is not an output of the model (outputs: \(declared.joined(separator: ", ")))")
            }
            return i
        }
    }
}

/// A closure handed to a new thread.
private final class ThreadJob {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Runs `body` on a new thread and resumes with its result, so the awaiting task blocks no
/// thread of Swift's cooperative pool. Throws when no thread can be started.
private func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let job = Unmanaged.passRetained(ThreadJob { continuation.resume(with: Result { try body() }) }).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { raw in
            Unmanaged<ThreadJob>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, job)
        if started == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<ThreadJob>.fromOpaque(job).release()
            continuation.resume(throwing: VonnxError.invalidArgument("cannot start a thread for the run (pthread_create: error \(started))"))
        }
    }
}
