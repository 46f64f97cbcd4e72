import VonnxIR

/// Resize (opset 10–19) and the deprecated Upsample, as separable 1-D resampling along each
/// resized axis: every output index reads a few clamped input indices with weights.
enum ResizeKernels {
    struct Options: Sendable {
        var mode = "nearest", coordinateMode = "half_pixel", nearestMode = "round_prefer_floor"
        var cubicA = -0.75, excludeOutside = false, extrapolation = 0.0, antialias = false
    }

    /// One output index along an axis: input indices and weights, or nil when extrapolated.
    typealias Taps = (indices: [Int], weights: [Double])?

    static func coefficients(_ ratio: Double, scale: Double, _ o: Options) -> [Double] {
        switch o.mode {
        case "nearest":
            if ratio == ratio.rounded(.down) { return [0, 1] }
            switch o.nearestMode {
            case "round_prefer_ceil": return ratio < 0.5 ? [1, 0] : [0, 1]
            case "floor": return [1, 0]
            case "ceil": return [0, 1]
            default: return ratio <= 0.5 ? [1, 0] : [0, 1]
            }
        case "linear":
            guard o.antialias else { return [1 - ratio, ratio] }
            let s = min(scale, 1), start = Int((-1 / s).rounded(.down)) + 1, footprint = 2 - 2 * start
            let c = (0..<footprint).map { max(0, min(1, 1 - abs((Double(start + $0) - ratio) * s))) }
            let sum = c.reduce(0, +)
            return c.map { $0 / sum }
        default: // cubic
            let a = o.cubicA
            func k(_ x: Double) -> Double {
                let x = abs(x)
                if x <= 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
                if x < 2 { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
                return 0
            }
            guard o.antialias else { return [k(ratio + 1), k(ratio), k(1 - ratio), k(2 - ratio)] }
            let s = min(scale, 1), start = Int((-2 / s).rounded(.down)) + 1, end = 2 - start
            let c = (start..<end).map { k(s * (Double($0) - ratio)) }
            let sum = c.reduce(0, +)
            return c.map { $0 / sum }
        }
    }

    /// The taps of every output index along one axis.
    static func taps(input: Int, output: Int, scale: Double, roi: (Double, Double), _ o: Options) -> [Taps] {
        let inW = Double(input), outW = scale * inW
        return (0..<output).map { i -> Taps in
            let y = Double(i)
            var x: Double
            switch o.coordinateMode {
            case "align_corners": x = outW == 1 ? 0 : y * (inW - 1) / (outW - 1)
            case "asymmetric": x = y / scale
            case "tf_crop_and_resize":
                x = outW == 1 ? (roi.1 - roi.0) * (inW - 1) / 2 : y * (roi.1 - roi.0) * (inW - 1) / (outW - 1)
                x += roi.0 * (inW - 1)
                if x < 0 || x > inW - 1 { return nil }
            case "pytorch_half_pixel": x = outW == 1 ? -0.5 : (y + 0.5) / scale - 0.5
            case "half_pixel_symmetric":
                let offset = inW / 2 * (1 - Double(output) / outW)
                x = offset + (y + 0.5) / scale - 0.5
            default: x = (y + 0.5) / scale - 0.5
            }
            // NaN or huge coordinates (from a bad roi or scale) must not trap the Int conversions below
            x = x.isNaN ? 0 : min(max(x, -1e12), 1e12)
            let xi = x.rounded(.down)
            let ratio = x == xi ? 1 : x - xi
            var c = coefficients(ratio, scale: scale, o)
            let n = c.count, pad = (n + 1) / 2
            let xp = x + Double(pad), p = xp.rounded(.down), frac = xp - p
            let offset = n % 2 == 0 ? (frac == 0 ? -(n / 2) : -(n / 2) + 1) : (frac <= 0.5 ? -((n - 1) / 2) : -((n - 1) / 2) + 1)
            let start = Int(p) + offset - pad
            var idx = (0..<n).map { start + $0 }
            if o.excludeOutside {
                for j in 0..<n where idx[j] < 0 || idx[j] >= input { c[j] = 0 }
                let sum = c.reduce(0, +)
                if sum != 0 { c = c.map { $0 / sum } }
            }
            idx = idx.map { max(0, min(input - 1, $0)) }
            return (idx, c)
        }
    }

    /// Resamples `data` (float64, `shape`) along `axis` to `taps.count` entries.
    static func resample(_ data: [Double], shape: [Int], axis: Int, taps: [Taps], extrapolation: Double, pool: ThreadPool) -> [Double] {
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

    /// Resizes `x` to `sizes` with per-axis `scales` (full rank) and `roi` (begin..., end...).
    static func run(_ x: Tensor, sizes: [Int], scales: [Double], roi: [Double], options: Options, ctx: KernelContext) throws -> Tensor {
        guard x.dataType != .string, x.dataType != .bool else { throw ctx.error("cannot resize \(x.dataType) tensors") }
        let r = x.rank
        guard sizes.count == r, scales.count == r, sizes.allSatisfy({ $0 >= 0 }), scales.allSatisfy({ $0 > 0 && $0.isFinite }),
              let total = checkedElementCount(sizes), total <= 1 << 31 else {
            throw ctx.error("output sizes \(sizes) / scales \(scales) are invalid for input \(x.shape)")
        }
        var data = x.doubles(), shape = x.shape
        for axis in 0..<r {
            let rb = roi.count == 2 * r ? roi[axis] : 0, re = roi.count == 2 * r ? roi[axis + r] : 1
            if sizes[axis] == shape[axis] && abs(scales[axis] - 1) < 1e-9 && abs(rb) < 1e-9 && abs(re - 1) < 1e-9 { continue }
            guard shape[axis] > 0 else { throw ctx.error("cannot resize an empty axis \(axis) of \(x.shape)") }
            let t = taps(input: shape[axis], output: sizes[axis], scale: scales[axis], roi: (rb, re), options)
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
        let x = try ctx.input(0), node = ctx.node, r = x.rank
        var o = Options()
        o.mode = try node.string("mode", default: "nearest")
        guard ["nearest", "linear", "cubic"].contains(o.mode) else { throw ctx.error("mode '\(o.mode)' is not nearest, linear or cubic") }
        let scalesIndex = ctx.opset < 11 ? 1 : 2
        if ctx.opset < 11 {
            o.coordinateMode = "asymmetric"; o.nearestMode = "floor"
        } else {
            o.coordinateMode = try node.string("coordinate_transformation_mode", default: "half_pixel")
            o.nearestMode = try node.string("nearest_mode", default: "round_prefer_floor")
            o.cubicA = Double(try node.float("cubic_coeff_a", default: -0.75))
            o.excludeOutside = try node.int("exclude_outside", default: 0) != 0
            o.extrapolation = Double(try node.float("extrapolation_value", default: 0))
            o.antialias = try node.int("antialias", default: 0) != 0
        }
        let axes = try (node.ints("axes") ?? Array(0..<r)).map { try normalizeAxis($0, rank: r, ctx) }
        guard Set(axes).count == axes.count else { throw ctx.error("axes \(axes) repeat an axis") }
        let policy = try node.string("keep_aspect_ratio_policy", default: "stretch")
        var roi = [Double]()
        if ctx.opset >= 11, let t = ctx.optionalInput(1), t.count > 0 {
            let v = t.doubles()
            guard v.count == 2 * axes.count else { throw ctx.error("roi has \(v.count) values for \(axes.count) axes") }
            roi = Array(repeating: 0, count: r) + Array(repeating: 1, count: r)
            for (i, a) in axes.enumerated() { roi[a] = v[i]; roi[a + r] = v[axes.count + i] }
        }
        var scales = [Double](repeating: 1, count: r), sizes = x.shape
        let sizesTensor = ctx.opset >= 11 ? ctx.optionalInput(3) : nil
        if let st = sizesTensor, st.count > 0 {
            let s = st.ints()
            guard s.count == axes.count else { throw ctx.error("sizes has \(s.count) values for \(axes.count) axes") }
            for (i, a) in axes.enumerated() {
                guard x.shape[a] > 0 else { throw ctx.error("cannot resize empty axis \(a)") }
                sizes[a] = s[i]; scales[a] = Double(s[i]) / Double(x.shape[a])
            }
            if policy != "stretch" {
                let pick = axes.map { scales[$0] }
                guard let scale = policy == "not_larger" ? pick.min() : pick.max(),
                      policy == "not_larger" || policy == "not_smaller" else {
                    throw ctx.error("keep_aspect_ratio_policy '\(policy)' is not stretch, not_larger or not_smaller")
                }
                for a in axes { scales[a] = scale; sizes[a] = Int(scale * Double(x.shape[a]) + 0.5) }
            }
        } else if let sc = ctx.optionalInput(scalesIndex), sc.count > 0 {
            let s = sc.doubles()
            guard s.count == axes.count else { throw ctx.error("scales has \(s.count) values for \(axes.count) axes") }
            for (i, a) in axes.enumerated() {
                guard s[i] > 0, s[i].isFinite, s[i] * Double(x.shape[a]) < Double(Int32.max) else { throw ctx.error("scale \(s[i]) is invalid") }
                scales[a] = s[i]; sizes[a] = Int(s[i] * Double(x.shape[a]))
            }
        } else {
            throw ctx.error("one of scales and sizes must be given")
        }
        return [try run(x, sizes: sizes, scales: scales, roi: roi, options: o, ctx: ctx)]
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
