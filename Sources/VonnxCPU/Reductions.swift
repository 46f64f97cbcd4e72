import Glibc
import VonnxIR

/// The Reduce* ops: which function folds the reduced elements of each output.
enum ReduceOp: Sendable { case sum, mean, max, min, prod, l1, l2, logSum, logSumExp, sumSquare }

/// How one reduction walks its input: the output shape, and the kept and reduced dims
/// (adjacent dims of one kind collapsed, size-1 dims dropped) as (size, input stride).
struct ReducePlan: Sendable {
    let outShape: [Int]
    let kept: [(size: Int, stride: Int)]
    let reduced: [(size: Int, stride: Int)]
    /// Elements folded into each output (0 when a reduced dim is empty).
    let reduceCount: Int

    init(shape: [Int], axes: Set<Int>, keepdims: Bool) {
        let strides = contiguousStrides(shape)
        var outShape: [Int] = []
        var kept: [(size: Int, stride: Int)] = [], reduced: [(size: Int, stride: Int)] = []
        var lastReduced: Bool?
        for (i, d) in shape.enumerated() {
            let isReduced = axes.contains(i)
            if isReduced { if keepdims { outShape.append(1) } } else { outShape.append(d) }
            if d == 1 { continue }
            let entry = (size: d, stride: strides[i])
            if isReduced {
                if lastReduced == true, let p = reduced.last, p.stride == d * strides[i] {
                    reduced[reduced.count - 1] = (p.size * d, strides[i])
                } else { reduced.append(entry) }
            } else {
                if lastReduced == false, let p = kept.last, p.stride == d * strides[i] {
                    kept[kept.count - 1] = (p.size * d, strides[i])
                } else { kept.append(entry) }
            }
            lastReduced = isReduced
        }
        self.outShape = outShape
        self.kept = kept
        self.reduced = reduced
        reduceCount = reduced.reduce(1) { $0 * $1.size }
    }
}

/// Folds the elements of `x` per output: `step` accumulates from `initial`, `finish` turns the
/// accumulator and the element count into the output element.
func reduceElements<T: TensorElement, A, R: TensorElement>(
    _ x: Tensor, _ plan: ReducePlan, _ ctx: KernelContext, initial: A,
    _ step: @Sendable (inout A, T) -> Void, _ finish: @Sendable (A, Int) -> R) -> Tensor {
    let out = Tensor(zeros: R.dataType, shape: plan.outShape)
    nonisolated(unsafe) let px = UnsafePointer(x.storage.pointer.assumingMemoryBound(to: T.self))
    nonisolated(unsafe) let po = out.storage.pointer.assumingMemoryBound(to: R.self)
    nonisolated(unsafe) let initialValue = initial
    let kept = plan.kept, red = plan.reduced, count = plan.reduceCount
    ctx.pool.parallelFor(out.count, grain: max(1, 32768 / max(count, 1))) { range in
        var idx = [Int](repeating: 0, count: max(red.count - 1, 0))
        for o in range {
            var rem = o, base = 0
            for k in stride(from: kept.count - 1, through: 0, by: -1) {
                base += (rem % kept[k].size) * kept[k].stride
                rem /= kept[k].size
            }
            var acc = initialValue
            if count > 0 {
                if let inner = red.last {
                    for i in idx.indices { idx[i] = 0 }
                    var off = base
                    while true {
                        var p = off
                        for _ in 0..<inner.size { step(&acc, px[p]); p += inner.stride }
                        var a = red.count - 2
                        while a >= 0 {
                            idx[a] += 1; off += red[a].stride
                            if idx[a] < red[a].size { break }
                            off -= red[a].stride * red[a].size; idx[a] = 0; a -= 1
                        }
                        if a < 0 { break }
                    }
                } else {
                    step(&acc, px[base])
                }
            }
            po[o] = finish(acc, count)
        }
    }
    return out
}

/// Computes one Reduce* op for an arithmetic element type: floats accumulate in Double,
/// integers in their own type (wrapping) except where a float result is implied.
struct ReduceApply: ArithmeticVisitor {
    let op: ReduceOp, x: Tensor, plan: ReducePlan, ctx: KernelContext

    func callAsFunction<T: ArithmeticElement>(_: T.Type) throws -> Tensor {
        // concrete calls, so the loops are specialized rather than run through witness tables
        switch T.dataType {
        case .float: return reduce(Float.self)
        case .double: return reduce(Double.self)
        case .int64: return reduce(Int64.self)
        case .int32: return reduce(Int32.self)
        default: return reduce(T.self)
        }
    }

    func reduce<T: ArithmeticElement>(_: T.Type) -> Tensor {
        let float = T.dataType.isFloatingPoint
        switch op {
        case .max:
            return reduceElements(x, plan, ctx, initial: T(fromDouble: -.infinity),
                                  { (a: inout T, v: T) in if v > a || v != v { a = v } }, { a, _ in a })
        case .min:
            return reduceElements(x, plan, ctx, initial: T(fromDouble: .infinity),
                                  { (a: inout T, v: T) in if v < a || v != v { a = v } }, { a, _ in a })
        case .sum where !float:
            return reduceElements(x, plan, ctx, initial: T.zero, { (a: inout T, v: T) in a = T.add(a, v) }, { a, _ in a })
        case .prod where !float:
            return reduceElements(x, plan, ctx, initial: T(fromDouble: 1), { (a: inout T, v: T) in a = T.mul(a, v) }, { a, _ in a })
        case .sumSquare where !float:
            return reduceElements(x, plan, ctx, initial: T.zero, { (a: inout T, v: T) in a = T.add(a, T.mul(v, v)) }, { a, _ in a })
        case .l1 where !float:
            return reduceElements(x, plan, ctx, initial: T.zero,
                                  { (a: inout T, v: T) in a = T.add(a, v < T.zero ? T.sub(T.zero, v) : v) }, { a, _ in a })
        case .sum, .mean, .logSum:
            let op = op
            return reduceElements(x, plan, ctx, initial: 0.0, { (a: inout Double, v: T) in a += v.asDouble }) { a, n in
                switch op {
                case .mean: T(fromDouble: a / Double(n))
                case .logSum: T(fromDouble: log(a))
                default: T(fromDouble: a)
                }
            }
        case .prod:
            return reduceElements(x, plan, ctx, initial: 1.0, { (a: inout Double, v: T) in a *= v.asDouble }) { a, _ in T(fromDouble: a) }
        case .sumSquare, .l2:
            let root = op == .l2
            return reduceElements(x, plan, ctx, initial: 0.0, { (a: inout Double, v: T) in let d = v.asDouble; a += d * d }) { a, _ in
                T(fromDouble: root ? a.squareRoot() : a)
            }
        case .l1:
            return reduceElements(x, plan, ctx, initial: 0.0, { (a: inout Double, v: T) in a += abs(v.asDouble) }) { a, _ in T(fromDouble: a) }
        case .logSumExp:
            // running maximum m and sum s of exp(v - m)
            return reduceElements(x, plan, ctx, initial: (m: -Double.infinity, s: 0.0), { (a: inout (m: Double, s: Double), v: T) in
                let d = v.asDouble
                if a.m == -.infinity { a = (d, a.s + 1) }
                else if d > a.m { a = (d, a.s * exp(a.m - d) + 1) }
                else { a.s += exp(d - a.m) }
            }) { a, n in T(fromDouble: n == 0 ? -.infinity : log(a.s) + a.m) }
        }
    }
}

/// float32 sum, mean, max, min and sum of squares over one reduced run, either contiguous
/// (the last axes: SIMD over the run) or strided with a contiguous kept inner block (a middle
/// axis: rows added into the output row). Nil for other layouts and ops.
func reduceFloatRows(_ x: Tensor, _ plan: ReducePlan, _ op: ReduceOp, _ ctx: KernelContext) -> Tensor? {
    guard [.sum, .mean, .max, .min, .sumSquare].contains(op), plan.reduced.count == 1, plan.reduceCount > 0 else { return nil }
    let n = plan.reduced[0].size, rstride = plan.reduced[0].stride
    let out = Tensor(zeros: .float, shape: plan.outShape)
    nonisolated(unsafe) let px = UnsafePointer(x.storage.pointer.assumingMemoryBound(to: Float.self))
    nonisolated(unsafe) let po = out.storage.pointer.assumingMemoryBound(to: Float.self)
    let scale: Float = op == .mean ? 1 / Float(n) : 1
    if rstride == 1 {
        let kept = plan.kept
        ctx.pool.parallelFor(out.count, grain: max(1, 32768 / n)) { range in
            for o in range {
                var rem = o, base = 0
                for k in stride(from: kept.count - 1, through: 0, by: -1) {
                    base += (rem % kept[k].size) * kept[k].stride; rem /= kept[k].size
                }
                let p = px + base
                var i = 0
                switch op {
                case .max, .min:
                    let isMax = op == .max
                    var acc = SIMD8<Float>(repeating: isMax ? -.infinity : .infinity)
                    var nan = false
                    while i + 8 <= n {
                        let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
                        nan = nan || any(v .!= v)
                        acc = isMax ? pointwiseMax(acc, v) : pointwiseMin(acc, v)
                        i += 8
                    }
                    var r = isMax ? acc.max() : acc.min()
                    while i < n { let v = p[i]; if v != v { nan = true }; r = isMax ? max(r, v) : min(r, v); i += 1 }
                    po[o] = nan ? .nan : r
                default:
                    var acc = SIMD8<Float>()
                    let square = op == .sumSquare
                    while i + 8 <= n {
                        let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
                        acc += square ? v * v : v
                        i += 8
                    }
                    var r = acc.sum()
                    while i < n { r += square ? p[i] * p[i] : p[i]; i += 1 }
                    po[o] = r * scale
                }
            }
        }
        return out
    }
    // [outer, n, inner] with the inner block contiguous and kept
    guard let innerDim = plan.kept.last, innerDim.stride == 1, rstride == innerDim.size,
          plan.kept.count == 1 || (plan.kept.count == 2 && plan.kept[0].stride == n * innerDim.size) else { return nil }
    let inner = innerDim.size, outer = plan.kept.count == 2 ? plan.kept[0].size : 1
    ctx.pool.parallelFor(outer, grain: max(1, 32768 / (n * inner))) { range in
        for o in range {
            let row = po + o * inner
            let src = px + o * n * inner
            switch op {
            case .max, .min:
                for e in 0..<inner { row[e] = src[e] }
                for r in 1..<max(n, 1) {
                    let p = src + r * inner
                    if op == .max { for e in 0..<inner where p[e] > row[e] || p[e] != p[e] { row[e] = p[e] } }
                    else { for e in 0..<inner where p[e] < row[e] || p[e] != p[e] { row[e] = p[e] } }
                }
            case .sumSquare:
                for r in 0..<n { let p = src + r * inner; for e in 0..<inner { row[e] += p[e] * p[e] } }
            default:
                for r in 0..<n { let p = src + r * inner; for e in 0..<inner { row[e] += p[e] } }
                if scale != 1 { for e in 0..<inner { row[e] *= scale } }
            }
        }
    }
    return out
}

extension CPUKernels {
    /// The axes a Reduce* node reduces (sorted, normalized), or nil when it is a no-op (empty
    /// axes with noop_with_empty_axes). Axes come from input 1 when present (ReduceSum from
    /// opset 13, the others from 18), else from the `axes` attribute; none means all axes.
    static func reduceAxes(_ ctx: KernelContext, rank: Int) throws -> Set<Int>? {
        var axes: [Int]
        if let t = ctx.optionalInput(1) {
            guard t.dataType == .int64 || t.dataType == .int32 else { throw ctx.error("axes must be int64, got \(t.dataType)") }
            axes = t.ints()
        } else {
            axes = try ctx.node.ints("axes") ?? []
        }
        if axes.isEmpty {
            if try ctx.node.int("noop_with_empty_axes", default: 0) != 0 { return nil }
            return Set(0..<rank)
        }
        return Set(try axes.map { a in
            let n = a < 0 ? a + rank : a
            guard n >= 0, n < rank else { throw ctx.error("axis \(a) in axes is out of range for rank \(rank)") }
            return n
        })
    }

    static func reduceKernel(_ op: ReduceOp) -> CPUKernel {
        { ctx in
            let x = try ctx.input(0)
            guard let axes = try reduceAxes(ctx, rank: x.rank) else { return [x] }
            let plan = ReducePlan(shape: x.shape, axes: axes, keepdims: try ctx.node.int("keepdims", default: 1) != 0)
            if x.dataType == .bool {
                guard op == .max || op == .min else { throw ctx.error("does not reduce bool tensors") }
                let isMax = op == .max
                return [reduceElements(x, plan, ctx, initial: !isMax,
                                       { (a: inout Bool, v: Bool) in a = isMax ? (a || v) : (a && v) }, { a, _ in a })]
            }
            if x.dataType == .float, let fast = reduceFloatRows(x, plan, op, ctx) { return [fast] }
            if x.dataType == .bfloat16 {  // in float32, rounded back once
                return [floatToBfloat16(try DataType.float.visitArithmetic(ReduceApply(op: op, x: bfloat16ToFloat(x, ctx), plan: plan, ctx: ctx)), ctx)]
            }
            return [try x.dataType.visitArithmetic(ReduceApply(op: op, x: x, plan: plan, ctx: ctx))]
        }
    }

    public static let reduceSum = reduceKernel(.sum)
    public static let reduceMean = reduceKernel(.mean)
    public static let reduceMax = reduceKernel(.max)
    public static let reduceMin = reduceKernel(.min)
    public static let reduceProd = reduceKernel(.prod)
    public static let reduceL1 = reduceKernel(.l1)
    public static let reduceL2 = reduceKernel(.l2)
    public static let reduceLogSum = reduceKernel(.logSum)
    public static let reduceLogSumExp = reduceKernel(.logSumExp)
    public static let reduceSumSquare = reduceKernel(.sumSquare)
}
