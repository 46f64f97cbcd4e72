import COnnx
import Glibc
import VonnxIR

// Helpers over protobuf-c's generated structs, shared by the readers and writers.

/// A C string field as a Swift string ("" when absent).
@inline(__always) func str(_ p: UnsafePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }

/// A repeated field (`n_x`, `x`) as a buffer.
@inline(__always) func items<T>(_ count: Int, _ p: UnsafeMutablePointer<T>?) -> UnsafeBufferPointer<T> {
    UnsafeBufferPointer(start: count == 0 ? nil : p, count: count)
}

/// A repeated message field: the non-NULL element pointers.
@inline(__always) func messages<T>(_ count: Int, _ p: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?) -> [UnsafeMutablePointer<T>] {
    items(count, p).compactMap { $0 }
}

/// Key/value entries (metadata_props, external_data) as a dictionary; later keys win.
func entries(_ count: Int, _ p: UnsafeMutablePointer<UnsafeMutablePointer<Onnx__StringStringEntryProto>?>?) -> [String: String] {
    var result: [String: String] = [:]
    for e in messages(count, p) { result[str(e.pointee.key)] = str(e.pointee.value) }
    return result
}

/// The name `descriptor`'s enum gives `raw` ("FLOAT8E4M3FN"), or the number when it has none.
func enumName(_ descriptor: ProtobufCEnumDescriptor, _ raw: Int32) -> String {
    withUnsafePointer(to: descriptor) { desc in
        protobuf_c_enum_descriptor_get_value(desc, raw).map { str($0.pointee.name) } ?? "\(raw)"
    }
}

/// C memory for a message tree being built for `pack`: every block comes from malloc and is
/// freed together when the arena goes away. Tensor storages referenced by `raw_data` are kept
/// alive (not copied) until then.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []
    private var retained: [TensorStorage] = []

    deinit { for b in blocks { free(b) } }

    /// A message initialized by its generated `init` function.
    func message<T>(_ initialize: (UnsafeMutablePointer<T>) -> Void) -> UnsafeMutablePointer<T> {
        let p = malloc(MemoryLayout<T>.stride)!.bindMemory(to: T.self, capacity: 1)
        blocks.append(UnsafeMutableRawPointer(p))
        initialize(p)
        return p
    }

    /// A malloc'ed copy of `values` (nil when empty), and its count, for a repeated field.
    func array<T>(_ values: [T]) -> (Int, UnsafeMutablePointer<T>?) {
        guard !values.isEmpty else { return (0, nil) }
        let p = malloc(MemoryLayout<T>.stride * values.count)!.bindMemory(to: T.self, capacity: values.count)
        blocks.append(UnsafeMutableRawPointer(p))
        p.initialize(from: values, count: values.count)
        return (values.count, p)
    }

    /// A malloc'ed C string.
    func string(_ s: String) -> UnsafeMutablePointer<CChar> {
        let p = strdup(s)!
        blocks.append(UnsafeMutableRawPointer(p))
        return p
    }

    /// A C string, or NULL (field absent) for "".
    func optionalString(_ s: String) -> UnsafeMutablePointer<CChar>? { s.isEmpty ? nil : string(s) }

    /// A malloc'ed copy of `bytes` as protobuf `bytes`.
    func bytes(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        let (n, p) = array(bytes)
        return ProtobufCBinaryData(len: n, data: p)
    }

    /// `bytes` pointing at a tensor's own elements, whose storage stays alive as long as the arena.
    func bytes(of tensor: Tensor) -> ProtobufCBinaryData {
        retained.append(tensor.storage)
        return ProtobufCBinaryData(len: tensor.count * tensor.dataType.byteSize,
                                   data: tensor.storage.pointer.assumingMemoryBound(to: UInt8.self))
    }
}
