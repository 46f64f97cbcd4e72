import Glibc
import Vonnx

/// `--tile WxH --overlap P`: a fully convolutional image-to-image model run over a frame in
/// tiles of W×H that overlap their neighbours by at least P pixels, so a run needs memory
/// for one tile whatever the frame's size. Each output pixel is the tiles' outputs there
/// blended by a raised-cosine window over the middle half of each shared strip, so a tile's
/// pixels within P/4 of its inner edges never count: the result equals whole-frame inference
/// (to float rounding) when the model's receptive field reaches at most P/4 pixels from its
/// centre. Tiles at the frame's edges lie on them (the model's own padding applies there);
/// a frame smaller than a fixed-size model's tile is padded by repeating its edge pixels.
public struct Tiling: Sendable, Equatable {
    public let width: Int, height: Int, overlap: Int

    /// Parses `--tile WxH` (or N for N×N); throws `.usage` unless 0 <= P and 2·P <= W, H.
    public init(tile: String, overlap: Int) throws(BatchError) {
        let parts = tile.split(separator: "x", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let w = Int(parts[0]), let h = Int(parts[parts.count - 1]), w > 0, h > 0 else {
            throw .usage("--tile '\(tile)' must be WIDTHxHEIGHT or N, e.g. 512x512")
        }
        guard overlap >= 0 else { throw .usage("--overlap must be at least 0, not \(overlap)") }
        guard overlap <= w / 2, overlap <= h / 2 else {
            throw .usage("--tile \(w)x\(h) is smaller than twice --overlap \(overlap)")
        }
        width = w; height = h; self.overlap = overlap
    }

    /// Where tiles of `tile` pixels start along an axis of `length` pixels: evenly spread
    /// from 0 to length - tile, neighbours sharing at least `overlap` pixels; [0] when one
    /// tile covers the axis.
    static func starts(length: Int, tile: Int, overlap: Int) -> [Int] {
        guard length > tile else { return [0] }
        let count = (length - overlap + (tile - overlap) - 1) / (tile - overlap)
        return (0..<count).map { k in ((length - tile) * k + (count - 1) / 2) / (count - 1) }
    }

    /// The weights along one axis of a tile output of `size` pixels: 1 except over the strips
    /// shared with the previous tile (its first `before` pixels) and the next (its last
    /// `after`), where a raised cosine over each strip's middle half hands over to the other.
    static func window(size: Int, before: Int, after: Int) -> [Float] {
        func ramp(_ i: Int, _ strip: Int) -> Float {   // 0 → 1 over the strip's middle half
            let t = (Double(i) + 0.5 - Double(strip) / 4) / (Double(strip) / 2)
            return t <= 0 ? 0 : t >= 1 ? 1 : Float(0.5 - 0.5 * cos(Double.pi * t))
        }
        return (0..<size).map { i in
            (i < before ? ramp(i, before) : 1) * (i >= size - after ? 1 - ramp(i - (size - after), after) : 1)
        }
    }
}

/// Runs a session over frames in tiles: inputs [C, H, W] (NCHW, float), every input of one
/// frame the same H×W; outputs [1, C', s·H, t·W] for the model's integer scales s, t.
struct TiledRunner: Sendable {
    let session: Session
    let tiling: Tiling
    /// The model's spatial dims when fixed (the tile must be that size), else nil.
    let fixedSize: (height: Int, width: Int)?
    /// Output pixels per input pixel, vertically and horizontally.
    let scale: (y: Int, x: Int)
    let inputs: [BatchJob.Input]
    /// The model's ops whose output at a pixel depends on the whole frame (per-image
    /// statistics), so its tiles cannot equal whole-frame inference whatever the overlap.
    let wholeFrameOps: [String]
    static let wholeFrameOpTypes: Set = ["InstanceNormalization", "MeanVarianceNormalization", "GlobalAveragePool",
                                         "GlobalMaxPool", "GlobalLpPool"]

    /// Checks that the model takes tiles: every input [N, C, H, W] with a fixed C, the same
    /// H and W (fixed ones equal to the tile), and every output an integer multiple of the
    /// tile found by running one tile of zeros. Throws `.usage` naming what does not fit.
    init(session: Session, tiling: Tiling, inputs: [BatchJob.Input]) throws(BatchError) {
        self.session = session
        self.tiling = tiling
        self.inputs = inputs
        wholeFrameOps = Set(session.model.graph.nodes.map(\.opType)).intersection(Self.wholeFrameOpTypes).sorted()
        var fixed: (Int, Int)?, probeFeeds: [String: Tensor] = [:]
        for input in inputs {
            guard input.type == .float, input.itemDims.count == 3, case .value(let channels) = input.itemDims[0] else {
                throw .usage("--tile needs float [N, C, H, W] inputs with a fixed C; input '\(input.name)' is \(input.type) [N, \(input.itemDims.map(\.description).joined(separator: ", "))]")
            }
            if case .value(let h) = input.itemDims[1], case .value(let w) = input.itemDims[2] {
                guard (h, w) == (tiling.height, tiling.width) else {
                    throw .usage("--tile \(tiling.width)x\(tiling.height): input '\(input.name)' takes exactly \(w)x\(h); use --tile \(w)x\(h)")
                }
                fixed = (h, w)
            }
            let bytes = [tiling.height, tiling.width, 4].reduce(Optional(channels)) { bytes, n in bytes.flatMap { multiplied($0, n) } }
            do { try StorageCache.checkMappable(byteCount: bytes ?? Int.max) } catch {
                throw .usage("--tile \(tiling.width)x\(tiling.height) for input '\(input.name)': \(error)")
            }
            probeFeeds[input.name] = Tensor(zeros: .float, shape: [1, channels, tiling.height, tiling.width])
        }
        fixedSize = fixed
        let probe: [(name: String, tensor: Tensor)]
        do {
            probe = try session.runOrdered(probeFeeds)
        } catch { throw .usage("--tile \(tiling.width)x\(tiling.height): the model cannot run a tile: \(error)") }
        var found: (y: Int, x: Int)?
        for (name, out) in probe {
            guard out.rank == 4, out.shape[0] == 1, out.shape[2] % tiling.height == 0, out.shape[3] % tiling.width == 0,
                  out.shape[2] > 0, out.shape[3] > 0 else {
                throw .usage("--tile: output '\(name)' is \(out.shape) for a \(tiling.width)x\(tiling.height) tile, not an image an integer multiple of it")
            }
            let s = (y: out.shape[2] / tiling.height, x: out.shape[3] / tiling.width)
            if let found, found != s {
                throw .usage("--tile: outputs scale the tile differently (\(found.x)x\(found.y) and \(s.x)x\(s.y))")
            }
            found = s
        }
        guard let found else { throw .usage("--tile: the model has no outputs") }
        scale = found
    }

    /// The outputs of one frame (`frame[k]` feeds `inputs[k]`), each with a batch dim of 1.
    func run(_ frame: [Tensor], cancellation: Cancellation?) throws -> [Tensor] {
        let (height, width) = (frame[0].shape[1], frame[0].shape[2])
        guard frame.allSatisfy({ $0.shape[1] == height && $0.shape[2] == width }) else {
            throw ItemFailure("--tile: the inputs differ in size (\(frame.map { "\($0.shape)" }.joined(separator: ", ")))")
        }
        // A model of any size runs a frame smaller than the tile at the frame's size.
        let th = fixedSize?.height ?? min(tiling.height, height), tw = fixedSize?.width ?? min(tiling.width, width)
        let ys = Tiling.starts(length: height, tile: th, overlap: tiling.overlap)
        let xs = Tiling.starts(length: width, tile: tw, overlap: tiling.overlap)
        guard let outHeight = multiplied(height, scale.y), let outWidth = multiplied(width, scale.x),
              let pixels = multiplied(outHeight, outWidth), pixels <= Int.max / 4 else {
            throw ItemFailure("--tile: a \(width)x\(height) frame scaled \(scale.x)x\(scale.y) is too large")
        }
        try StorageCache.checkMappable(byteCount: pixels * 4)
        var sums: [Tensor] = []
        let weights = Tensor(zeros: .float, shape: [1, 1, outHeight, outWidth])
        let ones = Tensor(shape: [1, 1, th * scale.y, tw * scale.x], scalars: [Float](repeating: 1, count: th * scale.y * tw * scale.x))
        for (iy, y0) in ys.enumerated() {
            // shared strips with the neighbours, in output pixels
            let top = iy > 0 ? (ys[iy - 1] + th - y0) * scale.y : 0
            let bottom = iy + 1 < ys.count ? (y0 + th - ys[iy + 1]) * scale.y : 0
            let wy = Tiling.window(size: th * scale.y, before: top, after: bottom)
            for (ix, x0) in xs.enumerated() {
                let left = ix > 0 ? (xs[ix - 1] + tw - x0) * scale.x : 0
                let right = ix + 1 < xs.count ? (x0 + tw - xs[ix + 1]) * scale.x : 0
                let wx = Tiling.window(size: tw * scale.x, before: left, after: right)
                var feeds: [String: Tensor] = [:]
                for (k, input) in inputs.enumerated() { feeds[input.name] = crop(frame[k], y0: y0, x0: x0, height: th, width: tw) }
                let outputs = try session.runOrdered(feeds, cancellation: cancellation)
                if sums.isEmpty {
                    for (name, out) in outputs {
                        guard let bytes = multiplied(pixels, out.shape[1]).flatMap({ multiplied($0, 4) }) else {
                            throw ItemFailure("--tile: output '\(name)' of the whole frame is too large")
                        }
                        try StorageCache.checkMappable(byteCount: bytes)
                        sums.append(Tensor(zeros: .float, shape: [1, out.shape[1], outHeight, outWidth]))
                    }
                }
                for (k, (name, out)) in outputs.enumerated() {
                    guard out.dataType == .float, out.shape == [1, sums[k].shape[1], th * scale.y, tw * scale.x] else {
                        throw ItemFailure("--tile: output '\(name)' is \(out.dataType) \(out.shape) for a \(tw)x\(th) tile, not float [1, \(sums[k].shape[1]), \(th * scale.y), \(tw * scale.x)]")
                    }
                    accumulate(out, into: sums[k], at: (y0 * scale.y, x0 * scale.x), wy: wy, wx: wx)
                }
                accumulate(ones, into: weights, at: (y0 * scale.y, x0 * scale.x), wy: wy, wx: wx)
            }
        }
        weights.withUnsafeBufferPointer(as: Float.self) { w in
            for sum in sums {
                sum.withUnsafeMutableBufferPointer(as: Float.self) { s in
                    for i in s.indices { s[i] /= w[i % pixels] }
                }
            }
        }
        return sums
    }

    /// The [1, C, height, width] window of `image` [C, H, W] at (y0, x0), edge pixels repeated
    /// past its bottom and right edges.
    func crop(_ image: Tensor, y0: Int, x0: Int, height: Int, width: Int) -> Tensor {
        let (c, h, w) = (image.shape[0], image.shape[1], image.shape[2])
        let tile = Tensor(uninitialized: .float, shape: [1, c, height, width])
        image.withUnsafeBufferPointer(as: Float.self) { src in
            tile.withUnsafeMutableBufferPointer(as: Float.self) { dst in
                for ch in 0..<c {
                    for y in 0..<height {
                        let row = (ch * h + min(y0 + y, h - 1)) * w
                        for x in 0..<width { dst[(ch * height + y) * width + x] = src[row + min(x0 + x, w - 1)] }
                    }
                }
            }
        }
        return tile
    }

    /// Adds `out` [1, C, th, tw] weighted by wy ⊗ wx into `sum` [1, C, H, W] at `at`, the
    /// part inside `sum` only.
    func accumulate(_ out: Tensor, into sum: Tensor, at: (y: Int, x: Int), wy: [Float], wx: [Float]) {
        let (c, th, tw) = (out.shape[1], out.shape[2], out.shape[3])
        let frame = (height: sum.shape[2], width: sum.shape[3])
        let rows = min(th, frame.height - at.y), cols = min(tw, frame.width - at.x)
        out.withUnsafeBufferPointer(as: Float.self) { src in
            sum.withUnsafeMutableBufferPointer(as: Float.self) { dst in
                for ch in 0..<c {
                    for y in 0..<rows {
                        let s = (ch * th + y) * tw, d = (ch * frame.height + at.y + y) * frame.width + at.x
                        for x in 0..<cols { dst[d + x] += src[s + x] * wy[y] * wx[x] }
                    }
                }
            }
        }
    }
}

/// a · b, or nil when it overflows.
private func multiplied(_ a: Int, _ b: Int) -> Int? {
    let (r, overflow) = a.multipliedReportingOverflow(by: b)
    return overflow ? nil : r
}
