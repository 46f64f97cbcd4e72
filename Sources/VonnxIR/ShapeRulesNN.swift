/// Shape rules of the neural-network ops (Conv, pools, Gemm, MatMul, normalizations, Resize).
extension ShapeRules {
    /// Conv and the windowed pools: [N, C_out, spatial out...]; `channelsFromWeight` takes
    /// C_out from input 1 (Conv) instead of input 0 (pools). MaxPool's Indices has the same shape.
    static func window(channelsFromWeight: Bool) -> ShapeRule {
        { ctx in
            guard let x = ctx.input(0), let elem = x.elementType, let shape = x.shape, shape.count >= 3 else {
                return [ctx.input(0).flatMap(\.elementType).map { .tensor($0, shape: nil) }, nil]
            }
            let d = shape.count - 2
            var kernel = try ctx.node.ints("kernel_shape")
            var channels = shape[1]
            if channelsFromWeight {
                guard let w = ctx.input(1)?.shape, w.count == shape.count else { return [.tensor(elem, shape: nil)] }
                channels = w[0]
                if kernel == nil {
                    let k = w[2...].compactMap(\.value)
                    if k.count == d { kernel = k }
                }
            }
            guard let kernel, kernel.count == d, kernel.allSatisfy({ $0 > 0 }) else { return [.tensor(elem, shape: nil)] }
            let strides = try ctx.node.ints("strides") ?? Array(repeating: 1, count: d)
            let dilations = try ctx.node.ints("dilations") ?? Array(repeating: 1, count: d)
            let pads = try ctx.node.ints("pads") ?? Array(repeating: 0, count: 2 * d)
            let autoPad = try ctx.node.string("auto_pad", default: "NOTSET")
            let ceil = try ctx.node.int("ceil_mode", default: 0) != 0
            let limit = Int(Int32.max)
            guard strides.count == d, dilations.count == d, pads.count == 2 * d, kernel.allSatisfy({ $0 < limit }),
                  strides.allSatisfy({ $0 > 0 && $0 < limit }), dilations.allSatisfy({ $0 > 0 && $0 < limit }),
                  pads.allSatisfy({ $0 >= 0 && $0 < limit }) else {
                throw ctx.error("strides \(strides), dilations \(dilations), pads \(pads) do not fit \(d) spatial dims")
            }
            var out: [Dim] = [shape[0], channels]
            for i in 0..<d {
                guard let n = shape[i + 2].value else { out.append(.unknown); continue }
                guard n <= maxDim else { throw ctx.error("input dim \(n) is too large (at most \(maxDim))") }
                switch autoPad {
                case "SAME_UPPER", "SAME_LOWER": out.append(.value((n + strides[i] - 1) / strides[i]))
                case "VALID":
                    out.append(.value(windowOutput(n, kernel: kernel[i], stride: strides[i], dilation: dilations[i], padBegin: 0, padEnd: 0)))
                default:
                    out.append(.value(windowOutput(n, kernel: kernel[i], stride: strides[i], dilation: dilations[i],
                                                   padBegin: pads[i], padEnd: pads[i + d], ceil: ceil)))
                }
            }
            return [.tensor(elem, shape: out), .tensor(.int64, shape: out)]
        }
    }

    /// Conv: channels from the weight, spatial dims from kernel, strides, dilations and pads.
    public static let conv = window(channelsFromWeight: true)
    /// The pools (MaxPool, AveragePool, LpPool): the input's channels, spatial dims as Conv's.
    public static let pool = window(channelsFromWeight: false)

    /// GlobalAveragePool/GlobalMaxPool/GlobalLpPool: [N, C, 1, ...].
    public static let globalPool: ShapeRule = { ctx in
        guard let x = ctx.input(0), let elem = x.elementType else { return [nil] }
        guard let s = x.shape, s.count >= 2 else { return [.tensor(elem, shape: nil)] }
        return [.tensor(elem, shape: Array(s[0..<2]) + Array(repeating: .value(1), count: s.count - 2))]
    }

    /// Gemm: [M, N] from the (possibly transposed) A and B.
    public static let gemm: ShapeRule = { ctx in
        guard let a = ctx.input(0), let elem = a.elementType else { return [nil] }
        guard let sa = a.shape, let sb = ctx.input(1)?.shape, sa.count == 2, sb.count == 2 else { return [.tensor(elem, shape: nil)] }
        let ta = try ctx.node.int("transA", default: 0) != 0, tb = try ctx.node.int("transB", default: 0) != 0
        return [.tensor(elem, shape: [ta ? sa[1] : sa[0], tb ? sb[0] : sb[1]])]
    }

    /// MatMul (and MatMulInteger with `resultType` int32): NumPy matmul shapes.
    public static func matMul(resultType: DataType? = nil) -> ShapeRule {
        { ctx in
            guard let a = ctx.input(0), let elem = resultType ?? a.elementType else { return [nil] }
            guard let sa = a.shape, let sb = ctx.input(1)?.shape, !sa.isEmpty, !sb.isEmpty else { return [.tensor(elem, shape: nil)] }
            let a2 = sa.count == 1 ? [.value(1)] + sa : sa, b2 = sb.count == 1 ? sb + [.value(1)] : sb
            var out = try broadcastDims([Array(a2.dropLast(2)), Array(b2.dropLast(2))], ctx)
            if sa.count > 1 { out.append(a2[a2.count - 2]) }
            if sb.count > 1 { out.append(b2[b2.count - 1]) }
            return [.tensor(elem, shape: out)]
        }
    }

    /// LayerNormalization: Y like X; Mean and InvStdDev keep the dims before `axis`, 1 after.
    public static let layerNormalization: ShapeRule = { ctx in
        guard let x = ctx.input(0), let elem = x.elementType else { return [nil, nil, nil] }
        guard let s = x.shape, !s.isEmpty else { return [x, nil, nil] }
        let raw = try ctx.node.int("axis", default: -1), axis = raw < 0 ? raw + s.count : raw
        guard axis >= 0, axis < s.count else { throw ctx.error("axis \(raw) is out of range for rank \(s.count)") }
        let stat = ValueType.tensor(elem, shape: Array(s[..<axis]) + Array(repeating: .value(1), count: s.count - axis))
        return [x, stat, stat]
    }

    /// Resize/Upsample: output dims from constant scales or sizes (else unknown, rank kept).
    public static let resize: ShapeRule = { ctx in
        guard let x = ctx.input(0), let elem = x.elementType else { return [nil] }
        guard let s = x.shape else { return [.tensor(elem, shape: nil)] }
        let unknown = ValueType.tensor(elem, shape: Array(repeating: .unknown, count: s.count))
        let r = s.count
        let axes = try ctx.node.ints("axes")?.map { $0 < 0 ? $0 + r : $0 } ?? Array(0..<r)
        guard axes.allSatisfy({ $0 >= 0 && $0 < r }), try ctx.node.string("keep_aspect_ratio_policy", default: "stretch") == "stretch" else {
            return [unknown]
        }
        var out = s
        if ctx.node.opType == "Resize", ctx.opset >= 11, let sizes = ctx.constant(3), sizes.count > 0 {
            let v = sizes.ints()
            guard v.count == axes.count else { return [unknown] }
            for (i, a) in axes.enumerated() { out[a] = v[i] >= 0 ? .value(v[i]) : .unknown }
            return [.tensor(elem, shape: out)]
        }
        let scalesIndex = ctx.node.opType == "Upsample" || ctx.opset < 11 ? 1 : 2
        let scales = try ctx.node.floats("scales").map { $0.map(Double.init) } ?? ctx.constant(scalesIndex)?.doubles()
        guard let scales, scales.count == axes.count else { return [unknown] }
        for (i, a) in axes.enumerated() {
            guard let n = s[a].value else { out[a] = scales[i] == 1 ? s[a] : .unknown; continue }
            let scaled = Double(n) * scales[i]
            guard scaled >= 0, scaled <= Double(maxDim) else { throw ctx.error("scale \(scales[i]) of dim \(n) is out of range") }
            out[a] = .value(Int(scaled))
        }
        return [.tensor(elem, shape: out)]
    }

    /// QLinearMatMul: matmul shapes with y_zero_point's element type (else A's).
    public static let qLinearMatMul: ShapeRule = { ctx in
        try matMul(resultType: ctx.input(7)?.elementType ?? ctx.input(0)?.elementType)(ctx.selecting([0, 3]))
    }

    /// ConvTranspose: [N, W₁·group, out...] from output_shape, SAME auto_pad (input·stride)
    /// or stride·(in−1) + output_padding + dilated kernel − pads.
    public static let convTranspose: ShapeRule = { ctx in
        guard let x = ctx.input(0), let elem = x.elementType else { return [nil] }
        guard let s = x.shape, s.count >= 3, let w = ctx.input(1)?.shape, w.count == s.count else { return [.tensor(elem, shape: nil)] }
        let d = s.count - 2, node = ctx.node, limit = Int(Int32.max)
        let group = try node.int("group", default: 1)
        let kernel = try node.ints("kernel_shape") ?? w[2...].compactMap(\.value)
        let strides = try node.ints("strides") ?? Array(repeating: 1, count: d)
        let dilations = try node.ints("dilations") ?? Array(repeating: 1, count: d)
        let outPad = try node.ints("output_padding") ?? Array(repeating: 0, count: d)
        let pads = try node.ints("pads") ?? Array(repeating: 0, count: 2 * d)
        let autoPad = try node.string("auto_pad", default: "NOTSET")
        guard kernel.count == d, strides.count == d, dilations.count == d, outPad.count == d, pads.count == 2 * d,
              (kernel + strides + dilations + outPad + pads).allSatisfy({ $0 >= 0 && $0 < limit }), group > 0 else {
            return [.tensor(elem, shape: nil)]
        }
        var out: [Dim] = [s[0], try w[1].value.map { .value(try checkedProduct($0, group)) } ?? .unknown]
        var target = try node.ints("output_shape")
        if let t = target, t.count == d + 2 { target = Array(t[2...]) }
        for i in 0..<d {
            if let target, target.count == d { out.append(.value(target[i])); continue }
            guard let n = s[i + 2].value else { out.append(.unknown); continue }
            guard n <= maxDim else { throw ctx.error("input dim \(n) is too large (at most \(maxDim))") }
            if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" { out.append(.value(try checkedProduct(n, strides[i]))); continue }
            let span = try checkedProduct(strides[i], n - 1) + outPad[i] + (kernel[i] - 1) * dilations[i] + 1
            out.append(.value(span - pads[i] - pads[i + d]))
        }
        return [.tensor(elem, shape: out)]
    }
}
