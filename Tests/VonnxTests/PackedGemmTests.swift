import CGemm
import Glibc
import Testing
@testable import VonnxCPU
@testable import VonnxIR

/// CGemm against a float64 reference on fresh random matrices: ragged shapes (row and column
/// tails, K over one block, narrow and wide panels), the epilogue with each activation, both
/// orientations, one and two threads; scripts/test.sh runs them with the AVX2 kernel too (VONNX_CPU_KERNEL=avx2).
@Test(.enabled(if: PackedGemm.available, "this CPU has no AVX2+FMA: Conv runs on OpenBLAS"),
      arguments: zip([(7, 23, 5), (13, 50, 300), (64, 49, 1152), (37, 130, 1030), (6, 16, 0), (100, 3, 257), (40, 16, 70),
                      (24, 196, 33), (70, 98, 300), (33, 20, 40), (9, 300, 64)], allActivations))
func packedGemmMatchesReference(shape: (m: Int, n: Int, k: Int), activation: FusedActivation) throws {
    let (m, n, k) = shape
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    func draw(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -1...1, using: &rng) } }
    let a = Tensor(shape: [m, k], scalars: draw(m * k)), b = draw(k * n), bias = draw(m), z = draw(m * n)
    var sums = [Double](repeating: 0, count: m * n)
    for i in 0..<m { for j in 0..<n {
        var s = Double(bias[i]) + Double(z[i * n + j])
        for p in 0..<k { s += Double(a.scalars(as: Float.self)[i * k + p]) * Double(b[p * n + j]) }
        sums[i * n + j] = s
    } }
    let expected = sums.map { Float(activation($0)) }
    for transposed in [false, true] {
        let packed = PackedGemm.packedWeights(a, rows: m, groups: 1, transposed: transposed)
        for threads in [1, 2] {
            var c = [Float](repeating: .nan, count: m * n)
            b.withUnsafeBufferPointer { pb in z.withUnsafeBufferPointer { pz in bias.withUnsafeBufferPointer { pbias in
                c.withUnsafeMutableBufferPointer { pc in
                    PackedGemm.run(ThreadPool(threads: threads), m: m, n: n, k: k, a: elements(packed, Float.self),
                                   transposed: transposed, source: PackedGemm.matrix(pb.baseAddress!, columns: n),
                                   c: pc.baseAddress!, ldc: n, bias: pbias.baseAddress, z: pz.baseAddress, ldz: n,
                                   activation: activation)
                }
            } } }
            // a NaN (an unwritten cell) fails the comparison; `.max()` would pass over it
            let bad = c.indices.filter { !(abs(c[$0] - expected[$0]) <= 1e-4 * max(1, abs(expected[$0]))) }
            #expect(bad.isEmpty, "seed \(seed) m \(m) n \(n) k \(k) \(activation) transposed \(transposed) threads \(threads): \(bad.count) cells wrong, first \(bad.prefix(3).map { "[\($0)] \(c[$0]) vs \(expected[$0])" })")
        }
    }
}

/// Every activation with parameters that matter (a Clip that cuts both sides, a HardSigmoid
/// unlike HardSwish's).
let allActivations: [FusedActivation] = [.relu, .clip(min: -0.5, max: 2), .leakyRelu(alpha: 0.1), .sigmoid, .tanh,
                                         .hardSigmoid(alpha: 0.2, beta: 0.5), .silu, .hardSwish, .gelu, .geluTanh, .mish]

/// CGemm's vectorized activations (`vx_activate`, the epilogues' code) against the Double
/// reference on random values over the ranges that matter, the tails, and edge values (zeros,
/// denormals, where exp over- and underflows, infinities); lengths with vector tails.
@Test(.enabled(if: PackedGemm.available, "this CPU has no AVX2+FMA: Conv runs on OpenBLAS"), arguments: allActivations)
func packedGemmActivationsMatchReference(activation: FusedActivation) {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    let edges: [Float] = [0, -0.0, 1e-40, -1e-40, 1e-30, -1e-30, 1e-5, -1e-5, 0.625, -0.625, 3, -3, 20, -20, 21, -21, 87, -87,
                          88.5, -88.5, 89, -89, 1e4, -1e4, 3e38, -3e38, .infinity, -.infinity]
    let x = edges + (0..<4001).map { i in Float.random(in: i % 3 == 0 ? -100...100 : -8...8, using: &rng) }
    var y = x
    y.withUnsafeMutableBufferPointer { activation.apply($0.baseAddress!, count: $0.count) }
    let bad = x.indices.filter { i in
        let r = activation(Double(x[i]))
        if r.isNaN { return !y[i].isNaN }
        if r.isInfinite { return Double(y[i]) != r }
        return !(abs(Double(y[i]) - r) <= 1e-6 * max(1, abs(r)))
    }
    #expect(bad.isEmpty, "seed \(seed) \(activation): \(bad.count) wrong, first \(bad.prefix(4).map { "f(\(x[$0])) = \(y[$0]), not \(activation(Double(x[$0])))" })")
}

/// CGemm's direct depthwise conv (`vx_depthwise`) against a float64 reference on fresh random
/// planes: widths 1…19 (every tail of a vector's lanes, rows shorter than one vector), the
/// unrolled square kernels (3×3 and 5×5 at strides 1 and 2) and the generic loops (1×1, 3×5,
/// dilation 2), uneven pads, with bias, Z and SiLU; it writes its output plane and no float past
/// it (its partial stores are split into 4-, 2- and 1-lane plain stores).
@Test(.enabled(if: PackedGemm.available, "this CPU has no AVX2+FMA: Conv runs on OpenBLAS"))
func depthwiseDirectMatchesReferenceAndStaysInsideItsPlane() {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    var failures: [String] = []
    let silu = FusedActivation.silu
    for width in 1...19 {
        for (kh, kw, stride, dilation) in [(1, 1, 1, 1), (3, 3, 1, 1), (3, 3, 2, 1), (5, 5, 1, 1), (5, 5, 2, 1),
                                           (3, 5, 2, 1), (3, 3, 1, 2)] {
            let reachH = (kh - 1) * dilation + 1, reachW = (kw - 1) * dilation + 1
            let h = Int.random(in: 1...12, using: &rng), top = Int.random(in: 0...reachH / 2, using: &rng)
            let left = Int.random(in: 0...reachW / 2, using: &rng), right = Int.random(in: 0...reachW / 2, using: &rng)
            let oh = (h + 2 * top - reachH) / stride + 1, ow = (width + left + right - reachW) / stride + 1
            guard oh > 0, ow > 0 else { continue }
            let x = (0..<(h * width)).map { _ in Float.random(in: -2...2, using: &rng) }
            let w = (0..<(kh * kw)).map { _ in Float.random(in: -1...1, using: &rng) }
            let z = (0..<(oh * ow)).map { _ in Float.random(in: -1...1, using: &rng) }
            let bias = Float.random(in: -1...1, using: &rng), sentinel: Float = 12345
            var y = [Float](repeating: sentinel, count: oh * ow + 16)
            x.withUnsafeBufferPointer { px in w.withUnsafeBufferPointer { pw in z.withUnsafeBufferPointer { pz in
                var source = vx_source(x: px.baseAddress, h: Int32(h), w: Int32(width), kh: Int32(kh), kw: Int32(kw),
                                       stride_h: Int32(stride), stride_w: Int32(stride),
                                       dilation_h: Int32(dilation), dilation_w: Int32(dilation),
                                       pad_top: Int32(top), pad_left: Int32(left), oh: Int32(oh), ow: Int32(ow))
                y.withUnsafeMutableBufferPointer { py in
                    vx_depthwise(&source, pw.baseAddress, bias, pz.baseAddress, py.baseAddress, FusedActivation.kernel(.silu))
                }
            } } }
            var wrong = 0
            for oy in 0..<oh { for ox in 0..<ow {
                var s = Double(bias) + Double(z[oy * ow + ox])
                for ky in 0..<kh { for kx in 0..<kw {
                    let iy = oy * stride + ky * dilation - top, ix = ox * stride + kx * dilation - left
                    if iy >= 0, iy < h, ix >= 0, ix < width { s += Double(w[ky * kw + kx]) * Double(x[iy * width + ix]) }
                } }
                let r = silu(s)
                if !(abs(Double(y[oy * ow + ox]) - r) <= 1e-5 * max(1, abs(r))) { wrong += 1 }
            } }
            let spilled = y[(oh * ow)...].filter { $0 != sentinel }.count
            if wrong > 0 || spilled > 0 {
                failures.append("\(h)×\(width) k \(kh)×\(kw) stride \(stride) dilation \(dilation) pads \(top),\(left),\(right): \(wrong) wrong, \(spilled) written past the plane")
            }
        }
    }
    #expect(failures.isEmpty, "seed \(seed): \(failures.prefix(4))")
}

/// CGemm's channel-blocked depthwise conv (`vx_depthwise_blocked`) against a float64 reference
/// on fresh random planes: maps 1…15 wide (rows shorter than the 2×4 output blocks, every tail
/// of 8 positions), 3×3 and 5×5 (unrolled) and 1×1, 3×5, dilation 2 (generic) at strides 1 and 2,
/// uneven pads, 1…11 channels over two images (blocks of 8 planes that end short and wrap into the
/// next image's channels), a range of the planes, with and without bias and Z, each activation;
/// it writes the range's planes and nothing else.
@Test(.enabled(if: PackedGemm.available, "this CPU has no AVX2+FMA: Conv runs on OpenBLAS"))
func depthwiseBlockedMatchesReferenceAndWritesOnlyItsPlanes() {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    var failures: [String] = []
    let shapes = [(1, 1, 1, 1), (3, 3, 1, 1), (3, 3, 2, 1), (5, 5, 1, 1), (5, 5, 2, 1), (3, 5, 2, 1), (3, 3, 1, 2)]
    for width in 1...15 {
        for (kh, kw, stride, dilation) in shapes {
            let reachH = (kh - 1) * dilation + 1, reachW = (kw - 1) * dilation + 1
            let h = Int.random(in: 1...12, using: &rng), top = Int.random(in: 0...reachH / 2, using: &rng)
            let left = Int.random(in: 0...reachW / 2, using: &rng), right = Int.random(in: 0...reachW / 2, using: &rng)
            let oh = (h + 2 * top - reachH) / stride + 1, ow = (width + left + right - reachW) / stride + 1
            guard oh > 0, ow > 0 else { continue }
            let channels = Int.random(in: 1...11, using: &rng), planes = 2 * channels
            let first = Int.random(in: 0..<planes, using: &rng), count = Int.random(in: 1...(planes - first), using: &rng)
            let activation = allActivations.randomElement(using: &rng)!, useZ = Bool.random(using: &rng)
            let useBias = Bool.random(using: &rng)
            let inSize = h * width, outSize = oh * ow
            let x = (0..<(planes * inSize)).map { _ in Float.random(in: -2...2, using: &rng) }
            let w = (0..<(channels * kh * kw)).map { _ in Float.random(in: -1...1, using: &rng) }
            let z = (0..<(planes * outSize)).map { _ in Float.random(in: -1...1, using: &rng) }
            let bias = (0..<channels).map { _ in Float.random(in: -1...1, using: &rng) }
            let sentinel: Float = 12345
            var y = [Float](repeating: sentinel, count: planes * outSize)
            x.withUnsafeBufferPointer { px in w.withUnsafeBufferPointer { pw in z.withUnsafeBufferPointer { pz in
                bias.withUnsafeBufferPointer { pb in y.withUnsafeMutableBufferPointer { py in
                    var source = vx_source(x: px.baseAddress, h: Int32(h), w: Int32(width), kh: Int32(kh), kw: Int32(kw),
                                           stride_h: Int32(stride), stride_w: Int32(stride),
                                           dilation_h: Int32(dilation), dilation_w: Int32(dilation),
                                           pad_top: Int32(top), pad_left: Int32(left), oh: Int32(oh), ow: Int32(ow))
                    vx_depthwise_blocked(&source, Int32(first), Int32(count), Int32(channels), inSize, outSize, pw.baseAddress,
                                         useBias ? pb.baseAddress : nil, useZ ? pz.baseAddress : nil, py.baseAddress,
                                         FusedActivation.kernel(activation))
                } }
            } } }
            var wrong = 0, stray = 0
            for plane in 0..<planes {
                let ch = plane % channels, inside = (first..<first + count).contains(plane)
                for oy in 0..<oh { for ox in 0..<ow {
                    let got = y[plane * outSize + oy * ow + ox]
                    guard inside else { if got != sentinel { stray += 1 }; continue }
                    var s = (useBias ? Double(bias[ch]) : 0) + (useZ ? Double(z[plane * outSize + oy * ow + ox]) : 0)
                    for ky in 0..<kh { for kx in 0..<kw {
                        let iy = oy * stride + ky * dilation - top, ix = ox * stride + kx * dilation - left
                        if iy >= 0, iy < h, ix >= 0, ix < width {
                            s += Double(w[ch * kh * kw + ky * kw + kx]) * Double(x[plane * inSize + iy * width + ix])
                        }
                    } }
                    let r = activation(s)
                    if !(abs(Double(got) - r) <= 1e-5 * max(1, abs(r))) { wrong += 1 }
                } }
            }
            if wrong > 0 || stray > 0 {
                failures.append("\(h)×\(width) k \(kh)×\(kw) stride \(stride) dilation \(dilation) pads \(top),\(left),\(right) channels \(channels) planes \(first)..<\(first + count) \(activation) z \(useZ) bias \(useBias): \(wrong) wrong, \(stray) written outside the planes")
            }
        }
    }
    #expect(failures.isEmpty, "seed \(seed): \(failures.prefix(4))")
}

/// CGemm's direct conv of few input channels (`vx_conv_few_channels`) against a float64
/// reference on fresh random images: output rows 1…40 wide (one and two vectors, every tail),
/// 1…4 input channels, 1…13 output channels (every channel block size), 3×3, 5×5, 7×7, 1×3 and
/// dilation 2 at horizontal strides 1 and 2 (vertical 1…3), uneven pads, a range of output rows,
/// with and without bias and Z, each activation; it writes those rows and nothing else.
@Test(.enabled(if: PackedGemm.available, "this CPU has no AVX2+FMA: Conv runs on OpenBLAS"))
func fewChannelsConvMatchesReferenceAndWritesOnlyItsRows() {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    var failures: [String] = []
    let kernels = [(3, 3, 1), (5, 5, 1), (7, 7, 1), (1, 3, 1), (3, 3, 2)]
    for width in 1...40 {
        for (kh, kw, dilation) in kernels {
            let strideW = Int.random(in: 1...2, using: &rng), strideH = Int.random(in: 1...3, using: &rng)
            let reachH = (kh - 1) * dilation + 1, reachW = (kw - 1) * dilation + 1
            let h = Int.random(in: 1...9, using: &rng), top = Int.random(in: 0...reachH / 2, using: &rng)
            let left = Int.random(in: 0...reachW / 2, using: &rng), right = Int.random(in: 0...reachW / 2, using: &rng)
            let oh = (h + 2 * top - reachH) / strideH + 1, ow = (width + left + right - reachW) / strideW + 1
            guard oh > 0, ow > 0 else { continue }
            let channels = Int.random(in: 1...4, using: &rng), m = Int.random(in: 1...13, using: &rng)
            let oy0 = Int.random(in: 0..<oh, using: &rng), oy1 = Int.random(in: oy0 + 1...oh, using: &rng)
            let activation = allActivations.randomElement(using: &rng)!, useZ = Bool.random(using: &rng)
            let useBias = Bool.random(using: &rng)
            let inSize = h * width, outSize = oh * ow, taps = channels * kh * kw
            let x = (0..<(channels * inSize)).map { _ in Float.random(in: -2...2, using: &rng) }
            let w = (0..<(m * taps)).map { _ in Float.random(in: -1...1, using: &rng) }
            let z = (0..<(m * outSize)).map { _ in Float.random(in: -1...1, using: &rng) }
            let bias = (0..<m).map { _ in Float.random(in: -1...1, using: &rng) }
            let sentinel: Float = 12345
            var y = [Float](repeating: sentinel, count: m * outSize)
            x.withUnsafeBufferPointer { px in w.withUnsafeBufferPointer { pw in z.withUnsafeBufferPointer { pz in
                bias.withUnsafeBufferPointer { pb in y.withUnsafeMutableBufferPointer { py in
                    var source = vx_source(x: px.baseAddress, h: Int32(h), w: Int32(width), kh: Int32(kh), kw: Int32(kw),
                                           stride_h: Int32(strideH), stride_w: Int32(strideW),
                                           dilation_h: Int32(dilation), dilation_w: Int32(dilation),
                                           pad_top: Int32(top), pad_left: Int32(left), oh: Int32(oh), ow: Int32(ow))
                    vx_conv_few_channels(&source, Int32(channels), inSize, Int32(m), pw.baseAddress, useBias ? pb.baseAddress : nil,
                                         useZ ? pz.baseAddress : nil, py.baseAddress, outSize, FusedActivation.kernel(activation),
                                         Int32(oy0), Int32(oy1))
                } }
            } } }
            var wrong = 0, stray = 0
            for j in 0..<m {
                for oy in 0..<oh { for ox in 0..<ow {
                    let got = y[j * outSize + oy * ow + ox]
                    guard (oy0..<oy1).contains(oy) else { if got != sentinel { stray += 1 }; continue }
                    var s = (useBias ? Double(bias[j]) : 0) + (useZ ? Double(z[j * outSize + oy * ow + ox]) : 0)
                    for ci in 0..<channels { for ky in 0..<kh { for kx in 0..<kw {
                        let iy = oy * strideH + ky * dilation - top, ix = ox * strideW + kx * dilation - left
                        if iy >= 0, iy < h, ix >= 0, ix < width {
                            s += Double(w[((j * channels + ci) * kh + ky) * kw + kx]) * Double(x[ci * inSize + iy * width + ix])
                        }
                    } } }
                    let r = activation(s)
                    if !(abs(Double(got) - r) <= 1e-5 * max(1, abs(r))) { wrong += 1 }
                } }
            }
            if wrong > 0 || stray > 0 {
                failures.append("\(h)×\(width) k \(kh)×\(kw) strides \(strideH),\(strideW) dilation \(dilation) pads \(top),\(left),\(right) channels \(channels)→\(m) rows \(oy0)..<\(oy1) \(activation) z \(useZ) bias \(useBias): \(wrong) wrong, \(stray) written outside the rows")
            }
        }
    }
    #expect(failures.isEmpty, "seed \(seed): \(failures.prefix(4))")
}

@Test func storageCacheArenaReusesMergedRangesAndUnmapsIdleChunks() throws {
    var arena = StorageCache.Arena()
    let page = 4096, size = 300 * page
    let first = try arena.take(size) ?? arena.grow(size)
    #expect(arena.chunks.count == 1 && arena.chunks[0].size >= StorageCache.chunkBytes)
    arena.give(first, size: size, chunk: 0)
    #expect(arena.take(size) == first)
    // neighbours given back merge into one range, which a larger block then fits
    let a = arena.take(size)!, b = arena.take(size)!
    #expect(a == first + UInt(size) && b == a + UInt(size))
    arena.give(a, size: size, chunk: 0)
    arena.give(b, size: size, chunk: 0)
    #expect(arena.take(2 * size) == a)
    // the tightest fit wins: a one-block hole before the chunk's free tail
    arena.give(first, size: size, chunk: 0)
    #expect(arena.take(size / 2) == first)
    #expect(arena.chunks[0].idleSince == nil)
    arena.give(first, size: size / 2, chunk: 0)
    arena.give(a, size: 2 * size, chunk: 0)
    #expect(arena.chunks[0].free == [0..<arena.chunks[0].size] && arena.chunks[0].idleSince == 0)
    // a request larger than a chunk gets a chunk of its own
    let big = StorageCache.chunkBytes + page
    _ = try arena.take(big) ?? arena.grow(big)
    #expect(arena.chunks.count == 2 && arena.chunks[1].size >= big)
    StorageCache.unmap(arena.remove { _ in true })
    #expect(arena.chunks.count == 1)
    arena.give(arena.chunks[0].base, size: big, chunk: 0)
    StorageCache.unmap(arena.remove { _ in true })
    #expect(arena.chunks.isEmpty)
    // storages that outlive runs are mapped on their own, inside a run or not
    StorageCache.duringRun {
        let lasting = StorageCache.lasting { StorageCache.allocate(byteCount: size) }
        #expect(!StorageCache.inArena(lasting))
        StorageCache.release(lasting, byteCount: size)
    }
}

/// Float32 MatMul (CGemm's packed path, and GEMV for single rows) against a float64 reference
/// on random inputs: 1×1 and single rows or columns, odd sizes with row and column tails, K
/// over one block, batches broadcast from either side, a 2-D B (packed once, the batches
/// stacked, also batches of one row each), one and two threads.
@Test(arguments: [([1, 1], [1, 1]), ([1, 5], [5, 70]), ([9, 1], [1, 3]), ([7, 13], [13, 37]), ([3, 40, 300], [300, 130]),
                  ([2, 1, 17, 64], [3, 64, 65]), ([12, 33, 16], [12, 16, 50]), ([4, 9, 20], [20]), ([20], [5, 20, 9]),
                  ([1, 2, 3, 8, 8], [2, 1, 8, 8]), ([130, 257], [257, 2]), ([37, 1, 19], [19, 67]), ([2, 1, 1, 9], [9, 3])])
func packedGemmRunsMatMul(aShape: [Int], bShape: [Int]) throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    func draw(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
    }
    let a = draw(aShape), b = draw(bShape)
    let node = Node(name: "n", opType: "MatMul", inputs: ["a", "b"], outputs: ["y"])
    let pool1 = ThreadPool(threads: 1)
    let plan = try MatrixKernels.MatMulPlan(aShape, bShape, KernelContext(node: node, inputs: [a, b], opset: 22, pool: pool1))
    let pa = a.scalars(as: Float.self), pb = b.scalars(as: Float.self)
    let expected = reference(plan, pa, pb)
    for threads in [1, 2] {
        let y = try CPUKernels.matMul(KernelContext(node: node, inputs: [a, b], opset: 22, pool: ThreadPool(threads: threads)))[0]
        #expect(y.shape == plan.outShape)
        let got = y.scalars(as: Float.self)
        let bad = got.indices.filter { !(abs(got[$0] - expected[$0]) <= 1e-4 * max(1, abs(expected[$0]))) }
        #expect(bad.isEmpty, "seed \(seed) \(aShape)×\(bShape) threads \(threads): \(bad.count) wrong, first \(bad.prefix(3).map { "[\($0)] \(got[$0]) vs \(expected[$0])" })")
    }
}

/// Float32 Gemm against a float64 reference on random inputs: both transpositions, C absent,
/// [N], [1, N], [M, N] and a column [M, 1] (which the packed epilogue leaves to OpenBLAS), alpha
/// and beta 1 or not, odd sizes, a single row, one and two threads.
@Test(arguments: [(1, 5, 70), (9, 1, 3), (13, 37, 7), (40, 130, 300), (33, 2, 257)])
func packedGemmRunsGemm(m: Int, n: Int, k: Int) throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    func draw(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
    }
    for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
        for (cShape, alpha, beta) in [(nil, 1, 1), ([n], 1, 1), ([1, n], 1, 1), ([m, n], 1, 1), ([m, 1], 1, 1), ([m, n], 0.5, 2)] as [([Int]?, Float, Float)] {
            let a = draw(transA ? [k, m] : [m, k]), b = draw(transB ? [n, k] : [k, n]), c = cShape.map(draw)
            let pa = a.scalars(as: Float.self), pb = b.scalars(as: Float.self), pc = c?.scalars(as: Float.self)
            var expected = [Float]()
            for i in 0..<m { for j in 0..<n {
                var s = 0.0
                for q in 0..<k { s += Double(pa[transA ? q * m + i : i * k + q]) * Double(pb[transB ? j * k + q : q * n + j]) }
                let cv = pc.map { v in Double(v[cShape == [m, n] ? i * n + j : cShape == [m, 1] ? i : j]) } ?? 0
                expected.append(Float(Double(alpha) * s + Double(beta) * cv))
            } }
            let node = Node(name: "n", opType: "Gemm", inputs: ["a", "b"] + (c == nil ? [] : ["c"]), outputs: ["y"],
                            attributes: ["transA": .int(transA ? 1 : 0), "transB": .int(transB ? 1 : 0), "alpha": .float(alpha), "beta": .float(beta)])
            for threads in [1, 2] {
                let y = try CPUKernels.gemm(KernelContext(node: node, inputs: [a, b] + (c == nil ? [] : [c]), opset: 22, pool: ThreadPool(threads: threads)))[0]
                let got = y.scalars(as: Float.self)
                let bad = got.indices.filter { !(abs(got[$0] - expected[$0]) <= 1e-4 * max(1, abs(expected[$0]))) }
                #expect(y.shape == [m, n] && bad.isEmpty, "seed \(seed) m \(m) n \(n) k \(k) trans \(transA) \(transB) C \(cShape ?? []) alpha \(alpha) beta \(beta) threads \(threads): \(bad.count) wrong")
            }
        }
    }
}

/// vonnx TransposedMatMul (operands read through transposed strides, the bias added as stored)
/// against Transpose then MatMul (then the bias): attention's Q·Kᵀ and P·V head layouts, a
/// transposed A (column stride not 1) and B (row stride 1), a broadcast batch, a 2-D case, and
/// one side left as is, a sequence of single rows through a 2-D B (stacked into one product, B
/// as is or transposed; not stacked when A's rows are strided); without and with a bias, with
/// Gelu after the bias and SiLU after none (the activation epilogue), one and two threads.
@Test(arguments: [([2, 9, 3, 4], [0, 2, 1, 3], [2, 9, 3, 4], [0, 2, 3, 1]), ([2, 3, 9, 9], nil, [2, 9, 3, 5], [0, 2, 1, 3]),
                  ([5, 7], [1, 0], [11, 5], [1, 0]), ([1, 6, 13], [0, 2, 1], [4, 13, 6], [0, 2, 1]),
                  ([3, 17, 40], [2, 0, 1], [17, 33], nil), ([23, 1, 19], nil, [19, 70], nil), ([23, 1, 19], nil, [70, 19], [1, 0]),
                  ([1, 23, 19], [1, 0, 2], [19, 70], nil)] as [([Int], [Int]?, [Int], [Int]?)])
func packedGemmRunsTransposedMatMul(aShape: [Int], permA: [Int]?, bShape: [Int], permB: [Int]?) throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    func draw(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
    }
    let a = draw(aShape), b = draw(bShape)
    var attributes: [String: Attribute] = [:]
    if let permA { attributes["permA"] = .ints(permA) }
    if let permB { attributes["permB"] = .ints(permB) }
    let pool = ThreadPool(threads: 1)
    func transposed(_ t: Tensor, _ perm: [Int]?) throws -> Tensor {
        guard let perm else { return t }
        let n = Node(name: "t", opType: "Transpose", inputs: ["x"], outputs: ["y"], attributes: ["perm": .ints(perm)])
        return try CPUKernels.transpose(KernelContext(node: n, inputs: [t], opset: 22, pool: pool))[0]
    }
    let ta = try transposed(a, permA), tb = try transposed(b, permB)
    let probe = Node(name: "n", opType: "TransposedMatMul", domain: "vonnx", inputs: [], outputs: [])
    let plan = try MatrixKernels.MatMulPlan(ta.shape, tb.shape, KernelContext(node: probe, inputs: [ta, tb], opset: 22, pool: pool))
    let pa = ta.scalars(as: Float.self), pb = tb.scalars(as: Float.self)
    let expected = reference(plan, pa, pb)
    let bias = draw([plan.n]), pbias = bias.scalars(as: Float.self)
    let cases: [(Int, Bool, FusedActivation?)] = [(1, false, nil), (2, false, nil), (1, true, nil), (2, true, nil), (2, true, .gelu), (1, false, .silu)]
    for (threads, withBias, activation) in cases {
        let inputs = [a, b] + (withBias ? [bias] : [])
        let node = Node(name: "n", opType: "TransposedMatMul", domain: "vonnx", inputs: withBias ? ["a", "b", "c"] : ["a", "b"], outputs: ["y"],
                        attributes: attributes.merging(activation?.attributes ?? [:]) { $1 })
        let y = try CPUKernels.transposedMatMul(KernelContext(node: node, inputs: inputs, opset: 22, pool: ThreadPool(threads: threads)))[0]
        let got = y.scalars(as: Float.self)
        let want = expected.indices.map { i in
            let v = Double(expected[i] + (withBias ? pbias[i % plan.n] : 0))
            return Float(activation.map { $0(v) } ?? v)
        }
        let bad = got.indices.filter { !(abs(got[$0] - want[$0]) <= 1e-4 * max(1, abs(want[$0]))) }
        #expect(y.shape == plan.outShape && bad.isEmpty,
                "seed \(seed) \(aShape) \(permA ?? []) × \(bShape) \(permB ?? []) threads \(threads) bias \(withBias) \(activation?.name ?? "-"): \(bad.count) wrong")
    }
}

/// vonnx PackedMatMul (B packed ahead by `packedMatMulWeight`, as is or transposed) against a
/// float64 reference, and bit for bit against TransposedMatMul over the same weight where that
/// runs the packed kernel too (more than one row): single rows (which only PackedMatMul runs
/// packed), stacked batches, a strided A, with and without a bias and an activation, one and
/// two threads.
@Test(.enabled(if: PackedGemm.available, "this CPU has no AVX2+FMA: MatMul weights are not packed ahead"),
      arguments: [([1, 19], nil, [19, 70], false), ([23, 1, 19], nil, [70, 19], true), ([2, 9, 40], nil, [40, 33], false),
                  ([3, 17, 40], [2, 0, 1], [17, 33], false), ([1, 1, 64], nil, [130, 64], true), ([7, 300], nil, [300, 2], false)]
      as [([Int], [Int]?, [Int], Bool)])
func packedGemmRunsPackedMatMul(aShape: [Int], permA: [Int]?, bShape: [Int], transposedB: Bool) throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    func draw(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
    }
    let a = draw(aShape), b = draw(bShape)
    let (k, n) = transposedB ? (bShape[1], bShape[0]) : (bShape[0], bShape[1])
    let (packed, panel) = try #require(CPUKernels.packedMatMulWeight(b, transposed: transposedB))
    let pool = ThreadPool(threads: 1)
    let ta = permA.map { perm in
        try! CPUKernels.transpose(KernelContext(node: Node(name: "t", opType: "Transpose", inputs: ["x"], outputs: ["y"], attributes: ["perm": .ints(perm)]),
                                                inputs: [a], opset: 22, pool: pool))[0]
    } ?? a
    let pb = b.scalars(as: Float.self)
    let bMatrix = (0..<k * n).map { i in transposedB ? pb[(i % n) * k + i / n] : pb[i] }
    let probe = Node(name: "n", opType: "MatMul", inputs: [], outputs: [])
    let plan = try MatrixKernels.MatMulPlan(ta.shape, [k, n], KernelContext(node: probe, inputs: [], opset: 22, pool: pool))
    let expected = reference(plan, ta.scalars(as: Float.self), bMatrix)
    let bias = draw([n]), pbias = bias.scalars(as: Float.self)
    var attributes: [String: Attribute] = ["k": .int(k), "n": .int(n), "panel": .int(panel)]
    if let permA { attributes["permA"] = .ints(permA) }
    // panels of another width are another CPU's layout: refused, never misread
    let foreign = Node(name: "n", opType: "PackedMatMul", domain: "vonnx", inputs: ["a", "b"], outputs: ["y"],
                       attributes: attributes.merging(["panel": .int(panel * 2)]) { $1 })
    #expect(throws: VonnxError.self) { try CPUKernels.packedMatMul(KernelContext(node: foreign, inputs: [a, packed], opset: 22, pool: pool)) }
    for (threads, withBias, activation) in [(1, false, nil), (2, false, nil), (2, true, nil), (1, true, .gelu)] as [(Int, Bool, FusedActivation?)] {
        let all = attributes.merging(activation?.attributes ?? [:]) { $1 }
        let names = withBias ? ["a", "b", "c"] : ["a", "b"]
        let node = Node(name: "n", opType: "PackedMatMul", domain: "vonnx", inputs: names, outputs: ["y"], attributes: all)
        let y = try CPUKernels.packedMatMul(KernelContext(node: node, inputs: [a, packed] + (withBias ? [bias] : []), opset: 22,
                                                          pool: ThreadPool(threads: threads)))[0]
        let got = y.scalars(as: Float.self)
        let want = expected.indices.map { i in
            let v = Double(expected[i] + (withBias ? pbias[i % n] : 0))
            return Float(activation.map { $0(v) } ?? v)
        }
        let bad = got.indices.filter { !(abs(got[$0] - want[$0]) <= 1e-4 * max(1, abs(want[$0]))) }
        #expect(y.shape == plan.outShape && bad.isEmpty, "seed \(seed) \(aShape) × \(bShape) threads \(threads): \(bad.count) wrong")
        guard plan.batch * plan.m > 1 else { continue }
        var unpacked = all
        unpacked["k"] = nil; unpacked["n"] = nil; unpacked["panel"] = nil
        if transposedB { unpacked["permB"] = .ints([1, 0]) }
        let plain = Node(name: "n", opType: "TransposedMatMul", domain: "vonnx", inputs: names, outputs: ["y"], attributes: unpacked)
        let same = try CPUKernels.transposedMatMul(KernelContext(node: plain, inputs: [a, b] + (withBias ? [bias] : []), opset: 22,
                                                                 pool: ThreadPool(threads: threads)))[0]
        #expect(same.scalars(as: Float.self) == got, "seed \(seed) \(aShape) × \(bShape) threads \(threads): differs from TransposedMatMul")
    }
}

/// vonnx SoftmaxAttention against a float64 reference of Softmax(scale·(A·B) (+ D))·C on random
/// inputs (named packedGemm… so that test.sh reruns it on the AVX2 kernel): SVTR's and ViT's
/// head layouts (Q, Kᵀ and V read through their perms), queries split into several blocks
/// with a ragged last one (33: two full blocks and one query on AVX2, one full and one on
/// AVX-512), V wider than a block, a broadcast batch, one query row, one key, a V broadcasting past
/// the scores' batch (the unfused path) and float64 (likewise); one and two threads; without a
/// mask D, with a padding mask (the scores' first axis and columns, broadcast over the rest) and
/// with one of the scores' own shape. The result transposed by `permY`: SVTR's heads back to
/// [B, N, H, d], batch axes swapped, rows strided across a rank-3 batch (the kernel's stores),
/// and perms moving the last axis (a Transpose after the unfused steps).
@Test(arguments: [([1, 150, 2, 8], [0, 2, 1, 3], [1, 1100, 2, 8], [0, 2, 3, 1], [1, 1100, 2, 5], [0, 2, 1, 3], Float(0.35), DataType.float, [0, 2, 1, 3]),
                  ([1, 150, 2, 8], [0, 2, 1, 3], [1, 1100, 2, 8], [0, 2, 3, 1], [1, 1100, 2, 5], [0, 2, 1, 3], Float(0.35), DataType.float, nil),
                  ([2, 3, 13, 4], nil, [2, 3, 4, 9], nil, [2, 3, 9, 6], nil, 1, .float, [1, 0, 2, 3]),
                  ([2, 3, 13, 4], nil, [2, 3, 4, 9], nil, [2, 3, 9, 6], nil, 1, .float, nil),
                  ([3, 33, 19], nil, [3, 19, 3], nil, [3, 3, 37], nil, 0.125, .float, [1, 0, 2]),
                  ([3, 1, 7], nil, [7, 40], nil, [40, 3], nil, 2, .float, [0, 2, 1]),
                  ([4, 9, 5], [0, 2, 1], [1, 9, 1], nil, [4, 1, 6], nil, 0.5, .float, nil),
                  ([2, 5, 3], nil, [2, 3, 5], nil, [3, 2, 5, 4], nil, 1, .float, [3, 1, 2, 0]),
                  ([2, 6, 3], nil, [2, 3, 7], nil, [2, 7, 2], nil, 0.25, .double, [1, 0, 2])]
                 as [([Int], [Int]?, [Int], [Int]?, [Int], [Int]?, Float, DataType, [Int]?)])
func packedGemmRunsSoftmaxAttention(_ q: [Int], _ permQ: [Int]?, _ k: [Int], _ permK: [Int]?, _ v: [Int], _ permV: [Int]?,
                                      scale: Float, type: DataType, permY: [Int]?) throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    let pool = ThreadPool(threads: 1)
    func draw(_ shape: [Int]) -> Tensor {
        let values = (0..<shape.reduce(1, *)).map { _ in Double.random(in: -2...2, using: &rng) }
        return type == .float ? Tensor(shape: shape, scalars: values.map { Float($0) }) : Tensor(shape: shape, scalars: values)
    }
    /// `t` transposed by `perm`, as float64 values and their shape.
    func seen(_ t: Tensor, _ perm: [Int]?) throws -> (shape: [Int], values: [Double]) {
        guard let perm else { return (t.shape, t.doubles()) }
        let n = Node(name: "t", opType: "Transpose", inputs: ["x"], outputs: ["y"], attributes: ["perm": .ints(perm)])
        let y = try CPUKernels.transpose(KernelContext(node: n, inputs: [t], opset: 22, pool: pool))[0]
        return (y.shape, y.doubles())
    }
    let tq = draw(q), tk = draw(k), tv = draw(v)
    var attributes: [String: Attribute] = ["scale": .float(scale)]
    for (name, perm) in [("permA", permQ), ("permB", permK), ("permC", permV), ("permY", permY)] { if let perm { attributes[name] = .ints(perm) } }
    let (sq, pq) = try seen(tq, permQ), (sk, pk) = try seen(tk, permK), (sv, pv) = try seen(tv, permV)
    let probe = KernelContext(node: Node(name: "n", opType: "SoftmaxAttention", domain: "vonnx", inputs: [], outputs: []), inputs: [], opset: 22, pool: pool)
    let first = try MatrixKernels.MatMulPlan(sq, sk, probe), second = try MatrixKernels.MatMulPlan(first.outShape, sv, probe)
    let dims = first.outShape
    for mask in [nil, draw(dims.indices.map { $0 == 0 || $0 == dims.count - 1 ? dims[$0] : 1 }), draw(dims)] {
        let strides = mask.map { broadcastStrides($0.shape, to: dims) } ?? [], masks = mask?.doubles() ?? []
        /// The mask's value at the scores' batch `i`, row `r`, column `c`.
        func added(_ i: Int, _ r: Int, _ c: Int) -> Double {
            guard mask != nil else { return 0 }
            var rest = i, offset = r * strides[dims.count - 2] + c * strides[dims.count - 1]
            for axis in stride(from: dims.count - 3, through: 0, by: -1) { offset += rest % dims[axis] * strides[axis]; rest /= dims[axis] }
            return masks[offset]
        }
        var expected = [Double](repeating: 0, count: second.outShape.reduce(1, *))
        for i in 0..<second.batch {
            let si = second.aOffsets[i] / (first.m * first.n)  // the scores' batch this output batch reads
            for r in 0..<first.m {
                let s = (0..<first.n).map { c in
                    Double(scale) * (0..<first.k).reduce(0.0) { $0 + pq[first.aOffsets[si] + r * first.k + $1] * pk[first.bOffsets[si] + $1 * first.n + c] }
                        + added(si, r, c)
                }
                let top = s.max()!, e = s.map { Glibc.exp($0 - top) }, sum = e.reduce(0, +)
                for c in 0..<second.n {
                    expected[(i * first.m + r) * second.n + c] = (0..<first.n).reduce(0.0) { $0 + e[$1] / sum * pv[second.bOffsets[i] + $1 * second.n + c] }
                }
            }
        }
        let (yShape, wanted) = try seen(Tensor(shape: second.outShape, scalars: expected), permY)
        let node = Node(name: "n", opType: "SoftmaxAttention", domain: "vonnx", inputs: ["q", "k", "v"] + (mask == nil ? [] : ["d"]),
                        outputs: ["y"], attributes: attributes)
        for threads in [1, 2] {
            let inputs = [tq, tk, tv] + (mask.map { [$0] } ?? [])
            let y = try CPUKernels.softmaxAttention(KernelContext(node: node, inputs: inputs, opset: 22, pool: ThreadPool(threads: threads)))[0]
            let got = y.doubles()
            let bad = got.indices.filter { !(abs(got[$0] - wanted[$0]) <= 1e-5 * max(1, abs(wanted[$0]))) }
            #expect(y.shape == yShape && y.dataType == type && bad.isEmpty,
                    "seed \(seed) \(q) \(k) \(v) mask \(mask?.shape ?? []) permY \(permY ?? []) threads \(threads): \(y.shape) vs \(yShape), \(bad.count) wrong")
        }
    }
}

/// `plan`'s batched product of row-major `a` and `b`, summed in Double: the kernels' reference.
private func reference(_ plan: MatrixKernels.MatMulPlan, _ a: [Float], _ b: [Float]) -> [Float] {
    var out = [Float]()
    for i in 0..<plan.batch { for r in 0..<plan.m { for c in 0..<plan.n {
        var s = 0.0
        for q in 0..<plan.k { s += Double(a[plan.aOffsets[i] + r * plan.k + q]) * Double(b[plan.bOffsets[i] + q * plan.n + c]) }
        out.append(Float(s))
    } } }
    return out
}
