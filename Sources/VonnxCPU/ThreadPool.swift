import Dispatch

/// Splits loops across a fixed number of threads. Each session owns one; its size is the
/// session's thread count, so two sessions can use different counts in one process.
public struct ThreadPool: Sendable {
    public let threads: Int

    public init(threads: Int) { self.threads = max(1, threads) }

    /// Runs `body` over `0..<count` split into at most `threads` contiguous chunks; work
    /// smaller than `grain` items per chunk stays on the calling thread.
    public func parallelFor(_ count: Int, grain: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(threads, max(1, count / max(grain, 1)))
        if chunks == 1 { body(0..<count); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }
}
