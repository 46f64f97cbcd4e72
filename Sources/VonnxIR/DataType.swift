/// ONNX element types (TensorProto.DataType), with the same raw values.
public enum DataType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// float32 (Swift `Float`) and the integer types of 8 to 64 bits.
    case float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7
    /// Strings, bool, float16 (`Float16`), float64 (`Double`) and unsigned 32- and 64-bit integers.
    case string = 8, bool = 9, float16 = 10, double = 11, uint32 = 12, uint64 = 13
    /// bfloat16 (kept as bits; no Swift scalar type).
    case bfloat16 = 16

    /// Bytes per element; strings are stored out of line and report 0.
    public var byteSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16, .float16, .bfloat16: 2
        case .float, .int32, .uint32: 4
        case .int64, .double, .uint64: 8
        case .string: 0
        }
    }

    /// float32, float64, float16 or bfloat16.
    public var isFloatingPoint: Bool { self == .float || self == .double || self == .float16 || self == .bfloat16 }
    /// A signed or unsigned integer type (not bool).
    public var isInteger: Bool { !isFloatingPoint && self != .bool && self != .string }

    public var description: String {
        switch self {
        case .float: "float32"
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .string: "string"
        case .bool: "bool"
        case .float16: "float16"
        case .double: "float64"
        case .uint32: "uint32"
        case .uint64: "uint64"
        case .bfloat16: "bfloat16"
        }
    }
}

/// A Swift type a `Tensor`'s elements can be built from and read as: `Float` (float32),
/// `Double` (float64), `Float16`, `Int8`…`Int64`, `UInt8`…`UInt64`, `Bool` and `String`.
public protocol TensorScalar: Sendable {
    /// The ONNX element type this Swift type stands for.
    static var dataType: DataType { get }
}

/// A `TensorScalar` stored inline, `MemoryLayout<Self>.size` bytes an element: every one but `String`.
public protocol TensorElement: TensorScalar {
    /// The element whose bytes are all zero.
    static var zero: Self { get }
}

extension String: TensorScalar {
    /// `.string`.
    public static var dataType: DataType { .string }
}

/// Elements that convert to and from Double, so generic kernels can compute in one place.
public protocol NumericElement: TensorElement, Comparable {
    /// The element nearest `value`: rounded for floats; integers truncate toward zero and
    /// saturate (NaN is 0); bool is `value != 0`.
    init(fromDouble value: Double)
    /// The element as a Double (bool as 0 or 1).
    var asDouble: Double { get }
}

extension Float: NumericElement {
    @inlinable public static var dataType: DataType { .float }
    @inlinable public init(fromDouble value: Double) { self = Float(value) }
    @inlinable public var asDouble: Double { Double(self) }
}
extension Double: NumericElement {
    @inlinable public static var dataType: DataType { .double }
    @inlinable public init(fromDouble value: Double) { self = value }
    @inlinable public var asDouble: Double { self }
}
extension Float16: NumericElement {
    @inlinable public static var dataType: DataType { .float16 }
    @inlinable public init(fromDouble value: Double) { self = Float16(Float(value)) }
    @inlinable public var asDouble: Double { Double(Float(self)) }
}

/// Integer conversion from Double truncates toward zero and saturates (NaN becomes 0).
@inlinable func saturating<I: FixedWidthInteger>(_ value: Double) -> I {
    if value.isNaN { return 0 }
    if value <= Double(I.min) { return I.min }
    if value >= Double(I.max) { return I.max }
    return I(value)
}

extension Int8: NumericElement {
    @inlinable public static var dataType: DataType { .int8 }
    @inlinable public init(fromDouble value: Double) { self = saturating(value) }
    @inlinable public var asDouble: Double { Double(self) }
}
extension UInt8: NumericElement {
    @inlinable public static var dataType: DataType { .uint8 }
    @inlinable public init(fromDouble value: Double) { self = saturating(value) }
    @inlinable public var asDouble: Double { Double(self) }
}
extension Int16: NumericElement {
    @inlinable public static var dataType: DataType { .int16 }
    @inlinable public init(fromDouble value: Double) { self = saturating(value) }
    @inlinable public var asDouble: Double { Double(self) }
}
extension UInt16: NumericElement {
    @inlinable public static var dataType: DataType { .uint16 }
    @inlinable public init(fromDouble value: Double) { self = saturating(value) }
    @inlinable public var asDouble: Double { Double(self) }
}
extension Int32: NumericElement {
    @inlinable public static var dataType: DataType { .int32 }
    @inlinable public init(fromDouble value: Double) { self = saturating(value) }
    @inlinable public var asDouble: Double { Double(self) }
}
extension UInt32: NumericElement {
    @inlinable public static var dataType: DataType { .uint32 }
    @inlinable public init(fromDouble value: Double) { self = saturating(value) }
    @inlinable public var asDouble: Double { Double(self) }
}
extension Int64: NumericElement {
    @inlinable public static var dataType: DataType { .int64 }
    @inlinable public init(fromDouble value: Double) { self = saturating(value) }
    @inlinable public var asDouble: Double { Double(self) }
}
extension UInt64: NumericElement {
    @inlinable public static var dataType: DataType { .uint64 }
    @inlinable public init(fromDouble value: Double) { self = saturating(value) }
    @inlinable public var asDouble: Double { Double(self) }
}
extension Bool: @retroactive Comparable {
    /// false < true, as in ONNX's comparisons of bool tensors.
    @inlinable public static func < (lhs: Bool, rhs: Bool) -> Bool { !lhs && rhs }
}
extension Bool: NumericElement {
    @inlinable public static var dataType: DataType { .bool }
    @inlinable public static var zero: Bool { false }
    @inlinable public init(fromDouble value: Double) { self = value != 0 }
    @inlinable public var asDouble: Double { self ? 1 : 0 }
}
