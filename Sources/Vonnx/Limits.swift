import Dispatch
import Glibc
import Synchronization
import VonnxCPU

/// Bounds on what a model may ask of a session, so that a small hostile or broken file cannot
/// take the process's memory or time. Each violation is a thrown `VonnxError` naming the node.
public struct Limits: Sendable, Equatable {
    /// The largest tensor a node may produce, in bytes (default `defaultMaxTensorBytes`).
    /// Checked before the node runs, from its shape rule applied to its actual inputs
    /// (ConstantOfShape, Expand, Tile, Concat, Reshape...), in constant folding as in runs;
    /// kernels sizing outputs or scratch memory from values check it themselves
    /// (`KernelContext.checkAllocatable`).
    public var maxTensorBytes: Int
    /// The bytes the tensors nodes produce may hold at once in one run, its subgraph runs
    /// included (default `defaultMaxRunBytes`). Checked before each node from its outputs'
    /// shapes, and after it from what it made. Each storage counts once; the inputs and
    /// weights, and what a Loop or Scan kernel holds between iterations, are not counted.
    public var maxRunBytes: Int
    /// How many times one node application may run its subgraph: a Loop's or Scan's
    /// iterations (default 10,000,000).
    public var maxSubgraphRuns: Int
    /// How deeply subgraphs (If, Loop, Scan bodies) may nest (default 32). The file reader
    /// also refuses nesting beyond `ModelReader.maxNesting` protobuf messages.
    public var maxSubgraphDepth: Int

    /// Limits; each argument sets the property of its name.
    public init(maxTensorBytes: Int = Limits.defaultMaxTensorBytes, maxRunBytes: Int = Limits.defaultMaxRunBytes,
                maxSubgraphRuns: Int = 10_000_000, maxSubgraphDepth: Int = 32) {
        self.maxTensorBytes = maxTensorBytes
        self.maxRunBytes = maxRunBytes
        self.maxSubgraphRuns = maxSubgraphRuns
        self.maxSubgraphDepth = maxSubgraphDepth
    }

    /// A quarter of the process's `memory`, between 1 and 2 GiB: a node producing the largest
    /// tensor from inputs nearly as large then still fits in memory, and a 4K image-to-image
    /// model's activations (64 channels × 3840 × 2160 floats: 2.1 GB) run on an 8 GiB machine
    /// and up. No more, because reaching the limit takes time: a Loop doubling a one-element
    /// tensor up to a quarter of 23 GiB (4 GiB made, 8 GiB touched) took 7 s of CPU (41-53 s
    /// on a loaded 2-core machine) before its error, up to 2 GiB with huge pages 1.7 s (10-12 s).
    public static let defaultMaxTensorBytes = min(max(1 << 30, memory / 4), 2 << 30)

    /// Three quarters of the process's `memory`, at least 2 GiB: the rest is for the weights,
    /// the process and the system.
    public static let defaultMaxRunBytes = max(2 << 30, memory / 4 * 3)

    /// The memory this process may use: the machine's physical memory, or less where its
    /// control group (a container's, a Slurm job's) is limited to less.
    public static let memory = memory(physical: Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE))))

    /// The smaller of `physical` and the memory limits of this process's control group and its
    /// ancestors, read from the files under `root` (cgroup v2 `memory.max`; v1
    /// `memory/…/memory.limit_in_bytes`) for the groups `/proc/self/cgroup` (`membership`) names.
    /// Files that are missing or unreadable, and "max", limit nothing.
    static func memory(physical: Int, root: String = "/sys/fs/cgroup", membership: String = "/proc/self/cgroup") -> Int {
        var limit = physical
        for line in readSmallFile(membership)?.split(separator: "\n") ?? [] {
            // "0::/path" (v2) or "4:memory:/path" (v1, controllers perhaps listed together)
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, fields[2].hasPrefix("/") else { continue }
            let base: String, file: String
            if fields[0] == "0" && fields[1].isEmpty {
                (base, file) = (root, "memory.max")
            } else if fields[1].split(separator: ",").contains("memory") {
                (base, file) = (root + "/memory", "memory.limit_in_bytes")
            } else { continue }
            // The group's own folder, then each ancestor's up to the root (a container that
            // sees its host's path mounts its own group at the root).
            var folders = fields[2].split(separator: "/").map(String.init)
            while true {
                let text = readSmallFile(([base] + folders + [file]).joined(separator: "/"))
                if let bytes = text?.split(whereSeparator: \.isWhitespace).first.flatMap({ Int($0) }), bytes > 0 {
                    limit = min(limit, bytes)
                }
                if folders.popLast() == nil { break }
            }
        }
        return limit
    }

    /// The bytes `text` gives: a whole number with an optional binary suffix K, M, G or T (of
    /// 1024, 1024², ...; `4G` is 4 GiB). Throws when it is not one or overflows.
    public static func byteCount(_ text: String) throws -> Int {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        let unit = text.last.flatMap { units[Character($0.uppercased())] }
        if let number = Int(unit == nil ? text : String(text.dropLast())), number >= 0 {
            let (bytes, overflow) = number.multipliedReportingOverflow(by: unit ?? 1)
            if !overflow { return bytes }
        }
        throw VonnxError.invalidArgument("'\(text)' is not a byte count (a whole number, optionally followed by K, M, G or T)")
    }

    /// The bytes of the outputs `definition`'s shape rule infers for `node` from its actual
    /// `inputs` (those it can tell). Throws when one would exceed `maxTensorBytes` or could not
    /// be mapped (out of memory). Other shape-rule errors are left to the kernel. With `memo`
    /// (the node's, kept between runs), the rule runs again only when the input types change
    /// or the outputs depend on the input values.
    @discardableResult
    func checkOutputs(of node: Node, _ definition: OpDefinition, inputs: [Tensor?], opset: Int,
                      memo: OutputTypeMemo? = nil) throws -> Int {
        guard let rule = definition.shape else { return 0 }
        let inferred = if let memo { memo.outputs(of: rule, node: node, inputs: inputs, opset: opset) } else {
            OutputTypeMemo.outputs(of: rule, node: node, inputs: inputs, opset: opset, values: true)
        }
        guard let outputs = inferred else { return 0 }
        var total = 0
        for (i, output) in outputs.enumerated() {
            guard let type = output?.elementType, type != .string, let shape = output?.staticShape else { continue }
            let bytes = checkedElementCount(shape, limit: .max).flatMap { n in
                let (b, overflow) = n.multipliedReportingOverflow(by: type.byteSize)
                return overflow ? nil : b
            }
            guard let bytes, bytes <= maxTensorBytes else {
                throw node.error("output \(i) of shape \(shape) (\(type)) would need \(bytes.map { "\($0) bytes" } ?? "more bytes than addressable"), "
                                 + "over the limit of \(maxTensorBytes) (Limits.maxTensorBytes)")
            }
            do { try StorageCache.checkMappable(byteCount: bytes) } catch {
                throw node.error("output \(i) of shape \(shape) (\(type)) needs \(bytes) bytes, which cannot be allocated (\(error))")
            }
            let (sum, overflow) = total.addingReportingOverflow(bytes)
            total = overflow ? .max : sum
        }
        return total
    }

    /// Throws when `node`, about to add `bytes` to the `held` bytes of a run, or having
    /// added them (`bytes` 0), brings them over `maxRunBytes`.
    func checkRun(_ node: Node, held: Int, adding bytes: Int) throws {
        let (total, overflow) = held.addingReportingOverflow(bytes)
        guard overflow || total > maxRunBytes else { return }
        throw node.error("\(bytes > 0 ? "would bring" : "brought") the tensors this run holds to "
                         + "\(overflow ? "more than \(Int.max)" : "\(total)") bytes, over the limit of \(maxRunBytes) (Limits.maxRunBytes)")
    }
}

/// The output types a node's shape rule infers from its input types alone, kept between runs
/// for `Limits.checkOutputs`: most outputs follow from the inputs' element types and shapes,
/// and running the rule for every node of every run took 11–12% of a tiny-tensor model's time
/// (an LSTM voice-activity model). Thread-safe.
final class OutputTypeMemo: Sendable {
    private struct InputType: Equatable, Sendable {
        let dataType: DataType
        let shape: [Int]
    }

    /// The input types last seen, and the rule's outputs for them from the types alone (nil
    /// when those did not give every output's element type and shape: they depend on values).
    private let last = Mutex<(inputs: [InputType?], outputs: [ValueType?]?)?>(nil)

    /// `rule`'s outputs for `node` with `inputs`: from their types alone when those give every
    /// output's element type and shape (remembered for the next call with the same types),
    /// else from their values too. Nil when the rule throws.
    func outputs(of rule: ShapeRule, node: Node, inputs: [Tensor?], opset: Int) -> [ValueType?]? {
        let key = inputs.map { $0.map { InputType(dataType: $0.dataType, shape: $0.shape) } }
        if let (seen, outputs) = last.withLock({ $0 }), seen == key {
            return outputs ?? Self.outputs(of: rule, node: node, inputs: inputs, opset: opset, values: true)
        }
        let fromTypes = Self.outputs(of: rule, node: node, inputs: inputs, opset: opset, values: false)
        let complete = fromTypes.flatMap { o in o.allSatisfy { $0?.elementType != nil && $0?.staticShape != nil } ? o : nil }
        last.withLock { $0 = (key, complete) }
        return complete ?? Self.outputs(of: rule, node: node, inputs: inputs, opset: opset, values: true)
    }

    /// `rule`'s outputs for `node` from the types of `inputs`, and from their `values` when
    /// asked; nil when it throws.
    static func outputs(of rule: ShapeRule, node: Node, inputs: [Tensor?], opset: Int, values: Bool) -> [ValueType?]? {
        let types = inputs.map { $0.map { ValueType.tensor($0.dataType, shape: $0.shape.map(Dim.value)) } }
        return try? rule(ShapeContext(node: node, inputs: types, constants: values ? inputs : [], opset: opset))
    }
}

/// Stops runs from another thread or at a deadline: a run given one throws `RunCancelled` at
/// its next node or subgraph iteration once `cancel()` is called or the deadline passes.
/// Thread-safe; one handle may serve many runs.
public final class Cancellation: Sendable {
    private let cancelled = Atomic<Bool>(false)
    /// When runs stop by themselves (`DispatchTime.now()` based), or nil.
    public let deadline: DispatchTime?
    private let timeout: Double?
    /// A handle whose cancellation this one follows.
    private let parent: Cancellation?

    /// A handle that also cancels by itself `timeout` seconds from now, when given.
    public init(timeout seconds: Double? = nil) {
        timeout = seconds
        deadline = seconds.map { DispatchTime.now() + $0 }
        parent = nil
    }

    /// A handle of its own (cancelling it leaves `parent` alone) that is also cancelled
    /// whenever `parent` is.
    init(within parent: Cancellation?) {
        timeout = nil
        deadline = nil
        self.parent = parent
    }

    /// Stops the runs given this handle at their next node or subgraph iteration.
    public func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// Whether `cancel()` was called or the deadline has passed (here or in the parent).
    public var isCancelled: Bool {
        if cancelled.load(ordering: .relaxed) || parent?.isCancelled == true { return true }
        guard let deadline, DispatchTime.now() >= deadline else { return false }
        cancel()
        return true
    }

    func check() throws {
        try parent?.check()
        if isCancelled { throw RunCancelled(timeout: timeout) }
    }
}

/// A run stopped by its `Cancellation`.
public struct RunCancelled: Error, Sendable, CustomStringConvertible {
    /// The timeout that ran out, or nil when `cancel()` was called.
    public let timeout: Double?
    public var description: String {
        timeout.map { "the run was cancelled: its time limit of \($0) s ran out" } ?? "the run was cancelled"
    }
}

/// The text of a small (pseudo-)file such as those under /proc and /sys, whose size `stat`
/// does not tell (up to 64 KiB), or nil when it cannot be read.
private func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
    var bytes = [UInt8](repeating: 0, count: 1 << 16), count = 0
    while count < bytes.count {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { return nil }
        if n == 0 { break }
        count += n
    }
    return String(decoding: bytes[..<count], as: UTF8.self)
}
