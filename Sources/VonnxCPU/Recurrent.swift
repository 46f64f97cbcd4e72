import Glibc
import VonnxIR

/// One RNN activation function with its alpha/beta.
struct RNNActivation: Sendable {
    enum Kind: Sendable { case sigmoid, tanh, relu, affine, leakyRelu, thresholdedRelu, scaledTanh, hardSigmoid, elu, softsign, softplus }
    let kind: Kind, alpha: Float, beta: Float

    /// `name` as the ONNX activations attribute spells it; alpha/beta from the attribute
    /// lists or the function's defaults.
    init(_ name: String, alpha: Float?, beta: Float?, _ ctx: KernelContext) throws {
        switch name.lowercased() {
        case "sigmoid": kind = .sigmoid
        case "tanh": kind = .tanh
        case "relu": kind = .relu
        case "affine": kind = .affine
        case "leakyrelu": kind = .leakyRelu
        case "thresholdedrelu": kind = .thresholdedRelu
        case "scaledtanh": kind = .scaledTanh
        case "hardsigmoid": kind = .hardSigmoid
        case "elu": kind = .elu
        case "softsign": kind = .softsign
        case "softplus": kind = .softplus
        default: throw ctx.error("unknown activation '\(name)'")
        }
        let defaultAlpha: [Kind: Float] = [.affine: 1, .leakyRelu: 0.01, .thresholdedRelu: 1, .scaledTanh: 1, .hardSigmoid: 0.2, .elu: 1]
        let defaultBeta: [Kind: Float] = [.affine: 0, .scaledTanh: 1, .hardSigmoid: 0.5]
        self.alpha = alpha ?? defaultAlpha[kind] ?? 0
        self.beta = beta ?? defaultBeta[kind] ?? 0
    }

    @inline(__always) func callAsFunction(_ x: Float) -> Float {
        switch kind {
        case .sigmoid: 1 / (1 + expf(-x))
        case .tanh: fastTanh(x)
        case .relu: max(x, 0)
        case .affine: alpha * x + beta
        case .leakyRelu: x >= 0 ? x : alpha * x
        case .thresholdedRelu: x > alpha ? x : 0
        case .scaledTanh: alpha * fastTanh(beta * x)
        case .hardSigmoid: max(0, min(1, alpha * x + beta))
        case .elu: x >= 0 ? x : alpha * (expf(x) - 1)
        case .softsign: x / (1 + abs(x))
        case .softplus: log1pf(expf(x))
        }
    }

    /// tanh through one expf (glibc's tanhf is several times slower); absolute error ~1e-7.
    @inline(__always) func fastTanh(_ x: Float) -> Float {
        if abs(x) > 9 { return x > 0 ? 1 : -1 }
        let e = expf(2 * x)
        return (e - 1) / (e + 1)
    }

    static func takesAlpha(_ name: String) -> Bool {
        ["affine", "leakyrelu", "thresholdedrelu", "scaledtanh", "hardsigmoid", "elu"].contains(name.lowercased())
    }
    static func takesBeta(_ name: String) -> Bool { ["affine", "scaledtanh", "hardsigmoid"].contains(name.lowercased()) }
}

/// The shapes and attributes shared by RNN, GRU and LSTM, with inputs converted to Float (computed in float32).
/// The elements as float32: a plain copy when they are float32 already (through Double, the
/// LSTM weights' conversion took 30% of a voice-activity model's CPU samples).
private func floatValues(_ t: Tensor) -> [Float] { t.dataType == .float ? t.scalars(as: Float.self) : t.doubles().map { Float($0) } }

/// `t` itself when it is float32 (the weights are read in place: copying them took a third of
/// a voice-activity model's LSTM time), else its values as float32.
private func floatTensor(_ t: Tensor) -> Tensor { t.dataType == .float ? t : Tensor(shape: t.shape, scalars: floatValues(t)) }

struct RecurrentSetup: Sendable {
    let seq: Int, batch: Int, input: Int, hidden: Int, directions: Int, gates: Int
    let reverseOnly: Bool, layout: Int, clip: Float?
    /// Activations per direction (`perDirection` functions each).
    let activations: [[RNNActivation]]
    /// X as [seq][batch][input] (layout applied), B [dirs][2*gates*hidden] (zeros when omitted).
    let x: [Float], b: [Float]
    /// W [dirs][gates*hidden][input] and R [dirs][gates*hidden][hidden], float32.
    let w: Tensor, r: Tensor
    /// Valid steps per batch entry.
    let lengths: [Int]
    /// Initial hidden (and cell) state as [dirs][batch][hidden].
    let h0: [Float], c0: [Float]
    /// Runs the products (at batch 1 a step's is a matrix-vector product: packing R for a GEMM
    /// took longer than multiplying).
    let pool: ThreadPool

    init(_ ctx: KernelContext, gates: Int, defaults: [String]) throws {
        let X = try ctx.input(0), W = try ctx.input(1), R = try ctx.input(2)
        pool = ctx.pool
        guard X.dataType.isFloatingPoint, W.dataType == X.dataType, R.dataType == X.dataType else {
            throw ctx.error("X, W and R must share one floating-point type")
        }
        layout = try ctx.node.int("layout", default: 0)
        guard layout == 0 || layout == 1 else { throw ctx.error("layout \(layout) must be 0 or 1") }
        guard X.rank == 3, W.rank == 3, R.rank == 3 else {
            throw ctx.error("X, W, R must have rank 3, got \(X.shape), \(W.shape), \(R.shape)")
        }
        seq = layout == 0 ? X.shape[0] : X.shape[1]
        batch = layout == 0 ? X.shape[1] : X.shape[0]
        input = X.shape[2]
        let direction = try ctx.node.string("direction", default: "forward")
        switch direction {
        case "forward": directions = 1; reverseOnly = false
        case "reverse": directions = 1; reverseOnly = true
        case "bidirectional": directions = 2; reverseOnly = false
        default: throw ctx.error("unknown direction '\(direction)'")
        }
        hidden = try ctx.node.int("hidden_size") ?? R.shape[2]
        self.gates = gates
        guard hidden > 0, input > 0, W.shape == [directions, gates * hidden, input], R.shape == [directions, gates * hidden, hidden] else {
            throw ctx.error("W \(W.shape) or R \(R.shape) do not fit \(directions) direction(s), hidden size \(hidden), input size \(input)")
        }
        clip = try ctx.node.float("clip")
        var xs = floatValues(X)
        if layout == 1 {  // [batch, seq, input] -> [seq, batch, input]
            var t = [Float](repeating: 0, count: xs.count)
            for bi in 0..<batch { for s in 0..<seq { for i in 0..<input { t[(s * batch + bi) * input + i] = xs[(bi * seq + s) * input + i] } } }
            xs = t
        }
        x = xs; w = floatTensor(W); r = floatTensor(R)
        if let B = ctx.optionalInput(3) {
            guard B.shape == [directions, 2 * gates * hidden], B.dataType == X.dataType else { throw ctx.error("B has shape \(B.shape), expected \([directions, 2 * gates * hidden])") }
            b = floatValues(B)
        } else { b = [Float](repeating: 0, count: directions * 2 * gates * hidden) }
        if let L = ctx.optionalInput(4) {
            guard L.shape == [batch], L.dataType.isInteger else { throw ctx.error("sequence_lens has shape \(L.shape), expected [\(batch)]") }
            let lens = L.ints(), steps = seq
            guard lens.allSatisfy({ $0 >= 0 && $0 <= steps }) else { throw ctx.error("sequence_lens \(lens) exceed the sequence length \(steps)") }
            lengths = lens
        } else { lengths = [Int](repeating: seq, count: batch) }
        let (directions, batch, hidden, layout) = (directions, batch, hidden, layout)
        func state(_ i: Int, _ name: String) throws -> [Float] {
            guard let t = ctx.optionalInput(i) else { return [Float](repeating: 0, count: directions * batch * hidden) }
            let expected = layout == 0 ? [directions, batch, hidden] : [batch, directions, hidden]
            guard t.shape == expected, t.dataType.isFloatingPoint else { throw ctx.error("\(name) has shape \(t.shape), expected \(expected)") }
            let v = floatValues(t)
            if layout == 0 { return v }
            var out = v
            for bi in 0..<batch { for d in 0..<directions { for h in 0..<hidden { out[(d * batch + bi) * hidden + h] = v[(bi * directions + d) * hidden + h] } } }
            return out
        }
        h0 = try state(5, "initial_h")
        c0 = try state(6, "initial_c")
        let names = try ctx.node.strings("activations") ?? []
        let perDirection = defaults.count
        let all = names.isEmpty ? [String]((0..<directions).flatMap { _ in defaults }) : names
        guard all.count >= perDirection * directions else {
            throw ctx.error("activations \(names) must list \(perDirection) per direction")
        }
        let alphas = try ctx.node.floats("activation_alpha") ?? [], betas = try ctx.node.floats("activation_beta") ?? []
        var ai = 0, bi = 0
        var acts: [RNNActivation] = []
        for name in all.prefix(perDirection * directions) {
            var alpha: Float?, beta: Float?
            if RNNActivation.takesAlpha(name), ai < alphas.count { alpha = Float(alphas[ai]); ai += 1 }
            if RNNActivation.takesBeta(name), bi < betas.count { beta = Float(betas[bi]); bi += 1 }
            acts.append(try RNNActivation(name, alpha: alpha, beta: beta, ctx))
        }
        activations = (0..<directions).map { Array(acts[($0 * perDirection)..<(($0 + 1) * perDirection)]) }
    }

    /// Clips a gate pre-activation when `clip` is set.
    @inline(__always) func clipped(_ v: Float) -> Float {
        guard let c = clip else { return v }
        return min(max(v, -c), c)
    }

    /// Whether direction `d` runs backwards in time.
    func isReverse(_ d: Int) -> Bool { reverseOnly || d == 1 }

    /// `body(d, pool)` for each direction d, in order: with two directions and more than one
    /// thread both at once, each on one thread, since they are independent and a step's product
    /// at small batch is too small to split well (a bidirectional LSTM then waits for half the
    /// steps); else one after the other on `pool`.
    func eachDirection<R>(_ body: @Sendable (Int, ThreadPool) -> R) -> [R] {
        guard directions > 1, pool.threads > 1 else { return (0..<directions).map { body($0, pool) } }
        let results = UnsafeMutableBufferPointer<R?>.allocate(capacity: directions)
        results.initialize(repeating: nil)
        defer { _ = results.deinitialize(); results.deallocate() }
        nonisolated(unsafe) let out = results
        let serial = ThreadPool(threads: 1)
        pool.parallelFor(directions, chunksPerThread: 1) { r in for d in r { out[d] = body(d, serial) } }
        return results.map { $0! }
    }

    /// X·W_dᵀ for every step and batch entry: [seq*batch][gates*hidden].
    func inputProjection(_ d: Int, pool: ThreadPool) -> [Float] {
        let n = gates * hidden
        var out = [Float](repeating: 0, count: seq * batch * n)
        guard seq * batch > 0 else { return out }
        x.withUnsafeBufferPointer { px in
            parallelGemm(pool, transA: false, transB: true, m: seq * batch, n: n, k: input, alpha: 1, a: px.baseAddress!,
                         lda: input, b: elements(w, Float.self) + d * n * input, ldb: input, beta: 0, c: &out, ldc: n)
        }
        return out
    }

    /// rows (m × hidden) · R_d[rowOffset ..< rowOffset + n]ᵀ: [m][n].
    func recurrent(_ h: [Float], rows m: Int, d: Int, gateOffset: Int, count n: Int, pool: ThreadPool) -> [Float] {
        var out = [Float](repeating: 0, count: m * n)
        parallelGemm(pool, transA: false, transB: true, m: m, n: n, k: hidden, alpha: 1, a: h, lda: hidden,
                     b: elements(r, Float.self) + (d * gates * hidden + gateOffset) * hidden, ldb: hidden, beta: 0, c: &out, ldc: n)
        return out
    }

    /// Packs the per-direction results into Y and the final states as the layout asks.
    /// `ys` is [dirs][seq][batch][hidden], `finals` [dirs][batch][hidden].
    func outputs(_ ys: [[Float]], _ finals: [[[Float]]], type: DataType) throws -> [Tensor] {
        let yShape = layout == 0 ? [seq, directions, batch, hidden] : [batch, seq, directions, hidden]
        var y = [Float](repeating: 0, count: seq * directions * batch * hidden)
        for d in 0..<directions { for s in 0..<seq { for bi in 0..<batch {
            let src = (s * batch + bi) * hidden
            let dst = layout == 0 ? ((s * directions + d) * batch + bi) * hidden : ((bi * seq + s) * directions + d) * hidden
            for h in 0..<hidden { y[dst + h] = ys[d][src + h] }
        } } }
        func pack(_ v: [Float], _ shape: [Int]) throws -> Tensor {
            type == .float ? Tensor(shape: shape, scalars: v) : try Tensor(type, shape: shape, converting: v.map(Double.init))
        }
        var result = [try pack(y, yShape)]
        let stateShape = layout == 0 ? [directions, batch, hidden] : [batch, directions, hidden]
        for f in finals {
            var v = [Float](repeating: 0, count: directions * batch * hidden)
            for d in 0..<directions { for bi in 0..<batch {
                let dst = layout == 0 ? (d * batch + bi) * hidden : (bi * directions + d) * hidden
                for h in 0..<hidden { v[dst + h] = f[d][bi * hidden + h] }
            } }
            result.append(try pack(v, stateShape))
        }
        return result
    }
}

/// Time index of step `s` for a batch entry of length `len`: entries run backwards from
/// their own last valid step in the reverse direction.
@inline(__always) func recurrentTime(_ s: Int, len: Int, reverse: Bool) -> Int { reverse ? len - 1 - s : s }

extension CPUKernels {
    /// RNN: H = f(X·Wᵀ + H·Rᵀ + Wb + Rb).
    public static let rnn: CPUKernel = { ctx in
        let s = try RecurrentSetup(ctx, gates: 1, defaults: ["Tanh"])
        let H = s.hidden
        let results = s.eachDirection { d, pool in
            let xw = s.inputProjection(d, pool: pool)
            let f = s.activations[d][0]
            var h = Array(s.h0[(d * s.batch * H)..<((d + 1) * s.batch * H)])
            var y = [Float](repeating: 0, count: s.seq * s.batch * H)
            let bias = (0..<H).map { s.b[d * 2 * H + $0] + s.b[d * 2 * H + H + $0] }
            for step in 0..<s.seq {
                let hr = s.recurrent(h, rows: s.batch, d: d, gateOffset: 0, count: H, pool: pool)
                for bi in 0..<s.batch where step < s.lengths[bi] {
                    let t = recurrentTime(step, len: s.lengths[bi], reverse: s.isReverse(d))
                    for j in 0..<H {
                        let v = f(s.clipped(xw[(t * s.batch + bi) * H + j] + hr[bi * H + j] + bias[j]))
                        h[bi * H + j] = v
                        y[(t * s.batch + bi) * H + j] = v
                    }
                }
            }
            return (y: y, h: h)
        }
        return try s.outputs(results.map(\.y), [results.map(\.h)], type: try ctx.input(0).dataType)
    }

    /// GRU with gates z, r, h; linear_before_reset applies r after the recurrent matmul.
    public static let gru: CPUKernel = { ctx in
        let s = try RecurrentSetup(ctx, gates: 3, defaults: ["Sigmoid", "Tanh"])
        let H = s.hidden, G = 3 * H
        let linearBeforeReset = try ctx.node.int("linear_before_reset", default: 0) != 0
        let results = s.eachDirection { d, pool in
            let xw = s.inputProjection(d, pool: pool)
            let f = s.activations[d][0], g = s.activations[d][1]
            var h = Array(s.h0[(d * s.batch * H)..<((d + 1) * s.batch * H)])
            var y = [Float](repeating: 0, count: s.seq * s.batch * H)
            let wb = Array(s.b[(d * 2 * G)..<(d * 2 * G + G)]), rb = Array(s.b[(d * 2 * G + G)..<((d + 1) * 2 * G)])
            for step in 0..<s.seq {
                let hr = s.recurrent(h, rows: s.batch, d: d, gateOffset: 0, count: G, pool: pool)
                var z = [Float](repeating: 0, count: s.batch * H), r = z
                var rh = h
                for bi in 0..<s.batch where step < s.lengths[bi] {
                    let t = recurrentTime(step, len: s.lengths[bi], reverse: s.isReverse(d))
                    let xo = (t * s.batch + bi) * G
                    for j in 0..<H {
                        z[bi * H + j] = f(s.clipped(xw[xo + j] + hr[bi * G + j] + wb[j] + rb[j]))
                        r[bi * H + j] = f(s.clipped(xw[xo + H + j] + hr[bi * G + H + j] + wb[H + j] + rb[H + j]))
                        rh[bi * H + j] = r[bi * H + j] * h[bi * H + j]
                    }
                }
                let rhr = linearBeforeReset ? [] : s.recurrent(rh, rows: s.batch, d: d, gateOffset: 2 * H, count: H, pool: pool)
                for bi in 0..<s.batch where step < s.lengths[bi] {
                    let t = recurrentTime(step, len: s.lengths[bi], reverse: s.isReverse(d))
                    let xo = (t * s.batch + bi) * G
                    for j in 0..<H {
                        let k = bi * H + j
                        let rec = linearBeforeReset ? r[k] * (hr[bi * G + 2 * H + j] + rb[2 * H + j]) : rhr[k] + rb[2 * H + j]
                        let candidate = g(s.clipped(xw[xo + 2 * H + j] + rec + wb[2 * H + j]))
                        let v = (1 - z[k]) * candidate + z[k] * h[k]
                        h[k] = v
                        y[(t * s.batch + bi) * H + j] = v
                    }
                }
            }
            return (y: y, h: h)
        }
        return try s.outputs(results.map(\.y), [results.map(\.h)], type: try ctx.input(0).dataType)
    }

    /// LSTM with gates i, o, f, c, optional peepholes P (i, o, f) and input_forget coupling.
    public static let lstm: CPUKernel = { ctx in
        let s = try RecurrentSetup(ctx, gates: 4, defaults: ["Sigmoid", "Tanh", "Tanh"])
        let H = s.hidden, G = 4 * H
        let coupled = try ctx.node.int("input_forget", default: 0) != 0
        var peep = [Float](repeating: 0, count: s.directions * 3 * H)
        if let P = ctx.optionalInput(7) {
            guard P.shape == [s.directions, 3 * H], P.dataType.isFloatingPoint else { throw ctx.error("P has shape \(P.shape), expected \([s.directions, 3 * H])") }
            peep = floatValues(P)
        }
        let results = s.eachDirection { [peep] d, pool in
            let xw = s.inputProjection(d, pool: pool)
            let f = s.activations[d][0], g = s.activations[d][1], hAct = s.activations[d][2]
            var h = Array(s.h0[(d * s.batch * H)..<((d + 1) * s.batch * H)])
            var c = Array(s.c0[(d * s.batch * H)..<((d + 1) * s.batch * H)])
            var y = [Float](repeating: 0, count: s.seq * s.batch * H)
            let bias = (0..<G).map { s.b[d * 2 * G + $0] + s.b[d * 2 * G + G + $0] }
            let pi = d * 3 * H, po = pi + H, pf = pi + 2 * H
            for step in 0..<s.seq {
                let hr = s.recurrent(h, rows: s.batch, d: d, gateOffset: 0, count: G, pool: pool)
                for bi in 0..<s.batch where step < s.lengths[bi] {
                    let t = recurrentTime(step, len: s.lengths[bi], reverse: s.isReverse(d))
                    let xo = (t * s.batch + bi) * G, ho = bi * G
                    for j in 0..<H {
                        let k = bi * H + j
                        let pre0 = xw[xo + j] + hr[ho + j] + bias[j]
                        let pre1 = xw[xo + H + j] + hr[ho + H + j] + bias[H + j]
                        let pre2 = xw[xo + 2 * H + j] + hr[ho + 2 * H + j] + bias[2 * H + j]
                        let pre3 = xw[xo + 3 * H + j] + hr[ho + 3 * H + j] + bias[3 * H + j]
                        let i = f(s.clipped(pre0 + peep[pi + j] * c[k]))
                        let fg = coupled ? 1 - i : f(s.clipped(pre2 + peep[pf + j] * c[k]))
                        let cand = g(s.clipped(pre3))
                        let cNew = fg * c[k] + i * cand
                        let o = f(s.clipped(pre1 + peep[po + j] * cNew))
                        c[k] = cNew
                        h[k] = o * hAct(cNew)
                        y[(t * s.batch + bi) * H + j] = h[k]
                    }
                }
            }
            return (y: y, h: h, c: c)
        }
        return try s.outputs(results.map(\.y), [results.map(\.h), results.map(\.c)], type: try ctx.input(0).dataType)
    }
}
