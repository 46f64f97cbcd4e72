import VonnxIR

/// The source index for output index `o` of an axis of size `dim` padded by `begin` in front,
/// or nil for the constant value.
private func padSource(_ o: Int, begin: Int, dim: Int, mode: String) -> Int? {
    let i = o - begin
    if i >= 0 && i < dim { return i }
    switch mode {
    case "edge": return min(max(i, 0), dim - 1)
    case "wrap": return (i % dim + dim) % dim
    case "reflect":
        guard dim > 1 else { return 0 }
        let period = 2 * (dim - 1)
        let j = (i % period + period) % period
        return j < dim ? j : period - j
    default: return nil
    }
}

extension CPUKernels {
    /// Pad (modes constant, reflect, edge, wrap): pads from the `paddings`/`pads` attribute
    /// before opset 11, then from input 1 (with constant input 2 and axes input 3 since 18).
    /// Negative pads crop.
    public static let pad: CPUKernel = { ctx in
        let x = try ctx.input(0)
        let mode = try ctx.node.string("mode", default: "constant")
        guard ["constant", "reflect", "edge", "wrap"].contains(mode) else { throw ctx.error("unknown mode '\(mode)'") }
        var raw: [Int], axes = Array(0..<x.rank)
        var value: Tensor
        if ctx.opset < 11 {
            guard let p = try ctx.node.ints("pads") ?? ctx.node.ints("paddings") else { throw ctx.error("pads are required") }
            raw = p
            value = x.dataType == .string ? Tensor(strings: [""], shape: [])
                : try Tensor(x.dataType, shape: [], converting: [Double(try ctx.node.float("value", default: 0))])
        } else {
            raw = try shapeInput(try ctx.input(1), "pads", ctx)
            if let c = ctx.optionalInput(2) {
                guard c.count == 1, c.dataType == x.dataType else { throw ctx.error("constant_value must be one \(x.dataType), got \(c)") }
                value = c
            } else {
                value = x.dataType == .string ? Tensor(strings: [""], shape: []) : Tensor(zeros: x.dataType, shape: [])
            }
            if ctx.opset >= 18, let a = ctx.optionalInput(3) {
                axes = try normalizedAxes(try shapeInput(a, "axes", ctx), rank: x.rank, ctx)
            }
        }
        guard raw.count == 2 * axes.count else { throw ctx.error("pads \(raw) do not fit \(axes.count) axes") }
        var begin = [Int](repeating: 0, count: x.rank), shape = x.shape
        for (i, a) in axes.enumerated() {
            begin[a] = raw[i]
            guard raw[i].magnitude < 1 << 40, raw[axes.count + i].magnitude < 1 << 40 else {
                throw ctx.error("pads \(raw) are too large")
            }
            shape[a] += raw[i] + raw[axes.count + i]
            guard shape[a] >= 0 else { throw ctx.error("pads \(raw) crop axis \(a) of size \(x.shape[a]) below zero") }
            if mode != "constant", x.shape[a] == 0, shape[a] > 0 { throw ctx.error("cannot \(mode)-pad the empty axis \(a)") }
        }
        guard checkedElementCount(shape) != nil else { throw ctx.error("output shape \(shape) is too large") }
        guard x.rank > 0, shape != x.shape || begin.contains(where: { $0 != 0 }) else { return [x] }
        let maps = (0..<x.rank).map { a in (0..<shape[a]).map { padSource($0, begin: begin[a], dim: x.shape[a], mode: mode) } }
        // the last axis as runs: (output start, source start or nil, length)
        var segments: [(Int, Int?, Int)] = []
        for (o, s) in maps[x.rank - 1].enumerated() {
            if let (start, src, n) = segments.last, o == start + n,
               (src == nil && s == nil) || (src != nil && s == src! + n) {
                segments[segments.count - 1].2 = n + 1
            } else { segments.append((o, s, 1)) }
        }
        let out = ElementBuffer(x.dataType, shape: shape)
        let src = ElementSource(x), fill = ElementSource(value)
        let inStrides = contiguousStrides(x.shape)
        let width = shape[x.rank - 1], rows = out.count / max(width, 1)
        ctx.pool.parallelFor(rows, grain: max(1, 16384 / max(width, 1))) { [shape, segments] range in
            for r in range {
                var rem = r, offset: Int? = 0
                for a in stride(from: x.rank - 2, through: 0, by: -1) {
                    let i = maps[a][rem % shape[a]]
                    rem /= shape[a]
                    offset = i.flatMap { i in offset.map { $0 + i * inStrides[a] } }
                }
                guard let base = offset else { out.fill(fill, 0, to: r * width, count: width); continue }
                for (o, s, n) in segments {
                    if let s { out.copy(src, base + s, to: r * width + o, count: n) } else { out.fill(fill, 0, to: r * width + o, count: n) }
                }
            }
        }
        return [out.finish()]
    }
}
