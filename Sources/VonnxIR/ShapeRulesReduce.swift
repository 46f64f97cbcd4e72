extension ShapeRules {
    /// Reduce*: axes from the `axes` attribute or a constant input 1 (unknown rank-preserving
    /// shape when the axes are not constant), keepdims, noop_with_empty_axes.
    public static let reduce: ShapeRule = { ctx in
        guard let type = ctx.input(0)?.elementType else { return [nil] }
        guard let shape = ctx.input(0)?.shape else { return [.tensor(type, shape: nil)] }
        let keepdims = try ctx.node.int("keepdims", default: 1) != 0
        var axes: [Int]
        if ctx.node.inputs.count > 1, !ctx.node.inputs[1].isEmpty {
            guard let t = ctx.constant(1) else {
                return [.tensor(type, shape: keepdims ? shape.map { _ in Dim.unknown } : nil)]
            }
            axes = t.ints()
        } else {
            axes = try ctx.node.ints("axes") ?? []
        }
        if axes.isEmpty {
            if try ctx.node.int("noop_with_empty_axes", default: 0) != 0 { return [ctx.input(0)] }
            axes = Array(shape.indices)
        }
        let reduced = Set(try axes.map { a in
            let n = a < 0 ? a + shape.count : a
            guard n >= 0, n < shape.count else { throw ctx.error("axis \(a) is out of range for rank \(shape.count)") }
            return n
        })
        var out: [Dim] = []
        for (i, d) in shape.enumerated() {
            if !reduced.contains(i) { out.append(d) } else if keepdims { out.append(.value(1)) }
        }
        return [.tensor(type, shape: out)]
    }

    /// ArgMax/ArgMin: int64, the axis dropped or kept as 1.
    public static let argReduce: ShapeRule = { ctx in
        guard let shape = ctx.input(0)?.shape else { return [.tensor(.int64, shape: nil)] }
        let axis = try ctx.node.int("axis", default: 0)
        let a = axis < 0 ? axis + shape.count : axis
        guard a >= 0, a < shape.count else { throw ctx.error("axis \(axis) is out of range for rank \(shape.count)") }
        var out = shape
        if try ctx.node.int("keepdims", default: 1) != 0 { out[a] = .value(1) } else { out.remove(at: a) }
        return [.tensor(.int64, shape: out)]
    }

    /// TopK: values and int64 indices, the axis of size k (unknown unless k is constant).
    public static let topK: ShapeRule = { ctx in
        guard let type = ctx.input(0)?.elementType else { return [nil, nil] }
        guard let shape = ctx.input(0)?.shape else { return [.tensor(type, shape: nil), .tensor(.int64, shape: nil)] }
        let axis = try ctx.node.int("axis", default: -1)
        let a = axis < 0 ? axis + shape.count : axis
        guard a >= 0, a < shape.count else { throw ctx.error("axis \(axis) is out of range for rank \(shape.count)") }
        var out = shape
        let k = try ctx.constant(1)?.ints().first ?? ctx.node.int("k")
        out[a] = k.map(Dim.value) ?? .unknown
        return [.tensor(type, shape: out), .tensor(.int64, shape: out)]
    }
}

extension ShapeRules {
    /// RNN, GRU, LSTM: Y [seq, dirs, batch, hidden] and states [dirs, batch, hidden] (layout 0),
    /// or [batch, seq, dirs, hidden] and [batch, dirs, hidden] (layout 1).
    public static let recurrent: ShapeRule = { ctx in
        guard let type = ctx.input(0)?.elementType else { return [nil, nil, nil] }
        let dirs: Dim = .value(try ctx.node.string("direction") == "bidirectional" ? 2 : 1)
        let layout = try ctx.node.int("layout", default: 0)
        guard let s = ctx.input(0)?.shape, s.count == 3, let h = try ctx.node.int("hidden_size").map(Dim.value) else {
            return [.tensor(type, shape: nil), .tensor(type, shape: nil), .tensor(type, shape: nil)]
        }
        let (seq, batch) = layout == 0 ? (s[0], s[1]) : (s[1], s[0])
        let y: [Dim] = layout == 0 ? [seq, dirs, batch, h] : [batch, seq, dirs, h]
        let state: [Dim] = layout == 0 ? [dirs, batch, h] : [batch, dirs, h]
        return [.tensor(type, shape: y), .tensor(type, shape: state), .tensor(type, shape: state)]
    }
}
