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
    "Pow": .init(CPUKernels.powOp, shape: ShapeRules.broadcast()),
    "Mod": .init(CPUKernels.mod, shape: ShapeRules.broadcast()),
    "BitShift": .init(CPUKernels.bitShift, shape: ShapeRules.broadcast()),
    "BitwiseAnd": .init(CPUKernels.bitwiseAnd, shape: ShapeRules.broadcast()),
    "BitwiseOr": .init(CPUKernels.bitwiseOr, shape: ShapeRules.broadcast()),
    "BitwiseXor": .init(CPUKernels.bitwiseXor, shape: ShapeRules.broadcast()),
    "And": .init(CPUKernels.and, shape: ShapeRules.broadcast()),
    "Or": .init(CPUKernels.or, shape: ShapeRules.broadcast()),
    "Xor": .init(CPUKernels.xor, shape: ShapeRules.broadcast()),
    "Min": .init(CPUKernels.minOp, shape: ShapeRules.broadcast()),
    "Max": .init(CPUKernels.maxOp, shape: ShapeRules.broadcast()),
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
    "Abs": .init(CPUKernels.absOp, shape: ShapeRules.sameAsInput),
    "Neg": .init(CPUKernels.neg, shape: ShapeRules.sameAsInput),
    "Sign": .init(CPUKernels.sign, shape: ShapeRules.sameAsInput),
    "Floor": .init(CPUKernels.floorOp, shape: ShapeRules.sameAsInput),
    "Ceil": .init(CPUKernels.ceilOp, shape: ShapeRules.sameAsInput),
    "Round": .init(CPUKernels.roundOp, shape: ShapeRules.sameAsInput),
    "Reciprocal": .init(CPUKernels.reciprocal, shape: ShapeRules.sameAsInput),
    "Sqrt": .init(CPUKernels.sqrtOp, shape: ShapeRules.sameAsInput),
    "Exp": .init(CPUKernels.expOp, shape: ShapeRules.sameAsInput),
    "Log": .init(CPUKernels.logOp, shape: ShapeRules.sameAsInput),
    "Erf": .init(CPUKernels.erfOp, shape: ShapeRules.sameAsInput),
    "Tanh": .init(CPUKernels.tanhOp, shape: ShapeRules.sameAsInput),
    "Sigmoid": .init(CPUKernels.sigmoid, shape: ShapeRules.sameAsInput),
    "Sin": .init(CPUKernels.sinOp, shape: ShapeRules.sameAsInput),
    "Cos": .init(CPUKernels.cosOp, shape: ShapeRules.sameAsInput),
    "Tan": .init(CPUKernels.tanOp, shape: ShapeRules.sameAsInput),
    "Asin": .init(CPUKernels.asinOp, shape: ShapeRules.sameAsInput),
    "Acos": .init(CPUKernels.acosOp, shape: ShapeRules.sameAsInput),
    "Atan": .init(CPUKernels.atanOp, shape: ShapeRules.sameAsInput),
    "Sinh": .init(CPUKernels.sinhOp, shape: ShapeRules.sameAsInput),
    "Cosh": .init(CPUKernels.coshOp, shape: ShapeRules.sameAsInput),
    "Asinh": .init(CPUKernels.asinhOp, shape: ShapeRules.sameAsInput),
    "Acosh": .init(CPUKernels.acoshOp, shape: ShapeRules.sameAsInput),
    "Atanh": .init(CPUKernels.atanhOp, shape: ShapeRules.sameAsInput),
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
    "Constant": .init(CPUKernels.constant, shape: ShapeRules.constant),
    "ConstantOfShape": .init(CPUKernels.constantOfShape, shape: ShapeRules.constantOfShape),
    "Identity": .init(CPUKernels.identity, shape: ShapeRules.sameAsInput),
    "Dropout": .init(CPUKernels.dropout, shape: ShapeRules.dropout),
    "Shape": .init(CPUKernels.shape, shape: ShapeRules.shape),
    "Size": .init(CPUKernels.size, shape: ShapeRules.size),
    "Range": .init(CPUKernels.range, shape: ShapeRules.dataDependent()),
    "EyeLike": .init(CPUKernels.eyeLike, shape: ShapeRules.eyeLike),
    "OneHot": .init(CPUKernels.oneHot),
    "Reshape": .init(CPUKernels.reshape, shape: ShapeRules.reshape),
    "Flatten": .init(CPUKernels.flatten, shape: ShapeRules.flatten),
    "Squeeze": .init(CPUKernels.squeeze, shape: ShapeRules.squeeze),
    "Unsqueeze": .init(CPUKernels.unsqueeze, shape: ShapeRules.unsqueeze),
    "Transpose": .init(CPUKernels.transpose, shape: ShapeRules.transpose),
    "Expand": .init(CPUKernels.expand, shape: ShapeRules.expand),
    "Tile": .init(CPUKernels.tile, shape: ShapeRules.tile),
    "DepthToSpace": .init(CPUKernels.depthToSpace, shape: ShapeRules.depthSpace(toSpace: true)),
    "SpaceToDepth": .init(CPUKernels.spaceToDepth, shape: ShapeRules.depthSpace(toSpace: false)),
    "Concat": .init(CPUKernels.concat, shape: ShapeRules.concat),
    "Split": .init(CPUKernels.split, shape: ShapeRules.split),
    "Slice": .init(CPUKernels.slice, shape: ShapeRules.slice),
    "Gather": .init(CPUKernels.gather, shape: ShapeRules.gather),
    "GatherElements": .init(CPUKernels.gatherElements, shape: ShapeRules.gatherElements),
    "GatherND": .init(CPUKernels.gatherND),
    "Compress": .init(CPUKernels.compress, shape: ShapeRules.dataDependent()),
    "NonZero": .init(CPUKernels.nonZero, shape: ShapeRules.dataDependent(type: .int64)),
    "Trilu": .init(CPUKernels.trilu, shape: ShapeRules.sameAsInput),
    "ReverseSequence": .init(CPUKernels.reverseSequence, shape: ShapeRules.sameAsInput),
    "ScatterElements": .init(CPUKernels.scatterElements, shape: ShapeRules.sameAsInput),
    "Scatter": .init(CPUKernels.scatter, shape: ShapeRules.sameAsInput),
    "ScatterND": .init(CPUKernels.scatterND, shape: ShapeRules.sameAsInput),
    "Pad": .init(CPUKernels.pad, shape: ShapeRules.pad),
    // end of tensor manipulation

    // MARK: neural network (conv, pools, normalization, gemm, softmax, resize)
    "Gemm": .init(CPUKernels.gemm, shape: ShapeRules.gemm),
    "MatMul": .init(CPUKernels.matMul, shape: ShapeRules.matMul()),
    "MatMulInteger": .init(CPUKernels.matMulInteger, shape: ShapeRules.matMul(resultType: .int32)),
    "Conv": .init(CPUKernels.conv, shape: ShapeRules.conv),
    "ConvInteger": .init(CPUKernels.convInteger),
    "ConvTranspose": .init(CPUKernels.convTranspose, shape: ShapeRules.convTranspose),
    "MaxPool": .init(CPUKernels.maxPool, shape: ShapeRules.pool),
    "AveragePool": .init(CPUKernels.averagePool, shape: ShapeRules.pool),
    "LpPool": .init(CPUKernels.lpPool, shape: ShapeRules.pool),
    "GlobalAveragePool": .init(CPUKernels.globalAveragePool, shape: ShapeRules.globalPool),
    "GlobalMaxPool": .init(CPUKernels.globalMaxPool, shape: ShapeRules.globalPool),
    "GlobalLpPool": .init(CPUKernels.globalLpPool, shape: ShapeRules.globalPool),
    "BatchNormalization": .init(CPUKernels.batchNormalization, shape: ShapeRules.sameAsInput),
    "InstanceNormalization": .init(CPUKernels.instanceNormalization, shape: ShapeRules.sameAsInput),
    "LayerNormalization": .init(CPUKernels.layerNormalization, shape: ShapeRules.layerNormalization),
    "GroupNormalization": .init(CPUKernels.groupNormalization, shape: ShapeRules.sameAsInput),
    "RMSNormalization": .init(CPUKernels.rmsNormalization, shape: ShapeRules.sameAsInput),
    "LpNormalization": .init(CPUKernels.lpNormalization, shape: ShapeRules.sameAsInput),
    "LRN": .init(CPUKernels.lrn, shape: ShapeRules.sameAsInput),
    "MeanVarianceNormalization": .init(CPUKernels.meanVarianceNormalization, shape: ShapeRules.sameAsInput),
    "Softmax": .init(CPUKernels.softmax, shape: ShapeRules.sameAsInput),
    "LogSoftmax": .init(CPUKernels.logSoftmax, shape: ShapeRules.sameAsInput),
    "Hardmax": .init(CPUKernels.hardmax, shape: ShapeRules.sameAsInput),
    "Resize": .init(CPUKernels.resize, shape: ShapeRules.resize),
    "Upsample": .init(CPUKernels.upsample, shape: ShapeRules.resize),
    "MaxUnpool": .init(CPUKernels.maxUnpool),
    "CausalConvWithState": .init(CPUKernels.causalConvWithState),
    "DeformConv": .init(CPUKernels.deformConv),
    "Attention": .init(CPUKernels.attention),
    "LinearAttention": .init(CPUKernels.linearAttention),
    "RoiAlign": .init(CPUKernels.roiAlign),
    "GridSample": .init(CPUKernels.gridSample),
    "RotaryEmbedding": .init(CPUKernels.rotaryEmbedding, shape: ShapeRules.sameAsInput),
    "Col2Im": .init(CPUKernels.col2Im),
    "QLinearMatMul": .init(CPUKernels.qLinearMatMul, shape: ShapeRules.qLinearMatMul),
    "QLinearConv": .init(CPUKernels.qLinearConv),
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
