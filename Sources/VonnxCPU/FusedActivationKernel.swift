import CGemm
import VonnxIR

extension FusedActivation {
    /// CGemm's encoding of `self` (`vx_activation`, kinds in FusedActivation's order).
    var kernel: vx_activation {
        func k(_ kind: Int, _ a: Float = 0, _ b: Float = 0) -> vx_activation { vx_activation(kind: Int32(kind), a: a, b: b) }
        switch self {
        case .relu: return k(VX_ACT_RELU)
        case .clip(let lo, let hi): return k(VX_ACT_CLIP, lo, hi)
        case .leakyRelu(let alpha): return k(VX_ACT_LEAKY_RELU, alpha)
        case .sigmoid: return k(VX_ACT_SIGMOID)
        case .tanh: return k(VX_ACT_TANH)
        case .hardSigmoid(let alpha, let beta): return k(VX_ACT_HARD_SIGMOID, alpha, beta)
        case .silu: return k(VX_ACT_SILU)
        case .hardSwish: return k(VX_ACT_HARD_SWISH)
        case .gelu: return k(VX_ACT_GELU)
        case .geluTanh: return k(VX_ACT_GELU_TANH)
        case .mish: return k(VX_ACT_MISH)
        }
    }

    /// CGemm's encoding of an optional activation (kind VX_ACT_NONE for nil).
    static func kernel(_ activation: FusedActivation?) -> vx_activation { activation?.kernel ?? vx_activation() }

    /// `self` applied in place to `count` values at `p`: CGemm's vectorized kernel for float32
    /// where it runs, else the Double reference.
    func apply<T: RealElement>(_ p: UnsafeMutablePointer<T>, count: Int) {
        if T.self == Float.self, PackedGemm.available {
            return vx_activate(UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self), count, kernel)
        }
        for i in 0..<count { p[i] = T(fromDouble: self(p[i].asDouble)) }
    }
}
