import VonnxIR

/// How an image becomes an input tensor, in this order: samples scaled to [0, 1] by bit
/// depth (EXR values are taken as stored), the `channels` picked, resized (bilinear,
/// half-pixel centres), center-cropped, then `(x * scale - mean[c]) / std[c]`, laid out as
/// `layout` (without the batch dim).
public struct Preprocessing: Sendable {
    public enum Resize: Sendable, Equatable {
        /// The shorter side becomes this many pixels, keeping the aspect ratio.
        case shorterSide(Int)
        case exact(width: Int, height: Int)
    }
    public enum Layout: String, Sendable, CaseIterable { case nchw, nhwc }

    public var resize: Resize?
    public var crop: (width: Int, height: Int)?
    public var layout: Layout = .nchw
    /// The channels an input takes, by name: R, G, B of a PNG or JPEG; any of an EXR's.
    public var channels = ["R", "G", "B"]
    public var scale: Float = 1
    /// One value for every channel, or one a channel.
    public var mean: [Float] = [0]
    public var std: [Float] = [1]

    public init() {}

    /// Sets one setting from its job-file key / flag name and text: resize (N or WxH),
    /// crop (N or WxH), layout (nchw|nhwc), channels (`rgb` = R,G,B, `bgr` = B,G,R, or a
    /// comma-separated list of channel names such as `diffuse.R,diffuse.G,diffuse.B`),
    /// scale, mean and std (comma-separated numbers: one, or one a channel). Throws `.usage`
    /// naming the key and the expected form.
    public mutating func set(_ key: String, _ value: String) throws(BatchError) {
        func size() throws(BatchError) -> (Int, Int) {
            let parts = value.split(separator: "x").map { Int($0) }
            if parts.count == 1, let n = parts[0], n > 0 { return (n, n) }
            if parts.count == 2, let w = parts[0], let h = parts[1], w > 0, h > 0 { return (w, h) }
            throw .usage("\(key) '\(value)' must be N or WIDTHxHEIGHT with positive integers")
        }
        func numbers() throws(BatchError) -> [Float] {
            let parts = value.split(separator: ",", omittingEmptySubsequences: false).map { Float($0.trimmingWhitespace()) }
            guard parts.allSatisfy({ $0?.isFinite == true }) else {
                throw .usage("\(key) '\(value)' must be comma-separated numbers, one or one a channel, e.g. 0.485,0.456,0.406")
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
        case "channels": channels = try Self.channelNames(value, key: key)
        case "scale":
            guard let s = Float(value), s.isFinite else { throw .usage("scale '\(value)' must be a number") }
            scale = s
        case "mean": mean = try numbers()
        case "std":
            let s = try numbers()
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

    /// The channel names of `--channels` (or a job file's channels): `rgb`, `bgr`, or a
    /// comma-separated list of distinct names; throws `.usage` naming `key` otherwise.
    public static func channelNames(_ value: String, key: String) throws(BatchError) -> [String] {
        switch value.lowercased() {
        case "rgb": return ["R", "G", "B"]
        case "bgr": return ["B", "G", "R"]
        default:
            let names = value.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWhitespace() }
            guard !names.contains(where: \.isEmpty), Set(names).count == names.count else {
                throw .usage("\(key) '\(value)' must be rgb, bgr or distinct comma-separated channel names, e.g. R,G,B or albedo.R,albedo.G,albedo.B")
            }
            return names
        }
    }

    /// Throws `.usage` unless mean and std have one value or one for each of `count` channels.
    public func check(channelCount count: Int, for what: String) throws(BatchError) {
        for (key, values) in [("mean", mean), ("std", std)] where values.count != 1 && values.count != count {
            throw .usage("--\(key) has \(values.count) values; \(what) takes \(count) channel(s): give one value or \(count)")
        }
    }

    /// The float tensor ([C, H, W] or [H, W, C]) of all of `image`'s channels, in its order;
    /// throws when mean or std have neither one value nor one a channel.
    public func tensor(from image: Image) throws(ItemFailure) -> Tensor {
        var image = image
        let channelCount = image.channelNames.count
        guard [1, channelCount].contains(mean.count), [1, channelCount].contains(std.count) else {
            throw ItemFailure("--mean/--std give \(mean.count)/\(std.count) values for \(channelCount) channel(s)")
        }
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
        let cs = channelCount
        var out = [Float](repeating: 0, count: w * h * cs)
        for c in 0..<cs {
            let m = mean[mean.count == 1 ? 0 : c], s = std[std.count == 1 ? 0 : c]
            for y in 0..<h {
                let row = ((y0 + y) * image.width + x0) * cs + c
                for x in 0..<w {
                    let v = (image.pixels[row + x * cs] * scale - m) / s
                    out[layout == .nchw ? (c * h + y) * w + x : (y * w + x) * cs + c] = v
                }
            }
        }
        return Tensor(shape: layout == .nchw ? [cs, h, w] : [h, w, cs], scalars: out)
    }

    /// Bilinear resize with half-pixel centres (ONNX Resize `half_pixel`, edges clamped).
    static func resized(_ image: Image, width: Int, height: Int) -> Image {
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
        let cs = image.channelNames.count
        var out = [Float](repeating: 0, count: width * height * cs)
        let p = image.pixels, iw = image.width
        for (y, (y0, y1, fy)) in ys.enumerated() {
            for (x, (x0, x1, fx)) in xs.enumerated() {
                for c in 0..<cs {
                    let top = p[(y0 * iw + x0) * cs + c] * (1 - fx) + p[(y0 * iw + x1) * cs + c] * fx
                    let bottom = p[(y1 * iw + x0) * cs + c] * (1 - fx) + p[(y1 * iw + x1) * cs + c] * fx
                    out[(y * width + x) * cs + c] = top * (1 - fy) + bottom * fy
                }
            }
        }
        return Image(width: width, height: height, channelNames: image.channelNames, pixels: out)
    }
}
