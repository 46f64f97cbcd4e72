#if Vulkan
import VonnxVulkan

/// A tensor kept in a Vulkan device's memory, so that runs can pass values to each other (a
/// pipeline of models, or one model fed its own output) without copying them through the host.
///
/// Made by ``Session/upload(_:)`` and ``Session/run(onDevice:outputs:)``; read with
/// ``toHost()``. Immutable: no run writes into it (runs copy inputs in and outputs out on the
/// device), so any number of threads may use it at once. It keeps its device and memory alive
/// for as long as it lives, after the session that made it is gone. A session takes it only
/// when it runs on the same device, that is the session that made it or one made with
/// ``SessionOptions/vulkanDeviceOf``; another throws. Element types: float32, int32, int64
/// (held as 32-bit integers, as the Vulkan kernels compute) and bool.
public final class DeviceTensor: Sendable, CustomStringConvertible {
    /// The device it lives on.
    public let device: VulkanDevice
    let tensor: VulkanTensor

    init(_ tensor: VulkanTensor, on device: VulkanDevice) {
        self.tensor = tensor
        self.device = device
    }

    /// The element type.
    public var dataType: DataType { tensor.dataType }
    /// The length of each axis.
    public var shape: [Int] { tensor.shape }

    /// Copies the values to a new host tensor (waits for the device).
    public func toHost() throws -> Tensor { try device.download([tensor])[0] }

    /// "DeviceTensor<float32>[1, 4] on llvmpipe (…)".
    public var description: String { "DeviceTensor<\(dataType)>\(shape) on \(device.info.name)" }
}

extension DeviceTensor: TypedShape {}

extension Session {
    /// Copies `tensor` to this session's Vulkan device, for ``run(onDevice:outputs:)``.
    /// Throws when the session runs on the CPU or the element type has no device form.
    public func upload(_ tensor: Tensor) throws -> DeviceTensor {
        guard let vulkan else { throw VonnxError.invalidArgument(onCPU) }
        return DeviceTensor(try vulkan.upload([tensor])[0], on: vulkan)
    }

    /// Runs the model on inputs that are on this session's device and returns the outputs
    /// named in `outputs` (every one when nil) as new tensors of the device, copied neither
    /// in nor out through the host. The whole graph must run on Vulkan (one partition, no
    /// fallback nodes) and no input may be read on the host (as a shape, say); inputs are
    /// checked as `run` checks them. Every node runs, whatever `outputs` names. Thread-safe.
    public func run(onDevice feeds: [String: DeviceTensor], outputs: [String]? = nil) throws -> [String: DeviceTensor] {
        guard let vulkan else { throw VonnxError.invalidArgument(onCPU) }
        guard let partition = wholeGraphPartition else {
            throw VonnxError.invalidArgument("device tensors need a session whose whole graph runs on Vulkan; "
                                             + "these nodes run on the CPU: \(fallbackNodes.joined(separator: ", "))")
        }
        try InputCheck.validate(feeds, against: model.graph.inputs)
        if let (name, t) = feeds.first(where: { $0.value.device !== vulkan }) {
            throw VonnxError.invalidInput("input '\(name)' is a device tensor of another Vulkan device (\(t.device.info.name)) "
                                          + "than this session's: make the sessions share one with SessionOptions.vulkanDeviceOf")
        }
        let names = try outputs.map { try outputIndices($0).map { model.graph.outputs[$0].name } } ?? model.graph.outputs.map(\.name)
        let produced = try partition.runOnDevice(partition.inputs.map { feeds[$0]!.tensor })
        let byName = Dictionary(zip(partition.outputs, produced), uniquingKeysWith: { a, _ in a })
        return try Dictionary(names.map { name in
            guard let t = byName[name] else {
                throw VonnxError.invalidArgument("output '\(name)' is not computed on the device (an input or a weight, say): run with host tensors")
            }
            return (name, DeviceTensor(t, on: vulkan))
        }, uniquingKeysWith: { a, _ in a })
    }

    private var onCPU: String {
        "device tensors need a session that runs on Vulkan; this one runs on the CPU (\(fallbackReason ?? "backend .cpu"))"
    }
}
#endif
