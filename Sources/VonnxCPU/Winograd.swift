import CGemm
import Glibc
import VonnxIR

/// Winograd F(4×4, 3×3) convolution for 2-D 3×3, stride 1, dilation 1, group 1 convs: each
/// 6×6 input tile and each filter go to the Winograd domain, the 36 tile positions are 36
/// independent GEMMs [M×C]·[C×tiles], and the output transform applies bias, Z and the activation.
/// With CGemm, the input transform writes each GEMM's B already packed in its column panels.
enum Winograd {
    /// True when `geo` and `group` describe a conv this kernel computes and it is faster than
    /// im2col + GEMM. Its 36 GEMMs are [M×C]·[C×tiles]; measured (AVX-512 CGemm, vectorized
    /// transforms, ms per conv): they need ≥ 16 tiles (ResNet-50's 7×7 maps, 4 tiles, stay on
    /// im2col) and ≥ 32 channels (SqueezeNet's 16 → 64 at 55×55: 0.38–0.98 Winograd vs 0.33
    /// im2col), and with under 32 tiles ≥ 64 channels (SqueezeNet's 64 at 13×13, 16 tiles:
    /// 0.24–0.28 vs 0.29–0.34; ResNet-50's 256 at 14×14: 1.45 vs 2.6).
    static func applies(_ geo: WindowGeometry, group: Int, batch n: Int, inChannels c: Int, outChannels m: Int) -> Bool {
        guard n > 0, geo.rank == 2, group == 1, geo.kernel == [3, 3], geo.strides == [1, 1], geo.dilations == [1, 1],
              geo.outputSize > 0, c >= 32, m >= 16 else { return false }
        let (th, tw) = tileGrid(geo), chunk = chunking(batch: n, th: th, tw: tw), tiles = chunk.images * chunk.rows * tw
        return tiles >= 32 || (tiles >= 16 && c >= 64)
    }

    /// Rows and columns of 4×4 output tiles per image.
    private static func tileGrid(_ geo: WindowGeometry) -> (th: Int, tw: Int) { ((geo.output[0] + 3) / 4, (geo.output[1] + 3) / 4) }

    /// Tiles transformed and multiplied together: about 256 (more measured slower, the
    /// Winograd-domain buffers leaving the cache) — whole images, split evenly over the batch,
    /// or bands of `rows` tile rows of one image when an image has more (VGG's 224×224 maps:
    /// 3136 tiles, whose 29 MB buffers were most of the peak above onnxruntime's).
    private static func chunking(batch n: Int, th: Int, tw: Int) -> (images: Int, rows: Int) {
        guard th * tw <= 256 else { return (1, max(1, 256 / tw)) }
        let most = max(1, min(n, 256 / max(th * tw, 1))), chunks = (n + most - 1) / most
        return ((n + chunks - 1) / chunks, th)
    }

    /// The filter in the Winograd domain, [36, M, C]: G·g·Gᵀ for each (m, c).
    static func filter<T: RealElement>(_ w: Tensor, _: T.Type) -> Tensor {
        let u = Tensor(uninitialized: T.dataType, shape: [36, w.shape[0], w.shape[1]])
        transformFilters(elements(w, T.self), count: w.shape[0] * w.shape[1], into: elements(u, T.self))
        return u
    }

    /// `filter(w)` packed for CGemm as 36 groups of M rows, made a row panel of output channels
    /// at a time: the whole unpacked filter (4× the weights, 38 MB for 512 channels) is never
    /// held beside the packed one.
    static func packedFilter(_ w: Tensor) -> Tensor {
        let m = w.shape[0], c = w.shape[1], mr = Int(vx_gemm_row_block())
        let stride = PackedGemm.groupStride(rows: m, k: c)
        let packed = Tensor(uninitialized: .float, shape: [36 * stride])
        let pw = elements(w, Float.self), pp = elements(packed, Float.self)
        let panel = UnsafeMutablePointer<Float>.allocate(capacity: 36 * mr * c)
        defer { panel.deallocate() }
        for m0 in Swift.stride(from: 0, to: m, by: mr) {
            // panel[ξ][r][ch] for output channels m0 ..< m0 + rows
            let rows = min(mr, m - m0), plane = rows * c
            transformFilters(pw + m0 * c * 9, count: plane, into: panel)
            for xi in 0..<36 { vx_gemm_pack_a(Int32(rows), Int32(c), panel + xi * plane, Int32(c), pp + xi * stride + m0 * c) }
        }
        return packed
    }

    /// d[ξ·count + k] = (G·g·Gᵀ)[ξ] for the `count` 3×3 filters g at g + 9k.
    private static func transformFilters<T: RealElement>(_ g: UnsafePointer<T>, count: Int, into d: UnsafeMutablePointer<T>) {
        withUnsafeTemporaryAllocation(of: T.self, capacity: 18) { buffer in
            let t = buffer.baseAddress!  // G·g, 6×3
            for k in 0..<count {
                for j in 0..<3 { transformFilter(g + k * 9 + j, 3, t + j, 3) }
                for i in 0..<6 { transformFilter(t + i * 3, 1, d + i * 6 * count + k, count) }
            }
        }
    }

    /// y = conv(x, w) + bias (+ z), then the activation; `y` is [N, M, OH, OW] and fully written.
    static func conv<T: RealElement>(x: Tensor, w: Tensor, geo: WindowGeometry, bias: UnsafePointer<T>?,
                                     z: UnsafePointer<T>?, activation: FusedActivation?, y: Tensor, pool: ThreadPool) {
        let n = x.shape[0], c = x.shape[1], m = w.shape[0]
        let (ih, iw, oh, ow) = (geo.input[0], geo.input[1], geo.output[0], geo.output[1])
        let (th, tw) = tileGrid(geo), chunk = chunking(batch: n, th: th, tw: tw)
        let cap = chunk.images * chunk.rows * tw
        // the filter transformed once per weight storage: packed for CGemm (float32 on an
        // AVX2+FMA CPU), else as the 36 matrices OpenBLAS multiplies
        let packedStride = PackedGemm.groupStride(rows: m, k: c)
        let usePacked = T.self == Float.self && PackedGemm.available, wide = Int(vx_gemm_t_col_block())
        let u = usePacked ? w.derived("packed-gemm/winograd") { packedFilter(w) } : w.derived("winograd") { filter(w, T.self) }
        nonisolated(unsafe) let pu = UnsafePointer(elements(u, T.self))
        nonisolated(unsafe) let packed: UnsafePointer<Float>? = usePacked ? UnsafeRawPointer(pu).assumingMemoryBound(to: Float.self) : nil
        nonisolated(unsafe) let (px, py) = (UnsafePointer(elements(x, T.self)), elements(y, T.self))
        nonisolated(unsafe) let (pb, pz) = (bias, z)
        let scratchCount = max(72, Int(vx_winograd_scratch(Int32(tw))))
        // V's 36 blocks hold a chunk's tiles in CGemm's column panels, at most `wide` wide
        let vColumns = usePacked ? (cap + wide - 1) / wide * wide : cap
        let vBytes = 36 * c * vColumns * MemoryLayout<T>.stride, prodBytes = 36 * m * cap * MemoryLayout<T>.stride
        let vBlock = StorageCache.allocate(byteCount: vBytes), prodBlock = StorageCache.allocate(byteCount: prodBytes)
        defer { StorageCache.release(vBlock, byteCount: vBytes); StorageCache.release(prodBlock, byteCount: prodBytes) }
        nonisolated(unsafe) let v = vBlock.assumingMemoryBound(to: T.self), prod = prodBlock.assumingMemoryBound(to: T.self)
        for first in stride(from: 0, to: n, by: chunk.images) {
            for ty0 in stride(from: 0, to: th, by: chunk.rows) {
                let images = min(chunk.images, n - first), rows = min(chunk.rows, th - ty0)
                let band = rows * tw, tiles = images * band, skip = 4 * ty0 * ow  // the band's first output row
                // V[ξ] = Bᵀ·d·B of each zero-padded 6×6 input tile, channels × tiles: CGemm's packed B
                // (panels `width` tiles wide; the micro-kernel reads the last one's spare lanes into
                // columns it never stores, so they are zeroed as vx_gemm_pack_b zeroes them: no stale
                // NaN or denormal enters the arithmetic), else a row-major matrix
                let width = usePacked ? Int(vx_gemm_col_block(Int32(tiles))) : tiles
                let columns = (tiles + width - 1) / width * width, vStride = c * columns, spare = columns - tiles
                let layout = TileLayout(width: width, panel: usePacked ? width * c : 0)
                pool.parallelFor(c) { r in
                    let scratch = UnsafeMutablePointer<T>.allocate(capacity: scratchCount)
                    defer { scratch.deallocate() }
                    for ch in r {
                        let vc = v + ch * width
                        for img in 0..<images {
                            inputTiles(px + ((first + img) * c + ch) * ih * iw, geo, firstRow: ty0, rows: rows, tw: tw,
                                       firstTile: img * band, layout, vc, stride: vStride, scratch)
                        }
                        if spare > 0 {
                            let last = vc + (tiles / width) * layout.panel + tiles % width
                            for xi in 0..<36 { (last + xi * vStride).update(repeating: .zero, count: spare) }
                        }
                    }
                }
                // the 36 GEMMs, whole ones per thread
                pool.parallelFor(36) { r in
                    for xi in r {
                        if let packed {
                            vx_gemm(Int32(m), Int32(tiles), Int32(c), packed + xi * packedStride, nil, float(UnsafePointer(v + xi * vStride)),
                                    float(prod + xi * m * tiles), Int32(tiles), nil, nil, 0, vx_activation(), 0, Int32(m), 0, Int32(tiles))
                        } else {
                            T.gemm(transA: false, transB: false, m: m, n: tiles, k: c, alpha: T(1), a: pu + xi * m * c, lda: c,
                                   b: v + xi * vStride, ldb: tiles, beta: .zero, c: prod + xi * m * tiles, ldc: tiles)
                        }
                    }
                }
                // Aᵀ·P·A per tile, cropped to the output, with bias, Z and the activation
                pool.parallelFor(m) { r in
                    let scratch = UnsafeMutablePointer<T>.allocate(capacity: scratchCount)
                    defer { scratch.deallocate() }
                    for ch in r {
                        for img in 0..<images {
                            let at = ((first + img) * m + ch) * oh * ow + skip
                            outputTiles(prod + ch * tiles + img * band, stride: m * tiles, th: rows, tw: tw, py + at, oh: oh - 4 * ty0,
                                        ow: ow, bias: pb?[ch] ?? .zero, z: pz.map { $0 + at }, activation: activation, scratch)
                        }
                    }
                }
            }
        }
    }

    /// Where a chunk's tile number t goes in each of V's 36 blocks: (t / width)·panel + t % width
    /// floats past its channel's start — CGemm's packed column panels, or with `width` the
    /// chunk's tile count, one row-major run.
    private struct TileLayout {
        let width: Int, panel: Int
        func offset(_ t: Int) -> Int { t / width * panel + t % width }
    }

    /// V[ξ·stride + layout.offset(firstTile + ty·tw + tx)] = Bᵀ·d·B of the zero-padded 6×6
    /// input tiles of one plane in tile rows firstRow ..< firstRow + rows, ty counted from
    /// firstRow (CGemm's vectorized transform for float32 where it runs, else per tile here).
    private static func inputTiles<T: RealElement>(_ plane: UnsafePointer<T>, _ geo: WindowGeometry, firstRow: Int, rows th: Int,
                                                   tw: Int, firstTile: Int, _ layout: TileLayout, _ v: UnsafeMutablePointer<T>,
                                                   stride: Int, _ scratch: UnsafeMutablePointer<T>) {
        // the band's tiles start 4·firstRow rows down: as if the padding above were that much less
        let (ih, iw, top, left) = (geo.input[0], geo.input[1], geo.padBegin[0] - 4 * firstRow, geo.padBegin[1])
        if T.self == Float.self && PackedGemm.available {
            return vx_winograd_input(float(plane), Int32(ih), Int32(iw), Int32(top), Int32(left), Int32(th), Int32(tw),
                                     Int32(firstTile), Int32(layout.width), layout.panel, float(v), stride, float(scratch))
        }
        let d = scratch, t = scratch + 36
        for ty in 0..<th { for tx in 0..<tw {
            let y0 = ty * 4 - top, x0 = tx * 4 - left
            for i in 0..<6 {
                let yy = y0 + i
                for j in 0..<6 {
                    let xx = x0 + j
                    d[i * 6 + j] = yy >= 0 && yy < ih && xx >= 0 && xx < iw ? plane[yy * iw + xx] : .zero
                }
            }
            for j in 0..<6 { transformInput(d + j, 6, t + j, 6) }
            for i in 0..<6 { transformInput(t + i * 6, 1, v + layout.offset(firstTile + ty * tw + tx) + i * 6 * stride, stride) }
        } }
    }

    /// One output plane (oh×ow) from its tiles' products P[ξ·stride + ty·tw + tx]: Aᵀ·P·A
    /// cropped to the plane, + bias (+ z), then the activation (CGemm's vectorized transform
    /// for float32 where it runs, else per tile here).
    private static func outputTiles<T: RealElement>(_ p: UnsafePointer<T>, stride: Int, th: Int, tw: Int, _ out: UnsafeMutablePointer<T>,
                                                    oh: Int, ow: Int, bias: T, z: UnsafePointer<T>?, activation: FusedActivation?,
                                                    _ scratch: UnsafeMutablePointer<T>) {
        if T.self == Float.self && PackedGemm.available {
            return vx_winograd_output(float(p), stride, Int32(th), Int32(tw), float(out), Int32(oh), Int32(ow),
                                      unsafeBitCast(bias, to: Float.self), z.map { float($0) },
                                      FusedActivation.kernel(activation), float(scratch))
        }
        let t = scratch, o = scratch + 24
        for ty in 0..<th { for tx in 0..<tw {
            let base = p + ty * tw + tx
            for j in 0..<6 { transformOutput(base + j * stride, 6 * stride, t + j, 6) }
            for i in 0..<min(4, oh - ty * 4) {
                transformOutput(t + i * 6, 1, o, 1)
                let row = (ty * 4 + i) * ow + tx * 4
                let width = min(4, ow - tx * 4)
                for j in 0..<width {
                    var s = o[j] + bias
                    if let z { s += z[row + j] }
                    out[row + j] = s
                }
                activation?.apply(out + row, count: width)
            }
        } }
    }

    /// `p` as the float32 pointer it is (callers check T == Float).
    private static func float<T>(_ p: UnsafePointer<T>) -> UnsafePointer<Float> { UnsafeRawPointer(p).assumingMemoryBound(to: Float.self) }
    private static func float<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
    }

    /// G·g for the 3 values g at s[0], s[ss], s[2·ss], written to d[0], d[ds], … d[5·ds].
    @inline(__always) private static func transformFilter<T: RealElement>(_ s: UnsafePointer<T>, _ ss: Int,
                                                                        _ d: UnsafeMutablePointer<T>, _ ds: Int) {
        let g0 = s[0], g1 = s[ss], g2 = s[2 * ss]
        let a = -(g0 + g2) / 6, b = g1 / 6, e = g0 / 24 + g2 / 6, f = g1 / 12
        d[0] = g0 / 4; d[ds] = a - b; d[2 * ds] = a + b; d[3 * ds] = e + f; d[4 * ds] = e - f; d[5 * ds] = g2
    }

    /// Bᵀ·v for the 6 values at s[0], s[ss], …, written to d[0], d[ds], ….
    @inline(__always) private static func transformInput<T: RealElement>(_ s: UnsafePointer<T>, _ ss: Int,
                                                                       _ d: UnsafeMutablePointer<T>, _ ds: Int) {
        let d0 = s[0], d1 = s[ss], d2 = s[2 * ss], d3 = s[3 * ss], d4 = s[4 * ss], d5 = s[5 * ss]
        let a = d4 - 4 * d2, b = d3 - 4 * d1, e = d4 - d2, f = 2 * (d3 - d1)
        d[0] = 4 * d0 - 5 * d2 + d4; d[ds] = a + b; d[2 * ds] = a - b; d[3 * ds] = e + f; d[4 * ds] = e - f
        d[5 * ds] = 4 * d1 - 5 * d3 + d5
    }

    /// Aᵀ·p for the 6 values at s[0], s[ss], …, written to d[0], d[ds], d[2·ds], d[3·ds].
    @inline(__always) private static func transformOutput<T: RealElement>(_ s: UnsafePointer<T>, _ ss: Int,
                                                                        _ d: UnsafeMutablePointer<T>, _ ds: Int) {
        let p1 = s[ss], p2 = s[2 * ss], p3 = s[3 * ss], p4 = s[4 * ss]
        let s12 = p1 + p2, d12 = p1 - p2, s34 = p3 + p4, d34 = p3 - p4
        d[0] = s[0] + s12 + s34; d[ds] = d12 + 2 * d34; d[2 * ds] = s12 + 4 * s34; d[3 * ds] = d12 + 8 * d34 + s[5 * ss]
    }
}
