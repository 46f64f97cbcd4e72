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
