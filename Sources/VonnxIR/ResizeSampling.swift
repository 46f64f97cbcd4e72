/// How Resize samples along each resized axis, shared by the CPU and Vulkan kernels: the
/// node's options and output sizes, and per output index the input indices and weights.
public enum ResizeSampling {
    /// A Resize node's sampling attributes, with ONNX's defaults.
    public struct Options: Sendable {
        /// `mode` ("nearest", "linear", "cubic"), `coordinate_transformation_mode` and `nearest_mode`.
        public var mode = "nearest", coordinateMode = "half_pixel", nearestMode = "round_prefer_floor"
        /// `cubic_coeff_a`, `exclude_outside`, `extrapolation_value` and `antialias`.
        public var cubicA = -0.75, excludeOutside = false, extrapolation = 0.0, antialias = false
        /// ONNX's defaults.
        public init() {}
    }

    /// One output index along an axis: input indices and weights, or nil when extrapolated.
    public typealias Taps = (indices: [Int], weights: [Double])?

    static func coefficients(_ ratio: Double, scale: Double, _ o: Options) -> [Double] {
        switch o.mode {
        case "nearest":
            if ratio == ratio.rounded(.down) { return [0, 1] }
            switch o.nearestMode {
            case "round_prefer_ceil": return ratio < 0.5 ? [1, 0] : [0, 1]
            case "floor": return [1, 0]
            case "ceil": return [0, 1]
            default: return ratio <= 0.5 ? [1, 0] : [0, 1]
            }
        case "linear":
            guard o.antialias else { return [1 - ratio, ratio] }
            let s = min(scale, 1), start = Int((-1 / s).rounded(.down)) + 1, footprint = 2 - 2 * start
            let c = (0..<footprint).map { max(0, min(1, 1 - abs((Double(start + $0) - ratio) * s))) }
            let sum = c.reduce(0, +)
            return c.map { $0 / sum }
        default: // cubic
            let a = o.cubicA
            func k(_ x: Double) -> Double {
                let x = abs(x)
                if x <= 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
                if x < 2 { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
                return 0
            }
            guard o.antialias else { return [k(ratio + 1), k(ratio), k(1 - ratio), k(2 - ratio)] }
            let s = min(scale, 1), start = Int((-2 / s).rounded(.down)) + 1, end = 2 - start
            let c = (start..<end).map { k(s * (Double($0) - ratio)) }
            let sum = c.reduce(0, +)
            return c.map { $0 / sum }
        }
    }

    /// The taps of every output index along one axis.
    public static func taps(input: Int, output: Int, scale: Double, roi: (Double, Double), _ o: Options) -> [Taps] {
        let inW = Double(input), outW = scale * inW
        return (0..<output).map { i -> Taps in
            let y = Double(i)
            var x: Double
            switch o.coordinateMode {
            case "align_corners": x = outW == 1 ? 0 : y * (inW - 1) / (outW - 1)
            case "asymmetric": x = y / scale
            case "tf_crop_and_resize":
                x = outW == 1 ? (roi.1 - roi.0) * (inW - 1) / 2 : y * (roi.1 - roi.0) * (inW - 1) / (outW - 1)
                x += roi.0 * (inW - 1)
                if x < 0 || x > inW - 1 { return nil }
            case "pytorch_half_pixel": x = outW == 1 ? -0.5 : (y + 0.5) / scale - 0.5
            case "half_pixel_symmetric":
                let offset = inW / 2 * (1 - Double(output) / outW)
                x = offset + (y + 0.5) / scale - 0.5
            default: x = (y + 0.5) / scale - 0.5
            }
            // NaN or huge coordinates (from a bad roi or scale) must not trap the Int conversions below
            x = x.isNaN ? 0 : min(max(x, -1e12), 1e12)
            let xi = x.rounded(.down)
            let ratio = x == xi ? 1 : x - xi
            var c = coefficients(ratio, scale: scale, o)
            let n = c.count, pad = (n + 1) / 2
            let xp = x + Double(pad), p = xp.rounded(.down), frac = xp - p
            let offset = n % 2 == 0 ? (frac == 0 ? -(n / 2) : -(n / 2) + 1) : (frac <= 0.5 ? -((n - 1) / 2) : -((n - 1) / 2) + 1)
            let start = Int(p) + offset - pad
            var idx = (0..<n).map { start + $0 }
            if o.excludeOutside {
                for j in 0..<n where idx[j] < 0 || idx[j] >= input { c[j] = 0 }
                let sum = c.reduce(0, +)
                if sum != 0 { c = c.map { $0 / sum } }
            }
            idx = idx.map { max(0, min(input - 1, $0)) }
            return (idx, c)
        }
    }

    /// Resamples `data` (float64, `shape`) along `axis` to `taps.count` entries.
    /// Output sizes, scales, roi (begins then ends, per dim; empty when none) and options.
    public struct Plan: Sendable {
        /// The fields, as above.
        public var sizes: [Int], scales: [Double], roi: [Double], options: Options
    }

    /// Reads a Resize node's attributes and its roi, scales and sizes inputs (opset 11 on; before,
    /// scales alone) for an input of `shape`.
    public static func plan(_ node: Node, input shape: [Int], opset: Int, roi roiInput: Tensor?, scales scalesInput: Tensor?,
                            sizes sizesTensor: Tensor?) throws -> Plan {
        let r = shape.count
        var o = Options()
        o.mode = try node.string("mode", default: "nearest")
        guard ["nearest", "linear", "cubic"].contains(o.mode) else { throw node.error("mode '\(o.mode)' is not nearest, linear or cubic") }
        if opset < 11 {
            o.coordinateMode = "asymmetric"; o.nearestMode = "floor"
        } else {
            o.coordinateMode = try node.string("coordinate_transformation_mode", default: "half_pixel")
            o.nearestMode = try node.string("nearest_mode", default: "round_prefer_floor")
            o.cubicA = Double(try node.float("cubic_coeff_a", default: -0.75))
            o.excludeOutside = try node.int("exclude_outside", default: 0) != 0
            o.extrapolation = Double(try node.float("extrapolation_value", default: 0))
            o.antialias = try node.int("antialias", default: 0) != 0
        }
        let axes = try (node.ints("axes") ?? Array(0..<r)).map { a -> Int in
            guard (-r..<r).contains(a) else { throw node.error("axis \(a) is out of range for rank \(r)") }
            return a < 0 ? a + r : a
        }
        guard Set(axes).count == axes.count else { throw node.error("axes \(axes) repeat an axis") }
        let policy = try node.string("keep_aspect_ratio_policy", default: "stretch")
        var roi = [Double]()
        if let t = roiInput, t.count > 0 {
            let v = t.doubles()
            guard v.count == 2 * axes.count else { throw node.error("roi has \(v.count) values for \(axes.count) axes") }
            roi = Array(repeating: 0, count: r) + Array(repeating: 1, count: r)
            for (i, a) in axes.enumerated() { roi[a] = v[i]; roi[a + r] = v[axes.count + i] }
        }
        var scales = [Double](repeating: 1, count: r), sizes = shape
        if let st = sizesTensor, st.count > 0 {
            let s = st.ints()
            guard s.count == axes.count else { throw node.error("sizes has \(s.count) values for \(axes.count) axes") }
            for (i, a) in axes.enumerated() {
                guard shape[a] > 0 else { throw node.error("cannot resize empty axis \(a)") }
                sizes[a] = s[i]; scales[a] = Double(s[i]) / Double(shape[a])
            }
            if policy != "stretch" {
                let pick = axes.map { scales[$0] }
                guard let scale = policy == "not_larger" ? pick.min() : pick.max(),
                      policy == "not_larger" || policy == "not_smaller" else {
                    throw node.error("keep_aspect_ratio_policy '\(policy)' is not stretch, not_larger or not_smaller")
                }
                for a in axes { scales[a] = scale; sizes[a] = Int(scale * Double(shape[a]) + 0.5) }
            }
        } else if let sc = scalesInput, sc.count > 0 {
            let s = sc.doubles()
            guard s.count == axes.count else { throw node.error("scales has \(s.count) values for \(axes.count) axes") }
            for (i, a) in axes.enumerated() {
                guard s[i] > 0, s[i].isFinite, s[i] * Double(shape[a]) < Double(Int32.max) else { throw node.error("scale \(s[i]) is invalid") }
                scales[a] = s[i]; sizes[a] = Int(s[i] * Double(shape[a]))
            }
        } else {
            throw node.error("one of scales and sizes must be given")
        }
        return Plan(sizes: sizes, scales: scales, roi: roi, options: o)
    }
}
