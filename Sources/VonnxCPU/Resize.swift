import VonnxIR

/// Resize (opset 10–19) and the deprecated Upsample, as separable 1-D resampling along each
/// resized axis: every output index reads a few clamped input indices with weights.
enum ResizeKernels {
    typealias Options = ResizeSampling.Options

    static func resample(_ data: [Double], shape: [Int], axis: Int, taps: [ResizeSampling.Taps], extrapolation: Double, pool: ThreadPool) -> [Double] {
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *), inW = shape[axis]
        let outW = taps.count
        var out = [Double](repeating: 0, count: outer * outW * inner)
        data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                nonisolated(unsafe) let (s, d) = (src.baseAddress!, dst.baseAddress!)
                pool.parallelFor(outer * outW, grain: max(1, 4096 / max(inner, 1))) { r in
                    for row in r {
                        let o = row / outW, i = row % outW
                        let line = d + row * inner
                        guard let t = taps[i] else {
                            for k in 0..<inner { line[k] = extrapolation }
                            continue
                        }
                        for (j, w) in zip(t.indices, t.weights) where w != 0 {
                            let from = s + (o * inW + j) * inner
                            for k in 0..<inner { line[k] += w * from[k] }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Per output index along an axis, the input indices and weights of its two taps (the
    /// second weight 0 for one tap), when every index has at most two taps of nonzero weight.
    static func twoTaps(_ taps: [ResizeSampling.Taps]) -> [(i0: Int, i1: Int, w0: Float, w1: Float)]? {
        var result: [(i0: Int, i1: Int, w0: Float, w1: Float)] = []
        result.reserveCapacity(taps.count)
        for t in taps {
            guard let t else { return nil }
            let live = zip(t.indices, t.weights).filter { $0.1 != 0 }
            guard live.count <= 2 else { return nil }
            let a = live.first ?? (t.indices.first ?? 0, 0), b = live.count == 2 ? live[1] : (a.0, 0)
            result.append((a.0, b.0, Float(a.1), Float(b.1)))
        }
        return result
    }

    /// float32 resampling of the last two axes of `x` (`planes` planes) where every output
    /// index has at most two taps (nearest; linear without antialias): per output row, the
    /// one or two input rows it reads, resampled along the row (kept while the next output
    /// rows read the same ones), then blended. Threaded over planes.
    static func planes(_ x: Tensor, outShape: [Int], rows: [(i0: Int, i1: Int, w0: Float, w1: Float)],
                       cols: [(i0: Int, i1: Int, w0: Float, w1: Float)], pool: ThreadPool) -> Tensor {
        let (ih, iw, oh, ow) = (x.shape[x.rank - 2], x.shape[x.rank - 1], rows.count, cols.count)
        let planes = ih * iw == 0 ? 0 : x.count / (ih * iw)
        let y = Tensor(uninitialized: .float, shape: outShape)  // every element is written below
        nonisolated(unsafe) let (px, py) = (UnsafePointer(elements(x, Float.self)), elements(y, Float.self))
        let ci0 = cols.map(\.i0), ci1 = cols.map(\.i1), cw0 = cols.map(\.w0), cw1 = cols.map(\.w1)
        let gather = cols.allSatisfy { $0.w0 == 1 && $0.w1 == 0 }
        pool.parallelFor(planes, grain: max(1, 65536 / max(oh * ow, 1))) { r in
            let a = UnsafeMutablePointer<Float>.allocate(capacity: 2 * ow), b = a + ow
            defer { a.deallocate() }
            /// Input row `j` of plane `src` resampled along the row into `dst`.
            func line(_ src: UnsafePointer<Float>, _ j: Int, _ dst: UnsafeMutablePointer<Float>) {
                let row = src + j * iw
                if gather {
                    for o in 0..<ow { dst[o] = row[ci0[o]] }
                } else {
                    for o in 0..<ow { dst[o] = row[ci0[o]] * cw0[o] + (cw1[o] == 0 ? 0 : row[ci1[o]] * cw1[o]) }
                }
            }
            for plane in r {
                let src = px + plane * ih * iw, dst = py + plane * oh * ow
                var ja = -1, jb = -1
                for (oy, t) in rows.enumerated() {
                    if t.i0 != ja { line(src, t.i0, a); ja = t.i0 }
                    let out = dst + oy * ow
                    if t.w1 == 0 {
                        if t.w0 == 1 { out.update(from: a, count: ow) } else { for o in 0..<ow { out[o] = a[o] * t.w0 } }
                        continue
                    }
                    if t.i1 != jb { line(src, t.i1, b); jb = t.i1 }
                    for o in 0..<ow { out[o] = a[o] * t.w0 + b[o] * t.w1 }
                }
            }
        }
        return y
    }

    /// Resizes `x` to `sizes` with per-axis `scales` (full rank) and `roi` (begin..., end...).
    static func run(_ x: Tensor, sizes: [Int], scales: [Double], roi: [Double], options: Options, ctx: KernelContext) throws -> Tensor {
        guard x.dataType != .string, x.dataType != .bool else { throw ctx.error("cannot resize \(x.dataType) tensors") }
        let r = x.rank
        guard sizes.count == r, scales.count == r, sizes.allSatisfy({ $0 >= 0 }), scales.allSatisfy({ $0 > 0 && $0.isFinite }),
              let total = checkedElementCount(sizes), total <= 1 << 31 else {
            throw ctx.error("output sizes \(sizes) / scales \(scales) are invalid for input \(x.shape)")
        }
        /// The taps along `axis` of `shape`, nil when the axis is left as it is.
        func taps(_ axis: Int, _ shape: [Int]) throws -> [ResizeSampling.Taps]? {
            let rb = roi.count == 2 * r ? roi[axis] : 0, re = roi.count == 2 * r ? roi[axis + r] : 1
            if sizes[axis] == shape[axis] && abs(scales[axis] - 1) < 1e-9 && abs(rb) < 1e-9 && abs(re - 1) < 1e-9 { return nil }
            guard shape[axis] > 0 else { throw ctx.error("cannot resize an empty axis \(axis) of \(x.shape)") }
            return ResizeSampling.taps(input: shape[axis], output: sizes[axis], scale: scales[axis], roi: (rb, re), options)
        }
        /// `twoTaps` along `axis` of `x` (the identity when the axis is left as it is).
        func pairs(_ axis: Int) throws -> [(i0: Int, i1: Int, w0: Float, w1: Float)]? {
            guard let t = try taps(axis, x.shape) else { return (0..<x.shape[axis]).map { ($0, $0, 1, 0) } }
            return twoTaps(t)
        }
        if x.dataType == .float, r >= 2, try (0..<r - 2).allSatisfy({ try taps($0, x.shape) == nil }),
           let rows = try pairs(r - 2), let cols = try pairs(r - 1) {
            return planes(x, outShape: sizes, rows: rows, cols: cols, pool: ctx.pool)
        }
        var data = x.doubles(), shape = x.shape
        for axis in 0..<r {
            guard let t = try taps(axis, shape) else { continue }
            data = resample(data, shape: shape, axis: axis, taps: t, extrapolation: options.extrapolation, pool: ctx.pool)
            shape[axis] = sizes[axis]
        }
        struct Store: ElementVisitor {
            let data: [Double], shape: [Int]
            func callAsFunction<T: NumericElement>(_: T.Type) throws -> Tensor {
                let integer = T.dataType.isInteger
                return Tensor(shape: shape, scalars: data.map { T(fromDouble: integer ? $0.rounded(.toNearestOrEven) : $0) })
            }
        }
        return try x.dataType.visit(Store(data: data, shape: shape))
    }

    static func resize(_ ctx: KernelContext) throws -> [Tensor] {
        let x = try ctx.input(0), eleven = ctx.opset >= 11
        let p = try ResizeSampling.plan(ctx.node, input: x.shape, opset: ctx.opset, roi: eleven ? ctx.optionalInput(1) : nil,
                                        scales: ctx.optionalInput(eleven ? 2 : 1), sizes: eleven ? ctx.optionalInput(3) : nil)
        return [try run(x, sizes: p.sizes, scales: p.scales, roi: p.roi, options: p.options, ctx: ctx)]
    }
}

extension CPUKernels {
    public static let resize: CPUKernel = { ctx in try ResizeKernels.resize(ctx) }

    /// Upsample (opset 7: `scales` attribute; 9: `scales` input), asymmetric coordinates.
    public static let upsample: CPUKernel = { ctx in
        let x = try ctx.input(0)
        let scales = try ctx.node.floats("scales").map { $0.map(Double.init) } ?? (try ctx.input(1)).doubles()
        guard scales.count == x.rank else { throw ctx.error("scales \(scales) must have one value per dim of \(x.shape)") }
        var o = ResizeKernels.Options()
        o.mode = try ctx.node.string("mode", default: "nearest")
        if o.mode == "bilinear" { o.mode = "linear" }
        guard o.mode == "nearest" || o.mode == "linear" else { throw ctx.error("mode '\(o.mode)' is not nearest or linear") }
        o.coordinateMode = "asymmetric"; o.nearestMode = "floor"
        guard scales.allSatisfy({ $0 > 0 && $0.isFinite && $0 < Double(Int32.max) }) else { throw ctx.error("scales \(scales) are invalid") }
        let sizes = zip(x.shape, scales).map { Int(Double($0) * $1) }
        return [try ResizeKernels.run(x, sizes: sizes, scales: scales, roi: [], options: o, ctx: ctx)]
    }
}
