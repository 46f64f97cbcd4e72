#if Vulkan  // the package trait: without it, Vonnx is CPU only
import Synchronization
import VonnxCPU
import VonnxVulkan

/// A run of consecutive nodes (in topological order) that executes on a Vulkan device.
///
/// Its weights (initializers) are uploaded once, at creation, and what kernels derive from them
/// (transformed filters) is made once, at the first recording. Values that depend only on
/// input shapes and weights (Shape → Gather → Concat → Reshape's shape, say: see
/// `evaluatesOnHost`) are computed on the host by the CPU kernels while recording, so they never
/// split a partition; a device kernel that reads one gets it uploaded. The nodes are recorded once per
/// set of input shapes (and host-read input values) into command buffers of at most
/// `dispatchesPerSubmission` dispatches each, then replayed: a run only rewrites the uploaded
/// inputs, submits, and downloads the values read after the partition. Intermediates reuse
/// device buffers once their last reader is recorded. Runs of one partition are serialized by
/// its lock, so `run` may be called from several threads. With a CPU fallback, input shapes
/// or attributes a kernel rejects while recording (a 3-D Conv, say) run the partition's nodes
/// on the CPU instead; without one, the kernel's error is thrown.
final class VulkanPartition: Partition {
    /// Longest command buffer, in dispatches, so no single submission runs for seconds.
    static let dispatchesPerSubmission = 500
    /// Recordings kept (distinct input shapes); past this, an arbitrary one is dropped.
    static let maxRecordings = 16

    let nodes: [Node]
    /// Values the partition reads from outside (graph inputs, CPU results): what `run` takes.
    let inputs: [String]
    /// Values read after the partition (by CPU nodes or as graph outputs): what `run` returns.
    let outputs: [String]
    private let device: VulkanDevice
    private let opset: Int
    /// Indices of the nodes evaluated on the host while recording, and their ops by index (but
    /// Shape and Size's, which need only a shape); `pool` runs them within `limits`.
    private let hostDefinitions: [Int: OpDefinition]
    private let hostEvaluated: Set<Int>
    private let pool: ThreadPool
    private let limits: Limits
    /// Initializers read on the device, uploaded at creation.
    private let weights: [String: VulkanTensor]
    /// Tensors the kernels derive from `weights`, made at the first recording that needs them.
    private let preparedWeights: PreparedWeights
    /// Initializers read on the host (shapes, axes, bounds, inputs of host-evaluated nodes).
    private let hostConstants: [String: Tensor]
    /// Inputs read on the device (uploaded each run) and on the host (part of the cache key).
    private let deviceRead: Set<String>, hostRead: Set<String>
    /// For each value produced or read here, the index of the last node reading it (a chain
    /// member's reads count at its root, where the chain is recorded).
    private let lastUse: [String: Int]
    /// The roots of the elementwise chains recorded as one dispatch, by member index (`ElementwiseFusion`).
    private let chainRoots: [Int: Int]
    private let recordings = Mutex<[Key: Entry]>([:])
    /// The partition's nodes on the CPU, for what the Vulkan kernels reject.
    private let cpu: Interpreter?

    private enum Entry {
        case device(Recording)
        /// A kernel rejected these inputs (with this error): the CPU runs them.
        case cpu(reason: String)
    }

    /// An error a kernel raised while recording (as opposed to one from the device).
    private struct KernelRejected: Error { let error: Error }

    private struct Key: Hashable {
        let shapes: [[Int]]
        let hostValues: [[UInt8]]
        let profiled: Bool
        /// Inputs and outputs stay on the device (`runOnDevice`).
        var onDevice = false
    }

    /// Where the value of one of `outputs` comes from in a recording.
    private enum Result {
        /// Read back by each run.
        case device(VulkanDownload)
        /// Left on the device (a recording for `runOnDevice`).
        case resident(VulkanTensor)
        /// Evaluated on the host while recording.
        case host(Tensor)
    }

    /// One recording of the partition for one `Key`.
    private final class Recording {
        let recorders: [VulkanRecorder]
        /// Uploaded inputs (index into `inputs`, tensor), all in the first recorder; for
        /// `runOnDevice`, the device tensors its inputs are copied into.
        let uploads: [(index: Int, tensor: VulkanTensor)]
        let results: [Result]
        /// Per node, its input and output shapes (for profile events).
        let shapes: [(inputs: [[Int]], outputs: [[Int]])]
        init(recorders: [VulkanRecorder], uploads: [(index: Int, tensor: VulkanTensor)], results: [Result],
             shapes: [(inputs: [[Int]], outputs: [[Int]])]) {
            self.recorders = recorders; self.uploads = uploads; self.results = results; self.shapes = shapes
        }
    }

    /// A partition of `nodes`, whose values read later are `outputs`; `initializers` are the
    /// graph's weights and `hostReadable` the inputs it may read on the host
    /// (`VulkanPlacement.hostReadable`). Uploads the weights it reads on the device.
    /// Host-evaluated nodes run on `pool` within `limits`; with `fallback`, what the kernels
    /// reject runs on the CPU.
    init(nodes: [Node], outputs: [String], initializers: [String: Tensor], hostReadable: Set<String>, device: VulkanDevice,
         opsets: [String: Int], pool: ThreadPool, limits: Limits, fallback: Bool) throws {
        let opset = opsets[""] ?? opsets["ai.onnx"] ?? 1
        self.nodes = nodes
        self.outputs = outputs
        self.device = device
        self.opset = opset
        self.pool = pool
        self.limits = limits
        var produced = Set<String>(), inputs: [String] = [], deviceRead = Set<String>(), hostRead = Set<String>()
        var lastUse: [String: Int] = [:], known = Set<String>(), hostEvaluated = Set<Int>(), hostDefinitions: [Int: OpDefinition] = [:]
        for (i, node) in nodes.enumerated() {
            let evaluated = Self.evaluatesOnHost(node, known: known, produced: produced, initializers: initializers,
                                                 hostReadable: hostReadable)
            if evaluated {
                hostEvaluated.insert(i)
                known.formUnion(node.outputs)
                if !Self.readsShapeOnly(node) { hostDefinitions[i] = try definition(of: node, opsets: opsets) }
            }
            let host = evaluated ? Set(node.inputs.indices) : VulkanKernels.hostInputs(of: node)
            for (slot, name) in node.inputs.enumerated() where !name.isEmpty {
                lastUse[name] = i
                guard !produced.contains(name) else { continue }
                // A shape read of an initializer reads the host copy; of an input, the given tensor's shape.
                if host.contains(slot) && !(Self.readsShapeOnly(node) && initializers[name] == nil) { hostRead.insert(name) }
                if !host.contains(slot) { deviceRead.insert(name) }
                if initializers[name] == nil && !inputs.contains(name) { inputs.append(name) }
            }
            produced.formUnion(node.outputs.filter { !$0.isEmpty })
        }
        chainRoots = ElementwiseFusion.roots(nodes, kept: Set(outputs), excluded: hostEvaluated)
        for (i, root) in chainRoots {
            for name in nodes[i].inputs where !name.isEmpty { lastUse[name] = max(lastUse[name] ?? root, root) }
        }
        self.hostEvaluated = hostEvaluated
        self.hostDefinitions = hostDefinitions
        self.inputs = inputs
        self.deviceRead = deviceRead
        self.hostRead = hostRead
        self.lastUse = lastUse
        hostConstants = initializers.filter { hostRead.contains($0.key) }
        let weightNames = deviceRead.filter { initializers[$0] != nil }.sorted()
        for name in weightNames { try Self.checkFits(name, initializers[name]!, device) }
        weights = Dictionary(uniqueKeysWithValues: zip(weightNames, try device.upload(weightNames.map { initializers[$0]! })))
        preparedWeights = PreparedWeights(weights: Array(weights.values))
        cpu = try (fallback ? pool : nil).map { pool in
            let read = Set(nodes.flatMap(\.inputs))
            let graph = Graph(name: "vulkan-partition", nodes: nodes, inputs: inputs.map { ValueInfo(name: $0, type: nil) },
                              outputs: outputs.map { ValueInfo(name: $0, type: nil) },
                              initializers: initializers.filter { read.contains($0.key) })
            return try Interpreter(graph: graph, opsets: opsets, pool: pool)
        }
    }

    /// Whether `tensor` fits one storage buffer binding of `device`, each element as its storage holds it.
    static func fits(_ tensor: Tensor, _ device: VulkanDevice) -> Bool {
        tensor.count * device.storage.elementBytes(tensor.dataType) <= device.maxBufferBytes
    }

    /// Whether a partition evaluates `node` on the host while recording, given the values
    /// `known` there (outputs of earlier host-evaluated nodes of the partition), those `produced`
    /// on the device before it, the graph's `initializers` and the inputs a partition may read on
    /// the host (`hostReadable`): Shape and Size always (they read a shape), and any other
    /// `hostEvaluable` node whose inputs are all known, initializers, or partition inputs it reads
    /// on the host anyway (`VulkanKernels.hostInputs`: Range's bounds, say) or that are
    /// `hostReadable`. What these make depends on input shapes, host-read input values and
    /// weights alone, which a recording is keyed by.
    static func evaluatesOnHost(_ node: Node, known: Set<String>, produced: Set<String>, initializers: [String: Tensor],
                                hostReadable: Set<String>) -> Bool {
        if readsShapeOnly(node) { return true }
        guard hostEvaluable(node) else { return false }
        let host = VulkanKernels.hostInputs(of: node)
        return node.inputs.enumerated().allSatisfy { slot, name in
            name.isEmpty || known.contains(name) || initializers[name] != nil
                || (host.contains(slot) || hostReadable.contains(name)) && !produced.contains(name)
        }
    }

    /// Whether the CPU kernel can compute `node` while a partition records: a deterministic op
    /// with a CPU kernel and no subgraph.
    static func hostEvaluable(_ node: Node) -> Bool {
        let random = node.domain.isEmpty && Passes.nondeterministic.contains(node.opType)
        return !node.hasSubgraphs && !random && (try? definition(of: node, opsets: [:])) != nil
    }

    /// Shape and Size read only their input's shape.
    static func readsShapeOnly(_ node: Node) -> Bool {
        (node.domain.isEmpty || node.domain == "ai.onnx") && (node.opType == "Shape" || node.opType == "Size")
    }

    /// Throws unless `tensor` fits one storage buffer binding of `device`.
    static func checkFits(_ name: String, _ tensor: Tensor, _ device: VulkanDevice) throws {
        let bytes = tensor.count * device.storage.elementBytes(tensor.dataType)
        guard fits(tensor, device) else {
            throw VonnxError.invalidArgument("Vulkan: value '\(name)' (\(tensor.dataType)\(tensor.shape), \(bytes) bytes) is over "
                                             + "\(device.info.name)'s \(device.maxBufferBytes)-byte storage buffer limit")
        }
    }

    /// Runs the partition on `values` (aligned with `inputs`) and returns `outputs`' values;
    /// with `profile`, records one event per node with its GPU time.
    func run(_ values: [Tensor], profile: Profile?) throws -> [Tensor] {
        let key = key(values, profiled: profile != nil)
        let onDevice: [Tensor]? = try recordings.withLock { cache in
            guard let (recording, fresh) = try recording(key, in: &cache, { try record(values, profiled: profile != nil) }) else {
                return nil
            }
            if !fresh { for (i, t) in recording.uploads { try recording.recorders[0].rewrite(t, with: values[i]) } }
            let start = profile?.now() ?? 0
            for recorder in recording.recorders { try recorder.submitAndWait() }
            if let profile { report(recording, start: start, to: profile) }
            return try recording.results.map { result in
                switch result {
                case .device(let download): try download.tensor()
                case .resident(let t): try device.download([t])[0]
                case .host(let t): t
                }
            }
        }
        if let onDevice { return onDevice }
        return try cpu!.run(values, profile: profile)
    }

    /// Runs the partition on tensors of its device (aligned with `inputs`) and returns
    /// `outputs`' values as new tensors of the device: inputs are copied in and outputs out on
    /// the device (but values evaluated on the host, uploaded). Throws when an input is read on
    /// the host; what the kernels reject runs on the CPU, through host copies.
    func runOnDevice(_ values: [VulkanTensor]) throws -> [VulkanTensor] {
        if let name = inputs.first(where: hostRead.contains) {
            throw VonnxError.invalidArgument("'\(name)' is read on the host (as a shape or an index, say): "
                                             + "pass it in a run with host tensors")
        }
        let key = Key(shapes: values.map(\.shape), hostValues: values.map { _ in [] }, profiled: false, onDevice: true)
        let copies = try VulkanRecorder(device: device)
        let results: [VulkanTensor]? = try recordings.withLock { cache in
            let made = try recording(key, in: &cache) {
                try record(values.map { Tensor(zeros: $0.dataType, shape: $0.shape) }, profiled: false, onDevice: true)
            }
            guard let (recording, _) = made else { return nil }
            let inputCopies = try VulkanRecorder(device: device)
            for (i, t) in recording.uploads { try inputCopies.copy(values[i], to: t) }
            try inputCopies.submitAndWait()
            for recorder in recording.recorders { try recorder.submitAndWait() }
            let results = try recording.results.map { result in
                switch result {
                case .device(let download): return try copies.upload(download.tensor())
                case .resident(let t):
                    let copy = try VulkanTensor(on: device, shape: t.shape, dataType: t.dataType)
                    try copies.copy(t, to: copy)
                    return copy
                case .host(let t): return try copies.upload(t)
                }
            }
            try copies.submitAndWait()
            return results
        }
        if let results { return results }
        let uploaded = try cpu!.run(device.download(values), profile: nil).map { try copies.upload($0) }
        try copies.submitAndWait()
        return uploaded
    }

    /// The recording for `key` in `cache` (which the caller holds locked), made by `make` when
    /// there is none (`fresh`); nil when the kernels rejected these inputs and the CPU runs them.
    private func recording(_ key: Key, in cache: inout [Key: Entry],
                           _ make: () throws -> Recording) throws -> (recording: Recording, fresh: Bool)? {
        switch cache[key] {
        case .cpu?: return nil
        case .device(let cached)?: return (cached, false)
        case nil:
            if cache.count >= Self.maxRecordings { cache.remove(at: cache.startIndex) }
            do {
                let made = try make()
                cache[key] = .device(made)
                return (made, true)
            } catch let e as KernelRejected {
                guard cpu != nil else { throw e.error }
                cache[key] = .cpu(reason: "\(e.error)")
                return nil
            }
        }
    }

    /// The errors of the kernels that rejected the input shapes of the recordings kept now, for
    /// which the partition's nodes run on the CPU (with a fallback); empty when none did.
    var rejections: [String] {
        recordings.withLock { cache in
            Set(cache.values.compactMap { entry in if case .cpu(let reason) = entry { reason } else { nil } }).sorted()
        }
    }

    private func key(_ values: [Tensor], profiled: Bool) -> Key {
        Key(shapes: values.map(\.shape),
            hostValues: zip(inputs, values).map { name, t in
                hostRead.contains(name) ? Array(UnsafeRawBufferPointer(start: t.storage.pointer, count: t.storage.byteCount)) : []
            },
            profiled: profiled)
    }

    /// Records the partition ahead of its first run for inputs of the given types, when all are
    /// known (static shapes) and none is read on the host: its pipelines are built and warmed
    /// up (`VulkanRecorder.warmUp`) now, so the first run costs what later runs cost. What
    /// recording meets (a kernel's rejection, a device error) is left for `run` to meet again
    /// and report.
    func prepare(_ type: (String) -> ValueType?) {
        guard !inputs.contains(where: hostRead.contains) else { return }
        var values: [Tensor] = []
        for name in inputs {
            guard let t = type(name), let element = t.elementType, let shape = t.staticShape,
                  checkedElementCount(shape) != nil else { return }
            values.append(Tensor(zeros: element, shape: shape))
        }
        let key = key(values, profiled: false)
        recordings.withLock { cache in
            guard cache[key] == nil, let recording = try? record(values, profiled: false),
                  (try? recording.recorders.forEach { try $0.warmUp() }) != nil else { return }
            cache[key] = .device(recording)
        }
    }

    /// Records the partition for inputs like `values`; `onDevice` (for `runOnDevice`) makes
    /// device tensors for the inputs instead of uploading `values`, and leaves the outputs there.
    private func record(_ values: [Tensor], profiled: Bool, onDevice deviceIO: Bool = false) throws -> Recording {
        var recorder = try VulkanRecorder(device: device, profile: profiled)
        var recorders = [recorder]
        var onDevice = weights
        var onHost = hostConstants
        var uploads: [(index: Int, tensor: VulkanTensor)] = []
        let given = Dictionary(uniqueKeysWithValues: zip(inputs, values))
        for (i, (name, t)) in zip(inputs, values).enumerated() {
            if hostRead.contains(name) { onHost[name] = t }
            guard deviceRead.contains(name) else { continue }
            try Self.checkFits(name, t, device)
            let uploaded = try deviceIO ? VulkanTensor(on: device, shape: t.shape, dataType: t.dataType) : recorder.upload(t)
            onDevice[name] = uploaded
            uploads.append((i, uploaded))
        }
        // Buffers holding weights or inputs are never recycled; the others when no live value uses them.
        let pinned = Set(onDevice.values.map { ObjectIdentifier($0.buffer) })
        var liveUses: [ObjectIdentifier: Int] = [:]
        let kept = Set(outputs)
        var shapes: [(inputs: [[Int]], outputs: [[Int]])] = []
        let chains = ElementwiseFusion()
        for (i, node) in nodes.enumerated() {
            if recorder.dispatchCount >= Self.dispatchesPerSubmission {
                recorder = try VulkanRecorder(device: device, profile: profiled)
                recorders.append(recorder)
            }
            if hostEvaluated.contains(i) {
                let inputShapes = node.inputs.map { onDevice[$0]?.shape ?? onHost[$0]?.shape ?? given[$0]?.shape ?? [] }
                let produced = try evaluateOnHost(i, inputs: node.inputs.map { onHost[$0] }, shape: inputShapes.first ?? [])
                shapes.append((inputShapes, produced.map(\.shape)))
                for (name, t) in zip(node.outputs, produced) where !name.isEmpty { onHost[name] = t }
                continue
            }
            guard let kernel = VulkanKernels.table[VulkanKernels.key(of: node)] else {
                throw VonnxError.unsupportedOp(node: node.label, op: node.opType, domain: node.domain, opset: opset)
            }
            let host = VulkanKernels.hostInputs(of: node)
            recorder.label = node.label
            let deviceInputs = try node.inputs.enumerated().map { slot, name -> VulkanTensor? in
                guard !host.contains(slot), !name.isEmpty else { return nil }
                // A value evaluated on the host is uploaded for its first device reader.
                if onDevice[name] == nil, let t = onHost[name] { onDevice[name] = try recorder.upload(t) }
                return onDevice[name]
            }
            let ctx = VulkanKernelContext(node: node, inputs: deviceInputs, hostInputs: node.inputs.map { onHost[$0] }, opset: opset,
                                          recorder: recorder, preparedWeights: preparedWeights)
            let inputShapes = { node.inputs.map { onDevice[$0]?.shape ?? chains.shape(of: $0) ?? onHost[$0]?.shape ?? [] } }
            let produced: [VulkanTensor]
            do {
                if let root = chainRoots[i], root != i {
                    try chains.add(ctx)
                    shapes.append((inputShapes(), [chains.shape(of: node.outputs[0]) ?? []]))
                    continue
                }
                produced = try chainRoots[i] == i ? [chains.record(ctx)] : kernel(ctx)
            } catch let e as VonnxError {
                if case .invalidArgument(let m) = e { throw KernelRejected(error: node.error(m)) }
                throw KernelRejected(error: e)
            }
            guard produced.count >= node.outputs.filter({ !$0.isEmpty }).count else {
                throw node.error("the Vulkan kernel produced \(produced.count) outputs, \(node.outputs.count) are needed")
            }
            shapes.append((inputShapes(), produced.map(\.shape)))
            for (name, t) in zip(node.outputs, produced) where !name.isEmpty {
                onDevice[name] = t
                liveUses[ObjectIdentifier(t.buffer), default: 0] += 1
            }
            for name in Set(node.inputs + node.outputs) where !name.isEmpty && !kept.contains(name) && (lastUse[name] ?? i) <= i {
                guard let t = onDevice[name], !pinned.contains(ObjectIdentifier(t.buffer)) else { continue }
                onDevice[name] = nil
                let id = ObjectIdentifier(t.buffer)
                liveUses[id, default: 1] -= 1
                if liveUses[id] == 0 { recorder.recycle(t) }
            }
        }
        let results = try outputs.map { name -> Result in
            if let t = onHost[name] { return .host(t) }
            guard let t = onDevice[name] else { throw VonnxError.invalidModel("Vulkan partition did not produce '\(name)'") }
            return deviceIO && t.rowCount == nil ? .resident(t) : .device(try recorder.download(t))
        }
        return Recording(recorders: recorders, uploads: uploads, results: results, shapes: shapes)
    }

    /// Evaluates node `i` (one of `hostEvaluated`) on its host `inputs`, or from its input's `shape`
    /// for Shape and Size, within `limits`.
    private func evaluateOnHost(_ i: Int, inputs: [Tensor?], shape: [Int]) throws -> [Tensor] {
        let node = nodes[i]
        guard let definition = hostDefinitions[i] else { return [try ShapeRules.shapeValue(node, of: shape)] }
        do {
            try limits.checkOutputs(of: node, definition, inputs: inputs, opset: opset)
            return try definition.cpu(KernelContext(node: node, inputs: inputs, opset: opset, pool: pool))
        } catch let e as VonnxError {
            if case .invalidArgument(let m) = e { throw node.error(m) }
            throw e
        }
    }

    /// One profile event per node: its summed GPU dispatch time, laid end to end from `start`.
    private func report(_ recording: Recording, start: Int64, to profile: Profile) {
        var gpu: [String: Double] = [:]
        for recorder in recording.recorders {
            for (label, ns) in recorder.timings { gpu[label, default: 0] += ns }
        }
        var at = start
        for (node, shapes) in zip(nodes, recording.shapes) {
            let duration = Int64(gpu[node.label] ?? 0)
            profile.record(.init(node: node.label, opType: node.opType, backend: "vulkan", start: at, duration: duration,
                                 inputShapes: shapes.inputs, outputShapes: shapes.outputs))
            at += duration
        }
    }
}

/// Which nodes of a sorted graph run on a Vulkan device: every maximal run of consecutive
/// nodes that `VulkanKernels.accepts` (given the inferred input types, and with host-read
/// inputs not produced on the device inside the run) or that the partition evaluates on the
/// host (`VulkanPartition.evaluatesOnHost`) becomes one `VulkanPartition`; one ends after a
/// node whose output's row count only the device knows (`VulkanKernels.hasDeviceRowCount`). With fallback, a
/// node reading a weight over the device's storage buffer limit (one `splittingOversizedWeights`
/// cannot split) stays on the CPU; without, the partition's upload refuses it by name. A
/// control-flow node (If, Loop, Scan) runs on the host, and each of its bodies is placed the
/// same way (`placingBodies`).
struct VulkanPlacement {
    /// The graph with each partition replaced by one node (domain `vonnx`, op `VulkanPartition`)
    /// named by its key in `partitions`, and each control-flow body by its placed graph.
    let graph: Graph
    /// The partitions of the graph and of its bodies (their names start with the body's path).
    let partitions: [String: VulkanPartition]
    /// The nodes left to the CPU, bodies' included.
    let cpuNodes: [Node]
    /// How each body (nested ones included) was placed.
    let bodies: [BodyPlacement]
    /// The partitions and CPU nodes of this graph itself (not of its bodies).
    let own: (partitions: Int, cpuNodes: [Node])

    /// Host-evaluated nodes run on `pool` within `limits`; with `fallback`, each partition can
    /// run on the CPU what its kernels reject. Partition names start with `prefix`.
    init(_ given: Graph, device: VulkanDevice, opsets: [String: Int], pool: ThreadPool, limits: Limits, fallback: Bool,
         prefix: String = "") throws {
        var graph = given  // with the types of control-flow outputs added as their bodies are placed
        func type(_ name: String) -> DataType? { graph.initializers[name]?.dataType ?? graph.type(of: name)?.elementType }
        var lastRead: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() {
            for name in node.inputs + node.capturedNames() where !name.isEmpty { lastRead[name] = i }
        }
        for output in graph.outputs { lastRead[output.name] = graph.nodes.count }
        let hostReadable = Self.hostReadable(graph)

        var nodes: [Node] = [], partitions: [String: VulkanPartition] = [:], cpuNodes: [Node] = [], bodies: [BodyPlacement] = []
        var own = (partitions: 0, cpuNodes: [Node]())
        var run: [Node] = [], produced = Set<String>(), onHost = Set<String>()
        func flush(before end: Int) throws {
            guard !run.isEmpty else { return }
            let outputs = run.flatMap(\.outputs).filter { !$0.isEmpty && (lastRead[$0] ?? -1) >= end }
            let partition = try VulkanPartition(nodes: run, outputs: outputs, initializers: graph.initializers,
                                                hostReadable: hostReadable, device: device, opsets: opsets, pool: pool,
                                                limits: limits, fallback: fallback)
            partition.prepare(graph.type(of:))
            let name = "\(prefix.isEmpty ? "" : prefix + ": ")vulkan-partition-\(own.partitions)"
            own.partitions += 1
            partitions[name] = partition
            nodes.append(Node(name: name, opType: "VulkanPartition", domain: "vonnx", inputs: partition.inputs, outputs: outputs))
            run = []
            produced = []
            onHost = []
        }
        for (i, node) in graph.nodes.enumerated() {
            if node.hasSubgraphs {
                try flush(before: i)
                let placed = try Self.placingBodies(of: node, in: graph, prefix: prefix, device: device, opsets: opsets, pool: pool,
                                                    limits: limits, fallback: fallback)
                nodes.append(placed.node)
                partitions.merge(placed.partitions) { a, _ in a }
                cpuNodes += placed.cpuNodes
                bodies += placed.bodies
                graph.valueInfo.merge(placed.outputTypes.map { ($0, ValueInfo(name: $0, type: $1)) }) { known, _ in known }
                continue
            }
            if VulkanPartition.evaluatesOnHost(node, known: onHost, produced: produced, initializers: graph.initializers,
                                               hostReadable: hostReadable) {
                run.append(node)
                produced.formUnion(node.outputs)
                onHost.formUnion(node.outputs)
                continue
            }
            let host = VulkanKernels.hostInputs(of: node)
            let accepted = VulkanKernels.accepts(node, inputTypes: node.inputs.map { $0.isEmpty ? nil : type($0) }, storage: device.storage)
                && !node.inputs.enumerated().contains { host.contains($0) && produced.contains($1) && !onHost.contains($1) }
                && (!fallback || !node.inputs.enumerated().contains { slot, name in
                    !host.contains(slot) && graph.initializers[name].map { !VulkanPartition.fits($0, device) } ?? false })
            if accepted {
                run.append(node)
                produced.formUnion(node.outputs)
                if VulkanKernels.hasDeviceRowCount(node) { try flush(before: i + 1) }
            } else {
                try flush(before: i)
                nodes.append(node)
                cpuNodes.append(node)
                own.cpuNodes.append(node)
            }
        }
        try flush(before: graph.nodes.count)
        var placed = graph
        placed.nodes = nodes
        self.graph = placed
        self.partitions = partitions
        self.cpuNodes = cpuNodes
        self.bodies = bodies
        self.own = own
    }

    /// Most elements a partition input may have to be read on the host by `hostReadable`'s rule
    /// (its bytes key the recordings).
    static let hostReadableElements = 64

    /// The values of `graph` (not weights) that decide a shape: each is read at a host input
    /// slot (`VulkanKernels.hostInputs`: Reshape's shape, Range's bounds…) or feeds, through
    /// `hostEvaluable` nodes, one that is: a CenterCropPad's target shape, a window's size. Those
    /// with a static shape of at most `hostReadableElements` elements may be read on the host
    /// where a partition takes them as inputs, so the computation on them runs there while
    /// recording instead of splitting the partition where the device would have to hand its
    /// result back. A partition reading one at a host slot keys its recordings by it already.
    static func hostReadable(_ graph: Graph) -> Set<String> {
        var decidesShape = Set<String>()
        for node in graph.nodes.reversed() {
            let host = VulkanKernels.hostInputs(of: node)
            let feeds = !VulkanPartition.readsShapeOnly(node) && VulkanPartition.hostEvaluable(node)
                && node.outputs.contains(where: decidesShape.contains)
            for (slot, name) in node.inputs.enumerated() where !name.isEmpty && (feeds || host.contains(slot)) {
                decidesShape.insert(name)
            }
        }
        return decidesShape.filter { name in
            guard graph.initializers[name] == nil, let shape = graph.type(of: name)?.staticShape,
                  let count = checkedElementCount(shape) else { return false }
            return count <= hostReadableElements
        }
    }
}
#endif
