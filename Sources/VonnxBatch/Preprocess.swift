import VonnxIR

/// How an image becomes an input tensor, in this order: samples scaled to [0, 1] by bit
/// depth, resized (bilinear, half-pixel centres), center-cropped, reordered to `channels`,
/// then `(x * scale - mean[c]) / std[c]`, laid out as `layout` (without the batch dim).
public struct Preprocessing: Sendable {
    public enum Resize: Sendable, Equatable {
        /// The shorter side becomes this many pixels, keeping the aspect ratio.
        case shorterSide(Int)
        case exact(width: Int, height: Int)
    }
    public enum Layout: String, Sendable, CaseIterable { case nchw, nhwc }
    public enum ChannelOrder: String, Sendable, CaseIterable { case rgb, bgr }

    public var resize: Resize?
    public var crop: (width: Int, height: Int)?
    public var layout: Layout = .nchw
    public var channels: ChannelOrder = .rgb
    public var scale: Float = 1
    public var mean: [Float] = [0, 0, 0]
    public var std: [Float] = [1, 1, 1]

    public init() {}

    /// Sets one setting from its job-file key / flag name and text: resize (N or WxH),
    /// crop (N or WxH), layout (nchw|nhwc), channels (rgb|bgr), scale, mean and std (three
    /// comma-separated numbers). Throws `.usage` naming the key and the expected form.
    public mutating func set(_ key: String, _ value: String) throws(BatchError) {
        func size() throws(BatchError) -> (Int, Int) {
            let parts = value.split(separator: "x").map { Int($0) }
            if parts.count == 1, let n = parts[0], n > 0 { return (n, n) }
            if parts.count == 2, let w = parts[0], let h = parts[1], w > 0, h > 0 { return (w, h) }
            throw .usage("\(key) '\(value)' must be N or WIDTHxHEIGHT with positive integers")
        }
        func triple() throws(BatchError) -> [Float] {
            let parts = value.split(separator: ",").map { Float($0.trimmingWhitespace()) }
            guard parts.count == 3, parts.allSatisfy({ $0 != nil }) else {
                throw .usage("\(key) '\(value)' must be three comma-separated numbers, e.g. 0.485,0.456,0.406")
            }
            return parts.map { $0! }
        }
        switch key {
        case "resize":
            let (w, h) = try size()
            resize = value.contains("x") ? .exact(width: w, height: h) : .shorterSide(w)
        case "crop": let (w, h) = try size(); crop = (w, h)
        case "layout":
            guard let l = Layout(rawValue: value.lowercased()) else { throw .usage("layout '\(value)' must be nchw or nhwc") }
            layout = l
        case "channels":
            guard let c = ChannelOrder(rawValue: value.lowercased()) else { throw .usage("channels '\(value)' must be rgb or bgr") }
            channels = c
        case "scale":
            guard let s = Float(value), s.isFinite else { throw .usage("scale '\(value)' must be a number") }
            scale = s
        case "mean": mean = try triple()
        case "std":
            let s = try triple()
            guard s.allSatisfy({ $0 != 0 }) else { throw .usage("std '\(value)' must not contain 0") }
            std = s
        default: throw .usage("unknown preprocessing setting '\(key)' (known: resize, crop, layout, channels, scale, mean, std)")
        }
    }

    /// Applies a job file: `key = value` lines with the keys of `set`; `#` starts a comment.
    public mutating func apply(jobFile path: String) throws(BatchError) {
        let text: String
        do { text = try readText(path) } catch { throw .usage("job file \(error)") }
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0].trimmingWhitespace()
            if line.isEmpty { continue }
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw .usage("job file \(path) line \(number + 1): '\(line)' is not KEY = VALUE") }
            do { try set(parts[0].trimmingWhitespace(), parts[1].trimmingWhitespace()) } catch {
                throw .usage("job file \(path) line \(number + 1): \(error)")
            }
        }
    }

    /// The float tensor ([3, H, W] or [H, W, 3]) for `image`.
    public func tensor(from image: RGBImage) -> Tensor {
        var image = image
        switch resize {
        case .shorterSide(let side)?:
            let shorter = min(image.width, image.height)
            let w = max(1, (image.width * side + shorter / 2) / shorter), h = max(1, (image.height * side + shorter / 2) / shorter)
            image = Self.resized(image, width: w, height: h)
        case .exact(let w, let h)?: image = Self.resized(image, width: w, height: h)
        case nil: break
        }
        let (w, h) = crop.map { (min($0.width, image.width), min($0.height, image.height)) } ?? (image.width, image.height)
        let x0 = (image.width - w) / 2, y0 = (image.height - h) / 2
        var out = [Float](repeating: 0, count: w * h * 3)
        let order = channels == .rgb ? [0, 1, 2] : [2, 1, 0]
        for c in 0..<3 {
            let source = order[c], m = mean[c], s = std[c]
            for y in 0..<h {
                let row = ((y0 + y) * image.width + x0) * 3 + source
                for x in 0..<w {
                    let v = (image.pixels[row + x * 3] * scale - m) / s
                    out[layout == .nchw ? (c * h + y) * w + x : (y * w + x) * 3 + c] = v
                }
            }
        }
        return Tensor(shape: layout == .nchw ? [3, h, w] : [h, w, 3], scalars: out)
    }

    /// Bilinear resize with half-pixel centres (ONNX Resize `half_pixel`, edges clamped).
    static func resized(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        if width == image.width && height == image.height { return image }
        func taps(_ outSize: Int, _ inSize: Int) -> [(Int, Int, Float)] {
            let ratio = Float(inSize) / Float(outSize)
            return (0..<outSize).map { o in
                let s = min(max((Float(o) + 0.5) * ratio - 0.5, 0), Float(inSize - 1))
                let i0 = Int(s), i1 = min(i0 + 1, inSize - 1)
                return (i0, i1, s - Float(i0))
            }
        }
        let xs = taps(width, image.width), ys = taps(height, image.height)
        var out = [Float](repeating: 0, count: width * height * 3)
        let p = image.pixels, iw = image.width
        for (y, (y0, y1, fy)) in ys.enumerated() {
            for (x, (x0, x1, fx)) in xs.enumerated() {
                for c in 0..<3 {
                    let top = p[(y0 * iw + x0) * 3 + c] * (1 - fx) + p[(y0 * iw + x1) * 3 + c] * fx
                    let bottom = p[(y1 * iw + x0) * 3 + c] * (1 - fx) + p[(y1 * iw + x1) * 3 + c] * fx
                    out[(y * width + x) * 3 + c] = top * (1 - fy) + bottom * fy
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}
