import Glibc

/// A folder of checksummed cache entries (SPIR-V, `VkPipelineCache` blobs) shared by
/// processes. An entry is a header (magic, format version, key, payload length, SHA-256 of
/// the payload) and the payload; anything that does not check out reads as a miss and is
/// overwritten by the next store. Stores write a temporary file in the same folder and
/// rename it, so a reader never sees half an entry. A folder that cannot be created or
/// written disables the cache after one warning on stderr; it is never an error.
final class PipelineDiskCache: @unchecked Sendable {
    /// The cache folder, or nil when disk caching is off.
    let directory: String?
    private let lock = Lock()
    private var failed = false

    static let magic: UInt32 = 0x4358_4E56  // "VNXC" little-endian
    static let formatVersion: UInt32 = 1
    /// Bytes before the payload: magic, version, 32-byte key, UInt64 length, 32-byte checksum.
    static let headerBytes = 4 + 4 + 32 + 8 + 32

    init(directory: String?) { self.directory = directory }

    /// The cache folder for `option` (VulkanOptions.cacheDirectory): the option, else the
    /// environment variable VONNX_CACHE_DIR, else `$XDG_CACHE_HOME/vonnx`, else
    /// `~/.cache/vonnx` (an empty option or variable counts as unset); "off", or no home
    /// folder, gives nil: no disk cache.
    static func resolve(_ option: String?) -> String? {
        func env(_ name: String) -> String? {
            guard let v = getenv(name).map({ String(cString: $0) }), !v.isEmpty else { return nil }
            return v
        }
        if let chosen = option.flatMap({ $0.isEmpty ? nil : $0 }) ?? env("VONNX_CACHE_DIR") { return chosen == "off" ? nil : chosen }
        if let xdg = env("XDG_CACHE_HOME"), xdg.hasPrefix("/") { return xdg + "/vonnx" }
        if let home = env("HOME") ?? getpwuid(getuid())?.pointee.pw_dir.map({ String(cString: $0) }) {
            return home + "/.cache/vonnx"
        }
        return nil
    }

    /// The payload stored under `name` when its header carries `key` and its checksum holds.
    func load(_ name: String, key: [UInt8]) -> [UInt8]? {
        guard let directory, let bytes = Self.readFile(directory + "/" + name) else { return nil }
        return Self.payload(of: bytes, key: key)
    }

    /// Stores `payload` under `name` with `key`, replacing what was there atomically.
    func store(_ name: String, key: [UInt8], payload: [UInt8]) {
        guard let directory, !lock.withLock({ failed }) else { return }
        let path = directory + "/" + name
        let temp = directory + "/.\(name).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let entry = Self.entry(key: key, payload: payload)
        if Self.makeDirectories(directory), Self.writeFile(temp, entry), rename(temp, path) == 0 { return }
        let reason = String(cString: strerror(errno))
        unlink(temp)
        lock.withLock {
            if !failed {
                let warning = "vonnx: cache folder \(directory) is not writable (\(reason)); going on without a disk cache\n"
                _ = warning.withCString { write(STDERR_FILENO, $0, strlen($0)) }
            }
            failed = true
        }
    }

    /// The header and payload of an entry.
    static func entry(key: [UInt8], payload: [UInt8]) -> [UInt8] {
        precondition(key.count == 32, "cache keys are SHA-256 digests")
        var out: [UInt8] = []
        out.reserveCapacity(headerBytes + payload.count)
        func append<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        append(magic)
        append(formatVersion)
        out += key
        append(UInt64(payload.count))
        out += SHA256.hash(payload)
        out += payload
        return out
    }

    /// The payload of entry `bytes`, or nil when its magic, version, key, length or checksum is off.
    static func payload(of bytes: [UInt8], key: [UInt8]) -> [UInt8]? {
        guard bytes.count >= headerBytes else { return nil }
        func read<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
            bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        }
        guard read(UInt32.self, at: 0) == magic, read(UInt32.self, at: 4) == formatVersion,
              bytes[8..<40].elementsEqual(key),
              read(UInt64.self, at: 40) == UInt64(bytes.count - headerBytes) else { return nil }
        let payload = Array(bytes[headerBytes...])
        return SHA256.hash(payload).elementsEqual(bytes[48..<80]) ? payload : nil
    }

    private static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size >= 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            done += n
        }
        return bytes
    }

    private static func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { close(fd); return false }
            done += n
        }
        return close(fd) == 0
    }

    /// `mkdir -p path`; true when the folder exists afterwards.
    private static func makeDirectories(_ path: String) -> Bool {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST { return false }
        }
        return true
    }
}

/// Lower-case hexadecimal digits of `bytes`.
func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
}

/// SHA-256 (FIPS 180-4).
enum SHA256 {
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    /// The 32-byte digest of `message`.
    static func hash(_ message: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        var data = message
        data.append(0x80)
        data += [UInt8](repeating: 0, count: (64 - (data.count + 8) % 64) % 64)
        withUnsafeBytes(of: (UInt64(message.count) &* 8).bigEndian) { data.append(contentsOf: $0) }
        var w = [UInt32](repeating: 0, count: 64)
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }
        for block in stride(from: 0, to: data.count, by: 64) {
            for i in 0..<16 {
                w[i] = data[block + 4 * i..<block + 4 * i + 4].reduce(0) { $0 << 8 | UInt32($1) }
            }
            for i in 16..<64 {
                let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            for i in 0..<64 {
                let t1 = hh &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ k[i] &+ w[i]
                let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
                (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
            }
            for (i, v) in [a, b, c, d, e, f, g, hh].enumerated() { h[i] &+= v }
        }
        return h.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * $0)) } }
    }
}
