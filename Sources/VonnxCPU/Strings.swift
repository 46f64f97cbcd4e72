import VonnxIR

/// Splits `text` as Python's `str.split(separator, maxsplit)` does: with no separator, on runs
/// of whitespace ignoring leading/trailing whitespace; `maxSplit` < 0 means no limit.
func pythonSplit(_ text: String, separator: String?, maxSplit: Int) -> [String] {
    let scalars = Array(text.unicodeScalars)
    func string(_ r: Range<Int>) -> String { var s = ""; s.unicodeScalars.append(contentsOf: scalars[r]); return s }
    var parts: [String] = []
    if let sep = separator.map({ Array($0.unicodeScalars) }), !sep.isEmpty {
        var start = 0, i = 0
        while i + sep.count <= scalars.count && (maxSplit < 0 || parts.count < maxSplit) {
            if Array(scalars[i..<(i + sep.count)]) == sep {
                parts.append(string(start..<i)); i += sep.count; start = i
            } else { i += 1 }
        }
        parts.append(string(start..<scalars.count))
        return parts
    }
    var i = 0
    while true {
        while i < scalars.count && scalars[i].properties.isWhitespace { i += 1 }
        guard i < scalars.count else { break }
        if maxSplit >= 0 && parts.count == maxSplit { parts.append(string(i..<scalars.count)); break }
        let start = i
        while i < scalars.count && !scalars[i].properties.isWhitespace { i += 1 }
        parts.append(string(start..<i))
    }
    return parts
}

extension CPUKernels {
    /// StringConcat: elementwise concatenation of two broadcast string tensors.
    public static let stringConcat: CPUKernel = { ctx in
        let a = try ctx.input(0), b = try ctx.input(1)
        guard a.dataType == .string, b.dataType == .string else { throw ctx.error("inputs must be strings") }
        guard let shape = broadcastShape([a.shape, b.shape]) else { throw ctx.error("shapes \(a.shape) and \(b.shape) do not broadcast") }
        let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
        let count = shape.reduce(1, *)
        var out: [String] = []
        out.reserveCapacity(count)
        for o in 0..<count {
            var rem = o, ia = 0, ib = 0
            for axis in stride(from: shape.count - 1, through: 0, by: -1) {
                let i = rem % shape[axis]; rem /= shape[axis]
                ia += i * sa[axis]; ib += i * sb[axis]
            }
            out.append(a.storage.strings[ia] + b.storage.strings[ib])
        }
        return [Tensor(strings: out, shape: shape)]
    }

    /// StringSplit: Y [..., max parts] padded with "", Z [...] int64 part counts.
    public static let stringSplit: CPUKernel = { ctx in
        let x = try ctx.input(0)
        guard x.dataType == .string else { throw ctx.error("input must be strings") }
        let delimiter = try ctx.node.string("delimiter")
        let maxSplit = try ctx.node.int("maxsplit") ?? -1
        let parts = x.storage.strings.map { pythonSplit($0, separator: delimiter, maxSplit: maxSplit) }
        let width = parts.map(\.count).max() ?? 0
        let flat = parts.flatMap { $0 + [String](repeating: "", count: width - $0.count) }
        return [Tensor(strings: flat, shape: x.shape + [width]),
                Tensor(shape: x.shape, scalars: parts.map { Int64($0.count) })]
    }

    /// RegexFullMatch: whether each string matches the whole `pattern` (Swift Regex syntax,
    /// which covers the common PCRE/RE2 forms; `\b` as the simple word boundary of RE2).
    public static let regexFullMatch: CPUKernel = { ctx in
        let x = try ctx.input(0)
        guard x.dataType == .string else { throw ctx.error("input must be strings") }
        guard let pattern = try ctx.node.string("pattern") else { throw ctx.error("pattern is missing") }
        let regex: Regex<AnyRegexOutput>
        do { regex = try Regex(pattern).wordBoundaryKind(.simple) } catch { throw ctx.error("invalid pattern '\(pattern)': \(error)") }
        return [Tensor(shape: x.shape, scalars: x.storage.strings.map { (try? regex.wholeMatch(in: $0)) != nil })]
    }

    /// StringNormalizer: stop-word removal (before or after case folding per
    /// is_case_sensitive), LOWER/UPPER/NONE case change; empty results are dropped from a
    /// [C] or [1, C] input, leaving [""] when nothing remains. Accents are kept.
    public static let stringNormalizer: CPUKernel = { ctx in
        let x = try ctx.input(0)
        guard x.dataType == .string, x.rank == 1 || x.rank == 2 else { throw ctx.error("input must be a string vector or matrix") }
        let action = try ctx.node.string("case_change_action", default: "NONE")
        let caseSensitive = try ctx.node.int("is_case_sensitive", default: 0) != 0
        let stopwords = try ctx.node.strings("stopwords") ?? []
        func change(_ s: String) throws -> String {
            switch action {
            case "LOWER": return s.lowercased()
            case "UPPER": return s.uppercased()
            case "NONE": return s
            default: throw ctx.error("unknown case_change_action '\(action)'")
            }
        }
        let stops = Set(caseSensitive ? stopwords : try stopwords.map(change))
        func removeStops(_ s: String) -> String {
            pythonSplit(s, separator: " ", maxSplit: -1).filter { !stops.contains($0) }.joined(separator: " ")
        }
        var out = try x.storage.strings.map { s in
            guard !stops.isEmpty else { return try change(s) }
            return caseSensitive ? try change(removeStops(s)) : removeStops(try change(s))
        }
        var shape = x.shape
        if x.rank == 1 || x.shape[0] == 1 {
            out = out.filter { !$0.isEmpty }
            if out.isEmpty { out = [""] }
            shape[shape.count - 1] = out.count
        }
        return [Tensor(strings: out, shape: shape)]
    }
}

extension CPUKernels {
    /// TfIdfVectorizer over string, int32 or int64 input [C] or [B, C]: counts the pool's
    /// n-grams (sizes min_gram_length...max_gram_length, items up to max_skip_count apart;
    /// unigrams counted once) into the ngram_indexes columns, weighted per mode (TF, IDF, TFIDF).
    public static let tfIdfVectorizer: CPUKernel = { ctx in
        let x = try ctx.input(0)
        let node = ctx.node
        guard x.rank <= 2 else { throw ctx.error("input must be [C] or [B, C], got \(x.shape)") }
        let tokens: [String]
        switch x.dataType {
        case .string: tokens = x.storage.strings
        case .int32, .int64: tokens = x.ints().map { String($0) }
        default: throw ctx.error("input must be string, int32 or int64, got \(x.dataType)")
        }
        let minN = try node.int("min_gram_length", default: 1), maxN = try node.int("max_gram_length", default: 1)
        let maxSkip = try node.int("max_skip_count", default: 0)
        guard minN >= 1, maxN >= minN, maxN <= 64, maxSkip >= 0, maxSkip <= 1 << 16 else {
            throw ctx.error("gram lengths \(minN)...\(maxN) or max_skip_count \(maxSkip) are invalid")
        }
        let pool = try node.strings("pool_strings") ?? (node.ints("pool_int64s") ?? []).map { String($0) }
        let counts = try node.ints("ngram_counts") ?? []
        let indexes = try node.ints("ngram_indexes") ?? []
        guard let width = indexes.max().map({ $0 + 1 }), indexes.allSatisfy({ $0 >= 0 && $0 < 1 << 24 }) else {
            throw ctx.error("ngram_indexes must be non-empty and non-negative")
        }
        // n-gram → column; ids run over every size in order, also sizes outside min...max
        var columns: [[String]: Int] = [:]
        var id = 0
        for (i, start) in counts.enumerated() {
            let end = i + 1 < counts.count ? counts[i + 1] : pool.count
            let n = i + 1
            guard start >= 0, start <= end, end <= pool.count else { throw ctx.error("ngram_counts \(counts) do not fit the pool") }
            for g in 0..<((end - start) / n) {
                defer { id += 1 }
                guard n >= minN && n <= maxN else { continue }
                guard id < indexes.count else { throw ctx.error("ngram_indexes has fewer entries than the pool's n-grams") }
                columns[Array(pool[(start + g * n)..<(start + g * n + n)])] = indexes[id]
            }
        }
        let rows = x.rank == 2 ? x.shape[0] : 1
        let c = x.rank == 0 ? 1 : x.shape[x.rank - 1]
        try ctx.checkAllocatable("the frequencies (in float64)", dims: [rows, width], .double)
        var freq = [Double](repeating: 0, count: rows * width)
        for r in 0..<rows {
            let row = Array(tokens[(r * c)..<(r * c + c)])
            for skip in 1...(maxSkip + 1) {
                let smallest = skip == 1 ? minN : max(minN, 2)
                guard smallest <= maxN else { break }
                for start in 0..<c {
                    var gram: [String] = []
                    var p = start
                    for n in 1...maxN {
                        guard p < c else { break }
                        gram.append(row[p]); p += skip
                        if n >= smallest, let col = columns[gram] { freq[r * width + col] += 1 }
                    }
                }
            }
        }
        let weights = (try node.floats("weights") ?? []).map(Double.init)
        guard weights.isEmpty || weights.count >= width else { throw ctx.error("weights has \(weights.count) values for \(width) columns") }
        let mode = try node.string("mode", default: "TF")
        let y: [Double] = try freq.enumerated().map { i, f in
            let w = weights.isEmpty ? 1 : weights[i % width]
            switch mode {
            case "TF": return f
            case "IDF": return f > 0 ? w : 0
            case "TFIDF": return w * f
            default: throw ctx.error("unknown mode '\(mode)'")
            }
        }
        return [Tensor(shape: x.rank == 2 ? [rows, width] : [width], scalars: y.map { Float($0) })]
    }
}
