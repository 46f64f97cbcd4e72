import Synchronization

/// Tensors derived from a partition's weights (Winograd-transformed filters, weights padded
/// for vec4 loads), made once and shared by every recording of the partition, as fast
/// runtimes repack weights at upload. Kernels ask for them through
/// `VulkanKernelContext.prepared(_:key:_:)`.
public final class PreparedWeights: Sendable {
    private struct Key: Hashable {
        let weight: ObjectIdentifier
        let shape: [Int]
        let key: String
    }

    /// The buffers that hold weights: constant for the partition's lifetime.
    private let weights: Set<ObjectIdentifier>
    private let made = Mutex<[Key: VulkanTensor]>([:])

    /// Preparations for `weights`, the partition's uploaded initializers.
    public init(weights: [VulkanTensor]) {
        self.weights = Set(weights.map { ObjectIdentifier($0.buffer) })
    }

    /// How many tensors have been made.
    var count: Int { made.withLock { $0.count } }

    /// Whether `t` lives in a weight's buffer.
    func isWeight(_ t: VulkanTensor) -> Bool { weights.contains(ObjectIdentifier(t.buffer)) }

    /// Whether `t` is one of the prepared tensors (which are never recycled).
    func isPrepared(_ t: VulkanTensor) -> Bool {
        made.withLock { $0.values.contains { $0.buffer === t.buffer } }
    }

    /// The tensor `make` derives from weight `w` under `key`: made on its first request by a
    /// recorder of its own (submitted at once), then cached.
    func tensor(from w: VulkanTensor, key: String, device: VulkanDevice,
                _ make: (VulkanRecorder) throws -> VulkanTensor) throws -> VulkanTensor {
        let k = Key(weight: ObjectIdentifier(w.buffer), shape: w.shape, key: key)
        return try made.withLock { made in
            if let t = made[k] { return t }
            let recorder = try VulkanRecorder(device: device)
            recorder.label = "prepare \(key)"
            let t = try make(recorder)
            try recorder.submitAndWait()
            made[k] = t
            return t
        }
    }
}

extension VulkanKernelContext {
    /// `make` applied to weight `w`, for reading in this recording: when `w` is one of the
    /// partition's weights, made once (on a recorder of its own) and kept for every later
    /// recording; else recorded here, ahead of the kernel. `make` records into the context it
    /// is given. Give the result back with `recycle(_:)`, which keeps prepared tensors.
    func prepared(_ w: VulkanTensor, key: String, _ make: (VulkanKernelContext) throws -> VulkanTensor) throws -> VulkanTensor {
        guard let preparedWeights, preparedWeights.isWeight(w) else { return try make(self) }
        return try preparedWeights.tensor(from: w, key: key, device: device) { recorder in
            try make(VulkanKernelContext(node: node, inputs: inputs, hostInputs: hostInputs, opset: opset, recorder: recorder))
        }
    }

    /// Gives a scratch tensor back to the recorder, unless it is a prepared weight.
    func recycle(_ t: VulkanTensor) {
        if preparedWeights?.isPrepared(t) == true { return }
        recorder.recycle(t)
    }
}
