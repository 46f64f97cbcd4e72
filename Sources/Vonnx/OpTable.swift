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
