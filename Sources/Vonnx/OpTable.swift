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
