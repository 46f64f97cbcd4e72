import Glibc

/// Files that appear whole or not at all: written to a hidden temporary next to the
/// target (`.NAME.partial-XXXXXX`), synced, then renamed into place. An output that exists
/// is therefore complete, which is what makes a rerun able to skip it.
public enum AtomicFile {
    /// The marker in temporary names; `removeStale` deletes files carrying it.
    static let partialMarker = ".partial-"

    /// Writes `bytes` to `path` atomically, creating missing parent folders. Throws
    /// `.output` naming the path and the C library's reason (e.g. "No space left on
    /// device"); no temporary is left behind.
    public static func write(_ bytes: [UInt8], to path: String) throws(BatchError) {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        try makeDirectories(folder)
        var template = Array("\(folder)/.\(name)\(partialMarker)XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw .output("cannot write \(path): \(errnoText())") }
        let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var failure: String?
        if fchmod(fd, 0o644) != 0 { failure = errnoText() }
        bytes.withUnsafeBytes { raw in
            var done = 0
            while failure == nil && done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { failure = errnoText() } else { done += n }
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = errnoText() }
        if close(fd) != 0 && failure == nil { failure = errnoText() }
        if failure == nil && rename(temporary, path) != 0 { failure = errnoText() }
        if let failure {
            unlink(temporary)
            throw .output("cannot write \(path): \(failure)")
        }
    }

    /// `mkdir -p`; throws `.output` naming the folder that cannot be created.
    public static func makeDirectories(_ path: String) throws(BatchError) {
        var st = stat()
        if stat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw .output("\(path) exists and is not a folder") }
            return
        }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex { try makeDirectories(String(path[..<slash])) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw .output("cannot create folder \(path): \(errnoText())") }
    }

    /// Deletes temporaries left under `root` by a killed run whose target (relative to
    /// `root`) `owned` accepts. Other processes writing into the same folder (other shards)
    /// own their temporaries, so only the caller's are touched.
    public static func removeStale(under root: String, owned: (String) -> Bool) {
        func visit(_ relative: String) {
            let folder = relative.isEmpty ? root : "\(root)/\(relative)"
            guard let dir = opendir(folder) else { return }
            var names: [(String, Bool)] = []
            while let entry = readdir(dir) {
                let name = String(decoding: entryName(entry), as: UTF8.self)
                if name != "." && name != ".." { names.append((name, entry.pointee.d_type == UInt8(DT_DIR))) }
            }
            closedir(dir)
            for (name, isDir) in names {
                let path = relative.isEmpty ? name : "\(relative)/\(name)"
                if isDir { visit(path); continue }
                guard name.hasPrefix("."), let marker = name.firstRange(of: partialMarker) else { continue }
                let target = String(name[name.index(after: name.startIndex)..<marker.lowerBound])
                if owned(relative.isEmpty ? target : "\(relative)/\(target)") { unlink("\(root)/\(path)") }
            }
        }
        visit("")
    }

    /// Whether a file exists at `path`.
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}
