import VonnxIR

/// ConvInteger (`qlinear` false: inputs x, w, x_zero_point, w_zero_point; int32 sums) and
/// QLinearConv (`qlinear`: x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale,
/// y_zero_point, B; those sums plus B requantized per output channel, the scales and the
/// output zero point read on the host) of 1-D or 2-D int8/uint8 input, exact in int32 as the
/// CPU kernels (`Shaders/conv_integer.comp`, a direct convolution; or the integerGemm family's
/// `dot4x8`, packed dot products of the weights' rows and the input's windows).
func recordConvInteger(_ ctx: VulkanKernelContext, qlinear: Bool) throws -> [VulkanTensor] {
    let (ix, iw, ixz, iwz) = qlinear ? (0, 3, 2, 5) : (0, 1, 2, 3)
    let x = try ctx.input(ix), w = try ctx.input(iw), xZero = ctx.optionalInput(ixz), wZero = ctx.optionalInput(iwz)
    let operands: Set<DataType> = [.int8, .uint8]
    guard operands.contains(x.dataType), operands.contains(w.dataType), xZero.map({ $0.dataType == x.dataType && $0.count == 1 }) ?? true,
          wZero.map({ $0.dataType == w.dataType }) ?? true else {
        throw ctx.error("x, w and their zero points must be int8 or uint8 alike (x's one value), got \(x.dataType), \(w.dataType)")
    }
    let (n, c, m, group) = try convChannels(ctx, x, w)
    guard [0, 1, m].contains(wZero?.count ?? 0) else { throw ctx.error("w_zero_point holds \(wZero?.count ?? 0) values for \(m) channels") }
    let window = try Window2D(ctx, input: Array(x.shape[2...]), kernel: Array(w.shape[2...]), ceilMode: false)
    let (h, wd) = x.rank == 4 ? (x.shape[2], x.shape[3]) : (1, x.shape[2])
    var multipliers = Tensor(shape: [1], scalars: [Float(1)]), yZero = 0, resultType = DataType.int32
    var defines = ["QLINEAR": qlinear ? "1" : "0", "TX": glslType(x.dataType, ctx.device.storage), "TW": glslType(w.dataType, ctx.device.storage)]
    let bias = qlinear ? ctx.optionalInput(8) : nil
    if qlinear {
        func scales(_ i: Int) throws -> Tensor {
            guard let t = try ctx.hostInput(i), t.dataType.isFloatingPoint, t.count == 1 || (i == 4 && t.count == m) else {
                throw ctx.error("input \(i) must be a floating-point scale of one value\(i == 4 ? " or one per output channel" : "")")
            }
            return t
        }
        let (xs, ws, ys) = try (scales(1).doubles()[0], scales(4).doubles(), scales(6))
        multipliers = Tensor(shape: [m], scalars: (0..<m).map {
            Float(requantizationMultiplier(xs, ws[ws.count == 1 ? 0 : $0], ys.doubles()[0], type: ys.dataType))
        })
        if let z = try ctx.hostInput(7) {
            guard z.count == 1, operands.contains(z.dataType) else { throw ctx.error("y_zero_point must be one int8 or uint8 value") }
            (yZero, resultType) = (z.ints()[0], z.dataType)
        } else {
            resultType = x.dataType
        }
        if let bias, bias.dataType != .int32 || bias.count != m { throw ctx.error("B \(bias) must be \(m) int32 values") }
        defines.merge(saturationDefines(resultType, ctx.device.storage)) { $1 }
        defines["BIAS"] = bias == nil ? "0" : "1"
    }
    defines["R"] = glslType(resultType, ctx.device.storage)
    let y = try ctx.recorder.makeTensor(shape: [n, m] + window.output.suffix(x.rank - 2), dataType: resultType)
    let geometry = window.output + window.kernel + window.strides + window.dilations + Array(window.pads[..<2])
    let pixels = window.output.reduce(1, *), k = w.count / max(m, 1)
    if ctx.takesIntegerDot(rows: m, columns: pixels, k: k) {
        // W's rows (an output channel's taps) by the windows, as [n, group] products of
        // m / group rows by the pixels
        let packedW = try ctx.packedRows(w, rows: m, k: k, group: m, groupStride: 0, rowStride: k, step: 1)
        let windows = try ctx.packedWindows(x, zero: xZero, channels: c, height: h, width: wd, window: geometry, groups: group)
        let product = PackedIntegerProduct(a: packedW, b: windows, m: m / group, n: pixels, batch: [n, group],
                                           batchA: [0, m / group], batchB: [group * pixels, pixels], zeroA: wZero, zeroB: xZero)
        try ctx.record(product, into: y, requantize: qlinear ? (multipliers.scalars(as: Float.self), yZero, bias) : nil)
        return [y]
    }
    var push = PushConstants()
    for v in [y.count, c, h, wd, m] + geometry + [group, xZero?.count ?? 0, wZero?.count ?? 0] { push.add(v) }
    push.add(signed: yZero)
    let uploaded = try ctx.recorder.upload(multipliers)
    try ctx.dispatch1D("conv_integer", defines: defines,
                       buffers: [x, w, xZero ?? x, wZero ?? w, bias ?? uploaded, uploaded, y].map(\.buffer), push: push, count: y.count)
    return [y]
}
