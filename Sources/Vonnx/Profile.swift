import Synchronization

/// Per-node timings collected by `Session.runOrdered(_:profile:)`: one event per node run,
/// with its input and output shapes (so callers can derive FLOP rates).
public final class Profile: Sendable {
    /// One node's run (or one Vulkan partition's).
    public struct Event: Sendable {
        /// The node's label.
        public let node: String
        /// Its op.
        public let opType: String
        /// Where it ran: "cpu" or "vulkan".
        public let backend: String
        /// Nanoseconds since the profile was created.
        public let start: Int64
        /// Nanoseconds it took.
        public let duration: Int64
        /// The shapes of its inputs ([] for an omitted one).
        public let inputShapes: [[Int]]
        /// The shapes of its outputs.
        public let outputShapes: [[Int]]
    }

    private let origin = ContinuousClock.now
    private let recorded = Mutex<[Event]>([])

    /// An empty profile; pass it to `Session.runOrdered(_:outputs:profile:cancellation:)`.
    public init() {}

    /// The events recorded so far, in the order the nodes ended.
    public var events: [Event] { recorded.withLock { $0 } }

    /// Nanoseconds since the profile was created.
    func now() -> Int64 { nanoseconds(ContinuousClock.now - origin) }

    func record(_ event: Event) { recorded.withLock { $0.append(event) } }
}

func nanoseconds(_ d: Duration) -> Int64 {
    let c = d.components
    return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
}
