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
    "Relu": .init(CPUKernels.relu, shape: ShapeRules.sameAsInput),
    // end of elementwise

    // MARK: tensor manipulation (shape, indexing, constants)
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
