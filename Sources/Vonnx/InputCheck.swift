/// What `InputCheck` reads of an input: its element type and shape.
protocol TypedShape {
    var dataType: DataType { get }
    var shape: [Int] { get }
}

extension Tensor: TypedShape {}

/// Checks run-time inputs against the graph's declared inputs.
enum InputCheck {
    /// Throws `invalidInput` naming the input, what the model expects and what was given.
    static func validate(_ feeds: [String: some TypedShape], against declared: [ValueInfo]) throws {
        let names = Set(declared.map(\.name))
        if let extra = feeds.keys.sorted().first(where: { !names.contains($0) }) {
            throw VonnxError.invalidInput("'\(extra)' is not an input of the model (inputs: \(declared.map(\.name).joined(separator: ", ")))")
        }
        var symbols: [String: (value: Int, input: String)] = [:]
        for info in declared {
            let expected = info.type.map { " (expected \($0))" } ?? ""
            guard let t = feeds[info.name] else { throw VonnxError.invalidInput("missing input '\(info.name)'\(expected)") }
            guard case .tensor(let type, let shape)? = info.type else { continue }
            guard t.dataType == type else {
                throw VonnxError.invalidInput("input '\(info.name)' has element type \(t.dataType), expected \(type)")
            }
            guard let shape else { continue }
            guard shape.count == t.shape.count else {
                throw VonnxError.invalidInput("input '\(info.name)' has shape \(t.shape), expected rank \(shape.count)\(expected)")
            }
            for (axis, (dim, given)) in zip(shape, t.shape).enumerated() {
                switch dim {
                case .value(let v) where v != given:
                    throw VonnxError.invalidInput("input '\(info.name)' has shape \(t.shape), expected \(info.type!) (dim \(axis) must be \(v))")
                case .symbol(let s):
                    if let seen = symbols[s], seen.value != given {
                        throw VonnxError.invalidInput("input '\(info.name)' dim \(axis) ('\(s)') is \(given), but '\(seen.input)' set '\(s)' to \(seen.value)")
                    }
                    symbols[s] = (given, info.name)
                default: break
                }
            }
        }
    }
}
