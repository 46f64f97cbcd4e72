import VonnxIR

/// Chains of elementwise ops (unary math and activations, binary arithmetic and comparisons
/// with broadcasting, Where) recorded as one dispatch of a shader generated from the chain:
/// each member's result stays in a register instead of a round trip through memory.
///
/// A partition finds its chains once (`roots`). While recording, it hands each member but the
/// last (the root) to `add` instead of its kernel, and the root to `record`, which records the
/// whole chain. Members whose result is smaller than the root's (a Sigmoid of per-channel
/// values that a Mul broadcasts) are recorded first, on their own, so no value is computed
/// once per output element that the unfused graph computes once; so is all of a chain the
/// generator cannot take (mixed element types, more operands or dims than it binds).
public final class ElementwiseFusion {
    /// An op a generated shader computes: the macro of `Shaders/elementwise.glsl` that does.
    enum Op {
        case unary(UnaryOp), binary(BinaryOp), select

        /// The op of `node` when a generated shader can compute it.
        init?(_ node: Node) {
            guard node.domain.isEmpty || node.domain == "ai.onnx", node.outputs.count == 1 else { return nil }
            if let op = UnaryOp.byName[node.opType] {
                self = .unary(op)
            } else if node.inputs.count == 2, let op = BinaryOp.byName[node.opType] ?? BinaryOp.variadic[node.opType] {
                self = .binary(op)
            } else if node.opType == "Where" {
                self = .select
            } else {
                return nil
            }
        }

        var isSelect: Bool {
            if case .select = self { true } else { false }
        }
    }

    /// For each node of `nodes` (in topological order) in a chain of two or more, the index of
    /// the chain's root. A fusible node joins the chain of the one node that reads its result
    /// when that node is fusible too and reads it as an operand, and the result is not in
    /// `kept` (values read after `nodes`); nodes in `excluded` (evaluated on the host) never join.
    public static func roots(_ nodes: [Node], kept: Set<String>, excluded: Set<Int>) -> [Int: Int] {
        var readers: [String: Set<Int>] = [:]
        for (i, node) in nodes.enumerated() {
            for name in node.inputs + node.capturedNames() where !name.isEmpty { readers[name, default: []].insert(i) }
        }
        func fusible(_ i: Int) -> Bool { !excluded.contains(i) && Op(nodes[i]) != nil }
        var parent: [Int: Int] = [:]
        for (i, node) in nodes.enumerated() where fusible(i) && !kept.contains(node.outputs[0]) {
            guard let only = readers[node.outputs[0]], only.count == 1, let k = only.first, fusible(k) else { continue }
            let host = VulkanKernels.hostInputs(of: nodes[k])
            guard !nodes[k].inputs.indices.contains(where: { host.contains($0) && nodes[k].inputs[$0] == node.outputs[0] }) else { continue }
            parent[i] = k
        }
        var roots: [Int: Int] = [:]
        for i in parent.keys {
            var root = i
            while let p = parent[root] { root = p }
            roots[i] = root
            roots[root] = root
        }
        return roots
    }

    /// A deferred member: its node's context (device inputs that are not members), its operands
    /// and its result's shape and type.
    private final class Member {
        let ctx: VulkanKernelContext
        let op: Op
        /// The node's input slots read on the device, aligned with `operands`.
        let slots: [Int]
        let operands: [Operand]
        let shape: [Int]
        let dataType: DataType
        var output: String { ctx.node.outputs[0] }

        init(_ ctx: VulkanKernelContext, op: Op, slots: [Int], operands: [Operand], shape: [Int], dataType: DataType) {
            self.ctx = ctx; self.op = op; self.slots = slots; self.operands = operands; self.shape = shape; self.dataType = dataType
        }
    }

    private enum Operand {
        case tensor(VulkanTensor)
        case member(Member)

        var shape: [Int] {
            switch self { case .tensor(let t): t.shape; case .member(let m): m.shape }
        }
        var dataType: DataType {
            switch self { case .tensor(let t): t.dataType; case .member(let m): m.dataType }
        }
        var member: Member? {
            if case .member(let m) = self { m } else { nil }
        }
    }

    /// Deferred members by output name.
    private var pending: [String: Member] = [:]
    /// The results of the members recorded so far, by output name.
    private var recorded: [String: VulkanTensor] = [:]

    /// A recorder holding no deferred member yet (one per recording).
    public init() {}

    /// The shape of deferred value `name`, or nil when none is deferred under that name.
    public func shape(of name: String) -> [Int]? { pending[name]?.shape }

    /// Defers the member `ctx.node`: its inputs are device tensors in `ctx` or results of
    /// members deferred earlier.
    public func add(_ ctx: VulkanKernelContext) throws {
        let member = try self.member(ctx)
        pending[ctx.node.outputs[0]] = member
    }

    /// Records the root `ctx.node` with the members it reads, as one generated shader where it
    /// can, and returns its result.
    public func record(_ ctx: VulkanKernelContext) throws -> VulkanTensor {
        try materialize(try member(ctx), ctx.recorder)
    }

    private func member(_ ctx: VulkanKernelContext) throws -> Member {
        let node = ctx.node
        guard let op = Op(node) else { throw ctx.error("\(node.opType) is not an elementwise op a fused shader computes") }
        let host = VulkanKernels.hostInputs(of: node)
        let slots = node.inputs.indices.filter { !host.contains($0) && !node.inputs[$0].isEmpty }
        let operands = try slots.map { slot -> Operand in
            if let t = ctx.inputs[slot] { return .tensor(t) }
            guard let m = pending[node.inputs[slot]] else { throw ctx.error("missing required input \(slot)") }
            return .member(m)
        }
        guard let first = operands.first else { throw ctx.error("needs an input") }
        var shape = first.shape
        for operand in operands.dropFirst() {
            guard let s = broadcast(shape, operand.shape) else {
                throw ctx.error("shapes \(operands.map(\.shape)) do not broadcast")
            }
            shape = s
        }
        let values = op.isSelect ? operands.dropFirst() : operands[...]
        // Pow's exponent may have a type of its own (its shader is then not generated: see `FusedShader`)
        guard Set(values.map(\.dataType)).count == 1 || node.opType == "Pow", !op.isSelect || (operands.count == 3 && first.dataType == .bool) else {
            throw ctx.error("operand types \(operands.map(\.dataType)) do not fit \(node.opType)")
        }
        let type: DataType = switch op {
        case .unary(let u): u.resultType(first.dataType)
        case .binary(let b): b.resultType(first.dataType)
        case .select: operands[1].dataType
        }
        return Member(ctx, op: op, slots: slots, operands: operands, shape: shape, dataType: type)
    }

    /// Records `root` and the members of its shape it reads (transitively) as one dispatch,
    /// or alone when it reads none; other members it reads are materialized first. Where the
    /// generator does not take them, the largest part of the chain under the root is cut off
    /// and materialized on its own, until it does.
    private func materialize(_ root: Member, _ recorder: VulkanRecorder) throws -> VulkanTensor {
        if let y = recorded[root.output] { return y }
        var cut: Set<ObjectIdentifier> = []
        func joins(_ m: Member) -> Bool { m.shape == root.shape && !cut.contains(ObjectIdentifier(m)) }
        func size(_ m: Member) -> Int { 1 + m.operands.reduce(0) { n, o in n + (o.member.map { joins($0) ? size($0) : 0 } ?? 0) } }
        while true {
            var members: [Member] = []
            func collect(_ m: Member) throws {
                for case .member(let c) in m.operands where !members.contains(where: { $0 === c }) {
                    if joins(c) { try collect(c) } else { _ = try materialize(c, recorder) }
                }
                members.append(m)
            }
            try collect(root)
            let y: VulkanTensor
            if root.shape.contains(0) {
                y = try recorder.makeTensor(shape: root.shape, dataType: root.dataType)
            } else if members.count == 1 {
                y = try recordAlone(root, recorder)
            } else if let shader = try FusedShader(members: members, leaf: value, device: recorder.device) {
                y = try recorder.makeTensor(shape: root.shape, dataType: root.dataType)
                try shader.record(into: y, recorder)
            } else {
                let largest = root.operands.compactMap(\.member).filter(joins).max { size($0) < size($1) }!
                cut.insert(ObjectIdentifier(largest))
                continue
            }
            recorded[root.output] = y
            return y
        }
    }

    /// The device tensor of `operand` once recorded.
    private func value(_ operand: Operand) -> VulkanTensor? {
        switch operand {
        case .tensor(let t): t
        case .member(let m): recorded[m.output]
        }
    }

    /// Records member `m` with its own kernel, its operands recorded.
    private func recordAlone(_ m: Member, _ recorder: VulkanRecorder) throws -> VulkanTensor {
        let node = m.ctx.node
        var deviceInputs = m.ctx.inputs
        for (slot, operand) in zip(m.slots, m.operands) { deviceInputs[slot] = value(operand) }
        guard let kernel = VulkanKernels.table[VulkanKernels.key(of: node)] else { throw m.ctx.error("no Vulkan kernel") }
        let label = recorder.label
        defer { recorder.label = label }
        recorder.label = node.label
        let ctx = VulkanKernelContext(node: node, inputs: deviceInputs, hostInputs: m.ctx.hostInputs, opset: m.ctx.opset,
                                      recorder: recorder, preparedWeights: m.ctx.preparedWeights)
        guard let y = try kernel(ctx).first else { throw m.ctx.error("the Vulkan kernel produced no output") }
        return y
    }

    /// The shader computing `members` (operands before their readers, the root last), over
    /// the root's shape, with its leaf operands (tensors) bound in order and the output last.
    private struct FusedShader {
        let source: String
        let buffers: [VulkanBuffer]
        let push: PushConstants
        let runs: Int, width: Int

        /// Push-constant words and bindings a fused shader has at most (see `VulkanPipeline`).
        static let maxPushWords = VulkanPipeline.pushConstantBytes / 4, maxBindings = 8

        /// Nil when the generator does not take `members`: their element types other than bool
        /// differ, one is an integer Clip, or their leaves need more bindings, dims or push
        /// constants than it has.
        init?(members: [Member], leaf: (Operand) -> VulkanTensor?, device: VulkanDevice) throws {
            let root = members[members.count - 1]
            let types = Set(members.flatMap { $0.operands.map(\.dataType) + [$0.dataType] }).subtracting([.bool])
            guard types.count <= 1 else { return nil }
            let type = types.first ?? .bool
            var tensors: [VulkanTensor] = [], names: [ObjectIdentifier: String] = [:]
            var body: [String] = []
            func name(_ operand: Operand) -> String? {
                if case .member(let m) = operand, let n = names[ObjectIdentifier(m)] { return n }
                guard let t = leaf(operand) else { return nil }
                if let i = tensors.firstIndex(where: { $0.buffer === t.buffer && $0.shape == t.shape && $0.dataType == t.dataType }) {
                    return "v\(i)"
                }
                tensors.append(t)
                return "v\(tensors.count - 1)"
            }
            for (k, m) in members.enumerated() {
                let args = m.operands.compactMap(name)
                guard args.count == m.operands.count else { return nil }
                let expression: String
                switch m.op {
                case .unary(let op):
                    if op == .clip, m.dataType.isInteger { return nil }  // its bounds are tensors of its type (`recordClip`)
                    let (alpha, beta) = try op.parameters(m.ctx)
                    expression = "\(try op.resolved(m.ctx.node).rawValue)(\(args[0]), \(literal(alpha)), \(literal(beta)))"
                case .binary(let op): expression = "\(try op.resolved(m.ctx.node).rawValue)(\(args.joined(separator: ", ")))"
                case .select: expression = "OP_WHERE(\(args.joined(separator: ", ")))"
                }
                let result = m.dataType == .bool ? "uint(\(expression))" : "fit(T(\(expression)))"
                body.append("\(glslType(m.dataType, device.storage)) t\(k) = \(result);")
                names[ObjectIdentifier(m)] = "t\(k)"
            }
            guard tensors.count < Self.maxBindings else { return nil }

            let out = contiguousStrides(root.shape)
            var walk = coalesce(root.shape, tensors.map { broadcastStrides($0.shape, to: root.shape) } + [out])
            if walk.shape.isEmpty { walk = ([1], tensors.map { _ in [0] } + [[1]]) }
            let rank = walk.shape.count, last = rank - 1, output = walk.strides[tensors.count]
            let strided = tensors.indices.filter { walk.strides[$0] != output && walk.strides[$0].contains { $0 != 0 } }
            guard rank <= maxShaderRank, 1 + rank * (1 + strided.count) <= Self.maxPushWords else { return nil }

            let variant = KernelVariants.choose("binary", rows: 1, device: device)
            let inner = walk.shape[last], count = root.shape.reduce(1, *)
            (runs, width) = (count / inner * ((inner + variant.columns - 1) / variant.columns), variant.width)
            var push = PushConstants()
            push.add(runs)
            for d in walk.shape { push.add(d) }
            for i in strided { for s in walk.strides[i] { push.add(s) } }
            self.push = push

            let defines = typeDefines(type, type, device.storage).merging(["RUN": "\(variant.columns)", "RANK": "\(rank)"]) { $1 }
            var lines = ["#version 450"] + defines.sorted { $0.key < $1.key }.map { "#define \($0.key) \($0.value)" }
            lines.append("layout(local_size_x_id = 0) in;")
            for (i, t) in tensors.enumerated() {
                lines.append("layout(std430, binding = \(i)) readonly buffer B\(i) { \(glslType(t.dataType, device.storage)) b\(i)[]; };")
            }
            lines.append("layout(std430, binding = \(tensors.count)) writeonly buffer Y { \(glslType(root.dataType, device.storage)) y[]; };")
            let strides = strided.map { "uint s\($0)[RANK];" }.joined(separator: " ")
            lines.append("layout(push_constant) uniform Params { uint n; uint shape[RANK]; \(strides) } p;")
            lines += ["#include \"activation.glsl\"", "#include \"fit.glsl\"", "#include \"elementwise.glsl\"", ""]
            lines.append("void main() {")
            lines.append("    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x, inner = p.shape[RANK - 1];")
            lines.append("    uint runs = (inner + RUN - 1) / RUN;")
            lines.append("    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {")
            lines.append("        uint rem = i / runs, start = (i - rem * runs) * RUN, iy = rem * inner + start;")
            if !strided.isEmpty {
                lines.append("        " + strided.map { "uint o\($0) = start * p.s\($0)[RANK - 1];" }.joined(separator: " "))
                lines.append("        for (int d = RANK - 2; d >= 0; --d) {")
                lines.append("            uint c = rem % p.shape[d];")
                lines.append("            rem /= p.shape[d];")
                lines.append("            " + strided.map { "o\($0) += c * p.s\($0)[d];" }.joined(separator: " "))
                lines.append("        }")
            }
            lines.append("        for (uint j = 0; j < RUN && start + j < inner; ++j) {")
            for (i, t) in tensors.enumerated() {
                let index = strided.contains(i) ? "o\(i) + j * p.s\(i)[RANK - 1]" : walk.strides[i] == output ? "iy + j" : "0"
                lines.append("            \(glslType(t.dataType, device.storage)) v\(i) = b\(i)[\(index)];")
            }
            lines += body.map { "            " + $0 }
            lines.append("            y[iy + j] = t\(members.count - 1);")
            lines += ["        }", "    }", "}", ""]
            source = lines.joined(separator: "\n")
            buffers = tensors.map(\.buffer)
        }

        /// Records the shader writing `y` (the root's result).
        func record(into y: VulkanTensor, _ recorder: VulkanRecorder) throws {
            guard runs > 0 else { return }
            let pipeline = try recorder.device.pipeline(generated: source, bindings: buffers.count + 1,
                                                        workgroup: (UInt32(width), 1, 1))
            try recorder.dispatch(pipeline, buffers: buffers + [y.buffer], push: push.words, count: runs, groupSize: width)
        }
    }
}

/// `v` as a GLSL float expression of exactly its bits (NaN and the infinities included).
private func literal(_ v: Float) -> String { "uintBitsToFloat(0x\(String(v.bitPattern, radix: 16))u)" }
