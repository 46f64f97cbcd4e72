import VonnxIR

/// What a Vulkan kernel sees of one node application.
public struct VulkanKernelContext {
    /// The node being recorded.
    public let node: Node
    /// Aligned with `node.inputs`: the inputs on the device; nil where an input is
    /// omitted or lives only on the host.
    public let inputs: [VulkanTensor?]
    /// Aligned with `node.inputs`: host values where known. Inputs listed by
    /// `VulkanKernels.hostInputs(of:)` (shapes, axes, bounds) must be here.
    public let hostInputs: [Tensor?]
    /// The default-domain opset the model was written against.
    public let opset: Int
    /// Where the kernel records its dispatches and makes its output tensors.
    public let recorder: VulkanRecorder
    /// Where tensors derived from weights are kept across recordings (nil: none are kept).
    public let preparedWeights: PreparedWeights?

    /// Each argument sets the property of its name.
    public init(node: Node, inputs: [VulkanTensor?], hostInputs: [Tensor?], opset: Int, recorder: VulkanRecorder,
                preparedWeights: PreparedWeights? = nil) {
        self.node = node; self.inputs = inputs; self.hostInputs = hostInputs; self.opset = opset; self.recorder = recorder
        self.preparedWeights = preparedWeights
    }

    /// Device input `i`, which must be present.
    public func input(_ i: Int) throws -> VulkanTensor {
        guard i < inputs.count, let t = inputs[i] else { throw node.error("missing required input \(i)") }
        return t
    }

    /// Device input `i`, or nil when omitted.
    public func optionalInput(_ i: Int) -> VulkanTensor? { i < inputs.count ? inputs[i] : nil }

    /// Host value of input `i`, or nil when omitted.
    public func hostInput(_ i: Int) throws -> Tensor? {
        guard i < node.inputs.count, !node.inputs[i].isEmpty else { return nil }
        guard i < hostInputs.count, let t = hostInputs[i] else {
            throw node.error("input \(i) ('\(node.inputs[i])') must be known on the host for the Vulkan kernel")
        }
        return t
    }

    /// The recorder's device.
    public var device: VulkanDevice { recorder.device }
    /// An error naming the node.
    public func error(_ message: String) -> VonnxError { node.error(message) }

    /// Throws (so that a fallback runs the node on the CPU) when a kernel whose invocations each
    /// loop over `loop` items would pass the device's loop limit, or whose steps in all (the
    /// product of `steps`) pass 2³², seconds of a GPU's time: kernels comparing items pairwise.
    func checkLoops(_ loop: Int, steps: [Int]) throws {
        if let limit = device.properties.loopIterationLimit, loop > limit / 2 {
            throw error("loops of \(loop) steps pass \(device.info.name)'s loop limit")
        }
        guard checkedElementCount(steps, limit: 1 << 32) != nil else {
            throw error("\(steps.map(String.init).joined(separator: " × ")) steps are too many for the device kernel")
        }
    }
}

/// A Vulkan kernel: records the node's computation into the context's recorder and returns
/// its outputs (in `node.outputs` order) as device tensors; it never submits.
public typealias VulkanKernel = @Sendable (VulkanKernelContext) throws -> [VulkanTensor]

/// The Vulkan kernels by ONNX op name (default domain), and a one-node runner.
///
/// For a partition of nodes: make one `VulkanRecorder`, `upload` the partition's inputs
/// (weights once, with `VulkanDevice.upload`), call each node's kernel with a
/// `VulkanKernelContext` whose inputs are the device tensors produced so far (and host values
/// for `hostInputs(of:)`), `download` the partition's outputs, then `submitAndWait` once.
/// Next run with the same input shapes: `rewrite` the uploaded inputs and `submitAndWait`
/// again, without recording anew.
public enum VulkanKernels {
    /// Every op with a Vulkan kernel, keyed by `key(of:)`.
    public static let table: [String: VulkanKernel] = {
        var t: [String: VulkanKernel] = [:]
        for (name, op) in UnaryOp.byName { t[name] = { try recordUnary(op, $0) } }
        for (name, op) in BinaryOp.byName { t[name] = { try recordBinary(op, $0) } }
        for (name, op) in BinaryOp.variadic { t[name] = { try recordVariadic(op, $0) } }
        t["Conv"] = { try recordConv($0) }
        t["com.microsoft::FusedConv"] = { try recordConv($0, residual: $0.optionalInput(3), activation: FusedActivation(of: $0.node)) }
        t["Gemm"] = recordGemm
        t["MatMul"] = recordMatMul
        t["MaxPool"] = { try recordPool($0, .max) }
        t["AveragePool"] = { try recordPool($0, .average) }
        t["LpPool"] = { try recordPool($0, .lp) }
        t["MaxUnpool"] = recordMaxUnpool
        t["RoiAlign"] = recordRoiAlign
        t["GlobalMaxPool"] = { try recordGlobalPool($0, max: true) }
        t["GlobalAveragePool"] = { try recordGlobalPool($0, max: false) }
        t["BatchNormalization"] = recordBatchNormalization
        t["Softmax"] = { try recordSoftmax($0, log: false) }
        t["LogSoftmax"] = { try recordSoftmax($0, log: true) }
        t["Concat"] = recordConcat
        t["Transpose"] = recordTranspose
        t["Reshape"] = recordReshape
        t["Flatten"] = recordFlatten
        t["Squeeze"] = recordSqueeze
        t["Unsqueeze"] = recordUnsqueeze
        t["Identity"] = recordIdentity
        t["Dropout"] = recordDropout
        t["Cast"] = recordCast
        t["CastLike"] = recordCast
        t["Where"] = recordWhere
        for (name, op) in reduceOps { t[name] = { try recordReduction(op, $0) } }
        t["ArgMax"] = { try recordArgReduce(max: true, $0) }
        t["ArgMin"] = { try recordArgReduce(max: false, $0) }
        t["Slice"] = recordSlice
        t["Expand"] = recordExpand
        t["Tile"] = recordTile
        t["Split"] = recordSplit
        t["DepthToSpace"] = { try recordDepthSpace(toSpace: true, $0) }
        t["SpaceToDepth"] = { try recordDepthSpace(toSpace: false, $0) }
        t["Shape"] = recordShape
        t["Size"] = recordShape
        t["Gather"] = recordGather
        t["GatherElements"] = recordGatherElements
        t["Pad"] = recordPad
        t["Trilu"] = recordTrilu
        t["CumSum"] = recordCumSum
        t["LayerNormalization"] = { try recordLayerNormalization(rms: false, $0) }
        t["Hardmax"] = recordHardmax
        t["OneHot"] = recordOneHot
        t["Resize"] = recordResize
        t["Upsample"] = recordUpsample
        t["Compress"] = recordCompress
        t["ReverseSequence"] = recordReverseSequence
        t["GatherND"] = recordGatherND
        t["ConvTranspose"] = recordConvTranspose
        t["LRN"] = recordLRN
        t["ScatterElements"] = { try recordScatter(elements: true, $0) }
        t["ScatterND"] = { try recordScatter(elements: false, $0) }
        t["Scatter"] = t["ScatterElements"]
        t["RMSNormalization"] = { try recordLayerNormalization(rms: true, $0) }
        t["SimplifiedLayerNormalization"] = recordSimplifiedLayerNormalization
        t["InstanceNormalization"] = recordInstanceNormalization
        t["GroupNormalization"] = recordGroupNormalization
        t["MeanVarianceNormalization"] = recordMeanVarianceNormalization
        t["Det"] = recordDet
        t["Einsum"] = recordEinsum
        t["Attention"] = recordAttention
        t["NegativeLogLikelihoodLoss"] = recordNegativeLogLikelihoodLoss
        t["SoftmaxCrossEntropyLoss"] = recordSoftmaxCrossEntropyLoss
        t["CumProd"] = recordCumSum
        for (name, cell) in RecurrentCell.byName { t[name] = { try recordRecurrent(cell, $0) } }
        t["QuantizeLinear"] = { try recordQuantize($0, quantize: true) }
        t["DequantizeLinear"] = { try recordQuantize($0, quantize: false) }
        t["DynamicQuantizeLinear"] = { try recordDynamicQuantizeLinear(try $0.input(0), $0) }
        t["MatMulInteger"] = { try recordMatMulInteger($0, qlinear: false) }
        t["QLinearMatMul"] = { try recordMatMulInteger($0, qlinear: true) }
        t["TopK"] = recordTopK
        t["RotaryEmbedding"] = recordRotaryEmbedding
        t["GridSample"] = recordGridSample
        t["Mean"] = recordMean
        t["NonMaxSuppression"] = recordNonMaxSuppression
        t["Unique"] = recordUnique
        t["DFT"] = recordDFT
        t["STFT"] = recordSTFT
        t["LpNormalization"] = recordLpNormalization
        t["ConvInteger"] = { try recordConvInteger($0, qlinear: false) }
        t["QLinearConv"] = { try recordConvInteger($0, qlinear: true) }
        t["EyeLike"] = recordEyeLike
        t["Clip"] = recordClip
        t["Col2Im"] = recordCol2Im
        t["LinearAttention"] = recordLinearAttention
        t["CausalConvWithState"] = recordCausalConvWithState
        for op in halfWidenedTypes.keys { t[op] = roundingToHalf(t[op]!) }
        t.merge(contribKernels) { standard, _ in standard }
        return t
    }()

    /// The half types (float16, bfloat16) taken by the ops whose kernels compute in float32,
    /// as the CPU computes them: their half inputs read as the floats the device words hold, and
    /// each float32 output rounded once to the inputs' half type (`roundingToHalf`, as the CPU's
    /// `widenFloat16` or its float16 loops through Double). The CPU pools and contracts (Einsum) no bfloat16.
    static let halfWidenedTypes: [String: Set<DataType>] = {
        var t: [String: Set<DataType>] = [:]
        for op in ["Conv", "com.microsoft::FusedConv", "ConvTranspose", "Gemm", "MatMul", "Softmax", "LogSoftmax", "Hardmax",
                   "BatchNormalization", "InstanceNormalization", "LayerNormalization", "RMSNormalization",
                   "GroupNormalization", "LpNormalization", "LRN", "Attention", "LinearAttention", "MeanVarianceNormalization", "Det",
                   "CausalConvWithState"] + reduceOps.keys { t[op] = [.float16, .bfloat16] }
        for op in ["AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "Einsum", "RoiAlign"] { t[op] = [.float16] }
        return t
    }()

    /// The element types each op's kernel reads on the device (float32 alone when not listed),
    /// int64 and uint64 in either storage (one word or 8 bytes, `VulkanStorage`).
    static let inputTypes: [String: Set<DataType>] = {
        let all = VulkanStorage.narrow.dataTypes, numeric: Set<DataType> = [.float, .int32, .int64]
        let numbers = all.subtracting([.bool]), integers = numbers.filter(\.isInteger)
        var t: [String: Set<DataType>] = [:]
        for op in ["Add", "Mul", "Div", "Max", "Min", "Sum", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"] { t[op] = numbers }
        // uint64 results that wrap below zero leave the 32 bits it is narrowed to; the CPU has no bfloat16 Mod
        t["Sub"] = numbers.subtracting([.uint64])
        t["Mod"] = numbers.subtracting([.bfloat16])
        for op in ["Abs", "Neg", "Sign"] { t[op] = numbers.filter { glslType($0, .narrow) != "uint" } }
        // uint: exponents (and bases) as on the CPU; float16 in float, rounded by binary.comp (the CPU has no bfloat16 Pow)
        t["Pow"] = numeric.union([.uint32, .uint64, .float16])
        for op in ["And", "Or", "Xor", "Not"] { t[op] = [.bool] }
        for op in ["BitwiseAnd", "BitwiseOr", "BitwiseXor"] { t[op] = integers }
        t["BitwiseNot"] = integers.subtracting([.uint64])
        t["BitShift"] = [.uint8, .uint16, .uint32, .uint64]
        for op in ["Equal", "Where", "Cast", "CastLike", "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
                   "Transpose", "Concat", "Slice", "Expand", "Tile", "Split", "DepthToSpace", "SpaceToDepth",
                   "Shape", "Size", "Gather", "GatherElements", "GatherND", "Pad", "Trilu", "EyeLike",
                   "ReverseSequence", "Compress", "MaxUnpool"] { t[op] = all }
        t["OneHot"] = [.int32, .int64, .float, .float16, .bfloat16]
        for op in ["CumSum", "ScatterElements", "ScatterND", "Scatter"] { t[op] = numeric }
        t["Attention"] = [.float, .bool]
        for op in ["NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"] { t[op] = [.float, .int32, .int64] }
        t["CumProd"] = numeric
        for op in ["ReduceMax", "ReduceMin"] { t[op] = [.float, .bool] }
        for op in RecurrentCell.byName.keys { t[op] = [.float, .int32, .int64] }  // integers: sequence_lens
        let floats = all.filter(\.isFloatingPoint)
        // the float functions: unary.comp rounds each result into the input's type (the CPU clips no bfloat16)
        for op in UnaryOp.byName.keys where t[op] == nil { t[op] = floats }
        t["Clip"] = integers.union([.float, .float16])
        t["QuantizeLinear"] = floats.union(quantizedTypes)
        t["DequantizeLinear"] = floats.union(quantizedTypes).union([.int32])
        for op in ["MatMulInteger", "QLinearMatMul", "ConvInteger"] { t[op] = [.int8, .uint8] }
        t["QLinearConv"] = [.int8, .uint8, .int32]  // int32: B
        t["TopK"] = numbers
        t["Dropout"] = floats
        t["RoiAlign"] = [.float, .int64]  // int64: batch_indices
        t["Unique"] = all.subtracting([.bfloat16])  // the CPU has no bfloat16 Unique
        t["MaxPool"] = numbers
        t["RotaryEmbedding"] = floats.union([.int64])  // int64: position_ids
        for (op, halves) in halfWidenedTypes { t[op, default: [.float]].formUnion(halves) }
        t.merge(contribInputTypes) { standard, _ in standard }
        return t
    }()

    /// The element types each op's kernel reads besides `inputTypes` where the device holds them
    /// wide (8 bytes, `VulkanStorage.wide`): float64 where it moves elements or computes in
    /// double (GLSL has no double exp, log or trigonometry: Exp and Log take elementwise.glsl's,
    /// the Reduce* ops LogSum's and LogSumExp's in float precision), and uint64 where only its
    /// narrowing to 32 bits kept it out.
    static let wideOnlyTypes: [String: Set<DataType>] = {
        var t: [String: Set<DataType>] = [:]
        for op in ["Equal", "Where", "Cast", "CastLike", "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
                   "Transpose", "Concat", "Slice", "Expand", "Tile", "Split", "DepthToSpace", "SpaceToDepth",
                   "Shape", "Size", "Gather", "GatherElements", "GatherND", "Pad", "Trilu", "Add", "Mul", "Div", "Max", "Min",
                   "Sum", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Abs", "Neg", "Sign", "CumSum", "CumProd",
                   "TopK", "Exp", "Log", "Mod", "EyeLike", "ReverseSequence", "Compress", "Unique", "MaxUnpool", "Dropout"] + reduceOps.keys { t[op] = [.double] }
        t["Sub"] = [.double, .uint64]
        t["BitwiseNot"] = [.uint64]
        t["Einsum"] = [.double]
        return t
    }()

    /// Indices of `node`'s inputs read on the host, not the device, where it runs in a partition:
    /// by its Vulkan kernel, or by the CPU kernel a partition evaluates the op with when all its
    /// inputs are read there (ConstantOfShape, Range, NonZero, the window functions,
    /// MelWeightMatrix: `VulkanPartition.evaluatesOnHost`).
    public static func hostInputs(of node: Node) -> Set<Int> {
        switch node.opType {
        case "Reshape", "Squeeze", "Unsqueeze", "Expand", "Tile", "Split", "Trilu", "CumSum", "CumProd": [1]
        case "Clip", "Dropout": [1, 2]
        case "Pad": [1, 2, 3]
        case "OneHot": [1, 2]
        case "QLinearMatMul", "QLinearConv": [1, 4, 6, 7]
        case "TopK": [1]
        case "NonMaxSuppression": [2, 3, 4]
        case "DFT": [1, 2]
        case "STFT": [1, 3]
        case "Slice", "Resize": [1, 2, 3, 4]
        case "Upsample", "ReverseSequence", "Compress": [1]
        case "MaxUnpool": [2]
        case "NonZero": [0]
        case "ConstantOfShape": [0]
        case "Range": [0, 1, 2]
        case "Col2Im": [1, 2]
        case "HannWindow", "HammingWindow", "BlackmanWindow": [0]
        case "MelWeightMatrix": [0, 1, 2, 3, 4]
        case _ where reduceOps[node.opType] != nil: [1]
        default: []
        }
    }

    /// Whether `node`'s kernel makes an output whose row count is known only on the device
    /// (`VulkanTensor.rowCount`): a partition ends after it, and its readers read a host copy.
    public static func hasDeviceRowCount(_ node: Node) -> Bool { ["NonMaxSuppression", "Unique"].contains(key(of: node)) }

    /// The table key of a node's op: the op name in the default domain, else "domain::name"
    /// (`com.microsoft::FusedConv`, Conv with a fused "activation" attribute, as onnxruntime names it).
    public static func key(of node: Node) -> String {
        node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : "\(node.domain)::\(node.opType)"
    }

    /// Whether a Vulkan kernel exists for `node` (attributes are checked when it runs).
    public static func supports(_ node: Node) -> Bool { table[key(of: node)] != nil }

    /// Whether `node` can run on a device holding elements as `storage` does, given its input
    /// element types (aligned with `node.inputs`, nil where unknown or omitted): a kernel exists,
    /// every input it reads on the device has a type that kernel handles in that storage, and
    /// what it makes has a device type. What a partitioner asks of each node.
    public static func accepts(_ node: Node, inputTypes types: [DataType?], storage: VulkanStorage = .narrow) -> Bool {
        let key = key(of: node)
        guard table[key] != nil else { return false }
        if key == "com.microsoft::FusedConv" {
            // an activation the vocabulary knows, or none
            guard node.inputs.count <= 4, (try? { _ = try FusedActivation(of: node) }()) != nil else { return false }
        }
        if key == "Cast" {
            guard let to = try? node.int("to"), let t = DataType(rawValue: Int32(truncatingIfNeeded: to)), storage.dataTypes.contains(t) else { return false }
        }
        // Refusals the kernels would throw for, known from the node alone.
        if ["MaxPool", "AveragePool", "LpPool"].contains(key), ((try? node.ints("kernel_shape")) ?? nil)?.count ?? 0 > 3 { return false }
        if key == "BatchNormalization", (try? node.int("training_mode", default: 0)) != 0 { return false }
        if key == "Einsum", !(1...3).contains(node.inputs.count) { return false }
        if let cell = RecurrentCell.byName[key] ?? (key == "com.microsoft::DynamicQuantizeLSTM" ? .lstm : nil) {
            guard cell.activationDefines(node) != nil else { return false }
        }
        if key == "QuantizeLinear" || key == "DequantizeLinear" {
            let raw = (try? node.int("output_dtype", default: 0)) ?? -1
            let declared = DataType(rawValue: Int32(truncatingIfNeeded: raw))
            guard raw == 0 || declared.map({ key == "QuantizeLinear" ? quantizedTypes.contains($0) : $0.isFloatingPoint && $0 != .double }) == true else { return false }
        }
        if key == "EyeLike" {
            guard let input = types.first ?? nil, let type = try? OpLayouts.eyeLikeType(node, input: input), storage.dataTypes.contains(type) else { return false }
        }
        let host = hostInputs(of: node), allowed = inputTypes[key] ?? [.float], wideOnly = wideOnlyTypes[key] ?? []
        let device = types.indices.filter { !host.contains($0) && $0 < node.inputs.count && !node.inputs[$0].isEmpty }
        return device.allSatisfy { i in
            types[i].map { storage.dataTypes.contains($0) && (allowed.contains($0) || storage.wide.contains($0) && wideOnly.contains($0)) } ?? false
        }
    }

    /// Runs one node on `device`: uploads its device inputs, records the kernel, downloads
    /// the outputs, submits once and waits. Throws `unsupportedOp` when there is no kernel.
    /// The inputs at `weights` are uploaded first and are the node's weights, as a partition's
    /// initializers are (prepared once, read as float16 at fp16 precision).
    public static func run(_ node: Node, inputs: [Tensor?], opset: Int, device: VulkanDevice, weights: Set<Int> = []) throws -> [Tensor] {
        guard let kernel = table[key(of: node)] else {
            throw VonnxError.unsupportedOp(node: node.label, op: node.opType, domain: node.domain, opset: opset)
        }
        let hostOnly = hostInputs(of: node)
        let onDevice = inputs.indices.filter { inputs[$0] != nil && !hostOnly.contains($0) }
        let uploadedWeights = try device.upload(onDevice.filter(weights.contains).map { inputs[$0]! })
        let recorder = try VulkanRecorder(device: device)
        var deviceInputs = [VulkanTensor?](repeating: nil, count: inputs.count), nextWeight = uploadedWeights.makeIterator()
        for i in onDevice { deviceInputs[i] = try weights.contains(i) ? nextWeight.next() : recorder.upload(inputs[i]!) }
        recorder.label = node.label
        let ctx = VulkanKernelContext(node: node, inputs: deviceInputs, hostInputs: inputs, opset: opset, recorder: recorder,
                                      preparedWeights: PreparedWeights(weights: uploadedWeights))
        let downloads = try kernel(ctx).map { try recorder.download($0) }
        try recorder.submitAndWait()
        return try downloads.map { try $0.tensor() }
    }
}

/// Push-constant words, built field by field in the shader's declaration order.
struct PushConstants {
    private(set) var words: [UInt32] = []
    mutating func add(_ v: Int) { precondition(v >= 0 && v <= Int(UInt32.max), "push constant \(v) out of range"); words.append(UInt32(v)) }
    mutating func add(_ v: Float) { words.append(v.bitPattern) }
    /// Appends a raw 32-bit word (an element of any device type).
    mutating func add(bits v: UInt32) { words.append(v) }
    /// Appends a signed (int) field.
    mutating func add(signed v: Int) {
        precondition(v >= Int(Int32.min) && v <= Int(Int32.max), "push constant \(v) out of range")
        words.append(UInt32(bitPattern: Int32(v)))
    }
    /// Appends `values` padded with zeros to `length` entries (a fixed-size array field).
    mutating func add(_ values: [Int], length: Int) {
        precondition(values.count <= length)
        values.forEach { add($0) }
        words.append(contentsOf: repeatElement(0, count: length - values.count))
    }
}

/// The defines of `Shaders/words.glsl` for a kernel moving the elements of `data` (WIDE where
/// they are 8 bytes) and reading or writing the int32 or int64 `indices` (WIDE_INDEX where 8 bytes).
func wordDefines(_ data: VulkanTensor?, indices: VulkanTensor? = nil) -> [String: String] {
    var d: [String: String] = [:]
    if data?.isWide == true { d["WIDE"] = "1" }
    if indices?.isWide == true { d["WIDE_INDEX"] = "1" }
    return d
}

/// Workgroup size of the 1-D elementwise shaders.
let elementwiseGroup = 256

extension VulkanKernelContext {
    /// Normalizes a possibly negative axis for a tensor of `rank`.
    func axis(_ axis: Int, rank: Int) throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0, a < max(rank, 1) else { throw error("axis \(axis) is out of range for rank \(rank)") }
        return a
    }

    /// Records a 1-D elementwise dispatch of `shader` over `count` items.
    func dispatch1D(_ shader: String, defines: [String: String] = [:], buffers: [VulkanBuffer], push: PushConstants, count: Int) throws {
        guard count > 0 else { return }
        let p = try device.pipeline(shader, defines: defines, bindings: buffers.count, workgroup: (UInt32(elementwiseGroup), 1, 1))
        try recorder.dispatch(p, buffers: buffers, push: push.words, count: count, groupSize: elementwiseGroup)
    }
}

/// `kernel` (a float32 one) over inputs of a half type: it reads them as the floats their
/// device words hold, and each float32 output it makes is rounded to the first such input's
/// type (one `fit` pass, Shaders/fit.glsl), so the result is what the CPU computes widened.
func roundingToHalf(_ kernel: @escaping VulkanKernel) -> VulkanKernel {
    { ctx in
        let halves: Set<DataType> = [.float16, .bfloat16]
        guard let half = ctx.inputs.lazy.compactMap({ $0?.dataType }).first(where: halves.contains) else { return try kernel(ctx) }
        let widened = ctx.inputs.map { $0.map { halves.contains($0.dataType) ? VulkanTensor(shape: $0.shape, buffer: $0.buffer, dataType: .float) : $0 } }
        let inner = VulkanKernelContext(node: ctx.node, inputs: widened, hostInputs: ctx.hostInputs, opset: ctx.opset,
                                        recorder: ctx.recorder, preparedWeights: ctx.preparedWeights)
        return try kernel(inner).map { y in
            guard y.dataType == .float else { return y }
            let rounded = try recordUnary("OP_CONVERT", y, to: half, ctx)
            if !ctx.inputs.contains(where: { $0?.buffer === y.buffer }) { ctx.recycle(y) }
            return rounded
        }
    }
}
