import VonnxCPU

/// One registered ONNX op: its CPU kernel and, when written, its shape rule.
struct OpDefinition: Sendable {
    let cpu: CPUKernel
    let shape: ShapeRule?
    init(_ cpu: @escaping CPUKernel, shape: ShapeRule? = nil) { self.cpu = cpu; self.shape = shape }
}

/// Every op Vonnx runs, by domain then name: adding an op is one line here.
let opTable: [String: [String: OpDefinition]] = ["": defaultDomainOps]

private let defaultDomainOps: [String: OpDefinition] = [
    // MARK: elementwise (math, comparison, logic, activations, casts)
    "Add": .init(CPUKernels.add, shape: ShapeRules.broadcast()),
    "Sub": .init(CPUKernels.sub, shape: ShapeRules.broadcast()),
    "Mul": .init(CPUKernels.mul, shape: ShapeRules.broadcast()),
    "Div": .init(CPUKernels.div, shape: ShapeRules.broadcast()),
    "Pow": .init(CPUKernels.pow, shape: ShapeRules.broadcast()),
    "Mod": .init(CPUKernels.mod, shape: ShapeRules.broadcast()),
    "BitShift": .init(CPUKernels.bitShift, shape: ShapeRules.broadcast()),
    "BitwiseAnd": .init(CPUKernels.bitwiseAnd, shape: ShapeRules.broadcast()),
    "BitwiseOr": .init(CPUKernels.bitwiseOr, shape: ShapeRules.broadcast()),
    "BitwiseXor": .init(CPUKernels.bitwiseXor, shape: ShapeRules.broadcast()),
    "And": .init(CPUKernels.and, shape: ShapeRules.broadcast()),
    "Or": .init(CPUKernels.or, shape: ShapeRules.broadcast()),
    "Xor": .init(CPUKernels.xor, shape: ShapeRules.broadcast()),
    "Min": .init(CPUKernels.min, shape: ShapeRules.broadcast()),
    "Max": .init(CPUKernels.max, shape: ShapeRules.broadcast()),
    "Sum": .init(CPUKernels.sum, shape: ShapeRules.broadcast()),
    "Mean": .init(CPUKernels.mean, shape: ShapeRules.broadcast()),
    "PRelu": .init(CPUKernels.prelu, shape: ShapeRules.sameAsInput),
    "Equal": .init(CPUKernels.equal, shape: ShapeRules.broadcast(resultType: .bool)),
    "Less": .init(CPUKernels.less, shape: ShapeRules.broadcast(resultType: .bool)),
    "Greater": .init(CPUKernels.greater, shape: ShapeRules.broadcast(resultType: .bool)),
    "LessOrEqual": .init(CPUKernels.lessOrEqual, shape: ShapeRules.broadcast(resultType: .bool)),
    "GreaterOrEqual": .init(CPUKernels.greaterOrEqual, shape: ShapeRules.broadcast(resultType: .bool)),
    "Where": .init(CPUKernels.`where`, shape: ShapeRules.where),
    "Cast": .init(CPUKernels.cast, shape: ShapeRules.cast),
    "CastLike": .init(CPUKernels.castLike, shape: ShapeRules.castLike),
    "IsNaN": .init(CPUKernels.isNaN, shape: ShapeRules.sameShape(as: .bool)),
    "IsInf": .init(CPUKernels.isInf, shape: ShapeRules.sameShape(as: .bool)),
    "BitwiseNot": .init(CPUKernels.bitwiseNot, shape: ShapeRules.sameAsInput),
    "Not": .init(CPUKernels.not, shape: ShapeRules.sameAsInput),
    "Clip": .init(CPUKernels.clip, shape: ShapeRules.sameAsInput),
    "Abs": .init(CPUKernels.abs, shape: ShapeRules.sameAsInput),
    "Neg": .init(CPUKernels.neg, shape: ShapeRules.sameAsInput),
    "Sign": .init(CPUKernels.sign, shape: ShapeRules.sameAsInput),
    "Floor": .init(CPUKernels.floor, shape: ShapeRules.sameAsInput),
    "Ceil": .init(CPUKernels.ceil, shape: ShapeRules.sameAsInput),
    "Round": .init(CPUKernels.round, shape: ShapeRules.sameAsInput),
    "Reciprocal": .init(CPUKernels.reciprocal, shape: ShapeRules.sameAsInput),
    "Sqrt": .init(CPUKernels.sqrt, shape: ShapeRules.sameAsInput),
    "Exp": .init(CPUKernels.exp, shape: ShapeRules.sameAsInput),
    "Log": .init(CPUKernels.log, shape: ShapeRules.sameAsInput),
    "Erf": .init(CPUKernels.erf, shape: ShapeRules.sameAsInput),
    "Tanh": .init(CPUKernels.tanh, shape: ShapeRules.sameAsInput),
    "Sigmoid": .init(CPUKernels.sigmoid, shape: ShapeRules.sameAsInput),
    "Sin": .init(CPUKernels.sin, shape: ShapeRules.sameAsInput),
    "Cos": .init(CPUKernels.cos, shape: ShapeRules.sameAsInput),
    "Tan": .init(CPUKernels.tan, shape: ShapeRules.sameAsInput),
    "Asin": .init(CPUKernels.asin, shape: ShapeRules.sameAsInput),
    "Acos": .init(CPUKernels.acos, shape: ShapeRules.sameAsInput),
    "Atan": .init(CPUKernels.atan, shape: ShapeRules.sameAsInput),
    "Sinh": .init(CPUKernels.sinh, shape: ShapeRules.sameAsInput),
    "Cosh": .init(CPUKernels.cosh, shape: ShapeRules.sameAsInput),
    "Asinh": .init(CPUKernels.asinh, shape: ShapeRules.sameAsInput),
    "Acosh": .init(CPUKernels.acosh, shape: ShapeRules.sameAsInput),
    "Atanh": .init(CPUKernels.atanh, shape: ShapeRules.sameAsInput),
    "Relu": .init(CPUKernels.relu, shape: ShapeRules.sameAsInput),
    "LeakyRelu": .init(CPUKernels.leakyRelu, shape: ShapeRules.sameAsInput),
    "Elu": .init(CPUKernels.elu, shape: ShapeRules.sameAsInput),
    "Selu": .init(CPUKernels.selu, shape: ShapeRules.sameAsInput),
    "HardSigmoid": .init(CPUKernels.hardSigmoid, shape: ShapeRules.sameAsInput),
    "HardSwish": .init(CPUKernels.hardSwish, shape: ShapeRules.sameAsInput),
    "Softplus": .init(CPUKernels.softplus, shape: ShapeRules.sameAsInput),
    "Softsign": .init(CPUKernels.softsign, shape: ShapeRules.sameAsInput),
    "Celu": .init(CPUKernels.celu, shape: ShapeRules.sameAsInput),
    "Gelu": .init(CPUKernels.gelu, shape: ShapeRules.sameAsInput),
    "Mish": .init(CPUKernels.mish, shape: ShapeRules.sameAsInput),
    "ThresholdedRelu": .init(CPUKernels.thresholdedRelu, shape: ShapeRules.sameAsInput),
    "Shrink": .init(CPUKernels.shrink, shape: ShapeRules.sameAsInput),
    // end of elementwise

    // MARK: tensor manipulation (shape, indexing, constants)
    // end of tensor manipulation

    // MARK: neural network (conv, pools, normalization, gemm, softmax, resize)
    // end of neural network

    // MARK: reductions, sorting, recurrent, control flow, misc
    // end of reductions
]

/// The definition of `node`'s op, or an error naming the node, op, domain and opset.
func definition(of node: Node, opsets: [String: Int]) throws -> OpDefinition {
    let domain = node.domain == "ai.onnx" ? "" : node.domain
    guard let def = opTable[domain]?[node.opType] else {
        throw VonnxError.unsupportedOp(node: node.label, op: node.opType, domain: node.domain,
                                       opset: opsets[domain] ?? opsets["ai.onnx"] ?? 0)
    }
    return def
}
