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
            let t = ResizeSampling.taps(input: shape[axis], output: sizes[axis], scale: scales[axis], roi: (rb, re), options)
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
