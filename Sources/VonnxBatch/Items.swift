import Glibc

/// One input of a batch job: a tensor file (.npy, .pb) or an image (.png, .jpg, .jpeg).
public struct BatchItem: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case npy, tensorProto, image }
    /// The path relative to the input folder (or as listed in the manifest): the item's
    /// identity for sharding and the base name of its outputs.
    public let relativePath: String
    /// The path to open.
    public let path: String
    public let kind: Kind

    /// The kind a file name's extension names, or nil for other files.
    public static func kind(of name: String) -> Kind? {
        let lower = name.lowercased()
        if lower.hasSuffix(".npy") { return .npy }
        if lower.hasSuffix(".pb") { return .tensorProto }
        if lower.hasSuffix(".png") || lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") { return .image }
        return nil
    }
}

/// The items of a batch job's input, and the entries that cannot be items (each with why).
public struct ItemListing: Sendable {
    public var items: [BatchItem] = []
    /// Entries that look like items but cannot be read as one: dangling symlinks, symlink
    /// loops, FIFOs and other non-regular files, names that are not UTF-8, manifest lines
    /// outside the manifest's folder. Recorded as failures of the job.
    public var rejected: [(path: String, reason: String)] = []
}

public enum ItemSource {
    /// The items of `source`: every tensor or image file under a folder (recursively, other
    /// files ignored), or the lines of a manifest file (one path a line, relative to the
    /// manifest's folder; blank lines and `#` comments skipped). Sorted by relative path.
    /// The folder `excluding` (the output folder, when it lies inside the input folder) is
    /// skipped. A folder is listed once however many links lead to it, and a symlink to a
    /// folder outside the input folder is followed only with `followSymlinks`. A relative
    /// path never has "..", so outputs named after it stay in the output folder. Listing
    /// stops early when SIGTERM or SIGINT arrives (`StopRequest`). Throws `.usage` naming
    /// the path when it cannot be read, or naming the manifest line that lists an
    /// unsupported file or a duplicate.
    public static func items(from source: String, excluding: String? = nil,
                             followSymlinks: Bool = false) throws(BatchError) -> ItemListing {
        var st = stat()
        guard stat(source, &st) == 0 else { throw .usage("--batch-input \(source): \(errnoText())") }
        var listing: ItemListing
        if (st.st_mode & S_IFMT) == S_IFDIR {
            guard let root = canonical(source) else { throw .usage("--batch-input \(source): \(errnoText())") }
            var walk = Walk(root: source, canonicalRoot: root, skip: excluding.flatMap(canonical), followSymlinks: followSymlinks)
            try walk.list("", st)
            listing = walk.listing
        } else {
            listing = try manifest(source)
        }
        listing.items.sort { $0.relativePath < $1.relativePath }
        return listing
    }

    /// A recursive listing of a folder that enters each folder (device, inode) once.
    private struct Walk {
        let root: String, canonicalRoot: String, skip: String?, followSymlinks: Bool
        var visited = Set<[UInt64]>()
        var listing = ItemListing()

        mutating func list(_ relative: String, _ st: stat) throws(BatchError) {
            guard StopRequest.signal == nil, visited.insert([UInt64(st.st_dev), UInt64(st.st_ino)]).inserted else { return }
            let folder = relative.isEmpty ? root : "\(root)/\(relative)"
            guard let dir = opendir(folder) else { throw .usage("--batch-input \(folder): cannot list: \(errnoText())") }
            var names: [String] = []
            while let entry = readdir(dir) {
                let raw = entryName(entry)
                guard let name = String(validating: raw, as: UTF8.self) else {
                    let shown = String(decoding: raw, as: UTF8.self)
                    listing.rejected.append((relative.isEmpty ? shown : "\(relative)/\(shown)", "the name is not valid UTF-8"))
                    continue
                }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(dir)
            for name in names where StopRequest.signal == nil {
                let rel = relative.isEmpty ? name : "\(relative)/\(name)"
                let path = "\(root)/\(rel)"
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                let isLink = (st.st_mode & S_IFMT) == S_IFLNK
                if isLink && stat(path, &st) != 0 {
                    let reason = errno == ELOOP ? "symlink loop" : "dangling symlink"
                    if BatchItem.kind(of: name) != nil { listing.rejected.append((rel, reason)) }
                    continue
                }
                switch st.st_mode & S_IFMT {
                case S_IFDIR:
                    let target = canonical(path)
                    if let skip, target == skip { continue }
                    if isLink && !followSymlinks && !(target.map(inRoot) ?? false) {
                        listing.rejected.append((rel, "symlink to a folder outside the input folder (use --follow-symlinks)"))
                        continue
                    }
                    try list(rel, st)
                case S_IFREG:
                    if let kind = BatchItem.kind(of: name) { listing.items.append(BatchItem(relativePath: rel, path: path, kind: kind)) }
                default:
                    if BatchItem.kind(of: name) != nil { listing.rejected.append((rel, "not a regular file")) }
                }
            }
        }

        func inRoot(_ path: String) -> Bool { path == canonicalRoot || path.hasPrefix(canonicalRoot == "/" ? "/" : canonicalRoot + "/") }
    }

    private static func manifest(_ path: String) throws(BatchError) -> ItemListing {
        let text: String
        do { text = try readText(path) } catch { throw .usage("--batch-input manifest \(path): \(error)") }
        let base = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let canonicalBase = canonical(base) ?? base
        var listing = ItemListing(), seen = Set<String>()
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let kind = BatchItem.kind(of: line) else {
                throw .usage("manifest \(path) line \(number + 1): '\(line)' is not a .npy, .pb, .png, .jpg or .jpeg file")
            }
            guard seen.insert(line).inserted else { throw .usage("manifest \(path) line \(number + 1): '\(line)' is listed twice") }
            let parts = line.split(separator: "/")
            guard !line.hasPrefix("/"), !parts.contains("..") else {
                listing.rejected.append((line, "manifest line \(number + 1) is not a path inside the manifest's folder"))
                continue
            }
            let relative = parts.filter { $0 != "." }.joined(separator: "/")
            if let target = canonical("\(base)/\(relative)"), !target.hasPrefix(canonicalBase == "/" ? "/" : canonicalBase + "/") {
                listing.rejected.append((line, "manifest line \(number + 1) resolves to '\(target)', outside the manifest's folder"))
                continue
            }
            listing.items.append(BatchItem(relativePath: relative, path: "\(base)/\(relative)", kind: kind))
        }
        return listing
    }
}

extension Substring {
    func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

/// The whole file at `path` as UTF-8 text; throws a message naming the reason.
func readText(_ path: String) throws(BatchError) -> String {
    String(decoding: try readBytes(path), as: UTF8.self)
}

/// The whole file at `path`; throws `.usage` with the C library's reason. Never blocks on a
/// FIFO: it is opened non-blocking and refused as not a regular file.
func readBytes(_ path: String) throws(BatchError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { throw .usage("\(path): \(errnoText())") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw .usage("\(path): not a regular file") }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw .usage("\(path): read failed: \(errnoText())") }
        if n == 0 { return bytes }
        bytes += chunk[..<n]
    }
}

/// The absolute path with symlinks and ".." resolved, or nil when it does not exist.
func canonical(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}

func errnoText() -> String { String(cString: strerror(errno)) }

/// The name of a `readdir` entry, read up to its NUL: an entry may end before `dirent` does, so
/// copying the whole `d_name` field read past the last entry in glibc's buffer (AddressSanitizer:
/// heap-buffer-overflow).
func entryName(_ entry: UnsafeMutablePointer<dirent>) -> [UInt8] {
    let name = UnsafeRawPointer(entry) + MemoryLayout<dirent>.offset(of: \.d_name)!
    return Array(UnsafeRawBufferPointer(start: name, count: strlen(name.assumingMemoryBound(to: CChar.self))))
}
