import Glibc

/// Values for the dims a model's inputs leave open, for tools that make inputs up
/// (`onnx-run --random`, `onnx-bench`). A spec `NAME=VALUE` sets every dim named NAME;
/// `INPUT:AXIS=VALUE` sets dim AXIS of input INPUT, the way to reach a dim with no name
/// (`?`, empty or missing), since such dims tie nothing together. A dim given neither is 1.
public struct OpenDims: Sendable {
    private var named: [String: Int] = [:]
    private var positional: [String: [Int: Int]] = [:]

    /// Parses `--dim` specs against the model's inputs; throws `invalidArgument` for a malformed
    /// spec, an input or axis the model lacks, or a name no input dim has.
    public init(specs: [String], inputs: [ValueInfo]) throws {
        for spec in specs {
            guard let eq = spec.lastIndex(of: "="), let value = Int(spec[spec.index(after: eq)...]), value > 0 else {
                throw VonnxError.invalidArgument("--dim '\(spec)' must be NAME=VALUE or INPUT:AXIS=VALUE with a positive VALUE")
            }
            let key = String(spec[..<eq])
            if let colon = key.lastIndex(of: ":"), let axis = Int(key[key.index(after: colon)...]) {
                let input = String(key[..<colon])
                guard let info = inputs.first(where: { $0.name == input }) else {
                    throw VonnxError.invalidArgument("--dim '\(spec)': '\(input)' is not an input of the model (inputs: \(inputs.map(\.name).joined(separator: ", ")))")
                }
                guard let rank = info.type?.shape?.count, (0..<rank).contains(axis) else {
                    throw VonnxError.invalidArgument("--dim '\(spec)': input '\(input)' has no dim \(axis) (type \(info.type.map(\.description) ?? "unknown"))")
                }
                positional[input, default: [:]][axis] = value
            } else {
                guard inputs.contains(where: { $0.type?.shape?.contains(.symbol(key)) == true }) else {
                    throw VonnxError.invalidArgument("--dim '\(spec)': no input has a dim named '\(key)'")
                }
                named[key] = value
            }
        }
    }

    /// These values with every dim named `name` set to `value`.
    public func setting(_ name: String, to value: Int) -> OpenDims { var d = self; d.named[name] = value; return d }
    /// These values with dim `axis` of `input` set to `value`.
    public func setting(input: String, axis: Int, to value: Int) -> OpenDims {
        var d = self; d.positional[input, default: [:]][axis] = value; return d
    }

    /// The shape to make for `info`: fixed dims as declared, open ones from a positional spec,
    /// else their name's spec, else 1, each such 1 reported through `defaulted` as a line
    /// saying which `--dim` would set it. Throws when the input has no tensor type or shape.
    public func shape(of info: ValueInfo, defaulted: (String) -> Void) throws -> [Int] {
        guard case .tensor(_, let dims?)? = info.type else {
            throw VonnxError.invalidInput("input '\(info.name)' has no declared tensor shape (\(info.type.map(\.description) ?? "unknown type")); give it as a file")
        }
        return dims.enumerated().map { axis, dim in
            if case .value(let v) = dim { return v }
            if let v = positional[info.name]?[axis] { return v }
            if case .symbol(let s) = dim, let v = named[s] { return v }
            let hint = if case .symbol(let s) = dim { "--dim \(s)=VALUE" } else { "--dim \(info.name):\(axis)=VALUE" }
            defaulted("input '\(info.name)' dim \(axis) ('\(dim)') set to 1; give \(hint) to choose")
            return 1
        }
    }

    /// `shape(of:defaulted:)` with each defaulted dim said on stderr as "tool: line".
    public func shape(of info: ValueInfo, tool: String) throws -> [Int] {
        try shape(of: info) { line in _ = "\(tool): \(line)\n".withCString { write(2, $0, strlen($0)) } }
    }
}
