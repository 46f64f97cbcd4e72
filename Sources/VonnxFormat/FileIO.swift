import Glibc
import VonnxIR

/// An open regular file, read with `pread`; closed when it goes out of scope.
struct FileReader: ~Copyable {
    let path: String
    let size: Int
    private let fd: Int32

    /// Opens `path` for reading; throws `.io` naming the path when it is missing, unreadable
    /// or not a regular file. Opening never blocks (a FIFO is refused, not waited on).
    init(path: String) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw VonnxError.io(path: path, message: "cannot open: \(errnoText())") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let message = errnoText()
            close(fd)
            throw VonnxError.io(path: path, message: "cannot stat: \(message)")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw VonnxError.io(path: path, message: "not a regular file")
        }
        self.path = path
        size = Int(st.st_size)
    }

    deinit { close(fd) }

    /// Reads exactly `count` bytes at `offset` into `buffer`; the caller has checked that
    /// the range lies inside the file.
    func read(into buffer: UnsafeMutableRawPointer, offset: Int, count: Int) throws {
        var done = 0
        while done < count {
            let n = pread(fd, buffer + done, count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw VonnxError.io(path: path, message: n == 0 ? "file ended early (it changed while being read?)"
                                                                : "read failed: \(errnoText())")
            }
            done += n
        }
    }
}

/// The whole content of the file at `path`.
func readFile(_ path: String) throws -> [UInt8] {
    let file = try FileReader(path: path)
    return try [UInt8](unsafeUninitializedCapacity: file.size) { buffer, initialized in
        if file.size > 0 { try file.read(into: buffer.baseAddress!, offset: 0, count: file.size) }
        initialized = file.size
    }
}

/// Writes `bytes` to a temporary file next to `path`, then renames it over `path`, so a
/// reader never sees a partial file. Throws `.io` naming the path.
func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
    var template = Array((path + ".tmp-XXXXXX").utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else { throw VonnxError.io(path: path, message: "cannot create a temporary file: \(errnoText())") }
    let tempPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    var failure: String?
    if fchmod(fd, 0o644) != 0 { failure = "cannot set permissions: \(errnoText())" }
    bytes.withUnsafeBytes { raw in
        var done = 0
        while failure == nil && done < raw.count {
            let n = write(fd, raw.baseAddress! + done, raw.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { failure = "write failed: \(errnoText())" } else { done += n }
        }
    }
    if failure == nil && fsync(fd) != 0 { failure = "fsync failed: \(errnoText())" }
    if close(fd) != 0 && failure == nil { failure = "close failed: \(errnoText())" }
    if failure == nil && rename(tempPath, path) != 0 { failure = "cannot rename into place: \(errnoText())" }
    if let failure {
        unlink(tempPath)
        throw VonnxError.io(path: path, message: failure)
    }
}

/// The folder holding `path` ("." for a bare file name).
func directory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// The canonical absolute path, with '..' and symlinks resolved; throws `.io` when the
/// path does not exist.
func canonicalPath(_ path: String) throws -> String {
    guard let resolved = realpath(path, nil) else { throw VonnxError.io(path: path, message: errnoText()) }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// The C library's text for the current `errno`.
func errnoText() -> String { String(cString: strerror(errno)) }
