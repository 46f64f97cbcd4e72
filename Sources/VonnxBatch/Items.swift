import Glibc

/// One input of a batch job: a tensor file (.npy, .pb) or an image (.png, .jpg, .jpeg, .exr)
/// for a one-input model, or one such file per input of a multi-input model, or one EXR file
/// whose layers feed every input.
public struct BatchItem: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case npy, tensorProto, image, exr }
    /// One file of an item.
    public struct File: Sendable, Hashable {
        public let path: String
        public let kind: Kind
    }
    /// The path relative to the input folder (or as listed in the manifest): the item's
    /// identity for sharding and the base name of its outputs.
    public let relativePath: String
    /// The files to read by the input they feed; a single-file item's one file has the key
    /// "" and feeds a one-input model's input, or every input (an EXR file's layers).
    public let files: [String: File]

    /// A single-file item.
    init(relativePath: String, path: String, kind: Kind) {
        self.init(relativePath: relativePath, files: ["": File(path: path, kind: kind)])
    }

    init(relativePath: String, files: [String: File]) {
        self.relativePath = relativePath
        self.files = files
    }

    /// The kind a file name's extension names, or nil for other files.
    public static func kind(of name: String) -> Kind? {
        let lower = name.lowercased()
        if lower.hasSuffix(".npy") { return .npy }
        if lower.hasSuffix(".pb") { return .tensorProto }
        if lower.hasSuffix(".png") || lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") { return .image }
        if lower.hasSuffix(".exr") { return .exr }
        return nil
    }

    /// The file name without its extension ("albedo" for "albedo.png").
    static func stem(of name: String) -> Substring {
        name.lastIndex(of: ".").map { name[..<$0] } ?? Substring(name)
    }
}

/// The items of a batch job's input, and the entries that cannot be items (each with why).
public struct ItemListing: Sendable {
    public var items: [BatchItem] = []
    /// Entries that look like items but cannot be read as one: dangling symlinks, symlink
    /// loops, FIFOs and other non-regular files, names that are not UTF-8, manifest lines
    /// outside the manifest's folder, item folders missing an input's file. Recorded as
    /// failures of the job.
    public var rejected: [(path: String, reason: String)] = []
}

public enum ItemSource {
    /// The items of `source`: every tensor or image file under a folder (recursively, other
    /// files ignored), or the lines of a manifest file (one path a line, relative to the
    /// manifest's folder; blank lines and `#` comments skipped). Sorted by relative path.
    /// With several `inputNames` (a multi-input model), an item is a folder holding one file
    /// per input named after it (`color.png`, `albedo.npy`), or a manifest line that is a
    /// JSON object mapping every input name to a file (the item is named after the first);
    /// with `exrItems`, an EXR file outside item folders (or on a plain manifest line) is
    /// also an item, its layers feeding every input. The folder `excluding` (the output folder, when it lies inside the input folder) is
    /// skipped. A folder is listed once however many links lead to it, and a symlink to a
    /// folder outside the input folder is followed only with `followSymlinks`. A relative
    /// path never has "..", so outputs named after it stay in the output folder. Listing
    /// stops early when SIGTERM or SIGINT arrives (`StopRequest`). Throws `.usage` naming
    /// the path when it cannot be read, or naming the manifest line that lists an
    /// unsupported file or a duplicate.
    public static func items(from source: String, excluding: String? = nil, followSymlinks: Bool = false,
                             inputNames: [String] = [], exrItems: Bool = false) throws(BatchError) -> ItemListing {
        var st = stat()
        guard stat(source, &st) == 0 else { throw .usage("--batch-input \(source): \(errnoText())") }
        var listing: ItemListing
        if (st.st_mode & S_IFMT) == S_IFDIR {
            guard let root = canonical(source) else { throw .usage("--batch-input \(source): \(errnoText())") }
            var walk = Walk(root: source, canonicalRoot: root, skip: excluding.flatMap(canonical), followSymlinks: followSymlinks,
                            inputNames: inputNames.count > 1 ? inputNames : [], exrItems: exrItems)
            try walk.list("", st)
            listing = walk.listing
        } else {
            listing = try manifest(source, inputNames: inputNames, exrItems: exrItems)
        }
        listing.items.sort { $0.relativePath < $1.relativePath }
        return listing
    }

    /// A recursive listing of a folder that enters each folder (device, inode) once.
    private struct Walk {
        let root: String, canonicalRoot: String, skip: String?, followSymlinks: Bool
        /// A multi-input model's inputs (empty for one input): folders holding their files are items.
        let inputNames: [String]
        /// Whether an EXR file outside item folders is an item of a multi-input model.
        let exrItems: Bool
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
            if !relative.isEmpty, names.contains(where: { BatchItem.kind(of: $0) != nil && inputNames.contains(String(BatchItem.stem(of: $0))) }) {
                itemFolder(relative, names)
                return
            }
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
                    guard let kind = BatchItem.kind(of: name) else { break }
                    if inputNames.isEmpty || (exrItems && kind == .exr) {
                        listing.items.append(BatchItem(relativePath: rel, path: path, kind: kind))
                    } else {
                        listing.rejected.append((rel, "a file outside an item folder; this model takes a folder per item with one file per input (\(inputNames.joined(separator: ", ")))"))
                    }
                default:
                    if BatchItem.kind(of: name) != nil { listing.rejected.append((rel, "not a regular file")) }
                }
            }
        }

        /// Lists the folder `relative`, holding the entries `names`, as one item of a
        /// multi-input model, or rejects it naming the input whose file is missing or doubled.
        mutating func itemFolder(_ relative: String, _ names: [String]) {
            var files: [String: BatchItem.File] = [:]
            for input in inputNames {
                let matches = names.filter { BatchItem.stem(of: $0) == input && BatchItem.kind(of: $0) != nil }
                guard matches.count == 1 else {
                    let reason = matches.isEmpty ? "no .npy, .pb or image file" : "\(matches.count) files (\(matches.sorted().joined(separator: ", ")))"
                    listing.rejected.append((relative, "item folder has \(reason) for input '\(input)'"))
                    return
                }
                let path = "\(root)/\(relative)/\(matches[0])"
                var st = stat()
                guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                    listing.rejected.append(("\(relative)/\(matches[0])", "not a regular file"))
                    return
                }
                files[input] = BatchItem.File(path: path, kind: BatchItem.kind(of: matches[0])!)
            }
            listing.items.append(BatchItem(relativePath: relative, files: files))
        }

        func inRoot(_ path: String) -> Bool { path == canonicalRoot || path.hasPrefix(canonicalRoot == "/" ? "/" : canonicalRoot + "/") }
    }

    private static func manifest(_ path: String, inputNames: [String], exrItems: Bool) throws(BatchError) -> ItemListing {
        let text: String
        do { text = try readText(path) } catch { throw .usage("--batch-input manifest \(path): \(error)") }
        let base = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let canonicalBase = canonical(base) ?? base
        var listing = ItemListing(), seen = Set<String>()
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let at = "manifest \(path) line \(number + 1)"
            // (input, listed path); input "" for a plain line.
            var entries: [(String, String)]
            if line.hasPrefix("{") {
                entries = try parseFlatJSONObject(line, at: at)
                let named = Set(entries.map(\.0))
                guard named == Set(inputNames), named.count == entries.count else {
                    throw .usage("\(at): names inputs \(entries.map(\.0).joined(separator: ", ")); the model's inputs are \(inputNames.joined(separator: ", "))")
                }
            } else if inputNames.count > 1 && !(exrItems && BatchItem.kind(of: line) == .exr) {
                throw .usage("\(at): a model with several inputs needs a JSON object naming each input's file, e.g. {\"\(inputNames[0])\": \"a/\(inputNames[0]).png\", ...}")
            } else {
                entries = [("", line)]
            }
            var files: [String: BatchItem.File] = [:]
            for (input, listed) in entries {
                guard let kind = BatchItem.kind(of: listed) else {
                    throw .usage("\(at): '\(listed)' is not a .npy, .pb, .png, .jpg, .jpeg or .exr file")
                }
                let parts = listed.split(separator: "/")
                guard !listed.hasPrefix("/"), !parts.contains("..") else {
                    listing.rejected.append((listed, "manifest line \(number + 1) is not a path inside the manifest's folder"))
                    break
                }
                let relative = parts.filter { $0 != "." }.joined(separator: "/")
                if let target = canonical("\(base)/\(relative)"), !target.hasPrefix(canonicalBase == "/" ? "/" : canonicalBase + "/") {
                    listing.rejected.append((listed, "manifest line \(number + 1) resolves to '\(target)', outside the manifest's folder"))
                    break
                }
                files[input] = BatchItem.File(path: "\(base)/\(relative)", kind: kind)
            }
            let name = entries[0].1.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
            guard seen.insert(name).inserted else { throw .usage("\(at): '\(entries[0].1)' is listed twice") }
            if files.count == entries.count { listing.items.append(BatchItem(relativePath: name, files: files)) }
        }
        return listing
    }

    /// The members of a one-line JSON object whose values are all strings, in order;
    /// throws `.usage` naming `at` when the line is not one.
    static func parseFlatJSONObject(_ line: String, at: String) throws(BatchError) -> [(String, String)] {
        var scalars = Substring(line).unicodeScalars[...]
        func skipSpace() { while let c = scalars.first, c == " " || c == "\t" { scalars.removeFirst() } }
        func expect(_ c: Unicode.Scalar) throws(BatchError) {
            skipSpace()
            guard scalars.first == c else { throw .usage("\(at): not a JSON object of strings (expected '\(c)')") }
            scalars.removeFirst()
        }
        func string() throws(BatchError) -> String {
            try expect("\"")
            var out = String.UnicodeScalarView()
            while let c = scalars.popFirst() {
                switch c {
                case "\"": return String(out)
                case "\\":
                    let escapes: [Unicode.Scalar: Unicode.Scalar] = ["\"": "\"", "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\u{8}", "f": "\u{c}"]
                    guard let e = scalars.popFirst() else { break }
                    if let plain = escapes[e] { out.append(plain); continue }
                    guard e == "u", scalars.count >= 4, let v = UInt32(String(String.UnicodeScalarView(scalars.prefix(4))), radix: 16),
                          let scalar = Unicode.Scalar(v) else { throw .usage("\(at): bad escape in a JSON string") }
                    scalars.removeFirst(4)
                    out.append(scalar)
                default: out.append(c)
                }
            }
            throw .usage("\(at): unterminated JSON string")
        }
        try expect("{")
        var members: [(String, String)] = []
        skipSpace()
        if scalars.first == "}" { throw .usage("\(at): an empty JSON object names no input") }
        repeat {
            let key = try string()
            try expect(":")
            members.append((key, try string()))
            skipSpace()
        } while scalars.first == "," && scalars.popFirst() != nil
        try expect("}")
        skipSpace()
        guard scalars.isEmpty else { throw .usage("\(at): text after the JSON object") }
        return members
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
