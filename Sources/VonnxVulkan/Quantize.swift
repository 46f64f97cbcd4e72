import VonnxIR

/// The saturation bounds of integer `type` as `Shaders/unary.comp`'s and
/// `Shaders/quantize.comp`'s LO and HI defines, for `type` as `storage` holds it (a narrowed
/// 64-bit type: the 32 bits it is narrowed to).
func saturationDefines(_ type: DataType, _ storage: VulkanStorage) -> [String: String] {
    let signed = glslType(type, .narrow) == "int"
    if storage.wide.contains(type) {
        // built from 32-bit literals: the defines come before the int64 extension that 64-bit ones need
        let hi = "(uint64_t(0x\(signed ? "7fffffff" : "ffffffff")u) << 32 | uint64_t(0xffffffffu))"
        return signed ? ["LO": "int64_t(uint64_t(0x80000000u) << 32)", "HI": "int64_t\(hi)"] : ["LO": "uint64_t(0u)", "HI": hi]
    }
    let bits = Int(fitDefines(type)["FIT_BITS"] ?? "32")!
    let (lo, hi) = signed ? (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) : (0, (1 << bits) - 1)
    return signed ? ["LO": "(\(lo + 1) - 1)", "HI": "\(hi)"] : ["LO": "0u", "HI": "\(hi)u"]
}

/// The types QuantizeLinear writes and DequantizeLinear reads on the device (int32: read only).
let quantizedTypes: Set<DataType> = [.uint8, .int8, .uint16, .int16]

/// QuantizeLinear (`quantize`) or DequantizeLinear on the device, as the CPU kernels: per
/// tensor, per index along `axis`, or per block of `block_size` along it; the quantized type is
/// the zero point's, else `output_dtype` (Quantize; default uint8); Dequantize writes the
/// scale's floating-point type or `output_dtype`.
func recordQuantize(_ ctx: VulkanKernelContext, quantize: Bool) throws -> [VulkanTensor] {
    let x = try ctx.input(0), scale = try ctx.input(1), zeroPoint = ctx.optionalInput(2)
    let outputType = try ctx.node.int("output_dtype", default: 0)
    let quantized: DataType, resultType: DataType
    if quantize {
        let declared = outputType == 0 ? DataType.uint8 : DataType(rawValue: Int32(truncatingIfNeeded: outputType))
        guard let q = zeroPoint?.dataType ?? declared, quantizedTypes.contains(q) else {
            throw ctx.error("quantizing to \(zeroPoint?.dataType.description ?? "type \(outputType)") is not implemented on Vulkan")
        }
        guard x.dataType.isFloatingPoint else { throw ctx.error("x must be floating point, got \(x.dataType)") }
        (quantized, resultType) = (q, q)
    } else {
        let declared = outputType == 0 ? scale.dataType : DataType(rawValue: Int32(truncatingIfNeeded: outputType))
        guard quantizedTypes.contains(x.dataType) || x.dataType == .int32, let r = declared, r.isFloatingPoint else {
            throw ctx.error("dequantizing \(x.dataType) to type \(declared?.description ?? "\(outputType)") is not implemented on Vulkan")
        }
        (quantized, resultType) = (x.dataType, r)
    }
    guard scale.dataType.isFloatingPoint else { throw ctx.error("the scale must be floating point, got \(scale.dataType)") }
    if let zeroPoint {
        guard zeroPoint.dataType == quantized, zeroPoint.shape == scale.shape || (zeroPoint.count == 1 && scale.count == 1) else {
            throw ctx.error("zero point \(zeroPoint.dataType)\(zeroPoint.shape) does not match scale \(scale.shape) and type \(quantized)")
        }
    }
    // x as [outer, n, inner] around the axis, and the parameter's strides along each
    let blockSize = try ctx.node.int("block_size", default: 0)
    var walk = (n: max(x.count, 1), inner: 1, block: max(x.count, 1), strides: [0, 0, 0])
    if scale.count != 1 || blockSize != 0 {
        guard x.rank > 0 else { throw ctx.error("a per-axis or blocked scale needs an input of rank 1 or more") }
        let axis = try ctx.axis(try ctx.node.int("axis", default: 1), rank: x.rank)
        let n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
        if blockSize <= 0 {
            guard scale.shape == [n] else { throw ctx.error("per-axis scale has shape \(scale.shape), expected [\(n)]") }
            walk = (n, inner, 1, [0, 1, 0])
        } else {
            var expected = x.shape
            expected[axis] = n == 0 ? 0 : (n - 1) / blockSize + 1
            guard scale.shape == expected else { throw ctx.error("blocked scale has shape \(scale.shape), expected \(expected)") }
            walk = (n, inner, min(blockSize, max(n, 1)), [expected[axis] * inner, inner, 1])
        }
    }
    let y = try ctx.recorder.makeTensor(shape: x.shape, dataType: resultType)
    var push = PushConstants()
    for v in [x.count, walk.n, walk.inner, walk.block] + walk.strides { push.add(v) }
    var defines = ["QUANTIZE": quantize ? "1" : "0", "ZERO_POINT": zeroPoint == nil ? "0" : "1",
                   "T": glslType(x.dataType, ctx.device.storage), "R": glslType(resultType, ctx.device.storage)]
    defines.merge(quantize ? saturationDefines(quantized, ctx.device.storage) : fitDefines(resultType)) { $1 }
    try ctx.dispatch1D("quantize", defines: defines, buffers: [x.buffer, scale.buffer, (zeroPoint ?? scale).buffer, y.buffer],
                       push: push, count: x.count)
    return [y]
}

/// MatMulInteger (`qlinear` false: int32 sums of int8/uint8 products after subtracting the
/// zero points, one or one per row of A / column of B) and QLinearMatMul (`qlinear`: those
/// sums requantized by a_scale·b_scale/y_scale and y_zero_point, per-tensor scales and output
/// zero point read on the host) in `Shaders/matmul_integer.comp`, or by packed 8-bit dot
/// products (the integerGemm family's `dot4x8`).
func recordMatMulInteger(_ ctx: VulkanKernelContext, qlinear: Bool) throws -> [VulkanTensor] {
    let (ia, ib, iza, izb) = qlinear ? (0, 3, 2, 5) : (0, 1, 2, 3)
    let a = try ctx.input(ia), b = try ctx.input(ib), zeroA = ctx.optionalInput(iza), zeroB = ctx.optionalInput(izb)
    let operands: Set<DataType> = [.int8, .uint8]
    guard operands.contains(a.dataType), operands.contains(b.dataType), zeroA.map({ $0.dataType == a.dataType }) ?? true,
          zeroB.map({ $0.dataType == b.dataType }) ?? true else {
        throw ctx.error("A, B and their zero points must be int8 or uint8 alike, got \(a.dataType), \(b.dataType)")
    }
    let (g, output) = try matMulShape(a, b, ctx)
    guard g.batchShape.count <= 4 else { throw ctx.error("more than 4 batch dims are not implemented on Vulkan") }
    guard [0, 1, g.m].contains(zeroA?.count ?? 0), [0, 1, g.n].contains(zeroB?.count ?? 0) else {
        throw ctx.error("zero points of \(zeroA?.count ?? 0) and \(zeroB?.count ?? 0) values do not fit \(g.m) rows and \(g.n) columns")
    }
    var multiplier: Float = 1, yZero = 0, resultType = DataType.int32
    if qlinear {
        let scales = try [1, 4, 6].map { i -> Tensor in
            guard let t = try ctx.hostInput(i), t.count == 1, t.dataType.isFloatingPoint else {
                throw ctx.error("input \(i) must be a floating-point scale of one value on Vulkan")
            }
            return t
        }
        let values = scales.map { $0.doubles()[0] }
        multiplier = Float(requantizationMultiplier(values[0], values[1], values[2], type: scales[2].dataType))
        if let z = try ctx.hostInput(7) {
            guard z.count == 1, operands.contains(z.dataType) else { throw ctx.error("y_zero_point must be one int8 or uint8 value") }
            (yZero, resultType) = (z.ints()[0], z.dataType)
        } else {
            resultType = a.dataType
        }
    }
    let y = try ctx.recorder.makeTensor(shape: output, dataType: resultType)
    if ctx.takesIntegerDot(rows: g.m, columns: g.n, k: g.k) {
        // A's rows as they lie; B's columns: each of its matrices' n columns, k values n apart
        let packedA = try ctx.packedRows(a, rows: a.count / g.k, k: g.k, group: a.count / g.k, groupStride: 0, rowStride: g.k, step: 1)
        let packedB = try ctx.packedRows(b, rows: b.count / g.k, k: g.k, group: g.n, groupStride: g.k * g.n, rowStride: 1, step: g.n)
        let product = PackedIntegerProduct(a: packedA, b: packedB, m: g.m, n: g.n, batch: g.batchShape,
                                           batchA: g.batchA.map { $0 / g.k }, batchB: g.batchB.map { $0 / g.k }, zeroA: zeroA, zeroB: zeroB)
        try ctx.record(product, into: y, requantize: qlinear ? ([multiplier], yZero, nil) : nil)
        return [y]
    }
    var push = PushConstants()
    for v in [g.m, g.n, g.k, zeroA?.count ?? 0, zeroB?.count ?? 0, g.batchShape.count] { push.add(v) }
    push.add(g.batchShape, length: 4); push.add(g.batchA, length: 4); push.add(g.batchB, length: 4)
    push.add(multiplier); push.add(signed: yZero)
    var defines = ["QLINEAR": qlinear ? "1" : "0", "TA": glslType(a.dataType, ctx.device.storage), "TB": glslType(b.dataType, ctx.device.storage), "R": glslType(resultType, ctx.device.storage)]
    if qlinear { defines.merge(saturationDefines(resultType, ctx.device.storage)) { $1 } }
    try ctx.dispatch1D("matmul_integer", defines: defines, buffers: [a.buffer, b.buffer, (zeroA ?? a).buffer, (zeroB ?? b).buffer, y.buffer],
                       push: push, count: y.count)
    return [y]
}
