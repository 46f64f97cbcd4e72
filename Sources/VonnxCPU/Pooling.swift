import Glibc
import VonnxIR

/// MaxPool, AveragePool, LpPool and their global forms over [N, C, spatial...] tensors.
enum PoolKernels {
    enum Kind: Sendable { case max, average(includePad: Bool), lp(Double) }

    /// The geometry of a windowed pool node, with the kernel from `kernel_shape`.
    static func geometry(_ ctx: KernelContext, _ x: Tensor, dilations: Bool) throws -> WindowGeometry {
        guard x.rank >= 3 else { throw ctx.error("input \(x.shape) must be [N, C, spatial...]") }
        guard let kernel = try ctx.node.ints("kernel_shape") else { throw ctx.error("kernel_shape is required") }
        let geo = try WindowGeometry(ctx, input: Array(x.shape[2...]), kernel: kernel, allowCeil: true, dilations: dilations)
        guard checkedElementCount(Array(x.shape[0..<2]) + geo.output) != nil else { throw ctx.error("output is too large") }
        return geo
    }

    struct Apply: ElementVisitor {
        let ctx: KernelContext, x: Tensor, geo: WindowGeometry, kind: Kind, indices: Bool, columnMajor: Bool
        func callAsFunction<T: NumericElement>(_: T.Type) throws -> [Tensor] {
            if case .max = kind {} else {
                guard T.dataType.isFloatingPoint else { throw ctx.error("expects a floating-point input, got \(T.dataType)") }
            }
            let planes = x.shape[0] * x.shape[1]
            let y = Tensor(zeros: T.dataType, shape: Array(x.shape[0..<2]) + geo.output)
            let idx = indices ? Tensor(zeros: .int64, shape: y.shape) : nil
            let g = geo, kind = kind, d = geo.rank, inSize = geo.inputSize, outSize = geo.outputSize
            let colStrides: [Int] = (0..<d).map { i in geo.input[0..<i].reduce(1, *) }
            let colMajor = columnMajor
            nonisolated(unsafe) let (px, py) = (UnsafePointer(elements(x, T.self)), elements(y, T.self))
            nonisolated(unsafe) let pi = idx.map { elements($0, Int64.self) }
            if d == 2 && !indices {
                pool2D(planes: planes, px, py)
                return [y]
            }
            ctx.pool.parallelFor(planes, grain: max(1, 4096 / max(outSize * g.kernelSize, 1))) { r in
                var o = [Int](repeating: 0, count: d), k = [Int](repeating: 0, count: d)
                for plane in r {
                    let src = px + plane * inSize
                    for i in 0..<d { o[i] = 0 }
                    for out in 0..<outSize {
                        var best = T.zero, bestIndex = -1, sum = 0.0, valid = 0, padded = 1
                        for i in 0..<d {
                            let start = o[i] * g.strides[i] - g.padBegin[i]
                            var n = 0
                            for j in 0..<g.kernel[i] where start + j * g.dilations[i] < g.input[i] + g.padEnd[i] { n += 1 }
                            padded *= n
                            k[i] = 0
                        }
                        // visit every kernel offset, skipping positions outside the input
                        while true {
                            var flat = 0, inside = true
                            for i in 0..<d {
                                let p = o[i] * g.strides[i] - g.padBegin[i] + k[i] * g.dilations[i]
                                if p < 0 || p >= g.input[i] { inside = false; break }
                                flat = flat * g.input[i] + p
                            }
                            if inside {
                                let v = src[flat]
                                valid += 1
                                switch kind {
                                case .max:
                                    if bestIndex < 0 || v > best { best = v; bestIndex = flat }
                                case .average: sum += v.asDouble
                                case .lp(let p): sum += Glibc.pow(Swift.abs(v.asDouble), p)
                                }
                            }
                            var axis = d - 1
                            while axis >= 0 {
                                k[axis] += 1
                                if k[axis] < g.kernel[axis] { break }
                                k[axis] = 0; axis -= 1
                            }
                            if axis < 0 { break }
                        }
                        let at = plane * outSize + out
                        switch kind {
                        case .max:
                            py[at] = best
                            if let pi {
                                var index = bestIndex
                                if colMajor && bestIndex >= 0 {
                                    var rem = bestIndex
                                    index = 0
                                    for i in stride(from: d - 1, through: 0, by: -1) {
                                        index += (rem % g.input[i]) * colStrides[i]; rem /= g.input[i]
                                    }
                                }
                                pi[at] = Int64(plane * inSize + max(index, 0))
                            }
                        case .average(let includePad):
                            let n = includePad ? padded : valid
                            py[at] = T(fromDouble: n > 0 ? sum / Double(n) : 0)
                        case .lp(let p): py[at] = T(fromDouble: Glibc.pow(sum, 1 / p))
                        }
                        var axis = d - 1
                        while axis >= 0 {
                            o[axis] += 1
                            if o[axis] < g.output[axis] { break }
                            o[axis] = 0; axis -= 1
                        }
                    }
                }
            }
            return idx.map { [y, $0] } ?? [y]
        }
    }

}

extension WindowGeometry {
    /// Per output position along `axis`, the kernel offsets k whose input position
    /// o·stride − padBegin + k·dilation lies inside the input, and how many offsets lie before
    /// the end padding's end (AveragePool's count_include_pad divisor).
    func windowOffsets(axis: Int) -> [(inside: Range<Int>, beforeEndPad: Int)] {
        let (s, d, k, pad, n) = (strides[axis], dilations[axis], kernel[axis], padBegin[axis], input[axis])
        return (0..<output[axis]).map { o in
            let start = o * s - pad
            let lo = start >= 0 ? 0 : min(k, (-start + d - 1) / d)
            let beforeEnd = (0..<k).filter { start + $0 * d < n + padEnd[axis] }.count
            return (lo..<max(lo, min(k, (n - start + d - 1) / d)), beforeEnd)
        }
    }
}

extension PoolKernels.Apply {
    /// The common 2-D case without Indices: direct loops over clamped window ranges.
    func pool2D<T: NumericElement>(planes: Int, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>) {
        if case .max = kind {
            if T.self == Float.self, PackedGemm.available {
                return DirectKernels.maxPool(ctx.pool, x: UnsafeRawPointer(x).assumingMemoryBound(to: Float.self),
                                             y: UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self),
                                             planes: planes, geo: geo)
            }
            return maxPool2D(planes: planes, x, y)
        }
        if case .average(let includePad) = kind { return averagePool2D(planes: planes, x, y, includePad: includePad) }
        let g = geo, kind = kind
        let (ih, iw, oh, ow) = (g.input[0], g.input[1], g.output[0], g.output[1])
        let (sh, sw, dh, dw) = (g.strides[0], g.strides[1], g.dilations[0], g.dilations[1])
        let (kh, kw, ph, pw) = (g.kernel[0], g.kernel[1], g.padBegin[0], g.padBegin[1])
        let (eh, ew) = (ih + g.padEnd[0], iw + g.padEnd[1])
        nonisolated(unsafe) let (px, py) = (x, y)
        ctx.pool.parallelFor(planes, grain: max(1, 4096 / max(oh * ow * kh * kw, 1))) { r in
            for plane in r {
                let src = px + plane * ih * iw, dst = py + plane * oh * ow
                for i in 0..<oh {
                    let h0 = i * sh - ph
                    var validH = 0, paddedH = 0
                    for a in 0..<kh { let h = h0 + a * dh; if h < eh { paddedH += 1 }; if h >= 0 && h < ih { validH += 1 } }
                    for j in 0..<ow {
                        let w0 = j * sw - pw
                        var best = T.zero, found = false, sum = 0.0, validW = 0, paddedW = 0
                        for b in 0..<kw { let w = w0 + b * dw; if w < ew { paddedW += 1 }; if w >= 0 && w < iw { validW += 1 } }
                        for a in 0..<kh {
                            let h = h0 + a * dh
                            if h < 0 || h >= ih { continue }
                            let line = src + h * iw
                            for b in 0..<kw {
                                let w = w0 + b * dw
                                if w < 0 || w >= iw { continue }
                                let v = line[w]
                                switch kind {
                                case .max: if !found || v > best { best = v; found = true }
                                case .average: sum += v.asDouble
                                case .lp(let p): sum += Glibc.pow(Swift.abs(v.asDouble), p)
                                }
                            }
                        }
                        switch kind {
                        case .max: dst[i * ow + j] = best
                        case .average(let includePad):
                            let n = includePad ? paddedH * paddedW : validH * validW
                            dst[i * ow + j] = T(fromDouble: n > 0 ? sum / Double(n) : 0)
                        case .lp(let p): dst[i * ow + j] = T(fromDouble: Glibc.pow(sum, 1 / p))
                        }
                    }
                }
            }
        }
    }
}

extension PoolKernels.Apply {
    /// MaxPool over 2-D planes in two passes per output row: the elementwise max of the
    /// window's input rows (contiguous, so it vectorizes), then each output's max over its
    /// window's columns of that. In-bounds window offsets are found once per output row and
    /// column; an all-padding window gives 0.
    func maxPool2D<T: NumericElement>(planes: Int, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>) {
        let g = geo
        let (ih, iw, oh, ow) = (g.input[0], g.input[1], g.output[0], g.output[1])
        let (sh, sw, dh, dw) = (g.strides[0], g.strides[1], g.dilations[0], g.dilations[1])
        let rows = g.windowOffsets(axis: 0).map(\.inside), cols = g.windowOffsets(axis: 1).map(\.inside)
        let (ph, pw) = (g.padBegin[0], g.padBegin[1])
        nonisolated(unsafe) let (px, py) = (x, y)
        ctx.pool.parallelFor(planes, grain: max(1, 4096 / max(oh * ow * g.kernelSize, 1))) { r in
            let line = UnsafeMutablePointer<T>.allocate(capacity: max(iw, 1))
            defer { line.deallocate() }
            for plane in r {
                let src = px + plane * ih * iw, dst = py + plane * oh * ow
                for i in 0..<oh {
                    let ra = rows[i], out = dst + i * ow
                    guard !ra.isEmpty else { out.update(repeating: .zero, count: ow); continue }
                    let top = src + (i * sh - ph + ra.lowerBound * dh) * iw
                    line.update(from: top, count: iw)
                    for a in ra.dropFirst() {
                        let next = top + (a - ra.lowerBound) * dh * iw
                        for w in 0..<iw { let v = next[w]; line[w] = v > line[w] ? v : line[w] }
                    }
                    for j in 0..<ow {
                        let rb = cols[j]
                        guard !rb.isEmpty else { out[j] = .zero; continue }
                        let left = line + (j * sw - pw)
                        var best = left[rb.lowerBound * dw]
                        for b in rb.dropFirst() { let v = left[b * dw]; if v > best { best = v } }
                        out[j] = best
                    }
                }
            }
        }
    }
}

extension PoolKernels.Apply {
    /// AveragePool over 2-D planes like `maxPool2D`: per output row the sum of the window's
    /// input rows, then each output's sum over its window's columns, divided by the window's
    /// in-bounds size (or its size up to the end pads when `includePad`).
    func averagePool2D<T: NumericElement>(planes: Int, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, includePad: Bool) {
        let g = geo
        let (ih, iw, oh, ow) = (g.input[0], g.input[1], g.output[0], g.output[1])
        let (sh, sw, dh, dw) = (g.strides[0], g.strides[1], g.dilations[0], g.dilations[1])
        let (ph, pw) = (g.padBegin[0], g.padBegin[1])
        let rows = g.windowOffsets(axis: 0), cols = g.windowOffsets(axis: 1)
        nonisolated(unsafe) let (px, py) = (x, y)
        ctx.pool.parallelFor(planes, grain: max(1, 4096 / max(oh * ow * g.kernelSize, 1))) { r in
            let line = UnsafeMutablePointer<Double>.allocate(capacity: max(iw, 1))
            defer { line.deallocate() }
            for plane in r {
                let src = px + plane * ih * iw, dst = py + plane * oh * ow
                for i in 0..<oh {
                    let (ra, paddedH) = (rows[i].inside, rows[i].beforeEndPad), out = dst + i * ow
                    line.update(repeating: 0, count: iw)
                    for a in ra {
                        let next = src + (i * sh - ph + a * dh) * iw
                        for w in 0..<iw { line[w] += next[w].asDouble }
                    }
                    for j in 0..<ow {
                        let (rb, paddedW) = (cols[j].inside, cols[j].beforeEndPad)
                        let left = line + (j * sw - pw)
                        var sum = 0.0
                        for b in rb { sum += left[b * dw] }
                        let count = includePad ? paddedH * paddedW : ra.count * rb.count
                        out[j] = T(fromDouble: count > 0 ? sum / Double(count) : 0)
                    }
                }
            }
        }
    }
}

extension PoolKernels {
    static func windowed(_ ctx: KernelContext, kind: Kind, dilations: Bool, wantsIndices: Bool = false) throws -> [Tensor] {
        let x = try ctx.input(0)
        let geo = try geometry(ctx, x, dilations: dilations)
        let indices = wantsIndices && ctx.node.outputs.count > 1 && !ctx.node.outputs[1].isEmpty
        let columnMajor = try ctx.node.int("storage_order", default: 0) == 1
        let apply = Apply(ctx: ctx, x: x, geo: geo, kind: kind, indices: indices, columnMajor: columnMajor)
        // a direct call keeps the float32 loop specialized
        return try x.dataType == .float ? apply(Float.self) : x.dataType.visit(apply)
    }

    /// A global pool: a window covering all spatial dims.
    static func global(_ ctx: KernelContext, kind: Kind) throws -> [Tensor] {
        let x = try ctx.input(0)
        guard x.rank >= 3 else { throw ctx.error("input \(x.shape) must be [N, C, spatial...]") }
        let spatial = Array(x.shape[2...]), d = spatial.count
        let geo = WindowGeometry(input: spatial, kernel: spatial, strides: Array(repeating: 1, count: d),
                                 dilations: Array(repeating: 1, count: d), padBegin: Array(repeating: 0, count: d),
                                 padEnd: Array(repeating: 0, count: d), output: Array(repeating: 1, count: d))
        guard spatial.allSatisfy({ $0 > 0 }) else { throw ctx.error("spatial dims \(spatial) must be positive") }
        if x.dataType == .float, case .average = kind {
            // fast path: plain means over contiguous planes
            let planes = x.shape[0] * x.shape[1], size = geo.inputSize
            let y = Tensor(zeros: .float, shape: Array(x.shape[0..<2]) + Array(repeating: 1, count: d))
            nonisolated(unsafe) let (px, py) = (elements(x, Float.self), elements(y, Float.self))
            ctx.pool.parallelFor(planes, grain: max(1, 16384 / size)) { r in
                for p in r {
                    // 16 running sums: one would chain every add behind the last (4× slower)
                    let line = UnsafeRawPointer(px + p * size)
                    var acc = SIMD16<Float>(), i = 0
                    while i + 16 <= size { acc += line.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self); i += 16 }
                    var s = acc.sum()
                    while i < size { s += line.load(fromByteOffset: 4 * i, as: Float.self); i += 1 }
                    py[p] = s / Float(size)
                }
            }
            return [y]
        }
        return try x.dataType.visit(Apply(ctx: ctx, x: x, geo: geo, kind: kind, indices: false, columnMajor: false))
    }
}

extension CPUKernels {
    public static let maxPool: CPUKernel = { ctx in
        try PoolKernels.windowed(ctx, kind: .max, dilations: true, wantsIndices: true)
    }
    public static let averagePool: CPUKernel = { ctx in
        try PoolKernels.windowed(ctx, kind: .average(includePad: try ctx.node.int("count_include_pad", default: 0) != 0), dilations: true)
    }
    public static let lpPool: CPUKernel = { ctx in
        try PoolKernels.windowed(ctx, kind: .lp(Double(try ctx.node.float("p", default: 2))), dilations: true)
    }
    public static let globalAveragePool: CPUKernel = { ctx in try PoolKernels.global(ctx, kind: .average(includePad: false)) }
    public static let globalMaxPool: CPUKernel = { ctx in try PoolKernels.global(ctx, kind: .max) }
    public static let globalLpPool: CPUKernel = { ctx in
        try PoolKernels.global(ctx, kind: .lp(Double(try ctx.node.float("p", default: 2))))
    }
}

extension CPUKernels {
    /// MaxUnpool: scatters X into zeros at MaxPool's flat Indices (over the inferred output
    /// shape); an `output_shape` input larger than that pads the end of each dim with zeros.
    public static let maxUnpool: CPUKernel = { ctx in
        let x = try ctx.input(0), indices = try ctx.input(1)
        guard x.rank >= 3, indices.shape == x.shape else { throw ctx.error("X \(x.shape) and I \(indices.shape) must match, rank ≥ 3") }
        let d = x.rank - 2
        guard let kernel = try ctx.node.ints("kernel_shape"), kernel.count == d else { throw ctx.error("kernel_shape needs \(d) values") }
        let strides = try ctx.node.ints("strides") ?? Array(repeating: 1, count: d)
        let pads = try ctx.node.ints("pads") ?? Array(repeating: 0, count: 2 * d)
        guard strides.count == d, pads.count == 2 * d, windowValuesValid(kernel + strides, positive: true), windowValuesValid(pads, positive: false) else {
            throw ctx.error("kernel_shape \(kernel), strides \(strides), pads \(pads) do not fit \(d) dims")
        }
        let inferred = Array(x.shape[0..<2]) + (0..<d).map { (x.shape[$0 + 2] - 1) * strides[$0] - pads[$0] - pads[$0 + d] + kernel[$0] }
        var shape = inferred
        if let os = ctx.optionalInput(2) {
            shape = os.ints()
            guard shape.count == x.rank, zip(shape, inferred).allSatisfy({ $0 >= $1 }) else {
                throw ctx.error("output_shape \(shape) must have rank \(x.rank) and not be smaller than \(inferred)")
            }
        }
        guard inferred.allSatisfy({ $0 > 0 }), shape.allSatisfy({ $0 >= 0 }) else { throw ctx.error("output shape \(shape) is invalid") }
        try ctx.checkAllocatable("the output", dims: shape, x.dataType)
        let flat = indices.ints(), inferredCount = inferred.reduce(1, *)
        guard flat.allSatisfy({ $0 >= 0 && $0 < inferredCount }) else { throw ctx.error("an index in I is outside [0, \(inferredCount))") }
        // map a flat index of `inferred` to one of `shape`
        let outStrides = contiguousStrides(shape)
        let targets = flat.map { f -> Int in
            var rem = f, at = 0
            for i in stride(from: inferred.count - 1, through: 0, by: -1) { at += (rem % inferred[i]) * outStrides[i]; rem /= inferred[i] }
            return at
        }
        let y = Tensor(zeros: x.dataType, shape: shape)
        let size = x.dataType.byteSize
        for (i, t) in targets.enumerated() {
            (y.storage.pointer + t * size).copyMemory(from: x.storage.pointer + i * size, byteCount: size)
        }
        return [y]
    }
}

extension CPUKernels {
    /// RoiAlign: average or max of bilinear samples over each bin of each region of interest
    /// (rois [R, 4] as x1, y1, x2, y2 in input scale; batch_indices [R]), output [R, C, h, w].
    public static let roiAlign: CPUKernel = { ctx in
        let x = try ctx.input(0), rois = try ctx.input(1), batch = try ctx.input(2).ints()
        let node = ctx.node
        guard x.rank == 4, rois.rank == 2, rois.shape[1] == 4, batch.count == rois.shape[0] else {
            throw ctx.error("X \(x.shape) must be 4-D, rois \(rois.shape) [R, 4] and batch_indices hold R values")
        }
        let (n, c, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        guard batch.allSatisfy({ $0 >= 0 && $0 < n }) else { throw ctx.error("a batch index is outside [0, \(n))") }
        let halfPixel = try ctx.opset >= 16 && node.string("coordinate_transformation_mode", default: "half_pixel") == "half_pixel"
        let mode = try node.string("mode", default: "avg")
        let oh = try node.int("output_height", default: 1), ow = try node.int("output_width", default: 1)
        let ratio = try node.int("sampling_ratio", default: 0), spatial = Double(try node.float("spatial_scale", default: 1))
        guard mode == "avg" || mode == "max", oh > 0, ow > 0, ratio >= 0 else {
            throw ctx.error("mode '\(mode)', output \(oh)×\(ow) or sampling_ratio \(ratio) is invalid")
        }
        try ctx.checkAllocatable("the output (in float64)", dims: [rois.shape[0], c, oh, ow], .double)
        let r = rois.doubles(), xv = x.doubles()
        var y = [Double](repeating: 0, count: rois.shape[0] * c * oh * ow)
        let offset = halfPixel ? 0.5 : 0
        for roi in 0..<rois.shape[0] {
            let sw = r[roi * 4] * spatial - offset, sh = r[roi * 4 + 1] * spatial - offset
            var rw = r[roi * 4 + 2] * spatial - offset - sw, rh = r[roi * 4 + 3] * spatial - offset - sh
            if !halfPixel { rw = max(rw, 1); rh = max(rh, 1) }
            guard rw.isFinite, rh.isFinite, sw.isFinite, sh.isFinite else { throw ctx.error("roi \(roi) is not finite") }
            let bh = rh / Double(oh), bw = rw / Double(ow)
            let gh = ratio > 0 ? ratio : Int(min(65536.0, max(0, (rh / Double(oh)).rounded(.up))))
            let gw = ratio > 0 ? ratio : Int(min(65536.0, max(0, (rw / Double(ow)).rounded(.up))))
            let count = Double(max(gh * gw, 1))
            guard let samples = checkedElementCount([oh, ow, gh, gw]), samples <= 1 << 26 else {
                throw ctx.error("roi \(roi) needs too many samples (\(gh)×\(gw) per bin)")
            }
            // the bilinear taps of every sample point of every bin
            var taps: [(Int, Int, Int, Int, Double, Double, Double, Double)] = []
            for ph in 0..<oh { for pw in 0..<ow { for iy in 0..<gh { for ix in 0..<gw {
                var yy = sh + Double(ph) * bh + (Double(iy) + 0.5) * bh / Double(gh)
                var xx = sw + Double(pw) * bw + (Double(ix) + 0.5) * bw / Double(gw)
                if yy < -1 || yy > Double(height) || xx < -1 || xx > Double(width) { taps.append((0, 0, 0, 0, 0, 0, 0, 0)); continue }
                yy = max(yy, 0); xx = max(xx, 0)
                var yl = Int(yy), xl = Int(xx), yh = yl + 1, xh = xl + 1
                if yl >= height - 1 { yl = height - 1; yh = yl; yy = Double(yl) }
                if xl >= width - 1 { xl = width - 1; xh = xl; xx = Double(xl) }
                let ly = yy - Double(yl), lx = xx - Double(xl), hy = 1 - ly, hx = 1 - lx
                taps.append((yl * width + xl, yl * width + xh, yh * width + xl, yh * width + xh, hy * hx, hy * lx, ly * hx, ly * lx))
            } } } }
            for ch in 0..<c {
                let base = (batch[roi] * c + ch) * height * width
                var t = 0
                for bin in 0..<(oh * ow) {
                    var acc = 0.0, first = true
                    for _ in 0..<(gh * gw) {
                        let p = taps[t]; t += 1
                        let a = p.4 * xv[base + p.0], b = p.5 * xv[base + p.1], cc = p.6 * xv[base + p.2], d = p.7 * xv[base + p.3]
                        if mode == "avg" { acc += a + b + cc + d } else {
                            let m = max(a, b, cc, d)
                            acc = first ? m : max(acc, m); first = false
                        }
                    }
                    y[(roi * c + ch) * oh * ow + bin] = mode == "avg" ? acc / count : acc
                }
            }
        }
        struct Store: ElementVisitor {
            let y: [Double], shape: [Int]
            func callAsFunction<T: NumericElement>(_: T.Type) throws -> Tensor { Tensor(shape: shape, scalars: y.map { T(fromDouble: $0) }) }
        }
        guard x.dataType.isFloatingPoint else { throw ctx.error("X must be floating-point, got \(x.dataType)") }
        return [try x.dataType.visit(Store(y: y, shape: [rois.shape[0], c, oh, ow]))]
    }
}
