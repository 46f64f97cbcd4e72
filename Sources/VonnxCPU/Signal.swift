import Glibc
import VonnxIR

/// An in-place radix-2 FFT of a power-of-two length m, e^{-2πikt/m}.
struct Radix2FFT {
    let m: Int
    let cosTable: [Double], sinTable: [Double]

    init(length m: Int) {
        self.m = m
        cosTable = (0..<(m / 2)).map { cos(2 * Double.pi * Double($0) / Double(m)) }
        sinTable = (0..<(m / 2)).map { sin(2 * Double.pi * Double($0) / Double(m)) }
    }

    func forward(_ re: inout [Double], _ im: inout [Double]) {
        var j = 0
        for i in 1..<max(m, 1) {
            var bit = m >> 1
            while j & bit != 0 { j ^= bit; bit >>= 1 }
            j |= bit
            if i < j { re.swapAt(i, j); im.swapAt(i, j) }
        }
        var span = 2
        while span <= m {
            let half = span / 2, step = m / span
            for start in stride(from: 0, to: m, by: span) {
                for k in 0..<half {
                    let c = cosTable[k * step], s = -sinTable[k * step]
                    let a = start + k, b = a + half
                    let tr = re[b] * c - im[b] * s, ti = re[b] * s + im[b] * c
                    re[b] = re[a] - tr; im[b] = im[a] - ti
                    re[a] += tr; im[a] += ti
                }
            }
            span *= 2
        }
    }
}

/// Complex DFTs of any length n in O(n log n): radix-2 when n is a power of two, otherwise
/// Bluestein's chirp-z (a circular convolution done by radix-2 FFTs of m ≥ 2n - 1), so that a
/// model asking for a long transform costs time in proportion to its output.
struct DFTKernel {
    let n: Int
    let fft: Radix2FFT
    /// Bluestein only: the chirp e^{-iπk²/n} (k < n) and the FFT of its conjugate, wrapped to length m.
    let chirp: (re: [Double], im: [Double])?, filter: (re: [Double], im: [Double])?

    init(length n: Int) {
        self.n = n
        if n & (n - 1) == 0 {
            fft = Radix2FFT(length: n); chirp = nil; filter = nil
            return
        }
        var m = 1
        while m < 2 * n - 1 { m *= 2 }
        fft = Radix2FFT(length: m)
        // k² mod 2n keeps the angle exact for large k
        let angles = (0..<n).map { Double.pi * Double($0 * $0 % (2 * n)) / Double(n) }
        let c = (re: angles.map { cos($0) }, im: angles.map { -sin($0) })
        var bRe = [Double](repeating: 0, count: m), bIm = bRe
        for k in 0..<n {
            bRe[k] = c.re[k]; bIm[k] = -c.im[k]
            if k > 0 { bRe[m - k] = c.re[k]; bIm[m - k] = -c.im[k] }
        }
        fft.forward(&bRe, &bIm)
        chirp = c; filter = (bRe, bIm)
    }

    /// Bins `0..<bins` of the transform of (re, im) (length n): forward uses e^{-2πikt/n},
    /// inverse e^{+2πikt/n} scaled by 1/n (the forward transform of the conjugate, conjugated).
    func transform(_ re: [Double], _ im: [Double], bins: Int, inverse: Bool) -> (re: [Double], im: [Double]) {
        var (r, i) = forward(re, inverse ? im.map { -$0 } : im)
        r.removeLast(r.count - bins); i.removeLast(i.count - bins)
        if inverse {
            let scale = 1 / Double(n)
            return (r.map { $0 * scale }, i.map { -$0 * scale })
        }
        return (r, i)
    }

    private func forward(_ re: [Double], _ im: [Double]) -> ([Double], [Double]) {
        guard let chirp, let filter else {
            var (r, i) = (re, im)
            fft.forward(&r, &i)
            return (r, i)
        }
        // X_k = w_k Σ_t (x_t w_t) conj(w_{k-t}): the product of FFTs, transformed back by the
        // forward FFT of its conjugate
        let m = fft.m
        var aRe = [Double](repeating: 0, count: m), aIm = aRe
        for t in 0..<n {
            aRe[t] = re[t] * chirp.re[t] - im[t] * chirp.im[t]
            aIm[t] = re[t] * chirp.im[t] + im[t] * chirp.re[t]
        }
        fft.forward(&aRe, &aIm)
        for k in 0..<m {
            let (pr, pi) = (aRe[k] * filter.re[k] - aIm[k] * filter.im[k], aRe[k] * filter.im[k] + aIm[k] * filter.re[k])
            aRe[k] = pr; aIm[k] = -pi
        }
        fft.forward(&aRe, &aIm)
        let scale = 1 / Double(m)
        var outRe = [Double](repeating: 0, count: n), outIm = outRe
        for k in 0..<n {
            let (cr, ci) = (aRe[k] * scale, -aIm[k] * scale)
            outRe[k] = cr * chirp.re[k] - ci * chirp.im[k]
            outIm[k] = cr * chirp.im[k] + ci * chirp.re[k]
        }
        return (outRe, outIm)
    }
}

extension CPUKernels {
    /// DFT (opset 17: axis attribute, default 1; opset 20: axis input 2, default -2) over
    /// [..., signal dims..., 1 or 2] (real or complex) input; dft_length zero-pads or truncates;
    /// onesided keeps n/2+1 bins forward and reads one-sided (Hermitian) input inverse, giving
    /// a real output.
    public static let dft: CPUKernel = { ctx in
        let x = try ctx.input(0)
        guard x.dataType.isFloatingPoint, x.rank >= 2, x.shape[x.rank - 1] == 1 || x.shape[x.rank - 1] == 2 else {
            throw ctx.error("input must be floating point ending in a dim of 1 (real) or 2 (complex), got \(x.dataType)\(x.shape)")
        }
        var axis: Int
        if ctx.opset >= 20 {
            axis = ctx.optionalInput(2).flatMap { $0.count == 1 && $0.dataType.isInteger ? $0.ints()[0] : nil } ?? -2
        } else {
            axis = try ctx.node.int("axis", default: 1)
        }
        axis = try normalizeAxis(axis, rank: x.rank, ctx)
        guard axis < x.rank - 1 else { throw ctx.error("axis \(axis) must not be the last (complex) axis") }
        let inverse = try ctx.node.int("inverse", default: 0) != 0
        let onesided = try ctx.node.int("onesided", default: 0) != 0
        let length = x.shape[axis]
        var n = inverse && onesided ? 2 * (length - 1) : length
        if let l = ctx.optionalInput(1) {
            guard l.count == 1, l.dataType.isInteger else { throw ctx.error("dft_length must be one integer") }
            n = l.ints()[0]
        }
        guard n > 0, n <= 1 << 20 else { throw ctx.error("dft_length \(n) must be in 1...\(1 << 20)") }
        let complexIn = x.shape[x.rank - 1] == 2
        let realOut = inverse && onesided
        let bins = onesided && !inverse ? n / 2 + 1 : n
        var outShape = x.shape
        outShape[axis] = bins
        outShape[x.rank - 1] = realOut ? 1 : 2
        try ctx.checkAllocatable("the output (made in float64)", dims: outShape, .double)
        let outCount = outShape.reduce(1, *)
        let l = AxisLayout(Array(x.shape.dropLast()), axis: axis)
        let v = x.doubles()
        var out = [Double](repeating: 0, count: outCount)
        let kernel = DFTKernel(length: n)
        let comps = complexIn ? 2 : 1, outComps = realOut ? 1 : 2
        for o in 0..<l.outer {
            for i in 0..<l.inner {
                var re = [Double](repeating: 0, count: n), im = re
                func read(_ t: Int) -> (Double, Double) {
                    let p = ((o * l.n + t) * l.inner + i) * comps
                    return (v[p], complexIn ? v[p + 1] : 0)
                }
                if realOut {
                    // Hermitian spectrum from bins 0...n/2 (imaginary parts of DC and Nyquist dropped)
                    for k in 0...(n / 2) where k < length {
                        var (r, m) = read(k)
                        if k == 0 || 2 * k == n { m = 0 }
                        re[k] = r; im[k] = m
                        if k > 0 && k < n - k { re[n - k] = r; im[n - k] = -m }
                    }
                } else {
                    for t in 0..<min(n, length) { (re[t], im[t]) = read(t) }
                }
                let y = kernel.transform(re, im, bins: bins, inverse: inverse)
                for k in 0..<bins {
                    let p = ((o * bins + k) * l.inner + i) * outComps
                    out[p] = y.re[k]
                    if !realOut { out[p + 1] = y.im[k] }
                }
            }
        }
        return [try Tensor(x.dataType, shape: outShape, converting: out)]
    }

    /// STFT: signal [batch, length, 1 or 2], frame_step, optional window and frame_length;
    /// output [batch, frames, bins, 2] with bins = frame_length/2+1 when onesided (default).
    public static let stft: CPUKernel = { ctx in
        let x = try ctx.input(0)
        guard x.dataType.isFloatingPoint, x.rank == 3, x.shape[2] == 1 || x.shape[2] == 2 else {
            throw ctx.error("signal must be floating point [batch, length, 1 or 2], got \(x.dataType)\(x.shape)")
        }
        let stepTensor = try ctx.input(1)
        guard stepTensor.count == 1, let step = stepTensor.ints().first, step > 0 else { throw ctx.error("frame_step must be one positive integer") }
        let window = ctx.optionalInput(2)?.doubles()
        var frameLength = window?.count ?? x.shape[1]
        if let fl = ctx.optionalInput(3) {
            guard fl.count == 1, fl.dataType.isInteger else { throw ctx.error("frame_length must be one integer") }
            frameLength = fl.ints()[0]
        }
        guard frameLength > 0, frameLength <= x.shape[1], frameLength <= 1 << 20 else {
            throw ctx.error("frame_length \(frameLength) must be in 1...\(x.shape[1])")
        }
        if let w = window, w.count != frameLength { throw ctx.error("window has \(w.count) values, frame_length is \(frameLength)") }
        let onesided = try ctx.node.int("onesided", default: 1) != 0
        let (batch, length, comps) = (x.shape[0], x.shape[1], x.shape[2])
        let frames = (length - frameLength) / step + 1
        let bins = onesided ? frameLength / 2 + 1 : frameLength
        let shape = [batch, frames, bins, 2]
        try ctx.checkAllocatable("the output (made in float64)", dims: shape, .double)
        let count = shape.reduce(1, *)
        let v = x.doubles()
        let kernel = DFTKernel(length: frameLength)
        var out = [Double](repeating: 0, count: count)
        for b in 0..<batch {
            for f in 0..<frames {
                var re = [Double](repeating: 0, count: frameLength), im = re
                for t in 0..<frameLength {
                    let p = (b * length + f * step + t) * comps
                    let w = window?[t] ?? 1
                    re[t] = v[p] * w
                    im[t] = comps == 2 ? v[p + 1] * w : 0
                }
                let y = kernel.transform(re, im, bins: bins, inverse: false)
                for k in 0..<bins {
                    let p = ((b * frames + f) * bins + k) * 2
                    out[p] = y.re[k]; out[p + 1] = y.im[k]
                }
            }
        }
        return [try Tensor(x.dataType, shape: shape, converting: out)]
    }

    /// A window op: `size` from input 0, output_datatype, periodic; `f(n, N)` gives element n
    /// with N the size (periodic) or size - 1 (symmetric).
    static func windowKernel(_ f: @escaping @Sendable (Double, Double) -> Double) -> CPUKernel {
        { ctx in
            let sizeTensor = try ctx.input(0)
            guard sizeTensor.count == 1, let size = sizeTensor.ints().first, size >= 0, size <= 1 << 24 else {
                throw ctx.error("size must be one integer in 0...\(1 << 24)")
            }
            let raw = try ctx.node.int("output_datatype", default: 1)
            guard let type = DataType(rawValue: Int32(truncatingIfNeeded: raw)) else { throw ctx.error("unknown output_datatype \(raw)") }
            let periodic = try ctx.node.int("periodic", default: 1) != 0
            let N = Double(periodic ? size : size - 1)
            return [try Tensor(type, shape: [size], converting: (0..<size).map { f(Double($0), N) })]
        }
    }

    public static let hannWindow = windowKernel { n, N in let s = sin(Double.pi * n / N); return s * s }
    public static let hammingWindow = windowKernel { n, N in 25.0 / 46.0 - (1 - 25.0 / 46.0) * cos(2 * Double.pi * n / N) }
    public static let blackmanWindow = windowKernel { n, N in 0.42 - 0.5 * cos(2 * Double.pi * n / N) + 0.08 * cos(4 * Double.pi * n / N) }

    /// MelWeightMatrix: [dft_length/2+1, num_mel_bins] triangular filters between the edges.
    public static let melWeightMatrix: CPUKernel = { ctx in
        func scalar(_ i: Int, _ name: String) throws -> Double {
            let t = try ctx.input(i)
            guard t.count == 1, t.dataType != .string else { throw ctx.error("\(name) must be a numeric scalar") }
            return t.doubles()[0]
        }
        let melValue = try scalar(0, "num_mel_bins"), dftValue = try scalar(1, "dft_length")
        let sampleRate = try scalar(2, "sample_rate"), lower = try scalar(3, "lower_edge_hertz"), upper = try scalar(4, "upper_edge_hertz")
        guard melValue >= 1, melValue <= 65536, dftValue >= 1, dftValue <= 16_777_216, sampleRate > 0,
              sampleRate.isFinite, lower.isFinite, upper.isFinite, lower > -700, upper > -700 else {
            throw ctx.error("num_mel_bins \(melValue), dft_length \(dftValue), sample_rate \(sampleRate) and edges \(lower)...\(upper) are out of range")
        }
        let melBins = Int(melValue), dftLength = Int(dftValue)
        let spectrogramBins = dftLength / 2 + 1
        try ctx.checkAllocatable("the matrix (made in float64)", dims: [spectrogramBins, melBins], .double)
        let lowMel = 2595 * log10(1 + lower / 700), highMel = 2595 * log10(1 + upper / 700)
        let melStep = (highMel - lowMel) / Double(melBins + 2)
        let edgeValues = (0..<(melBins + 2)).map { i -> Double in
            let hz = 700 * (pow(10, (Double(i) * melStep + lowMel) / 2595) - 1)
            return ((Double(dftLength) + 1) * hz / sampleRate).rounded(.down)
        }
        guard edgeValues.allSatisfy({ $0 >= 0 && $0 < Double(spectrogramBins) }) else {
            throw ctx.error("the mel edges fall outside the \(spectrogramBins) spectrogram bins")
        }
        let edges = edgeValues.map { Int($0) }
        var out = [Double](repeating: 0, count: spectrogramBins * melBins)
        for i in 0..<melBins {
            let (lo, center, hi) = (edges[i], edges[i + 1], edges[i + 2])
            if center == lo { out[center * melBins + i] = 1 } else if center > lo {
                for j in lo...center { out[j * melBins + i] = Double(j - lo) / Double(center - lo) }
            }
            if hi > center { for j in center..<hi { out[j * melBins + i] = Double(hi - j) / Double(hi - center) } }
        }
        let raw = try ctx.node.int("output_datatype", default: 1)
        guard let type = DataType(rawValue: Int32(truncatingIfNeeded: raw)) else { throw ctx.error("unknown output_datatype \(raw)") }
        return [try Tensor(type, shape: [spectrogramBins, melBins], converting: out)]
    }
}
