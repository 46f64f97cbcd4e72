/// Dispatches generic code on a runtime element type: a kernel writes its loop once as a
/// generic `callAsFunction<T>` and `dataType.visit(...)` calls it with the Swift type.
public protocol ElementVisitor {
    /// What a visit returns.
    associatedtype Output
    /// The generic body, called with the Swift type of the element type visited.
    func callAsFunction<T: NumericElement>(_ type: T.Type) throws -> Output
}

extension DataType {
    /// Calls `visitor` with this element type's Swift type; strings and bfloat16 are refused.
    @inlinable public func visit<V: ElementVisitor>(_ visitor: V) throws -> V.Output {
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
        case .bool: try visitor(Bool.self)
        case .string, .bfloat16: throw VonnxError.invalidArgument("element type \(self) is not supported here")
        }
    }
}
