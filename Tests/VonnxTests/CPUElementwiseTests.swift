import Glibc
import Testing
@testable import VonnxCPU
import VonnxIR

/// Runs `kernel` on `inputs` as a node of `op` with `attributes`.
private func run(_ kernel: CPUKernel, _ op: String, _ inputs: [Tensor?], _ attributes: [String: Attribute] = [:],
                 opset: Int = 17) throws -> Tensor {
    let node = Node(name: "n", opType: op, inputs: inputs.indices.map { "x\($0)" }, outputs: ["y"], attributes: attributes)
    return try kernel(KernelContext(node: node, inputs: inputs, opset: opset, pool: ThreadPool(threads: 2)))[0]
}

private func f32(_ shape: [Int], _ v: [Float]) -> Tensor { Tensor(shape: shape, scalars: v) }

@Test func addBroadcastsAndCoalesces() throws {
    let a = f32([2, 3, 2], (0..<12).map(Float.init))
    let b = f32([3, 1], [10, 20, 30])
    let y = try run(CPUKernels.add, "Add", [a, b])
    #expect(y.shape == [2, 3, 2])
    #expect(y.scalars(as: Float.self) == [10, 11, 22, 23, 34, 35, 16, 17, 28, 29, 40, 41])
    let s = try run(CPUKernels.mul, "Mul", [Tensor(scalar: Float(2)), a])
    #expect(s.scalars(as: Float.self) == (0..<12).map { Float($0 * 2) })
}

/// Float Add/Sub/Mul/Div over the broadcasts models write (a per-channel scale [N, C, 1, 1] on
/// either side, one over [1, C, 1, 1] with N > 1, a row, a scalar, equal shapes, both operands
/// broadcast) give what one operation a element in a plain loop gives, at odd sizes whose runs
/// end in vector tails, on fresh random inputs.
@Test func floatArithmeticBroadcastsMatchPlainLoop() throws {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    let ops: [(CPUKernel, String, (Float, Float) -> Float)] = [
        (CPUKernels.add, "Add", { $0 + $1 }), (CPUKernels.sub, "Sub", { $0 - $1 }),
        (CPUKernels.mul, "Mul", { $0 * $1 }), (CPUKernels.div, "Div", { $0 / $1 })]
    let shapes: [([Int], [Int])] = [([2, 37, 13, 11], [2, 37, 1, 1]), ([1, 5, 1, 1], [1, 5, 7, 3]),
                                    ([3, 37, 5, 9], [1, 37, 1, 1]), ([4, 17], [17]), ([19], []),
                                    ([2, 3, 29], [2, 3, 29]), ([6, 1, 7], [1, 5, 1]), ([1, 96, 23, 23], [1, 96, 1, 1])]
    for (sa, sb) in shapes {
        let a = rng.floats(sa), b = rng.floats(sb, 0.5...2)
        let shape = broadcastShape([sa, sb])!
        let (stridesA, stridesB) = (broadcastStrides(sa, to: shape), broadcastStrides(sb, to: shape))
        let (va, vb) = (a.scalars(as: Float.self), b.scalars(as: Float.self))
        for (kernel, name, op) in ops {
            let expected = (0..<shape.reduce(1, *)).map { flat -> Float in
                var rest = flat, ia = 0, ib = 0
                for axis in shape.indices.reversed() {
                    let i = rest % shape[axis]; rest /= shape[axis]
                    ia += i * stridesA[axis]; ib += i * stridesB[axis]
                }
                return op(va[ia], vb[ib])
            }
            let y = try run(kernel, name, [a, b])
            #expect(y.shape == shape && y.scalars(as: Float.self) == expected, "\(name) \(sa) \(sb), seed \(seed)")
        }
    }
}

@Test func largeFloatAddSplitsAcrossThreads() throws {
    let n = 100_000
    let a = f32([n], (0..<n).map(Float.init)), b = f32([1, n], [Float](repeating: 1, count: n))
    let y = try run(CPUKernels.add, "Add", [a, b])
    #expect(y.shape == [1, n])
    #expect(y.scalars(as: Float.self) == (0..<n).map { Float($0 + 1) })
}

@Test func integerArithmeticAllTypes() throws {
    let a = Tensor(shape: [4], scalars: [7, -7, 100, -128] as [Int8]), b = Tensor(shape: [4], scalars: [2, 2, 0, -1] as [Int8])
    #expect(try run(CPUKernels.div, "Div", [a, b]).scalars(as: Int8.self) == [3, -3, 0, -128])
    #expect(try run(CPUKernels.add, "Add", [a, b]).scalars(as: Int8.self) == [9, -5, 100, 127])
    let u = Tensor(shape: [2], scalars: [250, 3] as [UInt8]), v = Tensor(shape: [2], scalars: [10, 5] as [UInt8])
    #expect(try run(CPUKernels.add, "Add", [u, v]).scalars(as: UInt8.self) == [4, 8])
    #expect(try run(CPUKernels.sub, "Sub", [u, v]).scalars(as: UInt8.self) == [240, 254])
    for t: DataType in [.uint16, .int16, .uint32, .uint64, .int32, .int64] {
        let x = try Conversion.cast(Tensor(shape: [2], scalars: [6, 9] as [Int64]), to: t, ctxFor("Cast"))
        let y = try run(CPUKernels.mul, "Mul", [x, x])
        #expect(y.dataType == t && y.ints() == [36, 81])
    }
    #expect(throws: VonnxError.self) { try run(CPUKernels.add, "Add", [a, u]) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.add, "Add", [f32([2], [1, 2]), f32([3], [1, 2, 3])]) }
}

private func ctxFor(_ op: String) -> KernelContext {
    KernelContext(node: Node(name: "n", opType: op, inputs: [], outputs: ["y"]), inputs: [], opset: 17, pool: ThreadPool(threads: 1))
}

@Test func modSignFollowsDivisorUnlessFmod() throws {
    let a = Tensor(shape: [4], scalars: [-4, 7, 5, 3] as [Int32]), b = Tensor(shape: [4], scalars: [3, -3, 0, 2] as [Int32])
    #expect(try run(CPUKernels.mod, "Mod", [a, b]).scalars(as: Int32.self) == [2, -2, 0, 1])
    #expect(try run(CPUKernels.mod, "Mod", [a, b], ["fmod": .int(1)]).scalars(as: Int32.self) == [-1, 1, 0, 1])
    let x = f32([2], [-4.5, 7]), y = f32([2], [2, -3])
    #expect(try run(CPUKernels.mod, "Mod", [x, y], ["fmod": .int(1)]).scalars(as: Float.self) == [-0.5, 1])
}

@Test func powMixedTypes() throws {
    let base = f32([3], [2, 3, 4]), e64 = Tensor(shape: [3], scalars: [2, 0, -1] as [Int64])
    #expect(try run(CPUKernels.powOp, "Pow", [base, e64]).scalars(as: Float.self) == [4, 1, 0.25])
    let ib = Tensor(shape: [3], scalars: [3, -2, 5] as [Int64])
    #expect(try run(CPUKernels.powOp, "Pow", [ib, e64]).scalars(as: Int64.self) == [9, 1, 0])
    #expect(try run(CPUKernels.powOp, "Pow", [ib, f32([1], [2])]).scalars(as: Int64.self) == [9, 4, 25])
}

@Test func bitwiseAndShifts() throws {
    let a = Tensor(shape: [3], scalars: [0b1100, 1, 255] as [UInt8]), b = Tensor(shape: [3], scalars: [0b1010, 9, 1] as [UInt8])
    #expect(try run(CPUKernels.bitwiseAnd, "BitwiseAnd", [a, b]).scalars(as: UInt8.self) == [0b1000, 1, 1])
    #expect(try run(CPUKernels.bitwiseXor, "BitwiseXor", [a, b]).scalars(as: UInt8.self) == [0b0110, 8, 254])
    #expect(try run(CPUKernels.bitwiseNot, "BitwiseNot", [a]).scalars(as: UInt8.self) == [0b11110011, 254, 0])
    let left = try run(CPUKernels.bitShift, "BitShift", [a, b], ["direction": .string(Array("LEFT".utf8))])
    #expect(left.scalars(as: UInt8.self) == [0, 0, 254])
    #expect(throws: VonnxError.self) { try run(CPUKernels.bitShift, "BitShift", [a, b]) }
    #expect(throws: VonnxError.self) { try run(CPUKernels.bitwiseAnd, "BitwiseAnd", [f32([1], [1]), f32([1], [1])]) }
}

@Test func comparisonsAndLogic() throws {
    let a = f32([3], [1, .nan, 3]), b = f32([1], [2])
    #expect(try run(CPUKernels.less, "Less", [a, b]).scalars(as: Bool.self) == [true, false, false])
    #expect(try run(CPUKernels.greaterOrEqual, "GreaterOrEqual", [a, b]).scalars(as: Bool.self) == [false, false, true])
    let s = try run(CPUKernels.equal, "Equal", [Tensor(strings: ["a", "b"], shape: [2]), Tensor(strings: ["b"], shape: [1])])
    #expect(s.scalars(as: Bool.self) == [false, true])
    let p = Tensor(shape: [2, 1], scalars: [true, false]), q = Tensor(shape: [2], scalars: [true, false])
    #expect(try run(CPUKernels.xor, "Xor", [p, q]).scalars(as: Bool.self) == [false, true, true, false])
    #expect(try run(CPUKernels.not, "Not", [q]).scalars(as: Bool.self) == [false, true])
}

@Test func whereBroadcastsThreeWays() throws {
    let c = Tensor(shape: [2, 1], scalars: [true, false])
    let y = try run(CPUKernels.where, "Where", [c, f32([1, 3], [1, 2, 3]), f32([1], [0])])
    #expect(y.shape == [2, 3] && y.scalars(as: Float.self) == [1, 2, 3, 0, 0, 0])
    let s = try run(CPUKernels.where, "Where", [c, Tensor(strings: ["x"], shape: []), Tensor(strings: ["y"], shape: [])])
    #expect(s.storage.strings == ["x", "y"])
}

@Test func variadicMinMaxMeanSum() throws {
    let a = f32([2], [1, 5]), b = f32([2, 1], [3, .nan]), c = f32([1], [2])
    let mx = try run(CPUKernels.maxOp, "Max", [a, b, c]).scalars(as: Float.self)
    #expect(mx[0] == 3 && mx[1] == 5 && mx[2].isNaN && mx[3].isNaN)
    #expect(try run(CPUKernels.sum, "Sum", [a, c]).scalars(as: Float.self) == [3, 7])
    #expect(try run(CPUKernels.mean, "Mean", [a, c]).scalars(as: Float.self) == [1.5, 3.5])
    let i = Tensor(shape: [2], scalars: [3, -1] as [Int16])
    #expect(try run(CPUKernels.minOp, "Min", [i, Tensor(shape: [1], scalars: [0] as [Int16])]).scalars(as: Int16.self) == [0, -1])
}

@Test func clipAttributesAndInputs() throws {
    let x = f32([4], [-2, 0.5, 3, .nan])
    let old = try run(CPUKernels.clip, "Clip", [x], ["min": .float(0), "max": .float(1)], opset: 6).scalars(as: Float.self)
    #expect(old[0..<3] == [0, 0.5, 1] && old[3].isNaN)
    let new = try run(CPUKernels.clip, "Clip", [x, nil, Tensor(scalar: Float(0))], opset: 13).scalars(as: Float.self)
    #expect(new[0..<3] == [-2, 0, 0])
    let i = Tensor(shape: [3], scalars: [-100, 5, 100] as [Int8])
    let ci = try run(CPUKernels.clip, "Clip", [i, Tensor(scalar: Int8(-10)), Tensor(scalar: Int8(10))], opset: 13)
    #expect(ci.scalars(as: Int8.self) == [-10, 5, 10])
    #expect(throws: VonnxError.self) { try run(CPUKernels.clip, "Clip", [x, f32([2], [0, 1])], opset: 13) }
}

@Test func unaryMath() throws {
    #expect(try run(CPUKernels.roundOp, "Round", [f32([4], [0.5, 1.5, 2.5, -2.5])]).scalars(as: Float.self) == [0, 2, 2, -2])
    #expect(try run(CPUKernels.absOp, "Abs", [Tensor(shape: [2], scalars: [-128, -3] as [Int8])]).scalars(as: Int8.self) == [-128, 3])
    #expect(try run(CPUKernels.sign, "Sign", [f32([3], [-2, 0, 7])]).scalars(as: Float.self) == [-1, 0, 1])
    #expect(try run(CPUKernels.neg, "Neg", [Tensor(shape: [1], scalars: [5] as [Int64])]).scalars(as: Int64.self) == [-5])
    let inf = f32([3], [.infinity, -.infinity, .nan])
    #expect(try run(CPUKernels.isInf, "IsInf", [inf], ["detect_positive": .int(0)]).scalars(as: Bool.self) == [false, true, false])
    #expect(try run(CPUKernels.isNaN, "IsNaN", [inf]).scalars(as: Bool.self) == [false, false, true])
    let e = try run(CPUKernels.expOp, "Exp", [Tensor(shape: [1], scalars: [1] as [Double])]).scalars(as: Double.self)
    #expect(Swift.abs(e[0] - 2.718281828459045) < 1e-12)
    #expect(throws: VonnxError.self) { try run(CPUKernels.sqrtOp, "Sqrt", [Tensor(shape: [1], scalars: [4] as [Int32])]) }
}

@Test func activations() throws {
    let x = f32([3], [-1, 0, 2])
    #expect(try run(CPUKernels.relu, "Relu", [x]).scalars(as: Float.self) == [0, 0, 2])
    #expect(try run(CPUKernels.leakyRelu, "LeakyRelu", [x], ["alpha": .float(0.5)]).scalars(as: Float.self) == [-0.5, 0, 2])
    #expect(try run(CPUKernels.thresholdedRelu, "ThresholdedRelu", [x]).scalars(as: Float.self) == [0, 0, 2])
    let p = try run(CPUKernels.prelu, "PRelu", [f32([2, 2], [-1, -1, 1, 1]), f32([2], [0.5, 2])])
    #expect(p.scalars(as: Float.self) == [-0.5, -2, 1, 1])
    let s = try run(CPUKernels.shrink, "Shrink", [Tensor(shape: [3], scalars: [-5, 0, 5] as [Int32])],
                    ["lambd": .float(1), "bias": .float(2)])
    #expect(s.scalars(as: Int32.self) == [-3, 0, 3])
    let g = try run(CPUKernels.gelu, "Gelu", [x], ["approximate": .string(Array("tanh".utf8))]).scalars(as: Float.self)
    #expect(Swift.abs(g[0] + 0.158808) < 1e-5 && Swift.abs(g[2] - 1.954597) < 1e-5)
}

/// LeakyRelu (CGemm's vectorized activation on float32) equals its definition bit for bit on
/// many values, whole vectors and a tail, NaN kept.
@Test func leakyReluVectorizedMatchesDefinition() throws {
    var values = (0..<1027).map { Float($0 % 201 - 100) * 0.37 }
    values[5] = .nan
    let y = try run(CPUKernels.leakyRelu, "LeakyRelu", [f32([values.count], values)], ["alpha": .float(0.3)]).scalars(as: Float.self)
    let expected = values.map { $0 < 0 ? 0.3 * $0 : $0 }
    #expect(y[5].isNaN)
    #expect(zip(y, expected).enumerated().allSatisfy { $0.offset == 5 || $0.element.0 == $0.element.1 })
}

@Test func castsBetweenTypes() throws {
    let c = ctxFor("Cast")
    let x = f32([4], [1.7, -1.7, 300, .nan])
    #expect(try Conversion.cast(x, to: .int32, c).scalars(as: Int32.self) == [1, -1, 300, 0])
    #expect(try Conversion.cast(x, to: .bool, c).scalars(as: Bool.self) == [true, true, true, true])
    #expect(try Conversion.cast(Tensor(shape: [1], scalars: [300] as [Int32]), to: .uint8, c).scalars(as: UInt8.self) == [44])
    let bf = try Conversion.cast(f32([2], [1.00390625, 3]), to: .bfloat16, c)
    #expect(bf.dataType == .bfloat16 && bf.doubles() == [1, 3])
    #expect(try Conversion.cast(bf, to: .float, c).scalars(as: Float.self) == [1, 3])
    let h = try Conversion.cast(Tensor(shape: [1], scalars: [0.1] as [Double]), to: .float16, c)
    #expect(h.scalars(as: Float16.self) == [Float16(0.1)])
    let s = try Conversion.cast(Tensor(strings: ["1.5", "-inf", "7"], shape: [3]), to: .float, c)
    #expect(s.scalars(as: Float.self) == [1.5, -.infinity, 7])
    #expect(try Conversion.cast(Tensor(shape: [1], scalars: [7] as [Int64]), to: .string, c).storage.strings == ["7"])
    let like = try run(CPUKernels.castLike, "CastLike", [x, Tensor(shape: [0], scalars: [] as [Double])])
    #expect(like.dataType == .double)
    #expect(throws: VonnxError.self) { try run(CPUKernels.cast, "Cast", [x], ["to": .int(99)]) }
}

@Test func bfloat16ComputesInFloat() throws {
    let c = ctxFor("Cast")
    let a = try Conversion.cast(f32([2], [1.5, -2]), to: .bfloat16, c), b = try Conversion.cast(f32([1], [0.25]), to: .bfloat16, c)
    let y = try run(CPUKernels.add, "Add", [a, b])
    #expect(y.dataType == .bfloat16 && y.doubles() == [1.75, -1.75])
    #expect(try run(CPUKernels.relu, "Relu", [a]).doubles() == [1.5, 0])
    #expect(try run(CPUKernels.maxOp, "Max", [a, b]).doubles() == [1.5, 0.25])
    // the float kernels (MatMul, Softmax, normalizations, Attention ...) run widened and round back
    let row = try Conversion.cast(f32([1, 2], [1, 0.00390625]), to: .bfloat16, c), ones = try Conversion.cast(f32([2, 1], [1, 1]), to: .bfloat16, c)
    let mm = try run(CPUKernels.matMul, "MatMul", [row, ones])
    #expect(mm.dataType == .bfloat16 && mm.shape == [1, 1] && mm.doubles() == [1])  // 1 + 2⁻⁸ rounds to even
    let p = try run(CPUKernels.softmax, "Softmax", [row])
    #expect(p.dataType == .bfloat16 && p.doubles() == [0.73046875, 0.26953125])  // 0.730287, 0.269713 to 8 bits
    #expect(try run(CPUKernels.reduceSum, "ReduceSum", [a]).doubles() == [-0.5])
    #expect(try run(CPUKernels.reduceMax, "ReduceMax", [a]).dataType == .bfloat16)
}

@Test func fastExpIsAccurate() {
    var worst = 0.0
    for i in -8700...8872 {
        let x = Float(i) / 100
        let exact = Glibc.exp(Double(x))
        worst = Swift.max(worst, Swift.abs(Double(fastExp(x)) - exact) / exact)
    }
    #expect(worst < 5e-7)
    #expect(fastExp(.nan).isNaN && fastExp(89) == .infinity && fastExp(-110) == 0 && fastExp(-100) < 1e-43 && fastExp(0) == 1)
}

@Test func swiGLUGatesBBySwishOfA() throws {
    let xs: [Float] = [0, 1, -2, 3], vs: [Float] = [5, 2, 1, -1]
    let a = f32([2, 2], xs), b = f32([2, 2], vs)
    let gate = xs.map { $0 / (1 + exp(-2 * $0)) }  // Swish with alpha 2
    let close = { (got: Tensor, want: [Float]) in zip(got.scalars(as: Float.self), want).allSatisfy { abs($0 - $1) < 1e-6 } }
    #expect(close(try run(CPUKernels.swish, "Swish", [a], ["alpha": .float(2)]), gate))
    #expect(close(try run(CPUKernels.swiGLU, "SwiGLU", [a, b], ["alpha": .float(2)]), zip(gate, vs).map(*)))
    do {
        _ = try run(CPUKernels.swiGLU, "SwiGLU", [a, f32([2], [1, 1])])
        Issue.record("SwiGLU of unequal shapes ran")
    } catch {
        #expect("\(error)".contains("A [2, 2] and B [2] must have the same shape"))
    }
}
