import VonnxIR

/// Runs the node's subgraph held in the named attribute (If's "then_branch", Loop's "body")
/// with its inputs bound in order, and returns its outputs; values of enclosing graphs are
/// visible to it.
public typealias SubgraphRunner = @Sendable (_ attribute: String, _ inputs: [Tensor]) throws -> [Tensor]

/// What a CPU kernel sees of one node application.
public struct KernelContext: Sendable {
    public let node: Node
    /// Aligned with `node.inputs`; nil where an optional input is omitted.
    public let inputs: [Tensor?]
    /// The default-domain opset the model was written against.
    public let opset: Int
    public let pool: ThreadPool
    public let runSubgraph: SubgraphRunner
    /// The largest block `checkAllocatable` lets a kernel size from its inputs (the session's
    /// `Limits.maxTensorBytes`).
    public let maxTensorBytes: Int

    public init(node: Node, inputs: [Tensor?], opset: Int, pool: ThreadPool,
                runSubgraph: @escaping SubgraphRunner = { _, _ in throw VonnxError.invalidArgument("no subgraph runner") },
                maxTensorBytes: Int = .max) {
        self.node = node; self.inputs = inputs; self.opset = opset; self.pool = pool; self.runSubgraph = runSubgraph
        self.maxTensorBytes = maxTensorBytes
    }

    /// This context with other `inputs` (and `node`, `opset`): for a kernel running another
    /// on inputs it converted. The subgraph runner and the limit carry over.
    public func with(inputs: [Tensor?], node: Node? = nil, opset: Int? = nil) -> KernelContext {
        KernelContext(node: node ?? self.node, inputs: inputs, opset: opset ?? self.opset, pool: pool, runSubgraph: runSubgraph,
                      maxTensorBytes: maxTensorBytes)
    }

    /// Input `i`, which must be present.
    public func input(_ i: Int) throws -> Tensor {
        guard i < inputs.count, let t = inputs[i] else { throw node.error("missing required input \(i)") }
        return t
    }

    /// Input `i`, or nil when omitted.
    public func optionalInput(_ i: Int) -> Tensor? { i < inputs.count ? inputs[i] : nil }

    /// An error about this node.
    public func error(_ message: String) -> VonnxError { node.error(message) }

    /// Throws, naming the node, when `what` (`dims` elements of `type`) is over `maxTensorBytes`
    /// or could not be allocated: memory a kernel sizes from its inputs beyond what they hold,
    /// such as the output of an op without a shape rule (which `Limits` checks before the node
    /// runs) or scratch memory. The allocation itself would trap.
    public func checkAllocatable(_ what: String, dims: [Int], _ type: DataType) throws {
        let described = "\(what) (\(dims.map(String.init).joined(separator: " × ")) × \(type.byteSize) bytes)"
        guard let n = checkedElementCount(dims, limit: .max), case (let bytes, false) = n.multipliedReportingOverflow(by: type.byteSize) else {
            throw error("\(described) needs more bytes than addressable")
        }
        guard bytes <= maxTensorBytes else {
            throw error("\(described) would need \(bytes) bytes, over the limit of \(maxTensorBytes) (Limits.maxTensorBytes)")
        }
        do { try StorageCache.checkMappable(byteCount: bytes) } catch { throw self.error("\(described) cannot be allocated: \(error)") }
    }
}

/// A CPU kernel: computes a node's outputs (in `node.outputs` order; trailing optional
/// outputs may be left out) from its inputs. Kernels allocate fresh output tensors or
/// return views of inputs; they never write into an input.
public typealias CPUKernel = @Sendable (KernelContext) throws -> [Tensor]

/// Normalizes a possibly negative axis for a tensor of `rank`, naming the node on error.
public func normalizeAxis(_ axis: Int, rank: Int, _ ctx: KernelContext) throws -> Int {
    let a = axis < 0 ? axis + rank : axis
    guard a >= 0, a < max(rank, 1) else { throw ctx.error("axis \(axis) is out of range for rank \(rank)") }
    return a
}
