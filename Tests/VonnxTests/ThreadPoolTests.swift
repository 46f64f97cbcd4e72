import Dispatch
import Glibc
import Synchronization
import Testing
@testable import VonnxCPU

/// Runs `loops` parallelFor calls of random sizes, grains and chunkings on `pool` and
/// returns the first loop (count, grain, chunks per thread) whose items were not each run
/// exactly once by the time parallelFor returned, or nil.
private func firstMiscountedLoop(_ pool: ThreadPool, loops: Int, seed: UInt64) -> String? {
    var random = SplitMix(state: seed)
    let capacity = 600
    let hits = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: capacity)
    for i in 0..<capacity { (hits + i).initialize(to: Atomic(0)) }
    defer { hits.deinitialize(count: capacity); hits.deallocate() }
    nonisolated(unsafe) let counters = hits
    for _ in 0..<loops {
        let count = Int.random(in: 1...capacity, using: &random), grain = Int.random(in: 1...9, using: &random)
        let perThread = Int.random(in: 1...8, using: &random)
        pool.parallelFor(count, grain: grain, chunksPerThread: perThread) { r in
            for i in r { counters[i].add(1, ordering: .relaxed) }
        }
        for i in 0..<count where counters[i].exchange(0, ordering: .relaxed) != 1 {
            return "count \(count) grain \(grain) chunks per thread \(perThread): item \(i)"
        }
    }
    return nil
}

@Test(arguments: [2, 3, 5])
func threadPoolRunsEveryItemOnceOverManySmallLoops(threads: Int) {
    // more chunks than threads, thousands of loops: a chunk claimed twice or never, or a
    // return before a helper's chunk finished, shows as an item run 0 or 2 times
    let seed = UInt64.random(in: 0...UInt64.max)
    let miss = firstMiscountedLoop(ThreadPool(threads: threads), loops: 3000, seed: seed)
    #expect(miss == nil, "seed \(seed)")
}

@Test func threadPoolLoopsFromManyThreadsAndNestedLoopsEachRunOnce() {
    // callers racing for one thread count's helpers (the losers run on Dispatch's threads),
    // and a loop inside a chunk of another
    let seed = UInt64.random(in: 0...UInt64.max)
    let misses = Mutex<[String]>([])
    DispatchQueue.concurrentPerform(iterations: 4) { caller in
        if let miss = firstMiscountedLoop(ThreadPool(threads: 2), loops: 500, seed: seed &+ UInt64(caller)) {
            misses.withLock { $0.append(miss) }
        }
    }
    let pool = ThreadPool(threads: 2), total = Atomic<Int>(0)
    pool.parallelFor(16) { outer in
        for _ in outer { pool.parallelFor(100, grain: 3) { inner in total.add(inner.count, ordering: .relaxed) } }
    }
    #expect(misses.withLock { $0 } == [], "seed \(seed)")
    #expect(total.load(ordering: .relaxed) == 1600)
}

@Test func oneThreadPoolRunsTheWholeRangeOnTheCaller() {
    // one thread means no helpers and no Dispatch threads: one chunk, on the calling thread
    let ranges = Mutex<[Range<Int>]>([]), caller = pthread_self()
    let elsewhere = Atomic<Bool>(false)
    ThreadPool(threads: 1).parallelFor(1000, chunksPerThread: 4) { r in
        if pthread_equal(pthread_self(), caller) == 0 { elsewhere.store(true, ordering: .relaxed) }
        ranges.withLock { $0.append(r) }
    }
    #expect(ranges.withLock { $0 } == [0..<1000])
    let ranAway = elsewhere.load(ordering: .relaxed)
    #expect(!ranAway)
}

@Test(arguments: [(1, 1000, 512), (1, 77, 300), (37, 300, 200), (300, 37, 200)])
func parallelGemmResultsDoNotDependOnTheThreadCount(m: Int, n: Int, k: Int) {
    // BLAS sums the tail of an unrolled block in another order: chunks that moved a column into
    // a tail changed its last bits with the thread count (a softmax over large equal logits of
    // light_zfnet512 then picked 8 winners at 2 threads, none at 1)
    let seed = UInt64.random(in: 0...UInt64.max)
    var random = SplitMix(state: seed)
    let a = (0..<m * k).map { _ in Float.random(in: -2...2, using: &random) }
    let b = (0..<n * k).map { _ in Float.random(in: -2...2, using: &random) }
    func product(threads: Int) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    parallelGemm(ThreadPool(threads: threads), transA: false, transB: true, m: m, n: n, k: k, alpha: 1,
                                 a: a.baseAddress!, lda: k, b: b.baseAddress!, ldb: k, beta: 0, c: c.baseAddress!, ldc: n)
                }
            }
        }
        return c
    }
    let one = product(threads: 1)
    for threads in [2, 3, 5] {
        let other = product(threads: threads)
        let first = other.indices.first { other[$0].bitPattern != one[$0].bitPattern }
        #expect(first == nil, "element \(first ?? 0) differs from 1 thread's at \(threads) threads, seed \(seed)")
    }
}

@Test func threadPoolHelpersStopUsingCPUSoonAfterALoop() {
    // six helpers no other test uses (a thread count's helpers are shared): after a loop they
    // poll for the next one for a bounded time, then sleep, so an idle session costs no CPU
    let pool = ThreadPool(threads: 7), sum = Atomic<Int>(0)
    pool.parallelFor(700, grain: 1) { r in sum.add(r.reduce(0, +), ordering: .relaxed) }
    #expect(sum.load(ordering: .relaxed) == 700 * 699 / 2)
    usleep(200_000)  // the poll is 1 ms, but on a loaded machine a helper may wait long for its core
    let before = pool.helperCPUTime
    usleep(200_000)
    let idle = pool.helperCPUTime - before
    #expect(idle < .milliseconds(1), "six idle helpers used \(idle) of CPU in 200 ms")
}

@Test(arguments: [2, 3])
func threadPoolSplitsIntoAMultipleOfItsThreads(threads: Int) {
    // from as many chunks as threads on, every thread runs as many equal chunks (5 chunks on 2
    // threads left one thread 3 of them); the chunks still cover the loop once, in order, each
    // of at least `grain` items, and a loop under two grains runs whole
    let pool = ThreadPool(threads: threads), grain = 100
    for grains in 1...(4 * threads + 2) {
        for count in [grains * grain - 1, grains * grain, grains * grain + grain / 2] {
            let ranges = Mutex<[Range<Int>]>([])
            pool.parallelFor(count, grain: grain) { r in ranges.withLock { $0.append(r) } }
            let chunks = ranges.withLock { $0 }.sorted { $0.lowerBound < $1.lowerBound }
            let label = "count \(count) grain \(grain) at \(threads) threads: \(chunks)"
            #expect(chunks.first?.lowerBound == 0 && chunks.last?.upperBound == count, "\(label)")
            #expect(zip(chunks, chunks.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "\(label)")
            #expect(chunks.count == 1 || chunks.allSatisfy { $0.count >= grain }, "\(label)")
            #expect(chunks.count < threads || chunks.count % threads == 0, "\(label)")
            // as many as the grains allow, less at most threads - 1 to round down
            #expect(chunks.count <= 4 * threads && chunks.count > min(4 * threads, count / grain) - threads, "\(label)")
        }
    }
}

