import Synchronization

/// Contiguous, row-major memory owned by one or more tensors. A kernel writes into storage
/// only while it is the sole owner (right after allocating it); after that it is read-only,
/// which is what makes sharing it across threads safe.
public final class TensorStorage: @unchecked Sendable {
    /// The first byte (64-byte aligned unless the memory is the caller's, see `init(wrapping:byteCount:deallocator:)`).
    public let pointer: UnsafeMutableRawPointer
    /// The bytes at `pointer` (0 for strings).
    public let byteCount: Int
    /// The elements of a string tensor (its raw memory is empty).
    public let strings: [String]
    /// Gives the caller's memory back; nil when `StorageCache` allocated it.
    private let deallocator: (@Sendable () -> Void)?

    /// Zero-filled storage of `byteCount` bytes, 64-byte aligned.
    public init(byteCount: Int) {
        self.byteCount = byteCount
        pointer = StorageCache.allocate(byteCount: byteCount)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
        strings = []
        deallocator = nil
    }

    /// Storage of `byteCount` bytes, 64-byte aligned, left uninitialized: for kernels that
    /// write every element before anything reads it.
    public init(uninitializedByteCount byteCount: Int) {
        self.byteCount = byteCount
        pointer = StorageCache.allocate(byteCount: byteCount)
        strings = []
        deallocator = nil
    }

    /// Storage holding `strings` out of line.
    public init(strings: [String]) {
        byteCount = 0
        pointer = .allocate(byteCount: 1, alignment: 64)
        self.strings = strings
        deallocator = nil
    }

    /// The caller's `byteCount` bytes at `pointer`, not copied: they must stay valid and
    /// unchanged until `deallocator` is called, when the last tensor over them is gone.
    /// Nothing in Vonnx writes to them.
    public init(wrapping pointer: UnsafeRawPointer, byteCount: Int, deallocator: @escaping @Sendable () -> Void) {
        self.pointer = UnsafeMutableRawPointer(mutating: pointer)
        self.byteCount = byteCount
        strings = []
        self.deallocator = deallocator
    }

    deinit {
        if let deallocator { deallocator() } else { StorageCache.release(pointer, byteCount: strings.isEmpty ? byteCount : 0) }
    }

    /// What a derived value is: the transform's kind and the element type and shape it was
    /// made from. A struct, not a string: kernels ask for their weights' derived values on
    /// every run, and formatting the shape into a string took 2–3% of a small model's run.
    fileprivate struct DerivedKey: Hashable {
        let kind: String
        let dataType: DataType
        let shape: [Int]
    }

    /// Transforms of these read-only bytes that kernels made once (packed GEMM panels,
    /// Winograd filters), by key; they are freed with the storage. Guarded by `derivedLock`.
    nonisolated(unsafe) private var derived: [DerivedKey: Tensor] = [:]
    private static let derivedLock = Mutex(())

    /// The value under `key`, made by `make` on the first call; `make` must not ask for
    /// another derived value (one lock guards them all).
    fileprivate func derived(_ key: DerivedKey, make: () -> Tensor) -> Tensor {
        Self.derivedLock.withLock { _ in
            if let v = derived[key] { return v }
            let v = StorageCache.lasting(make)
            derived[key] = v
            return v
        }
    }
}

extension Tensor {
    /// The `kind` transform of this tensor as read-only weights (packed for a kernel, say),
    /// made by `make` on first use and kept with the storage: it lives exactly as long as the
    /// weights and is shared by every session holding them. `make` must not ask for another
    /// derived value.
    public func derived(_ kind: String, make: () -> Tensor) -> Tensor {
        storage.derived(.init(kind: kind, dataType: dataType, shape: shape), make: make)
    }
}

/// An n-dimensional array: element type, shape and contiguous row-major storage.
public struct Tensor: Sendable {
    /// The element type.
    public let dataType: DataType
    /// The length of each axis, outermost first (`[]` for a scalar).
    public let shape: [Int]
    /// The memory holding the elements, shared by copies and views of this tensor.
    public let storage: TensorStorage

    /// Number of elements (1 for a scalar).
    @inlinable public var count: Int { shape.reduce(1, *) }
    /// Number of axes.
    @inlinable public var rank: Int { shape.count }

    /// A zero-filled tensor.
    public init(zeros dataType: DataType, shape: [Int]) {
        precondition(dataType != .string, "use init(shape:scalars:) with [String]")
        self.dataType = dataType
        self.shape = shape
        storage = TensorStorage(byteCount: shape.reduce(1, *) * dataType.byteSize)
    }

    /// A tensor whose elements are uninitialized; the caller writes all of them before any read.
    public init(uninitialized dataType: DataType, shape: [Int]) {
        precondition(dataType != .string, "use init(shape:scalars:) with [String]")
        self.dataType = dataType
        self.shape = shape
        storage = TensorStorage(uninitializedByteCount: shape.reduce(1, *) * dataType.byteSize)
    }

    /// A tensor over existing storage (a view with another shape, for example).
    @inlinable public init(dataType: DataType, shape: [Int], storage: TensorStorage) {
        self.dataType = dataType
        self.shape = shape
        self.storage = storage
    }

    /// A tensor of `scalars` (copied), row-major: `Tensor(shape: [2], scalars: [7, 9] as [Int64])`.
    /// The element type is `T`'s (`Float` makes float32). Precondition: `shape` holds
    /// `scalars.count` elements.
    public init<T: TensorElement>(shape: [Int], scalars: [T]) {
        precondition(checkedElementCount(shape, limit: .max) == scalars.count, "shape \(shape) does not hold \(scalars.count) elements")
        self.init(zeros: T.dataType, shape: shape)
        scalars.withUnsafeBytes { if let base = $0.baseAddress { storage.pointer.copyMemory(from: base, byteCount: $0.count) } }
    }

    /// A string tensor. Precondition: `shape` holds `scalars.count` elements.
    public init(shape: [Int], scalars: [String]) {
        self.init(strings: scalars, shape: shape)
    }

    /// A string tensor (kernels' spelling of `init(shape:scalars:)`).
    package init(strings: [String], shape: [Int]) {
        precondition(checkedElementCount(shape, limit: .max) == strings.count, "shape \(shape) does not hold \(strings.count) elements")
        dataType = .string
        self.shape = shape
        storage = TensorStorage(strings: strings)
    }

    /// A tensor over the caller's memory, not copied (zero-copy input):
    /// `try Tensor(shape: [1, 3, 224, 224], wrapping: UnsafeBufferPointer(pixels)) { $0.deallocate() }`.
    /// `buffer` must stay valid and unchanged until `deallocator` is called with it, which
    /// happens once no tensor uses it: not only this one and its copies, but also a run's
    /// outputs that share it (Identity, Reshape, Squeeze and other views return their input's
    /// memory), and not before a run given it returns. Vonnx never writes to it. Pass `{ _ in }`
    /// to keep the memory yours and outlive every such tensor yourself. Throws
    /// `invalidArgument` when `shape` does not hold `buffer.count` elements; the memory stays
    /// the caller's then.
    public init<T: TensorElement>(shape: [Int], wrapping buffer: UnsafeBufferPointer<T>,
                                  deallocator: @escaping @Sendable (UnsafeBufferPointer<T>) -> Void) throws {
        guard checkedElementCount(shape, limit: .max) == buffer.count else {
            throw VonnxError.invalidArgument("shape \(shape) does not hold the \(buffer.count) elements of the wrapped buffer")
        }
        guard let base = buffer.baseAddress else {
            deallocator(buffer)
            self.init(zeros: T.dataType, shape: shape)
            return
        }
        let (address, count) = (UInt(bitPattern: base), buffer.count)
        self.init(dataType: T.dataType, shape: shape, storage: TensorStorage(
            wrapping: base, byteCount: count * MemoryLayout<T>.stride,
            deallocator: { deallocator(UnsafeBufferPointer(start: UnsafePointer(bitPattern: address), count: count)) }))
    }

    /// A scalar (rank-0) tensor.
    public init<T: TensorElement>(scalar: T) { self.init(shape: [], scalars: [scalar]) }

    /// The same elements under another shape with as many elements.
    @inlinable public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count)
        return Tensor(dataType: dataType, shape: newShape, storage: storage)
    }

    /// Calls `body` with the elements in place (no copy), valid only during the call.
    /// Precondition: `T` is the element type (or `UInt16` for any 2-byte one); check `dataType` first.
    @inlinable public func withUnsafeBufferPointer<T: TensorElement, R>(as: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(T.dataType == dataType || (T.self == UInt16.self && dataType.byteSize == 2),
                     "tensor is \(dataType), read as \(T.dataType)")
        return try body(UnsafeBufferPointer(start: storage.pointer.assumingMemoryBound(to: T.self), count: count))
    }

    /// Mutable access; only for a tensor whose storage the caller has just allocated.
    @inlinable public func withUnsafeMutableBufferPointer<T: TensorElement, R>(as: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(T.dataType == dataType || (T.self == UInt16.self && dataType.byteSize == 2),
                     "tensor is \(dataType), written as \(T.dataType)")
        return try body(UnsafeMutableBufferPointer(start: storage.pointer.assumingMemoryBound(to: T.self), count: count))
    }

    /// The elements as an array (copied), read as `T`: `try y.scalars(as: Int64.self)`. Throws
    /// `invalidArgument` naming the tensor's element type when `T` is not it (`Float` reads
    /// float32, `Double` float64, `String` string...). `withUnsafeBufferPointer(as:_:)` reads
    /// without copying.
    public func scalars<T: TensorScalar>(as type: T.Type) throws -> [T] {
        guard T.dataType == dataType else {
            throw VonnxError.invalidArgument("the tensor is \(dataType)\(shape), not \(T.dataType) (\(T.self))")
        }
        if dataType == .string, let strings = storage.strings as? [T] { return strings }
        return Array(UnsafeBufferPointer(start: storage.pointer.assumingMemoryBound(to: T.self), count: count))
    }

    /// The elements as an array, unchecked: for code that knows the element type (kernels,
    /// after shape inference). Traps when `T` is not it; the public overload above throws.
    @inlinable package func scalars<T: TensorElement>(as type: T.Type) -> [T] {
        withUnsafeBufferPointer(as: type) { Array($0) }
    }

    /// Any numeric tensor's elements as Double (for shape arithmetic and comparisons).
    public func doubles() -> [Double] {
        switch dataType {
        case .float: scalars(as: Float.self).map(Double.init)
        case .double: scalars(as: Double.self)
        case .float16: scalars(as: Float16.self).map { Double(Float($0)) }
        case .bfloat16: scalars(as: UInt16.self).map { Double(Float(bitPattern: UInt32($0) << 16)) }
        case .int8: scalars(as: Int8.self).map(Double.init)
        case .uint8: scalars(as: UInt8.self).map(Double.init)
        case .int16: scalars(as: Int16.self).map(Double.init)
        case .uint16: scalars(as: UInt16.self).map(Double.init)
        case .int32: scalars(as: Int32.self).map(Double.init)
        case .uint32: scalars(as: UInt32.self).map(Double.init)
        case .int64: scalars(as: Int64.self).map(Double.init)
        case .uint64: scalars(as: UInt64.self).map(Double.init)
        case .bool: scalars(as: Bool.self).map { $0 ? 1 : 0 }
        case .string: []
        }
    }

    /// An integer tensor's elements as Int (shapes, axes, indices). Floating-point elements are
    /// truncated, NaN becomes 0 and values past Int's range its nearest end (so a shape rule
    /// rejects them), never a trap.
    public func ints() -> [Int] {
        switch dataType {
        case .int64: scalars(as: Int64.self).map { Int($0) }
        case .int32: scalars(as: Int32.self).map { Int($0) }
        case .int8: scalars(as: Int8.self).map { Int($0) }
        case .uint8: scalars(as: UInt8.self).map { Int($0) }
        case .int16: scalars(as: Int16.self).map { Int($0) }
        case .uint16: scalars(as: UInt16.self).map { Int($0) }
        case .uint32: scalars(as: UInt32.self).map { Int($0) }
        case .uint64: scalars(as: UInt64.self).map { Int(truncatingIfNeeded: $0) }
        case .bool: scalars(as: Bool.self).map { $0 ? 1 : 0 }
        default: doubles().map { $0.isNaN ? 0 : $0 >= 0x1p63 ? .max : $0 < -0x1p63 ? .min : Int($0) }
        }
    }
}

extension Tensor: CustomStringConvertible {
    /// How many elements `description` shows.
    static let describedElements = 6

    /// The element type, shape and first few elements: `Tensor<float32>[2, 4] [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, …]`.
    public var description: String {
        let shown = min(count, Self.describedElements)
        let head = Tensor(dataType: dataType, shape: [shown], storage: storage)
        let values: [String] = switch dataType {
        case .string: storage.strings.prefix(shown).map { "\"\($0)\"" }
        case .bool: head.doubles().map { $0 != 0 ? "true" : "false" }
        case .double: head.doubles().map { "\($0)" }
        case .float, .float16, .bfloat16: head.doubles().map { "\(Float($0))" }
        case .uint64: head.scalars(as: UInt64.self).map { "\($0)" }
        default: head.ints().map { "\($0)" }
        }
        return "Tensor<\(dataType)>\(shape) [\((values + (count > shown ? ["…"] : [])).joined(separator: ", "))]"
    }
}

/// Row-major strides of a shape.
@inlinable public func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) { strides[i] = s; s *= shape[i] }
    return strides
}

/// The product of dims, or nil when a dim is negative or the product overflows `limit`.
public func checkedElementCount(_ dims: [Int], limit: Int = Int(Int32.max) * 64) -> Int? {
    var n = 1
    for d in dims {
        guard d >= 0 else { return nil }
        let (p, overflow) = n.multipliedReportingOverflow(by: d)
        guard !overflow, p <= limit else { return nil }
        n = p
    }
    return n
}

/// The bfloat16 bit pattern nearest to `value` (ties to even); a NaN stays a quiet NaN of its sign.
public func bfloat16Bits(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
    return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
}

extension Tensor {
    /// A tensor of `type` holding `values`, each converted as `NumericElement.init(fromDouble:)`
    /// does (bfloat16: through float32, by `bfloat16Bits`). Throws for strings. Precondition:
    /// `shape` holds `values.count` elements.
    public init(_ type: DataType, shape: [Int], converting values: [Double]) throws {
        struct Make: ElementVisitor {
            let shape: [Int], values: [Double]
            func callAsFunction<T: NumericElement>(_: T.Type) -> Tensor { Tensor(shape: shape, scalars: values.map { T(fromDouble: $0) }) }
        }
        switch type {
        case .bfloat16:
            let bits = Tensor(shape: shape, scalars: values.map { bfloat16Bits(Float($0)) })
            self.init(dataType: .bfloat16, shape: shape, storage: bits.storage)
        case .string: throw VonnxError.invalidArgument("cannot make string elements from numbers")
        default: self = try type.visit(Make(shape: shape, values: values))
        }
    }
}
