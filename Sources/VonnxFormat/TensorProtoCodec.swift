import COnnx
import Glibc
import VonnxIR

/// Single ONNX TensorProto messages (the node tests' `input_0.pb`, `output_0.pb`), and the one
/// TensorProto ⇄ Tensor conversion the model reader and writer share.
public enum TensorProtoCodec {
    /// Parses a serialized TensorProto. External data is resolved against `baseDirectory` and
    /// refused when it is nil. Throws `invalidModel` naming the tensor and what is wrong.
    public static func decode(bytes: [UInt8], baseDirectory: String? = nil) throws -> (name: String, tensor: Tensor) {
        try bytes.withUnsafeBufferPointer { NestingScan.scan($0, root: .tensor, limit: .max) }.refuseNulInExternalData()
        guard let proto = bytes.withUnsafeBufferPointer({ onnx__tensor_proto__unpack(nil, $0.count, $0.baseAddress) })
        else { throw VonnxError.invalidModel("not a TensorProto (protobuf parse failed)") }
        defer { onnx__tensor_proto__free_unpacked(proto, nil) }
        return try tensor(from: proto, baseDirectory: baseDirectory)
    }

    /// A serialized TensorProto: dims, data_type, name, and raw_data (string_data for strings).
    public static func encode(_ t: Tensor, name: String) -> [UInt8] {
        let arena = CArena()
        let proto = tensorProto(t, name: name, arena: arena)
        return withExtendedLifetime(arena) {
            pack(proto, onnx__tensor_proto__get_packed_size, onnx__tensor_proto__pack)
        }
    }

    /// Reads a TensorProto file; external data is resolved against the file's folder.
    public static func read(path: String) throws -> (name: String, tensor: Tensor) {
        do { return try decode(bytes: readFile(path), baseDirectory: directory(of: path)) }
        catch VonnxError.invalidModel(let m) { throw VonnxError.invalidModel("\(path): \(m)") }
    }

    /// Writes `encode(t, name:)` to `path` atomically.
    public static func write(_ t: Tensor, name: String, path: String) throws {
        try writeFileAtomically(encode(t, name: name), to: path)
    }
}

extension TensorProtoCodec {
    /// The tensor a TensorProto holds. Its data (raw_data, the typed field for its type, or
    /// external data resolved against `baseDirectory`) must hold exactly the elements its dims
    /// count; nothing is allocated before that is checked. Errors name the tensor. `rawDataInFile`
    /// is its raw_data when the parse left that in the model file.
    static func tensor(from p: UnsafePointer<Onnx__TensorProto>, baseDirectory: String?,
                       rawDataInFile: (file: RawDataInFile, range: Range<Int>)? = nil) throws -> (name: String, tensor: Tensor) {
        let t = p.pointee
        let name = str(t.name)
        func fail(_ m: String) -> VonnxError { .invalidModel("tensor '\(name)': \(m)") }
        guard t.has_data_type != 0, t.data_type != 0 else { throw fail("no data_type") }
        guard let type = DataType(rawValue: t.data_type) else {
            throw fail("data type \(enumName(onnx__tensor_proto__data_type__descriptor, t.data_type)) is not supported")
        }
        let dims = items(t.n_dims, t.dims).map { Int($0) }
        guard let count = checkedElementCount(dims) else {
            throw fail("invalid dims \(dims) (a negative dim, or too many elements)")
        }
        guard t.segment == nil else { throw fail("segmented tensors are not supported") }
        let byteCount = count * type.byteSize

        if t.has_data_location != 0 && t.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL {
            guard type != .string else { throw fail("string tensors cannot use external data") }
            do {
                return (name, normalizedBools(try externalTensor(t, type: type, dims: dims, byteCount: byteCount, baseDirectory, fail)))
            } catch VonnxError.io(let path, let m) {
                throw VonnxError.io(path: path, message: "external data of tensor '\(name)': \(m)")
            }
        }
        if let (file, range) = rawDataInFile {
            guard type != .string else { throw fail("string tensors cannot use raw_data") }
            guard range.count == byteCount else {
                throw fail("raw_data has \(range.count) bytes, but dims \(dims) of \(type) need \(byteCount)")
            }
            let result = Tensor(uninitialized: type, shape: dims)
            try file.read(range, into: result.storage.pointer)
            return (name, normalizedBools(result))
        }
        if t.has_raw_data != 0 {
            guard type != .string else { throw fail("string tensors cannot use raw_data") }
            guard t.raw_data.len == byteCount else {
                throw fail("raw_data has \(t.raw_data.len) bytes, but dims \(dims) of \(type) need \(byteCount)")
            }
            let result = Tensor(zeros: type, shape: dims)
            if byteCount > 0 { memcpy(result.storage.pointer, t.raw_data.data, byteCount) }  // raw_data may be unaligned
            return (name, normalizedBools(result))
        }

        /// Copies a typed field, converting each value to the element's storage type.
        func fill<S, D>(_ field: String, _ values: UnsafeBufferPointer<S>, as: D.Type, _ convert: (S) -> D) throws -> Tensor {
            guard values.count == count else {
                throw fail("\(field) has \(values.count) values, but dims \(dims) need \(count)")
            }
            let result = Tensor(zeros: type, shape: dims)
            for (i, v) in values.enumerated() {
                result.storage.pointer.storeBytes(of: convert(v), toByteOffset: i * MemoryLayout<D>.stride, as: D.self)
            }
            return result
        }
        let int32s = items(t.n_int32_data, t.int32_data)
        let uint64s = items(t.n_uint64_data, t.uint64_data)
        switch type {
        case .float: return (name, try fill("float_data", items(t.n_float_data, t.float_data), as: Float.self) { $0 })
        case .double: return (name, try fill("double_data", items(t.n_double_data, t.double_data), as: Double.self) { $0 })
        case .int64: return (name, try fill("int64_data", items(t.n_int64_data, t.int64_data), as: Int64.self) { $0 })
        case .uint64: return (name, try fill("uint64_data", uint64s, as: UInt64.self) { $0 })
        case .uint32: return (name, try fill("uint64_data", uint64s, as: UInt32.self) { UInt32(truncatingIfNeeded: $0) })
        case .int32: return (name, try fill("int32_data", int32s, as: Int32.self) { $0 })
        case .int8, .uint8: return (name, try fill("int32_data", int32s, as: UInt8.self) { UInt8(truncatingIfNeeded: $0) })
        case .bool: return (name, try fill("int32_data", int32s, as: UInt8.self) { $0 != 0 ? 1 : 0 })
        // float16 and bfloat16 arrive as bit patterns in the low 16 bits
        case .int16, .uint16, .float16, .bfloat16:
            return (name, try fill("int32_data", int32s, as: UInt16.self) { UInt16(truncatingIfNeeded: $0) })
        case .string:
            let values = items(t.n_string_data, t.string_data)
            guard values.count == count else {
                throw fail("string_data has \(values.count) values, but dims \(dims) need \(count)")
            }
            let strings = values.map { String(decoding: UnsafeBufferPointer(start: $0.data, count: $0.len), as: UTF8.self) }
            return (name, Tensor(strings: strings, shape: dims))
        }
    }

    /// A tensor read from its external data file, after checking that its bytes lie inside the
    /// file. The location must be relative and stay inside `baseDirectory` once '..' and
    /// symlinks are resolved.
    private static func externalTensor(_ t: Onnx__TensorProto, type: DataType, dims: [Int], byteCount: Int,
                                       _ baseDirectory: String?, _ fail: (String) -> VonnxError) throws -> Tensor {
        let info = entries(t.n_external_data, t.external_data)
        guard let location = info["location"], !location.isEmpty else { throw fail("external data has no location") }
        guard let baseDirectory else {
            throw fail("external data '\(location)' cannot be read from a model loaded from bytes without a base directory")
        }
        func number(_ key: String) throws -> Int? {
            guard let text = info[key] else { return nil }
            guard let v = Int(text), v >= 0 else { throw fail("external data '\(location)': \(key) '\(text)' is not a valid size") }
            return v
        }
        let offset = try number("offset") ?? 0
        if let length = try number("length"), length != byteCount {
            throw fail("external data '\(location)': length \(length) disagrees with dims × element size (\(byteCount) bytes)")
        }
        guard !location.hasPrefix("/") else {
            throw fail("external data path '\(location)' is absolute; it must be relative to the model's folder")
        }
        var depth = 0
        for part in location.split(separator: "/") {
            depth += part == ".." ? -1 : part == "." ? 0 : 1
            guard depth >= 0 else { throw fail("external data path '\(location)' escapes the model's folder") }
        }
        let root = try canonicalPath(baseDirectory)
        let path = try canonicalPath(root + "/" + location)
        guard path.hasPrefix(root.hasSuffix("/") ? root : root + "/") else {
            throw fail("external data path '\(location)' resolves to '\(path)', outside the model's folder")
        }
        let file = try FileReader(path: path)
        guard offset <= file.size, byteCount <= file.size - offset else {
            throw fail("external data file '\(path)' has \(file.size) bytes, too few for offset \(offset) + length \(byteCount)")
        }
        let result = Tensor(zeros: type, shape: dims)
        try file.read(into: result.storage.pointer, offset: offset, count: byteCount)
        return result
    }

    /// Bool elements as exactly 0 or 1 (any other byte is not a valid Swift Bool).
    private static func normalizedBools(_ t: Tensor) -> Tensor {
        guard t.dataType == .bool else { return t }
        let bytes = t.storage.pointer.assumingMemoryBound(to: UInt8.self)
        for i in 0..<t.count where bytes[i] > 1 { bytes[i] = 1 }
        return t
    }

    /// The dense tensor a SparseTensorProto describes (values scattered into zeros). Indices
    /// are int64, either [NNZ] linear or [NNZ, rank]; each is bounds-checked.
    static func denseTensor(from p: UnsafePointer<Onnx__SparseTensorProto>, baseDirectory: String?) throws -> (name: String, tensor: Tensor) {
        guard let valuesProto = p.pointee.values, let indicesProto = p.pointee.indices else {
            throw VonnxError.invalidModel("sparse tensor without values or indices")
        }
        let (name, values) = try tensor(from: valuesProto, baseDirectory: baseDirectory)
        func fail(_ m: String) -> VonnxError { .invalidModel("sparse tensor '\(name)': \(m)") }
        let indices = try tensor(from: indicesProto, baseDirectory: baseDirectory).tensor
        let dims = items(p.pointee.n_dims, p.pointee.dims).map { Int($0) }
        let nnz = values.count
        guard values.dataType != .string, indices.dataType == .int64 else { throw fail("needs numeric values and int64 indices") }
        guard let count = checkedElementCount(dims), count * values.dataType.byteSize <= 1 << 32 else {
            throw fail("invalid dims \(dims) (negative, or too large to make dense)")
        }
        let rank = indices.shape == [nnz] ? 1 : dims.count
        guard values.rank == 1, indices.shape == [nnz] || indices.shape == [nnz, dims.count] else {
            throw fail("values \(values.shape) and indices \(indices.shape) do not match dims \(dims)")
        }
        let strides = rank == 1 ? [1] : contiguousStrides(dims)
        let bounds = rank == 1 ? [count] : dims
        let index = indices.ints()
        do { try StorageCache.checkMappable(byteCount: count * values.dataType.byteSize) } catch { throw fail("dims \(dims): \(error)") }
        let dense = Tensor(zeros: values.dataType, shape: dims)
        let size = values.dataType.byteSize
        for k in 0..<nnz {
            var linear = 0
            for axis in 0..<rank {
                let i = index[k * rank + axis]
                guard i >= 0 && i < bounds[axis] else { throw fail("index \(i) out of range on axis \(axis)") }
                linear += i * strides[axis]
            }
            memcpy(dense.storage.pointer + linear * size, values.storage.pointer + k * size, size)
        }
        return (name, dense)
    }

    /// A TensorProto for `t` in `arena`: raw_data pointing at the tensor's storage, or
    /// string_data for strings.
    static func tensorProto(_ t: Tensor, name: String, arena: CArena) -> UnsafeMutablePointer<Onnx__TensorProto> {
        let p = arena.message(onnx__tensor_proto__init)
        p.pointee.name = arena.optionalString(name)
        (p.pointee.n_dims, p.pointee.dims) = arena.array(t.shape.map { Int64($0) })
        p.pointee.has_data_type = 1
        p.pointee.data_type = t.dataType.rawValue
        if t.dataType == .string {
            (p.pointee.n_string_data, p.pointee.string_data) = arena.array(t.storage.strings.map { arena.bytes(Array($0.utf8)) })
        } else {
            p.pointee.has_raw_data = 1
            p.pointee.raw_data = arena.bytes(of: t)
        }
        return p
    }
}

/// Packs a protobuf-c message into bytes with its generated size and pack functions.
func pack<T>(_ message: UnsafePointer<T>, _ size: (UnsafePointer<T>?) -> Int,
             _ pack: (UnsafePointer<T>?, UnsafeMutablePointer<UInt8>?) -> Int) -> [UInt8] {
    let n = size(message)
    return [UInt8](unsafeUninitializedCapacity: max(n, 1)) { buffer, count in count = pack(message, buffer.baseAddress) }
}
