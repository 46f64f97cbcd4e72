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
    "ReduceSum": .init(CPUKernels.reduceSum, shape: ShapeRules.reduce),
    "ReduceMean": .init(CPUKernels.reduceMean, shape: ShapeRules.reduce),
    "ReduceMax": .init(CPUKernels.reduceMax, shape: ShapeRules.reduce),
    "ReduceMin": .init(CPUKernels.reduceMin, shape: ShapeRules.reduce),
    "ReduceProd": .init(CPUKernels.reduceProd, shape: ShapeRules.reduce),
    "ReduceL1": .init(CPUKernels.reduceL1, shape: ShapeRules.reduce),
    "ReduceL2": .init(CPUKernels.reduceL2, shape: ShapeRules.reduce),
    "ReduceLogSum": .init(CPUKernels.reduceLogSum, shape: ShapeRules.reduce),
    "ReduceLogSumExp": .init(CPUKernels.reduceLogSumExp, shape: ShapeRules.reduce),
    "ReduceSumSquare": .init(CPUKernels.reduceSumSquare, shape: ShapeRules.reduce),
    "ArgMax": .init(CPUKernels.argMax, shape: ShapeRules.argReduce),
    "ArgMin": .init(CPUKernels.argMin, shape: ShapeRules.argReduce),
    "TopK": .init(CPUKernels.topK, shape: ShapeRules.topK),
    "CumSum": .init(CPUKernels.cumSum, shape: ShapeRules.sameAsInput),
    "CumProd": .init(CPUKernels.cumProd, shape: ShapeRules.sameAsInput),
    "Einsum": .init(CPUKernels.einsum),
    "RNN": .init(CPUKernels.rnn, shape: ShapeRules.recurrent),
    "GRU": .init(CPUKernels.gru, shape: ShapeRules.recurrent),
    "LSTM": .init(CPUKernels.lstm, shape: ShapeRules.recurrent),
    "If": .init(CPUKernels.ifOp),
    "Loop": .init(CPUKernels.loop),
    "Scan": .init(CPUKernels.scan),
    "Unique": .init(CPUKernels.unique),
    "Det": .init(CPUKernels.det),
    "NonMaxSuppression": .init(CPUKernels.nonMaxSuppression),
    "DFT": .init(CPUKernels.dft),
    "STFT": .init(CPUKernels.stft),
    "HannWindow": .init(CPUKernels.hannWindow),
    "HammingWindow": .init(CPUKernels.hammingWindow),
    "BlackmanWindow": .init(CPUKernels.blackmanWindow),
    "MelWeightMatrix": .init(CPUKernels.melWeightMatrix),
    "StringConcat": .init(CPUKernels.stringConcat),
    "StringSplit": .init(CPUKernels.stringSplit),
    "RegexFullMatch": .init(CPUKernels.regexFullMatch),
    "StringNormalizer": .init(CPUKernels.stringNormalizer),
    "TfIdfVectorizer": .init(CPUKernels.tfIdfVectorizer),
    "NegativeLogLikelihoodLoss": .init(CPUKernels.negativeLogLikelihoodLoss),
    "SoftmaxCrossEntropyLoss": .init(CPUKernels.softmaxCrossEntropyLoss),
    "QuantizeLinear": .init(CPUKernels.quantizeLinear),
    "DequantizeLinear": .init(CPUKernels.dequantizeLinear),
    "DynamicQuantizeLinear": .init(CPUKernels.dynamicQuantizeLinear),
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
