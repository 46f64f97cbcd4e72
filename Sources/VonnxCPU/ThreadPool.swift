import CGemm
import Dispatch
import Glibc
import Synchronization

/// Splits loops across a fixed number of threads. Each session owns one; its size is the
/// session's thread count, so two sessions can use different counts in one process.
/// The helper threads are persistent (one set per thread count, for the process's life): they
/// spin briefly after each loop, then sleep, so the many short loops of one inference do not
/// each pay for waking threads (measured: a Relu over 400 K floats took 0.41 ms on two threads
/// through Dispatch's concurrentPerform, 0.05 ms on one).
public struct ThreadPool: Sendable {
    public let threads: Int
    private let workers: Workers?

    public init(threads: Int) {
        self.threads = max(1, threads)
        workers = self.threads > 1 ? Workers.shared(helpers: self.threads - 1) : nil
    }

    /// Runs `body` over `0..<count` split into `chunkCount(count, grain:, chunksPerThread:)`
    /// contiguous chunks (one chunk runs on the calling thread alone). The threads claim chunks
    /// one at a time, the caller among them, so a thread the OS deschedules holds up one small
    /// chunk, not a whole share (callers whose chunks each pay a setup, e.g. packing an
    /// operand, pass 1).
    public func parallelFor(_ count: Int, grain: Int = 1, chunksPerThread: Int = 4, _ body: @Sendable (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = chunkCount(count, grain: grain, chunksPerThread: chunksPerThread)
        if chunks == 1 || threads == 1 { body(0..<count); return }
        let chunk: @Sendable (Int) -> Void = { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
        // busy (another loop of this thread count runs, e.g. a nested one): Dispatch's threads
        if let workers, workers.run(chunks: chunks, chunk) { return }
        DispatchQueue.concurrentPerform(iterations: chunks, execute: chunk)
    }

    /// The chunks `parallelFor` splits `count` items into: one per `grain` items, at most
    /// `chunksPerThread` × `threads`, and from `threads` chunks on a multiple of `threads`, so
    /// that equal chunks end together: 5 chunks on 2 threads end after one thread ran 3 of them
    /// (3 fifths of the loop's work), 4 larger ones after each ran 2 (a half).
    func chunkCount(_ count: Int, grain: Int, chunksPerThread: Int) -> Int {
        let chunks = min(threads * max(chunksPerThread, 1), max(1, count / max(grain, 1)))
        return chunks < threads ? chunks : chunks / threads * threads
    }

    /// CPU time the helper threads of this pool's thread count have used since they started.
    var helperCPUTime: Duration { workers?.cpuTime ?? .zero }
}

/// A fixed set of helper threads running the chunks of one loop at a time with the caller.
private final class Workers: @unchecked Sendable {
    private static let registry = Mutex<[Int: Workers]>([:])

    /// The process's helpers for pools of `helpers + 1` threads, started on first use.
    static func shared(helpers: Int) -> Workers {
        registry.withLock { groups in
            if let w = groups[helpers] { return w }
            let w = Workers(helpers: helpers)
            groups[helpers] = w
            return w
        }
    }

    /// Held by the caller for a whole loop: one loop at a time.
    private let busy = Atomic<Bool>(false)
    /// The published loop and its next chunk: generation << 32 | chunk count << 16 | next
    /// chunk. Claiming a chunk is one compare-exchange on it, so a helper late for one loop
    /// can never claim a chunk of the next.
    private let ticket = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    /// The published loop's body: written by the caller before publishing, read by a helper
    /// only after claiming one of its chunks (so the caller is still waiting on it).
    private nonisolated(unsafe) var job: (@Sendable (Int) -> Void)?
    private nonisolated(unsafe) var generation = 0
    private var mutex = pthread_mutex_t(), wake = pthread_cond_t()
    private nonisolated(unsafe) var sleepers = 0
    private nonisolated(unsafe) var helperThreads: [pthread_t] = []

    /// How long a helper polls for the next loop before sleeping, in nanoseconds. Between two
    /// ops of one run there are often tens of µs of single-threaded work, while waking a
    /// sleeping thread cost ~0.25 ms on these VMs (a Relu of 200 K floats: 0.28 ms on two
    /// threads after a 65 µs spin, 0.02 ms on one).
    private static let spinNanoseconds = 1_000_000

    private init(helpers: Int) {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        for _ in 0..<helpers {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(self).toOpaque()
            let started = pthread_create(&thread, nil, { context in
                Unmanaged<Workers>.fromOpaque(context!).takeUnretainedValue().loop()
                return nil
            }, context)
            if started == 0 {
                pthread_detach(thread)
                helperThreads.append(thread)
            } else {
                Unmanaged<Workers>.fromOpaque(context).release()
            }
        }
    }

    /// CPU time the helper threads have used since they started.
    var cpuTime: Duration {
        helperThreads.reduce(.zero) { total, thread in
            var clock = clockid_t(), used = timespec()
            guard pthread_getcpuclockid(thread, &clock) == 0, clock_gettime(clock, &used) == 0 else { return total }
            return total + .seconds(used.tv_sec) + .nanoseconds(used.tv_nsec)
        }
    }

    /// Runs chunks 0..<count of `chunk` on the helpers and the calling thread; false (having
    /// run nothing) when another loop holds the helpers.
    func run(chunks count: Int, _ chunk: @Sendable (Int) -> Void) -> Bool {
        guard count < 1 << 16, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return false
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(chunk) { chunk in
            job = chunk
            generation = (generation + 1) & 0x7fff_ffff
            finished.store(0, ordering: .relaxed)
            ticket.store(generation << 32 | count << 16, ordering: .releasing)
            pthread_mutex_lock(&mutex)
            if sleepers > 0 { pthread_cond_broadcast(&wake) }
            pthread_mutex_unlock(&mutex)
            work(generation: generation)
            // only chunks a helper has claimed are left: brief, unless the OS took its core
            var backoff = Backoff()
            while finished.load(ordering: .acquiring) < count { backoff.pause() }
            job = nil
        }
        return true
    }

    /// Claims and runs chunks of loop `generation` until none is left.
    private func work(generation: Int) {
        var current = ticket.load(ordering: .acquiring)
        while current >> 32 == generation, current & 0xffff < (current >> 16) & 0xffff {
            let (claimed, seen) = ticket.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if claimed {
                job!(current & 0xffff)
                finished.add(1, ordering: .releasing)
                current += 1
            } else {
                current = seen
            }
        }
    }

    private func loop() {
        var seen = 0
        while true {
            var backoff = Backoff(), start = timespec()
            clock_gettime(CLOCK_MONOTONIC, &start)
            while ticket.load(ordering: .acquiring) >> 32 == seen {
                if backoff.pause() || nanoseconds(since: start) < Self.spinNanoseconds { continue }
                pthread_mutex_lock(&mutex)
                sleepers += 1
                while ticket.load(ordering: .acquiring) >> 32 == seen { pthread_cond_wait(&wake, &mutex) }
                sleepers -= 1
                pthread_mutex_unlock(&mutex)
            }
            seen = ticket.load(ordering: .acquiring) >> 32
            work(generation: seen)
        }
    }
}

/// Polling that hands the core over: a spin-wait hint most times, every 64th time a
/// `sched_yield`, so that on a loaded machine a polling thread lets the thread it waits for
/// (or any other) run instead of burning the time slice it shares with them.
private struct Backoff {
    private var spins = 0

    /// One step of polling; false when it yielded (a good time for slower checks).
    @discardableResult
    mutating func pause() -> Bool {
        spins += 1
        if spins % 64 != 0 { vx_cpu_relax(); return true }
        sched_yield()
        return false
    }
}

/// Nanoseconds on the monotonic clock since `start`.
private func nanoseconds(since start: timespec) -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return (now.tv_sec - start.tv_sec) * 1_000_000_000 + (now.tv_nsec - start.tv_nsec)
}
