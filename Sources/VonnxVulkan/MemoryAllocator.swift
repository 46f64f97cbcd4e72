import CVulkan
import VonnxIR

/// A range of device memory that one buffer is bound to.
struct MemoryRange {
    let memory: VkDeviceMemory
    let offset: UInt64
    let size: UInt64
    /// The host address of the range when its memory is host-visible.
    let mapped: UnsafeMutableRawPointer?
    fileprivate let block: ObjectIdentifier
}

/// Sub-allocates buffer memory from 64 MiB blocks, per memory type and mapping, first fit with
/// neighbouring free ranges merged; a request over 16 MiB gets a block of its own. A block
/// goes back to the driver as soon as it is empty, except one spare per kind, so
/// memory follows the live set without an allocation per short-lived tensor. Thread-safe.
final class MemoryAllocator: @unchecked Sendable {
    static let blockSize: UInt64 = 64 << 20, dedicatedAbove: UInt64 = 16 << 20

    private final class Block {
        let memory: VkDeviceMemory
        let size: UInt64
        let type: UInt32
        let mapped: UnsafeMutableRawPointer?
        /// Free ranges (offset, size), sorted by offset.
        var free: [(offset: UInt64, size: UInt64)]
        init(memory: VkDeviceMemory, size: UInt64, type: UInt32, mapped: UnsafeMutableRawPointer?) {
            self.memory = memory; self.size = size; self.type = type; self.mapped = mapped
            free = [(0, size)]
        }
        var isEmpty: Bool { free.count == 1 && free[0].size == size }
    }

    private let device: VkDevice
    private let lock = Lock()
    private var blocks: [ObjectIdentifier: Block] = [:]

    init(device: VkDevice) { self.device = device }

    /// Bytes of device memory held from the driver (every block, in use or spare).
    var reservedBytes: UInt64 { lock.withLock { blocks.values.reduce(0) { $0 + $1.size } } }

    /// Releases every block; buffers keep the device alive, so none is in use by then.
    func releaseAll() {
        lock.withLock {
            for b in blocks.values { release(b) }
            blocks = [:]
        }
    }

    private func release(_ b: Block) {
        if b.mapped != nil { vkUnmapMemory(device, b.memory) }
        vkFreeMemory(device, b.memory, nil)
    }

    /// A range of `size` bytes aligned to `alignment` in memory type `type`, mapped when
    /// `hostVisible`.
    func allocate(size: UInt64, alignment: UInt64, type: UInt32, hostVisible: Bool) throws -> MemoryRange {
        try lock.withLock {
            let align = max(alignment, 16)
            if size <= Self.dedicatedAbove {
                for block in blocks.values where block.type == type && (block.mapped != nil) == hostVisible && block.size == Self.blockSize {
                    if let r = take(size, align, from: block) { return r }
                }
            }
            let block = try newBlock(size: max(size, size <= Self.dedicatedAbove ? Self.blockSize : size), type: type, hostVisible: hostVisible)
            return take(size, align, from: block)!
        }
    }

    /// Returns `range` to its block; frees the block when it is empty and another empty block
    /// of its memory type is already kept.
    func free(_ range: MemoryRange) {
        lock.withLock {
            guard let block = blocks[range.block] else { return }
            var free = block.free
            let i = free.firstIndex { $0.offset > range.offset } ?? free.count
            free.insert((range.offset, range.size), at: i)
            // Merge with the following and the preceding range where they touch.
            if i + 1 < free.count, free[i].offset + free[i].size == free[i + 1].offset {
                free[i].size += free[i + 1].size
                free.remove(at: i + 1)
            }
            if i > 0, free[i - 1].offset + free[i - 1].size == free[i].offset {
                free[i - 1].size += free[i].size
                free.remove(at: i)
            }
            block.free = free
            guard block.isEmpty else { return }
            let spare = blocks.values.contains {
                $0 !== block && $0.type == block.type && ($0.mapped != nil) == (block.mapped != nil) && $0.size == Self.blockSize && $0.isEmpty
            }
            if block.size != Self.blockSize || spare {
                blocks[ObjectIdentifier(block)] = nil
                release(block)
            }
        }
    }

    private func take(_ size: UInt64, _ align: UInt64, from block: Block) -> MemoryRange? {
        for (i, r) in block.free.enumerated() {
            let start = (r.offset + align - 1) / align * align
            guard start + size <= r.offset + r.size else { continue }
            var pieces: [(offset: UInt64, size: UInt64)] = []
            if start > r.offset { pieces.append((r.offset, start - r.offset)) }
            if start + size < r.offset + r.size { pieces.append((start + size, r.offset + r.size - start - size)) }
            block.free.replaceSubrange(i...i, with: pieces)
            return MemoryRange(memory: block.memory, offset: start, size: size,
                               mapped: block.mapped.map { $0 + Int(start) }, block: ObjectIdentifier(block))
        }
        return nil
    }

    private func newBlock(size: UInt64, type: UInt32, hostVisible: Bool) throws -> Block {
        var alloc = VkMemoryAllocateInfo()
        alloc.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO
        alloc.allocationSize = size
        alloc.memoryTypeIndex = type
        var memory: VkDeviceMemory?
        let result = vkAllocateMemory(device, &alloc, nil, &memory)
        guard result == VK_SUCCESS, let memory else {
            throw VonnxError.invalidArgument("Vulkan: out of device memory allocating \(size) bytes (\(name(of: result)))")
        }
        var mapped: UnsafeMutableRawPointer?
        if hostVisible {
            let r = vkMapMemory(device, memory, 0, VkDeviceSize(VK_WHOLE_SIZE), 0, &mapped)
            guard r == VK_SUCCESS else {
                vkFreeMemory(device, memory, nil)
                throw VonnxError.invalidArgument("Vulkan: vkMapMemory failed with \(name(of: r))")
            }
        }
        let block = Block(memory: memory, size: size, type: type, mapped: mapped)
        blocks[ObjectIdentifier(block)] = block
        return block
    }
}
