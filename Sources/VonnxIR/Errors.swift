/// Every error Vonnx reports; the message names what is wrong (file, node, op, input, shape).
public enum VonnxError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The model file or bytes are not a usable ONNX model.
    case invalidModel(String)
    /// A node uses an op, domain or opset Vonnx does not implement.
    case unsupportedOp(node: String, op: String, domain: String, opset: Int)
    /// A node's inputs or attributes are invalid for its op.
    case invalidNode(node: String, op: String, message: String)
    /// A value given to `Session.run` does not fit the model.
    case invalidInput(String)
    /// A file could not be read or written.
    case io(path: String, message: String)
    /// Anything else the caller asked for that cannot be done.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .invalidModel(let m): "invalid model: \(m)"
        case .unsupportedOp(let node, let op, let domain, let opset):
            "unsupported op: node '\(node)' uses \(domain.isEmpty ? "ai.onnx" : domain)::\(op) at opset \(opset)"
        case .invalidNode(let node, let op, let m): "node '\(node)' (\(op)): \(m)"
        case .invalidInput(let m): "invalid input: \(m)"
        case .io(let path, let m): "\(path): \(m)"
        case .invalidArgument(let m): m
        }
    }
}
