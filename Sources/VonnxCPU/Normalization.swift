import CGemm
import Glibc
import VonnxIR

/// BatchNormalization, InstanceNormalization, LayerNormalization, GroupNormalization, LRN,
/// MeanVarianceNormalization. Statistics accumulate in float64.
enum NormKernels {
    /// Mean and variance of each contiguous row of `cols` elements.
    static func rowStats<T: RealElement>(_ x: UnsafePointer<T>, rows: Int, cols: Int, pool: ThreadPool) -> (mean: [Double], variance: [Double]) {
        var mean = [Double](repeating: 0, count: rows), variance = mean
        nonisolated(unsafe) let px = x
        mean.withUnsafeMutableBufferPointer { mb in
            variance.withUnsafeMutableBufferPointer { vb in
                nonisolated(unsafe) let (pm, pv) = (mb.baseAddress!, vb.baseAddress!)
                pool.parallelFor(rows, grain: max(1, 16384 / max(cols, 1))) { r in
                    for row in r {
                        let line = px + row * cols
                        var s = 0.0
                        for i in 0..<cols { s += Double(line[i]) }
                        let m = s / Double(max(cols, 1))
                        var q = 0.0
                        for i in 0..<cols { let d = Double(line[i]) - m; q += d * d }
                        pm[row] = m; pv[row] = q / Double(max(cols, 1))
                    }
                }
            }
        }
        return (mean, variance)
    }

    /// Mean and variance over `axes` (kept dims index the result, row-major).
    static func axisStats<T: RealElement>(_ x: Tensor, axes: Set<Int>, _: T.Type) -> (mean: [Double], variance: [Double], keptIndex: [Int]) {
        let shape = x.shape, rank = shape.count
        let keptShape = (0..<rank).map { axes.contains($0) ? 1 : shape[$0] }
        let keptStrides = broadcastStrides(keptShape, to: shape)
        let groups = keptShape.reduce(1, *), n = Double(x.count / max(groups, 1))
        var key = [Int](repeating: 0, count: x.count)
        var index = [Int](repeating: 0, count: rank), k = 0
        for i in 0..<x.count {
            key[i] = k
            var axis = rank - 1
            while axis >= 0 {
                index[axis] += 1; k += keptStrides[axis]
                if index[axis] < shape[axis] { break }
                k -= keptStrides[axis] * shape[axis]; index[axis] = 0; axis -= 1
            }
        }
        var sum = [Double](repeating: 0, count: groups), sq = sum
        let px = elements(x, T.self)
        for i in 0..<x.count { sum[key[i]] += Double(px[i]) }
        let mean = sum.map { $0 / max(n, 1) }
        for i in 0..<x.count { let d = Double(px[i]) - mean[key[i]]; sq[key[i]] += d * d }
        return (mean, sq.map { $0 / max(n, 1) }, key)
    }

    /// The elements of a per-channel parameter as float64, checking its count.
    static func channelValues(_ t: Tensor, _ count: Int, _ name: String, _ ctx: KernelContext) throws -> [Double] {
        guard t.count == count else { throw ctx.error("\(name) \(t.shape) must hold \(count) values") }
        return t.doubles()
    }

    struct BatchNorm: RealVisitor {
        let ctx: KernelContext, x: Tensor
        func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
            guard x.rank >= 2 else { throw ctx.error("X \(x.shape) must have rank ≥ 2") }
            let c = x.shape[1], size = x.shape[2...].reduce(1, *), n = x.shape[0]
            let eps = Double(try ctx.node.float("epsilon", default: 1e-5))
            let scale = try channelValues(try ctx.input(1), c, "scale", ctx)
            let bias = try channelValues(try ctx.input(2), c, "B", ctx)
            var mean = try channelValues(try ctx.input(3), c, "input_mean", ctx)
            var variance = try channelValues(try ctx.input(4), c, "input_var", ctx)
            let training = try ctx.opset >= 14 && ctx.node.int("training_mode", default: 0) != 0
            var extra: [Tensor] = []
            if training {
                let momentum = Double(try ctx.node.float("momentum", default: 0.9))
                let stats = axisStats(x, axes: Set((0..<x.rank).filter { $0 != 1 }), T.self)
                let runMean = zip(mean, stats.mean).map { $0 * momentum + $1 * (1 - momentum) }
                let runVar = zip(variance, stats.variance).map { $0 * momentum + $1 * (1 - momentum) }
                extra = [Tensor(shape: [c], scalars: runMean.map { T($0) }), Tensor(shape: [c], scalars: runVar.map { T($0) })]
                mean = stats.mean; variance = stats.variance
            }
            let mul = (0..<c).map { scale[$0] / (variance[$0] + eps).squareRoot() }
            let add = (0..<c).map { bias[$0] - mean[$0] * mul[$0] }
            let y = Tensor(zeros: T.dataType, shape: x.shape)
            nonisolated(unsafe) let (px, py) = (elements(x, T.self), elements(y, T.self))
            let fm = mul.map { T($0) }, fa = add.map { T($0) }
            ctx.pool.parallelFor(n * c, grain: max(1, 16384 / max(size, 1))) { r in
                for p in r {
                    let m = fm[p % c], a = fa[p % c], base = p * size
                    for i in base..<(base + size) { py[i] = px[i] * m + a }
                }
            }
            return [y] + extra
        }
    }

    /// `normalizeRows` for float32 rows and one scale/bias value per column, on CGemm's
    /// vectorized row kernel (`vx_layer_norm`), the rows split over `pool`.
    static func normalizeFloatRows(_ x: Tensor, rows: Int, cols: Int, eps: Double, pool: ThreadPool, scale: [Double],
                                   bias: [Double], centered: Bool) -> (y: Tensor, mean: [Double], invStd: [Double]) {
        let y = Tensor(uninitialized: .float, shape: x.shape)  // every row is written below
        let stats = Tensor(uninitialized: .float, shape: [2, rows])
        nonisolated(unsafe) let (px, py, ps) = (UnsafePointer(elements(x, Float.self)), elements(y, Float.self), elements(stats, Float.self))
        scale.map { Float($0) }.withUnsafeBufferPointer { fs in bias.map { Float($0) }.withUnsafeBufferPointer { fb in
            nonisolated(unsafe) let (s, b) = (fs.baseAddress, fb.baseAddress)
            pool.parallelFor(rows, grain: max(1, 16384 / max(cols, 1))) { r in
                for row in r {
                    vx_layer_norm(px + row * cols, py + row * cols, cols, s, b, Float(eps), centered ? 1 : 0, ps + row, ps + rows + row)
                }
            }
        } }
        let v = stats.scalars(as: Float.self).map { Double($0) }
        return (y, Array(v[..<rows]), Array(v[rows...]))
    }

    /// Normalizes contiguous rows, then applies per-element scale/bias chosen by `param(row, col)` index.
    /// `centered: false` gives RMS normalization (no mean subtracted, root mean square divided).
    static func normalizeRows<T: RealElement>(_: T.Type, _ x: Tensor, rows: Int, cols: Int, eps: Double, ctx: KernelContext,
                                              scale: [Double], bias: [Double], centered: Bool = true,
                                              paramIndex: @escaping @Sendable (Int, Int) -> Int)
        -> (y: Tensor, mean: [Double], invStd: [Double]) {
        let px = UnsafePointer(elements(x, T.self))
        let (rowMean, variance) = rowStats(px, rows: rows, cols: cols, pool: ctx.pool)
        let mean = centered ? rowMean : rowMean.map { _ in 0 }
        let invStd = zip(rowMean, variance).map { 1 / ((centered ? 0 : $0 * $0) + $1 + eps).squareRoot() }
        let y = Tensor(zeros: T.dataType, shape: x.shape)
        nonisolated(unsafe) let (sx, py) = (px, elements(y, T.self))
        ctx.pool.parallelFor(rows, grain: max(1, 16384 / max(cols, 1))) { r in
            for row in r {
                let m = mean[row], s = invStd[row]
                for i in 0..<cols {
                    let p = paramIndex(row, i)
                    py[row * cols + i] = T((Double(sx[row * cols + i]) - m) * s * scale[p] + bias[p])
                }
            }
        }
        return (y, mean, invStd)
    }

    /// LayerNormalization, or RMSNormalization when `rms` (then only Y is produced).
    struct LayerNorm: RealVisitor {
        let ctx: KernelContext, x: Tensor
        var rms = false
        func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
            let axis = try normalizeAxis(try ctx.node.int("axis", default: -1), rank: x.rank, ctx)
            let rows = x.shape[..<axis].reduce(1, *), cols = x.shape[axis...].reduce(1, *)
            let inner = Array(x.shape[axis...])
            func param(_ t: Tensor?, _ name: String, _ fill: Double) throws -> [Double] {
                guard let t else { return Array(repeating: fill, count: cols) }
                guard t.rank <= inner.count, broadcastShape([t.shape, inner]) == inner else {
                    throw ctx.error("\(name) \(t.shape) does not broadcast to \(inner)")
                }
                let strides = broadcastStrides(t.shape, to: inner), v = t.doubles()
                var out = [Double](repeating: 0, count: cols), index = [Int](repeating: 0, count: inner.count)
                for i in 0..<cols {
                    out[i] = v[zip(index, strides).reduce(0) { $0 + $1.0 * $1.1 }]
                    var a = inner.count - 1
                    while a >= 0 { index[a] += 1; if index[a] < inner[a] { break }; index[a] = 0; a -= 1 }
                }
                return out
            }
            let scale = try param(try ctx.input(1), "Scale", 1), bias = try param(rms ? nil : ctx.optionalInput(2), "B", 0)
            let eps = Double(try ctx.node.float("epsilon", default: 1e-5))
            let r = T.self == Float.self && PackedGemm.available
                ? normalizeFloatRows(x, rows: rows, cols: cols, eps: eps, pool: ctx.pool, scale: scale, bias: bias, centered: !rms)
                : normalizeRows(T.self, x, rows: rows, cols: cols, eps: eps, ctx: ctx, scale: scale, bias: bias, centered: !rms) { _, i in i }
            if rms { return [r.y] }
            let statShape = Array(x.shape[..<axis]) + Array(repeating: 1, count: x.rank - axis)
            return [r.y, Tensor(shape: statShape, scalars: r.mean.map { T($0) }),
                    Tensor(shape: statShape, scalars: r.invStd.map { T($0) })]
        }
    }

    struct InstanceNorm: RealVisitor {
        let ctx: KernelContext, x: Tensor
        func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
            guard x.rank >= 3 else { throw ctx.error("input \(x.shape) must be [N, C, spatial...]") }
            let c = x.shape[1], size = x.shape[2...].reduce(1, *)
            let scale = try channelValues(try ctx.input(1), c, "scale", ctx), bias = try channelValues(try ctx.input(2), c, "B", ctx)
            let epsilon = try ctx.node.float("epsilon", default: 1e-5)
            if T.self == Float.self && PackedGemm.available {
                // CGemm's vectorized plane, float64 inside like the reference below
                let y = Tensor(uninitialized: .float, shape: x.shape)  // every element is written below
                nonisolated(unsafe) let (px, py) = (UnsafePointer(elements(x, Float.self)), elements(y, Float.self))
                ctx.pool.parallelFor(x.shape[0] * c, grain: max(1, 16384 / max(size, 1))) { r in
                    for row in r {
                        vx_instance_norm(px + row * size, py + row * size, size, Float(scale[row % c]), Float(bias[row % c]), epsilon)
                    }
                }
                return [y]
            }
            return [normalizeRows(T.self, x, rows: x.shape[0] * c, cols: size, eps: Double(epsilon), ctx: ctx, scale: scale,
                                  bias: bias) { row, _ in row % c }.y]
        }
    }

    struct GroupNorm: RealVisitor {
        let ctx: KernelContext, x: Tensor
        func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
            guard x.rank >= 2 else { throw ctx.error("input \(x.shape) must be [N, C, ...]") }
            let groups = try ctx.node.int("num_groups") ?? 0
            let c = x.shape[1], size = x.shape[2...].reduce(1, *)
            guard groups > 0, c % groups == 0 else { throw ctx.error("num_groups \(groups) must divide the \(c) channels") }
            let s = try ctx.input(1), b = try ctx.input(2)
            // opset 18 has one scale per group, opset 21 one per channel
            let perChannel = s.count == c
            guard perChannel || s.count == groups, b.count == s.count else {
                throw ctx.error("scale \(s.shape) and bias \(b.shape) must hold \(c) (or \(groups)) values")
            }
            let eps = Double(try ctx.node.float("epsilon", default: 1e-5))
            let cg = c / groups, cols = cg * size
            return [normalizeRows(T.self, x, rows: x.shape[0] * groups, cols: cols, eps: eps, ctx: ctx, scale: s.doubles(), bias: b.doubles()) { row, i in
                perChannel ? (row % groups) * cg + i / size : row % groups
            }.y]
        }
    }

    struct LRN: RealVisitor {
        let ctx: KernelContext, x: Tensor
        func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
            guard x.rank >= 2 else { throw ctx.error("input \(x.shape) must be [N, C, ...]") }
            let size = try ctx.node.int("size") ?? 0
            guard size > 0 else { throw ctx.error("size \(size) must be positive") }
            let alpha = Double(try ctx.node.float("alpha", default: 1e-4)), beta = Double(try ctx.node.float("beta", default: 0.75))
            let bias = Double(try ctx.node.float("bias", default: 1))
            let n = x.shape[0], c = x.shape[1], plane = x.shape[2...].reduce(1, *)
            let lo = (size - 1) / 2, hi = (size - 1) - lo
            let y = Tensor(zeros: T.dataType, shape: x.shape)
            nonisolated(unsafe) let (px, py) = (elements(x, T.self), elements(y, T.self))
            ctx.pool.parallelFor(n * c, grain: max(1, 4096 / max(plane, 1))) { r in
                for p in r {
                    let img = p / c, ch = p % c
                    for i in 0..<plane {
                        var sum = 0.0
                        for k in max(0, ch - lo)...min(c - 1, ch + hi) {
                            let v = Double(px[(img * c + k) * plane + i]); sum += v * v
                        }
                        py[p * plane + i] = T(Double(px[p * plane + i]) / Glibc.pow(bias + alpha / Double(size) * sum, beta))
                    }
                }
            }
            return [y]
        }
    }

    struct MVN: RealVisitor {
        let ctx: KernelContext, x: Tensor
        func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
            let axes = try (ctx.node.ints("axes") ?? [0, 2, 3]).map { try normalizeAxis($0, rank: x.rank, ctx) }
            let stats = axisStats(x, axes: Set(axes), T.self)
            let y = Tensor(zeros: T.dataType, shape: x.shape)
            let px = elements(x, T.self), py = elements(y, T.self)
            for i in 0..<x.count {
                let k = stats.keptIndex[i]
                py[i] = T((Double(px[i]) - stats.mean[k]) / (stats.variance[k].squareRoot() + 1e-9))
            }
            return [y]
        }
    }
}

extension CPUKernels {
    public static let batchNormalization: CPUKernel = widenFloat16 { ctx in
        let x = try ctx.input(0); return try x.dataType.visitReal(NormKernels.BatchNorm(ctx: ctx, x: x), ctx)
    }
    public static let instanceNormalization: CPUKernel = widenFloat16 { ctx in
        let x = try ctx.input(0); return try x.dataType.visitReal(NormKernels.InstanceNorm(ctx: ctx, x: x), ctx)
    }
    public static let layerNormalization: CPUKernel = widenFloat16 { ctx in
        let x = try ctx.input(0); return try x.dataType.visitReal(NormKernels.LayerNorm(ctx: ctx, x: x), ctx)
    }
    public static let rmsNormalization: CPUKernel = widenFloat16 { ctx in
        let x = try ctx.input(0); return try x.dataType.visitReal(NormKernels.LayerNorm(ctx: ctx, x: x, rms: true), ctx)
    }
    /// LpNormalization: x divided by its L1 or L2 norm along `axis` (a zero norm leaves zeros).
    public static let lpNormalization: CPUKernel = widenFloat16 { ctx in
        let x = try ctx.input(0)
        struct Apply: RealVisitor {
            let ctx: KernelContext, x: Tensor
            func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
                let axis = try normalizeAxis(try ctx.node.int("axis", default: -1), rank: x.rank, ctx)
                let p = try ctx.node.int("p", default: 2)
                guard p == 1 || p == 2 else { throw ctx.error("p \(p) must be 1 or 2") }
                let n = x.rank == 0 ? 1 : x.shape[axis], inner = x.rank == 0 ? 1 : x.shape[(axis + 1)...].reduce(1, *)
                let y = Tensor(zeros: T.dataType, shape: x.shape)
                let px = elements(x, T.self), py = elements(y, T.self)
                for line in 0..<(x.count / max(n * inner, 1) * inner) {
                    let base = (line / inner) * n * inner + line % inner
                    var norm = 0.0
                    for i in 0..<n { let v = Double(px[base + i * inner]); norm += p == 1 ? abs(v) : v * v }
                    if p == 2 { norm = norm.squareRoot() }
                    for i in 0..<n { py[base + i * inner] = norm == 0 ? .zero : T(Double(px[base + i * inner]) / norm) }
                }
                return [y]
            }
        }
        return try x.dataType.visitReal(Apply(ctx: ctx, x: x), ctx)
    }
    public static let groupNormalization: CPUKernel = widenFloat16 { ctx in
        let x = try ctx.input(0); return try x.dataType.visitReal(NormKernels.GroupNorm(ctx: ctx, x: x), ctx)
    }
    public static let lrn: CPUKernel = widenFloat16 { ctx in
        let x = try ctx.input(0); return try x.dataType.visitReal(NormKernels.LRN(ctx: ctx, x: x), ctx)
    }
    public static let meanVarianceNormalization: CPUKernel = widenFloat16 { ctx in
        let x = try ctx.input(0); return try x.dataType.visitReal(NormKernels.MVN(ctx: ctx, x: x), ctx)
    }
}
