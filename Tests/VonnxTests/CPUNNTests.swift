import Testing
@testable import VonnxCPU
@testable import VonnxIR

private func run(_ kernel: CPUKernel, _ op: String, _ inputs: [Tensor?], _ attributes: [String: Attribute] = [:],
                 outputs: Int = 1, opset: Int = 22, threads: Int = 2) throws -> [Tensor] {
    let names = inputs.indices.map { inputs[$0] == nil ? "" : "x\($0)" }
    let node = Node(name: "n", opType: op, inputs: names, outputs: (0..<outputs).map { "y\($0)" }, attributes: attributes)
    return try kernel(KernelContext(node: node, inputs: inputs, opset: opset, pool: ThreadPool(threads: threads)))
}

/// Deterministic pseudo-random floats in [-1, 1).
private func noise(_ count: Int, seed: UInt64) -> [Float] {
    var s = seed
    return (0..<count).map { _ in
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int(s >> 40) % 2000 - 1000) / 1000
    }
}

/// Direct 2-D convolution (the definition) to check im2col + GEMM against.
private func naiveConv2D(_ x: [Float], _ xs: [Int], _ w: [Float], _ ws: [Int], group: Int, stride: [Int], pads: [Int],
                         dilation: [Int]) -> ([Float], [Int]) {
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]), (m, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3])
    let oh = (h + pads[0] + pads[2] - dilation[0] * (kh - 1) - 1) / stride[0] + 1
    let ow = (wd + pads[1] + pads[3] - dilation[1] * (kw - 1) - 1) / stride[1] + 1
    var y = [Float](repeating: 0, count: n * m * oh * ow)
    let mg = m / group
    for b in 0..<n { for o in 0..<m { for i in 0..<oh { for j in 0..<ow {
        var s: Float = 0
        let g = o / mg
        for ci in 0..<cg { for a in 0..<kh { for e in 0..<kw {
            let hh = i * stride[0] - pads[0] + a * dilation[0], ww = j * stride[1] - pads[1] + e * dilation[1]
            guard hh >= 0, hh < h, ww >= 0, ww < wd else { continue }
            s += x[((b * c + g * cg + ci) * h + hh) * wd + ww] * w[((o * cg + ci) * kh + a) * kw + e]
        } } }
        y[((b * m + o) * oh + i) * ow + j] = s
    } } } }
    _ = c
    return (y, [n, m, oh, ow])
}

private func close(_ a: [Float], _ b: [Float], tolerance: Float = 1e-4) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
}

@Test(arguments: [
    (xs: [2, 4, 9, 7], ws: [6, 2, 3, 3], group: 2, stride: [2, 1], pads: [1, 0, 2, 1], dilation: [1, 2]),
    (xs: [1, 3, 8, 8], ws: [5, 3, 1, 1], group: 1, stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1]),
    (xs: [1, 8, 6, 6], ws: [8, 1, 3, 3], group: 8, stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1]),
    (xs: [1, 2, 40, 40], ws: [16, 2, 3, 3], group: 1, stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1]),
    // a stem-like 7×7 stride-2 conv (the packer's stride-2 shuffles) and a 7×7 map with long
    // rows (the transposed product)
    (xs: [1, 3, 45, 39], ws: [8, 3, 7, 7], group: 1, stride: [2, 2], pads: [3, 3, 2, 3], dilation: [1, 1]),
    (xs: [2, 128, 7, 7], ws: [20, 128, 3, 3], group: 1, stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1]),
    // padding far wider than the input (issue 15's mutation campaign): a column block starting
    // past the input's last column packed extra zeros (wrong outputs; at 10,000 a segfault)
    (xs: [1, 2, 8, 8], ws: [3, 2, 3, 3], group: 1, stride: [1, 1], pads: [0, 0, 0, 1000], dilation: [1, 1]),
    (xs: [1, 2, 8, 8], ws: [3, 2, 3, 3], group: 1, stride: [1, 1], pads: [0, 1000, 0, 0], dilation: [1, 1]),
    // depthwise, strided and dilated (the direct depthwise kernel)
    (xs: [2, 6, 11, 9], ws: [6, 1, 3, 3], group: 6, stride: [2, 2], pads: [1, 0, 1, 2], dilation: [1, 2]),
    // depthwise with stride-1 rows of 34 outputs (AVX-512: 16-wide vectors, masked at both edges)
    (xs: [1, 5, 9, 37], ws: [5, 1, 3, 5], group: 5, stride: [2, 1], pads: [1, 3, 0, 2], dilation: [1, 2]),
    // depthwise at stride 2: rows of 41 outputs (two full vectors and a tail, both edges
    // padded), a 5×5 kernel over a 17-wide row, and stride 3 (the scalar loop)
    (xs: [1, 7, 21, 81], ws: [7, 1, 3, 3], group: 7, stride: [2, 2], pads: [1, 1, 1, 1], dilation: [1, 1]),
    (xs: [2, 3, 9, 17], ws: [3, 1, 5, 5], group: 3, stride: [2, 2], pads: [2, 2, 1, 2], dilation: [1, 1]),
    (xs: [1, 4, 10, 13], ws: [4, 1, 3, 3], group: 4, stride: [3, 3], pads: [1, 1, 1, 1], dilation: [1, 1]),
    // depthwise over zero-padded row copies: at stride 2 an odd left pad and an odd dilation
    // (taps in both column phases), rows of 8 and 9 outputs (8 or 16 lanes on AVX-512), a
    // kernel wider than its input and pads past it
    (xs: [1, 3, 12, 29], ws: [3, 1, 3, 4], group: 3, stride: [2, 2], pads: [2, 3, 1, 0], dilation: [2, 3]),
    (xs: [2, 5, 7, 8], ws: [5, 1, 5, 5], group: 5, stride: [1, 1], pads: [2, 2, 2, 2], dilation: [1, 1]),
    (xs: [1, 3, 9, 9], ws: [3, 1, 3, 3], group: 3, stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1]),
    (xs: [1, 2, 3, 2], ws: [2, 1, 3, 5], group: 2, stride: [1, 2], pads: [1, 2, 1, 2], dilation: [1, 1]),
    (xs: [1, 2, 4, 5], ws: [2, 1, 3, 3], group: 2, stride: [2, 1], pads: [0, 7, 3, 9], dilation: [1, 1]),
])
func convMatchesDirectDefinition(xs: [Int], ws: [Int], group: Int, stride: [Int], pads: [Int], dilation: [Int]) throws {
    let x = noise(xs.reduce(1, *), seed: 1), w = noise(ws.reduce(1, *), seed: 2), bias = noise(ws[0], seed: 3)
    var (expected, shape) = naiveConv2D(x, xs, w, ws, group: group, stride: stride, pads: pads, dilation: dilation)
    let plane = shape[2] * shape[3]
    for i in expected.indices { expected[i] += bias[(i / plane) % ws[0]] }
    for threads in [1, 2] {
        let y = try run(CPUKernels.conv, "Conv", [Tensor(shape: xs, scalars: x), Tensor(shape: ws, scalars: w), Tensor(shape: [ws[0]], scalars: bias)],
                        ["group": .int(group), "strides": .ints(stride), "pads": .ints(pads), "dilations": .ints(dilation)],
                        threads: threads)[0]
        #expect(y.shape == shape)
        #expect(close(y.scalars(as: Float.self), expected))
    }
}

/// Depthwise FusedConv (the direct kernel's epilogue: bias, residual Z, activation) against the
/// definition, at strides 1 and 2, odd channel counts, rows shorter and longer than a vector.
@Test(arguments: [
    (xs: [1, 5, 14, 14], k: 3, stride: 1, pad: 1, activation: FusedActivation.hardSwish),
    (xs: [2, 9, 23, 47], k: 3, stride: 2, pad: 1, activation: .silu),
    (xs: [1, 3, 7, 7], k: 5, stride: 1, pad: 2, activation: .relu),
    (xs: [1, 6, 30, 30], k: 5, stride: 2, pad: 2, activation: .hardSigmoid(alpha: 0.2, beta: 0.5)),
])
func depthwiseFusedConvMatchesDirectDefinition(xs: [Int], k: Int, stride: Int, pad: Int, activation: FusedActivation) throws {
    let c = xs[1], ws = [c, 1, k, k]
    let x = noise(xs.reduce(1, *), seed: 11), w = noise(ws.reduce(1, *), seed: 12), bias = noise(c, seed: 13)
    let (sums, shape) = naiveConv2D(x, xs, w, ws, group: c, stride: [stride, stride], pads: [pad, pad, pad, pad], dilation: [1, 1])
    let z = noise(sums.count, seed: 14), plane = shape[2] * shape[3]
    let expected = sums.indices.map { Float(activation(Double(sums[$0]) + Double(bias[($0 / plane) % c]) + Double(z[$0]))) }
    for threads in [1, 2] {
        let y = try run(CPUKernels.fusedConv, "FusedConv",
                        [Tensor(shape: xs, scalars: x), Tensor(shape: ws, scalars: w), Tensor(shape: [c], scalars: bias),
                         Tensor(shape: shape, scalars: z)],
                        ["group": .int(c), "strides": .ints([stride, stride]), "pads": .ints([pad, pad, pad, pad])]
                            .merging(activation.attributes) { a, _ in a }, threads: threads)[0]
        #expect(y.shape == shape)
        #expect(close(y.scalars(as: Float.self), expected))
    }
}

/// FusedConv of few input channels (`DirectKernels.fewChannels`: bias, residual Z, activation)
/// against the definition over two images, one and two threads (rows split between them), at
/// strides 1 and 2, 1…4 channels, 3×3 and 5×5 kernels, uneven pads and odd output widths.
@Test(arguments: [
    (xs: [2, 3, 33, 31], ws: [8, 3, 3, 3], stride: [2, 2], pads: [1, 1, 0, 1], activation: FusedActivation.hardSwish),
    (xs: [2, 1, 17, 40], ws: [13, 1, 3, 3], stride: [1, 1], pads: [1, 1, 1, 1], activation: .silu),
    (xs: [2, 4, 19, 23], ws: [5, 4, 5, 5], stride: [1, 2], pads: [2, 1, 2, 2], activation: .relu),
    (xs: [2, 2, 12, 9], ws: [16, 2, 5, 3], stride: [3, 2], pads: [0, 2, 1, 0], activation: .clip(min: -0.5, max: 0.5)),
])
func fewChannelsFusedConvMatchesDirectDefinition(xs: [Int], ws: [Int], stride: [Int], pads: [Int], activation: FusedActivation) throws {
    let m = ws[0], x = noise(xs.reduce(1, *), seed: 21), w = noise(ws.reduce(1, *), seed: 22), bias = noise(m, seed: 23)
    let (sums, shape) = naiveConv2D(x, xs, w, ws, group: 1, stride: stride, pads: pads, dilation: [1, 1])
    let geo = WindowGeometry(input: Array(xs[2...]), kernel: Array(ws[2...]), strides: stride, dilations: [1, 1],
                             padBegin: Array(pads[..<2]), padEnd: Array(pads[2...]), output: Array(shape[2...]))
    #expect(DirectKernels.fewChannelsApplies(geo, group: 1, channels: xs[1]))
    let z = noise(sums.count, seed: 24), plane = shape[2] * shape[3]
    let expected = sums.indices.map { Float(activation(Double(sums[$0]) + Double(bias[($0 / plane) % m]) + Double(z[$0]))) }
    for threads in [1, 2] {
        let y = try run(CPUKernels.fusedConv, "FusedConv",
                        [Tensor(shape: xs, scalars: x), Tensor(shape: ws, scalars: w), Tensor(shape: [m], scalars: bias),
                         Tensor(shape: shape, scalars: z)],
                        ["strides": .ints(stride), "pads": .ints(pads)].merging(activation.attributes) { a, _ in a }, threads: threads)[0]
        #expect(y.shape == shape)
        #expect(close(y.scalars(as: Float.self), expected))
    }
}

/// Relative L2 distance ‖a − b‖ / ‖b‖.
private func relativeL2(_ a: [Float], _ b: [Float]) -> Double {
    let diff = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
    return (diff / max(b.reduce(0.0) { $0 + Double($1) * Double($1) }, .leastNormalMagnitude)).squareRoot()
}

/// 3×3 stride-1 convs that `Winograd.applies` to (≥ 32 channels and ≥ 32 tiles, or ≥ 64
/// channels and ≥ 16 tiles; odd sizes, uneven pads, batch 2),
/// against the definition, with FusedConv's bias, residual Z and Relu.
@Test(arguments: [
    (xs: [2, 32, 17, 13], m: 16, pads: [1, 1, 1, 1]),  // 2 × 20 tiles
    (xs: [1, 32, 23, 21], m: 24, pads: [0, 1, 2, 1]),  // 36 tiles
    (xs: [2, 32, 16, 16], m: 20, pads: [0, 0, 0, 0]),  // 2 × 16 tiles
    (xs: [1, 33, 30, 26], m: 16, pads: [1, 1, 1, 1]),  // 56 tiles
    (xs: [1, 64, 14, 14], m: 16, pads: [1, 1, 1, 1]),  // 16 tiles and 64 channels: 14×14 maps at batch 1
    (xs: [1, 32, 67, 70], m: 16, pads: [1, 1, 2, 1]),  // 17 × 18 tiles: bands of 14 and 3 tile rows
    (xs: [2, 32, 66, 66], m: 16, pads: [1, 1, 1, 1]),  // 2 × 17 × 17 tiles, banded image by image
])
func winogradConvMatchesDirectDefinition(xs: [Int], m: Int, pads: [Int]) throws {
    let ws = [m, xs[1], 3, 3]
    let x = noise(xs.reduce(1, *), seed: 4), w = noise(ws.reduce(1, *), seed: 5), bias = noise(m, seed: 6)
    var (expected, shape) = naiveConv2D(x, xs, w, ws, group: 1, stride: [1, 1], pads: pads, dilation: [1, 1])
    let z = noise(expected.count, seed: 7), plane = shape[2] * shape[3]
    for i in expected.indices { expected[i] = max(0, expected[i] + bias[(i / plane) % m] + z[i]) }
    for threads in [1, 2] {
        let y = try run(CPUKernels.fusedConv, "FusedConv",
                        [Tensor(shape: xs, scalars: x), Tensor(shape: ws, scalars: w), Tensor(shape: [m], scalars: bias),
                         Tensor(shape: shape, scalars: z)],
                        ["pads": .ints(pads), "activation": .string(Array("Relu".utf8))], threads: threads)[0]
        #expect(y.shape == shape)
        #expect(relativeL2(y.scalars(as: Float.self), expected) < 1e-4)
    }
    // float64: the transforms written per tile in Swift, row-major V, OpenBLAS's dgemm
    func double(_ v: [Float]) -> [Double] { v.map { Double($0) } }
    let y = try run(CPUKernels.fusedConv, "FusedConv",
                    [Tensor(shape: xs, scalars: double(x)), Tensor(shape: ws, scalars: double(w)),
                     Tensor(shape: [m], scalars: double(bias)), Tensor(shape: shape, scalars: double(z))],
                    ["pads": .ints(pads), "activation": .string(Array("Relu".utf8))])[0]
    #expect(relativeL2(y.scalars(as: Double.self).map { Float($0) }, expected) < 1e-4)
}

/// InstanceNormalization (CGemm's float32 plane on AVX2) against the float64 definition:
/// planes shorter than a vector, with a tail, and far from zero mean; one and two threads.
@Test(arguments: [([1, 2, 1, 3], 0), ([2, 3, 5, 7], 0), ([1, 4, 33, 40], 100), ([1, 3, 1000], -7)] as [([Int], Float)])
func instanceNormMatchesDefinition(shape: [Int], offset: Float) throws {
    let c = shape[1], size = shape[2...].reduce(1, *)
    let x = noise(shape.reduce(1, *), seed: 21).map { $0 * 3 + offset }
    let scale = noise(c, seed: 22), bias = noise(c, seed: 23), eps: Float = 1e-3
    var expected = [Float](repeating: 0, count: x.count)
    for row in 0..<shape[0] * c {
        let plane = x[row * size..<(row + 1) * size].map(Double.init)
        let mean = plane.reduce(0, +) / Double(size)
        let variance = plane.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(size)
        let a = Double(scale[row % c]) / (variance + Double(eps)).squareRoot()
        for (i, v) in plane.enumerated() { expected[row * size + i] = Float((v - mean) * a + Double(bias[row % c])) }
    }
    for threads in [1, 2] {
        let y = try run(CPUKernels.instanceNormalization, "InstanceNormalization",
                        [Tensor(shape: shape, scalars: x), Tensor(shape: [c], scalars: scale), Tensor(shape: [c], scalars: bias)],
                        ["epsilon": .float(eps)], threads: threads)[0]
        #expect(y.shape == shape)
        #expect(close(y.scalars(as: Float.self), expected, tolerance: 1e-6))
    }
}

@Test func convSameUpperAndErrors() throws {
    let x = Tensor(shape: [1, 1, 5, 5], scalars: [Float](repeating: 1, count: 25))
    let w = Tensor(shape: [1, 1, 3, 3], scalars: [Float](repeating: 1, count: 9))
    let y = try run(CPUKernels.conv, "Conv", [x, w], ["auto_pad": .string(Array("SAME_UPPER".utf8)), "strides": .ints([2, 2])])[0]
    #expect(y.shape == [1, 1, 3, 3])
    #expect(y.scalars(as: Float.self) == [4, 6, 4, 6, 9, 6, 4, 6, 4])
    #expect(throws: VonnxError.self) { try run(CPUKernels.conv, "Conv", [x, w], ["group": .int(2)]) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.conv, "Conv", [x, w], ["pads": .ints([1, 1])]) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.conv, "Conv", [x, w], ["strides": .ints([0, 1])]) }
}

/// ConvTranspose against a float64 scatter of every input element through every tap, on random
/// inputs: 1-D to 3-D, strides 1 to 3 along different axes, taps overlapping or not, dilations,
/// pads cutting outputs on either side, output padding and groups, batches of two, odd sizes; and
/// the 2-D kernel = strides convs of `DirectKernels.disjointTaps` (groups, a 3×2 kernel, bands of
/// input rows).
@Test(arguments: [([2, 3, 7], [3, 4, 3], ["strides": [2], "pads": [1, 2]]),
                  ([1, 4, 9, 11], [4, 5, 2, 2], ["strides": [2, 2]]),
                  ([2, 4, 5, 7], [4, 3, 3, 2], ["strides": [3, 2], "group": [2]]),
                  ([1, 5, 70, 41], [5, 12, 2, 2], ["strides": [2, 2]]),
                  ([2, 6, 5, 7], [6, 2, 3, 2], ["strides": [3, 1], "dilations": [1, 2], "pads": [2, 0, 1, 1], "output_padding": [1, 0], "group": [2]]),
                  ([1, 2, 3, 4, 5], [2, 3, 2, 3, 2], ["strides": [1, 2, 3], "pads": [0, 1, 0, 1, 0, 2]])] as [([Int], [Int], [String: [Int]])])
func convTransposeMatchesScatterReference(xShape: [Int], wShape: [Int], attributes: [String: [Int]]) throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    let x = rng.floats(xShape, -1...1), w = rng.floats(wShape, -1...1), d = xShape.count - 2
    let group = attributes["group"]?[0] ?? 1, (n, c) = (xShape[0], xShape[1]), cg = c / group, mg = wShape[1], m = mg * group
    let bias = rng.floats([m], -1...1)
    let strides = attributes["strides"] ?? Array(repeating: 1, count: d), dilations = attributes["dilations"] ?? Array(repeating: 1, count: d)
    let pads = attributes["pads"] ?? Array(repeating: 0, count: 2 * d), outPad = attributes["output_padding"] ?? Array(repeating: 0, count: d)
    let input = Array(xShape[2...]), kernel = Array(wShape[2...])
    var out = [Int](repeating: 0, count: d)
    for a in 0..<d {
        let full: Int = (input[a] - 1) * strides[a] + (kernel[a] - 1) * dilations[a] + 1
        out[a] = full + outPad[a] - pads[a] - pads[a + d]
    }
    let inSize = input.reduce(1, *), kSize = kernel.reduce(1, *), outSize = out.reduce(1, *)
    func index(_ flat: Int, _ dims: [Int]) -> [Int] {
        var r = flat, i = [Int](repeating: 0, count: dims.count)
        for a in stride(from: dims.count - 1, through: 0, by: -1) { i[a] = r % dims[a]; r /= dims[a] }
        return i
    }
    let px = x.scalars(as: Float.self), pw = w.scalars(as: Float.self), pb = bias.scalars(as: Float.self)
    var expected = [Double](repeating: 0, count: n * m * outSize)
    for b in 0..<n { for oc in 0..<m { for o in 0..<outSize { expected[(b * m + oc) * outSize + o] = Double(pb[oc]) } } }
    for b in 0..<n { for ci in 0..<c { for i in 0..<inSize { for k in 0..<kSize {
        let ii = index(i, input), kk = index(k, kernel)
        var flat = 0, inside = true
        for a in 0..<d {
            let o: Int = ii[a] * strides[a] + kk[a] * dilations[a] - pads[a]
            if o < 0 || o >= out[a] { inside = false }
            flat = flat * out[a] + o
        }
        guard inside else { continue }
        let g = ci / cg
        for j in 0..<mg {
            expected[(b * m + g * mg + j) * outSize + flat] += Double(px[(b * c + ci) * inSize + i]) * Double(pw[(ci * mg + j) * kSize + k])
        }
    } } } }
    var attrs: [String: Attribute] = ["group": .int(group)]
    for (name, values) in attributes where name != "group" { attrs[name] = .ints(values) }
    for threads in [1, 2] {
        let y = try run(CPUKernels.convTranspose, "ConvTranspose", [x, w, bias], attrs, threads: threads)[0]
        let got = y.scalars(as: Float.self)
        let bad = got.indices.filter { !(abs(Double(got[$0]) - expected[$0]) <= 1e-4 * max(1, abs(expected[$0]))) }
        #expect(y.shape == [n, m] + out && bad.isEmpty, "seed \(seed) \(xShape) \(wShape) \(attributes) threads \(threads): \(y.shape), \(bad.count) wrong")
    }
}

@Test func convTransposeStridedWithOutputShape() throws {
    let x = Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4] as [Float])
    let w = Tensor(shape: [1, 1, 2, 2], scalars: [1, 1, 1, 1] as [Float])
    let y = try run(CPUKernels.convTranspose, "ConvTranspose", [x, w], ["strides": .ints([2, 2]), "output_shape": .ints([5, 5])])[0]
    #expect(y.shape == [1, 1, 5, 5])
    let v = y.scalars(as: Float.self)
    #expect(Array(v[0..<5]) == [1, 1, 2, 2, 0])
    #expect(Array(v[20..<25]) == [0, 0, 0, 0, 0])
}

@Test func gemmBroadcastsCAndTransposes() throws {
    let a = Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6] as [Float]) // Aᵀ is 2×3
    let b = Tensor(shape: [2, 3], scalars: [1, 0, 1, 0, 1, 1] as [Float]) // Bᵀ is 3×2
    let c = Tensor(shape: [2], scalars: [10, 20] as [Float])
    let y = try run(CPUKernels.gemm, "Gemm", [a, b, c], ["transA": .int(1), "transB": .int(1), "alpha": .float(2), "beta": .float(0.5)])[0]
    // Aᵀ·Bᵀ = [[1+5, 3+5], [2+6, 4+6]] → ×2, + C/2
    #expect(y.shape == [2, 2])
    #expect(y.scalars(as: Float.self) == [17, 26, 21, 30])
    #expect(throws: VonnxError.self) { try run(CPUKernels.gemm, "Gemm", [a, a]) }
}

@Test func matMulBatchesBroadcastAndVectors() throws {
    let a = Tensor(shape: [2, 1, 2, 3], scalars: (0..<12).map(Float.init))
    let b = Tensor(shape: [3, 3, 1], scalars: (0..<9).map(Float.init))
    let y = try run(CPUKernels.matMul, "MatMul", [a, b])[0]
    #expect(y.shape == [2, 3, 2, 1])
    #expect(y.scalars(as: Float.self)[0..<2] == [5, 14])
    let v = Tensor(shape: [3], scalars: [1, 1, 1] as [Float])
    #expect(try run(CPUKernels.matMul, "MatMul", [v, v])[0].scalars(as: Float.self) == [3])
    let ints = try run(CPUKernels.matMul, "MatMul", [Tensor(shape: [1, 2], scalars: [2, 3] as [Int32]), Tensor(shape: [2], scalars: [4, 5] as [Int32])])[0]
    #expect(ints.shape == [1] && ints.scalars(as: Int32.self) == [23])
    #expect(throws: VonnxError.self) { try run(CPUKernels.matMul, "MatMul", [a, a]) }
}

@Test func maxPoolIndicesAndAveragePoolPads() throws {
    let x = Tensor(shape: [1, 1, 3, 3], scalars: [1, 9, 2, 3, 4, 5, 8, 6, 7] as [Float])
    let r = try run(CPUKernels.maxPool, "MaxPool", [x], ["kernel_shape": .ints([2, 2])], outputs: 2)
    #expect(r[0].scalars(as: Float.self) == [9, 9, 8, 7])
    #expect(r[1].scalars(as: Int64.self) == [1, 1, 6, 8])
    let cm = try run(CPUKernels.maxPool, "MaxPool", [x], ["kernel_shape": .ints([2, 2]), "storage_order": .int(1)], outputs: 2)
    #expect(cm[1].scalars(as: Int64.self) == [3, 3, 2, 8])
    let avg = try run(CPUKernels.averagePool, "AveragePool", [x], ["kernel_shape": .ints([2, 2]), "pads": .ints([1, 1, 0, 0])])[0]
    #expect(avg.scalars(as: Float.self)[0] == 1)
    let inc = try run(CPUKernels.averagePool, "AveragePool", [x], ["kernel_shape": .ints([2, 2]), "pads": .ints([1, 1, 0, 0]), "count_include_pad": .int(1)])[0]
    #expect(inc.scalars(as: Float.self)[0] == 0.25)
    let u8 = try run(CPUKernels.maxPool, "MaxPool", [Tensor(shape: [1, 1, 1, 3], scalars: [3, 200, 7] as [UInt8])], ["kernel_shape": .ints([1, 2])])[0]
    #expect(u8.scalars(as: UInt8.self) == [200, 200])
    #expect(throws: VonnxError.self) { try run(CPUKernels.maxPool, "MaxPool", [x]) }
}

/// The direct float MaxPool (rows 16 or 8 outputs a vector, masked tails, partial windows at
/// the pads) against the definition, on random planes.
@Test(arguments: [(37, 3, 2, 1), (40, 3, 1, 1), (112, 3, 2, 1), (19, 2, 2, 0), (33, 5, 1, 2)])
func maxPoolMatchesDefinition(w: Int, k: Int, stride: Int, pad: Int) throws {
    let h = w - 3, planes = 2
    let values = (0..<planes * h * w).map { _ in Float.random(in: -1...1) }
    let x = Tensor(shape: [1, planes, h, w], scalars: values)
    let y = try run(CPUKernels.maxPool, "MaxPool", [x], ["kernel_shape": .ints([k, k]), "strides": .ints([stride, stride]),
                                                       "pads": .ints([pad, pad, pad, pad])])[0]
    let oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1
    var expected = [Float]()
    for p in 0..<planes { for oy in 0..<oh { for ox in 0..<ow {
        var best = -Float.infinity
        for ky in 0..<k { for kx in 0..<k {
            let iy = oy * stride - pad + ky, ix = ox * stride - pad + kx
            if iy >= 0, iy < h, ix >= 0, ix < w { best = max(best, values[(p * h + iy) * w + ix]) }
        } }
        expected.append(best)
    } } }
    #expect(y.shape == [1, planes, oh, ow])
    #expect(y.scalars(as: Float.self) == expected)
}

@Test func softmaxAxisSemanticsChangeAtOpset13() throws {
    let x = Tensor(shape: [1, 2, 2], scalars: [0, 0, 0, 0] as [Float])
    let new = try run(CPUKernels.softmax, "Softmax", [x], ["axis": .int(1)], opset: 13)[0]
    #expect(new.scalars(as: Float.self) == [0.5, 0.5, 0.5, 0.5])
    let old = try run(CPUKernels.softmax, "Softmax", [x], ["axis": .int(1)], opset: 11)[0]
    #expect(old.scalars(as: Float.self) == [0.25, 0.25, 0.25, 0.25])
    let hard = try run(CPUKernels.hardmax, "Hardmax", [Tensor(shape: [3], scalars: [1, 3, 3] as [Float])], opset: 13)[0]
    #expect(hard.scalars(as: Float.self) == [0, 1, 0])
    #expect(throws: VonnxError.self) { try run(CPUKernels.softmax, "Softmax", [x], ["axis": .int(3)]) }
}

@Test func layerNormalizationOutputsStatistics() throws {
    let x = Tensor(shape: [2, 2], scalars: [1, 3, 4, 2] as [Float])
    let r = try run(CPUKernels.layerNormalization, "LayerNormalization",
                    [x, Tensor(shape: [2], scalars: [1, 1] as [Float])], ["epsilon": .float(0)], outputs: 3)
    #expect(r[0].scalars(as: Float.self) == [-1, 1, 1, -1])
    #expect(r[1].shape == [2, 1] && r[1].scalars(as: Float.self) == [2, 3])
    #expect(r[2].scalars(as: Float.self) == [1, 1])
}

@Test func resizeNearestAndLinear() throws {
    let x = Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4] as [Float])
    let scales = Tensor(shape: [4], scalars: [1, 1, 2, 2] as [Float])
    let near = try run(CPUKernels.resize, "Resize", [x, nil, scales], ["mode": .string(Array("nearest".utf8))], opset: 19)[0]
    #expect(near.shape == [1, 1, 4, 4])
    #expect(Array(near.scalars(as: Float.self)[0..<4]) == [1, 1, 2, 2])
    let lin = try run(CPUKernels.resize, "Resize", [x, nil, nil, Tensor(shape: [4], scalars: [1, 1, 1, 3] as [Int64])],
                      ["mode": .string(Array("linear".utf8)), "coordinate_transformation_mode": .string(Array("align_corners".utf8))], opset: 19)[0]
    #expect(lin.shape == [1, 1, 1, 3] && lin.scalars(as: Float.self) == [1, 1.5, 2])
    #expect(throws: VonnxError.self) { try run(CPUKernels.resize, "Resize", [x, nil, Tensor(shape: [2], scalars: [2, 2] as [Float])], opset: 19) }
}

@Test func attentionAveragesValuesForEqualScores() throws {
    // one head, keys orthogonal to the query: equal scores, so Y is the mean of V rows
    let q = Tensor(shape: [1, 1, 1, 2], scalars: [0, 0] as [Float])
    let k = Tensor(shape: [1, 1, 2, 2], scalars: [1, 0, 0, 1] as [Float])
    let v = Tensor(shape: [1, 1, 2, 2], scalars: [2, 4, 6, 8] as [Float])
    let r = try run(CPUKernels.attention, "Attention", [q, k, v], outputs: 4, opset: 23)
    #expect(r[0].shape == [1, 1, 1, 2] && r[0].scalars(as: Float.self) == [4, 6])
    // a boolean mask hiding the second key leaves the first value row
    let mask = Tensor(shape: [1, 2], scalars: [true, false])
    let masked = try run(CPUKernels.attention, "Attention", [q, k, v, mask], opset: 23)[0]
    #expect(masked.scalars(as: Float.self) == [2, 4])
    #expect(throws: VonnxError.self) { try run(CPUKernels.attention, "Attention", [q, k, Tensor(shape: [1, 1, 3, 2], scalars: [Float](repeating: 0, count: 6))], opset: 23) }
}

@Test func gridSampleIdentityAndBadGrid() throws {
    let x = Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4] as [Float])
    let grid = Tensor(shape: [1, 2, 2, 2], scalars: [-1, -1, 1, -1, -1, 1, 1, 1] as [Float])
    let y = try run(CPUKernels.gridSample, "GridSample", [x, grid], ["align_corners": .int(1)])[0]
    #expect(y.scalars(as: Float.self) == [1, 2, 3, 4])
    let nan = Tensor(shape: [1, 1, 1, 2], scalars: [Float.nan, 1e30] as [Float])
    #expect(try run(CPUKernels.gridSample, "GridSample", [x, nan])[0].scalars(as: Float.self) == [0])
}

@Test func rmsNormalizationAndCol2Im() throws {
    let x = Tensor(shape: [1, 2], scalars: [3, 4] as [Float])
    let y = try run(CPUKernels.rmsNormalization, "RMSNormalization", [x, Tensor(shape: [2], scalars: [1, 2] as [Float])],
                    ["epsilon": .float(0)], opset: 23)[0]
    let rms = (12.5 as Float).squareRoot()
    #expect(close(y.scalars(as: Float.self), [3 / rms, 8 / rms]))
    // 2×2 blocks over a 3×3 image with stride 1: the centre pixel is covered four times
    let cols = Tensor(shape: [1, 4, 4], scalars: [Float](repeating: 1, count: 16))
    let image = try run(CPUKernels.col2Im, "Col2Im", [cols, Tensor(shape: [2], scalars: [3, 3] as [Int64]), Tensor(shape: [2], scalars: [2, 2] as [Int64])])[0]
    #expect(image.shape == [1, 1, 3, 3] && image.scalars(as: Float.self) == [1, 2, 1, 2, 4, 2, 1, 2, 1])
}

@Test func hugeWindowAttributesAreRejected() throws {
    let x = Tensor(shape: [1, 1, 4, 4], scalars: [Float](repeating: 1, count: 16))
    let w = Tensor(shape: [1, 1, 2, 2], scalars: [Float](repeating: 1, count: 4))
    #expect(throws: VonnxError.self) { try run(CPUKernels.conv, "Conv", [x, w], ["dilations": .ints([Int.max / 2, 1])]) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.convTranspose, "ConvTranspose", [x, w], ["strides": .ints([Int.max, 1])]) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.maxPool, "MaxPool", [x], ["kernel_shape": .ints([2, 2]), "pads": .ints([Int.max, 0, 0, 0])]) }
}

@Test func shapeRulesOfConvPoolsMatMulAndResize() throws {
    func infer(_ rule: ShapeRule, _ op: String, _ inputs: [ValueType?], _ attributes: [String: Attribute] = [:],
               constants: [Tensor?] = [], opset: Int = 22) throws -> [ValueType?] {
        let node = Node(name: "n", opType: op, inputs: inputs.indices.map { "x\($0)" }, outputs: ["y0", "y1"], attributes: attributes)
        return try rule(ShapeContext(node: node, inputs: inputs, constants: constants, opset: opset))
    }
    let x = ValueType.tensor(.float, shape: [.symbol("N"), .value(3), .value(224), .value(224)])
    let w = ValueType.tensor(.float, shape: [.value(64), .value(3), .value(7), .value(7)])
    let conv = try infer(ShapeRules.conv, "Conv", [x, w], ["strides": .ints([2, 2]), "pads": .ints([3, 3, 3, 3])])
    #expect(conv[0] == .tensor(.float, shape: [.symbol("N"), .value(64), .value(112), .value(112)]))
    let pool = try infer(ShapeRules.pool, "MaxPool", [x], ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "auto_pad": .string(Array("SAME_UPPER".utf8))])
    #expect(pool[0]?.shape == [.symbol("N"), .value(3), .value(112), .value(112)])
    let tw = ValueType.tensor(.float, shape: [.value(3), .value(8), .value(2), .value(2)])
    let up = try infer(ShapeRules.convTranspose, "ConvTranspose", [x, tw], ["strides": .ints([2, 2])])
    #expect(up[0]?.shape == [.symbol("N"), .value(8), .value(448), .value(448)])
    let mm = try infer(ShapeRules.matMul(), "MatMul", [.tensor(.float, shape: [.value(2), .value(1), .value(4), .value(5)]),
                                                     .tensor(.float, shape: [.value(3), .value(5), .value(6)])])
    #expect(mm[0]?.shape == [.value(2), .value(3), .value(4), .value(6)])
    let rs = try infer(ShapeRules.resize, "Resize", [x, nil, nil, nil],
                       constants: [nil, nil, Tensor(shape: [4], scalars: [1, 1, 0.5, 2] as [Float])], opset: 19)
    #expect(rs[0]?.shape == [.symbol("N"), .value(3), .value(112), .value(448)])
    #expect(throws: VonnxError.self) { try infer(ShapeRules.conv, "Conv", [x, w], ["strides": .ints([0, 1])]) }
}

@Test func emptyTensorsDoNotCrash() throws {
    let mm = try run(CPUKernels.matMul, "MatMul", [Tensor(shape: [2, 0], scalars: [Float]()), Tensor(shape: [0, 3], scalars: [Float]())])[0]
    #expect(mm.shape == [2, 3] && mm.scalars(as: Float.self) == [Float](repeating: 0, count: 6))
    let w = Tensor(shape: [2, 1, 3, 3], scalars: [Float](repeating: 1, count: 18))
    #expect(try run(CPUKernels.conv, "Conv", [Tensor(shape: [0, 1, 5, 5], scalars: [Float]()), w])[0].shape == [0, 2, 3, 3])
    #expect(try run(CPUKernels.conv, "Conv", [Tensor(shape: [1, 1, 2, 2], scalars: [Float](repeating: 1, count: 4)), w])[0].shape == [1, 2, 0, 0])
    #expect(try run(CPUKernels.maxPool, "MaxPool", [Tensor(shape: [1, 1, 2, 2], scalars: [Float](repeating: 1, count: 4))],
                    ["kernel_shape": .ints([3, 3])])[0].shape == [1, 1, 0, 0])
    #expect(try run(CPUKernels.softmax, "Softmax", [Tensor(shape: [0, 3], scalars: [Float]())], opset: 13)[0].shape == [0, 3])
    #expect(try run(CPUKernels.layerNormalization, "LayerNormalization",
                    [Tensor(shape: [0, 3], scalars: [Float]()), Tensor(shape: [3], scalars: [1, 1, 1] as [Float])], outputs: 3)[0].shape == [0, 3])
    #expect(throws: VonnxError.self) {
        try run(CPUKernels.resize, "Resize", [Tensor(shape: [1, 0], scalars: [Float]()), nil, Tensor(shape: [2], scalars: [1, 2] as [Float])], opset: 19)
    }
}

/// Resize's float32 planar kernel (nearest, linear without antialias, last two axes) against
/// the general float64 resampling (the same node over float64 data), over modes, coordinate
/// transforms, up- and downscales by integer and fractional factors, and odd sizes; a cubic
/// resize and one of the channel axis take the general path in both.
@Test(arguments: [("nearest", "asymmetric", "floor", [1, 1, 2, 2] as [Float]), ("nearest", "half_pixel", "round_prefer_floor", [1, 1, 3, 2.5]),
                  ("nearest", "align_corners", "round_prefer_ceil", [1, 1, 0.5, 0.6]), ("nearest", "tf_half_pixel_for_nn", "ceil", [1, 1, 1.7, 3]),
                  ("linear", "half_pixel", "", [1, 1, 2, 2]), ("linear", "align_corners", "", [1, 1, 2.5, 0.4]),
                  ("linear", "asymmetric", "", [1, 1, 1, 3]), ("linear", "pytorch_half_pixel", "", [1, 1, 0.3, 1.5]),
                  ("cubic", "half_pixel", "", [1, 1, 2, 2]), ("linear", "half_pixel", "", [1, 2, 2, 2])])
func resizePlanarMatchesGeneral(mode: String, coordinates: String, nearest: String, scales: [Float]) throws {
    let shape = [2, 3, 7, 9], x = noise(shape.reduce(1, *), seed: 21)
    var attributes: [String: Attribute] = ["mode": .string(Array(mode.utf8)),
                                           "coordinate_transformation_mode": .string(Array(coordinates.utf8))]
    if !nearest.isEmpty { attributes["nearest_mode"] = .string(Array(nearest.utf8)) }
    func resize(_ input: Tensor) throws -> Tensor {
        try run(CPUKernels.resize, "Resize", [input, nil, Tensor(shape: [4], scalars: scales)], attributes, opset: 13)[0]
    }
    let fast = try resize(Tensor(shape: shape, scalars: x))
    let general = try resize(Tensor(shape: shape, scalars: x.map(Double.init)))
    #expect(fast.shape == general.shape)
    let a = fast.scalars(as: Float.self), b = general.scalars(as: Double.self)
    let bad = a.indices.filter { !(abs(Double(a[$0]) - b[$0]) <= 1e-6) }
    #expect(bad.isEmpty, "\(mode) \(coordinates) \(scales): \(bad.count) of \(a.count) differ, first \(bad.prefix(3).map { "[\($0)] \(a[$0]) vs \(b[$0])" })")
}

/// Softmax's vectorized float32 rows against the float64 kernel on the same values: row
/// lengths around the vector widths (tails), large and very negative inputs, an axis that is
/// not the last (the general loop) and opset 11's coerced 2-D rows.
@Test(arguments: [([3, 1], -1, 13), ([2, 7], -1, 13), ([4, 16], -1, 13), ([3, 33], 1, 13), ([2, 960], -1, 13), ([2, 5, 3], 1, 13),
                  ([2, 3, 5], 1, 11)])
func softmaxRowsMatchDouble(shape: [Int], axis: Int, opset: Int) throws {
    let count = shape.reduce(1, *)
    let x = noise(count, seed: UInt64(count)).enumerated().map { $1 * ($0 % 5 == 0 ? 90 : 8) }
    func softmax(_ t: Tensor) throws -> Tensor { try run(CPUKernels.softmax, "Softmax", [t], ["axis": .int(axis)], opset: opset)[0] }
    let a = try softmax(Tensor(shape: shape, scalars: x)).scalars(as: Float.self)
    let b = try softmax(Tensor(shape: shape, scalars: x.map(Double.init))).scalars(as: Double.self)
    let bad = a.indices.filter { !(abs(Double(a[$0]) - b[$0]) <= 1e-6 * max(1e-3, b[$0])) }
    #expect(bad.isEmpty, "\(shape) axis \(axis): \(bad.count) differ, first \(bad.prefix(3).map { "[\($0)] \(a[$0]) vs \(b[$0])" })")
}

/// LayerNormalization (and RMSNormalization) in float32 (CGemm's vectorized rows where the CPU
/// has them) against the float64 kernel: one element, rows with vector tails, a long row, the
/// last two axes normalized together with a scale broadcast along one of them, bias or none, and
/// the mean and 1/σ outputs; values with an offset so that the mean matters.
@Test(arguments: [([1, 1], -1, [1], true), ([3, 7], -1, [7], false), ([4, 33], 1, [33], true), ([2, 5, 768], -1, [768], true),
                  ([2, 3, 5], 1, [1, 5], true), ([6, 19], -1, [19], false)])
func layerNormRowsMatchDouble(shape: [Int], axis: Int, scaleShape: [Int], bias: Bool) throws {
    let count = shape.reduce(1, *), cols = scaleShape.reduce(1, *)
    let x = noise(count, seed: UInt64(count)).map { $0 * 4 + 3 }, scale = noise(cols, seed: 5), b = noise(cols, seed: 9)
    for op in ["LayerNormalization", "RMSNormalization"] {
        let kernel = op == "LayerNormalization" ? CPUKernels.layerNormalization : CPUKernels.rmsNormalization
        let outputs = op == "LayerNormalization" ? 3 : 1
        func normalize<T: RealElement>(_: T.Type) throws -> [[Double]] {
            func t(_ v: [Float], _ s: [Int]) -> Tensor { Tensor(shape: s, scalars: v.map { T(Double($0)) }) }
            let inputs = [t(x, shape), t(scale, scaleShape)] + (bias && outputs == 3 ? [t(b, scaleShape)] : [])
            return try run(kernel, op, inputs, ["axis": .int(axis)], outputs: outputs).map { y in
                y.scalars(as: T.self).map { Double($0) }
            }
        }
        let a = try normalize(Float.self), d = try normalize(Double.self)
        for (i, (got, want)) in zip(a, d).enumerated() {
            let bad = got.indices.filter { !(abs(got[$0] - want[$0]) <= 2e-5 * max(1, abs(want[$0]))) }
            #expect(got.count == want.count && bad.isEmpty, "\(op) \(shape) axis \(axis) output \(i): \(bad.count) differ, first \(bad.prefix(3).map { "[\($0)] \(got[$0]) vs \(want[$0])" })")
        }
    }
}

@Test func matMulIntegerSubtractsZeroPointsPerRowAndColumnInEveryBatch() throws {
    // uint8 A [2, 3, 5] with one zero point per row, int8 B [5, 4] (broadcast over the batch)
    // with one per column, against the definition
    var rng = SplitMix(state: 14)
    let (m, k, n) = (3, 5, 4)
    let a = (0..<2 * m * k).map { _ in UInt8.random(in: 0...255, using: &rng) }
    let b = (0..<k * n).map { _ in Int8.random(in: -128...127, using: &rng) }
    let za: [UInt8] = [0, 128, 255], zb: [Int8] = [-128, 0, 5, 127]
    let y = try run(CPUKernels.matMulInteger, "MatMulInteger", [Tensor(shape: [2, m, k], scalars: a), Tensor(shape: [k, n], scalars: b),
                                                                Tensor(shape: [m], scalars: za), Tensor(shape: [n], scalars: zb)])[0]
    let want = (0..<2 * m * n).map { e -> Int32 in
        let (row, j) = e.quotientAndRemainder(dividingBy: n), i = row % m
        return (0..<k).reduce(0) { $0 + (Int32(a[row * k + $1]) - Int32(za[i])) * (Int32(b[$1 * n + j]) - Int32(zb[j])) }
    }
    #expect(y.shape == [2, m, n] && y.scalars(as: Int32.self) == want)
}

/// Softmax at 1, 2 and 3 threads around the row counts where `ThreadPool.chunkCount` changes.
@Test func softmaxRowsAreTheSameWhetherOrNotTheLoopSplits() throws {
    // Softmax takes 8 rows of 1024 a chunk: 7 to 49 rows run whole, in fewer chunks than
    // threads, or in a multiple of the thread count; every row must come out as on one thread
    let n = 1024
    for rows in [7, 8, 15, 16, 17, 24, 31, 32, 39, 40, 41, 47, 48, 49] {
        let x = Tensor(shape: [rows, n], scalars: (0..<rows * n).map { Float(($0 * 7919) % 1000) / 100 - 5 })
        func softmax(threads: Int) throws -> [Float] {
            try run(CPUKernels.softmax, "Softmax", [x], opset: 13, threads: threads)[0].scalars(as: Float.self)
        }
        let one = try softmax(threads: 1)
        #expect(one.allSatisfy { $0 > 0 }, "\(rows) rows at 1 thread")
        for threads in [2, 3] {
            let other = try softmax(threads: threads)
            let first = other.indices.first { other[$0].bitPattern != one[$0].bitPattern }
            #expect(first == nil, "\(rows) rows at \(threads) threads: element \(first ?? 0) differs from 1 thread's")
        }
    }
}
