import VonnxIR

/// GridSample (opset 16/20/22): samples X [N, C, D1..Dn] at the normalized grid positions
/// [N, O1..On, n] with nearest/linear/cubic interpolation and zeros/border/reflection padding,
/// following the ONNX reference implementation.
enum GridSampleKernel {
    /// `x` reflected into [lo, hi]; lo when the range is empty (one pixel with align_corners, as onnxruntime).
    static func reflect(_ x: Double, _ lo: Double, _ hi: Double) -> Double {
        let range = hi - lo
        guard range > 0 else { return lo }
        if x < lo {
            let dx = lo - x, n = Int(dx / range), r = dx - Double(n) * range
            return n % 2 == 0 ? lo + r : hi - r
        }
        if x > hi {
            let dx = x - hi, n = Int(dx / range), r = dx - Double(n) * range
            return n % 2 == 0 ? hi - r : lo + r
        }
        return x
    }

    static func cubic(_ t: Double) -> [Double] {
        let a = -0.75, x = abs(t)
        return [((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a,
                ((a + 2) * x - (a + 3)) * x * x + 1,
                ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1,
                ((a * (2 - x) - 5 * a) * (2 - x) + 8 * a) * (2 - x) - 4 * a]
    }

    static func run(_ ctx: KernelContext) throws -> [Tensor] {
        let x = try ctx.input(0), grid = try ctx.input(1)
        let d = x.rank - 2
        guard d >= 1, grid.rank == x.rank, grid.shape[0] == x.shape[0], grid.shape[grid.rank - 1] == d else {
            throw ctx.error("X \(x.shape) and grid \(grid.shape) must be [N, C, D1..Dn] and [N, O1..On, n]")
        }
        var mode = try ctx.node.string("mode", default: "linear")
        if mode == "bilinear" { mode = "linear" } else if mode == "bicubic" { mode = "cubic" }
        let padding = try ctx.node.string("padding_mode", default: "zeros")
        let align = try ctx.node.int("align_corners", default: 0) != 0
        guard ["nearest", "linear", "cubic"].contains(mode), ["zeros", "border", "reflection"].contains(padding) else {
            throw ctx.error("mode '\(mode)' / padding_mode '\(padding)' is not supported")
        }
        let (n, c) = (x.shape[0], x.shape[1]), dims = Array(x.shape[2...]), outDims = Array(grid.shape[1..<(grid.rank - 1)])
        try ctx.checkAllocatable("the output (in float64)", dims: [n, c] + outDims, .double)
        guard let inSize = checkedElementCount(dims, limit: .max) else { throw ctx.error("X \(x.shape) has too many elements a channel") }
        let outSize = outDims.reduce(1, *)
        guard dims.allSatisfy({ $0 > 0 }) || n * c * outSize == 0 else { throw ctx.error("cannot sample an empty input \(x.shape)") }
        let xv = x.doubles(), gv = grid.doubles()
        let inStrides = contiguousStrides(dims)
        var y = [Double](repeating: 0, count: n * c * outSize)
        let lo = dims.map { _ in align ? 0.0 : -0.5 }, hi = dims.map { align ? Double($0 - 1) : Double($0) - 0.5 }
        /// An index along dim `i` after padding, or nil when it reads zero.
        func fetchIndex(_ k: Int, _ i: Int) -> Int? {
            switch padding {
            case "zeros": return k >= 0 && k < dims[i] ? k : nil
            case "border": return min(max(k, 0), dims[i] - 1)
            default: return min(max(Int(reflect(Double(k), lo[i], hi[i])), 0), dims[i] - 1)
            }
        }
        for b in 0..<n {
            for o in 0..<outSize {
                let g = (b * outSize + o) * d
                // taps per dim: (index or nil, weight)
                var taps: [[(Int?, Double)]] = []
                for i in 0..<d {
                    let nv = gv[g + (d - 1 - i)], len = Double(dims[i])
                    var v = Double(Float(align ? (nv + 1) / 2 * (len - 1) : ((nv + 1) * len - 1) / 2))
                    // NaN or huge grid values read as far outside, never trapping an Int conversion
                    v = v.isNaN ? -1e9 : min(max(v, -1e9), 1e9)
                    if mode == "nearest" { v = v.rounded(.toNearestOrEven) }
                    if v < lo[i] || v > hi[i] {
                        if padding == "border" { v = min(max(v, 0), len - 1) } else if padding == "reflection" { v = reflect(v, lo[i], hi[i]) }
                    }
                    switch mode {
                    case "nearest": taps.append([(fetchIndex(Int(v), i), 1)])
                    case "linear":
                        let f = v.rounded(.down), t = v - f, k = Int(f)
                        taps.append([(fetchIndex(k, i), 1 - t), (fetchIndex(k + 1, i), t)])
                    default:
                        let f = v.rounded(.down), k = Int(f), w = cubic(v - f)
                        taps.append((0..<4).map { (fetchIndex(k - 1 + $0, i), w[$0]) })
                    }
                }
                // the product of per-dim taps
                var combos: [(Int, Double)] = [(0, 1)]
                for i in 0..<d {
                    var next: [(Int, Double)] = []
                    for (at, w) in combos {
                        for (k, tw) in taps[i] { if let k { next.append((at + k * inStrides[i], w * tw)) } }
                    }
                    combos = next
                }
                for ch in 0..<c {
                    let base = (b * c + ch) * inSize
                    var s = 0.0
                    for (at, w) in combos { s += w * xv[base + at] }
                    y[(b * c + ch) * outSize + o] = s
                }
            }
        }
        struct Store: ElementVisitor {
            let y: [Double], shape: [Int]
            func callAsFunction<T: NumericElement>(_: T.Type) throws -> Tensor {
                Tensor(shape: shape, scalars: y.map { T(fromDouble: $0) })
            }
        }
        return [try x.dataType.visit(Store(y: y, shape: [n, c] + outDims))]
    }
}

extension CPUKernels {
    public static let gridSample: CPUKernel = { ctx in try GridSampleKernel.run(ctx) }
}
