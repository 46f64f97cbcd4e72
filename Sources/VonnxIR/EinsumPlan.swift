/// A parsed Einsum equation bound to its operands' shapes, as both backends' kernels read it.
/// Labels are ints: letters 0..<52, ellipsis dims 52+ (right-aligned across operands, broadcast
/// as NumPy does).
public struct EinsumPlan: Sendable {
    /// Output labels in order.
    public let outputLabels: [Int]
    /// The output labels' sizes: the output shape.
    public let outShape: [Int]
    /// Labels summed over.
    public let sumLabels: [Int]
    /// The summed labels' sizes.
    public let sumSizes: [Int]
    /// Per operand, its element stride along each label (0 where absent or broadcast);
    /// a label repeated in one operand (a diagonal) adds its strides.
    public let strides: [[Int: Int]]

    /// Parses `equation` for operands of `shapes`; errors name `node`.
    public init(equation: String, shapes: [[Int]], node: Node) throws {
        let text = equation.filter { $0 != " " }
        let sides = split(text, by: "->")
        guard sides.count <= 2 else { throw node.error("equation '\(equation)' has more than one '->'") }
        let terms = sides[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard terms.count == shapes.count else {
            throw node.error("equation '\(equation)' names \(terms.count) operands, the node has \(shapes.count)")
        }
        func letters(_ term: String) throws -> (before: [Int], after: [Int], ellipsis: Bool) {
            let parts = split(term, by: "...")
            guard parts.count <= 2 else { throw node.error("equation '\(equation)' has more than one ellipsis in a term") }
            func label(_ c: Character) throws -> Int {
                guard let a = c.asciiValue else { throw node.error("bad label '\(c)' in equation '\(equation)'") }
                switch a {
                case 97...122: return Int(a - 97)
                case 65...90: return Int(a - 65) + 26
                default: throw node.error("bad label '\(c)' in equation '\(equation)'")
                }
            }
            return (try parts[0].map(label), try parts.count == 2 ? parts[1].map(label) : [], parts.count == 2)
        }
        var sizes: [Int: Int] = [:]
        var strides: [[Int: Int]] = []
        var counts: [Int: Int] = [:]
        var ellipsisRank = 0
        var parsed: [(labels: [Int], ellipsis: Bool)] = []
        for (term, shape) in zip(terms, shapes) {
            let (before, after, hasEllipsis) = try letters(term)
            let eRank = shape.count - before.count - after.count
            guard eRank >= 0, hasEllipsis || eRank == 0 else {
                throw node.error("term '\(term)' does not fit an operand of shape \(shape)")
            }
            ellipsisRank = max(ellipsisRank, eRank)
            parsed.append((before + (0..<eRank).map { $0 - eRank } + after, hasEllipsis))
            for l in before + after { counts[l, default: 0] += 1 }
        }
        // ellipsis dim j of an operand with e of them is stored as j - e, global label 52 + ellipsisRank + (j - e)
        for (i, shape) in shapes.enumerated() {
            var s: [Int: Int] = [:]
            let own = contiguousStrides(shape)
            for (axis, raw) in parsed[i].labels.enumerated() {
                let l = raw < 0 ? 52 + ellipsisRank + raw : raw
                let d = shape[axis]
                if l >= 52 && d == 1 {
                    if sizes[l] == nil { sizes[l] = 1 }  // broadcast: stride stays 0
                    continue
                }
                if let known = sizes[l], known != d, !(l >= 52 && known == 1) {
                    throw node.error("label sizes disagree in equation '\(equation)' for shapes \(shapes)")
                }
                sizes[l] = d
                s[l, default: 0] += own[axis]
            }
            strides.append(s)
        }
        let ellipsisLabels = Array(52..<(52 + ellipsisRank))
        var output: [Int]
        if sides.count == 2 {
            let (before, after, hasEllipsis) = try letters(sides[1])
            guard hasEllipsis || ellipsisRank == 0 else {
                throw node.error("equation '\(equation)' drops ellipsis dims from the output")
            }
            output = before + (hasEllipsis ? ellipsisLabels : []) + after
            guard Set(output).count == output.count, output.allSatisfy({ sizes[$0] != nil }) else {
                throw node.error("output labels of equation '\(equation)' are repeated or unknown")
            }
        } else {
            output = ellipsisLabels + counts.filter { $0.value == 1 }.map(\.key).sorted { a, b in
                // NumPy orders implicit outputs alphabetically: upper case before lower case
                (a >= 26 ? a - 26 : a + 26) < (b >= 26 ? b - 26 : b + 26)
            }
        }
        let outSet = Set(output)
        outputLabels = output
        outShape = output.map { sizes[$0]! }
        sumLabels = sizes.keys.filter { !outSet.contains($0) }.sorted()
        sumSizes = sumLabels.map { sizes[$0]! }
        self.strides = strides
    }
}

extension EinsumPlan {
    /// A two-operand plan's labels as the dims of a batched matrix product: A gathers as
    /// [P, M, K] and B as [P, K, N], where P are the output labels both operands have, M and N
    /// those of A alone and of B alone, and K the summed labels.
    public struct Product: Sendable {
        /// The label groups, each in output (or, for K, summed) order.
        public let p: [Int], m: [Int], n: [Int], k: [Int]
        /// Every label's size.
        public let size: [Int: Int]
        /// The product of `labels`' sizes.
        public func count(_ labels: [Int]) -> Int { labels.reduce(1) { $0 * size[$1]! } }
    }

    /// The product form of a two-operand plan (see `Product`).
    public var product: Product {
        let sa = strides[0], sb = strides[1]
        var size: [Int: Int] = [:]
        for (l, d) in zip(outputLabels + sumLabels, outShape + sumSizes) { size[l] = d }
        return Product(p: outputLabels.filter { sa[$0] != nil && sb[$0] != nil }, m: outputLabels.filter { sb[$0] == nil },
                       n: outputLabels.filter { sa[$0] == nil && sb[$0] != nil }, k: sumLabels, size: size)
    }
}

/// `text` cut at every occurrence of `separator` (no Foundation in this module).
private func split(_ text: String, by separator: String) -> [String] {
    var parts: [String] = []
    var rest = Substring(text)
    while let r = rest.firstRange(of: separator) {
        parts.append(String(rest[..<r.lowerBound]))
        rest = rest[r.upperBound...]
    }
    return parts + [String(rest)]
}

