import VonnxIR

/// Axes from the attribute `name` before `inputSince`, from input `index` from then on
/// (nil when absent).
func axesArgument(_ ctx: KernelContext, attribute name: String = "axes", input index: Int, inputSince: Int) throws -> [Int]? {
    if ctx.opset >= inputSince {
        guard let t = ctx.optionalInput(index) else { return nil }
        return try shapeInput(t, name, ctx)
    }
    return try ctx.node.ints(name)
}

/// Axes normalized against `rank`, each checked and none repeated.
func normalizedAxes(_ axes: [Int], rank: Int, _ ctx: KernelContext) throws -> [Int] {
    let result = try axes.map { try normalizeAxis($0, rank: rank, ctx) }
    guard Set(result).count == result.count else { throw ctx.error("axes \(axes) repeat an axis") }
    return result
}

extension CPUKernels {
    /// Reshape: 0 copies the input dim (unless `allowzero`), -1 takes what is left.
    public static let reshape: CPUKernel = { ctx in
        let x = try ctx.input(0)
        let target = ctx.opset < 5 ? (try ctx.node.ints("shape") ?? []) : try shapeInput(try ctx.input(1), "shape", ctx)
        let allowZero = ctx.opset >= 14 ? try ctx.node.int("allowzero", default: 0) != 0 : false
        do {
            return [x.reshaped(try ShapeRules.reshapedDims(x.shape, target: target, allowZero: allowZero))]
        } catch let VonnxError.invalidArgument(m) { throw ctx.error(m) }
    }

    /// Flatten: 2-D view, dims before `axis` in the first.
    public static let flatten: CPUKernel = { ctx in
        let x = try ctx.input(0)
        var axis = try ctx.node.int("axis", default: 1)
        if axis < 0 { axis += x.rank }
        guard axis >= 0, axis <= x.rank else { throw ctx.error("axis \(axis) is out of range for rank \(x.rank)") }
        return [x.reshaped([x.shape.prefix(axis).reduce(1, *), x.shape.dropFirst(axis).reduce(1, *)])]
    }

    /// Squeeze: drops the given unit axes (all unit axes when none are given).
    public static let squeeze: CPUKernel = { ctx in
        let x = try ctx.input(0)
        let shape: [Int]
        if let axes = try axesArgument(ctx, input: 1, inputSince: 13) {
            let drop = Set(try normalizedAxes(axes, rank: x.rank, ctx))
            for a in drop where x.shape[a] != 1 { throw ctx.error("cannot squeeze axis \(a) of size \(x.shape[a])") }
            shape = x.shape.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
        } else {
            shape = x.shape.filter { $0 != 1 }
        }
        return [x.reshaped(shape)]
    }

    /// Unsqueeze: inserts unit axes at the given positions of the output.
    public static let unsqueeze: CPUKernel = { ctx in
        let x = try ctx.input(0)
        guard let axes = try axesArgument(ctx, input: 1, inputSince: 13) else { throw ctx.error("axes are required") }
        let rank = x.rank + axes.count
        let insert = Set(try normalizedAxes(axes, rank: rank, ctx))
        var dims = x.shape.makeIterator()
        return [x.reshaped((0..<rank).map { insert.contains($0) ? 1 : dims.next()! })]
    }

    /// Transpose by `perm` (default: reversed axes).
    public static let transpose: CPUKernel = { ctx in
        let x = try ctx.input(0)
        let perm = try ctx.node.ints("perm") ?? Array((0..<x.rank).reversed())
        guard perm.count == x.rank, Set(perm) == Set(0..<x.rank) else {
            throw ctx.error("perm \(perm) is not a permutation of \(x.rank) axes")
        }
        if perm == Array(0..<x.rank) { return [x] }
        let strides = contiguousStrides(x.shape)
        return [stridedCopy(x, strides: perm.map { strides[$0] }, shape: perm.map { x.shape[$0] }, pool: ctx.pool)]
    }

    /// Expand: broadcast of the input and the given shape.
    public static let expand: CPUKernel = { ctx in
        let x = try ctx.input(0)
        let target = try shapeInput(try ctx.input(1), "shape", ctx)
        guard target.allSatisfy({ $0 >= 0 }), let shape = broadcastShape([x.shape, target]),
              checkedElementCount(shape) != nil else {
            throw ctx.error("input shape \(x.shape) cannot expand to \(target)")
        }
        if shape == x.shape { return [x] }
        return [stridedCopy(x, strides: broadcastStrides(x.shape, to: shape), shape: shape, pool: ctx.pool)]
    }

    /// Tile: each axis repeated `repeats[i]` times.
    public static let tile: CPUKernel = { ctx in
        let x = try ctx.input(0)
        var repeats: [Int]
        if ctx.opset < 6 {
            // Tile-1: a scalar count of tiles along one axis
            let tiles = try scalarInput(try ctx.input(1), "tiles", ctx), axisValue = try scalarInput(try ctx.input(2), "axis", ctx)
            guard tiles >= 0, tiles < 0x1p40, axisValue.magnitude < 0x1p40 else { throw ctx.error("tiles \(tiles) or axis \(axisValue) is invalid") }
            repeats = Array(repeating: 1, count: x.rank)
            repeats[try normalizeAxis(Int(axisValue), rank: x.rank, ctx)] = Int(tiles)
        } else {
            repeats = try shapeInput(try ctx.input(1), "repeats", ctx)
        }
        guard repeats.count == x.rank, repeats.allSatisfy({ $0 >= 0 }) else {
            throw ctx.error("repeats \(repeats) do not fit rank \(x.rank)")
        }
        guard let outShape = Optional(zip(repeats, x.shape).map { $0.multipliedReportingOverflow(by: $1) }),
              !outShape.contains(where: \.overflow), checkedElementCount(outShape.map(\.partialValue)) != nil else {
            throw ctx.error("repeats \(repeats) make the output too large")
        }
        let strides = contiguousStrides(x.shape)
        var shape: [Int] = [], steps: [Int] = []
        for i in 0..<x.rank { shape += [repeats[i], x.shape[i]]; steps += [0, strides[i]] }
        return [stridedCopy(x, strides: steps, shape: shape, pool: ctx.pool).reshaped(outShape.map(\.partialValue))]
    }

    /// DepthToSpace (modes DCR and CRD) on NCHW.
    public static let depthToSpace: CPUKernel = { ctx in
        let x = try ctx.input(0)
        let bs = try ctx.node.int("blocksize") ?? 0
        guard x.rank == 4, bs > 0, bs <= Int(Int32.max), x.shape[1] % (bs * bs) == 0 else {
            throw ctx.error("input \(x.shape) does not split into blocks of \(bs)")
        }
        let (n, c, h, w) = (x.shape[0], x.shape[1] / (bs * bs), x.shape[2], x.shape[3])
        let crd = try ctx.node.string("mode", default: "DCR") == "CRD"
        let view = crd ? [n, c, bs, bs, h, w] : [n, bs, bs, c, h, w]
        let perm = crd ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2]
        let s = contiguousStrides(view)
        return [stridedCopy(x, strides: perm.map { s[$0] }, shape: perm.map { view[$0] }, pool: ctx.pool)
            .reshaped([n, c, h * bs, w * bs])]
    }

    /// SpaceToDepth on NCHW.
    public static let spaceToDepth: CPUKernel = { ctx in
        let x = try ctx.input(0)
        let bs = try ctx.node.int("blocksize") ?? 0
        guard x.rank == 4, bs > 0, x.shape[2] % bs == 0, x.shape[3] % bs == 0 else {
            throw ctx.error("input \(x.shape) does not split into blocks of \(bs)")
        }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2] / bs, x.shape[3] / bs)
        let view = [n, c, h, bs, w, bs], perm = [0, 3, 5, 1, 2, 4]
        let s = contiguousStrides(view)
        return [stridedCopy(x, strides: perm.map { s[$0] }, shape: perm.map { view[$0] }, pool: ctx.pool)
            .reshaped([n, c * bs * bs, h, w])]
    }

    /// Concat along `axis`: same type, same dims except on the axis.
    public static let concat: CPUKernel = { ctx in
        let inputs = try (0..<ctx.inputs.count).map { try ctx.input($0) }
        guard let first = inputs.first else { throw ctx.error("needs at least one input") }
        let axis = try normalizeAxis(try ctx.node.int("axis") ?? (ctx.opset < 4 ? 1 : 0), rank: first.rank, ctx)
        var shape = first.shape
        shape[axis] = 0
        for t in inputs {
            guard t.dataType == first.dataType, t.rank == first.rank,
                  (0..<t.rank).allSatisfy({ $0 == axis || t.shape[$0] == first.shape[$0] }) else {
                throw ctx.error("inputs \(inputs.map(\.description)) do not concatenate on axis \(axis)")
            }
            shape[axis] += t.shape[axis]
        }
        let outer = shape.prefix(axis).reduce(1, *), inner = shape.dropFirst(axis + 1).reduce(1, *)
        let out = ElementBuffer(first.dataType, shape: shape)
        let sources = inputs.map { (ElementSource($0), $0.shape[axis] * inner) }
        let row = shape[axis] * inner
        ctx.pool.parallelFor(outer, grain: max(1, 16384 / max(row, 1))) { range in
            for o in range {
                var d = o * row
                for (src, n) in sources { out.copy(src, o * n, to: d, count: n); d += n }
            }
        }
        return [out.finish()]
    }

    /// Split along `axis` into parts given by `split` (input in opset 1 and since 13,
    /// else attribute), by `num_outputs` (opset 18: ceil-sized parts), or equally among the outputs.
    public static let split: CPUKernel = { ctx in
        let x = try ctx.input(0)
        let axis = try normalizeAxis(try ctx.node.int("axis", default: 0), rank: x.rank, ctx)
        let dim = x.shape[axis]
        var sizes: [Int]
        let splitInput = ctx.opset >= 13 || ctx.opset < 2 ? try ctx.optionalInput(1).map { try shapeInput($0, "split", ctx) } : nil
        if let given = try splitInput ?? (ctx.opset < 13 ? ctx.node.ints("split") : nil) {
            sizes = given
        } else {
            let numOutputs = ctx.opset >= 18 ? try ctx.node.int("num_outputs") : nil
            let n = numOutputs ?? ctx.node.outputs.count
            guard n > 0 else { throw ctx.error("num_outputs must be positive") }
            let part = (dim + n - 1) / n
            sizes = (0..<n).map { max(0, min(part, dim - $0 * part)) }
            if numOutputs == nil, dim % n != 0 {
                throw ctx.error("axis of size \(dim) does not split equally into \(n) parts")
            }
        }
        guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == dim else {
            throw ctx.error("split \(sizes) does not add up to \(dim)")
        }
        let outer = x.shape.prefix(axis).reduce(1, *), inner = x.shape.dropFirst(axis + 1).reduce(1, *)
        let src = ElementSource(x)
        var start = 0
        return sizes.map { size in
            var shape = x.shape
            shape[axis] = size
            let out = ElementBuffer(x.dataType, shape: shape)
            let n = size * inner, begin = start * inner
            ctx.pool.parallelFor(outer, grain: max(1, 16384 / max(n, 1))) { range in
                for o in range { out.copy(src, o * dim * inner + begin, to: o * n, count: n) }
            }
            start += size
            return out.finish()
        }
    }
}
