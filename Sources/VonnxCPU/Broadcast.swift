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

/// Visits every element of `shape` in row-major order, tracking one offset per operand.
/// `body(outIndex, offsets)` is called for runs along the last axis: it receives the first
/// output index, each operand's first offset, and the run length (operand steps are
/// `innerStrides`). Splits the outer loop across the pool.
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

/// Applies `op` elementwise over two broadcast tensors of element types A and B into a new
/// tensor of element type R.
public func broadcastBinary<A: TensorElement, B: TensorElement, R: TensorElement>(
    _ a: Tensor, _ b: Tensor, _ ctx: KernelContext, _ op: @Sendable (A, B) -> R) throws -> Tensor {
    guard let shape = broadcastShape([a.shape, b.shape]) else {
        throw ctx.error("shapes \(a.shape) and \(b.shape) do not broadcast")
    }
    let out = Tensor(zeros: R.dataType, shape: shape)
    let pa = UnsafePointer(a.storage.pointer.assumingMemoryBound(to: A.self))
    let pb = UnsafePointer(b.storage.pointer.assumingMemoryBound(to: B.self))
    let po = out.storage.pointer.assumingMemoryBound(to: R.self)
    nonisolated(unsafe) let (ua, ub, uo) = (pa, pb, po)
    if a.shape == b.shape {
        ctx.pool.parallelFor(out.count, grain: 16384) { r in for i in r { uo[i] = op(ua[i], ub[i]) } }
        return out
    }
    let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
    let ia = sa.last ?? 0, ib = sb.last ?? 0
    forEachRun(shape: shape, strides: [sa, sb], pool: ctx.pool) { o, offs, n in
        var x = offs[0], y = offs[1]
        for i in 0..<n { uo[o + i] = op(ua[x], ub[y]); x += ia; y += ib }
    }
    return out
}

/// Applies `op` to every element, producing element type R.
public func mapElements<A: TensorElement, R: TensorElement>(
    _ a: Tensor, _ ctx: KernelContext, _ op: @Sendable (A) -> R) -> Tensor {
    let out = Tensor(zeros: R.dataType, shape: a.shape)
    nonisolated(unsafe) let pa = UnsafePointer(a.storage.pointer.assumingMemoryBound(to: A.self))
    nonisolated(unsafe) let po = out.storage.pointer.assumingMemoryBound(to: R.self)
    ctx.pool.parallelFor(a.count, grain: 16384) { r in for i in r { po[i] = op(pa[i]) } }
    return out
}
