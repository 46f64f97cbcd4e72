import VonnxCPU
#if Vulkan
import VonnxVulkan
#endif

/// Where a session's nodes run, decided once when it is made: the optimized graph, and the
/// graph the interpreter runs, where each Vulkan partition stands as one node.
struct Placement {
    /// The model's graph after optimization (what `Session.model` holds).
    let prepared: Graph
    /// `prepared` with each partition replaced by the node standing for it.
    let graph: Graph
    /// The partitions by the names of the nodes standing for them.
    let partitions: [String: any Partition]
    /// Labels of the nodes left to the CPU when there are partitions (control-flow bodies' included).
    let cpuNodes: [String]
    /// How each control-flow body was placed, when there are partitions.
    let bodies: [BodyPlacement]
    /// Why a session that asked for `.vulkan` or `.auto` runs wholly on the CPU (nil for `.cpu`).
    let reason: String?
    #if Vulkan
    /// The device the partitions run on, or nil when there are none.
    let device: VulkanDevice?
    #endif

    /// Optimizes `model`'s graph, which it takes out of `model` (so that the weights it replaces
    /// can be freed), and places its nodes as `options` ask; threads `pool` runs the CPU's share.
    /// Throws what the optimizer throws, and when `.vulkan` cannot be had.
    init(_ model: inout Model, options: SessionOptions, pool: ThreadPool) throws {
        if options.backend == .cpu && options.precision == .fp16 {
            throw VonnxError.invalidArgument("precision fp16 needs the Vulkan backend: the CPU backend computes in float32 only")
        }
        let (device, noDevice) = try openDevice(options)
        var source = Graph(name: model.graph.name)
        swap(&source, &model.graph)
        var prepared = try Optimizer(opsets: model.opsets, optimize: options.optimize, limits: options.limits,
                                     cpuOnly: device == nil).prepare(consume source)
        #if Vulkan
        var placement: VulkanPlacement?, reason = noDevice
        if let device {
            do {
                let split = splittingOversizedWeights(prepared, maxBytes: device.maxBufferBytes)
                let placed = try VulkanPlacement(split, device: device, opsets: model.opsets, pool: pool, limits: options.limits,
                                                 fallback: options.allowFallback)
                if options.backend == .vulkan && !options.allowFallback && !placed.cpuNodes.isEmpty {
                    throw UnsupportedOnVulkan(nodes: placed.cpuNodes.map { "'\($0.label)' (\($0.opType))" })
                }
                if placed.partitions.isEmpty {
                    reason = "no node of the model can run on \(device.info.name)"
                } else {
                    placement = placed
                }
            } catch where options.backend == .auto {
                // .auto never fails where the CPU would run (an oversized weight, say).
                reason = "\(error)"
            }
        }
        self.device = placement == nil ? nil : device
        if placement == nil && options.optimize { prepared = packingMatMulWeights(consume prepared) }
        self.prepared = prepared
        graph = placement?.graph ?? prepared
        partitions = placement?.partitions ?? [:]
        cpuNodes = placement?.cpuNodes.map(\.label) ?? []
        bodies = placement?.bodies ?? []
        self.reason = reason
        #else
        if options.optimize { prepared = packingMatMulWeights(consume prepared) }
        self.prepared = prepared
        graph = prepared
        partitions = [:]
        cpuNodes = []
        bodies = []
        reason = noDevice
        #endif
    }
}

/// A Vulkan partition that ran on the CPU for some input shapes, because a kernel rejected them.
public struct PartitionRunOnCPU: Sendable, CustomStringConvertible {
    /// The partition's name ("vulkan-partition-K", after its body's path inside control flow).
    public let partition: String
    /// How many nodes the partition holds.
    public let nodes: Int
    /// The kernel's error, naming the node.
    public let reason: String

    /// "PARTITION (N nodes) ran on the CPU: REASON".
    public var description: String { "\(partition) (\(nodes) node\(nodes == 1 ? "" : "s")) ran on the CPU: \(reason)" }
}

#if Vulkan
/// The Vulkan device `options` asks for, or nil and why not: `vulkanDeviceOf`'s when set;
/// `.vulkan` throws when there is none; `.auto` takes a GPU, or a CPU device (lavapipe) only
/// when named.
private func openDevice(_ options: SessionOptions) throws -> (VulkanDevice?, String?) {
    let vulkanOptions = VulkanOptions(device: options.vulkanDevice, validation: options.vulkanValidation,
                                      kernelVariants: options.vulkanKernelVariants, precision: options.precision,
                                      narrow64: options.vulkanNarrow64)
    if options.backend != .cpu, let other = options.vulkanDeviceOf {
        guard let device = other.vulkan else {
            throw VonnxError.invalidArgument("vulkanDeviceOf names a session that runs on the CPU (\(other.fallbackReason ?? "backend .cpu"))")
        }
        return (device, nil)
    }
    switch options.backend {
    case .cpu:
        return (nil, nil)
    case .vulkan:
        return (try VulkanDevice(options: vulkanOptions), nil)
    case .auto:
        if options.vulkanDevice == nil {
            let devices = (try? VulkanDevice.availableDevices()) ?? []
            guard devices.contains(where: { $0.kind != "cpu" }) else {
                return (nil, devices.isEmpty ? "no Vulkan device found"
                    : "the Vulkan devices (\(devices.map(\.name).joined(separator: ", "))) run on the CPU, slower than "
                        + "the CPU backend; name one (vulkanDevice, --device) to use it")
            }
        }
        do { return (try VulkanDevice(options: vulkanOptions), nil) } catch { return (nil, "\(error)") }
    }
}
#else
/// Without the Vulkan trait there is no device: `.vulkan` throws, `.auto` says why it runs on the CPU.
private func openDevice(_ options: SessionOptions) throws -> (Never?, String?) {
    let why = "this build of Vonnx has no Vulkan backend (its package trait 'Vulkan' is off)"
    switch options.backend {
    case .cpu: return (nil, nil)
    case .vulkan: throw VonnxError.invalidArgument("backend .vulkan: \(why)")
    case .auto: return (nil, why)
    }
}
#endif
