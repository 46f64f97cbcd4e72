import VonnxIR

/// True when every value is non-negative (positive when `positive`) and below 2³¹, so window
/// arithmetic on them cannot overflow.
func windowValuesValid(_ values: [Int], positive: Bool) -> Bool {
    values.allSatisfy { $0 >= (positive ? 1 : 0) && $0 < Int(Int32.max) }
}

/// Sliding-window geometry over the spatial dims (Conv, pools): kernel, strides, dilations,
/// begin/end pads and output extent, read from the node's attributes.
struct WindowGeometry: Sendable {
    let input: [Int], kernel: [Int], strides: [Int], dilations: [Int]
    let padBegin: [Int], padEnd: [Int], output: [Int]

    var rank: Int { input.count }
    var inputSize: Int { input.reduce(1, *) }
    var outputSize: Int { output.reduce(1, *) }
    var kernelSize: Int { kernel.reduce(1, *) }

    /// Reads strides, dilations, pads, auto_pad (and ceil_mode when `allowCeil`).
    init(_ ctx: KernelContext, input: [Int], kernel: [Int], allowCeil: Bool = false, dilations allowDilations: Bool = true) throws {
        let d = input.count
        self.input = input; self.kernel = kernel
        let node = ctx.node
        strides = try node.ints("strides") ?? Array(repeating: 1, count: d)
        dilations = allowDilations ? (try node.ints("dilations") ?? Array(repeating: 1, count: d)) : Array(repeating: 1, count: d)
        guard kernel.count == d, strides.count == d, dilations.count == d else {
            throw ctx.error("kernel_shape \(kernel), strides \(strides), dilations \(dilations) must have \(d) values")
        }
        guard windowValuesValid(kernel + strides + dilations, positive: true) else {
            throw ctx.error("kernel_shape \(kernel), strides \(strides) and dilations \(dilations) must be positive (and below 2³¹)")
        }
        let ceil = allowCeil ? try node.int("ceil_mode", default: 0) != 0 : false
        let autoPad = try node.string("auto_pad", default: "NOTSET")
        var pb = [Int](repeating: 0, count: d), pe = pb, out = pb
        switch autoPad {
        case "SAME_UPPER", "SAME_LOWER":
            for i in 0..<d {
                out[i] = (input[i] + strides[i] - 1) / strides[i]
                let total = max(0, (out[i] - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 - input[i])
                pb[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                pe[i] = total - pb[i]
            }
        case "VALID", "NOTSET":
            if autoPad == "NOTSET", let pads = try node.ints("pads") {
                guard pads.count == 2 * d, windowValuesValid(pads, positive: false) else {
                    throw ctx.error("pads \(pads) must be \(2 * d) non-negative values")
                }
                pb = Array(pads[0..<d]); pe = Array(pads[d...])
            }
            for i in 0..<d {
                out[i] = ShapeRules.windowOutput(input[i], kernel: kernel[i], stride: strides[i], dilation: dilations[i],
                                                 padBegin: pb[i], padEnd: pe[i], ceil: ceil)
            }
        default: throw ctx.error("auto_pad '\(autoPad)' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID")
        }
        padBegin = pb; padEnd = pe; output = out
    }

    /// True when every output position reads exactly the same input position (1×1, stride 1, no pads).
    var isPointwise: Bool {
        kernel.allSatisfy { $0 == 1 } && strides.allSatisfy { $0 == 1 } && padBegin.allSatisfy { $0 == 0 }
            && output == input
    }

    /// Writes the im2col matrix of `rows` = channels·kernelSize rows starting at row `rows.lowerBound`,
    /// each `outputSize` long, from `x` (channels × inputSize).
    func im2col<T: TensorElement>(_ x: UnsafePointer<T>, _ col: UnsafeMutablePointer<T>, rows: Range<Int>) {
        let d = rank, ks = kernelSize, inSize = inputSize, outSize = outputSize
        let last = d - 1, ow = output[last], iw = input[last], sw = strides[last]
        let outerCount = outSize / max(ow, 1)
        var kIndex = [Int](repeating: 0, count: d), oIndex = [Int](repeating: 0, count: d)
        for row in rows {
            let c = row / ks
            var rem = row % ks
            for i in stride(from: d - 1, through: 0, by: -1) { kIndex[i] = rem % kernel[i]; rem /= kernel[i] }
            let src = x + c * inSize, dst = col + row * outSize
            // valid output range along the last axis for this kernel offset
            let off = kIndex[last] * dilations[last] - padBegin[last]
            let lo = min(ow, max(0, (-off + sw - 1) / sw)), hi = min(ow, max(0, (iw - off + sw - 1) / sw))
            for i in 0..<d { oIndex[i] = 0 }
            for o in 0..<outerCount {
                let line = dst + o * ow
                var base = 0, inside = true
                for i in 0..<last {
                    let p = oIndex[i] * strides[i] + kIndex[i] * dilations[i] - padBegin[i]
                    if p < 0 || p >= input[i] { inside = false; break }
                    base = base * input[i] + p
                }
                if !inside || lo >= hi {
                    line.update(repeating: T.zero, count: ow)
                } else {
                    base *= iw
                    line.update(repeating: T.zero, count: lo)
                    var p = base + lo * sw + off
                    if sw == 1 {
                        (line + lo).update(from: src + p, count: hi - lo)
                    } else {
                        for j in lo..<hi { line[j] = src[p]; p += sw }
                    }
                    (line + hi).update(repeating: T.zero, count: ow - hi)
                }
                var axis = last - 1
                while axis >= 0 {
                    oIndex[axis] += 1
                    if oIndex[axis] < output[axis] { break }
                    oIndex[axis] = 0; axis -= 1
                }
            }
        }
    }

    /// Adds the col2im of `col` rows (channels·kernelSize × inputSize, ConvTranspose's layout
    /// where this geometry's `input` is the transposed conv's input) into `y` (channels × outputSize),
    /// for the channels in `channels`. A line along the last axis at a time, its span inside the
    /// output found once (as `im2col` does): indexing each element through every axis took three
    /// quarters of a 2×2 stride-2 ConvTranspose's time.
    func col2im<T: ArithmeticElement>(_ col: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, channels: Range<Int>) {
        let d = rank, ks = kernelSize, inSize = inputSize, outSize = outputSize
        let last = d - 1, iw = input[last], ow = output[last], sw = strides[last]
        let lines = inSize / max(iw, 1)
        var kIndex = [Int](repeating: 0, count: d), iIndex = [Int](repeating: 0, count: d)
        for c in channels {
            for kr in 0..<ks {
                var rem = kr
                for i in stride(from: d - 1, through: 0, by: -1) { kIndex[i] = rem % kernel[i]; rem /= kernel[i] }
                let src = col + (c * ks + kr) * inSize, dst = y + c * outSize
                // input column q lands on output column q·sw + off; those inside the output: [lo, hi)
                let off = kIndex[last] * dilations[last] - padBegin[last]
                let lo = min(iw, max(0, (-off + sw - 1) / sw)), hi = min(iw, max(0, (ow - off + sw - 1) / sw))
                for i in 0..<d { iIndex[i] = 0 }
                for line in 0..<lines {
                    var base = 0, inside = lo < hi
                    for i in 0..<last where inside {
                        let p = iIndex[i] * strides[i] + kIndex[i] * dilations[i] - padBegin[i]
                        if p < 0 || p >= output[i] { inside = false } else { base = base * output[i] + p }
                    }
                    if inside {
                        let row = src + line * iw
                        var p = base * ow + lo * sw + off
                        for q in lo..<hi { dst[p] = T.add(dst[p], row[q]); p += sw }
                    }
                    var axis = last - 1
                    while axis >= 0 {
                        iIndex[axis] += 1
                        if iIndex[axis] < input[axis] { break }
                        iIndex[axis] = 0; axis -= 1
                    }
                }
            }
        }
    }
}

/// Adds bias[c] to every element of each channel plane of `y` ([N, C, size]).
func addChannelBias<T: ArithmeticElement>(_ y: Tensor, _ bias: Tensor?, channels: Int, _ ctx: KernelContext, _: T.Type) throws {
    guard let bias else { return }
    guard bias.count == channels, bias.dataType == T.dataType else {
        throw ctx.error("bias \(bias.shape) (\(bias.dataType)) must hold \(channels) \(T.dataType) values")
    }
    let planes = y.shape.count >= 2 ? y.shape[0] * channels : 0
    guard planes > 0 else { return }
    let size = y.count / planes
    nonisolated(unsafe) let (py, pb) = (elements(y, T.self), elements(bias, T.self))
    ctx.pool.parallelFor(planes, grain: max(1, 16384 / max(size, 1))) { r in
        for p in r {
            let b = pb[p % channels], line = py + p * size
            for i in 0..<size { line[i] = T.add(line[i], b) }
        }
    }
}

enum ConvKernels {
    struct Apply: RealVisitor {
        let ctx: KernelContext, x: Tensor, w: Tensor, bias: Tensor?
        /// FusedConv's residual (added before the activation) and activation.
        var z: Tensor? = nil, activation: FusedActivation? = nil
        func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
            guard x.rank >= 3, w.rank == x.rank else { throw ctx.error("X \(x.shape) and W \(w.shape) must have one rank ≥ 3") }
            guard w.dataType == x.dataType else { throw ctx.error("X is \(x.dataType), W is \(w.dataType)") }
            let group = try ctx.node.int("group", default: 1)
            let n = x.shape[0], c = x.shape[1], m = w.shape[0]
            guard group > 0, c % group == 0, m % group == 0, w.shape[1] == c / group else {
                throw ctx.error("group \(group) does not fit X \(x.shape) and W \(w.shape)")
            }
            let kernel = Array(w.shape[2...])
            if let ks = try ctx.node.ints("kernel_shape"), ks != kernel {
                throw ctx.error("kernel_shape \(ks) differs from W's \(kernel)")
            }
            let geo = try WindowGeometry(ctx, input: Array(x.shape[2...]), kernel: kernel)
            guard checkedElementCount([n, m] + geo.output) != nil,
                  let colCount = checkedElementCount([c / group, geo.kernelSize, geo.outputSize]) else {
                throw ctx.error("output of X \(x.shape) and W \(w.shape) is too large")
            }
            let yShape = [n, m] + geo.output
            if let bias, bias.count != m || bias.dataType != T.dataType {
                throw ctx.error("bias \(bias.shape) (\(bias.dataType)) must hold \(m) \(T.dataType) values")
            }
            if let z, z.shape != yShape || z.dataType != T.dataType {
                throw ctx.error("Z \(z.shape) (\(z.dataType)) must be \(T.dataType) of the output's shape \(yShape)")
            }
            // every element is written by the GEMM (beta 0) before the epilogue reads it
            let y = Tensor(uninitialized: T.dataType, shape: yShape)
            let cg = c / group, mg = m / group, kdim = cg * geo.kernelSize, p = geo.outputSize, inSize = geo.inputSize
            nonisolated(unsafe) let (px, pw, py) = (UnsafePointer(elements(x, T.self)), UnsafePointer(elements(w, T.self)), elements(y, T.self))
            nonisolated(unsafe) let pb = bias.map { UnsafePointer(elements($0, T.self)) }
            nonisolated(unsafe) let pz = z.map { UnsafePointer(elements($0, T.self)) }
            let pointwise = geo.isPointwise, pool = ctx.pool, activation = activation
            if T.self == Float.self, PackedGemm.available, group == c, m == c, geo.rank <= 2, geo.kernel.last! <= 64 {
                // depthwise: a GEMM per channel would have one row; convolve directly
                func f(_ q: UnsafePointer<T>) -> UnsafePointer<Float> { UnsafeRawPointer(q).assumingMemoryBound(to: Float.self) }
                DirectKernels.depthwise(pool, x: f(px), w: f(pw), bias: pb.map(f), z: pz.map(f),
                                     y: UnsafeMutableRawPointer(py).assumingMemoryBound(to: Float.self),
                                     planes: n * c, channels: c, geo: geo, activation: activation)
                return [y]
            }
            if T.self == Float.self, PackedGemm.available, DirectKernels.fewChannelsApplies(geo, group: group, channels: c) {
                func f(_ q: UnsafePointer<T>) -> UnsafePointer<Float> { UnsafeRawPointer(q).assumingMemoryBound(to: Float.self) }
                DirectKernels.fewChannels(pool, x: f(px), w: f(pw), bias: pb.map(f), z: pz.map(f),
                                          y: UnsafeMutableRawPointer(py).assumingMemoryBound(to: Float.self),
                                          batch: n, channels: c, outChannels: m, geo: geo, activation: activation)
                return [y]
            }
            if Winograd.applies(geo, group: group, batch: n, inChannels: c, outChannels: m) {
                Winograd.conv(x: x, w: w, geo: geo, bias: pb, z: pz, activation: activation, y: y, pool: pool)
                return [y]
            }
            let epilogue = pb != nil || pz != nil || activation != nil
            let units = n * group
            // float32 on an AVX2+FMA CPU: weights packed once, the im2col of 1-D/2-D convs done
            // while packing, the epilogue inside the GEMM
            let transposed = PackedGemm.prefersTransposed(n: p, k: kdim)
            nonisolated(unsafe) let packed: UnsafePointer<Float>? = T.self == Float.self && PackedGemm.available
                ? UnsafePointer(elements(PackedGemm.packedWeights(w, rows: m, groups: group, transposed: transposed), Float.self)) : nil
            let packedStride = PackedGemm.groupStride(rows: mg, k: kdim, transposed: transposed)
            let directIm2col = geo.rank <= 2
            /// One (image, group) unit: im2col (unless pointwise) then GEMM.
            @Sendable func unit(_ u: Int, col: UnsafeMutablePointer<T>?, inner: ThreadPool) {
                let img = u / group, g = u % group
                nonisolated(unsafe) let src = px + (img * c + g * cg) * inSize
                func f(_ q: UnsafePointer<T>) -> UnsafePointer<Float> { UnsafeRawPointer(q).assumingMemoryBound(to: Float.self) }
                var b = src
                if let col, !pointwise {
                    nonisolated(unsafe) let colp = col
                    inner.parallelFor(kdim, grain: max(1, 8192 / max(p, 1))) { r in geo.im2col(src, colp, rows: r) }
                    b = UnsafePointer(col)
                }
                if let packed {
                    let out = (img * m + g * mg) * p
                    let source = pointwise || !directIm2col ? PackedGemm.matrix(f(b), columns: p) : PackedGemm.im2col(f(src), geo)
                    PackedGemm.run(inner, m: mg, n: p, k: kdim, a: packed + g * packedStride, transposed: transposed, source: source,
                                   c: UnsafeMutableRawPointer(py + out).assumingMemoryBound(to: Float.self), ldc: p,
                                   bias: pb.map { f($0 + g * mg) }, z: pz.map { f($0 + out) }, ldz: p, activation: activation)
                    return
                }
                parallelGemm(inner, transA: false, transB: false, m: mg, n: p, k: kdim, alpha: T(1),
                             a: pw + g * mg * kdim, lda: kdim, b: b, ldb: p, beta: .zero,
                             c: py + (img * m + g * mg) * p, ldc: p)
                guard epilogue else { return }
                // bias, residual and activation while the output is still in cache
                inner.parallelFor(mg, grain: max(1, 16384 / max(p, 1))) { r in
                    for ch in r {
                        let plane = (img * m + g * mg + ch) * p, line = py + plane
                        let b = pb?[g * mg + ch] ?? .zero
                        if let pz {
                            let zl = pz + plane
                            for i in 0..<p { line[i] = T.add(T.add(line[i], b), zl[i]) }
                        } else if pb != nil {
                            for i in 0..<p { line[i] = T.add(line[i], b) }
                        }
                        activation?.apply(line, count: p)
                    }
                }
            }
            let single = ThreadPool(threads: 1)
            // whole (image, group) units per thread when they split evenly enough: no
            // synchronization inside a unit and each thread's im2col buffer stays its own
            if pool.threads > 1 && units >= pool.threads && (units % pool.threads == 0 || units >= 4 * pool.threads) {
                pool.parallelFor(units) { r in
                    let col = pointwise || (packed != nil && directIm2col) ? nil : UnsafeMutablePointer<T>.allocate(capacity: colCount)
                    defer { col?.deallocate() }
                    for u in r { unit(u, col: col, inner: single) }
                }
            } else {
                let col = pointwise || (packed != nil && directIm2col) ? nil : UnsafeMutablePointer<T>.allocate(capacity: colCount)
                defer { col?.deallocate() }
                for u in 0..<units { unit(u, col: col, inner: pool) }
            }
            return [y]
        }
    }

    struct TransposeApply: RealVisitor {
        let ctx: KernelContext, x: Tensor, w: Tensor, bias: Tensor?
        func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
            guard x.rank >= 3, w.rank == x.rank else { throw ctx.error("X \(x.shape) and W \(w.shape) must have one rank ≥ 3") }
            guard w.dataType == x.dataType else { throw ctx.error("X is \(x.dataType), W is \(w.dataType)") }
            let node = ctx.node, d = x.rank - 2
            let group = try node.int("group", default: 1)
            let n = x.shape[0], c = x.shape[1]
            guard group > 0, c % group == 0, w.shape[0] == c else {
                throw ctx.error("group \(group) does not fit X \(x.shape) and W \(w.shape)")
            }
            let mg = w.shape[1], m = mg * group, cg = c / group
            let kernel = Array(w.shape[2...]), input = Array(x.shape[2...])
            let strides = try node.ints("strides") ?? Array(repeating: 1, count: d)
            let dilations = try node.ints("dilations") ?? Array(repeating: 1, count: d)
            let outPad = try node.ints("output_padding") ?? Array(repeating: 0, count: d)
            guard strides.count == d, dilations.count == d, outPad.count == d,
                  windowValuesValid(strides + dilations + kernel.map { max($0, 1) }, positive: true), windowValuesValid(outPad, positive: false) else {
                throw ctx.error("strides \(strides), dilations \(dilations), output_padding \(outPad) must have \(d) valid values")
            }
            let autoPad = try node.string("auto_pad", default: "NOTSET")
            var pb = [Int](repeating: 0, count: d), pe = pb, out = pb
            var full = [Int](repeating: 0, count: d)
            for i in 0..<d {
                let span: Int = (kernel[i] - 1) * dilations[i] + 1
                full[i] = strides[i] * (input[i] - 1) + outPad[i] + span
            }
            var target = try node.ints("output_shape")
            if let t = target, t.count == d + 2 { target = Array(t[2...]) }
            if target == nil && (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
                target = (0..<d).map { input[$0] * strides[$0] }
            }
            if let target {
                guard target.count == d, windowValuesValid(target, positive: false) else { throw ctx.error("output_shape \(target) must have \(d) valid values") }
                for i in 0..<d {
                    // floor division: a negative total (output_shape beyond the full size) pads the end
                    let total = full[i] - target[i], half = total >= 0 ? total / 2 : (total - 1) / 2
                    pb[i] = autoPad == "SAME_UPPER" ? half : total - half
                    pe[i] = total - pb[i]
                    out[i] = target[i]
                }
            } else {
                if let pads = try node.ints("pads") {
                    guard pads.count == 2 * d, windowValuesValid(pads, positive: false) else { throw ctx.error("pads \(pads) must be \(2 * d) non-negative values") }
                    pb = Array(pads[0..<d]); pe = Array(pads[d...])
                }
                for i in 0..<d { out[i] = full[i] - pb[i] - pe[i] }
            }
            guard out.allSatisfy({ $0 >= 0 }), let _ = checkedElementCount([n, m] + out),
                  let colCount = checkedElementCount([mg] + kernel + input) else {
                throw ctx.error("output shape \(out) of X \(x.shape) and W \(w.shape) is invalid or too large")
            }
            if let bias, bias.count != m || bias.dataType != T.dataType {
                throw ctx.error("bias \(bias.shape) (\(bias.dataType)) must hold \(m) \(T.dataType) values")
            }
            if T.self == Float.self, PackedGemm.available, d == 2, kernel == strides, dilations == [1, 1],
               pb == [0, 0], pe == [0, 0], out == [input[0] * strides[0], input[1] * strides[1]] {
                let y = Tensor(uninitialized: .float, shape: [n, m] + out)
                DirectKernels.disjointTaps(ctx.pool, x: elements(x, Float.self), w: elements(w, Float.self),
                                           bias: bias.map { UnsafePointer(elements($0, Float.self)) }, y: elements(y, Float.self),
                                           batch: n, channels: c, group: group, outPerGroup: mg, input: input, kernel: kernel)
                return [y]
            }
            let geo = WindowGeometry(input: input, kernel: kernel, strides: strides, dilations: dilations,
                                     padBegin: pb, padEnd: pe, output: out)
            let y = Tensor(zeros: T.dataType, shape: [n, m] + out)
            let kdim = mg * geo.kernelSize, inSize = geo.inputSize, outSize = geo.outputSize
            nonisolated(unsafe) let (px, pw, py) = (UnsafePointer(elements(x, T.self)), UnsafePointer(elements(w, T.self)), elements(y, T.self))
            let col = UnsafeMutablePointer<T>.allocate(capacity: colCount)
            defer { col.deallocate() }
            nonisolated(unsafe) let colp = col
            for img in 0..<n {
                for g in 0..<group {
                    // col[kdim × inSize] = W_gᵀ · X_g
                    parallelGemm(ctx.pool, transA: true, transB: false, m: kdim, n: inSize, k: cg, alpha: T(1),
                                 a: pw + g * cg * kdim, lda: kdim, b: px + (img * c + g * cg) * inSize, ldb: inSize,
                                 beta: .zero, c: col, ldc: inSize)
                    nonisolated(unsafe) let dst = py + (img * m + g * mg) * outSize
                    ctx.pool.parallelFor(mg) { r in geo.col2im(UnsafePointer(colp), dst, channels: r) }
                }
            }
            try addChannelBias(y, bias, channels: m, ctx, T.self)
            return [y]
        }
    }
}

extension WindowGeometry {
    init(input: [Int], kernel: [Int], strides: [Int], dilations: [Int], padBegin: [Int], padEnd: [Int], output: [Int]) {
        self.input = input; self.kernel = kernel; self.strides = strides; self.dilations = dilations
        self.padBegin = padBegin; self.padEnd = padEnd; self.output = output
    }
}

extension CPUKernels {
    public static let conv: CPUKernel = widenFloat16 { ctx in
        let x = try ctx.input(0)
        return try x.dataType.visitReal(ConvKernels.Apply(ctx: ctx, x: x, w: try ctx.input(1), bias: ctx.optionalInput(2)), ctx)
    }

    /// com.microsoft::FusedConv: Conv, plus the optional Z (input 3) added to its output, then
    /// `activation` (a `FusedActivation`, or none).
    public static let fusedConv: CPUKernel = widenFloat16 { ctx in
        let x = try ctx.input(0)
        let apply = ConvKernels.Apply(ctx: ctx, x: x, w: try ctx.input(1), bias: ctx.optionalInput(2),
                                      z: ctx.optionalInput(3), activation: try FusedActivation(of: ctx.node))
        return try x.dataType.visitReal(apply, ctx)
    }

    public static let convTranspose: CPUKernel = widenFloat16 { ctx in
        let x = try ctx.input(0)
        return try x.dataType.visitReal(ConvKernels.TransposeApply(ctx: ctx, x: x, w: try ctx.input(1), bias: ctx.optionalInput(2)), ctx)
    }

    /// ConvInteger: Conv of (x − x_zero_point) and (w − w_zero_point) into int32, computed in
    /// float64 (exact for any realistic accumulation of 8-bit products).
    public static let convInteger: CPUKernel = { ctx in
        let x = try ctx.input(0), w = try ctx.input(1)
        func shifted(_ t: Tensor, _ zero: Tensor?, perChannel: Bool) throws -> Tensor {
            guard t.dataType == .uint8 || t.dataType == .int8 else { throw ctx.error("inputs must be int8 or uint8, got \(t.dataType)") }
            let z = zero?.ints() ?? [0]
            let channels = perChannel && t.rank > 0 ? t.shape[0] : 1
            guard z.count == 1 || z.count == channels else { throw ctx.error("zero point has \(z.count) values for \(channels) channels") }
            let values = t.ints(), per = t.count / max(channels, 1)
            let out = Tensor(zeros: .double, shape: t.shape)
            out.withUnsafeMutableBufferPointer(as: Double.self) { o in
                for i in values.indices { o[i] = Double(values[i] - (z.count == 1 ? z[0] : z[i / max(per, 1)])) }
            }
            return out
        }
        let inner = ctx.with(inputs: [try shifted(x, ctx.optionalInput(2), perChannel: false),
                                      try shifted(w, ctx.optionalInput(3), perChannel: true)])
        let y = try conv(inner)[0]
        let out = Tensor(zeros: .int32, shape: y.shape)
        y.withUnsafeBufferPointer(as: Double.self) { s in
            out.withUnsafeMutableBufferPointer(as: Int32.self) { o in for i in s.indices { o[i] = Int32(fromDouble: s[i].rounded()) } }
        }
        return [out]
    }
}

extension ConvKernels {
    /// CausalConvWithState: depthwise causal 1-D conv over [past_state, input] with an optional
    /// fused SiLU; also returns the last k−1 positions as the new state.
    struct CausalApply: RealVisitor {
        let ctx: KernelContext
        func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
            let x = try ctx.input(0), w = try ctx.input(1), bias = ctx.optionalInput(2), past = ctx.optionalInput(3)
            let layout = try OpLayouts.causalConvWithState(ctx.node, input: x.shape, weight: w.shape, biasCount: bias?.count,
                                                           pastState: past?.shape)
            let (b, c, l, k, silu) = (layout.batch, layout.channels, layout.length, layout.kernel, layout.silu)
            let y = Tensor(zeros: T.dataType, shape: [b, c, l]), state = Tensor(zeros: T.dataType, shape: [b, c, k - 1])
            let px = elements(x, T.self), pw = elements(w, T.self), py = elements(y, T.self), ps = elements(state, T.self)
            let pp = past.map { elements($0, T.self) }, pb = bias.map { elements($0, T.self) }
            let span = k - 1 + l
            var padded = [T](repeating: .zero, count: span)
            for plane in 0..<(b * c) {
                let ch = plane % c
                for i in 0..<(k - 1) { padded[i] = pp?[plane * (k - 1) + i] ?? .zero }
                for i in 0..<l { padded[k - 1 + i] = px[plane * l + i] }
                for t in 0..<l {
                    var s = pb?[ch] ?? .zero
                    for j in 0..<k { s += padded[t + j] * pw[ch * k + j] }
                    py[plane * l + t] = silu ? s / (1 + T.exp(-s)) : s
                }
                for i in 0..<(k - 1) { ps[plane * (k - 1) + i] = padded[span - (k - 1) + i] }
            }
            return [y, state]
        }
    }
}

extension CPUKernels {
    public static let causalConvWithState: CPUKernel = widenFloat16 { ctx in
        try ctx.input(0).dataType.visitReal(ConvKernels.CausalApply(ctx: ctx), ctx)
    }
}

extension ConvKernels {
    /// DeformConv (2-D): im2col whose samples are bilinear reads at offset positions (zero
    /// outside the image), scaled by the mask, then one GEMM per (image, group).
    struct DeformApply: RealVisitor {
        let ctx: KernelContext
        func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
            let x = try ctx.input(0), w = try ctx.input(1), offset = try ctx.input(2)
            let bias = ctx.optionalInput(3), mask = ctx.optionalInput(4)
            guard x.rank == 4, w.rank == 4, offset.rank == 4 else {
                throw ctx.error("only 2-D DeformConv is supported: X \(x.shape), W \(w.shape), offset \(offset.shape)")
            }
            let group = try ctx.node.int("group", default: 1), offsetGroup = try ctx.node.int("offset_group", default: 1)
            let (n, c, ih, iw) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let (m, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
            guard group > 0, offsetGroup > 0, c == cg * group, m % group == 0, c % offsetGroup == 0 else {
                throw ctx.error("group \(group) / offset_group \(offsetGroup) do not fit X \(x.shape) and W \(w.shape)")
            }
            let geo = try WindowGeometry(ctx, input: [ih, iw], kernel: [kh, kw])
            let (oh, ow) = (geo.output[0], geo.output[1]), p = oh * ow, ks = kh * kw
            guard offset.shape == [n, offsetGroup * ks * 2, oh, ow] else {
                throw ctx.error("offset \(offset.shape) must be [\(n), \(offsetGroup * ks * 2), \(oh), \(ow)]")
            }
            if let mask, mask.shape != [n, offsetGroup * ks, oh, ow] {
                throw ctx.error("mask \(mask.shape) must be [\(n), \(offsetGroup * ks), \(oh), \(ow)]")
            }
            guard x.dataType == w.dataType, offset.dataType == x.dataType, mask == nil || mask!.dataType == x.dataType else {
                throw ctx.error("X, W, offset and mask must share one element type")
            }
            let y = Tensor(zeros: T.dataType, shape: [n, m, oh, ow])
            let px = elements(x, T.self), pw = elements(w, T.self), po = elements(offset, T.self), py = elements(y, T.self)
            let pm = mask.map { elements($0, T.self) }
            let mg = m / group, perOffset = c / offsetGroup, kdim = cg * ks
            var col = [T](repeating: .zero, count: kdim * p)
            for img in 0..<n {
                for g in 0..<group {
                    for ci in 0..<cg {
                        let channel = g * cg + ci, og = channel / perOffset
                        let plane = px + (img * c + channel) * ih * iw
                        for a in 0..<kh { for b in 0..<kw {
                            let kIndex = a * kw + b, row = (ci * ks + kIndex) * p
                            let offH = po + ((img * offsetGroup + og) * ks * 2 + kIndex * 2) * p, offW = offH + p
                            let maskLine = pm.map { $0 + ((img * offsetGroup + og) * ks + kIndex) * p }
                            for i in 0..<oh { for j in 0..<ow {
                                let q = i * ow + j
                                let h = Double(i * geo.strides[0] - geo.padBegin[0] + a * geo.dilations[0]) + Double(offH[q])
                                let v = Double(j * geo.strides[1] - geo.padBegin[1] + b * geo.dilations[1]) + Double(offW[q])
                                guard h.isFinite, v.isFinite, abs(h) < 1e9, abs(v) < 1e9 else { col[row + q] = .zero; continue }
                                let h0 = Int(h.rounded(.down)), w0 = Int(v.rounded(.down))
                                let fh = h - Double(h0), fw = v - Double(w0)
                                var s = 0.0
                                for (dy, wy) in [(0, 1 - fh), (1, fh)] where h0 + dy >= 0 && h0 + dy < ih && wy != 0 {
                                    for (dx, wx) in [(0, 1 - fw), (1, fw)] where w0 + dx >= 0 && w0 + dx < iw && wx != 0 {
                                        s += wy * wx * Double(plane[(h0 + dy) * iw + w0 + dx])
                                    }
                                }
                                col[row + q] = T(s) * (maskLine?[q] ?? 1)
                            } }
                        } }
                    }
                    col.withUnsafeBufferPointer { cb in
                        parallelGemm(ctx.pool, transA: false, transB: false, m: mg, n: p, k: kdim, alpha: T(1),
                                     a: pw + g * mg * kdim, lda: kdim, b: cb.baseAddress!, ldb: p, beta: .zero,
                                     c: py + (img * m + g * mg) * p, ldc: p)
                    }
                }
            }
            try addChannelBias(y, bias, channels: m, ctx, T.self)
            return [y]
        }
    }
}

extension CPUKernels {
    public static let deformConv: CPUKernel = widenFloat16 { ctx in
        try ctx.input(0).dataType.visitReal(ConvKernels.DeformApply(ctx: ctx), ctx)
    }
}

extension CPUKernels {
    /// Col2Im: sums the columns [N, C·∏block, L] back into images [N, C, image_shape...].
    public static let col2Im: CPUKernel = { ctx in
        let x = try ctx.input(0)
        let layout = try OpLayouts.col2Im(ctx.node, columns: x.shape, image: try ctx.input(1).ints(), block: try ctx.input(2).ints())
        let (image, d) = (layout.image, layout.image.count)
        try ctx.checkAllocatable("the output", dims: [x.shape[0], layout.channels] + image, x.dataType)
        let geo = WindowGeometry(input: layout.blocks, kernel: layout.block, strides: layout.strides, dilations: layout.dilations,
                                 padBegin: Array(layout.pads[0..<d]), padEnd: Array(layout.pads[d...]), output: image)
        struct Apply: ArithmeticVisitor {
            let x: Tensor, geo: WindowGeometry, channels: Int, image: [Int]
            func callAsFunction<T: ArithmeticElement>(_: T.Type) throws -> Tensor {
                let n = x.shape[0], y = Tensor(zeros: T.dataType, shape: [n, channels] + image)
                let colSize = x.shape[1] * x.shape[2], outSize = geo.outputSize
                for b in 0..<n {
                    geo.col2im(UnsafePointer(elements(x, T.self) + b * colSize), elements(y, T.self) + b * channels * outSize,
                               channels: 0..<channels)
                }
                return y
            }
        }
        return [try x.dataType.visitArithmetic(Apply(x: x, geo: geo, channels: layout.channels, image: image))]
    }
}
