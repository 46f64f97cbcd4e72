import Synchronization

/// Freed blocks of large tensor storages, kept for reuse by exact size. A model allocates the
/// same sizes on every run, and memory handed back to the OS between runs comes back as one
/// page fault per 4 KiB (measured on ResNet-50's first block: 8.6 → 12.4 ms a run once glibc
/// began returning its freed activations). Bounded: blocks beyond `capacity` bytes are freed,
/// oldest first, so a process whose shapes keep changing does not hoard memory.
public enum StorageCache {
    /// Blocks smaller than this go straight back to malloc, which recycles them without faults.
    static let minimumBytes = 1 << 18
    /// Most bytes held for reuse.
    public static let capacity = 1 << 30

    /// Addresses (bit patterns) of held blocks by size.
    private struct Held {
        var blocks: [Int: [UInt]] = [:]
        /// Sizes in the order their blocks were given back (oldest first), for eviction.
        var order: [Int] = []
        var bytes = 0
    }
    private static let held = Mutex(Held())

    /// A 64-byte-aligned block of at least one byte, reused when one of this size is held
    /// (also for kernels' scratch memory; give it back with `release`).
    public static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        if byteCount >= minimumBytes, let p = held.withLock({ h -> UInt? in
            guard let p = h.blocks[byteCount]?.popLast() else { return nil }
            h.bytes -= byteCount
            if let i = h.order.lastIndex(of: byteCount) { h.order.remove(at: i) }
            return p
        }), let block = UnsafeMutableRawPointer(bitPattern: p) { return block }
        return .allocate(byteCount: max(byteCount, 1), alignment: 64)
    }

    /// Takes back a block from `allocate(byteCount:)`, holding it for reuse or freeing it.
    public static func release(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        guard byteCount >= minimumBytes, byteCount <= capacity else { pointer.deallocate(); return }
        let address = UInt(bitPattern: pointer)
        let evicted = held.withLock { h -> [UInt] in
            var out: [UInt] = []
            while h.bytes + byteCount > capacity, !h.order.isEmpty {
                let size = h.order.removeFirst()
                if let p = h.blocks[size]?.removeFirst() { out.append(p); h.bytes -= size }
            }
            h.blocks[byteCount, default: []].append(address)
            h.order.append(byteCount)
            h.bytes += byteCount
            return out
        }
        for p in evicted { UnsafeMutableRawPointer(bitPattern: p)?.deallocate() }
    }

    /// Frees every held block (for a process that is done running models).
    public static func releaseAll() {
        let all = held.withLock { h -> [UInt] in
            defer { h = Held() }
            return h.blocks.values.flatMap { $0 }
        }
        for p in all { UnsafeMutableRawPointer(bitPattern: p)?.deallocate() }
    }

    /// Bytes held for reuse now.
    public static var heldBytes: Int { held.withLock { $0.bytes } }
}
