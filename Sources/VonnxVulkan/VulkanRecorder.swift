import CVulkan
import Glibc
import VonnxIR

/// A tensor being read back by a recorder; its value exists once the recorder has been
/// submitted and waited for.
public final class VulkanDownload: @unchecked Sendable {
    /// The shape of the tensor read back.
    public let shape: [Int]
    /// Its element type.
    public let dataType: DataType
    fileprivate let source: VulkanBuffer
    fileprivate var value: Tensor?
    /// The read-back of the tensor's `rowCount`, when it has one, and its `rowAxis`.
    fileprivate var rows: (count: VulkanDownload, axis: Int)?
    fileprivate init(_ tensor: VulkanTensor, source: VulkanBuffer) {
        shape = tensor.shape; dataType = tensor.dataType; self.source = source
    }

    /// The downloaded tensor; throws before `VulkanRecorder.submitAndWait` has returned.
    public func tensor() throws -> Tensor {
        guard let value else { throw VonnxError.invalidArgument("Vulkan: download read before its recorder was submitted") }
        return value
    }
}

/// Records uploads, dispatches and downloads into one command buffer, with a memory barrier
/// between dependent commands, then submits it and waits on a fence. The first
/// `submitAndWait` ends recording; later calls replay the same commands, after `rewrite` has
/// put new values in uploaded inputs (same shapes): record a partition once, run it many
/// times. For one thread. Keeps every buffer it touches alive as long as it lives.
public final class VulkanRecorder {
    /// The device it records for.
    public let device: VulkanDevice
    private let commandPool: VkCommandPool
    private let commandBuffer: VkCommandBuffer
    private let fence: VkFence
    private var descriptorPools: [VkDescriptorPool] = []
    private var setsLeft = 0
    private var retained: [VulkanBuffer] = []
    /// Buffers given back with `recycle`, by byte count, for `makeTensor` to reuse.
    private var free: [Int: [VulkanBuffer]] = [:]
    private var downloads: [VulkanDownload] = []
    /// For each uploaded tensor's buffer, the host-visible buffer its values are written to
    /// (itself when mapped, else its staging buffer).
    private var uploadSources: [ObjectIdentifier: VulkanBuffer] = [:]
    /// Whether a transfer or fill was recorded since the last barrier: the next command waits
    /// for it, whatever it touches.
    private var needsBarrier = false
    /// The buffers the dispatches recorded since the last barrier bind: a dispatch binding none
    /// of them cannot depend on them (nor they on it), so it goes without a barrier.
    private var unordered: Set<ObjectIdentifier> = []
    /// Barriers recorded so far.
    public private(set) var barrierCount = 0
    /// The first dispatch of each pipeline recorded, with what it binds, for `warmUp`.
    private var firstDispatches: [ObjectIdentifier: (pipeline: VulkanPipeline, set: VkDescriptorSet, push: [UInt32])] = [:]
    /// Whether recording has ended (at the first submission).
    private var ended = false
    /// Whether a submission may still be running (its wait failed).
    private var inFlight = false
    /// Dispatches recorded so far.
    public private(set) var dispatchCount = 0
    /// What the next dispatches are attributed to in `timings` (a node's label, say).
    public var label = ""
    /// With profiling on, each dispatch's GPU time, in recording order, once
    /// `submitAndWait` has returned.
    public private(set) var timings: [(label: String, nanoseconds: Double)] = []
    private let profile: Bool
    /// Timestamp query pools (two queries a dispatch) and the labels of the timed dispatches.
    private var queryPools: [VkQueryPool] = []
    private var queriesUsed = 0
    private var timedLabels: [String] = []

    private static let setsPerPool = 64, maxBindings = 8, queriesPerPool = 512

    /// A recorder on `device`; `profile` times every dispatch with GPU timestamps (throws
    /// when the device's compute queue has none).
    public init(device: VulkanDevice, profile: Bool = false) throws {
        if profile && device.timestampPeriod == nil {
            throw VonnxError.invalidArgument("Vulkan: \(device.info.name)'s compute queue cannot write timestamps")
        }
        self.device = device
        self.profile = profile
        let dev = device.handle
        var poolInfo = VkCommandPoolCreateInfo()
        poolInfo.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO
        poolInfo.flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT.rawValue
        poolInfo.queueFamilyIndex = device.queueFamily
        var pool: VkCommandPool?
        try check(vkCreateCommandPool(dev, &poolInfo, nil, &pool), "vkCreateCommandPool")
        commandPool = pool!
        var fenceInfo = VkFenceCreateInfo()
        fenceInfo.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO
        var f: VkFence?
        let cb: VkCommandBuffer
        do {
            try check(vkCreateFence(dev, &fenceInfo, nil, &f), "vkCreateFence")
            cb = try Self.begunCommandBuffer(dev, pool: pool!)
        } catch {
            if let f { vkDestroyFence(dev, f, nil) }
            vkDestroyCommandPool(dev, pool, nil)
            throw error
        }
        commandBuffer = cb
        fence = f!
    }

    /// A primary command buffer allocated from `pool` and begun with `flags` (freed again when it
    /// cannot begin).
    private static func begunCommandBuffer(_ dev: VkDevice, pool: VkCommandPool, flags: VkCommandBufferUsageFlags = 0)
        throws -> VkCommandBuffer {
        var alloc = VkCommandBufferAllocateInfo()
        alloc.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO
        alloc.commandPool = pool
        alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY
        alloc.commandBufferCount = 1
        var allocated: VkCommandBuffer?
        try check(vkAllocateCommandBuffers(dev, &alloc, &allocated), "vkAllocateCommandBuffers")
        let cb = allocated!
        var begin = VkCommandBufferBeginInfo()
        begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO
        begin.flags = flags
        do {
            try check(vkBeginCommandBuffer(cb, &begin), "vkBeginCommandBuffer")
        } catch {
            vkFreeCommandBuffers(dev, pool, 1, [cb])
            throw error
        }
        return cb
    }

    deinit {
        let dev = device.handle
        if inFlight { vkWaitForFences(dev, 1, [fence], 1, .max) }
        descriptorPools.forEach { vkDestroyDescriptorPool(dev, $0, nil) }
        queryPools.forEach { vkDestroyQueryPool(dev, $0, nil) }
        vkDestroyFence(dev, fence, nil)
        vkDestroyCommandPool(dev, commandPool, nil)
    }

    /// Records a barrier if any command since the last one may still be running.
    private func barrierIfNeeded() {
        guard needsBarrier || !unordered.isEmpty else { return }
        var barrier = VkMemoryBarrier()
        barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER
        barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT.rawValue | VK_ACCESS_TRANSFER_WRITE_BIT.rawValue
        barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT.rawValue | VK_ACCESS_SHADER_WRITE_BIT.rawValue
            | VK_ACCESS_TRANSFER_READ_BIT.rawValue | VK_ACCESS_TRANSFER_WRITE_BIT.rawValue | VK_ACCESS_HOST_READ_BIT.rawValue
        let stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT.rawValue | VK_PIPELINE_STAGE_TRANSFER_BIT.rawValue
        vkCmdPipelineBarrier(commandBuffer, stages, stages | VK_PIPELINE_STAGE_HOST_BIT.rawValue, 0,
                             1, &barrier, 0, nil, 0, nil)
        needsBarrier = false
        unordered.removeAll(keepingCapacity: true)
        barrierCount += 1
    }

    private func assertRecording() throws {
        guard !ended else { throw VonnxError.invalidArgument("Vulkan: recording into a recorder that was submitted") }
    }

    private func checkSize(_ shape: [Int], _ type: DataType) throws -> Int { try VulkanTensor.byteCount(shape, type, on: device) }

    /// A new device tensor (its contents undefined, or NaN when the device poisons allocations).
    public func makeTensor(shape: [Int], dataType: DataType = .float) throws -> VulkanTensor {
        try assertRecording()
        let bytes = try checkSize(shape, dataType)
        let buffer: VulkanBuffer
        if let reused = free[bytes]?.popLast() {
            buffer = reused
        } else {
            buffer = try VulkanBuffer(device: device, byteCount: bytes)
            retained.append(buffer)
        }
        if device.options.poisonAllocations {
            if let p = buffer.mapped {
                p.initializeMemory(as: Float.self, repeating: .nan, count: max(bytes / 4, 1))
            } else {
                barrierIfNeeded()
                vkCmdFillBuffer(commandBuffer, buffer.buffer, 0, VkDeviceSize(VK_WHOLE_SIZE), Float.nan.bitPattern)
                needsBarrier = true
            }
        }
        return VulkanTensor(shape: shape, buffer: buffer, dataType: dataType)
    }

    /// Records filling every 32-bit word of `tensor`'s buffer with `bits`.
    public func fill(_ tensor: VulkanTensor, bits: UInt32) throws {
        try assertRecording()
        barrierIfNeeded()
        vkCmdFillBuffer(commandBuffer, tensor.buffer.buffer, 0, VkDeviceSize(VK_WHOLE_SIZE), bits)
        needsBarrier = true
    }

    /// Gives `tensor`'s buffer back for a later `makeTensor` of the same byte count to reuse.
    /// The caller promises that no tensor recorded after this reads the old contents (the
    /// barrier between dependent commands orders the reuse after earlier reads). Uploaded
    /// buffers are kept: a replay reads what was uploaded into them while recording.
    public func recycle(_ tensor: VulkanTensor) {
        guard uploadSources[ObjectIdentifier(tensor.buffer)] == nil else { return }
        free[tensor.buffer.byteCount, default: []].append(tensor.buffer)
    }

    /// Records the upload of a host tensor (of a type in the device's `storage.dataTypes`) into
    /// a new device tensor.
    public func upload(_ tensor: Tensor) throws -> VulkanTensor {
        try assertRecording()
        let words = try deviceWords(tensor, device.storage)
        let bytes = try checkSize(tensor.shape, tensor.dataType)
        let buffer = try VulkanBuffer(device: device, byteCount: bytes)
        retained.append(buffer)
        if let p = buffer.mapped {
            p.copyMemory(from: words.storage.pointer, byteCount: bytes)
            uploadSources[ObjectIdentifier(buffer)] = buffer
        } else if bytes > 0 {
            let staging = try VulkanBuffer(device: device, byteCount: bytes, staging: true)
            retained.append(staging)
            uploadSources[ObjectIdentifier(buffer)] = staging
            staging.mapped!.copyMemory(from: words.storage.pointer, byteCount: bytes)
            var region = VkBufferCopy(srcOffset: 0, dstOffset: 0, size: VkDeviceSize(bytes))
            vkCmdCopyBuffer(commandBuffer, staging.buffer, buffer.buffer, 1, &region)
            needsBarrier = true
        }
        return VulkanTensor(shape: tensor.shape, buffer: buffer, dataType: tensor.dataType)
    }

    /// Replaces the values of `input`, a tensor this recorder uploaded, for the next
    /// `submitAndWait`; `values` must have its element type and count.
    public func rewrite(_ input: VulkanTensor, with values: Tensor) throws {
        guard values.dataType == input.dataType, values.count == input.count else {
            throw VonnxError.invalidArgument("Vulkan: cannot rewrite \(input) with \(values)")
        }
        guard values.count > 0 else { return }
        guard let source = uploadSources[ObjectIdentifier(input.buffer)] else {
            throw VonnxError.invalidArgument("Vulkan: \(input) was not uploaded by this recorder")
        }
        let words = try deviceWords(values, device.storage)
        source.mapped!.copyMemory(from: words.storage.pointer, byteCount: values.count * input.elementBytes)
    }

    /// Records the read-back of `tensor`; the result is there after `submitAndWait`, with only
    /// the rows its `rowCount` says (read back with it) along its `rowAxis` when it has one.
    public func download(_ tensor: VulkanTensor) throws -> VulkanDownload {
        try assertRecording()
        if let rowCount = tensor.rowCount {
            var whole = tensor
            whole.rowCount = nil
            let d = try download(whole)
            d.rows = (try download(VulkanTensor(shape: [1], buffer: rowCount, dataType: .int32)), tensor.rowAxis)
            return d
        }
        retained.append(tensor.buffer)
        if tensor.buffer.mapped != nil || tensor.count == 0 {
            let d = VulkanDownload(tensor, source: tensor.buffer)
            downloads.append(d)
            return d
        }
        let bytes = tensor.count * tensor.elementBytes
        let staging = try VulkanBuffer(device: device, byteCount: bytes, staging: true)
        retained.append(staging)
        barrierIfNeeded()
        var region = VkBufferCopy(srcOffset: 0, dstOffset: 0, size: VkDeviceSize(bytes))
        vkCmdCopyBuffer(commandBuffer, tensor.buffer.buffer, staging.buffer, 1, &region)
        needsBarrier = true
        let d = VulkanDownload(tensor, source: staging)
        downloads.append(d)
        return d
    }

    /// Records copying `source`'s elements into `destination`, a tensor of as many elements,
    /// on the device.
    public func copy(_ source: VulkanTensor, to destination: VulkanTensor) throws {
        try assertRecording()
        guard source.count == destination.count, source.elementBytes == destination.elementBytes else {
            throw VonnxError.invalidArgument("Vulkan: cannot copy \(source) to \(destination)")
        }
        retained += [source.buffer, destination.buffer]
        guard source.count > 0 else { return }
        barrierIfNeeded()
        var region = VkBufferCopy(srcOffset: 0, dstOffset: 0, size: VkDeviceSize(source.count * source.elementBytes))
        vkCmdCopyBuffer(commandBuffer, source.buffer.buffer, destination.buffer.buffer, 1, &region)
        needsBarrier = true
    }

    private func allocateSet(_ layout: VkDescriptorSetLayout) throws -> VkDescriptorSet {
        if setsLeft == 0 {
            var size = VkDescriptorPoolSize(type: VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                            descriptorCount: UInt32(Self.setsPerPool * Self.maxBindings))
            var info = VkDescriptorPoolCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO
            info.maxSets = UInt32(Self.setsPerPool)
            info.poolSizeCount = 1
            var pool: VkDescriptorPool?
            try withUnsafePointer(to: &size) { sp in
                info.pPoolSizes = sp
                try check(vkCreateDescriptorPool(device.handle, &info, nil, &pool), "vkCreateDescriptorPool")
            }
            descriptorPools.append(pool!)
            setsLeft = Self.setsPerPool
        }
        var layouts: [VkDescriptorSetLayout?] = [layout]
        var set: VkDescriptorSet?
        try layouts.withUnsafeMutableBufferPointer { lp in
            var info = VkDescriptorSetAllocateInfo()
            info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO
            info.descriptorPool = descriptorPools.last!
            info.descriptorSetCount = 1
            info.pSetLayouts = UnsafePointer(lp.baseAddress)
            try check(vkAllocateDescriptorSets(device.handle, &info, &set), "vkAllocateDescriptorSets")
        }
        setsLeft -= 1
        return set!
    }

    /// The query pool and index of the next timestamp, making (and resetting) a pool when needed.
    private func nextQuery() throws -> (VkQueryPool, UInt32) {
        if queriesUsed == queryPools.count * Self.queriesPerPool {
            var info = VkQueryPoolCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO
            info.queryType = VK_QUERY_TYPE_TIMESTAMP
            info.queryCount = UInt32(Self.queriesPerPool)
            var pool: VkQueryPool?
            try check(vkCreateQueryPool(device.handle, &info, nil, &pool), "vkCreateQueryPool")
            queryPools.append(pool!)
            vkCmdResetQueryPool(commandBuffer, pool, 0, UInt32(Self.queriesPerPool))
        }
        defer { queriesUsed += 1 }
        return (queryPools[queriesUsed / Self.queriesPerPool], UInt32(queriesUsed % Self.queriesPerPool))
    }

    /// Records one dispatch of `pipeline` over `groups` workgroups with `buffers` bound at
    /// bindings 0, 1, … and `push` as push constants (32-bit words, at most 32), after a
    /// barrier when an earlier command since the last one may touch what it binds (read after
    /// write, write after read or write).
    func dispatch(_ pipeline: VulkanPipeline, buffers: [VulkanBuffer], push: [UInt32],
                  groups: (UInt32, UInt32, UInt32)) throws {
        try assertRecording()
        precondition(buffers.count == pipeline.bindings, "pipeline has \(pipeline.bindings) bindings, got \(buffers.count) buffers")
        precondition(push.count * 4 <= VulkanPipeline.pushConstantBytes, "push constants over 128 bytes")
        guard groups.0 > 0, groups.1 > 0, groups.2 > 0 else { return }
        let bound = buffers.map(ObjectIdentifier.init)
        if needsBarrier || bound.contains(where: unordered.contains) { barrierIfNeeded() }
        let set = try allocateSet(pipeline.setLayout)
        let infos = buffers.map { VkDescriptorBufferInfo(buffer: $0.buffer, offset: 0, range: VkDeviceSize(VK_WHOLE_SIZE)) }
        infos.withUnsafeBufferPointer { ip in
            var writes = (0..<buffers.count).map { i in
                var w = VkWriteDescriptorSet()
                w.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET
                w.dstSet = set
                w.dstBinding = UInt32(i)
                w.descriptorCount = 1
                w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
                w.pBufferInfo = ip.baseAddress! + i
                return w
            }
            vkUpdateDescriptorSets(device.handle, UInt32(writes.count), &writes, 0, nil)
        }
        vkCmdBindPipeline(commandBuffer, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline)
        var sets: [VkDescriptorSet?] = [set]
        vkCmdBindDescriptorSets(commandBuffer, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout, 0, 1, &sets, 0, nil)
        if !push.isEmpty {
            push.withUnsafeBytes { p in
                vkCmdPushConstants(commandBuffer, pipeline.layout, VK_SHADER_STAGE_COMPUTE_BIT.rawValue, 0,
                                   UInt32(p.count), p.baseAddress)
            }
        }
        if profile {
            let (pool, q) = try nextQuery()
            vkCmdWriteTimestamp(commandBuffer, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, pool, q)
        }
        vkCmdDispatch(commandBuffer, groups.0, groups.1, groups.2)
        if profile {
            let (pool, q) = try nextQuery()
            vkCmdWriteTimestamp(commandBuffer, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, pool, q)
            timedLabels.append(label)
        }
        retained.append(contentsOf: buffers)
        unordered.formUnion(bound)
        dispatchCount += 1
        if firstDispatches[ObjectIdentifier(pipeline)] == nil { firstDispatches[ObjectIdentifier(pipeline)] = (pipeline, set, push) }
    }

    /// Submits, in a command buffer of its own, each recorded pipeline once over no
    /// workgroups (nothing runs, nothing is read or written) and waits. Drivers that build a
    /// pipeline's machine code at its first dispatch rather than at its creation (lavapipe
    /// does) build it now, so that the first `submitAndWait` costs what later ones cost.
    public func warmUp() throws {
        guard !firstDispatches.isEmpty else { return }
        let dev = device.handle
        let cb = try Self.begunCommandBuffer(dev, pool: commandPool, flags: VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT.rawValue)
        defer { vkFreeCommandBuffers(dev, commandPool, 1, [cb]) }
        for (pipeline, set, push) in firstDispatches.values {
            vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline)
            var sets: [VkDescriptorSet?] = [set]
            vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout, 0, 1, &sets, 0, nil)
            if !push.isEmpty {
                push.withUnsafeBytes { p in
                    vkCmdPushConstants(cb, pipeline.layout, VK_SHADER_STAGE_COMPUTE_BIT.rawValue, 0, UInt32(p.count), p.baseAddress)
                }
            }
            vkCmdDispatch(cb, 0, 0, 0)
        }
        try check(vkEndCommandBuffer(cb), "vkEndCommandBuffer")
        try device.submit(cb, fence: fence)
        inFlight = true
        try check(vkWaitForFences(dev, 1, [fence], 1, .max), "vkWaitForFences")
        inFlight = false
        try check(vkResetFences(dev, 1, [fence]), "vkResetFences")
    }

    /// A 1-D dispatch for `count` items in workgroups of `groupSize`; the grid is capped at the
    /// device limit, so shaders loop with a grid stride (see the elementwise shaders).
    func dispatch(_ pipeline: VulkanPipeline, buffers: [VulkanBuffer], push: [UInt32], count: Int, groupSize: Int) throws {
        let groups = min((count + groupSize - 1) / groupSize, Int(min(device.maxGroupsX, 65535)))
        try dispatch(pipeline, buffers: buffers, push: push, groups: (UInt32(groups), 1, 1))
    }

    /// Ends recording (the first time), submits the command buffer, waits for it and fills
    /// the downloads and timings.
    public func submitAndWait() throws {
        if ended {
            try check(vkResetFences(device.handle, 1, [fence]), "vkResetFences")
        } else {
            barrierIfNeeded()
            try check(vkEndCommandBuffer(commandBuffer), "vkEndCommandBuffer")
            ended = true
        }
        try device.submit(commandBuffer, fence: fence)
        inFlight = true
        try check(vkWaitForFences(device.handle, 1, [fence], 1, .max), "vkWaitForFences")
        inFlight = false
        if profile, let period = device.timestampPeriod {
            var ticks = [UInt64](repeating: 0, count: queriesUsed)
            for (i, pool) in queryPools.enumerated() {
                let count = min(Self.queriesPerPool, queriesUsed - i * Self.queriesPerPool)
                try ticks.withUnsafeMutableBufferPointer { t in
                    try check(vkGetQueryPoolResults(device.handle, pool, 0, UInt32(count), count * 8,
                                                    t.baseAddress! + i * Self.queriesPerPool, 8,
                                                    VK_QUERY_RESULT_64_BIT.rawValue | VK_QUERY_RESULT_WAIT_BIT.rawValue),
                              "vkGetQueryPoolResults")
                }
            }
            timings = timedLabels.enumerated().map { i, label in
                (label, Double(ticks[2 * i + 1] &- ticks[2 * i]) * period)
            }
        }
        for d in downloads {
            var shape = d.shape
            if let rows = d.rows {
                let count = hostTensor(words: rows.count.source.mapped, shape: [1], dataType: .int32, device.storage).ints()[0]
                shape[rows.axis] = min(max(count, 0), shape[rows.axis])
            }
            d.value = hostTensor(words: d.source.mapped, shape: shape, dataType: d.dataType, device.storage)
        }
    }
}

/// `tensor` with its elements as `storage` holds them (see `VulkanTensor`): itself for float32,
/// int32, uint32 and the wide types, else a converted copy of 32-bit words.
func deviceWords(_ tensor: Tensor, _ storage: VulkanStorage) throws -> Tensor {
    if storage.wide.contains(tensor.dataType) { return tensor }
    func widened<S: TensorElement, W: TensorElement>(_: S.Type, _ word: (S) throws -> W) rethrows -> Tensor {
        Tensor(shape: tensor.shape, scalars: try tensor.withUnsafeBufferPointer(as: S.self) { try $0.map(word) })
    }
    func narrowed<S: TensorElement & BinaryInteger, W: TensorElement & FixedWidthInteger>(_: S.Type, to _: W.Type) throws -> Tensor {
        try widened(S.self) { v -> W in
            guard let w = W(exactly: v) else {
                throw VonnxError.invalidArgument("Vulkan: \(tensor.dataType) value \(v) does not fit the device's 32-bit integers")
            }
            return w
        }
    }
    switch tensor.dataType {
    case .float, .int32, .uint32: return tensor
    case .int64: return try narrowed(Int64.self, to: Int32.self)
    case .uint64: return try narrowed(UInt64.self, to: UInt32.self)
    case .int8: return widened(Int8.self, Int32.init)
    case .int16: return widened(Int16.self, Int32.init)
    case .uint8: return widened(UInt8.self, UInt32.init)
    case .uint16: return widened(UInt16.self, UInt32.init)
    case .bool: return widened(Bool.self) { UInt32($0 ? 1 : 0) }
    case .float16: return widened(Float16.self, Float.init)
    case .bfloat16: return widened(UInt16.self) { Float(bitPattern: UInt32($0) << 16) }
    case .double, .string:
        throw VonnxError.invalidArgument("Vulkan: \(tensor.dataType) tensors cannot go to the device")
    }
}

/// `tensor`'s elements as `storage` holds them (see `deviceWords`), as raw 32-bit words: two an
/// element of a wide type, the low one first.
func deviceBits(_ tensor: Tensor, _ storage: VulkanStorage) throws -> [UInt32] {
    let words = try deviceWords(tensor, storage)
    let count = words.count * storage.elementBytes(tensor.dataType) / 4
    return Array(UnsafeBufferPointer(start: words.storage.pointer.assumingMemoryBound(to: UInt32.self), count: count))
}

/// The host tensor of the `count(shape)` elements at `words` (nil when empty), held as `storage` holds `dataType`.
private func hostTensor(words: UnsafeMutableRawPointer?, shape: [Int], dataType: DataType, _ storage: VulkanStorage) -> Tensor {
    let count = shape.reduce(1, *)
    guard count > 0, let words else { return Tensor(zeros: dataType, shape: shape) }
    func narrowed<W: TensorElement, E: TensorElement>(_: W.Type, _ element: (W) -> E) -> Tensor {
        let w = words.bindMemory(to: W.self, capacity: count)
        return Tensor(dataType: dataType, shape: shape, storage: Tensor(shape: shape, scalars: (0..<count).map { element(w[$0]) }).storage)
    }
    func copied() -> Tensor {
        let t = Tensor(zeros: dataType, shape: shape)
        t.storage.pointer.copyMemory(from: words, byteCount: count * storage.elementBytes(dataType))
        return t
    }
    if storage.wide.contains(dataType) { return copied() }
    switch dataType {
    case .int64: return narrowed(Int32.self, Int64.init)
    case .uint64: return narrowed(UInt32.self, UInt64.init)
    case .int8: return narrowed(Int32.self, Int8.init(truncatingIfNeeded:))
    case .int16: return narrowed(Int32.self, Int16.init(truncatingIfNeeded:))
    case .uint8: return narrowed(UInt32.self, UInt8.init(truncatingIfNeeded:))
    case .uint16: return narrowed(UInt32.self, UInt16.init(truncatingIfNeeded:))
    case .bool: return narrowed(UInt32.self) { $0 != 0 }
    case .float16: return narrowed(Float.self, Float16.init)
    case .bfloat16: return narrowed(Float.self) { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }
    default: return copied()
    }
}
