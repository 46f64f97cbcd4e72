import VonnxIR

/// QLinearMatMul and QLinearConv: integer products of zero-point-shifted 8-bit inputs,
/// requantized with a_scale·b_scale/y_scale (per tensor, or per output channel for w_scale).
enum QuantizedNN {
    /// The scale values as float64 and whether they are float16 (whose products the reference rounds to float16).
    static func scales(_ t: Tensor, _ name: String, _ ctx: KernelContext) throws -> [Double] {
        guard t.dataType.isFloatingPoint else { throw ctx.error("\(name) must be floating-point, got \(t.dataType)") }
        guard t.count > 0 else { throw ctx.error("\(name) is empty") }
        return t.doubles()
    }

    /// Rounds half to even, adds the zero point and saturates to the 8-bit output type.
    static func requantize(_ acc: [Double], shape: [Int], multiplier: (Int) -> Double, zero: Int, type: DataType,
                           _ ctx: KernelContext) throws -> Tensor {
        let (lo, hi): (Double, Double) = type == .int8 ? (-128, 127) : (0, 255)
        let values = acc.indices.map { i -> Double in
            let v = (acc[i] * multiplier(i)).rounded(.toNearestOrEven) + Double(zero)
            return v.isNaN ? 0 : min(hi, max(lo, v))
        }
        switch type {
        case .int8: return Tensor(shape: shape, scalars: values.map { Int8($0) })
        case .uint8: return Tensor(shape: shape, scalars: values.map { UInt8($0) })
        default: throw ctx.error("quantized output must be int8 or uint8, got \(type)")
        }
    }

    static func zeroPoint(_ t: Tensor?) -> Int { t?.ints().first ?? 0 }
}

extension CPUKernels {
    public static let qLinearMatMul: CPUKernel = { ctx in
        let a = try ctx.input(0), b = try ctx.input(3)
        let aScale = try QuantizedNN.scales(try ctx.input(1), "a_scale", ctx), bScale = try QuantizedNN.scales(try ctx.input(4), "b_scale", ctx)
        let yScaleT = try ctx.input(6), yScale = try QuantizedNN.scales(yScaleT, "y_scale", ctx)
        guard aScale.count == 1, bScale.count == 1, yScale.count == 1 else { throw ctx.error("only per-tensor scales are supported") }
        let yZero = ctx.optionalInput(7)
        let inner = ctx.with(inputs: [a, b, ctx.optionalInput(2), ctx.optionalInput(5)])
        let acc = try matMulInteger(inner)[0]
        let m = requantizationMultiplier(aScale[0], bScale[0], yScale[0], type: yScaleT.dataType)
        return [try QuantizedNN.requantize(acc.doubles(), shape: acc.shape, multiplier: { _ in m }, zero: QuantizedNN.zeroPoint(yZero),
                                           type: yZero?.dataType ?? a.dataType, ctx)]
    }

    public static let qLinearConv: CPUKernel = { ctx in
        let x = try ctx.input(0), w = try ctx.input(3)
        let xScale = try QuantizedNN.scales(try ctx.input(1), "x_scale", ctx), wScale = try QuantizedNN.scales(try ctx.input(4), "w_scale", ctx)
        let yScaleT = try ctx.input(6), yScale = try QuantizedNN.scales(yScaleT, "y_scale", ctx)
        guard xScale.count == 1, yScale.count == 1, w.rank >= 1, wScale.count == 1 || wScale.count == w.shape[0] else {
            throw ctx.error("x_scale and y_scale must be scalars, w_scale one value or one per output channel")
        }
        let yZero = ctx.optionalInput(7)
        let inner = ctx.with(inputs: [x, w, ctx.optionalInput(2), ctx.optionalInput(5)])
        let product = try convInteger(inner)[0]
        var acc = product.doubles()
        let shape = product.shape
        if let bias = ctx.optionalInput(8) {
            let bv = bias.ints(), channels = shape[1], plane = shape[2...].reduce(1, *)
            guard bv.count == channels else { throw ctx.error("B \(bias.shape) must hold \(channels) values") }
            for i in acc.indices { acc[i] += Double(bv[(i / plane) % channels]) }
        }
        let channels = shape[1], plane = shape[2...].reduce(1, *)
        let multipliers = (0..<channels).map {
            requantizationMultiplier(xScale[0], wScale[wScale.count == 1 ? 0 : $0], yScale[0], type: yScaleT.dataType)
        }
        return [try QuantizedNN.requantize(acc, shape: shape, multiplier: { multipliers[($0 / max(plane, 1)) % channels] },
                                           zero: QuantizedNN.zeroPoint(yZero), type: yZero?.dataType ?? x.dataType, ctx)]
    }
}
