/// Typed attribute access that names the node and attribute in its errors.
extension Node {
    public func has(_ name: String) -> Bool { attributes[name] != nil }

    public func int(_ name: String) throws -> Int? {
        switch attributes[name] {
        case nil: return nil
        case .int(let v): return v
        default: throw error("attribute '\(name)' must be an int")
        }
    }
    public func int(_ name: String, default value: Int) throws -> Int { try int(name) ?? value }

    public func float(_ name: String) throws -> Float? {
        switch attributes[name] {
        case nil: return nil
        case .float(let v): return v
        case .int(let v): return Float(v)
        default: throw error("attribute '\(name)' must be a float")
        }
    }
    public func float(_ name: String, default value: Float) throws -> Float { try float(name) ?? value }

    public func string(_ name: String) throws -> String? {
        switch attributes[name] {
        case nil: return nil
        case .string(let v): return String(decoding: v, as: UTF8.self)
        default: throw error("attribute '\(name)' must be a string")
        }
    }
    public func string(_ name: String, default value: String) throws -> String { try string(name) ?? value }

    public func ints(_ name: String) throws -> [Int]? {
        switch attributes[name] {
        case nil: return nil
        case .ints(let v): return v
        case .int(let v): return [v]
        default: throw error("attribute '\(name)' must be a list of ints")
        }
    }

    public func floats(_ name: String) throws -> [Float]? {
        switch attributes[name] {
        case nil: return nil
        case .floats(let v): return v
        case .float(let v): return [v]
        default: throw error("attribute '\(name)' must be a list of floats")
        }
    }

    public func strings(_ name: String) throws -> [String]? {
        switch attributes[name] {
        case nil: return nil
        case .strings(let v): return v.map { String(decoding: $0, as: UTF8.self) }
        default: throw error("attribute '\(name)' must be a list of strings")
        }
    }

    public func tensor(_ name: String) throws -> Tensor? {
        switch attributes[name] {
        case nil: return nil
        case .tensor(let t): return t
        default: throw error("attribute '\(name)' must be a tensor")
        }
    }

    public func graph(_ name: String) throws -> Graph {
        guard case .graph(let g)? = attributes[name] else { throw error("attribute '\(name)' must be a graph") }
        return g
    }
}
