import CGemm
import VonnxIR

/// float32 kernels that skip the GEMM, in CGemm's C (vectorized for AVX2 or AVX-512): depthwise convs,
/// where a GEMM per channel would have one row, convs of few input channels, and 2-D MaxPool. Used where
/// `PackedGemm.available`.
enum DirectKernels {
    /// A depthwise conv (one filter per channel, `channels` channels, 1-D or 2-D `geo`) over
    /// `planes` = N·channels input planes, directly: y = conv(x, w) + bias (+ z), then the activation;
    /// small maps 8 channels at a time (`vx_depthwise_blocked`), others plane by plane.
    static func depthwise(_ pool: ThreadPool, x: UnsafePointer<Float>, w: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                          z: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, planes: Int, channels: Int,
                          geo: WindowGeometry, activation: FusedActivation?) {
        nonisolated(unsafe) let (px, pw, pbias, pz, py) = (x, w, bias, z, y)
        let act = FusedActivation.kernel(activation)
        let inSize = geo.inputSize, outSize = geo.outputSize, ks = geo.kernelSize
        var geometry = PackedGemm.im2col(px, geo)
        if vx_depthwise_prefers_blocked(&geometry) != 0 {
            // small maps: 8 planes a block, their channels along the vector lanes
            let blocks = (planes + 7) / 8
            pool.parallelFor(blocks, grain: max(1, 4096 / max(outSize * ks, 1))) { r in
                var source = PackedGemm.im2col(px, geo)
                let first = r.lowerBound * 8, end = min(planes, r.upperBound * 8)
                vx_depthwise_blocked(&source, Int32(first), Int32(end - first), Int32(channels), inSize, outSize, pw, pbias, pz, py, act)
            }
            return
        }
        pool.parallelFor(planes, grain: max(1, 32768 / max(outSize * ks, 1))) { r in
            var source = PackedGemm.im2col(px, geo)
            for plane in r {
                let ch = plane % channels
                source.x = px + plane * inSize
                vx_depthwise(&source, pw + ch * ks, pbias?[ch] ?? 0, pz.map { $0 + plane * outSize }, py + plane * outSize, act)
            }
        }
    }

    /// Whether `fewChannels` serves a conv of `geo` (float32 where `PackedGemm.available`): 2-D,
    /// group 1, at most 4 input channels (image inputs), a kernel larger than 1×1 (a pointwise
    /// conv needs no im2col) and at most 5×5, and a horizontal stride of 1 or 2. Measured
    /// against the GEMM (CGemm alone, one thread, CPU time, alternating; medians): 3×3 stride 2
    /// from 3 channels 0.59× (8 outputs, 640²), 0.60× (16, 224²), 0.75× (32, 224²); 3×3 stride 1
    /// 3 → 32 0.74×; 5×5 4 → 24 0.73×; ResNet's 7×7 stride 2 to 64 outputs 1.03×, so larger
    /// kernels stay on the GEMM.
    static func fewChannelsApplies(_ geo: WindowGeometry, group: Int, channels: Int) -> Bool {
        geo.rank == 2 && group == 1 && channels <= 4 && geo.kernelSize > 1 && geo.kernel.allSatisfy { $0 <= 5 } && geo.strides[1] <= 2
    }

    /// A 2-D conv (group 1) of `batch` images with few input channels (`fewChannelsApplies`),
    /// directly: each output row of every output channel sums its channels·kh·kw taps from padded
    /// copies of the input rows it reads (`vx_conv_few_channels`), then bias, z and the
    /// activation. With 3 input channels the GEMM path spent half its time on the im2col of
    /// 27 rows for 8 to 32 output channels (DBNet's and MobileNetV3's first convs).
    static func fewChannels(_ pool: ThreadPool, x: UnsafePointer<Float>, w: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                            z: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, batch n: Int, channels c: Int,
                            outChannels m: Int, geo: WindowGeometry, activation: FusedActivation?) {
        nonisolated(unsafe) let (px, pw, pbias, pz, py) = (x, w, bias, z, y)
        let act = FusedActivation.kernel(activation)
        let oh = geo.output[0], inSize = geo.inputSize, outSize = geo.outputSize
        // rows a task: 64 Ki multiply-adds or more
        let rowWork = m * geo.output[1] * c * geo.kernelSize
        pool.parallelFor(n * oh, grain: max(1, 65536 / max(rowWork, 1))) { r in
            var row = r.lowerBound
            while row < r.upperBound {
                let img = row / oh, oy0 = row % oh, oy1 = min(oh, oy0 + r.upperBound - row)
                var source = PackedGemm.im2col(px + img * c * inSize, geo)
                vx_conv_few_channels(&source, Int32(c), inSize, Int32(m), pw, pbias, pz.map { $0 + img * m * outSize },
                                     py + img * m * outSize, outSize, act, Int32(oy0), Int32(oy1))
                row += oy1 - oy0
            }
        }
    }

    /// A 2-D ConvTranspose whose taps never overlap (kernel = strides, no dilation, pads or output
    /// padding: every input position writes its own kh×kw block of the output), over `batch` images
    /// of `channels` channels in `group` groups, `outPerGroup` output channels each: per image,
    /// group and band of input rows, one product Wᵀ·X (rows: output channel and tap) into a buffer
    /// that stays in L2, then each value placed once with its bias. The general path's zeroed
    /// output, col buffer of the whole image, col2im and bias passes took 53 ms of DBNet's 2×2
    /// upsampling head (24 channels, 160×160 → 320×320) at one thread.
    static func disjointTaps(_ pool: ThreadPool, x: UnsafePointer<Float>, w: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                             y: UnsafeMutablePointer<Float>, batch n: Int, channels c: Int, group: Int, outPerGroup mg: Int,
                             input: [Int], kernel: [Int]) {
        let (ih, iw, kh, kw) = (input[0], input[1], kernel[0], kernel[1])
        let rows = mg * kh * kw, cg = c / group, inSize = ih * iw, oh = ih * kh, ow = iw * kw, m = mg * group
        guard n > 0, rows > 0, inSize > 0 else { return }
        // a band's product (rows × its positions) within 64 Ki floats, which L2 holds
        let bandRows = max(1, min(ih, 65536 / (rows * iw))), bands = (ih + bandRows - 1) / bandRows
        nonisolated(unsafe) let (px, pw, pbias, py) = (x, w, bias, y)
        pool.parallelFor(n * group * bands) { r in
            let product = UnsafeMutablePointer<Float>.allocate(capacity: rows * bandRows * iw)
            defer { product.deallocate() }
            for u in r {
                let band = u % bands, g = u / bands % group, img = u / (bands * group)
                let y0 = band * bandRows, y1 = min(ih, y0 + bandRows), cols = (y1 - y0) * iw
                // Wᵀ: element (row, ci) at W[g·cg + ci][row], row = (j·kh + ta)·kw + tb; X's band: cg × cols
                let a = vx_matrix(p: pw + g * cg * rows, rs: 1, cs: rows)
                let b = vx_matrix(p: px + (img * c + g * cg) * inSize + y0 * iw, rs: inSize, cs: 1)
                vx_matmul(Int32(rows), Int32(cols), Int32(cg), a, b, nil, product, Int32(cols), nil, 0, vx_activation(), 0, Int32(cols))
                for j in 0..<mg {
                    let bj = pbias?[g * mg + j] ?? 0, plane = py + (img * m + g * mg + j) * oh * ow
                    for iy in y0..<y1 {
                        for ta in 0..<kh {
                            let line = plane + (iy * kh + ta) * ow, taps = product + (j * kh + ta) * kw * cols + (iy - y0) * iw
                            for tb in 0..<kw {
                                let src = taps + tb * cols
                                for ix in 0..<iw { line[ix * kw + tb] = src[ix] + bj }
                            }
                        }
                    }
                }
            }
        }
    }

    /// 2-D MaxPool of `planes` planes with window geometry `geo` (an all-padding window gives 0).
    static func maxPool(_ pool: ThreadPool, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, planes: Int,
                        geo: WindowGeometry) {
        nonisolated(unsafe) let (px, py) = (x, y)
        let inSize = geo.inputSize, outSize = geo.outputSize, width = geo.input[1]
        pool.parallelFor(planes, grain: max(1, 16384 / max(outSize * geo.kernelSize, 1))) { r in
            // a row of window maxima, then the window columns' bounds (ints)
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: width + 16 + 2 * geo.output[1])
            defer { scratch.deallocate() }
            var source = PackedGemm.im2col(px, geo)
            for plane in r {
                source.x = px + plane * inSize
                vx_maxpool(&source, py + plane * outSize, scratch)
            }
        }
    }
}
