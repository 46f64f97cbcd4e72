/// Shape rules and shape arithmetic of the tensor-manipulation ops (constants, reshaping,
/// slicing, indexing, padding). Shape arithmetic that kernels share throws
/// `VonnxError.invalidArgument`, which the interpreter attributes to the node.
extension ShapeRules {
    // MARK: shared arithmetic

    /// The value a Constant node holds: `value`, `value_float(s)`, `value_int(s)` or `value_string(s)`.
    public static func constantValue(_ node: Node) throws -> Tensor {
        if let t = try node.tensor("value") { return t }
        if let v = try node.float("value_float"), !node.has("value_floats") { return Tensor(scalar: v) }
        if let v = try node.floats("value_floats") { return Tensor(shape: [v.count], scalars: v) }
        if let v = try node.int("value_int") { return Tensor(scalar: Int64(v)) }
        if let v = try node.ints("value_ints") { return Tensor(shape: [v.count], scalars: v.map(Int64.init)) }
        if let v = try node.string("value_string") { return Tensor(strings: [v], shape: []) }
        if let v = try node.strings("value_strings") { return Tensor(strings: v, shape: [v.count]) }
        throw node.error("has no supported value attribute (value, value_float(s), value_int(s), value_string(s))")
    }

    /// Reshape's output dims: 0 copies the input dim (unless `allowZero`), one -1 is inferred.
    public static func reshapedDims(_ input: [Int], target: [Int], allowZero: Bool) throws -> [Int] {
        var out = target
        var inferred: Int?
        for (i, t) in target.enumerated() {
            switch t {
            case 0 where !allowZero:
                guard i < input.count else { throw VonnxError.invalidArgument("shape \(target): dim \(i) copies a missing input dim of \(input)") }
                out[i] = input[i]
            case -1:
                guard inferred == nil else { throw VonnxError.invalidArgument("shape \(target) has more than one -1") }
                inferred = i
            case ..<0: throw VonnxError.invalidArgument("shape \(target) has invalid dim \(t)")
            default: break
            }
        }
        guard let total = checkedElementCount(input, limit: .max) else {
            throw VonnxError.invalidArgument("input dims \(input) are negative or their product overflows")
        }
        if let i = inferred {
            out[i] = 1
            guard let known = checkedElementCount(out), known != 0, total % known == 0 else {
                throw VonnxError.invalidArgument("cannot reshape \(input) to \(target)")
            }
            out[i] = total / known
        }
        guard checkedElementCount(out) == total else { throw VonnxError.invalidArgument("cannot reshape \(input) to \(target)") }
        return out
    }

    /// Slice along one axis of size `dim`: the first index and the element count, after
    /// ONNX's negative-index and clamping rules. `step` must not be 0.
    public static func sliceRange(dim: Int, start: Int, end: Int, step: Int) -> (start: Int, count: Int) {
        func wrapped(_ v: Int) -> Int { v < 0 ? v &+ dim : v }
        if step > 0 {
            let s = min(max(wrapped(start), 0), dim), e = min(max(wrapped(end), 0), dim)
            return (s, e > s ? (e - s - 1) / step + 1 : 0)
        }
        let s = min(max(wrapped(start), 0), dim - 1), e = min(max(wrapped(end), -1), dim - 1)
        let n = step == .min ? .max : -step
        return (s, s > e ? (s - e - 1) / n + 1 : 0)
    }

    /// The pads of a Pad node as (begin, end) per axis: from the attribute before opset 11,
    /// else from a constant input 1 (and axes input 3 since opset 18). Nil when not constant.
    static func padWidths(_ ctx: ShapeContext, rank: Int) throws -> [(Int, Int)]? {
        let raw: [Int]
        if ctx.opset < 11 {
            guard let p = try ctx.node.ints("pads") ?? ctx.node.ints("paddings") else { return nil }
            raw = p
        } else {
            guard let p = ctx.constant(1) else { return nil }
            raw = p.ints()
        }
        var axes = Array(0..<rank)
        if ctx.opset >= 18, ctx.inputs.count > 3, !ctx.node.inputs[3].isEmpty {
            guard let a = ctx.constant(3) else { return nil }
            axes = a.ints().map { $0 < 0 ? $0 + rank : $0 }
        }
        guard raw.count == 2 * axes.count, axes.allSatisfy({ $0 >= 0 && $0 < rank }) else {
            throw ctx.error("pads \(raw) do not fit rank \(rank)")
        }
        var widths = [(Int, Int)](repeating: (0, 0), count: rank)
        for (i, a) in axes.enumerated() { widths[a] = (raw[i], raw[axes.count + i]) }
        return widths
    }

    // MARK: rules

    /// A dim from a number read from the model: unknown when negative.
    private static func dim(_ v: Int) -> Dim { v >= 0 ? .value(v) : .unknown }

    /// Dims that are all numbers, else nil.
    private static func values(_ dims: [Dim]) -> [Int]? {
        let v = dims.compactMap(\.value)
        return v.count == dims.count ? v : nil
    }

    /// The product of dims: a number when all are, the one non-unit dim when only one is not 1.
    private static func product(_ dims: ArraySlice<Dim>) -> Dim {
        if let v = values(Array(dims)) { return checkedElementCount(v, limit: .max).map(Dim.value) ?? .unknown }
        let other = dims.filter { $0 != .value(1) }
        return other.count == 1 ? other[0] : .unknown
    }

    private static func axis(_ a: Int, rank: Int, _ ctx: ShapeContext) throws -> Int {
        let n = a < 0 ? a + rank : a
        guard n >= 0, n < max(rank, 1) else { throw ctx.error("axis \(a) is out of range for rank \(rank)") }
        return n
    }

    /// Axes from the attribute before `inputSince`, from constant input `index` after
    /// (`.some(nil)` when the input is given but not constant).
    private static func axesArgument(_ ctx: ShapeContext, input index: Int, inputSince: Int) throws -> [Int]?? {
        if ctx.opset >= inputSince {
            guard index < ctx.node.inputs.count, !ctx.node.inputs[index].isEmpty else { return nil }
            return .some(ctx.constant(index)?.ints())
        }
        return try ctx.node.ints("axes").map { .some($0) }
    }

    /// Constant: the type and shape of its `value` (or other value attribute).
    public static let constant: ShapeRule = { ctx in
        let t = try constantValue(ctx.node)
        return [.tensor(t.dataType, shape: t.shape.map(Dim.value))]
    }

    /// ConstantOfShape: its `value` attribute's type (float32 by default), the shape its constant input holds.
    public static let constantOfShape: ShapeRule = { ctx in
        let type = try ctx.node.tensor("value")?.dataType ?? .float
        return [.tensor(type, shape: ctx.constant(0).map { $0.ints().map(dim) })]
    }

    /// Reshape: the constant target shape, with 0 (copy unless `allowzero`) and one -1 resolved.
    public static let reshape: ShapeRule = { ctx in
        guard let x = ctx.input(0), let type = x.elementType else { return [nil] }
        let target: [Int]
        if ctx.opset < 5 {
            guard let s = try ctx.node.ints("shape") else { return [nil] }
            target = s
        } else {
            guard let s = ctx.constant(1) else { return [.tensor(type, shape: nil)] }
            target = s.ints()
        }
        let allowZero = ctx.opset >= 14 ? try ctx.node.int("allowzero", default: 0) != 0 : false
        if let dims = x.staticShape {
            do { return [.tensor(type, shape: try reshapedDims(dims, target: target, allowZero: allowZero).map(Dim.value))] }
            catch let VonnxError.invalidArgument(m) { throw ctx.error(m) }
        }
        let input = x.shape
        return [.tensor(type, shape: target.enumerated().map { i, t in
            if t == 0 && !allowZero { return input.flatMap { i < $0.count ? $0[i] : nil } ?? .unknown }
            return dim(t)
        })]
    }

    /// Flatten: two dims, the product of those before `axis` and of those from it.
    public static let flatten: ShapeRule = { ctx in
        guard let x = ctx.input(0), let type = x.elementType else { return [nil] }
        guard let dims = x.shape else { return [.tensor(type, shape: [.unknown, .unknown])] }
        var a = try ctx.node.int("axis", default: 1)
        if a < 0 { a += dims.count }
        guard a >= 0, a <= dims.count else { throw ctx.error("axis \(a) is out of range for rank \(dims.count)") }
        return [.tensor(type, shape: [product(dims[..<a]), product(dims[a...])])]
    }

    /// Squeeze: the input without the given axes (or without every dim of 1).
    public static let squeeze: ShapeRule = { ctx in
        guard let x = ctx.input(0), let type = x.elementType else { return [nil] }
        guard let dims = x.shape else { return [.tensor(type, shape: nil)] }
        let given = try axesArgument(ctx, input: 1, inputSince: 13)
        if case .some(.none) = given { return [.tensor(type, shape: nil)] }
        if let axes = given.flatMap({ $0 }) {
            let drop = Set(try axes.map { try axis($0, rank: dims.count, ctx) })
            return [.tensor(type, shape: dims.enumerated().filter { !drop.contains($0.offset) }.map(\.element))]
        }
        guard dims.allSatisfy({ $0.value != nil }) else { return [.tensor(type, shape: nil)] }
        return [.tensor(type, shape: dims.filter { $0 != .value(1) })]
    }

    /// Unsqueeze: the input with dims of 1 inserted at the given axes.
    public static let unsqueeze: ShapeRule = { ctx in
        guard let x = ctx.input(0), let type = x.elementType else { return [nil] }
        guard let dims = x.shape else { return [.tensor(type, shape: nil)] }
        guard let axes = try axesArgument(ctx, input: 1, inputSince: 13).flatMap({ $0 }) else { return [.tensor(type, shape: nil)] }
        let rank = dims.count + axes.count
        let insert = Set(try axes.map { try axis($0, rank: rank, ctx) })
        var it = dims.makeIterator()
        return [.tensor(type, shape: (0..<rank).map { insert.contains($0) ? .value(1) : it.next() ?? .unknown })]
    }

    /// Transpose: the input's dims permuted by `perm` (reversed by default).
    public static let transpose: ShapeRule = { ctx in
        guard let x = ctx.input(0), let type = x.elementType, let dims = x.shape else { return [ctx.input(0)] }
        let perm = try ctx.node.ints("perm") ?? Array((0..<dims.count).reversed())
        guard perm.count == dims.count, Set(perm) == Set(0..<dims.count) else {
            throw ctx.error("perm \(perm) is not a permutation of \(dims.count) axes")
        }
        return [.tensor(type, shape: perm.map { dims[$0] })]
    }

    /// Concat: the inputs' shape with the `axis` dims summed.
    public static let concat: ShapeRule = { ctx in
        guard let first = ctx.input(0), let type = first.elementType else { return [nil] }
        let shapes = ctx.inputs.compactMap { $0?.shape }
        guard shapes.count == ctx.inputs.count, let rank = shapes.first?.count else { return [.tensor(type, shape: nil)] }
        let a = try axis(try ctx.node.int("axis", default: ctx.opset < 4 ? 1 : 0), rank: rank, ctx)
        guard shapes.allSatisfy({ $0.count == rank }) else { throw ctx.error("inputs of different ranks") }
        return [.tensor(type, shape: try (0..<rank).map { k in
            if k == a {
                let v = shapes.compactMap { $0[k].value }
                return v.count == shapes.count ? .value(try v.reduce(0, checkedSum)) : .unknown
            }
            return shapes.first(where: { $0[k].value != nil })?[k] ?? shapes[0][k]
        })]
    }

    /// Split: the input cut along `axis` by the `split` sizes, or into equal parts.
    public static let split: ShapeRule = { ctx in
        guard let x = ctx.input(0), let type = x.elementType else { return [] }
        let n = ctx.node.outputs.count
        guard let dims = x.shape else { return Array(repeating: .tensor(type, shape: nil), count: n) }
        let a = try axis(try ctx.node.int("axis", default: 0), rank: dims.count, ctx)
        var sizes: [Int]?
        if ctx.opset >= 13 || ctx.opset < 2, ctx.node.inputs.count > 1, !ctx.node.inputs[1].isEmpty {
            sizes = ctx.constant(1)?.ints()
        } else if ctx.opset < 13, let s = try ctx.node.ints("split") {
            sizes = s
        } else if let d = dims[a].value {
            let parts = (ctx.opset >= 18 ? try ctx.node.int("num_outputs") : nil) ?? n
            if parts > 0 {
                let p = try checkedSum(d, parts - 1) / parts
                sizes = (0..<min(parts, n)).map { max(0, min(p, d - $0 * p)) }
            }
        }
        return (0..<n).map { i in
            var s = dims
            s[a] = sizes.flatMap { i < $0.count ? .value($0[i]) : nil } ?? .unknown
            return .tensor(type, shape: s)
        }
    }

    /// Slice: each sliced axis's length from constant starts, ends, axes and steps.
    public static let slice: ShapeRule = { ctx in
        guard let x = ctx.input(0), let type = x.elementType, let dims = x.shape else { return [ctx.input(0)] }
        var starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
        if ctx.opset < 10 {
            guard let s = try ctx.node.ints("starts"), let e = try ctx.node.ints("ends") else { return [nil] }
            (starts, ends, axes, steps) = (s, e, try ctx.node.ints("axes"), nil)
        } else {
            guard let s = ctx.constant(1), let e = ctx.constant(2) else { return [.tensor(type, shape: nil)] }
            (starts, ends) = (s.ints(), e.ints())
            func optional(_ i: Int) -> [Int]?? {
                guard i < ctx.node.inputs.count, !ctx.node.inputs[i].isEmpty else { return .some(nil) }
                return ctx.constant(i).map { .some($0.ints()) } ?? nil
            }
            guard let a = optional(3), let st = optional(4) else { return [.tensor(type, shape: nil)] }
            (axes, steps) = (a, st)
        }
        let ax = try (axes ?? Array(0..<starts.count)).map { try axis($0, rank: dims.count, ctx) }
        let st = steps ?? Array(repeating: 1, count: starts.count)
        guard ends.count == starts.count, ax.count == starts.count, st.count == starts.count, !st.contains(0) else {
            throw ctx.error("starts, ends, axes and steps disagree")
        }
        var out = dims
        for (i, a) in ax.enumerated() {
            out[a] = dims[a].value.map { .value(sliceRange(dim: $0, start: starts[i], end: ends[i], step: st[i]).count) } ?? .unknown
        }
        return [.tensor(type, shape: out)]
    }

    /// Gather: the data's dims with the `axis` one replaced by the indices' dims.
    public static let gather: ShapeRule = { ctx in
        guard let x = ctx.input(0), let type = x.elementType else { return [nil] }
        guard let dims = x.shape, let idx = ctx.input(1)?.shape else { return [.tensor(type, shape: nil)] }
        let a = try axis(try ctx.node.int("axis", default: 0), rank: dims.count, ctx)
        return [.tensor(type, shape: Array(dims[..<a]) + idx + Array(dims[(a + 1)...]))]
    }

    /// Expand: the input broadcast against the constant target shape.
    public static let expand: ShapeRule = { ctx in
        guard let x = ctx.input(0), let type = x.elementType else { return [nil] }
        guard let dims = x.shape, let target = ctx.constant(1)?.ints() else { return [.tensor(type, shape: nil)] }
        return [.tensor(type, shape: try broadcastDims([dims, target.map(dim)], ctx))]
    }

    /// Shape: a 1-D int64 tensor of the input's rank (or of the `start`..<`end` slice).
    public static let shape: ShapeRule = { ctx in
        guard let rank = ctx.input(0)?.shape?.count else { return [.tensor(.int64, shape: [.unknown])] }
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + rank : v, 0), rank) }
        let start = clamp(try ctx.node.int("start", default: 0)), end = clamp(try ctx.node.int("end", default: rank))
        return [.tensor(.int64, shape: [.value(max(0, end - start))])]
    }

    /// Size: an int64 scalar.
    public static let size: ShapeRule = { _ in [.tensor(.int64, shape: [])] }

    /// The value of a Shape node (its input's dims from `start` to `end`, clamped, as int64)
    /// or a Size node (the element count, an int64 scalar), given the input's `shape`: what
    /// both backends compute, from the shape alone.
    public static func shapeValue(_ node: Node, of shape: [Int]) throws -> Tensor {
        if node.opType == "Size" { return Tensor(scalar: Int64(shape.reduce(1, *))) }
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + shape.count : v, 0), shape.count) }
        let start = clamp(try node.int("start", default: 0)), end = clamp(try node.int("end", default: shape.count))
        let dims = start < end ? shape[start..<end].map(Int64.init) : []
        return Tensor(shape: [dims.count], scalars: dims)
    }

    /// Dropout: the input's type, and a mask of its shape (bool from opset 10).
    public static let dropout: ShapeRule = { ctx in
        guard let x = ctx.input(0) else { return [nil, nil] }
        let maskType = ctx.opset >= 10 ? DataType.bool : x.elementType
        return [x, maskType.map { .tensor($0, shape: x.shape) }]
    }

    /// Pad: each dim grown by its constant pads.
    public static let pad: ShapeRule = { ctx in
        guard let x = ctx.input(0), let type = x.elementType else { return [nil] }
        guard let dims = x.shape, let widths = try padWidths(ctx, rank: dims.count) else { return [.tensor(type, shape: nil)] }
        return [.tensor(type, shape: zip(dims, widths).map { d, w in
            guard let v = d.value else { return .unknown }
            let (a, o1) = v.addingReportingOverflow(w.0), (b, o2) = a.addingReportingOverflow(w.1)
            return o1 || o2 ? .unknown : dim(b)
        })]
    }

    /// Tile: each dim multiplied by its constant repeat count.
    public static let tile: ShapeRule = { ctx in
        guard let x = ctx.input(0), let type = x.elementType else { return [nil] }
        guard ctx.opset >= 6, let dims = x.shape, let r = ctx.constant(1)?.ints(), r.count == dims.count else { return [.tensor(type, shape: nil)] }
        return [.tensor(type, shape: zip(dims, r).map { d, n in
            guard n != 1 else { return d }
            guard let v = d.value else { return .unknown }
            let (p, overflow) = v.multipliedReportingOverflow(by: n)
            return overflow ? .unknown : dim(p)
        })]
    }

    /// GatherElements: the indices' shape, the data's element type.
    public static let gatherElements: ShapeRule = { ctx in
        guard let type = ctx.input(0)?.elementType else { return [nil] }
        return [.tensor(type, shape: ctx.input(1)?.shape)]
    }

    /// DepthToSpace (`toSpace`) or SpaceToDepth on NCHW with `blocksize`.
    public static func depthSpace(toSpace: Bool) -> ShapeRule {
        { ctx in
            guard let x = ctx.input(0), let type = x.elementType else { return [nil] }
            let bs = try ctx.node.int("blocksize", default: 0)
            guard let d = x.shape, d.count == 4, bs > 0, bs <= Int(Int32.max) else { return [.tensor(type, shape: nil)] }
            func scaled(_ dim: Dim, up: Bool, by f: Int) -> Dim {
                guard let v = dim.value else { return .unknown }
                if up { let (p, o) = v.multipliedReportingOverflow(by: f); return o ? .unknown : .value(p) }
                guard v % f == 0 else { return .unknown }
                return .value(v / f)
            }
            return [.tensor(type, shape: [d[0], scaled(d[1], up: !toSpace, by: bs * bs),
                                          scaled(d[2], up: toSpace, by: bs), scaled(d[3], up: toSpace, by: bs)])]
        }
    }

    /// EyeLike: the input's 2-D shape, its `dtype` attribute's element type (else the input's).
    public static let eyeLike: ShapeRule = { ctx in
        let type = try ctx.node.int("dtype").flatMap { DataType(rawValue: Int32(truncatingIfNeeded: $0)) } ?? ctx.input(0)?.elementType
        return [type.map { .tensor($0, shape: ctx.input(0)?.shape) }]
    }

    /// Output type known, length unknown (Range, Compress, NonZero).
    public static func dataDependent(type: DataType? = nil) -> ShapeRule {
        { ctx in
            guard let t = type ?? ctx.input(0)?.elementType else { return [nil] }
            return [.tensor(t, shape: nil)]
        }
    }
}
