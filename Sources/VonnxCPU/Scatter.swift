import VonnxIR

/// Applies updates in order to a copy of `data`: each (dst, src) pair writes (or reduces)
/// `run` consecutive update elements from `src` into the output at `dst`.
private func scatterUpdates(_ data: Tensor, _ updates: Tensor, pairs: [(dst: Int, src: Int)], run: Int,
                     reduction: String, _ ctx: KernelContext) throws -> Tensor {
    guard updates.dataType == data.dataType else {
        throw ctx.error("updates type \(updates.dataType) differs from data type \(data.dataType)")
    }
    let out = ElementBuffer(data.dataType, shape: data.shape)
    out.copy(ElementSource(data), 0, to: 0, count: data.count)
    if reduction == "none" {
        let src = ElementSource(updates)
        for (d, s) in pairs { out.copy(src, s, to: d, count: run) }
        return out.finish()
    }
    let result = out.finish()
    struct Reduce: ArithmeticVisitor {
        let out: Tensor, updates: Tensor, pairs: [(dst: Int, src: Int)], run: Int, reduction: String, ctx: KernelContext
        func callAsFunction<T: ArithmeticElement>(_: T.Type) throws {
            let f: (T, T) -> T
            switch reduction {
            case "add": f = T.add
            case "mul": f = T.mul
            case "max": f = { $0 < $1 ? $1 : $0 }
            case "min": f = { $1 < $0 ? $1 : $0 }
            default: throw ctx.error("unknown reduction '\(reduction)'")
            }
            updates.withUnsafeBufferPointer(as: T.self) { u in
                out.withUnsafeMutableBufferPointer(as: T.self) { o in
                    for (d, s) in pairs { for i in 0..<run { o[d + i] = f(o[d + i], u[s + i]) } }
                }
            }
        }
    }
    try data.dataType.visitArithmetic(Reduce(out: result, updates: updates, pairs: pairs, run: run,
                                              reduction: reduction, ctx: ctx))
    return result
}

/// ScatterElements (and the older Scatter): output = data with output[i with its `axis`
/// coordinate replaced by indices[i]] = updates[i], optionally reduced.
private let scatterElementsKernel: CPUKernel = { ctx in
    let x = try ctx.input(0), indices = try ctx.input(1), updates = try ctx.input(2)
    let axis = try normalizeAxis(try ctx.node.int("axis", default: 0), rank: x.rank, ctx)
    guard indices.shape == updates.shape, indices.rank == x.rank,
          (0..<x.rank).allSatisfy({ $0 == axis || indices.shape[$0] <= x.shape[$0] }) else {
        throw ctx.error("indices \(indices.shape) and updates \(updates.shape) do not fit data \(x.shape)")
    }
    let idx = try checkedIndices(indices, dim: x.shape[axis], "indices", ctx)
    let dataStrides = contiguousStrides(x.shape)
    var pairs: [(dst: Int, src: Int)] = []
    pairs.reserveCapacity(idx.count)
    var coord = [Int](repeating: 0, count: x.rank)
    for (e, v) in idx.enumerated() {
        var off = 0
        for a in 0..<x.rank { off += (a == axis ? v : coord[a]) * dataStrides[a] }
        pairs.append((off, e))
        var a = x.rank - 1
        while a >= 0 { coord[a] += 1; if coord[a] < indices.shape[a] { break }; coord[a] = 0; a -= 1 }
    }
    let reduction = ctx.opset >= 16 ? try ctx.node.string("reduction", default: "none") : "none"
    return [try scatterUpdates(x, updates, pairs: pairs, run: 1, reduction: reduction, ctx)]
}

extension CPUKernels {
    public static let scatterElements: CPUKernel = scatterElementsKernel
    public static let scatter: CPUKernel = scatterElementsKernel

    /// ScatterND: each index tuple of the last indices axis addresses a slice of the data
    /// that the matching updates slice replaces (or is reduced into).
    public static let scatterND: CPUKernel = { ctx in
        let x = try ctx.input(0), indices = try ctx.input(1), updates = try ctx.input(2)
        guard indices.rank >= 1, let k = indices.shape.last, k <= x.rank,
              updates.shape == Array(indices.shape.dropLast()) + Array(x.shape.dropFirst(k)) else {
            throw ctx.error("indices \(indices.shape) and updates \(updates.shape) do not fit data \(x.shape)")
        }
        guard indices.dataType == .int64 || indices.dataType == .int32 else { throw ctx.error("indices must be int32 or int64") }
        let idx = indices.ints()
        let run = x.shape.dropFirst(k).reduce(1, *)
        let strides = contiguousStrides(x.shape)
        let tuples = indices.count / max(k, 1)
        var pairs: [(dst: Int, src: Int)] = []
        for t in 0..<(k == 0 ? indices.shape.dropLast().reduce(1, *) : tuples) {
            var off = 0
            for j in 0..<k {
                var v = idx[t * k + j]
                if v < 0 { v += x.shape[j] }
                guard v >= 0, v < x.shape[j] else { throw ctx.error("index \(idx[t * k + j]) is out of range for a dim of \(x.shape[j])") }
                off += v * strides[j]
            }
            pairs.append((off, t * run))
        }
        let reduction = ctx.opset >= 16 ? try ctx.node.string("reduction", default: "none") : "none"
        return [try scatterUpdates(x, updates, pairs: pairs, run: run, reduction: reduction, ctx)]
    }
}
