import CVulkan
import VonnxIR

/// One storage buffer, its memory sub-allocated by the device's `MemoryAllocator` and
/// returned on deinit. Device-local; on a unified-memory device (lavapipe, integrated GPUs)
/// also host-visible and mapped, so uploads and downloads are plain copies. Staging buffers
/// are host-visible on every device.
public final class VulkanBuffer: @unchecked Sendable {
    let device: VulkanDevice
    let buffer: VkBuffer
    private let range: MemoryRange
    public let byteCount: Int
    /// The mapped memory when the buffer is host-visible.
    var mapped: UnsafeMutableRawPointer? { range.mapped }

    /// A buffer of at least `byteCount` bytes; `staging` asks for host-visible memory.
    init(device: VulkanDevice, byteCount: Int, staging: Bool = false) throws {
        self.device = device
        self.byteCount = byteCount
        let dev = device.handle
        var info = VkBufferCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO
        info.size = VkDeviceSize(max(byteCount, 4))
        info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT.rawValue | VK_BUFFER_USAGE_TRANSFER_SRC_BIT.rawValue
            | VK_BUFFER_USAGE_TRANSFER_DST_BIT.rawValue
        info.sharingMode = VK_SHARING_MODE_EXCLUSIVE
        var buffer: VkBuffer?
        try check(vkCreateBuffer(dev, &info, nil, &buffer), "vkCreateBuffer(\(byteCount) bytes)")
        var req = VkMemoryRequirements()
        vkGetBufferMemoryRequirements(dev, buffer, &req)
        let hostFlags = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT.rawValue | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT.rawValue
        let wanted = staging ? hostFlags : device.unifiedMemory ? VulkanDevice.hostVisibleLocal : VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT.rawValue
        guard let type = VulkanDevice.memoryType(in: device.memory, bits: req.memoryTypeBits, flags: wanted) else {
            vkDestroyBuffer(dev, buffer, nil)
            throw VonnxError.invalidArgument("Vulkan: \(device.info.name) has no memory type with flags 0x\(String(wanted, radix: 16))")
        }
        let range: MemoryRange
        do {
            range = try device.allocator.allocate(size: req.size, alignment: req.alignment, type: type,
                                                  hostVisible: wanted & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT.rawValue != 0)
        } catch {
            vkDestroyBuffer(dev, buffer, nil)
            throw error
        }
        vkBindBufferMemory(dev, buffer, range.memory, range.offset)
        self.range = range
        self.buffer = buffer!
    }

    deinit {
        vkDestroyBuffer(device.handle, buffer, nil)
        device.allocator.free(range)
    }
}

/// A float32 tensor resident on a Vulkan device: a shape over a contiguous, row-major
/// buffer (which several tensors may share as views). Made by `VulkanRecorder.upload` or by
/// kernels; read back with `VulkanRecorder.download`.
public struct VulkanTensor: Sendable, CustomStringConvertible {
    public let shape: [Int]
    public let buffer: VulkanBuffer

    init(shape: [Int], buffer: VulkanBuffer) {
        precondition(buffer.byteCount >= shape.reduce(1, *) * 4)
        self.shape = shape; self.buffer = buffer
    }

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }
    public var dataType: DataType { .float }

    /// The same buffer under another shape with as many elements (no copy).
    public func reshaped(_ newShape: [Int]) -> VulkanTensor {
        precondition(newShape.reduce(1, *) == count, "cannot view \(shape) as \(newShape)")
        return VulkanTensor(shape: newShape, buffer: buffer)
    }

    public var description: String { "VulkanTensor<float32>\(shape)" }
}
