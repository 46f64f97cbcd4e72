import Glibc
import VonnxIR

extension Tensor {
    /// The same bytes read as another element type of the same size (bfloat16 built as UInt16).
    func retyped(_ type: DataType) -> Tensor { Tensor(dataType: type, shape: shape, storage: storage) }
}

/// A shape, axes or pads input: a scalar or 1-D integer tensor, as Ints (callers check the values).
func shapeInput(_ t: Tensor, _ what: String, _ ctx: KernelContext) throws -> [Int] {
    guard t.dataType.isInteger, t.rank <= 1 else { throw ctx.error("\(what) must be a 1-D integer tensor, got \(t)") }
    return t.ints()
}

/// A scalar (or one-element) input as Double.
func scalarInput(_ t: Tensor, _ what: String, _ ctx: KernelContext) throws -> Double {
    guard t.count == 1, t.dataType != .string else { throw ctx.error("\(what) must hold one number, got \(t)") }
    return t.doubles()[0]
}

/// Fills `out` by repeating its element 0 (already written) to every element.
private func repeatFirst(_ out: ElementBuffer, pool: ThreadPool) {
    let src = ElementSource(out.finish())
    pool.parallelFor(out.count - 1, grain: 65536) { r in out.fill(src, 0, to: r.lowerBound + 1, count: r.count) }
}

extension CPUKernels {
    /// Constant: the value held in one of its attributes.
    public static let constant: CPUKernel = { ctx in [try ShapeRules.constantValue(ctx.node)] }

    /// ConstantOfShape: a tensor of the given shape filled with `value` (default float 0).
    public static let constantOfShape: CPUKernel = { ctx in
        let shape = try shapeInput(try ctx.input(0), "shape", ctx)
        guard checkedElementCount(shape) != nil else { throw ctx.error("shape \(shape) is invalid or too large") }
        guard let value = try ctx.node.tensor("value") else { return [Tensor(zeros: .float, shape: shape)] }
        guard value.count == 1 else { throw ctx.error("attribute 'value' must hold one element, got \(value)") }
        let out = ElementBuffer(value.dataType, shape: shape)
        guard out.count > 0 else { return [out.finish()] }
        out.copy(ElementSource(value), 0, to: 0, count: 1)
        repeatFirst(out, pool: ctx.pool)
        return [out.finish()]
    }

    /// Identity: its input, shared.
    public static let identity: CPUKernel = { ctx in [try ctx.input(0)] }

    /// Dropout: at inference the input unchanged and an all-true mask (input-typed ones
    /// before opset 10); before opset 12 always so (`is_test` is ignored, as the reference
    /// implementation does). In training mode (opset 12+), elements are kept where a uniform draw from
    /// NumPy's legacy generator (MT19937 seeded with `seed`) is ≥ ratio, and scaled by 1/(1-ratio).
    public static let dropout: CPUKernel = { ctx in
        let x = try ctx.input(0)
        var training = false, ratio = Double(try ctx.node.float("ratio", default: 0.5))
        if ctx.opset >= 12 {
            ratio = try ctx.optionalInput(1).map { try scalarInput($0, "ratio", ctx) } ?? 0.5
            training = try ctx.optionalInput(2).map { try scalarInput($0, "training_mode", ctx) != 0 } ?? false
        }
        guard ratio >= 0, ratio < 1 else { throw ctx.error("ratio \(ratio) is outside [0, 1)") }
        let wantsMask = ctx.node.outputs.count > 1 && !ctx.node.outputs[1].isEmpty
        if training && ratio > 0 {
            let seed = try ctx.node.int("seed").map { UInt32(truncatingIfNeeded: $0) } ?? UInt32.random(in: .min ... .max)
            var random = MersenneTwister(seed: seed)
            let keep = (0..<x.count).map { _ in random.nextDouble() >= ratio }
            struct Scale: ElementVisitor {
                let x: Tensor, keep: [Bool], scale: Double
                func callAsFunction<T: NumericElement>(_: T.Type) throws -> Tensor {
                    let out = Tensor(zeros: x.dataType, shape: x.shape)
                    x.withUnsafeBufferPointer(as: T.self) { src in
                        out.withUnsafeMutableBufferPointer(as: T.self) { dst in
                            for i in 0..<src.count where keep[i] { dst[i] = T(fromDouble: src[i].asDouble * scale) }
                        }
                    }
                    return out
                }
            }
            let y = try x.dataType.visit(Scale(x: x, keep: keep, scale: 1 / (1 - ratio)))
            return wantsMask ? [y, Tensor(shape: x.shape, scalars: keep)] : [y]
        }
        guard wantsMask else { return [x] }
        let maskType: DataType = ctx.opset >= 10 ? .bool : x.dataType
        let mask = try Tensor(maskType, shape: [], converting: [1])
        return [x, stridedCopy(mask, strides: x.shape.map { _ in 0 }, shape: x.shape, pool: ctx.pool)]
    }

    /// Shape (dims from `start` to `end`) and Size, from the input's shape alone.
    public static let shape: CPUKernel = { ctx in [try ShapeRules.shapeValue(ctx.node, of: try ctx.input(0).shape)] }
    public static let size: CPUKernel = shape

    /// Range: start, start+delta, ... up to (excluding) limit, in the inputs' type.
    public static let range: CPUKernel = { ctx in
        let s = try ctx.input(0), l = try ctx.input(1), d = try ctx.input(2)
        guard s.dataType == l.dataType, s.dataType == d.dataType else {
            throw ctx.error("start, limit and delta types differ: \(s.dataType), \(l.dataType), \(d.dataType)")
        }
        let n: Int, value: (Int) -> Double
        if s.dataType.isInteger {
            guard s.count == 1, l.count == 1, d.count == 1 else { throw ctx.error("start, limit and delta must be scalars") }
            let a = s.ints()[0], b = l.ints()[0], step = d.ints()[0]
            guard step != 0 else { throw ctx.error("delta must not be 0") }
            let (span, overflow) = b.subtractingReportingOverflow(a)
            guard !overflow else { throw ctx.error("range from \(a) to \(b) is too large") }
            let (q, divOverflow) = span.dividedReportingOverflow(by: step)
            guard !divOverflow else { throw ctx.error("range from \(a) to \(b) is too large") }
            n = max(0, q + (span % step != 0 && (span < 0) == (step < 0) ? 1 : 0))
            guard n <= 1 << 31 else { throw ctx.error("range of \(n) elements is too large") }
            value = { Double(a &+ $0 &* step) }
        } else {
            let start = try scalarInput(s, "start", ctx), limit = try scalarInput(l, "limit", ctx)
            let step = try scalarInput(d, "delta", ctx)
            guard step != 0, step.isFinite, start.isFinite, limit.isFinite else {
                throw ctx.error("start \(start), limit \(limit), delta \(step) give no finite range")
            }
            let count = ((limit - start) / step).rounded(.up)
            guard count <= Double(1 << 31) else { throw ctx.error("range of \(count) elements is too large") }
            n = count > 0 ? Int(count) : 0
            value = { start + Double($0) * step }
        }
        // the values are made as float64 first
        try ctx.checkAllocatable("the range", dims: [n], .double)
        return [try Tensor(s.dataType, shape: [n], converting: (0..<n).map(value))]
    }

    /// EyeLike: a 2-D tensor of the input's shape with ones on diagonal `k`, in `dtype`
    /// (default: the input's type): `OpLayouts.eyeLikeValue`.
    public static let eyeLike: CPUKernel = { ctx in
        let x = try ctx.input(0)
        return [try OpLayouts.eyeLikeValue(ctx.node, shape: x.shape, input: x.dataType)]
    }

    /// OneHot: indices (negative count from `depth`) expanded along `axis` into off/on values.
    public static let oneHot: CPUKernel = { ctx in
        let indices = try ctx.input(0), depthT = try ctx.input(1), values = try ctx.input(2)
        guard values.count == 2 else { throw ctx.error("values must hold [off, on], got \(values)") }
        let depthValue = try scalarInput(depthT, "depth", ctx)
        guard depthValue.isFinite, depthValue >= 1, depthValue <= Double(1 << 31) else {
            throw ctx.error("depth \(depthValue) is invalid")
        }
        let depth = Int(depthValue)
        let axis = try normalizeAxis(try ctx.node.int("axis", default: -1), rank: indices.rank + 1, ctx)
        var shape = indices.shape
        shape.insert(depth, at: axis)
        try ctx.checkAllocatable("the output", dims: shape, values.dataType)
        let outer = indices.shape.prefix(axis).reduce(1, *), inner = indices.shape.dropFirst(axis).reduce(1, *)
        let idx = indices.dataType.isInteger ? indices.ints()
            : indices.doubles().map { $0.magnitude < 0x1p62 ? Int($0) : -1 - depth }
        let out = ElementBuffer(values.dataType, shape: shape)
        let src = ElementSource(values)
        ctx.pool.parallelFor(outer, grain: max(1, 16384 / max(depth * inner, 1))) { range in
            for o in range {
                out.fill(src, 0, to: o * depth * inner, count: depth * inner)
                for i in 0..<inner {
                    var v = idx[o * inner + i]
                    if v < 0 { v += depth }
                    if v >= 0 && v < depth { out.copy(src, 1, to: (o * depth + v) * inner + i, count: 1) }
                }
            }
        }
        return [out.finish()]
    }
}

/// MT19937 as NumPy's legacy `RandomState(seed)` runs it, so seeded results match the
/// ONNX reference implementation.
struct MersenneTwister {
    private var state = [UInt32](repeating: 0, count: 624)
    private var index = 624

    init(seed: UInt32) {
        state[0] = seed
        for i in 1..<624 { state[i] = 1812433253 &* (state[i - 1] ^ (state[i - 1] >> 30)) &+ UInt32(i) }
    }

    mutating func next() -> UInt32 {
        if index >= 624 {
            for i in 0..<624 {
                let y = (state[i] & 0x8000_0000) | (state[(i + 1) % 624] & 0x7FFF_FFFF)
                state[i] = state[(i + 397) % 624] ^ (y >> 1) ^ (y & 1 == 0 ? 0 : 0x9908_B0DF)
            }
            index = 0
        }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// A double in [0, 1) with 53 random bits (NumPy's `random_sample`).
    mutating func nextDouble() -> Double {
        let a = Double(next() >> 5), b = Double(next() >> 6)
        return (a * 67108864 + b) / 9007199254740992
    }
}
