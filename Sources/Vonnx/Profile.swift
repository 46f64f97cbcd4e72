import Synchronization

/// Per-node timings collected by `Session.runOrdered(_:profile:)`: one event per node run,
/// with its input and output shapes (so callers can derive FLOP rates).
public final class Profile: Sendable {
    public struct Event: Sendable {
        public let node: String
        public let opType: String
        public let backend: String
        /// Nanoseconds since the profile was created.
        public let start: Int64
        public let duration: Int64
        public let inputShapes: [[Int]]
        public let outputShapes: [[Int]]
    }

    private let origin = ContinuousClock.now
    private let recorded = Mutex<[Event]>([])

    public init() {}

    public var events: [Event] { recorded.withLock { $0 } }

    /// Nanoseconds since the profile was created.
    func now() -> Int64 { nanoseconds(ContinuousClock.now - origin) }

    func record(_ event: Event) { recorded.withLock { $0.append(event) } }
}

func nanoseconds(_ d: Duration) -> Int64 {
    let c = d.components
    return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
}
