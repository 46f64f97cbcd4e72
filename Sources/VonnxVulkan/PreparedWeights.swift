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

    /// Whether `t` stays as it is for the partition's lifetime: a weight or a prepared tensor.
    func isConstant(_ t: VulkanTensor) -> Bool { isWeight(t) || isPrepared(t) }

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

    /// `make` applied to `sources` (weights it derives one tensor from, as `prepared(_:key:_:)`
    /// from one): made once when every one of them is a partition weight, else recorded here.
    func prepared(from sources: [VulkanTensor], key: String, _ make: (VulkanKernelContext) throws -> VulkanTensor) throws -> VulkanTensor {
        guard let first = sources.first, let preparedWeights, sources.allSatisfy(preparedWeights.isWeight) else { return try make(self) }
        let others = sources.dropFirst().map { "\(ObjectIdentifier($0.buffer))" }
        return try prepared(first, key: ([key] + others).joined(separator: " "), make)
    }

    /// `t` as a conv or matrix-product kernel reads it: where the device's precision is fp16 and
    /// `t` is constant (a weight, or prepared from one), its float16 pairs (`pack_half.comp`,
    /// made once), with `half` true; else `t` itself. A kernel given a half operand defines the
    /// shader's `…_HALF` macro for it.
    func operand(_ t: VulkanTensor) throws -> (tensor: VulkanTensor, half: Bool) {
        guard device.options.precision == .fp16, t.dataType == .float, let preparedWeights, preparedWeights.isConstant(t) else {
            return (t, false)
        }
        let half = try preparedWeights.tensor(from: t, key: "half", device: device) { recorder in
            let words = (t.count + 3) / 4 * 2  // whole vec4s, for the kernels' vec4 loads
            let packed = try recorder.makeTensor(shape: [words], dataType: .uint32)
            var push = PushConstants()
            push.add(words); push.add(t.count)
            try VulkanKernelContext(node: node, inputs: inputs, hostInputs: hostInputs, opset: opset, recorder: recorder)
                .dispatch1D("pack_half", buffers: [t.buffer, packed.buffer], push: push, count: words)
            return packed
        }
        return (half, true)
    }

    /// Gives a scratch tensor back to the recorder, unless it is a prepared weight.
    func recycle(_ t: VulkanTensor) {
        if preparedWeights?.isPrepared(t) == true { return }
        recorder.recycle(t)
    }
}
