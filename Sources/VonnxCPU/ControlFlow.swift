import VonnxIR

/// Byte-level slicing and stacking along one axis, for any fixed-size element type.
enum AxisOps {
    /// The sub-tensor at `index` along `axis`, with that axis removed.
    static func slice(_ t: Tensor, axis: Int, index: Int, _ ctx: KernelContext) throws -> Tensor {
        guard t.dataType != .string else { throw ctx.error("string tensors cannot be scanned") }
        let l = AxisLayout(t.shape, axis: axis)
        var shape = t.shape
        shape.remove(at: axis)
        let out = Tensor(zeros: t.dataType, shape: shape)
        let chunk = l.inner * t.dataType.byteSize
        for o in 0..<l.outer {
            (out.storage.pointer + o * chunk).copyMemory(from: t.storage.pointer + (o * l.n + index) * chunk, byteCount: chunk)
        }
        return out
    }

    /// `parts` (one shape, one element type) stacked along a new `axis`.
    static func stack(_ parts: [Tensor], axis: Int, _ ctx: KernelContext) throws -> Tensor {
        guard let first = parts.first else { throw ctx.error("nothing to stack") }
        guard first.dataType != .string else { throw ctx.error("string tensors are not supported here") }
        guard parts.allSatisfy({ $0.shape == first.shape && $0.dataType == first.dataType }) else {
            throw ctx.error("iterations produced different shapes or types: \(parts.map(\.description))")
        }
        guard axis >= 0, axis <= first.rank else { throw ctx.error("axis \(axis) is out of range for rank \(first.rank + 1)") }
        var shape = first.shape
        shape.insert(parts.count, at: axis)
        guard checkedElementCount(shape) != nil else { throw ctx.error("stacked shape \(shape) is too large") }
        let out = Tensor(zeros: first.dataType, shape: shape)
        let outer = first.shape[..<axis].reduce(1, *)
        let chunk = first.shape[axis...].reduce(1, *) * first.dataType.byteSize
        for (k, p) in parts.enumerated() {
            for o in 0..<outer {
                (out.storage.pointer + (o * parts.count + k) * chunk).copyMemory(from: p.storage.pointer + o * chunk, byteCount: chunk)
            }
        }
        return out
    }

    /// An empty stack (zero iterations) for the subgraph output `info`: shape [0, ...] where
    /// the declared per-iteration shape is static, else [0].
    static func emptyStack(_ info: ValueInfo?, axis: Int) -> Tensor {
        let type = info?.type?.elementType ?? .float
        var shape = info?.type?.staticShape ?? []
        shape.insert(0, at: min(max(axis, 0), shape.count))
        return type == .string ? Tensor(strings: [], shape: shape) : Tensor(zeros: type, shape: shape)
    }
}

extension CPUKernels {
    /// If: runs then_branch or else_branch (no inputs) and returns its outputs.
    public static let ifOp: CPUKernel = { ctx in
        let cond = try ctx.input(0)
        guard cond.count == 1, cond.dataType != .string else { throw ctx.error("cond must hold one element, got \(cond)") }
        return try ctx.runSubgraph(cond.doubles()[0] != 0 ? "then_branch" : "else_branch", [])
    }

    /// Loop: runs body(iteration, cond, carried...) while iteration < M and cond hold; returns
    /// the final carried values, then each scan output stacked along a new first axis.
    public static let loop: CPUKernel = { ctx in
        let tripCount = ctx.optionalInput(0), condInit = ctx.optionalInput(1)
        guard tripCount != nil || condInit != nil else { throw ctx.error("has neither a trip count nor a condition: it would never end") }
        var maxTrips = Int64.max
        if let m = tripCount {
            guard m.count == 1, m.dataType.isInteger else { throw ctx.error("M must be one integer, got \(m)") }
            maxTrips = Int64(m.ints()[0])
        }
        var cond = true
        if let c = condInit {
            guard c.count == 1, c.dataType != .string else { throw ctx.error("cond must hold one element, got \(c)") }
            cond = c.doubles()[0] != 0
        }
        var carried = try (2..<ctx.inputs.count).map { try ctx.input($0) }
        let body = try ctx.node.graph("body")
        let scanCount = body.outputs.count - 1 - carried.count
        guard scanCount >= 0 else { throw ctx.error("body has \(body.outputs.count) outputs for \(carried.count) carried values") }
        var scans = [[Tensor]](repeating: [], count: scanCount)
        var i: Int64 = 0
        while i < maxTrips && cond {
            let outs = try ctx.runSubgraph("body", [Tensor(scalar: i), Tensor(scalar: cond)] + carried)
            guard outs.count == body.outputs.count else { throw ctx.error("body produced \(outs.count) outputs") }
            guard outs[0].count == 1, outs[0].dataType != .string else { throw ctx.error("body's condition output must hold one element") }
            if condInit != nil { cond = outs[0].doubles()[0] != 0 }
            carried = Array(outs[1..<(1 + carried.count)])
            for k in 0..<scanCount { scans[k].append(outs[1 + carried.count + k]) }
            i += 1
        }
        return try carried + scans.enumerated().map { k, parts in
            parts.isEmpty ? AxisOps.emptyStack(body.outputs[1 + carried.count + k], axis: 0) : try AxisOps.stack(parts, axis: 0, ctx)
        }
    }

    /// Scan (opset 9+): N state inputs then num_scan_inputs scanned inputs; the body maps
    /// (states, slices) to (states, output slices). Opset 8 adds a leading batch axis and an
    /// optional sequence_lens input, and runs the opset-9 form per batch entry.
    public static let scan: CPUKernel = { ctx in
        let m = try ctx.node.int("num_scan_inputs") ?? 0
        let body = try ctx.node.graph("body")
        if ctx.opset >= 9 {
            let args = try (0..<ctx.inputs.count).map { try ctx.input($0) }
            guard m > 0, m <= args.count else { throw ctx.error("num_scan_inputs \(m) does not fit \(args.count) inputs") }
            return try scanRun(ctx, body: body, states: Array(args[..<(args.count - m)]), scanned: Array(args[(args.count - m)...]),
                               inputAxes: try ctx.node.ints("scan_input_axes"),
                               inputDirections: try ctx.node.ints("scan_input_directions"),
                               outputAxes: try ctx.node.ints("scan_output_axes"),
                               outputDirections: try ctx.node.ints("scan_output_directions"), length: nil)
        }
        // opset 8: input 0 is the optional sequence_lens, every other input has a batch axis
        let args = try (1..<ctx.inputs.count).map { try ctx.input($0) }
        guard m > 0, m <= args.count else { throw ctx.error("num_scan_inputs \(m) does not fit \(args.count) inputs") }
        guard let batch = args.first?.shape.first, batch > 0, args.allSatisfy({ $0.rank >= 1 && $0.shape[0] == batch }) else {
            throw ctx.error("every input needs the same, non-empty leading batch dimension")
        }
        let lengths = ctx.optionalInput(0)?.ints()
        guard lengths == nil || lengths!.count == batch else { throw ctx.error("sequence_lens must have \(batch) entries") }
        var perBatch: [[Tensor]] = []
        for b in 0..<batch {
            let slices = try args.map { try AxisOps.slice($0, axis: 0, index: b, ctx) }
            perBatch.append(try scanRun(ctx, body: body, states: Array(slices[..<(slices.count - m)]),
                                        scanned: Array(slices[(slices.count - m)...]), inputAxes: nil,
                                        inputDirections: try ctx.node.ints("directions"), outputAxes: nil,
                                        outputDirections: nil, length: lengths?[b]))
        }
        return try (0..<perBatch[0].count).map { k in try AxisOps.stack(perBatch.map { $0[k] }, axis: 0, ctx) }
    }

    /// One Scan over `scanned` along their scan axes; `length` limits the iterations (opset 8).
    static func scanRun(_ ctx: KernelContext, body: Graph, states: [Tensor], scanned: [Tensor], inputAxes: [Int]?,
                        inputDirections: [Int]?, outputAxes: [Int]?, outputDirections: [Int]?, length: Int?) throws -> [Tensor] {
        let axes = try scanned.enumerated().map { i, t in
            try normalizeAxis(inputAxes.map { i < $0.count ? $0[i] : 0 } ?? 0, rank: t.rank, ctx)
        }
        guard let first = scanned.first, first.rank > 0 else { throw ctx.error("scanned inputs must have rank 1 or more") }
        var steps = first.shape[axes[0]]
        guard zip(scanned, axes).allSatisfy({ $0.rank > 0 && $0.shape[$1] == steps }) else {
            throw ctx.error("scanned inputs disagree on the sequence length")
        }
        if let length {
            guard length >= 0, length <= steps else { throw ctx.error("sequence length \(length) exceeds \(steps)") }
            steps = length
        }
        let scanCount = body.outputs.count - states.count
        guard scanCount >= 0 else { throw ctx.error("body has \(body.outputs.count) outputs for \(states.count) states") }
        var carried = states
        var outputs = [[Tensor]](repeating: [], count: scanCount)
        for t in 0..<steps {
            let slices = try scanned.enumerated().map { i, x in
                let reverse = (inputDirections.map { i < $0.count ? $0[i] : 0 } ?? 0) != 0
                return try AxisOps.slice(x, axis: axes[i], index: reverse ? steps - 1 - t : t, ctx)
            }
            let outs = try ctx.runSubgraph("body", carried + slices)
            guard outs.count == body.outputs.count else { throw ctx.error("body produced \(outs.count) outputs") }
            carried = Array(outs[..<states.count])
            for k in 0..<scanCount { outputs[k].append(outs[states.count + k]) }
        }
        return try carried + outputs.enumerated().map { k, parts in
            let axisAttr = outputAxes.map { k < $0.count ? $0[k] : 0 } ?? 0
            guard !parts.isEmpty else { return AxisOps.emptyStack(body.outputs[states.count + k], axis: axisAttr) }
            let axis = try normalizeAxis(axisAttr, rank: parts[0].rank + 1, ctx)
            let reverse = (outputDirections.map { k < $0.count ? $0[k] : 0 } ?? 0) != 0
            return try AxisOps.stack(reverse ? parts.reversed() : parts, axis: axis, ctx)
        }
    }
}
