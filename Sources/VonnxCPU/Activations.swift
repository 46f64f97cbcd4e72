import VonnxIR

/// Float-only activations, computed in the element type (or via Double for float16).
struct FloatUnary: ElementVisitor {
    let x: Tensor, ctx: KernelContext, f: @Sendable (Double) -> Double, ff: @Sendable (Float) -> Float
    func callAsFunction<T: NumericElement>(_: T.Type) throws -> Tensor {
        if T.self == Float.self { return mapElements(x, ctx, ff) }
        guard T.dataType.isFloatingPoint else { throw ctx.error("expects a floating-point input, got \(T.dataType)") }
        return mapElements(x, ctx) { (v: T) -> T in T(fromDouble: f(v.asDouble)) }
    }
}

/// A kernel applying one float function elementwise; `ff` is the float32 fast path.
func floatUnaryKernel(_ f: @escaping @Sendable (Double) -> Double, _ ff: @escaping @Sendable (Float) -> Float) -> CPUKernel {
    { ctx in
        let x = try ctx.input(0)
        return [try x.dataType.visit(FloatUnary(x: x, ctx: ctx, f: f, ff: ff))]
    }
}

extension CPUKernels {
    public static let relu: CPUKernel = { ctx in
        let x = try ctx.input(0)
        struct Relu: ElementVisitor {
            let x: Tensor, ctx: KernelContext
            func callAsFunction<T: NumericElement>(_: T.Type) throws -> Tensor {
                mapElements(x, ctx) { (v: T) -> T in v < T.zero ? T.zero : v }
            }
        }
        return [try x.dataType.visit(Relu(x: x, ctx: ctx))]
    }
}
