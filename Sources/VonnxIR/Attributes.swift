/// Typed attribute access that names the node and attribute in its errors.
extension Node {
    /// Whether the node sets attribute `name`.
    public func has(_ name: String) -> Bool { attributes[name] != nil }

    /// Attribute `name` as an int, nil when unset; throws when it is another kind.
    public func int(_ name: String) throws -> Int? {
        switch attributes[name] {
        case nil: return nil
        case .int(let v): return v
        default: throw error("attribute '\(name)' must be an int")
        }
    }
    /// Attribute `name` as an int, `value` when unset.
    public func int(_ name: String, default value: Int) throws -> Int { try int(name) ?? value }

    /// Attribute `name` as a float (an int converts), nil when unset; throws when it is another kind.
    public func float(_ name: String) throws -> Float? {
        switch attributes[name] {
        case nil: return nil
        case .float(let v): return v
        case .int(let v): return Float(v)
        default: throw error("attribute '\(name)' must be a float")
        }
    }
    /// Attribute `name` as a float, `value` when unset.
    public func float(_ name: String, default value: Float) throws -> Float { try float(name) ?? value }

    /// Attribute `name` as UTF-8 text, nil when unset; throws when it is another kind.
    public func string(_ name: String) throws -> String? {
        switch attributes[name] {
        case nil: return nil
        case .string(let v): return String(decoding: v, as: UTF8.self)
        default: throw error("attribute '\(name)' must be a string")
        }
    }
    /// Attribute `name` as text, `value` when unset.
    public func string(_ name: String, default value: String) throws -> String { try string(name) ?? value }

    /// Attribute `name` as a list of ints (one int makes a list of one), nil when unset.
    public func ints(_ name: String) throws -> [Int]? {
        switch attributes[name] {
        case nil: return nil
        case .ints(let v): return v
        case .int(let v): return [v]
        default: throw error("attribute '\(name)' must be a list of ints")
        }
    }

    /// Attribute `name` as a list of floats (one float makes a list of one), nil when unset.
    public func floats(_ name: String) throws -> [Float]? {
        switch attributes[name] {
        case nil: return nil
        case .floats(let v): return v
        case .float(let v): return [v]
        default: throw error("attribute '\(name)' must be a list of floats")
        }
    }

    /// Attribute `name` as a list of UTF-8 texts, nil when unset.
    public func strings(_ name: String) throws -> [String]? {
        switch attributes[name] {
        case nil: return nil
        case .strings(let v): return v.map { String(decoding: $0, as: UTF8.self) }
        default: throw error("attribute '\(name)' must be a list of strings")
        }
    }

    /// Attribute `name` as a tensor, nil when unset.
    public func tensor(_ name: String) throws -> Tensor? {
        switch attributes[name] {
        case nil: return nil
        case .tensor(let t): return t
        default: throw error("attribute '\(name)' must be a tensor")
        }
    }

    /// Attribute `name` as a graph (a subgraph body); throws when unset or another kind.
    public func graph(_ name: String) throws -> Graph {
        guard case .graph(let g)? = attributes[name] else { throw error("attribute '\(name)' must be a graph") }
        return g
    }
}
