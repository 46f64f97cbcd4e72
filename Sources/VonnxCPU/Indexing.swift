import VonnxIR

/// Index values of an integer tensor, negative ones counted from `dim`, each checked.
func checkedIndices(_ t: Tensor, dim: Int, _ what: String, _ ctx: KernelContext) throws -> [Int] {
    guard t.dataType == .int64 || t.dataType == .int32 else { throw ctx.error("\(what) must be int32 or int64, got \(t.dataType)") }
    return try t.ints().map { i in
        let v = i < 0 ? i + dim : i
        guard v >= 0, v < dim else { throw ctx.error("\(what) value \(i) is out of range for a dim of \(dim)") }
        return v
    }
}

/// Picks the slices `picks` (checked indices) of `x` along `axis`; the picked axis becomes
/// `pickShape` in the output.
func take(_ x: Tensor, axis: Int, picks: [Int], pickShape: [Int], pool: ThreadPool) -> Tensor {
    let outer = x.shape.prefix(axis).reduce(1, *), inner = x.shape.dropFirst(axis + 1).reduce(1, *)
    let dim = x.shape[axis], n = picks.count
    let out = ElementBuffer(x.dataType, shape: Array(x.shape[..<axis]) + pickShape + Array(x.shape[(axis + 1)...]))
    let src = ElementSource(x)
    pool.parallelFor(outer * n, grain: max(1, 16384 / max(inner, 1))) { range in
        for job in range {
            let o = job / n, j = job % n
            out.copy(src, (o * dim + picks[j]) * inner, to: job * inner, count: inner)
        }
    }
    return out.finish()
}

extension CPUKernels {
    /// Slice: starts/ends/axes attributes before opset 10, then inputs with optional axes and
    /// steps (negative steps walk backwards); bounds are clamped as ONNX specifies.
    public static let slice: CPUKernel = { ctx in
        let x = try ctx.input(0)
        var starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
        if ctx.opset < 10 {
            guard let s = try ctx.node.ints("starts"), let e = try ctx.node.ints("ends") else {
                throw ctx.error("starts and ends are required")
            }
            (starts, ends, axes, steps) = (s, e, try ctx.node.ints("axes"), nil)
        } else {
            starts = try shapeInput(try ctx.input(1), "starts", ctx)
            ends = try shapeInput(try ctx.input(2), "ends", ctx)
            axes = try ctx.optionalInput(3).map { try shapeInput($0, "axes", ctx) }
            steps = try ctx.optionalInput(4).map { try shapeInput($0, "steps", ctx) }
        }
        let ax = try normalizedAxes(axes ?? Array(0..<starts.count), rank: x.rank, ctx)
        let st = steps ?? Array(repeating: 1, count: starts.count)
        guard ends.count == starts.count, ax.count == starts.count, st.count == starts.count else {
            throw ctx.error("starts \(starts), ends \(ends), axes \(ax) and steps \(st) differ in length")
        }
        var strides = contiguousStrides(x.shape), shape = x.shape, offset = 0
        for (i, a) in ax.enumerated() {
            guard st[i] != 0 else { throw ctx.error("step on axis \(a) is 0") }
            let (start, count) = ShapeRules.sliceRange(dim: x.shape[a], start: starts[i], end: ends[i], step: st[i])
            if count > 0 { offset += start * strides[a] }
            // the step is only applied between kept elements, so it stays within the axis
            if count > 1 { strides[a] *= st[i] }
            shape[a] = count
        }
        if shape == x.shape && offset == 0 && st.allSatisfy({ $0 == 1 }) { return [x] }
        return [stridedCopy(x, offset: offset, strides: strides, shape: shape, pool: ctx.pool)]
    }

    /// Gather: slices of the data along `axis` picked by the indices.
    public static let gather: CPUKernel = { ctx in
        let x = try ctx.input(0), indices = try ctx.input(1)
        guard x.rank > 0 else { throw ctx.error("data must have rank ≥ 1") }
        let axis = try normalizeAxis(try ctx.node.int("axis", default: 0), rank: x.rank, ctx)
        let picks = try checkedIndices(indices, dim: x.shape[axis], "indices", ctx)
        guard checkedElementCount(Array(x.shape[..<axis]) + indices.shape + Array(x.shape[(axis + 1)...])) != nil else {
            throw ctx.error("output of gathering \(indices.shape) from \(x.shape) is too large")
        }
        return [take(x, axis: axis, picks: picks, pickShape: indices.shape, pool: ctx.pool)]
    }

    /// GatherElements: out[i] = data[i with its `axis` coordinate replaced by indices[i]].
    public static let gatherElements: CPUKernel = { ctx in
        let x = try ctx.input(0), indices = try ctx.input(1)
        let axis = try normalizeAxis(try ctx.node.int("axis", default: 0), rank: x.rank, ctx)
        guard indices.rank == x.rank, (0..<x.rank).allSatisfy({ $0 == axis || indices.shape[$0] <= x.shape[$0] }) else {
            throw ctx.error("indices shape \(indices.shape) does not fit data shape \(x.shape)")
        }
        let idx = try checkedIndices(indices, dim: x.shape[axis], "indices", ctx)
        let out = ElementBuffer(x.dataType, shape: indices.shape)
        let src = ElementSource(x)
        var dataStrides = contiguousStrides(x.shape)
        let axisStride = dataStrides[axis]
        dataStrides[axis] = 0
        let step = dataStrides.last ?? 0
        forEachRun(shape: indices.shape, strides: [dataStrides], pool: ctx.pool) { o, offs, n in
            for i in 0..<n { out.copy(src, offs[0] + i * step + idx[o + i] * axisStride, to: o + i, count: 1) }
        }
        return [out.finish()]
    }

    /// GatherND with `batch_dims`: each index tuple of the last indices axis picks a slice.
    public static let gatherND: CPUKernel = { ctx in
        let x = try ctx.input(0), indices = try ctx.input(1)
        let b = try ctx.node.int("batch_dims", default: 0)
        guard indices.rank >= 1, b >= 0, b < min(x.rank, indices.rank), let k = indices.shape.last, k <= x.rank - b,
              Array(indices.shape.prefix(b)) == Array(x.shape.prefix(b)) else {
            throw ctx.error("indices \(indices.shape) with batch_dims \(b) do not fit data \(x.shape)")
        }
        guard indices.dataType == .int64 || indices.dataType == .int32 else { throw ctx.error("indices must be int32 or int64") }
        let idx = indices.ints()
        let batch = x.shape.prefix(b).reduce(1, *)
        let perBatch = indices.shape.dropFirst(b).dropLast().reduce(1, *)
        let sliceShape = Array(x.shape.dropFirst(b + k))
        try ctx.checkAllocatable("the output", dims: Array(indices.shape.dropLast()) + sliceShape, x.dataType)
        let sliceSize = sliceShape.reduce(1, *)
        let strides = contiguousStrides(x.shape)
        let batchStride = b > 0 ? strides[b - 1] : x.count
        var offsets: [Int] = []
        offsets.reserveCapacity(batch * perBatch)
        for t in 0..<(batch * perBatch) {
            var off = (t / max(perBatch, 1)) * batchStride
            for j in 0..<k {
                let dim = x.shape[b + j]
                var v = idx[t * k + j]
                if v < 0 { v += dim }
                guard v >= 0, v < dim else { throw ctx.error("index \(idx[t * k + j]) is out of range for a dim of \(dim)") }
                off += v * strides[b + j]
            }
            offsets.append(off)
        }
        let out = ElementBuffer(x.dataType, shape: Array(indices.shape.dropLast()) + sliceShape)
        let src = ElementSource(x)
        ctx.pool.parallelFor(offsets.count, grain: max(1, 16384 / max(sliceSize, 1))) { [offsets] range in
            for t in range { out.copy(src, offsets[t], to: t * sliceSize, count: sliceSize) }
        }
        return [out.finish()]
    }

    /// Compress: the slices along `axis` (of the flattened input when no axis) where the
    /// condition is true.
    public static let compress: CPUKernel = { ctx in
        var x = try ctx.input(0)
        let condition = try ctx.input(1)
        guard condition.rank <= 1 else { throw ctx.error("condition must be 1-D, got \(condition.shape)") }
        let axis: Int
        if let a = try ctx.node.int("axis") { axis = try normalizeAxis(a, rank: x.rank, ctx) } else { x = x.reshaped([x.count]); axis = 0 }
        let picks = condition.doubles().enumerated().filter { $0.element != 0 }.map(\.offset)
        if let last = picks.last, last >= x.shape[axis] {
            throw ctx.error("condition selects index \(last) beyond the axis size \(x.shape[axis])")
        }
        return [take(x, axis: axis, picks: picks, pickShape: [picks.count], pool: ctx.pool)]
    }

    /// NonZero: the coordinates of non-zero elements as int64 [rank, count], row-major order.
    public static let nonZero: CPUKernel = { ctx in
        let x = try ctx.input(0)
        struct Find: ElementVisitor {
            let x: Tensor, ctx: KernelContext
            func callAsFunction<T: NumericElement>(_: T.Type) throws -> Tensor {
                try x.withUnsafeBufferPointer(as: T.self) { p in try coordinates(p.indices.lazy.filter { p[$0] != T.zero }, of: x, ctx) }
            }
        }
        switch x.dataType {
        case .string:
            let s = x.storage.strings
            return [try coordinates(s.indices.lazy.filter { !s[$0].isEmpty }, of: x, ctx)]
        case .bfloat16:
            return [try x.withUnsafeBufferPointer(as: UInt16.self) { p in try coordinates(p.indices.lazy.filter { p[$0] & 0x7FFF != 0 }, of: x, ctx) }]
        default: return [try x.dataType.visit(Find(x: x, ctx: ctx))]
        }
    }

    /// NonZero's output: the coordinates in `x` of the elements at the flat indices `flat`
    /// (read twice: counted, then written), checked before it is allocated (rank × 8 bytes
    /// an element, far more than a small-typed `x` holds).
    private static func coordinates(_ flat: some Collection<Int>, of x: Tensor, _ ctx: KernelContext) throws -> Tensor {
        let rank = x.rank, count = flat.count, strides = contiguousStrides(x.shape)
        try ctx.checkAllocatable("the output", dims: [rank, count], .int64)
        let out = Tensor(uninitialized: .int64, shape: [rank, count])
        out.withUnsafeMutableBufferPointer(as: Int64.self) { coords in
            for (j, f) in flat.enumerated() {
                for a in 0..<rank { coords[a * count + j] = Int64(f / strides[a] % x.shape[a]) }
            }
        }
        return out
    }

    /// Trilu: the upper (default) or lower triangle of the last two axes, from diagonal k.
    public static let trilu: CPUKernel = { ctx in
        let x = try ctx.input(0)
        guard x.rank >= 2 else { throw ctx.error("input must have rank ≥ 2, got \(x.shape)") }
        let kValue = try ctx.optionalInput(1).map { try scalarInput($0, "k", ctx) } ?? 0
        guard abs(kValue) < Double(1 << 52) else { throw ctx.error("k \(kValue) is out of range") }
        let k = Int(kValue)
        let upper = try ctx.node.int("upper", default: 1) != 0
        let rows = x.shape[x.rank - 2], cols = x.shape[x.rank - 1]
        let out = ElementBuffer(x.dataType, shape: x.shape)
        let src = ElementSource(x)
        let matrices = x.count / max(rows * cols, 1)
        ctx.pool.parallelFor(matrices * rows, grain: max(1, 16384 / max(cols, 1))) { range in
            for r in range {
                let i = r % rows, diagonal = i + k
                // kept columns: [lo, hi)
                let lo = upper ? max(0, min(cols, diagonal)) : 0
                let hi = upper ? cols : max(0, min(cols, diagonal + 1))
                if hi > lo { out.copy(src, r * cols + lo, to: r * cols + lo, count: hi - lo) }
            }
        }
        return [out.finish()]
    }

    /// ReverseSequence: along `time_axis`, the first sequence_lens[b] steps of each batch
    /// entry reversed, the rest copied.
    public static let reverseSequence: CPUKernel = { ctx in
        let x = try ctx.input(0), lens = try ctx.input(1)
        let timeAxis = try ctx.node.int("time_axis", default: 0), batchAxis = try ctx.node.int("batch_axis", default: 1)
        guard x.rank >= 2, Set([timeAxis, batchAxis]) == [0, 1] else {
            throw ctx.error("time_axis \(timeAxis) and batch_axis \(batchAxis) must be 0 and 1 of a rank ≥ 2 input")
        }
        let steps = x.shape[timeAxis], batch = x.shape[batchAxis]
        let lengths = try checkedIndices(lens, dim: steps + 1, "sequence_lens", ctx)
        guard lengths.count == batch, lens.ints().allSatisfy({ $0 >= 0 }) else {
            throw ctx.error("sequence_lens \(lens.ints()) do not fit batch \(batch) and \(steps) steps")
        }
        let strides = contiguousStrides(x.shape)
        let inner = x.shape.dropFirst(2).reduce(1, *)
        let out = ElementBuffer(x.dataType, shape: x.shape)
        let src = ElementSource(x)
        ctx.pool.parallelFor(steps * batch, grain: max(1, 16384 / max(inner, 1))) { range in
            for job in range {
                let t = job / batch, b = job % batch
                let from = t < lengths[b] ? lengths[b] - 1 - t : t
                out.copy(src, from * strides[timeAxis] + b * strides[batchAxis],
                         to: t * strides[timeAxis] + b * strides[batchAxis], count: inner)
            }
        }
        return [out.finish()]
    }
}
