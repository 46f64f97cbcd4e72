import Glibc
import VonnxIR

/// NumPy `.npy` arrays (format versions 1.0, 2.0 and 3.0): little-endian numeric and bool
/// dtypes (`<f4 <f8 <f2 |i1 |u1 <i2 <u2 <i4 <u4 <i8 <u8 |b1`) and strings (`<U`n read and
/// written as UTF-32, `|S`n read as bytes), C order only. Errors are `invalidArgument`
/// saying what is wrong with the file.
public enum Npy {
    /// Reads the array in the `.npy` file at `path`.
    public static func read(path: String) throws -> Tensor {
        do { return try decode(bytes: readFile(path)) }
        catch VonnxError.invalidArgument(let m) { throw VonnxError.invalidArgument("\(path): \(m)") }
    }

    /// Parses `.npy` bytes; the data must hold exactly the elements the header's shape counts.
    public static func decode(bytes: [UInt8]) throws -> Tensor {
        func fail(_ m: String) -> VonnxError { .invalidArgument("not a valid .npy file: \(m)") }
        guard bytes.count >= 10, bytes[0..<6].elementsEqual([0x93] + Array("NUMPY".utf8)) else {
            throw fail("bad magic (expected \\x93NUMPY)")
        }
        let lengthBytes: Int
        switch bytes[6] {
        case 1: lengthBytes = 2
        case 2, 3: lengthBytes = 4
        default: throw fail("unsupported format version \(bytes[6]).\(bytes[7])")
        }
        let headerStart = 8 + lengthBytes
        guard bytes.count >= headerStart else { throw fail("truncated header") }
        let headerLength = (0..<lengthBytes).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        guard headerLength <= bytes.count - headerStart else { throw fail("header length \(headerLength) exceeds the file") }
        let header = try parseHeader(String(decoding: bytes[headerStart..<headerStart + headerLength], as: UTF8.self), fail)

        guard case .text(let descr)? = header["descr"] else { throw fail("header has no 'descr' string") }
        switch header["fortran_order"] {
        case .word("False")?: break
        case .word("True")?: throw fail("fortran_order True (column-major) arrays are not supported; save in C order")
        default: throw fail("header has no 'fortran_order' True/False")
        }
        guard case .tuple(let dimTexts)? = header["shape"] else { throw fail("header has no 'shape' tuple") }
        let dims = try dimTexts.map { text in
            guard let d = Int(text) else { throw fail("shape entry '\(text)' is not an integer") }
            return d
        }
        guard let count = checkedElementCount(dims) else { throw fail("invalid shape \(dims)") }
        let (type, itemSize) = try element(descr, fail)
        let dataStart = headerStart + headerLength
        guard let needed = checkedElementCount([count, itemSize], limit: Int.max),
              bytes.count - dataStart == needed else {
            throw fail("data has \(bytes.count - dataStart) bytes, shape \(dims) of '\(descr)' needs \(count) × \(itemSize)")
        }
        return bytes.withUnsafeBytes { raw in
            let data = UnsafeRawBufferPointer(rebasing: raw[dataStart...])
            guard let type else { return Tensor(strings: strings(data, descr: descr, itemSize: itemSize, count: count), shape: dims) }
            let t = Tensor(zeros: type, shape: dims)
            if needed > 0 { t.storage.pointer.copyMemory(from: data.baseAddress!, byteCount: needed) }
            if type == .bool {
                let b = t.storage.pointer.assumingMemoryBound(to: UInt8.self)
                for i in 0..<count where b[i] > 1 { b[i] = 1 }
            }
            return t
        }
    }

    /// The array as `.npy` bytes (format 1.0, or 2.0 when the header is too long for 1.0).
    /// Strings are written as `<U`n; bfloat16 has no NumPy dtype and is refused.
    public static func encode(_ t: Tensor) throws -> [UInt8] {
        let descr: String
        var data: [UInt8]
        switch t.dataType {
        case .bfloat16:
            throw VonnxError.invalidArgument("a bfloat16 tensor cannot be written as .npy (NumPy has no bfloat16 dtype)")
        case .string:
            let scalars = t.storage.strings.map { Array($0.unicodeScalars) }
            let width = max(1, scalars.map(\.count).max() ?? 1)
            descr = "<U\(width)"
            data = []
            data.reserveCapacity(scalars.count * width * 4)
            for s in scalars {
                for i in 0..<width {
                    let v = i < s.count ? s[i].value : 0
                    data += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)]
                }
            }
        default:
            let code = codes.first { $0.value == t.dataType }!.key
            descr = (t.dataType.byteSize == 1 ? "|" : "<") + code
            data = Array(UnsafeRawBufferPointer(start: t.storage.pointer, count: t.count * t.dataType.byteSize))
        }
        let shape = t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }".utf8)
        let version: UInt8 = header.count + 11 <= 65535 ? 1 : 2
        let prefix = version == 1 ? 10 : 12
        header += [UInt8](repeating: 0x20, count: (64 - (prefix + header.count + 1) % 64) % 64) + [0x0a]
        let lengthBytes = (0..<(prefix - 8)).map { UInt8(truncatingIfNeeded: header.count >> (8 * $0)) }
        return [0x93] + Array("NUMPY".utf8) + [version, 0] + lengthBytes + header + data
    }

    /// Writes `encode(t)` to `path` atomically.
    public static func write(_ t: Tensor, path: String) throws {
        try writeFileAtomically(encode(t), to: path)
    }

    /// NumPy type codes (after the byte-order character) of the numeric element types.
    private static let codes: [String: DataType] = [
        "f4": .float, "f8": .double, "f2": .float16, "i1": .int8, "u1": .uint8, "b1": .bool,
        "i2": .int16, "u2": .uint16, "i4": .int32, "u4": .uint32, "i8": .int64, "u8": .uint64,
    ]

    /// The element type (nil for strings) and item size a descr names.
    private static func element(_ descr: String, _ fail: (String) -> VonnxError) throws -> (DataType?, Int) {
        guard let order = descr.first, "<|=>".contains(order) else { throw fail("dtype '\(descr)' is not supported") }
        guard order != ">" else { throw fail("big-endian dtype '\(descr)' is not supported") }
        let code = String(descr.dropFirst())
        if let type = codes[code] { return (type, type.byteSize) }
        if let kind = code.first, kind == "U" || kind == "S", let n = Int(code.dropFirst()), n > 0, n <= 1 << 20 {
            return (nil, kind == "U" ? 4 * n : n)
        }
        throw fail("dtype '\(descr)' is not supported")
    }

    /// String elements: `<U`n as UTF-32 code units, `|S`n as UTF-8 bytes, NUL-padded.
    private static func strings(_ data: UnsafeRawBufferPointer, descr: String, itemSize: Int, count: Int) -> [String] {
        (0..<count).map { k in
            let item = UnsafeRawBufferPointer(rebasing: data[k * itemSize..<(k + 1) * itemSize])
            if descr.dropFirst().first == "S" {
                return String(decoding: item.prefix { $0 != 0 }, as: UTF8.self)
            }
            var s = String.UnicodeScalarView()
            for i in stride(from: 0, to: itemSize, by: 4) {
                let v = item.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian
                if v == 0 { break }
                s.append(Unicode.Scalar(v) ?? "\u{FFFD}")
            }
            return String(s)
        }
    }

    /// A value of the header dictionary.
    private enum HeaderValue: Equatable { case text(String), word(String), tuple([String]) }

    /// Parses the header, a Python dict literal such as
    /// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
    private static func parseHeader(_ text: String, _ fail: (String) -> VonnxError) throws -> [String: HeaderValue] {
        let c = Array(text)
        var i = 0
        func skipSpace() { while i < c.count && c[i].isWhitespace { i += 1 } }
        func quoted() throws -> String {
            guard i < c.count, c[i] == "'" || c[i] == "\"" else { throw fail("bad header (expected a quoted string)") }
            let quote = c[i]
            let start = i + 1
            i = start
            while i < c.count && c[i] != quote { i += 1 }
            guard i < c.count else { throw fail("bad header (unterminated string)") }
            i += 1
            return String(c[start..<i - 1])
        }
        func until(_ stops: Set<Character>) -> String {
            let start = i
            while i < c.count && !stops.contains(c[i]) { i += 1 }
            return String(c[start..<i]).trimmingSpace()
        }
        var result: [String: HeaderValue] = [:]
        skipSpace()
        guard i < c.count, c[i] == "{" else { throw fail("bad header (expected a dict)") }
        i += 1
        while true {
            skipSpace()
            guard i < c.count else { throw fail("bad header (unterminated dict)") }
            if c[i] == "}" { break }
            let key = try quoted()
            skipSpace()
            guard i < c.count, c[i] == ":" else { throw fail("bad header (expected ':' after '\(key)')") }
            i += 1
            skipSpace()
            if i < c.count && c[i] == "(" {
                i += 1
                let inside = until([")"])
                guard i < c.count else { throw fail("bad header (unterminated tuple)") }
                i += 1
                result[key] = .tuple(inside.split(separator: ",").map { String($0).trimmingSpace() }.filter { !$0.isEmpty })
            } else if i < c.count && (c[i] == "'" || c[i] == "\"") {
                result[key] = .text(try quoted())
            } else {
                result[key] = .word(until([",", "}"]))
            }
            skipSpace()
            if i < c.count && c[i] == "," { i += 1 }
        }
        return result
    }
}

private extension String {
    /// The string without leading and trailing whitespace.
    func trimmingSpace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
