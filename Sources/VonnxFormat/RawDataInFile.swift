import VonnxIR

/// A model file read without its main graph's large initializer payloads (raw_data), which stay
/// in the file until each is read straight into its tensor's storage. protobuf-c copies every
/// `bytes` field, so parsing the whole file held the weights three times over at its peak (the
/// file, the parsed copy, the tensors): vit-b16's 346 MB of weights peaked at ~650 MB of RSS
/// while loading, where this holds them once.
final class RawDataInFile {
    /// Payloads shorter than this stay in the parsed bytes (a read per tiny tensor costs more than it saves).
    static let minimumBytes = 1 << 16

    /// Each payload's bytes in the file, by the index of its TensorProto among the main graph's initializers.
    let ranges: [Int: Range<Int>]
    private let file: FileReader

    private init(ranges: [Int: Range<Int>], file: consuming FileReader) {
        self.ranges = ranges
        self.file = file
    }

    /// Reads the file at `path` as `skeleton`, the model with the large payloads taken out (their
    /// TensorProtos lose the raw_data field), which stay in the file for `rawData` to read; nil
    /// when its wire format is not a model as the walk expects it (malformed, or a field
    /// repeated that protobuf would merge), for the plain parse to read or reject it whole.
    /// Throws `.io` when the file cannot be read.
    static func read(path: String) throws -> (skeleton: [UInt8], rawData: RawDataInFile)? {
        let file = try FileReader(path: path)
        var walk = SkeletonWalk(size: file.size)
        do {
            var skeleton: [UInt8] = []
            try walk.message(end: file.size, .model, into: &skeleton) { try file.read(into: $0, offset: $1, count: $2) }
            return (skeleton, RawDataInFile(ranges: walk.ranges, file: file))
        } catch is SkeletonWalk.Unexpected {
            return nil
        }
    }

    /// Reads `range` (one of `ranges`) into `buffer`; throws `.io` when the file changed under us.
    func read(_ range: Range<Int>, into buffer: UnsafeMutableRawPointer) throws {
        try file.read(into: buffer, offset: range.lowerBound, count: range.count)
    }
}

/// The front-to-back walk behind `RawDataInFile`: it copies a ModelProto's wire format through
/// a window over the file, following only ModelProto.graph → GraphProto.initializer →
/// TensorProto.raw_data, and skips (without reading) the raw_data fields of `minimumBytes` or more.
private struct SkeletonWalk {
    /// The message being copied: the model, its graph, or the graph's initializer number `index`.
    enum Level { case model, graph, tensor(index: Int) }
    /// Wire data the walk does not expect.
    struct Unexpected: Error {}

    typealias Read = (UnsafeMutableRawPointer, _ offset: Int, _ count: Int) throws -> Void

    let size: Int
    var ranges: [Int: Range<Int>] = [:]
    private var position = 0
    private var window = [UInt8](repeating: 0, count: 1 << 20), windowStart = 0, windowCount = 0

    init(size: Int) { self.size = size }

    /// Makes the window hold the byte at `position`.
    private mutating func fill(_ read: Read) throws {
        guard position >= windowStart + windowCount else { return }
        guard position < size else { throw Unexpected() }
        windowStart = position
        windowCount = min(window.count, size - position)
        let (start, count) = (windowStart, windowCount)
        try window.withUnsafeMutableBytes { try read($0.baseAddress!, start, count) }
    }

    private mutating func byte(_ read: Read) throws -> UInt8 {
        try fill(read)
        defer { position += 1 }
        return window[position - windowStart]
    }

    private mutating func varint(_ read: Read) throws -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: UInt64(0), to: 64, by: 7) {
            let b = try byte(read)
            value |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return value }
        }
        throw Unexpected()
    }

    private mutating func copy(_ count: Int, into out: inout [UInt8], _ read: Read) throws {
        guard count <= size - position else { throw Unexpected() }
        var left = count
        while left > 0 {
            try fill(read)
            let n = min(left, windowStart + windowCount - position)
            out += window[position - windowStart..<position - windowStart + n]
            position += n
            left -= n
        }
    }

    private static func append(varint value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }

    /// Copies the fields of a `level` message ending at file offset `end` into `out`.
    mutating func message(end: Int, _ level: Level, into out: inout [UInt8], _ read: Read) throws {
        var graphs = 0, initializers = 0, rawData = 0
        while position < end {
            let key = try varint(read)
            switch key & 7 {
            case 0:
                let value = try varint(read)
                Self.append(varint: key, to: &out)
                Self.append(varint: value, to: &out)
            case 1, 5:
                Self.append(varint: key, to: &out)
                try copy(key & 7 == 1 ? 8 : 4, into: &out, read)
            case 2:
                let length = try varint(read)
                guard length <= UInt64(end - position) else { throw Unexpected() }
                let count = Int(length), field = key >> 3
                var child: Level?
                switch (level, field) {
                case (.model, 7): graphs += 1; child = .graph
                case (.graph, 5): child = .tensor(index: initializers); initializers += 1
                case (.tensor(let index), 9):
                    rawData += 1
                    if count >= RawDataInFile.minimumBytes {
                        ranges[index] = position..<position + count
                        position += count
                        continue
                    }
                default: break
                }
                // protobuf merges a repeated graph and keeps a repeated raw_data's last: let it
                guard graphs <= 1, rawData <= 1 else { throw Unexpected() }
                Self.append(varint: key, to: &out)
                if let child {
                    var inner: [UInt8] = []
                    try message(end: position + count, child, into: &inner, read)
                    Self.append(varint: UInt64(inner.count), to: &out)
                    out += inner
                } else {
                    Self.append(varint: length, to: &out)
                    try copy(count, into: &out, read)
                }
            default:
                throw Unexpected()
            }
        }
        guard position == end else { throw Unexpected() }
    }
}
