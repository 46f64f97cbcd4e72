import VonnxIR

/// A pass over a ModelProto's protobuf wire format that measures how deeply its recursive
/// messages nest (graphs in node attributes, TypeProtos in sequence/map/optional types), so
/// that a file nested deeper than `ModelReader.maxNesting` is refused before protobuf-c's
/// recursive unpack could overflow the stack; on the way it finds external-data entries
/// holding a NUL byte, which protobuf-c's C strings would silently cut short. Iterative and
/// linear in the file's size; it only follows the fields that lead to a recursive message or
/// an external-data entry and skips the rest. Malformed wire data ends the scan quietly: the
/// parse that follows rejects it.
enum NestingScan {
    /// The messages on the recursive paths of onnx.proto, and those leading to external data.
    enum Kind {
        case model, trainingInfo, function, graph, node, attribute, valueInfo, type, typeElement
        case tensor, sparseTensor, entry

        /// Whether it is on a recursive path (and counts towards the depth).
        var recursive: Bool { ![.tensor, .sparseTensor, .entry].contains(self) }
    }

    /// What a scan found.
    struct Findings {
        /// The deepest nesting of recursive messages, or the first depth past the limit.
        var depth = 1
        /// Whether a TensorProto's external_data key or value holds a NUL byte.
        var nulInExternalData = false

        /// Throws when `nulInExternalData`.
        func refuseNulInExternalData() throws {
            if nulInExternalData {
                throw VonnxError.invalidModel("an external_data entry (location, offset or length) holds a NUL byte")
            }
        }
    }

    /// The message a length-delimited field of `kind` holds, where it is on a path followed.
    private static func child(of kind: Kind, field: UInt64) -> Kind? {
        switch (kind, field) {
        case (.model, 7), (.trainingInfo, 1), (.trainingInfo, 2), (.attribute, 6), (.attribute, 11): .graph
        case (.model, 20): .trainingInfo
        case (.model, 25): .function
        case (.graph, 1), (.function, 7): .node
        case (.graph, 11), (.graph, 12), (.graph, 13), (.function, 12): .valueInfo
        case (.node, 5), (.function, 11): .attribute
        case (.valueInfo, 2), (.attribute, 14), (.attribute, 15), (.typeElement, 1), (.typeElement, 2): .type
        case (.type, 4), (.type, 5), (.type, 9): .typeElement  // Sequence, Map, Optional
        case (.graph, 5), (.attribute, 5), (.attribute, 10), (.sparseTensor, 1), (.sparseTensor, 2): .tensor
        case (.graph, 15), (.attribute, 22), (.attribute, 23): .sparseTensor
        case (.tensor, 13): .entry  // external_data
        default: nil
        }
    }

    /// Scans `bytes`, a `root` message (a ModelProto, or a TensorProto), stopping as soon as
    /// the nesting passes `limit` or a NUL is found.
    static func scan(_ bytes: UnsafeBufferPointer<UInt8>, root: Kind = .model, limit: Int) -> Findings {
        var stack: [(kind: Kind, end: Int)] = [(root, bytes.count)]
        var found = Findings(), recursiveLevels = 1, i = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0, shift: UInt64 = 0
            while i < bytes.count, shift < 64 {
                let b = bytes[i]
                i += 1
                value |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return value }
                shift += 7
            }
            return nil
        }
        while let top = stack.last {
            if i >= top.end {
                if stack.removeLast().kind.recursive { recursiveLevels -= 1 }
                continue
            }
            guard let key = varint() else { return found }
            switch key & 7 {
            case 0: guard varint() != nil else { return found }
            case 1: i += 8
            case 5: i += 4
            case 2:
                guard let length = varint(), i <= top.end, length <= UInt64(top.end - i) else { return found }
                let end = i + Int(length)
                if top.kind == .entry {
                    if bytes[i..<end].contains(0) { found.nulInExternalData = true; return found }
                    i = end
                } else if let kind = child(of: top.kind, field: key >> 3) {
                    stack.append((kind, end))
                    if kind.recursive {
                        recursiveLevels += 1
                        found.depth = max(found.depth, recursiveLevels)
                        if found.depth > limit { return found }
                    }
                } else {
                    i = end
                }
            default: return found  // groups are not used by onnx.proto
            }
        }
        return found
    }
}
