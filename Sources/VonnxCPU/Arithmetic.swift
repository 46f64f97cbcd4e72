import VonnxIR

/// Element types with the four arithmetic operations. Integer forms wrap on overflow and
/// give 0 on division by zero, so bad data never traps.
public protocol ArithmeticElement: NumericElement {
    static func add(_ a: Self, _ b: Self) -> Self
    static func sub(_ a: Self, _ b: Self) -> Self
    static func mul(_ a: Self, _ b: Self) -> Self
    static func div(_ a: Self, _ b: Self) -> Self
}

extension ArithmeticElement where Self: FloatingPoint {
    @inline(__always) public static func add(_ a: Self, _ b: Self) -> Self { a + b }
    @inline(__always) public static func sub(_ a: Self, _ b: Self) -> Self { a - b }
    @inline(__always) public static func mul(_ a: Self, _ b: Self) -> Self { a * b }
    @inline(__always) public static func div(_ a: Self, _ b: Self) -> Self { a / b }
}

extension ArithmeticElement where Self: FixedWidthInteger {
    @inline(__always) public static func add(_ a: Self, _ b: Self) -> Self { a &+ b }
    @inline(__always) public static func sub(_ a: Self, _ b: Self) -> Self { a &- b }
    @inline(__always) public static func mul(_ a: Self, _ b: Self) -> Self { a &* b }
    @inline(__always) public static func div(_ a: Self, _ b: Self) -> Self {
        b == 0 ? 0 : a.dividedReportingOverflow(by: b).partialValue
    }
}

extension Float: ArithmeticElement {}
extension Double: ArithmeticElement {}
extension Float16: ArithmeticElement {}
extension Int8: ArithmeticElement {}
extension UInt8: ArithmeticElement {}
extension Int16: ArithmeticElement {}
extension UInt16: ArithmeticElement {}
extension Int32: ArithmeticElement {}
extension UInt32: ArithmeticElement {}
extension Int64: ArithmeticElement {}
extension UInt64: ArithmeticElement {}

/// Like `ElementVisitor`, for kernels that need arithmetic (every numeric type but bool).
public protocol ArithmeticVisitor {
    associatedtype Output
    func callAsFunction<T: ArithmeticElement>(_ type: T.Type) throws -> Output
}

extension DataType {
    public func visitArithmetic<V: ArithmeticVisitor>(_ visitor: V) throws -> V.Output {
        switch self {
        case .float: try visitor(Float.self)
        case .double: try visitor(Double.self)
        case .float16: try visitor(Float16.self)
        case .int8: try visitor(Int8.self)
        case .uint8: try visitor(UInt8.self)
        case .int16: try visitor(Int16.self)
        case .uint16: try visitor(UInt16.self)
        case .int32: try visitor(Int32.self)
        case .uint32: try visitor(UInt32.self)
        case .int64: try visitor(Int64.self)
        case .uint64: try visitor(UInt64.self)
        case .bool, .string, .bfloat16: throw VonnxError.invalidArgument("element type \(self) has no arithmetic")
        }
    }
}
