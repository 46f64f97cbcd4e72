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

public enum ItemSource {
    /// The items of `source`: every tensor or image file under a folder (recursively, other
    /// files ignored), or the lines of a manifest file (one path a line, relative to the
    /// manifest's folder unless absolute; blank lines and `#` comments skipped). Sorted by
    /// relative path. The folder `excluding` (the output folder, when it lies inside the
    /// input folder) is skipped. Throws `.usage` naming the path when it cannot be read, or
    /// naming the manifest line that lists an unsupported file or a duplicate.
    public static func items(from source: String, excluding: String? = nil) throws(BatchError) -> [BatchItem] {
        var st = stat()
        guard stat(source, &st) == 0 else { throw .usage("--batch-input \(source): \(errnoText())") }
        var items: [BatchItem]
        if (st.st_mode & S_IFMT) == S_IFDIR {
            items = []
            try walk(root: source, relative: "", skip: excluding.flatMap(canonical), into: &items)
        } else {
            items = try manifest(source)
        }
        items.sort { $0.relativePath < $1.relativePath }
        return items
    }

    private static func walk(root: String, relative: String, skip: String?, into items: inout [BatchItem]) throws(BatchError) {
        let folder = relative.isEmpty ? root : "\(root)/\(relative)"
        guard let dir = opendir(folder) else { throw .usage("--batch-input \(folder): cannot list: \(errnoText())") }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        for name in names {
            let rel = relative.isEmpty ? name : "\(relative)/\(name)"
            var st = stat()
            guard stat("\(root)/\(rel)", &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                if let skip, canonical("\(root)/\(rel)") == skip { continue }
                try walk(root: root, relative: rel, skip: skip, into: &items)
            } else if let kind = BatchItem.kind(of: name) {
                items.append(BatchItem(relativePath: rel, path: "\(root)/\(rel)", kind: kind))
            }
        }
    }

    private static func manifest(_ path: String) throws(BatchError) -> [BatchItem] {
        let text: String
        do { text = try readText(path) } catch { throw .usage("--batch-input manifest \(path): \(error)") }
        let base = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        var items: [BatchItem] = [], seen = Set<String>()
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let kind = BatchItem.kind(of: line) else {
                throw .usage("manifest \(path) line \(number + 1): '\(line)' is not a .npy, .pb, .png, .jpg or .jpeg file")
            }
            guard seen.insert(line).inserted else { throw .usage("manifest \(path) line \(number + 1): '\(line)' is listed twice") }
            let relative = line.hasPrefix("/") ? String(line.dropFirst()) : line
            items.append(BatchItem(relativePath: relative, path: line.hasPrefix("/") ? line : "\(base)/\(line)", kind: kind))
        }
        return items
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
