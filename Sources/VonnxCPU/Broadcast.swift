import VonnxIR

/// The NumPy-style (multidirectional) broadcast of shapes, or nil when they do not broadcast.
public func broadcastShape(_ shapes: [[Int]]) -> [Int]? {
    let rank = shapes.map(\.count).max() ?? 0
    var out = [Int](repeating: 1, count: rank)
    for s in shapes {
        let offset = rank - s.count
        for (i, d) in s.enumerated() {
            let o = out[offset + i]
            if o == d || d == 1 { continue }
            if o == 1 { out[offset + i] = d } else { return nil }
        }
    }
    return out
}

/// Strides that read a tensor of `shape` as if broadcast to `target` (0 along broadcast dims).
public func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let own = contiguousStrides(shape)
    let offset = target.count - shape.count
    return (0..<target.count).map { i in
        i < offset || shape[i - offset] == 1 ? 0 : own[i - offset]
    }
}

/// The broadcast shape of `shapes`, checked to be allocatable; the error names the shapes.
func checkedBroadcastShape(_ shapes: [[Int]], _ ctx: KernelContext) throws -> [Int] {
    guard let shape = broadcastShape(shapes) else {
        throw ctx.error("shapes \(shapes.map { "\($0)" }.joined(separator: ", ")) do not broadcast")
    }
    guard checkedElementCount(shape) != nil else { throw ctx.error("broadcast shape \(shape) is too large") }
    return shape
}

/// Visits every element of `shape` in row-major order, tracking one offset per operand.
/// `body(outIndex, offsets, length)` is called for runs along the last axis: it receives the
/// first output index, each operand's first offset, and the run length (operand steps are the
/// last entries of `strides`). Splits the outer loop across the pool.
@inline(__always)
func forEachRun(shape: [Int], strides: [[Int]], pool: ThreadPool,
                _ body: @Sendable (_ out: Int, _ offsets: [Int], _ length: Int) -> Void) {
    let rank = shape.count
    guard rank > 0 else { body(0, strides.map { _ in 0 }, 1); return }
    let inner = shape[rank - 1]
    let outer = shape.dropLast().reduce(1, *)
    guard inner > 0, outer > 0 else { return }
    let outerShape = Array(shape.dropLast())
    pool.parallelFor(outer, grain: max(1, 16384 / inner)) { range in
        var index = [Int](repeating: 0, count: rank - 1)
        var r = range.lowerBound
        for axis in stride(from: rank - 2, through: 0, by: -1) {
            index[axis] = r % outerShape[axis]; r /= outerShape[axis]
        }
        var offsets = strides.map { s in zip(index, s).reduce(0) { $0 + $1.0 * $1.1 } }
        for o in range {
            body(o * inner, offsets, inner)
            // advance the odometer over the outer axes
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                for k in offsets.indices { offsets[k] += strides[k][axis] }
                if index[axis] < outerShape[axis] { break }
                for k in offsets.indices { offsets[k] -= strides[k][axis] * outerShape[axis] }
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

/// Drops size-1 axes and merges adjacent axes along which every operand is contiguous
/// relative to the next, so broadcast loops get long inner runs. Returns the merged shape and
/// per-operand strides.
func coalesced(shape: [Int], strides: [[Int]]) -> (shape: [Int], strides: [[Int]]) {
    var outShape: [Int] = []
    var outStrides = strides.map { _ in [Int]() }
    for axis in shape.indices where shape[axis] != 1 {
        if let last = outShape.last,
           strides.indices.allSatisfy({ k in outStrides[k].last! == strides[k][axis] * shape[axis] }) {
            outShape[outShape.count - 1] = last * shape[axis]
            for k in strides.indices { outStrides[k][outStrides[k].count - 1] = strides[k][axis] }
        } else {
            outShape.append(shape[axis])
            for k in strides.indices { outStrides[k].append(strides[k][axis]) }
        }
    }
    return (outShape, outStrides)
}

/// Applies `op` elementwise over two broadcast tensors of element types A and B into a new
/// tensor of element type R. The callers' element types must match the tensors'.
@inline(__always)
public func broadcastBinary<A: TensorElement, B: TensorElement, R: TensorElement>(
    _ a: Tensor, _ b: Tensor, _ ctx: KernelContext, _ op: @Sendable (A, B) -> R) throws -> Tensor {
    let shape = try checkedBroadcastShape([a.shape, b.shape], ctx)
    let out = Tensor(uninitialized: R.dataType, shape: shape)  // the runs below cover every element
    nonisolated(unsafe) let ua = UnsafePointer(a.storage.pointer.assumingMemoryBound(to: A.self))
    nonisolated(unsafe) let ub = UnsafePointer(b.storage.pointer.assumingMemoryBound(to: B.self))
    nonisolated(unsafe) let uo = out.storage.pointer.assumingMemoryBound(to: R.self)
    if a.shape == b.shape {
        ctx.pool.parallelFor(out.count, grain: 16384) { r in for i in r { uo[i] = op(ua[i], ub[i]) } }
        return out
    }
    let merged = coalesced(shape: shape, strides: [broadcastStrides(a.shape, to: shape),
                                                   broadcastStrides(b.shape, to: shape)])
    let ia = merged.strides[0].last ?? 0, ib = merged.strides[1].last ?? 0
    forEachRun(shape: merged.shape, strides: merged.strides, pool: ctx.pool) { o, offs, n in
        let x = ua + offs[0], y = ub + offs[1], z = uo + o
        // the common runs get loops the compiler can vectorize
        switch (ia, ib) {
        case (1, 1): for i in 0..<n { z[i] = op(x[i], y[i]) }
        case (1, 0): let s = y[0]; for i in 0..<n { z[i] = op(x[i], s) }
        case (0, 1): let s = x[0]; for i in 0..<n { z[i] = op(s, y[i]) }
        default: for i in 0..<n { z[i] = op(x[i * ia], y[i * ib]) }
        }
    }
    return out
}

/// Applies `op` elementwise over three broadcast tensors (Where's condition, x and y).
@inline(__always)
public func broadcastTernary<A: TensorElement, B: TensorElement, C: TensorElement, R: TensorElement>(
    _ a: Tensor, _ b: Tensor, _ c: Tensor, _ ctx: KernelContext, _ op: @Sendable (A, B, C) -> R) throws -> Tensor {
    let shape = try checkedBroadcastShape([a.shape, b.shape, c.shape], ctx)
    let out = Tensor(zeros: R.dataType, shape: shape)
    nonisolated(unsafe) let ua = UnsafePointer(a.storage.pointer.assumingMemoryBound(to: A.self))
    nonisolated(unsafe) let ub = UnsafePointer(b.storage.pointer.assumingMemoryBound(to: B.self))
    nonisolated(unsafe) let uc = UnsafePointer(c.storage.pointer.assumingMemoryBound(to: C.self))
    nonisolated(unsafe) let uo = out.storage.pointer.assumingMemoryBound(to: R.self)
    let merged = coalesced(shape: shape, strides: [a, b, c].map { broadcastStrides($0.shape, to: shape) })
    let (ia, ib, ic) = (merged.strides[0].last ?? 0, merged.strides[1].last ?? 0, merged.strides[2].last ?? 0)
    forEachRun(shape: merged.shape, strides: merged.strides, pool: ctx.pool) { o, offs, n in
        let x = ua + offs[0], y = ub + offs[1], w = uc + offs[2], z = uo + o
        if ia == 1 && ib == 1 && ic == 1 {
            for i in 0..<n { z[i] = op(x[i], y[i], w[i]) }
        } else {
            for i in 0..<n { z[i] = op(x[i * ia], y[i * ib], w[i * ic]) }
        }
    }
    return out
}

/// For each element of the broadcast shape of `shapes`, in row-major order, the flat index
/// into each operand. For small tensors of out-of-line elements (strings).
func broadcastIndices(_ shapes: [[Int]], _ ctx: KernelContext) throws -> (shape: [Int], indices: [[Int]]) {
    let shape = try checkedBroadcastShape(shapes, ctx)
    let strides = shapes.map { broadcastStrides($0, to: shape) }
    let count = shape.reduce(1, *)
    var indices = shapes.map { _ in [Int](repeating: 0, count: count) }
    for flat in 0..<count {
        var r = flat
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            let i = r % shape[axis]; r /= shape[axis]
            for k in shapes.indices { indices[k][flat] += i * strides[k][axis] }
        }
    }
    return (shape, indices)
}

/// Applies `op` to every element, producing element type R. The caller's A must be the
/// tensor's element type.
@inline(__always)
public func mapElements<A: TensorElement, R: TensorElement>(
    _ a: Tensor, _ ctx: KernelContext, _ op: @Sendable (A) -> R) -> Tensor {
    let out = Tensor(uninitialized: R.dataType, shape: a.shape)  // every element is written below
    nonisolated(unsafe) let pa = UnsafePointer(a.storage.pointer.assumingMemoryBound(to: A.self))
    nonisolated(unsafe) let po = out.storage.pointer.assumingMemoryBound(to: R.self)
    ctx.pool.parallelFor(a.count, grain: 16384) { r in for i in r { po[i] = op(pa[i]) } }
    return out
}
