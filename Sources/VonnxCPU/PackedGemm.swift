import CGemm
import VonnxIR

/// Float32 conv GEMM over weights packed once (CGemm's AVX2 or AVX-512 micro-kernel), with the
/// im2col done while packing the input and the epilogue fused: C = A·B (+ bias per row)
/// (+ Z) (then the activation). Used by Conv when the CPU has AVX2 and FMA; elsewhere OpenBLAS runs.
enum PackedGemm {
    static let available = vx_gemm_available() != 0

    /// `w` as `rows` rows of K = count/rows values in `groups` groups, packed group by group
    /// for `run` (`transposed`: each group's Wᵀ in panels of output channels, for
    /// `run(transposed: true)`), cached per weight storage.
    static func packedWeights(_ w: Tensor, rows m: Int, groups: Int, transposed: Bool = false) -> Tensor {
        w.derived("packed-gemm/conv/\(groups)\(transposed ? "/t" : "")") {
            let mg = m / groups, k = m == 0 ? 0 : w.count / m
            let stride = groupStride(rows: mg, k: k, transposed: transposed)
            let packed = Tensor(uninitialized: .float, shape: [groups * stride])
            let pa = elements(w, Float.self), pp = elements(packed, Float.self)
            let pack = transposed ? vx_gemm_pack_t : vx_gemm_pack_a
            for g in 0..<groups { pack(Int32(mg), Int32(k), pa + g * mg * k, Int32(k), pp + g * stride) }
            return packed
        }
    }

    /// True when C = A·B over n columns and k-long rows runs faster as Cᵀ = Bᵀ·Aᵀ
    /// (`runTransposed`): few columns that fill the vectors badly, and rows long enough to pay
    /// for the transposing epilogue. Measured: 7×7 maps (49 of 64) from k = 256 (2048×512×49:
    /// 0.94 vs 1.17 ms); 14×14 maps (196 of 208) from k = 1024 (ResNet-50's 1024→256 1×1s
    /// and 256-channel stride-2 3×3: 0.06–0.24 ms faster each; from k = 256 0.07–0.13 slower).
    static func prefersTransposed(n: Int, k: Int) -> Bool {
        func padded(_ block: Int32) -> Double { Double((n + Int(block) - 1) / Int(block) * Int(block)) }
        let waste = padded(vx_gemm_col_block(Int32(n))) / padded(vx_gemm_t_row_block(Int32(n)))
        return (n < 128 && k >= 256 && waste > 1.1) || (n < 256 && k >= 1024 && waste > 1.05)
    }

    /// Cᵀ = Bᵀ·Aᵀ over weights packed `transposed`, the channels split over `pool`; with more
    /// than one thread, Bᵀ is packed once by all of them (each packing it whole doubled the
    /// packing of a 3×3 conv with 512 channels on 7×7 at two threads).
    private static func runTransposed(_ pool: ThreadPool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, source: vx_source,
                              c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?,
                              z: UnsafePointer<Float>?, ldz: Int, activation: FusedActivation?) {
        guard m > 0, n > 0 else { return }
        nonisolated(unsafe) let (pa, pc, pbias, pz) = (a, c, bias, z)
        nonisolated(unsafe) var src = source
        let act = FusedActivation.kernel(activation)
        let block = Int(vx_gemm_t_col_block()), panels = (m + block - 1) / block
        @Sendable func channels(_ r: Range<Int>, packedB: UnsafePointer<Float>?) {
            var s = src
            vx_gemm_t(Int32(m), Int32(n), Int32(k), pa, &s, packedB, pc, Int32(ldc), pbias, pz, Int32(ldz), act,
                      Int32(r.lowerBound * block), Int32(min(m, r.upperBound * block)))
        }
        guard pool.threads > 1, panels > 1 else { return channels(0..<panels, packedB: nil) }
        withPackedB(pool, floats: vx_gemm_t_packed_b_size(Int32(n), Int32(k)), rows: k, pack: { r, p in
            vx_gemm_t_pack_b(&src, Int32(n), Int32(k), Int32(r.lowerBound), Int32(r.upperBound), p)
        }) { b in
            nonisolated(unsafe) let packedB = b
            pool.parallelFor(panels) { r in channels(r, packedB: packedB) }
        }
    }

    /// `body` over B (k rows) packed whole once into scratch memory, the rows split over `pool`
    /// (`pack` packs a range of them), for products whose every thread reads all of B.
    private static func withPackedB(_ pool: ThreadPool, floats: Int, rows k: Int,
                                    pack: @Sendable (Range<Int>, UnsafeMutablePointer<Float>) -> Void,
                                    _ body: (UnsafePointer<Float>) -> Void) {
        let bytes = floats * MemoryLayout<Float>.stride
        let scratch = StorageCache.allocate(byteCount: bytes)
        defer { StorageCache.release(scratch, byteCount: bytes) }
        nonisolated(unsafe) let packed = scratch.assumingMemoryBound(to: Float.self)
        pool.parallelFor(k, grain: 16) { r in pack(r, packed) }
        body(packed)
    }

    /// Floats one group's packed weights take.
    static func groupStride(rows m: Int, k: Int, transposed: Bool = false) -> Int {
        (transposed ? vx_gemm_packed_t_size : vx_gemm_packed_a_size)(Int32(m), Int32(k))
    }

    /// B as a row-major k×n matrix with row stride n.
    static func matrix(_ b: UnsafePointer<Float>, columns n: Int) -> vx_source {
        vx_source(x: b, h: 1, w: Int32(n), kh: 1, kw: 1, stride_h: 1, stride_w: 1, dilation_h: 1, dilation_w: 1,
                  pad_top: 0, pad_left: 0, oh: 1, ow: Int32(n))
    }

    /// B as the im2col of the input planes `x` of a 1-D or 2-D conv with geometry `geo`.
    static func im2col(_ x: UnsafePointer<Float>, _ geo: WindowGeometry) -> vx_source {
        let two = geo.rank == 2
        func last(_ v: [Int]) -> Int32 { Int32(v[v.count - 1]) }
        func first(_ v: [Int], _ one: Int) -> Int32 { two ? Int32(v[0]) : Int32(one) }
        return vx_source(x: x, h: first(geo.input, 1), w: last(geo.input), kh: first(geo.kernel, 1), kw: last(geo.kernel),
                         stride_h: first(geo.strides, 1), stride_w: last(geo.strides),
                         dilation_h: first(geo.dilations, 1), dilation_w: last(geo.dilations),
                         pad_top: first(geo.padBegin, 0), pad_left: last(geo.padBegin),
                         oh: first(geo.output, 1), ow: last(geo.output))
    }

    /// C[m×n] (row stride ldc) = packed A[m×k] · B[k×n] from `source`, plus the epilogue, on
    /// `pool`. With `transposed`, A is packed `transposed` and Cᵀ = Bᵀ·Aᵀ runs; else by column
    /// panels when there are enough (each thread packing its own), or B is packed once by all
    /// threads and the row panels are split.
    static func run(_ pool: ThreadPool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, transposed: Bool = false,
                    source: vx_source, c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?,
                    z: UnsafePointer<Float>?, ldz: Int, activation: FusedActivation?) {
        guard m > 0, n > 0 else { return }
        if transposed {
            return runTransposed(pool, m: m, n: n, k: k, a: a, source: source, c: c, ldc: ldc, bias: bias, z: z, ldz: ldz,
                                 activation: activation)
        }
        nonisolated(unsafe) let (pa, pc, pbias, pz) = (a, c, bias, z)
        nonisolated(unsafe) var src = source
        let act = FusedActivation.kernel(activation)
        let rowBlock = Int(vx_gemm_row_block()), colBlock = Int(vx_gemm_col_block(Int32(n)))
        let rowPanels = (m + rowBlock - 1) / rowBlock, colPanels = (n + colBlock - 1) / colBlock
        @Sendable func block(rows: Range<Int>, cols: Range<Int>, packedB: UnsafePointer<Float>?) {
            var s = src
            vx_gemm(Int32(m), Int32(n), Int32(k), pa, &s, packedB, pc, Int32(ldc), pbias, pz, Int32(ldz), act,
                    Int32(rows.lowerBound), Int32(rows.upperBound), Int32(cols.lowerBound), Int32(cols.upperBound))
        }
        let threads = pool.threads
        if threads == 1 || m * n * max(k, 1) < 1 << 17 {
            block(rows: 0..<m, cols: 0..<n, packedB: nil)
        } else if colPanels >= 4 * threads || rowPanels < threads {
            pool.parallelFor(colPanels) { r in
                block(rows: 0..<m, cols: r.lowerBound * colBlock..<min(n, r.upperBound * colBlock), packedB: nil)
            }
        } else {
            withPackedB(pool, floats: vx_gemm_packed_b_size(Int32(k), Int32(n)), rows: k, pack: { r, p in
                vx_gemm_pack_b(&src, Int32(k), Int32(n), Int32(r.lowerBound), Int32(r.upperBound), p)
            }) { b in
                nonisolated(unsafe) let packedB = b
                pool.parallelFor(rowPanels) { r in
                    block(rows: r.lowerBound * rowBlock..<min(m, r.upperBound * rowBlock), cols: 0..<n, packedB: packedB)
                }
            }
        }
    }
}

extension PackedGemm {
    /// One operand of a batched product: batch i's matrix at `base + offsets[i]`, element
    /// (r, c) `rowStride`·r + `columnStride`·c further.
    struct Operand {
        let base: UnsafePointer<Float>, offsets: [Int], rowStride: Int, columnStride: Int

        func matrix(_ batch: Int, row: Int = 0) -> vx_matrix {
            vx_matrix(p: base + offsets[batch] + row * rowStride, rs: rowStride, cs: columnStride)
        }
    }

    /// B (k×n) packed whole for `matmul`, made once and kept with `weights`' storage under `key`.
    static func packedMatrix(_ weights: Tensor, _ key: String, k: Int, n: Int, _ b: Operand) -> Tensor {
        weights.derived("packed-gemm/\(key)") {
            let t = Tensor(uninitialized: .float, shape: [vx_gemm_packed_b_size(Int32(k), Int32(n))])
            vx_gemm_pack_b_matrix(Int32(k), Int32(n), b.matrix(0), elements(t, Float.self))
            return t
        }
    }

    /// C_i = A_i·B_i (m×k by k×n) (+ z[r·ldz + col]: one batch's, or with ldz 0 one row for
    /// every row of every batch) (then `activation`) for every batch i, C_i
    /// row-major at c + i·m·n; `packedB` (`packedMatrix`) serves every batch when given. The
    /// batches' row panels are split evenly over `pool`, each thread running its consecutive
    /// panels of one batch as one product (and columns too when there are fewer panels than threads).
    static func matmul(_ pool: ThreadPool, m: Int, n: Int, k: Int, batches: Int, a: Operand, b: Operand,
                       packedB: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>, z: UnsafePointer<Float>? = nil, ldz: Int = 0,
                       activation: vx_activation = vx_activation()) {
        guard m > 0, n > 0, batches > 0 else { return }
        precondition(z == nil || batches == 1 || ldz == 0, "z is one batch's, or one row")
        nonisolated(unsafe) let (pc, pb, pz, a, b) = (c, packedB, z, a, b)
        let rowBlock = Int(vx_gemm_row_block()), colBlock = Int(vx_gemm_col_block(Int32(n)))
        let rowPanels = (m + rowBlock - 1) / rowBlock, colPanels = (n + colBlock - 1) / colBlock
        let threads = m * n * max(k, 1) * batches < 1 << 17 ? 1 : pool.threads
        let colSplit = rowPanels * batches >= threads ? 1 : min(colPanels, (threads + rowPanels * batches - 1) / (rowPanels * batches))
        /// Row panels `panels` of batch `i`, column chunk `chunk`.
        @Sendable func product(_ i: Int, _ chunk: Int, _ panels: Range<Int>) {
            let r0 = panels.lowerBound * rowBlock, r1 = min(m, panels.upperBound * rowBlock)
            let n0 = colPanels * chunk / colSplit * colBlock, n1 = min(n, colPanels * (chunk + 1) / colSplit * colBlock)
            vx_matmul(Int32(r1 - r0), Int32(n), Int32(k), a.matrix(i, row: r0), b.matrix(i), pb, pc + i * m * n + r0 * n,
                      Int32(n), pz.map { $0 + r0 * ldz }, Int32(ldz), activation, Int32(n0), Int32(n1))
        }
        // units ordered (batch, column chunk, row panel); a range of them runs as one product per (batch, chunk)
        @Sendable func units(_ r: Range<Int>) {
            var u = r.lowerBound
            while u < r.upperBound {
                let group = u / rowPanels, first = u % rowPanels, count = min(rowPanels - first, r.upperBound - u)
                product(group / colSplit, group % colSplit, first..<first + count)
                u += count
            }
        }
        let total = batches * colSplit * rowPanels
        // one chunk a thread: each chunk packs its rows of A, and B unless it came packed
        if threads == 1 { units(0..<total) } else { pool.parallelFor(total, chunksPerThread: 1, units) }
    }
}
