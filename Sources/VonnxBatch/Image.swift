import CImage

/// An image of named channels, rows top to bottom, samples interleaved (HWC): decoded PNG and
/// JPEG are R, G, B scaled to [0, 1]; EXR holds the channels asked for, values as stored.
public struct Image: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let channelNames: [String]
    public var pixels: [Float]
    /// An EXR frame's windows; nil for other images.
    public var windows: ExrWindows?

    public init(width: Int, height: Int, channelNames: [String] = ["R", "G", "B"], pixels: [Float], windows: ExrWindows? = nil) {
        precondition(pixels.count == width * height * channelNames.count)
        self.width = width; self.height = height; self.channelNames = channelNames; self.pixels = pixels
        self.windows = windows
    }

    /// The channels `names`, in that order; throws naming a channel the image lacks.
    public func selecting(_ names: [String]) throws(ItemFailure) -> Image {
        if names == channelNames { return self }
        var order: [Int] = []
        for name in names {
            guard let k = channelNames.firstIndex(of: name) else {
                throw ItemFailure("no channel '\(name)' (the image has \(channelNames.joined(separator: ", ")))")
            }
            order.append(k)
        }
        let c = channelNames.count
        var out = [Float](repeating: 0, count: width * height * names.count)
        for p in 0..<(width * height) {
            for (k, source) in order.enumerated() { out[p * names.count + k] = pixels[p * c + source] }
        }
        return Image(width: width, height: height, channelNames: names, pixels: out, windows: windows)
    }

    /// Decodes PNG (8 or 16 bits a sample, any colour type) or JPEG bytes; throws the
    /// decoder's reason (e.g. "JPEG: Premature end of JPEG file") when they are corrupt.
    public init(decoding bytes: [UInt8]) throws(ItemFailure) {
        var pixels: UnsafeMutableRawPointer?
        var width: Int32 = 0, height: Int32 = 0, bits: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let rc = bytes.withUnsafeBufferPointer { data in
            message.withUnsafeMutableBufferPointer { err in
                cimage_decode(data.baseAddress, data.count, &pixels, &width, &height, &bits, err.baseAddress, err.count)
            }
        }
        guard rc == 0, let pixels else { throw ItemFailure(message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }) }
        defer { cimage_free(pixels) }
        let count = Int(width) * Int(height) * 3
        let values: [Float] = bits == 16
            ? UnsafeBufferPointer(start: pixels.assumingMemoryBound(to: UInt16.self), count: count).map { Float($0) / 65535 }
            : UnsafeBufferPointer(start: pixels.assumingMemoryBound(to: UInt8.self), count: count).map { Float($0) / 255 }
        self.init(width: Int(width), height: Int(height), pixels: values)
    }
}

/// PNG bytes of interleaved samples (UInt8 for 8 bits, UInt16 for 16), channels 1 = grey
/// or 3 = RGB, tagged sRGB.
public func encodePNG<Sample: FixedWidthInteger & UnsignedInteger>(_ samples: [Sample], width: Int, height: Int,
                                                                    channels: Int) throws(ItemFailure) -> [UInt8] {
    precondition(samples.count == width * height * channels && (channels == 1 || channels == 3)
                 && (Sample.bitWidth == 8 || Sample.bitWidth == 16))
    var out: UnsafeMutableRawPointer?
    var size = 0
    var message = [CChar](repeating: 0, count: 256)
    let rc = samples.withUnsafeBufferPointer { data in
        message.withUnsafeMutableBufferPointer { err in
            cimage_encode_png(data.baseAddress, Int32(width), Int32(height), Int32(channels), Int32(Sample.bitWidth),
                              &out, &size, err.baseAddress, err.count)
        }
    }
    guard rc == 0, let out else { throw ItemFailure(message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }) }
    defer { cimage_free(out) }
    return Array(UnsafeRawBufferPointer(start: out, count: size))
}

/// Why one item could not be processed; recorded in the failures file, the job goes on.
public struct ItemFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
