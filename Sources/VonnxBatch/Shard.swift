import Glibc

/// One slice of a job split across `count` workers; an item belongs to the shard
/// `fnv1a(relativePath) % count`, so the same item always lands in the same shard on any node.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public static let whole = Shard(uncheckedIndex: 0, count: 1)

    private init(uncheckedIndex index: Int, count: Int) { self.index = index; self.count = count }

    /// Throws `.usage` unless 0 <= index < count.
    public init(index: Int, count: Int) throws(BatchError) {
        guard count > 0, (0..<count).contains(index) else {
            throw .usage("shard \(index)/\(count) is out of range: need 0 <= index < count")
        }
        self.init(uncheckedIndex: index, count: count)
    }

    /// Parses "i/n" as given to `--shard`.
    public init(parsing text: String) throws(BatchError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw .usage("--shard '\(text)' must be INDEX/COUNT, e.g. 0/4")
        }
        try self.init(index: i, count: n)
    }

    /// The shard a scheduler assigned through the environment: a Slurm array task
    /// (SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_MIN/MAX, or with SLURM_ARRAY_TASK_COUNT;
    /// arrays with gaps are refused) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX with JOB_COMPLETION_COUNT,
    /// which the Job spec sets to its `completions`). Nil when neither is present.
    public static func fromEnvironment(_ env: [String: String]) throws(BatchError) -> Shard? {
        func int(_ key: String) throws(BatchError) -> Int? {
            guard let text = env[key] else { return nil }
            guard let v = Int(text) else { throw .usage("environment variable \(key)='\(text)' is not an integer") }
            return v
        }
        if let id = try int("SLURM_ARRAY_TASK_ID") {
            if let min = try int("SLURM_ARRAY_TASK_MIN"), let max = try int("SLURM_ARRAY_TASK_MAX") {
                if let count = try int("SLURM_ARRAY_TASK_COUNT"), count != max - min + 1 {
                    throw .usage("the Slurm array \(min)-\(max) has gaps (\(count) tasks): items of missing tasks would be lost; use --array=\(min)-\(max) or --shard")
                }
                return try Shard(index: id - min, count: max - min + 1)
            }
            if let count = try int("SLURM_ARRAY_TASK_COUNT") { return try Shard(index: id, count: count) }
            throw .usage("SLURM_ARRAY_TASK_ID is set without SLURM_ARRAY_TASK_COUNT or SLURM_ARRAY_TASK_MIN/MAX")
        }
        if let index = try int("JOB_COMPLETION_INDEX") {
            guard let count = try int("JOB_COMPLETION_COUNT") else {
                throw .usage("JOB_COMPLETION_INDEX is set without JOB_COMPLETION_COUNT (set it to the Job's completions)")
            }
            return try Shard(index: index, count: count)
        }
        return nil
    }

    /// The scheduler variables `fromEnvironment` reads, from the process environment.
    public static func schedulerEnvironment() -> [String: String] {
        var env: [String: String] = [:]
        for key in ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_COUNT",
                    "JOB_COMPLETION_INDEX", "JOB_COMPLETION_COUNT"] {
            if let value = getenv(key) { env[key] = String(cString: value) }
        }
        return env
    }

    /// Whether the item at `relativePath` belongs to this shard.
    public func contains(_ relativePath: String) -> Bool {
        count == 1 || Int(fnv1a64(relativePath) % UInt64(count)) == index
    }

    public var description: String { "\(index)/\(count)" }
}

/// 64-bit FNV-1a of the UTF-8 bytes: stable across runs, processes and machines (unlike
/// Swift's per-process seeded `Hasher`).
public func fnv1a64(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
    return hash
}
