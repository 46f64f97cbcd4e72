import Glibc
import Synchronization

/// Freed blocks of large tensor storages, kept for reuse by exact size. A model allocates the
/// same sizes on every run, and memory handed back to the OS between runs comes back as one
/// page fault per 4 KiB (measured on ResNet-50's first block: 8.6 → 12.4 ms a run once glibc
/// began returning its freed activations). Only blocks given back while a model runs
/// (`duringRun`) are held — not a model's weights dropped once folded, nor a finished
/// session's memory — and only until the end of the run after (unless taken back), and
/// never more than `capacity` bytes (oldest go first), so a process whose shapes keep
/// changing does not hoard memory. Blocks of `minimumBytes` and more are mapped from the OS
/// directly, so freeing one gives its memory back at once (glibc's heap keeps freed blocks
/// under its adaptive mmap threshold, up to 32 MiB, resident).
public enum StorageCache {
    /// Blocks smaller than this go straight back to malloc, which recycles them without faults.
    static let minimumBytes = 1 << 18
    /// Most bytes held for reuse.
    public static let capacity = 1 << 30

    private struct Block { let address: UInt; let size: Int; let run: Int }

    private struct Held {
        /// Held blocks by size, each size's oldest first.
        var blocks: [Int: [Block]] = [:]
        /// Sizes in the order their blocks were given back (oldest first), for eviction.
        var order: [Int] = []
        var bytes = 0
        /// Runs ended so far, and running now (`duringRun`).
        var runs = 0, active = 0

        /// Takes out the blocks `stale` picks.
        mutating func remove(where stale: (Block) -> Bool) -> [Block] {
            let gone = blocks.values.flatMap { $0.filter(stale) }
            guard !gone.isEmpty else { return [] }
            blocks = blocks.compactMapValues { list in
                let kept = list.filter { !stale($0) }
                return kept.isEmpty ? nil : kept
            }
            order = blocks.values.flatMap { $0 }.sorted { $0.run < $1.run }.map(\.size)
            bytes -= gone.reduce(0) { $0 + $1.size }
            return gone
        }
    }
    private static let held = Mutex(Held())

    /// A 64-byte-aligned block of at least one byte, reused when one of this size is held
    /// (also for kernels' scratch memory; give it back with `release`).
    public static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        if byteCount >= minimumBytes, let p = held.withLock({ h -> UInt? in
            guard let block = h.blocks[byteCount]?.popLast() else { return nil }
            if h.blocks[byteCount]?.isEmpty == true { h.blocks[byteCount] = nil }
            h.bytes -= byteCount
            if let i = h.order.lastIndex(of: byteCount) { h.order.remove(at: i) }
            return block.address
        }), let block = UnsafeMutableRawPointer(bitPattern: p) { return block }
        guard byteCount >= minimumBytes else { return .allocate(byteCount: max(byteCount, 1), alignment: 64) }
        guard let block = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              block != MAP_FAILED else { fatalError("out of memory: cannot map \(byteCount) bytes") }
        return block
    }

    /// Unmaps blocks of `minimumBytes` or more for good.
    private static func unmap(_ blocks: [Block]) {
        for b in blocks { munmap(UnsafeMutableRawPointer(bitPattern: b.address), b.size) }
    }

    /// Takes back a block from `allocate(byteCount:)`, holding it for reuse or freeing it.
    public static func release(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        guard byteCount >= minimumBytes else { pointer.deallocate(); return }
        let block = Block(address: UInt(bitPattern: pointer), size: byteCount, run: 0)
        let evicted = held.withLock { h -> [Block] in
            guard h.active > 0, byteCount <= capacity else { return [block] }
            var out: [Block] = []
            while h.bytes + byteCount > capacity, !h.order.isEmpty {
                let size = h.order.removeFirst()
                if let old = h.blocks[size]?.removeFirst() { out.append(old); h.bytes -= size }
                if h.blocks[size]?.isEmpty == true { h.blocks[size] = nil }
            }
            h.blocks[byteCount, default: []].append(Block(address: block.address, size: byteCount, run: h.runs))
            h.order.append(byteCount)
            h.bytes += byteCount
            return out
        }
        unmap(evicted)
    }

    /// `body`, a model run (sessions wrap each run in it): blocks given back meanwhile are held
    /// for the next runs; at its end, those given back before the previous run ended and not
    /// taken since are freed.
    public static func duringRun<T>(_ body: () throws -> T) rethrows -> T {
        held.withLock { $0.active += 1 }
        defer {
            unmap(held.withLock { h in
                h.active -= 1
                let previous = h.runs
                h.runs += 1
                return h.remove { $0.run < previous }
            })
        }
        return try body()
    }

    /// Frees every held block (for a process that is done running models).
    public static func releaseAll() {
        unmap(held.withLock { $0.remove { _ in true } })
    }

    /// Hands the malloc heap's free memory back to the OS (glibc's malloc_trim, where there is
    /// one): glibc keeps freed blocks under its adaptive mmap threshold (up to 32 MiB) resident,
    /// such as a parsed model's once its tensors are copied out.
    public static func returnFreedHeap() {
        guard let trim = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        _ = unsafeBitCast(trim, to: (@convention(c) (Int) -> Int32).self)(0)
    }

    /// Bytes held for reuse now.
    public static var heldBytes: Int { held.withLock { $0.bytes } }

    /// Blocks of `byteCount` bytes held now.
    static func heldBlocks(ofSize byteCount: Int) -> Int { held.withLock { $0.blocks[byteCount]?.count ?? 0 } }
}
