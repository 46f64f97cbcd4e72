import VonnxIR

/// A fused activation as `Shaders/activation.glsl` takes it: the ACT define and the two
/// parameters `activate` reads (pushed after each shader's own push constants).
struct ShaderActivation {
    let define: String
    let alpha: Float, beta: Float

    init(_ activation: FusedActivation?) {
        let (name, alpha, beta): (String, Float, Float) = switch activation {
        case nil: ("ACT_NONE", 0, 0)
        case .relu: ("ACT_RELU", 0, 0)
        case .clip(let lo, let hi): ("ACT_CLIP", lo, hi)
        case .leakyRelu(let a): ("ACT_LEAKY_RELU", a, 0)
        case .sigmoid: ("ACT_SIGMOID", 0, 0)
        case .tanh: ("ACT_TANH", 0, 0)
        case .hardSigmoid(let a, let b): ("ACT_HARD_SIGMOID", a, b)
        case .silu: ("ACT_SILU", 0, 0)
        case .hardSwish: ("ACT_HARD_SWISH", 0, 0)
        case .gelu: ("ACT_GELU", 0, 0)
        case .geluTanh: ("ACT_GELU_TANH", 0, 0)
        case .mish: ("ACT_MISH", 0, 0)
        }
        (define, self.alpha, self.beta) = (name, alpha, beta)
    }

    /// Appends the parameters to `push`.
    func push(_ push: inout PushConstants) { push.add(alpha); push.add(beta) }
}
