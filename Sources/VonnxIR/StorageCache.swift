import Glibc
import Synchronization

/// Memory for large tensor storages (`minimumBytes` and up). While a model runs (`duringRun`)
/// they are carved from arena chunks that stay mapped across runs: a model allocates the same
/// sizes on every run, and memory handed back to the OS between runs comes back as one page
/// fault per 4 KiB (measured on ResNet-50's first block: 8.6 → 12.4 ms a run once glibc began
/// returning its freed activations). Freed ranges merge with their free neighbours and serve
/// any later request that fits (best fit), so a run needs about its largest live set rather
/// than every size it ever used (DenseNet's concats grow by 32 channels a layer: blocks kept
/// for reuse by exact size added 60 MB to its peak). A chunk left wholly free through a run is
/// unmapped at the end of the run after. Outside a run, and for storages that outlive runs
/// (`lasting`: weights transformed on first use), blocks are mapped from the OS directly and
/// unmapped when freed (glibc's heap keeps freed blocks under its adaptive mmap threshold, up
/// to 32 MiB, resident).
public enum StorageCache {
    /// Blocks smaller than this go straight back to malloc, which recycles them without faults.
    static let minimumBytes = 1 << 18
    /// Bytes an arena chunk maps at least (its pages become resident only once touched).
    static let chunkBytes = 1 << 26
    /// Arena blocks are whole pages, so free ranges never leave slivers.
    private static let page = 4096

    struct Chunk {
        let base: UInt, size: Int
        /// Free byte ranges (offsets into the chunk), sorted, none touching another.
        var free: [Range<Int>]
        /// Runs ended when it last became wholly free; nil while any of it is in use.
        var idleSince: Int?

        func holds(_ address: UInt) -> Bool { address >= base && address < base + UInt(size) }
    }

    /// The chunks and their free ranges (one per process; tests make their own).
    struct Arena {
        var chunks: [Chunk] = []
        /// Runs ended so far, and running now (`duringRun`).
        var runs = 0, active = 0

        /// `size` bytes from the free range that fits them most tightly, if any does.
        mutating func take(_ size: Int) -> UInt? {
            var best: (chunk: Int, range: Int)?, bestLength = Int.max
            for (c, chunk) in chunks.enumerated() {
                for (r, range) in chunk.free.enumerated() where range.count >= size && range.count < bestLength {
                    best = (c, r)
                    bestLength = range.count
                }
            }
            guard let (c, r) = best else { return nil }
            let range = chunks[c].free[r]
            if range.count == size { chunks[c].free.remove(at: r) } else { chunks[c].free[r] = range.lowerBound + size..<range.upperBound }
            chunks[c].idleSince = nil
            return chunks[c].base + UInt(range.lowerBound)
        }

        /// A new chunk for a block of `size` bytes, which it hands out first.
        mutating func grow(_ size: Int) throws(OutOfMemory) -> UInt {
            let bytes = max(chunkBytes, (size + (1 << 21) - 1) / (1 << 21) * (1 << 21))
            let base = UInt(bitPattern: try map(bytes))
            chunks.append(Chunk(base: base, size: bytes, free: size < bytes ? [size..<bytes] : [], idleSince: nil))
            return base
        }

        /// Gives `size` bytes at `address` back to chunk `c`, merged with free neighbours.
        mutating func give(_ address: UInt, size: Int, chunk c: Int) {
            var free = chunks[c].free
            var range = Int(address - chunks[c].base)..<Int(address - chunks[c].base) + size
            let next = free.firstIndex { $0.lowerBound > range.lowerBound } ?? free.count
            if next < free.count, free[next].lowerBound == range.upperBound {
                range = range.lowerBound..<free[next].upperBound
                free.remove(at: next)
            }
            if next > 0, free[next - 1].upperBound == range.lowerBound {
                free[next - 1] = free[next - 1].lowerBound..<range.upperBound
            } else {
                free.insert(range, at: next)
            }
            chunks[c].free = free
            if free == [0..<chunks[c].size] { chunks[c].idleSince = runs }
        }

        /// Takes out the wholly free chunks `stale` picks.
        mutating func remove(where stale: (Chunk) -> Bool) -> [Chunk] {
            let gone = chunks.filter { $0.idleSince != nil && stale($0) }
            chunks.removeAll { $0.idleSince != nil && stale($0) }
            return gone
        }
    }
    private static let arena = Mutex(Arena())

    /// True inside `lasting`.
    @TaskLocal private static var allocatingLasting = false

    /// A block of memory the OS would not map.
    public struct OutOfMemory: Error, Sendable, CustomStringConvertible {
        /// The size asked for.
        public let bytes: Int
        public var description: String { "out of memory: cannot map \(bytes) bytes" }
    }

    /// A fresh anonymous mapping of `bytes`, backed by transparent huge pages where the kernel
    /// has them for the asking (the `madvise` mode, Debian's default): a first touch then
    /// faults 2 MiB at a time instead of 4 KiB. Faults were most of the time a tensor's first
    /// write took (a Loop doubling a tensor to 512 MiB: 1.4 s of CPU, 0.75 s with huge pages).
    static func map(_ bytes: Int) throws(OutOfMemory) -> UnsafeMutableRawPointer {
        guard let block = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              block != MAP_FAILED else { throw OutOfMemory(bytes: bytes) }
        madvise(block, bytes, MADV_HUGEPAGE)
        return block
    }

    /// Throws `OutOfMemory` when a block of `byteCount` bytes (`chunkBytes` or more) could not
    /// be mapped now. Sizes that come from a model or an input are checked with it before the
    /// allocation that serves them (which cannot throw), so that a size the machine cannot
    /// hold is an error rather than a trap: under Linux's default overcommit a size that maps
    /// once maps again. Smaller blocks fail only once memory is exhausted, and then the OOM
    /// killer acts first.
    public static func checkMappable(byteCount: Int) throws(OutOfMemory) {
        guard byteCount >= chunkBytes else { return }
        munmap(try map(byteCount), byteCount)
    }

    private static func pages(_ byteCount: Int) -> Int { (byteCount + page - 1) / page * page }

    /// A 64-byte-aligned block of at least one byte (also for kernels' scratch memory; give it
    /// back with `release`).
    public static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        guard byteCount >= minimumBytes else { return .allocate(byteCount: max(byteCount, 1), alignment: 64) }
        let size = pages(byteCount), lasting = allocatingLasting
        let address = arena.withLock { a -> UInt? in
            guard a.active > 0, !lasting else { return nil }
            return a.take(size) ?? (try? a.grow(size))
        }
        if let address, let block = UnsafeMutableRawPointer(bitPattern: address) { return block }
        do { return try map(byteCount) } catch { fatalError("\(error) (a size not checked with checkMappable)") }
    }

    /// Takes back a block from `allocate(byteCount:)`.
    public static func release(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        guard byteCount >= minimumBytes else { pointer.deallocate(); return }
        let address = UInt(bitPattern: pointer)
        let inArena = arena.withLock { a -> Bool in
            guard let c = a.chunks.firstIndex(where: { $0.holds(address) }) else { return false }
            a.give(address, size: pages(byteCount), chunk: c)
            return true
        }
        if !inArena { munmap(pointer, byteCount) }
    }

    /// `body`, with the blocks it allocates mapped on their own rather than from the arena:
    /// for storages that outlive the run allocating them (weights transformed on first use),
    /// which would otherwise pin arena chunks.
    public static func lasting<T>(_ body: () throws -> T) rethrows -> T {
        try $allocatingLasting.withValue(true, operation: body)
    }

    /// `body`, a model run (sessions wrap each run in it): its blocks come from the arena; at its
    /// end, chunks wholly free since before the previous run ended are unmapped.
    public static func duringRun<T>(_ body: () throws -> T) rethrows -> T {
        arena.withLock { $0.active += 1 }
        defer {
            unmap(arena.withLock { a in
                a.active -= 1
                let previous = a.runs
                a.runs += 1
                return a.remove { $0.idleSince! < previous }
            })
        }
        return try body()
    }

    static func unmap(_ chunks: [Chunk]) {
        for c in chunks { munmap(UnsafeMutableRawPointer(bitPattern: c.base), c.size) }
    }

    /// Unmaps every wholly free chunk (for a process that is done running models).
    public static func releaseAll() {
        unmap(arena.withLock { $0.remove { _ in true } })
    }

    /// Hands the malloc heap's free memory back to the OS (glibc's malloc_trim, where there is
    /// one): glibc keeps freed blocks under its adaptive mmap threshold (up to 32 MiB) resident,
    /// such as a parsed model's once its tensors are copied out.
    public static func returnFreedHeap() {
        guard let trim = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        _ = unsafeBitCast(trim, to: (@convention(c) (Int) -> Int32).self)(0)
    }

    /// Bytes the arena has mapped now.
    public static var arenaBytes: Int { arena.withLock { $0.chunks.reduce(0) { $0 + $1.size } } }

    /// Whether `pointer` lies in an arena chunk.
    static func inArena(_ pointer: UnsafeMutableRawPointer) -> Bool {
        arena.withLock { a in a.chunks.contains { $0.holds(UInt(bitPattern: pointer)) } }
    }
}
