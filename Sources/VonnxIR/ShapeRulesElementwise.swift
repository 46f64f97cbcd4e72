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
}
