import Glibc

/// The activation a fused node (`com.microsoft::FusedConv`, `com.microsoft::FusedGemm`) applies
/// to its output after the bias and residual: the vocabulary every backend's epilogue shares.
///
/// On a node it is the `activation` attribute (onnxruntime's names) with its parameters in
/// `activation_params` (floats, in the order of the associated values); the names onnxruntime
/// lacks (`Silu`, `HardSwish`, `Gelu`, `GeluTanh`, `Mish`) are the decomposed forms exporters
/// write, recognized by the optimizer.
public enum FusedActivation: Sendable, Equatable {
    /// max(0, x)
    case relu
    /// min(max(x, min), max)
    case clip(min: Float, max: Float)
    /// x ≥ 0 ? x : alpha·x
    case leakyRelu(alpha: Float)
    /// 1 / (1 + e^-x)
    case sigmoid
    /// tanh(x)
    case tanh
    /// max(0, min(1, alpha·x + beta))
    case hardSigmoid(alpha: Float, beta: Float)
    /// x·sigmoid(x)
    case silu
    /// x·max(0, min(1, x/6 + 1/2))
    case hardSwish
    /// x·Φ(x), Φ by erf
    case gelu
    /// Gelu's tanh approximation: x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
    case geluTanh
    /// x·tanh(softplus(x))
    case mish

    /// The node's activation, nil when it has none (no `activation` attribute or an empty one).
    /// Throws, naming the node, for an unknown name or missing parameters.
    public init?(of node: Node) throws {
        let name = try node.string("activation", default: "")
        if name.isEmpty { return nil }
        let p = try node.floats("activation_params") ?? []
        func params(_ n: Int) throws -> [Float] {
            guard p.count == n else { throw node.error("activation \(name) takes \(n) activation_params, got \(p.count)") }
            return p
        }
        switch name {
        case "Relu": self = .relu
        case "Clip": let v = try params(2); self = .clip(min: v[0], max: v[1])
        case "LeakyRelu": self = .leakyRelu(alpha: try params(1)[0])
        case "Sigmoid": self = .sigmoid
        case "Tanh": self = .tanh
        case "HardSigmoid": let v = try params(2); self = .hardSigmoid(alpha: v[0], beta: v[1])
        case "Silu": self = .silu
        case "HardSwish": self = .hardSwish
        case "Gelu": self = .gelu
        case "GeluTanh": self = .geluTanh
        case "Mish": self = .mish
        default: throw node.error("unknown fused activation '\(name)'")
        }
    }

    /// The attribute name and parameters that `init(of:)` reads back.
    public var name: String {
        switch self {
        case .relu: "Relu"
        case .clip: "Clip"
        case .leakyRelu: "LeakyRelu"
        case .sigmoid: "Sigmoid"
        case .tanh: "Tanh"
        case .hardSigmoid: "HardSigmoid"
        case .silu: "Silu"
        case .hardSwish: "HardSwish"
        case .gelu: "Gelu"
        case .geluTanh: "GeluTanh"
        case .mish: "Mish"
        }
    }

    /// Its parameters in order (Clip's bounds, LeakyRelu's alpha, HardSigmoid's alpha and
    /// beta); empty for the others.
    public var params: [Float] {
        switch self {
        case .clip(let lo, let hi): [lo, hi]
        case .leakyRelu(let alpha): [alpha]
        case .hardSigmoid(let alpha, let beta): [alpha, beta]
        default: []
        }
    }

    /// The `activation` / `activation_params` attributes describing `self` on a fused node.
    public var attributes: [String: Attribute] {
        var a: [String: Attribute] = ["activation": .string(Array(name.utf8))]
        if !params.isEmpty { a["activation_params"] = .floats(params) }
        return a
    }

    /// The reference value, in Double: what every backend's epilogue is tested against.
    public func callAsFunction(_ x: Double) -> Double {
        func sigmoid(_ v: Double) -> Double { 1 / (1 + Glibc.exp(-v)) }
        switch self {
        case .relu: return Swift.max(x, 0)
        case .clip(let lo, let hi): return Swift.min(Swift.max(x, Double(lo)), Double(hi))
        case .leakyRelu(let alpha): return x >= 0 ? x : Double(alpha) * x
        case .sigmoid: return sigmoid(x)
        case .tanh: return Glibc.tanh(x)
        case .hardSigmoid(let alpha, let beta): return Swift.max(0, Swift.min(1, Double(alpha) * x + Double(beta)))
        case .silu: return x * sigmoid(x)
        case .hardSwish: return x * Swift.max(0, Swift.min(1, x / 6 + 0.5))
        case .gelu: return 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
        case .geluTanh: return 0.5 * x * (1 + Glibc.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
        case .mish: return x * Glibc.tanh(x > 20 ? x : log1p(Glibc.exp(x)))
        }
    }
}
