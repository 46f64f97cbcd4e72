import VonnxIR

/// A tensor seen as [outer, n, inner] around one axis.
struct AxisLayout: Sendable {
    let outer: Int, n: Int, inner: Int
    init(_ shape: [Int], axis: Int) {
        outer = shape[..<axis].reduce(1, *)
        n = shape[axis]
        inner = shape[(axis + 1)...].reduce(1, *)
    }
}

/// ArgMax/ArgMin along one axis; ties go to the first index, or the last with select_last_index.
struct ArgExtreme: ElementVisitor {
    let x: Tensor, axis: Int, keepdims: Bool, last: Bool, isMax: Bool, ctx: KernelContext

    func callAsFunction<T: NumericElement>(_: T.Type) throws -> Tensor {
        // concrete calls, so the loops are specialized rather than run through witness tables
        switch T.dataType {
        case .float: return try compute(Float.self)
        case .double: return try compute(Double.self)
        case .int64: return try compute(Int64.self)
        case .int32: return try compute(Int32.self)
        default: return try compute(T.self)
        }
    }

    func compute<T: NumericElement>(_: T.Type) throws -> Tensor {
        let l = AxisLayout(x.shape, axis: axis)
        guard l.n > 0 else { throw ctx.error("cannot take the arg-extreme of an empty axis \(axis)") }
        var shape = x.shape
        if keepdims { shape[axis] = 1 } else { shape.remove(at: axis) }
        let out = Tensor(zeros: .int64, shape: shape)
        nonisolated(unsafe) let px = UnsafePointer(x.storage.pointer.assumingMemoryBound(to: T.self))
        nonisolated(unsafe) let po = out.storage.pointer.assumingMemoryBound(to: Int64.self)
        let (last, isMax) = (last, isMax)
        ctx.pool.parallelFor(l.outer * l.inner, grain: max(1, 16384 / l.n)) { range in
            for o in range {
                let base = (o / l.inner) * l.n * l.inner + o % l.inner
                var best = px[base], bestIndex = 0
                if best != best { po[o] = 0; continue }  // NaN wins, as NumPy
                for j in 1..<l.n {
                    let v = px[base + j * l.inner]
                    if v != v { bestIndex = j; break }
                    let better = isMax ? v > best : v < best
                    if better || (last && v == best) { best = v; bestIndex = j }
                }
                po[o] = Int64(bestIndex)
            }
        }
        return out
    }
}

/// TopK along one axis: the k largest (or smallest) elements in order, ties broken by the
/// lower index first, with their int64 indices.
struct TopKApply: ElementVisitor {
    let x: Tensor, axis: Int, k: Int, largest: Bool, ctx: KernelContext

    func callAsFunction<T: NumericElement>(_: T.Type) throws -> [Tensor] {
        // concrete calls, so the loops are specialized rather than run through witness tables
        switch T.dataType {
        case .float: return try compute(Float.self)
        case .double: return try compute(Double.self)
        case .int64: return try compute(Int64.self)
        case .int32: return try compute(Int32.self)
        default: return try compute(T.self)
        }
    }

    func compute<T: NumericElement>(_: T.Type) throws -> [Tensor] {
        let l = AxisLayout(x.shape, axis: axis)
        var shape = x.shape
        shape[axis] = k
        let values = Tensor(zeros: T.dataType, shape: shape)
        let indices = Tensor(zeros: .int64, shape: shape)
        nonisolated(unsafe) let px = UnsafePointer(x.storage.pointer.assumingMemoryBound(to: T.self))
        nonisolated(unsafe) let pv = values.storage.pointer.assumingMemoryBound(to: T.self)
        nonisolated(unsafe) let pi = indices.storage.pointer.assumingMemoryBound(to: Int64.self)
        let (k, largest) = (k, largest)
        guard k > 0 else { return [values, indices] }
        ctx.pool.parallelFor(l.outer * l.inner, grain: max(1, 4096 / max(l.n, 1))) { range in
            var order = [Int](repeating: 0, count: l.n)
            for o in range {
                let base = (o / l.inner) * l.n * l.inner + o % l.inner
                for j in 0..<l.n { order[j] = j }
                order.sort { a, b in
                    let va = px[base + a * l.inner], vb = px[base + b * l.inner]
                    if va == vb { return a < b }
                    return largest ? va > vb : va < vb
                }
                let outBase = (o / l.inner) * k * l.inner + o % l.inner
                for j in 0..<k {
                    pv[outBase + j * l.inner] = px[base + order[j] * l.inner]
                    pi[outBase + j * l.inner] = Int64(order[j])
                }
            }
        }
        return [values, indices]
    }
}

extension CPUKernels {
    static func argKernel(isMax: Bool) -> CPUKernel {
        { ctx in
            let x = try ctx.input(0)
            let axis = try normalizeAxis(try ctx.node.int("axis", default: 0), rank: x.rank, ctx)
            guard x.rank > 0 else { throw ctx.error("input must have rank 1 or more") }
            return [try x.dataType.visit(ArgExtreme(
                x: x, axis: axis, keepdims: try ctx.node.int("keepdims", default: 1) != 0,
                last: try ctx.node.int("select_last_index", default: 0) != 0, isMax: isMax, ctx: ctx))]
        }
    }

    public static let argMax = argKernel(isMax: true)
    public static let argMin = argKernel(isMax: false)

    /// TopK: k from input 1 (opset 10+) or the `k` attribute (opset 1).
    public static let topK: CPUKernel = { ctx in
        let x = try ctx.input(0)
        guard x.rank > 0 else { throw ctx.error("input must have rank 1 or more") }
        let axis = try normalizeAxis(try ctx.node.int("axis", default: -1), rank: x.rank, ctx)
        let k: Int
        if let kt = ctx.optionalInput(1) {
            guard kt.count == 1, kt.dataType.isInteger else { throw ctx.error("k must be a single integer, got \(kt)") }
            k = kt.ints()[0]
        } else {
            guard let kv = try ctx.node.int("k") else { throw ctx.error("k is missing") }
            k = kv
        }
        guard k >= 0, k <= x.shape[axis] else { throw ctx.error("k \(k) is out of range for axis size \(x.shape[axis])") }
        return try x.dataType.visit(TopKApply(x: x, axis: axis, k: k,
                                              largest: try ctx.node.int("largest", default: 1) != 0, ctx: ctx))
    }
}
