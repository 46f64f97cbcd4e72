import VonnxIR

/// Unique over elements (no axis: the input flattened) or over slices along `axis`; slices
/// compare lexicographically. Outputs Y, first-occurrence indices, inverse indices, counts.
struct UniqueApply: ElementVisitor {
    let x: Tensor, axis: Int?, sorted: Bool, ctx: KernelContext

    func callAsFunction<T: NumericElement>(_: T.Type) throws -> [Tensor] {
        let shape = axis == nil ? [x.count] : x.shape
        let a = axis ?? 0
        let l = AxisLayout(shape, axis: a)
        // the int64 index outputs hold one value an item, up to 8 times the input (whose size
        // bounds Y), and so does each scratch array below
        try ctx.checkAllocatable("the inverse indices", dims: [l.n], .int64)
        return x.withUnsafeBufferPointer(as: T.self) { values in
            // item i: the elements at index i along the axis, in row-major order, compared in place
            func compare(_ i: Int, _ j: Int) -> Int {
                for o in 0..<l.outer {
                    let p = (o * l.n + i) * l.inner, q = (o * l.n + j) * l.inner
                    for e in 0..<l.inner where values[p + e] != values[q + e] { return values[p + e] < values[q + e] ? -1 : 1 }
                }
                return 0
            }
            let order = (0..<l.n).sorted { i, j in
                let c = compare(i, j)
                return c < 0 || (c == 0 && i < j)
            }
            // groups of equal items in sorted order: the first index of each (ties sort by index), its size
            var firsts: [Int] = [], counts: [Int64] = []
            var inverse = [Int64](repeating: 0, count: l.n)
            for i in order {
                if let f = firsts.last, compare(f, i) == 0 { counts[counts.count - 1] += 1 } else { firsts.append(i); counts.append(1) }
                inverse[i] = Int64(firsts.count - 1)
            }
            if !sorted {
                // groups renumbered by first occurrence
                let byFirst = firsts.indices.sorted { firsts[$0] < firsts[$1] }
                var number = [Int64](repeating: 0, count: byFirst.count)
                for (k, g) in byFirst.enumerated() { number[g] = Int64(k) }
                inverse = inverse.map { number[Int($0)] }
                firsts = byFirst.map { firsts[$0] }
                counts = byFirst.map { counts[$0] }
            }
            var yShape = shape
            yShape[a] = firsts.count
            var y = [T](repeating: T.zero, count: l.outer * firsts.count * l.inner)
            for (k, f) in firsts.enumerated() {
                for o in 0..<l.outer {
                    for e in 0..<l.inner { y[(o * firsts.count + k) * l.inner + e] = values[(o * l.n + f) * l.inner + e] }
                }
            }
            return [Tensor(shape: yShape, scalars: y), Tensor(shape: [firsts.count], scalars: firsts.map { Int64($0) }),
                    Tensor(shape: [l.n], scalars: inverse), Tensor(shape: [firsts.count], scalars: counts)]
        }
    }
}

extension CPUKernels {
    public static let unique: CPUKernel = { ctx in
        let x = try ctx.input(0)
        let axis = try ctx.node.int("axis").map { try normalizeAxis($0, rank: x.rank, ctx) }
        if axis != nil && x.rank == 0 { throw ctx.error("axis needs an input of rank 1 or more") }
        return try x.dataType.visit(UniqueApply(x: x, axis: axis, sorted: try ctx.node.int("sorted", default: 1) != 0, ctx: ctx))
    }

    /// Det of the trailing square matrices, by LU decomposition with partial pivoting.
    public static let det: CPUKernel = { ctx in
        let x = try ctx.input(0)
        guard x.dataType.isFloatingPoint else { throw ctx.error("expects a floating-point input, got \(x.dataType)") }
        guard x.rank >= 2, x.shape[x.rank - 1] == x.shape[x.rank - 2] else {
            throw ctx.error("input must end in square matrices, got shape \(x.shape)")
        }
        let n = x.shape[x.rank - 1]
        let batch = Array(x.shape.dropLast(2))
        let v = x.doubles()
        let count = batch.reduce(1, *)
        var dets = [Double](repeating: 1, count: count)
        for b in 0..<count {
            var m = Array(v[(b * n * n)..<((b + 1) * n * n)])
            var det = 1.0
            for c in 0..<n {
                var p = c
                for r in (c + 1)..<n where abs(m[r * n + c]) > abs(m[p * n + c]) { p = r }
                if m[p * n + c] == 0 { det = 0; break }
                if p != c {
                    for k in 0..<n { m.swapAt(p * n + k, c * n + k) }
                    det = -det
                }
                let pivot = m[c * n + c]
                det *= pivot
                for r in (c + 1)..<n {
                    let f = m[r * n + c] / pivot
                    if f != 0 { for k in c..<n { m[r * n + k] -= f * m[c * n + k] } }
                }
            }
            dets[b] = det
        }
        return [try Tensor(x.dataType, shape: batch, converting: dets)]
    }

    /// NonMaxSuppression: per batch and class, boxes by descending score (ties: lower index),
    /// kept when their IoU with every kept box is at most iou_threshold; [n, 3] int64 output.
    public static let nonMaxSuppression: CPUKernel = { ctx in
        let boxes = try ctx.input(0), scores = try ctx.input(1)
        let inputs = [boxes, scores] + (2..<5).compactMap { ctx.optionalInput($0) }
        guard inputs.allSatisfy({ $0.dataType != .string }) else { throw ctx.error("inputs must be numeric") }
        guard boxes.rank == 3, boxes.shape[2] == 4, scores.rank == 3, scores.shape[0] == boxes.shape[0],
              scores.shape[2] == boxes.shape[1] else {
            throw ctx.error("boxes \(boxes.shape) and scores \(scores.shape) must be [B, N, 4] and [B, C, N]")
        }
        let maxPerClass = ctx.optionalInput(2).flatMap { $0.count > 0 ? $0.ints()[0] : nil } ?? 0
        let iouThreshold = ctx.optionalInput(3).flatMap { $0.count > 0 ? $0.doubles()[0] : nil } ?? 0
        let scoreThreshold = ctx.optionalInput(4).flatMap { $0.count > 0 ? $0.doubles()[0] : nil }
        let centerPoint = try ctx.node.int("center_point_box", default: 0) != 0
        let (batches, classes, n) = (scores.shape[0], scores.shape[1], boxes.shape[1])
        let b = boxes.doubles(), s = scores.doubles()
        /// A box as (x min, y min, x max, y max).
        func corners(_ batch: Int, _ i: Int) -> (Double, Double, Double, Double) {
            let o = (batch * n + i) * 4
            if centerPoint {
                return (b[o] - b[o + 2] / 2, b[o + 1] - b[o + 3] / 2, b[o] + b[o + 2] / 2, b[o + 1] + b[o + 3] / 2)
            }
            return (min(b[o + 1], b[o + 3]), min(b[o], b[o + 2]), max(b[o + 1], b[o + 3]), max(b[o], b[o + 2]))
        }
        func suppresses(_ p: (Double, Double, Double, Double), _ q: (Double, Double, Double, Double)) -> Bool {
            let ix = min(p.2, q.2) - max(p.0, q.0), iy = min(p.3, q.3) - max(p.1, q.1)
            guard ix > 0, iy > 0 else { return false }
            let inter = ix * iy
            let a1 = (p.2 - p.0) * (p.3 - p.1), a2 = (q.2 - q.0) * (q.3 - q.1)
            let union = a1 + a2 - inter
            guard a1 > 0, a2 > 0, union > 0 else { return false }
            return inter / union > iouThreshold
        }
        var selected: [Int64] = []
        for batch in 0..<batches {
            let box = (0..<n).map { corners(batch, $0) }
            for c in 0..<classes where maxPerClass > 0 {
                let base = (batch * classes + c) * n
                let candidates = (0..<n).filter { scoreThreshold == nil || s[base + $0] > scoreThreshold! }
                    .sorted { s[base + $0] > s[base + $1] || (s[base + $0] == s[base + $1] && $0 < $1) }
                var kept: [Int] = []
                for i in candidates where kept.count < maxPerClass {
                    if kept.allSatisfy({ !suppresses(box[i], box[$0]) }) {
                        kept.append(i)
                        selected += [Int64(batch), Int64(c), Int64(i)]
                    }
                }
            }
        }
        return [Tensor(shape: [selected.count / 3, 3], scalars: selected)]
    }
}
