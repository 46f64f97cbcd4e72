import VonnxIR

/// A pass over a ModelProto's protobuf wire format that measures how deeply its recursive
/// messages nest (graphs in node attributes, TypeProtos in sequence/map/optional types), so
/// that a file nested deeper than `ModelReader.maxNesting` is refused before protobuf-c's
/// recursive unpack could overflow the stack. Iterative and linear in the file's size; it
/// only follows the fields that lead to a recursive message and skips the rest. Malformed
/// wire data ends the scan quietly: the parse that follows rejects it.
enum NestingScan {
    /// The messages on the recursive paths of onnx.proto.
    private enum Kind {
        case model, trainingInfo, function, graph, node, attribute, valueInfo, type, typeElement
    }

    /// The message a length-delimited field of `kind` holds, where it is on a recursive path.
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
        default: nil
        }
    }

    /// The deepest nesting of messages in `bytes` (a ModelProto), stopping as soon as it
    /// passes `limit`.
    static func depth(_ bytes: UnsafeBufferPointer<UInt8>, limit: Int) -> Int {
        var stack: [(kind: Kind, end: Int)] = [(.model, bytes.count)]
        var deepest = 1, i = 0
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
            if i >= top.end { stack.removeLast(); continue }
            guard let key = varint() else { return deepest }
            switch key & 7 {
            case 0: guard varint() != nil else { return deepest }
            case 1: i += 8
            case 5: i += 4
            case 2:
                guard let length = varint(), i <= top.end, length <= UInt64(top.end - i) else { return deepest }
                let end = i + Int(length)
                if let kind = child(of: top.kind, field: key >> 3) {
                    stack.append((kind, end))
                    deepest = max(deepest, stack.count)
                    if deepest > limit { return deepest }
                } else {
                    i = end
                }
            default: return deepest  // groups are not used by onnx.proto
            }
        }
        return deepest
    }
}
