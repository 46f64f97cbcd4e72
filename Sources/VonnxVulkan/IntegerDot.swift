import VonnxIR

/// The integer products' `dot4x8` variant: operands packed 4 values a word with each row's sum
/// (`Shaders/pack4x8.comp`; weights once), multiplied by packed 8-bit dot products with the zero
/// points subtracted afterwards (`Shaders/matmul_dot4x8.comp`). Exact, as the widened kernels.
struct PackedIntegerProduct {
    /// The packed rows of A and of B (`packedRows`), each row `k` values.
    let a: PackedRows, b: PackedRows
    /// Rows of A and columns of B a product has (over each batch index).
    let m: Int, n: Int
    /// Batch dims (last fastest) and their strides in packed rows of A and of B.
    var batch: [Int] = [], batchA: [Int] = [], batchB: [Int] = []
    /// A's zero points (one, or one per packed row modulo their count) and B's likewise.
    let zeroA: VulkanTensor?, zeroB: VulkanTensor?
}

/// Rows of 8-bit values packed by `Shaders/pack4x8.comp`.
struct PackedRows {
    let tensor: VulkanTensor
    let rows: Int, k: Int
    /// The type of the values: int8 or uint8.
    let dataType: DataType
}

extension VulkanKernelContext {
    /// Whether the integer products take the `dot4x8` variant for an `rows` × `columns` output:
    /// chosen or forced, where the device offers packed dot products and `k` is not 0.
    func takesIntegerDot(rows: Int, columns: Int, k: Int) -> Bool {
        k > 0 && rows > 0 && columns > 0 && KernelVariants.choose("integerGemm", rows: rows, columns: columns, device: device) {
            $0.name != "dot4x8" || device.properties.integerDotProduct
        }.name == "dot4x8"
    }

    /// `t`'s values as `rows` packed rows of `k`, row r's value q at
    /// t[(r / group)·groupStride + (r % group)·rowStride + q·step]: made once where `t` is a weight.
    func packedRows(_ t: VulkanTensor, rows: Int, k: Int, group: Int, groupStride: Int, rowStride: Int, step: Int) throws -> PackedRows {
        let layout = [rows, k, (k + 3) / 4, group, groupStride, rowStride, step]
        let packed = try prepared(t, key: "pack4x8 \(layout)") { ctx in
            try ctx.pack(t, zero: nil, rows: rows, words: layout[2], push: layout, im2col: false)
        }
        return PackedRows(tensor: packed, rows: rows, k: k, dataType: t.dataType)
    }

    /// The windows of convolution input `x` ([N, C, H, W], 1-D as H = 1) as packed rows, one per
    /// (n, group, output pixel), each the group's C / groups channels × the kernel's taps; taps in
    /// the padding hold `zero` (or 0). `window` lists oh, ow, kh, kw, sh, sw, dh, dw, padTop, padLeft.
    func packedWindows(_ x: VulkanTensor, zero: VulkanTensor?, channels c: Int, height: Int, width: Int,
                       window: [Int], groups: Int) throws -> PackedRows {
        let pixels = window[0] * window[1], k = c / groups * window[2] * window[3]
        let rows = x.shape[0] * groups * pixels, words = (k + 3) / 4
        let packed = try pack(x, zero: zero, rows: rows, words: words,
                              push: [rows, k, words, c, height, width] + window + [groups, zero?.count ?? 0], im2col: true)
        return PackedRows(tensor: packed, rows: rows, k: k, dataType: x.dataType)
    }

    private func pack(_ t: VulkanTensor, zero: VulkanTensor?, rows: Int, words: Int, push values: [Int], im2col: Bool) throws -> VulkanTensor {
        let packed = try recorder.makeTensor(shape: [rows * words + rows], dataType: .uint32)
        var push = PushConstants()
        for v in values { push.add(v) }
        try dispatch1D("pack4x8", defines: ["T": glslType(t.dataType, device.storage), "IM2COL": im2col ? "1" : "0"],
                       buffers: [t.buffer, (zero ?? t).buffer, packed.buffer], push: push, count: rows)
        return packed
    }

    /// Records `product` into `y` (int32, or with `requantize` the 8-bit sums plus `bias`
    /// requantized by `multipliers`, one or one per row of A, and `yZero`).
    func record(_ product: PackedIntegerProduct, into y: VulkanTensor,
                requantize: (multipliers: [Float], yZero: Int, bias: VulkanTensor?)? = nil) throws {
        let p = product
        guard p.a.k == p.b.k, p.batch.count <= 4 else { throw error("packed operands of \(p.a.k) and \(p.b.k) values, \(p.batch.count) batch dims") }
        var push = PushConstants()
        for v in [p.m, p.n, p.a.k, (p.a.k + 3) / 4, p.a.rows, p.b.rows, p.zeroA?.count ?? 0, p.zeroB?.count ?? 0,
                  requantize?.multipliers.count ?? 1, p.batch.count] { push.add(v) }
        push.add(p.batch, length: 4); push.add(p.batchA, length: 4); push.add(p.batchB, length: 4)
        push.add(signed: requantize?.yZero ?? 0)
        var defines = ["QLINEAR": requantize == nil ? "0" : "1", "BIAS": requantize?.bias == nil ? "0" : "1",
                       "TA": glslType(p.a.dataType, device.storage), "TB": glslType(p.b.dataType, device.storage),
                       "SIGNED_A": p.a.dataType == .int8 ? "1" : "0", "SIGNED_B": p.b.dataType == .int8 ? "1" : "0",
                       "R": glslType(y.dataType, device.storage)]
        if requantize != nil { defines.merge(saturationDefines(y.dataType, device.storage)) { $1 } }
        let multipliers = try recorder.upload(Tensor(shape: [requantize?.multipliers.count ?? 1], scalars: requantize?.multipliers ?? [1]))
        try dispatch1D("matmul_dot4x8", defines: defines,
                       buffers: [p.a.tensor, p.b.tensor, p.zeroA ?? p.a.tensor, p.zeroB ?? p.b.tensor,
                                 requantize?.bias ?? multipliers, multipliers, y].map(\.buffer),
                       push: push, count: y.count)
        recycle(p.a.tensor)
        recycle(p.b.tensor)
    }
}
