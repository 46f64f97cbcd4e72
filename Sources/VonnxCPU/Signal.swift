import Glibc
import VonnxIR

/// Complex DFTs of length n by direct summation with a twiddle table (O(n²) per transform).
struct DFTKernel {
    let n: Int
    let cosTable: [Double], sinTable: [Double]

    init(length n: Int) {
        self.n = n
        cosTable = (0..<n).map { cos(2 * Double.pi * Double($0) / Double(n)) }
        sinTable = (0..<n).map { sin(2 * Double.pi * Double($0) / Double(n)) }
    }

    /// Bins `0..<bins` of the transform of (re, im) (length n): forward uses e^{-2πikt/n},
    /// inverse e^{+2πikt/n} scaled by 1/n.
    func transform(_ re: [Double], _ im: [Double], bins: Int, inverse: Bool) -> (re: [Double], im: [Double]) {
        var outRe = [Double](repeating: 0, count: bins), outIm = outRe
        let sign: Double = inverse ? 1 : -1
        for k in 0..<bins {
            var sr = 0.0, si = 0.0
            var idx = 0
            for t in 0..<n {
                let c = cosTable[idx], s = sign * sinTable[idx]
                sr += re[t] * c - im[t] * s
                si += re[t] * s + im[t] * c
                idx += k; if idx >= n { idx -= n }
            }
            outRe[k] = inverse ? sr / Double(n) : sr
            outIm[k] = inverse ? si / Double(n) : si
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
        return [try makeTensor(x.dataType, shape: outShape, values: out)]
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
        return [try makeTensor(x.dataType, shape: shape, values: out)]
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
            return [try makeTensor(type, shape: [size], values: (0..<size).map { f(Double($0), N) })]
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
        return [try makeTensor(type, shape: [spectrogramBins, melBins], values: out)]
    }
}
