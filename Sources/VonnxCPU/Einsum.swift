import VonnxIR

/// A parsed Einsum equation bound to its operands' shapes. Labels are ints: letters 0..<52,
/// ellipsis dims 52+ (right-aligned across operands, broadcast as NumPy does).
struct EinsumPlan: Sendable {
    /// Output labels in order, and their sizes (the output shape).
    let outputLabels: [Int]
    let outShape: [Int]
    /// Labels summed over, and their sizes.
    let sumLabels: [Int]
    let sumSizes: [Int]
    /// Per operand, its element stride along each label (0 where absent or broadcast);
    /// a label repeated in one operand (a diagonal) adds its strides.
    let strides: [[Int: Int]]

    init(equation: String, shapes: [[Int]], _ ctx: KernelContext) throws {
        let text = equation.filter { $0 != " " }
        let sides = split(text, by: "->")
        guard sides.count <= 2 else { throw ctx.error("equation '\(equation)' has more than one '->'") }
        let terms = sides[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard terms.count == shapes.count else {
            throw ctx.error("equation '\(equation)' names \(terms.count) operands, the node has \(shapes.count)")
        }
        func letters(_ term: String) throws -> (before: [Int], after: [Int], ellipsis: Bool) {
            let parts = split(term, by: "...")
            guard parts.count <= 2 else { throw ctx.error("equation '\(equation)' has more than one ellipsis in a term") }
            func label(_ c: Character) throws -> Int {
                guard let a = c.asciiValue else { throw ctx.error("bad label '\(c)' in equation '\(equation)'") }
                switch a {
                case 97...122: return Int(a - 97)
                case 65...90: return Int(a - 65) + 26
                default: throw ctx.error("bad label '\(c)' in equation '\(equation)'")
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
                throw ctx.error("term '\(term)' does not fit an operand of shape \(shape)")
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
                    throw ctx.error("label sizes disagree in equation '\(equation)' for shapes \(shapes)")
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
                throw ctx.error("equation '\(equation)' drops ellipsis dims from the output")
            }
            output = before + (hasEllipsis ? ellipsisLabels : []) + after
            guard Set(output).count == output.count, output.allSatisfy({ sizes[$0] != nil }) else {
                throw ctx.error("output labels of equation '\(equation)' are repeated or unknown")
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

/// Copies the elements of `src` read with `strides` over `sizes` (row-major order) into the
/// contiguous `dst`.
func gatherStrided<T>(_ src: UnsafePointer<T>, sizes: [Int], strides: [Int], into dst: UnsafeMutablePointer<T>) {
    let total = sizes.reduce(1, *)
    guard total > 0 else { return }
    guard let inner = sizes.last, let innerStride = strides.last else { dst[0] = src[0]; return }
    var idx = [Int](repeating: 0, count: sizes.count)
    var off = 0, o = 0
    while o < total {
        var p = off
        for _ in 0..<inner { dst[o] = src[p]; p += innerStride; o += 1 }
        var a = sizes.count - 2
        while a >= 0 {
            idx[a] += 1; off += strides[a]
            if idx[a] < sizes[a] { break }
            off -= strides[a] * sizes[a]; idx[a] = 0; a -= 1
        }
        if a < 0 { break }
    }
}

/// A matrix product C[m×n] = A[m×k]·B[k×n] on contiguous row-major buffers.
typealias GemmFunction<T> = (_ m: Int, _ n: Int, _ k: Int, UnsafePointer<T>, UnsafePointer<T>, UnsafeMutablePointer<T>) -> Void

/// Two-operand Einsum as a batched matrix product: operand A gathered as [P, M, K], B as
/// [P, K, N] (P: output labels in both, M/N: output labels of one side, K: summed labels;
/// gathering by strides also takes diagonals and broadcasts), then C permuted to the output.
/// Nil when the gathered operands would be too large (the direct loop then runs instead).
func einsumByGemm<T: TensorElement>(_ a: Tensor, _ b: Tensor, _ plan: EinsumPlan, gemm: GemmFunction<T>) -> Tensor? {
    let out = Tensor(zeros: T.dataType, shape: plan.outShape)
    let sa = plan.strides[0], sb = plan.strides[1]
    var size: [Int: Int] = [:]
    for (l, d) in zip(plan.outputLabels, plan.outShape) { size[l] = d }
    for (l, d) in zip(plan.sumLabels, plan.sumSizes) { size[l] = d }
    let P = plan.outputLabels.filter { sa[$0] != nil && sb[$0] != nil }
    let M = plan.outputLabels.filter { sb[$0] == nil }
    let N = plan.outputLabels.filter { sa[$0] == nil && sb[$0] != nil }
    let K = plan.sumLabels
    func count(_ ls: [Int]) -> Int { ls.reduce(1) { $0 * size[$1]! } }
    let (p, m, n, k) = (count(P), count(M), count(N), count(K))
    guard let ca = checkedElementCount([p, m, k]), let cb = checkedElementCount([p, k, n]),
          ca <= max(a.count, b.count) * 16, cb <= max(a.count, b.count) * 16,
          max(m, n, k) <= Int(Int32.max) else { return nil }
    guard p * m * n > 0, k > 0 else { return out }
    let bufA = UnsafeMutablePointer<T>.allocate(capacity: p * m * k)
    let bufB = UnsafeMutablePointer<T>.allocate(capacity: p * k * n)
    let bufC = UnsafeMutablePointer<T>.allocate(capacity: p * m * n)
    defer { bufA.deallocate(); bufB.deallocate(); bufC.deallocate() }
    gatherStrided(UnsafePointer(a.storage.pointer.assumingMemoryBound(to: T.self)), sizes: (P + M + K).map { size[$0]! },
                  strides: (P + M + K).map { sa[$0] ?? 0 }, into: bufA)
    gatherStrided(UnsafePointer(b.storage.pointer.assumingMemoryBound(to: T.self)), sizes: (P + K + N).map { size[$0]! },
                  strides: (P + K + N).map { sb[$0] ?? 0 }, into: bufB)
    for batch in 0..<p { gemm(m, n, k, bufA + batch * m * k, bufB + batch * k * n, bufC + batch * m * n) }
    let cLabels = P + M + N
    let cStrides = contiguousStrides(cLabels.map { size[$0]! })
    var strideOf: [Int: Int] = [:]
    for (l, s) in zip(cLabels, cStrides) { strideOf[l] = s }
    gatherStrided(UnsafePointer(bufC), sizes: plan.outShape, strides: plan.outputLabels.map { strideOf[$0]! },
                  into: out.storage.pointer.assumingMemoryBound(to: T.self))
    return out
}

extension CPUKernels {
    /// Einsum over any number of operands. Two float32/float64 operands go through BLAS
    /// (`einsumByGemm`); anything else is computed in Double by a direct loop: each output
    /// element sums, over the summed labels, the product of the operands.
    public static let einsum: CPUKernel = { ctx in
        guard let equation = try ctx.node.string("equation") else { throw ctx.error("equation is missing") }
        let xs = try (0..<ctx.inputs.count).map { try ctx.input($0) }
        guard let first = xs.first else { throw ctx.error("needs at least one input") }
        guard xs.allSatisfy({ $0.dataType == first.dataType }) else { throw ctx.error("inputs must share one element type") }
        let plan = try EinsumPlan(equation: equation, shapes: xs.map(\.shape), ctx)
        try ctx.checkAllocatable("the output", dims: plan.outShape, first.dataType)
        if xs.count == 2 && first.dataType == .float, let out = einsumByGemm(xs[0], xs[1], plan, gemm: { (m: Int, n: Int, k: Int, a, b, c) in
            Float.gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0, c: c, ldc: n)
        }) { return [out] }
        if xs.count == 2 && first.dataType == .double, let out = einsumByGemm(xs[0], xs[1], plan, gemm: { (m: Int, n: Int, k: Int, a, b, c) in
            Double.gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0, c: c, ldc: n)
        }) { return [out] }
        struct Apply: ArithmeticVisitor {
            let xs: [Tensor], plan: EinsumPlan, ctx: KernelContext
            func callAsFunction<T: ArithmeticElement>(_: T.Type) throws -> Tensor {
                let out = Tensor(zeros: T.dataType, shape: plan.outShape)
                nonisolated(unsafe) let ptrs = xs.map { UnsafePointer($0.storage.pointer.assumingMemoryBound(to: T.self)) }
                nonisolated(unsafe) let po = out.storage.pointer.assumingMemoryBound(to: T.self)
                let outStrides = plan.strides.map { s in plan.outputLabels.map { s[$0] ?? 0 } }
                let sumStrides = plan.strides.map { s in plan.sumLabels.map { s[$0] ?? 0 } }
                let outShape = plan.outShape, sumSizes = plan.sumSizes
                let inner = sumSizes.reduce(1, *)
                guard inner > 0 else { return out }
                let n = xs.count
                ctx.pool.parallelFor(out.count, grain: max(1, 16384 / inner)) { range in
                    var idx = [Int](repeating: 0, count: sumSizes.count)
                    var offs = [Int](repeating: 0, count: n)
                    for o in range {
                        var rem = o
                        for k in 0..<n { offs[k] = 0 }
                        for a in stride(from: outShape.count - 1, through: 0, by: -1) {
                            let i = rem % outShape[a]; rem /= outShape[a]
                            for k in 0..<n { offs[k] += i * outStrides[k][a] }
                        }
                        for a in idx.indices { idx[a] = 0 }
                        var acc = 0.0
                        for _ in 0..<inner {
                            var p = 1.0
                            for k in 0..<n { p *= ptrs[k][offs[k]].asDouble }
                            acc += p
                            var a = sumSizes.count - 1
                            while a >= 0 {
                                idx[a] += 1
                                for k in 0..<n { offs[k] += sumStrides[k][a] }
                                if idx[a] < sumSizes[a] { break }
                                for k in 0..<n { offs[k] -= sumStrides[k][a] * sumSizes[a] }
                                idx[a] = 0; a -= 1
                            }
                        }
                        po[o] = T(fromDouble: acc)
                    }
                }
                return out
            }
        }
        return [try first.dataType.visitArithmetic(Apply(xs: xs, plan: plan, ctx: ctx))]
    }
}
