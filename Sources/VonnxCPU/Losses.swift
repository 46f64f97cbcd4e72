import Glibc
import VonnxIR

extension CPUKernels {
    /// The NLL loss of log-probabilities `logp` ([N, C, D] flattened, as Double) for `target`
    /// ([N, D]): per element -logp[n, t, d] · weight[t], 0 where t is ignore_index; reduced by
    /// mean (divided by the summed weights of the counted elements), sum, or none.
    static func nllLoss(_ ctx: KernelContext, logp: [Double], shape: [Int], type: DataType) throws -> Tensor {
        let target = try ctx.input(1)
        guard shape.count >= 2, target.dataType == .int32 || target.dataType == .int64,
              target.shape == [shape[0]] + shape[2...] else {
            throw ctx.error("input \(shape) and target \(target.shape) must be [N, C, d...] and [N, d...]")
        }
        let (n, c) = (shape[0], shape[1])
        let d = shape[2...].reduce(1, *)
        let weight = try ctx.optionalInput(2).map { w -> [Double] in
            guard w.shape == [c], w.dataType.isFloatingPoint else { throw ctx.error("weight has shape \(w.shape), expected [\(c)]") }
            return w.doubles()
        }
        let ignore = try ctx.node.int("ignore_index")
        let reduction = try ctx.node.string("reduction", default: "mean")
        let t = target.ints()
        var loss = [Double](repeating: 0, count: n * d)
        var weightSum = 0.0
        for i in 0..<n {
            for j in 0..<d {
                let k = t[i * d + j]
                if k == ignore { continue }
                guard k >= 0, k < c else { throw ctx.error("target \(k) is out of range for \(c) classes") }
                let w = weight?[k] ?? 1
                loss[i * d + j] = -logp[(i * c + k) * d + j] * w
                weightSum += w
            }
        }
        switch reduction {
        case "none": return try Tensor(type, shape: target.shape, converting: loss)
        case "sum": return try Tensor(type, shape: [], converting: [loss.reduce(0, +)])
        case "mean": return try Tensor(type, shape: [], converting: [loss.reduce(0, +) / weightSum])
        default: throw ctx.error("unknown reduction '\(reduction)'")
        }
    }

    public static let negativeLogLikelihoodLoss: CPUKernel = { ctx in
        let x = try ctx.input(0)
        guard x.dataType.isFloatingPoint else { throw ctx.error("input must be floating point, got \(x.dataType)") }
        return [try nllLoss(ctx, logp: x.doubles(), shape: x.shape, type: x.dataType)]
    }

    /// SoftmaxCrossEntropyLoss: log-softmax over axis 1, then the NLL loss; the optional second
    /// output is the log-probabilities.
    public static let softmaxCrossEntropyLoss: CPUKernel = { ctx in
        let x = try ctx.input(0)
        guard x.dataType.isFloatingPoint, x.rank >= 2 else { throw ctx.error("input must be floating point [N, C, d...], got \(x.dataType)\(x.shape)") }
        let l = AxisLayout(x.shape, axis: 1)
        var logp = x.doubles()
        for o in 0..<l.outer {
            for i in 0..<l.inner {
                let base = o * l.n * l.inner + i
                var m = -Double.infinity
                for k in 0..<l.n { m = max(m, logp[base + k * l.inner]) }
                var s = 0.0
                for k in 0..<l.n { s += exp(logp[base + k * l.inner] - m) }
                let lse = m + log(s)
                for k in 0..<l.n { logp[base + k * l.inner] -= lse }
            }
        }
        return [try nllLoss(ctx, logp: logp, shape: x.shape, type: x.dataType),
                try Tensor(x.dataType, shape: x.shape, converting: logp)]
    }
}
