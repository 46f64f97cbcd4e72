import CImage
import Glibc

/// An EXR part's data window (the pixels stored) and display window (the frame they sit in),
/// each as inclusive [min x, min y, max x, max y].
public struct ExrWindows: Sendable, Equatable {
    public var data: [Int]
    public var display: [Int]

    init(_ w: cexr_windows) {
        data = [w.data.0, w.data.1, w.data.2, w.data.3].map(Int.init)
        display = [w.display.0, w.display.1, w.display.2, w.display.3].map(Int.init)
    }

    /// Both windows scaled by (sx, sy) about the origin: pixel x of the input covers
    /// output pixels sx·x ..< sx·(x + 1).
    func scaled(x sx: Int, y sy: Int) -> ExrWindows? {
        func scale(_ box: [Int]) -> [Int]? {
            let parts = [box[0] * sx, box[1] * sy, (box[2] + 1) * sx - 1, (box[3] + 1) * sy - 1]
            return parts.allSatisfy { Int32(exactly: $0) != nil } ? parts : nil
        }
        guard let data = scale(data), let display = scale(display) else { return nil }
        return ExrWindows(data: data, display: display)
    }

    init(data: [Int], display: [Int]) { self.data = data; self.display = display }

    var c: cexr_windows {
        let d = data.map { Int32($0) }, s = display.map { Int32($0) }
        return cexr_windows(data: (d[0], d[1], d[2], d[3]), display: (s[0], s[1], s[2], s[3]))
    }
}

extension Image {
    /// Decodes the channels `names` (in that order) of an OpenEXR file's first part over its
    /// data window: half, float or uint channels, scanline or tiled. Throws a one-line reason:
    /// a missing channel (naming the file's), a deep or subsampled image, a compression this
    /// OpenEXR cannot read, a truncated or corrupt file.
    public init(decodingEXR bytes: [UInt8], channels names: [String]) throws(ItemFailure) {
        var pixels: UnsafeMutablePointer<Float>?
        var width: Int32 = 0, height: Int32 = 0
        var windows = cexr_windows()
        var message = [CChar](repeating: 0, count: 512)
        let rc = withCStrings(names) { cNames in
            bytes.withUnsafeBufferPointer { data in
                message.withUnsafeMutableBufferPointer { err in
                    cexr_decode(data.baseAddress, data.count, cNames, Int32(names.count), &pixels, &width, &height, &windows,
                                err.baseAddress, err.count)
                }
            }
        }
        guard rc == 0, let pixels else { throw ItemFailure(message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }) }
        defer { cimage_free(pixels) }
        let (w, h, c) = (Int(width), Int(height), names.count)
        var interleaved = [Float](repeating: 0, count: w * h * c)
        for k in 0..<c {
            for p in 0..<(w * h) { interleaved[p * c + k] = pixels[k * w * h + p] }
        }
        self.init(width: w, height: h, channelNames: names, pixels: interleaved, windows: ExrWindows(windows))
    }
}

/// The header of an EXR file: its first part's channel names (sorted, as the file keeps them)
/// and windows; throws the reason when it is not a readable EXR.
func exrHeader(_ bytes: [UInt8]) throws(ItemFailure) -> (channels: [String], windows: ExrWindows) {
    var text = [CChar](repeating: 0, count: 4096)
    var windows = cexr_windows()
    let rc = bytes.withUnsafeBufferPointer { data in
        text.withUnsafeMutableBufferPointer { cexr_header(data.baseAddress, data.count, $0.baseAddress, $0.count, &windows) }
    }
    let string = text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    guard rc == 0 else { throw ItemFailure(string) }
    return (string.split(separator: ",").map(String.init), ExrWindows(windows))
}

/// EXR bytes of planar floats `planes` ([C, H, W] flattened, channels named `names`) as half
/// or float channels, with `windows` (their data window must be W×H). The attributes of
/// `header` (an EXR file's bytes) that the new header does not set are kept, its tile size,
/// and its compression when it is one this OpenEXR writes; else scanlines, ZIP.
public func encodeEXR(_ planes: [Float], width: Int, height: Int, channels names: [String], half: Bool,
                      windows: ExrWindows? = nil, header: [UInt8]? = nil) throws(ItemFailure) -> [UInt8] {
    precondition(planes.count == width * height * names.count && width > 0 && height > 0)
    var w = (windows ?? ExrWindows(data: [0, 0, width - 1, height - 1], display: [0, 0, width - 1, height - 1])).c
    var out: UnsafeMutableRawPointer?
    var size = 0
    var message = [CChar](repeating: 0, count: 512)
    let rc = withCStrings(names) { cNames in
        planes.withUnsafeBufferPointer { data in
            message.withUnsafeMutableBufferPointer { err in
                func encode(_ source: UnsafeBufferPointer<UInt8>?) -> Int32 {
                    cexr_encode(data.baseAddress, Int32(width), Int32(height), Int32(names.count), cNames, half ? 1 : 0, &w,
                                source?.baseAddress, source?.count ?? 0, &out, &size, err.baseAddress, err.count)
                }
                return header.map { $0.withUnsafeBufferPointer { encode($0) } } ?? encode(nil)
            }
        }
    }
    guard rc == 0, let out else { throw ItemFailure(message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }) }
    defer { cimage_free(out) }
    return Array(UnsafeRawBufferPointer(start: out, count: size))
}

/// Calls `body` with a C array of NUL-terminated copies of `strings`, alive for the call.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
