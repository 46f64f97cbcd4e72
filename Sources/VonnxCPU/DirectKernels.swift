import CGemm
import VonnxIR

/// float32 kernels that skip the GEMM, in CGemm's C (vectorized for AVX2 or AVX-512): depthwise convs,
/// where a GEMM per channel would have one row, and 2-D MaxPool. Used where
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
