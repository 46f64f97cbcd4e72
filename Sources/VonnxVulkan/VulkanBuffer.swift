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
    /// The bytes asked for (the allocation may be larger).
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

/// How a device holds each element type in its buffers (see `VulkanTensor`).
public struct VulkanStorage: Sendable, Hashable {
    /// The types held as themselves in 8 bytes: int64 and uint64 where the device has
    /// shaderInt64, float64 where it has shaderFloat64. Every other type is one 32-bit word.
    public let wide: Set<DataType>

    /// One 32-bit word an element: int64 and uint64 narrowed, float64 on the host.
    public static let narrow = VulkanStorage(wide: [])

    /// Storage holding `wide` (a subset of int64, uint64 and float64) in 8 bytes.
    public init(wide: Set<DataType>) {
        precondition(wide.isSubset(of: [.int64, .uint64, .double]), "only 64-bit types are wide")
        self.wide = wide
    }

    /// The element types a device tensor can have: all but strings, and float64 only when wide.
    public var dataTypes: Set<DataType> {
        Set(DataType.allCases).subtracting(wide.contains(.double) ? [.string] : [.double, .string])
    }

    /// This storage with `types` wide too.
    func union(_ types: Set<DataType>) -> VulkanStorage { VulkanStorage(wide: wide.union(types)) }

    /// The bytes an element of `type` takes: 8 when wide, else 4.
    public func elementBytes(_ type: DataType) -> Int { wide.contains(type) ? 8 : 4 }
}

/// A tensor resident on a Vulkan device: a shape over a contiguous, row-major buffer (which
/// several tensors may share as views), each element as its device's `VulkanStorage` holds
/// it. float32, int32 and uint32 are one 32-bit word as they are; the narrower types widened
/// to one word, holding the narrow value exactly: float16 and bfloat16 as a float, int8 and
/// int16 as an int, uint8 and uint16 as a uint, bool as a uint 0 or 1 (kernels computing in a
/// narrow type round or wrap each result into it, Shaders/fit.glsl). int64, uint64 and
/// float64 are 8 bytes as they are where the storage has them wide; elsewhere int64 and uint64
/// are narrowed to one word (uploads of values outside int32 (uint32) throw, device arithmetic
/// wraps at 32 bits, and downloads widen again) and float64 stays on the host, as strings do.
/// Made by `VulkanRecorder.upload` or by kernels; read back with `VulkanRecorder.download`.
public struct VulkanTensor: Sendable, CustomStringConvertible {
    /// The length of each axis.
    public let shape: [Int]
    /// The buffer holding the elements, from its start.
    public let buffer: VulkanBuffer
    /// The element type, one of its device's `VulkanStorage.dataTypes`.
    public let dataType: DataType
    /// Set where how many rows (entries of axis `rowAxis`) hold the value is known only on the
    /// device (NonMaxSuppression's selection, Unique's groups): a one-word buffer holding that
    /// count as an int32, `shape` the most there can be, and the elements laid out row-major
    /// for the count from the buffer's start. A download reads it and keeps those rows; no
    /// kernel takes such a tensor as an input, and a view (`reshaped`) drops it.
    public internal(set) var rowCount: VulkanBuffer?
    /// The axis whose length `rowCount` gives (0 unless a kernel sets another).
    public internal(set) var rowAxis = 0

    init(shape: [Int], buffer: VulkanBuffer, dataType: DataType = .float) {
        precondition(buffer.device.storage.dataTypes.contains(dataType), "no device representation for \(dataType)")
        precondition(buffer.byteCount >= shape.reduce(1, *) * buffer.device.storage.elementBytes(dataType))
        self.shape = shape; self.buffer = buffer; self.dataType = dataType
    }

    /// A new tensor on `device` outside any recording, its contents undefined.
    public init(on device: VulkanDevice, shape: [Int], dataType: DataType) throws {
        let bytes = try Self.byteCount(shape, dataType, on: device)
        self.init(shape: shape, buffer: try VulkanBuffer(device: device, byteCount: bytes), dataType: dataType)
    }

    /// The bytes a tensor of `shape` and `type` takes on `device`; throws unless they fit one
    /// storage buffer binding of it.
    static func byteCount(_ shape: [Int], _ type: DataType, on device: VulkanDevice) throws -> Int {
        let size = device.storage.elementBytes(type)
        guard let count = checkedElementCount(shape, limit: device.maxBufferBytes / size) else {
            throw VonnxError.invalidArgument("Vulkan: a \(type) tensor of shape \(shape) is over \(device.info.name)'s \(device.maxBufferBytes)-byte storage buffer limit")
        }
        return count * size
    }

    /// The bytes one element takes on the device (`VulkanStorage.elementBytes`).
    public var elementBytes: Int { buffer.device.storage.elementBytes(dataType) }
    /// Whether its elements are 8 bytes: kernels moving them move two words each.
    var isWide: Bool { elementBytes == 8 }

    /// The element count.
    public var count: Int { shape.reduce(1, *) }
    /// The number of axes.
    public var rank: Int { shape.count }

    /// The same buffer under another shape with as many elements (no copy).
    public func reshaped(_ newShape: [Int]) -> VulkanTensor {
        precondition(newShape.reduce(1, *) == count, "cannot view \(shape) as \(newShape)")
        return VulkanTensor(shape: newShape, buffer: buffer, dataType: dataType)
    }

    public var description: String { "VulkanTensor<\(dataType)>\(shape)" }
}
