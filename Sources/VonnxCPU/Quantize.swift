import VonnxIR

/// Where each element of x finds its scale and zero point: one for the tensor, one per index
/// along `axis` (a 1-D parameter), or one per block of `blockSize` along `axis` (a parameter
/// of x's rank with that dim ceil(n / blockSize)).
struct QuantParameterIndex {
    let layout: AxisLayout, mode: Int, blockSize: Int, blocks: Int

    init(x: Tensor, parameter: Tensor, _ ctx: KernelContext) throws {
        let rawAxis = try ctx.node.int("axis", default: 1)
        let b = try ctx.node.int("block_size", default: 0)
        if parameter.count == 1 && b == 0 {
            layout = AxisLayout([x.count], axis: 0); mode = 0; blockSize = 0; blocks = 1
            return
        }
        guard x.rank > 0 else { throw ctx.error("a per-axis scale needs an input of rank 1 or more") }
        let axis = try normalizeAxis(rawAxis, rank: x.rank, ctx)
        layout = AxisLayout(x.shape, axis: axis)
        if b <= 0 {
            guard parameter.shape == [x.shape[axis]] else {
                throw ctx.error("per-axis scale has shape \(parameter.shape), expected [\(x.shape[axis])]")
            }
            mode = 1; blockSize = 0; blocks = x.shape[axis]
        } else {
            var expected = x.shape
            expected[axis] = (x.shape[axis] + b - 1) / b
            guard parameter.shape == expected else {
                throw ctx.error("blocked scale has shape \(parameter.shape), expected \(expected)")
            }
            mode = 2; blockSize = b; blocks = expected[axis]
        }
    }

    /// The parameter index of x's flat element `i`.
    @inline(__always) func callAsFunction(_ i: Int) -> Int {
        switch mode {
        case 0: return 0
        case 1: return (i / layout.inner) % layout.n
        default:
            let e = i % layout.inner, j = (i / layout.inner) % layout.n, o = i / (layout.inner * layout.n)
            return (o * blocks + j / blockSize) * layout.inner + e
        }
    }
}

/// The integer range of a quantized element type.
func quantRange(_ type: DataType) -> (Double, Double)? {
    switch type {
    case .uint8: (0, 255)
    case .int8: (-128, 127)
    case .uint16: (0, 65535)
    case .int16: (-32768, 32767)
    case .int32: (Double(Int32.min), Double(Int32.max))
    default: nil
    }
}

/// A zero point fits its scale when their shapes are equal or both hold one value: [] and [1]
/// are both per tensor (quantize_static writes int32 biases' DequantizeLinear so).
private func zeroPoint(_ zp: Tensor, fits scale: Tensor) -> Bool {
    zp.shape == scale.shape || (zp.count == 1 && scale.count == 1)
}

extension CPUKernels {
    /// QuantizeLinear: round-half-even(x / scale) + zero point, saturated to the output type
    /// (the zero point's type, else output_dtype, else uint8); per tensor, axis or block.
    public static let quantizeLinear: CPUKernel = { ctx in
        let x = try ctx.input(0), scale = try ctx.input(1), zp = ctx.optionalInput(2)
        guard x.dataType.isFloatingPoint, scale.dataType.isFloatingPoint else {
            throw ctx.error("x and y_scale must be floating point, got \(x.dataType) and \(scale.dataType)")
        }
        let attr = try ctx.node.int("output_dtype", default: 0)
        let outType = zp?.dataType ?? (attr == 0 ? .uint8 : DataType(rawValue: Int32(truncatingIfNeeded: attr)))
        guard let outType, let (lo, hi) = quantRange(outType) else { throw ctx.error("unsupported quantized type \(zp?.dataType.description ?? "\(attr)")") }
        let index = try QuantParameterIndex(x: x, parameter: scale, ctx)
        if let zp { guard zeroPoint(zp, fits: scale) else { throw ctx.error("zero point shape \(zp.shape) differs from scale \(scale.shape)") } }
        let xs = x.doubles(), ss = scale.doubles(), zs = zp?.doubles()
        let single = x.dataType == .float && scale.dataType == .float
        let q = xs.indices.map { i -> Double in
            let k = index(i)
            let v = single ? Double(Float(xs[i]) / Float(ss[k])) : xs[i] / ss[k]
            let r = v.rounded(.toNearestOrEven) + (zs?[k] ?? 0)
            return r.isNaN ? lo : min(max(r, lo), hi)
        }
        return [try Tensor(outType, shape: x.shape, converting: q)]
    }

    /// DequantizeLinear: (x - zero point) · scale in the scale's type (or output_dtype).
    public static let dequantizeLinear: CPUKernel = { ctx in
        let x = try ctx.input(0), scale = try ctx.input(1), zp = ctx.optionalInput(2)
        guard quantRange(x.dataType) != nil, scale.dataType.isFloatingPoint else {
            throw ctx.error("x must be a quantized integer type and x_scale floating point, got \(x.dataType) and \(scale.dataType)")
        }
        if let zp { guard zeroPoint(zp, fits: scale), zp.dataType == x.dataType else { throw ctx.error("zero point \(zp) does not match scale \(scale.shape) and x \(x.dataType)") } }
        let attr = try ctx.node.int("output_dtype", default: 0)
        guard let outType = attr == 0 ? scale.dataType : DataType(rawValue: Int32(truncatingIfNeeded: attr)), outType.isFloatingPoint else {
            throw ctx.error("output_dtype \(attr) is not a floating-point type")
        }
        let index = try QuantParameterIndex(x: x, parameter: scale, ctx)
        let xs = x.doubles(), ss = scale.doubles(), zs = zp?.doubles()
        return [try Tensor(outType, shape: x.shape, converting: xs.indices.map { i in
            let k = index(i)
            return (xs[i] - (zs?[k] ?? 0)) * ss[k]
        })]
    }

    /// DynamicQuantizeLinear: uint8 quantization of float32 x over [min(0, x), max(0, x)];
    /// outputs y, the scale and the zero point, computed in float32 as the reference does.
    public static let dynamicQuantizeLinear: CPUKernel = { ctx in
        let x = try ctx.input(0)
        guard x.dataType == .float else { throw ctx.error("x must be float32, got \(x.dataType)") }
        let v = x.scalars(as: Float.self)
        let maxX = max(0, v.max() ?? 0), minX = min(0, v.min() ?? 0)
        let scale = (maxX == minX ? 1 : maxX - minX) / 255
        let zp = min(255, max(0, 0 - minX / scale)).rounded(.toNearestOrEven)
        let y = v.map { e -> UInt8 in
            let r = (e / scale).rounded(.toNearestOrEven) + zp
            return r.isNaN ? 0 : UInt8(min(255, max(0, r)))
        }
        return [Tensor(shape: x.shape, scalars: y), Tensor(scalar: scale), Tensor(scalar: UInt8(zp))]
    }
}
