/// Shape rules of the elementwise ops whose output type is not simply input 0's.
extension ShapeRules {
    /// Input 0's shape with element type `type` (IsNaN, IsInf).
    public static func sameShape(as type: DataType) -> ShapeRule {
        { ctx in [ctx.input(0).map { .tensor(type, shape: $0.shape) }] }
    }

    /// Cast: input 0's shape, the element type of attribute `to`.
    public static let cast: ShapeRule = { ctx in
        guard let raw = try ctx.node.int("to"), let to = Int32(exactly: raw).flatMap(DataType.init(rawValue:)) else {
            return [nil]
        }
        return [ctx.input(0).map { .tensor(to, shape: $0.shape) }]
    }

    /// CastLike: input 0's shape, input 1's element type.
    public static let castLike: ShapeRule = { ctx in
        guard let to = ctx.input(1)?.elementType else { return [nil] }
        return [ctx.input(0).map { .tensor(to, shape: $0.shape) }]
    }

    /// Where: the broadcast of all three shapes, X's element type.
    public static let `where`: ShapeRule = { ctx in
        guard let type = ctx.input(1)?.elementType ?? ctx.input(2)?.elementType else { return [nil] }
        let shapes = (0..<3).compactMap { ctx.input($0)?.shape }
        guard shapes.count == 3 else { return [.tensor(type, shape: nil)] }
        return [.tensor(type, shape: try broadcastDims(shapes, ctx))]
    }

    /// QuantizeLinear: X's shape, the zero point's element type, else output_dtype's, else uint8.
    public static let quantizeLinear: ShapeRule = { ctx in
        let declared = try ctx.node.int("output_dtype", default: 0)
        guard let type = ctx.input(2)?.elementType ?? (declared == 0 ? .uint8 : Int32(exactly: declared).flatMap(DataType.init(rawValue:))) else {
            return [nil]
        }
        return [ctx.input(0).map { .tensor(type, shape: $0.shape) }]
    }

    /// DequantizeLinear: X's shape, output_dtype's element type, else the scale's.
    public static let dequantizeLinear: ShapeRule = { ctx in
        let declared = try ctx.node.int("output_dtype", default: 0)
        guard let type = declared == 0 ? ctx.input(1)?.elementType : Int32(exactly: declared).flatMap(DataType.init(rawValue:)) else {
            return [nil]
        }
        return [ctx.input(0).map { .tensor(type, shape: $0.shape) }]
    }

    /// DynamicQuantizeLinear: Y (uint8, X's shape), then the scalar float32 scale and uint8 zero point.
    public static let dynamicQuantizeLinear: ShapeRule = { ctx in
        [ctx.input(0).map { .tensor(.uint8, shape: $0.shape) }, .tensor(.float, shape: []), .tensor(.uint8, shape: [])]
    }
}
