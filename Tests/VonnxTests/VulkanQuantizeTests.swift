import Testing
import VonnxIR
import VonnxVulkan

// QuantizeLinear and DequantizeLinear on the device against the CPU kernels: per tensor, per
// axis and blocked; every quantized type the device holds; with and without zero points;
// saturation, ties (x / scale at k + 0.5), NaN and infinities.

private extension SplitMix {
    mutating func integers<T: FixedWidthInteger & TensorElement>(_ shape: [Int], _ range: ClosedRange<T>) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in T.random(in: range, using: &self) })
    }
    /// Random floats in ±300 with the edge values first: ties of scale 0.5, NaN, ±infinity.
    mutating func quantizable(_ shape: [Int]) -> Tensor {
        let edges: [Float] = [0.25, 0.75, -1.25, 1.25, .nan, .infinity, -.infinity, 1e30, -1e30]
        let random = floats(shape, -300...300).scalars(as: Float.self)
        return Tensor(shape: shape, scalars: edges + random.dropFirst(edges.count))
    }
}

private let quantizeCases: [KernelCase] = {
    let x = [3, 4, 6]
    func type(_ t: DataType) -> Attribute { .int(Int(t.rawValue)) }
    return [
        KernelCase("QuantizeLinear", detail: "per tensor, uint8") { r in [r.quantizable(x), Tensor(scalar: Float(0.5)), Tensor(scalar: UInt8(7))] },
        KernelCase("QuantizeLinear", detail: "per tensor, no zero point") { r in [r.quantizable(x), Tensor(scalar: Float(0.5))] },
        KernelCase("QuantizeLinear", ["axis": .int(1)], detail: "per axis, int8") { r in
            [r.quantizable(x), r.floats([4], 0.5...3), r.integers([4], Int8(-20)...20)]
        },
        KernelCase("QuantizeLinear", ["axis": .int(-1), "block_size": .int(4)], opset: 21, detail: "blocked, uint16") { r in
            [r.quantizable(x), r.floats([3, 4, 2], 0.01...0.02), r.integers([3, 4, 2], UInt16(0)...40000)]
        },
        KernelCase("QuantizeLinear", ["axis": .int(0), "block_size": .int(2), "output_dtype": type(.int16)], opset: 21,
                   detail: "blocked, int16 by output_dtype") { r in [r.quantizable(x), r.floats([2, 4, 6], 0.001...0.01)] },
        KernelCase("DequantizeLinear", detail: "per tensor, uint8") { r in
            [r.integers(x, UInt8.min...UInt8.max), Tensor(scalar: Float(0.03)), Tensor(scalar: UInt8(130))]
        },
        KernelCase("DequantizeLinear", ["axis": .int(2)], detail: "per axis, int8, no zero point") { r in
            [r.integers(x, Int8.min...Int8.max), r.floats([6], 0.01...1)]
        },
        KernelCase("DequantizeLinear", ["axis": .int(1), "block_size": .int(3)], opset: 21, detail: "blocked, int16 to float16") { r in
            [r.integers(x, Int16.min...Int16.max), Tensor(shape: [3, 2, 6], scalars: r.floats([36], 0.001...0.1).scalars(as: Float.self).map(Float16.init)),
             r.integers([3, 2, 6], Int16(-300)...300)]
        },
        KernelCase("DequantizeLinear", ["axis": .int(0)], detail: "per axis, uint16") { r in
            [r.integers(x, UInt16.min...UInt16.max), r.floats([3], 0.001...0.1), r.integers([3], UInt16.min...UInt16.max)]
        },
        KernelCase("DequantizeLinear", detail: "per tensor, int32") { r in [r.int32s(x, -1_000_000...1_000_000), Tensor(scalar: Float(1e-3))] },
    ]
}()

// MatMulInteger and QLinearMatMul: int8 and uint8 operands, zero points per tensor, per row of
// A and per column of B, broadcast batches, 1-D operands, float16 scales, saturation both ways.
private let integerMatMulCases: [KernelCase] = [
    KernelCase("MatMulInteger", detail: "uint8 × int8, per-row and per-column zero points") { r in
        [r.integers([4, 7], UInt8.min...UInt8.max), r.integers([7, 5], Int8.min...Int8.max),
         r.integers([4], UInt8.min...UInt8.max), r.integers([5], Int8.min...Int8.max)]
    },
    KernelCase("MatMulInteger", detail: "int8, broadcast batch, scalar zero point of A") { r in
        [r.integers([2, 1, 3, 6], Int8.min...Int8.max), r.integers([3, 6, 4], Int8.min...Int8.max), Tensor(scalar: Int8(-3))]
    },
    KernelCase("MatMulInteger", detail: "1-D A, uint8, no zero points") { r in
        [r.integers([6], UInt8.min...UInt8.max), r.integers([2, 6, 3], UInt8.min...UInt8.max)]
    },
    KernelCase("QLinearMatMul", detail: "uint8, float32 scales") { r in
        [r.integers([3, 8], UInt8.min...UInt8.max), Tensor(scalar: Float(0.02)), Tensor(scalar: UInt8(120)),
         r.integers([8, 5], UInt8.min...UInt8.max), Tensor(scalar: Float(0.03)), Tensor(scalar: UInt8(100)),
         Tensor(scalar: Float(0.05)), Tensor(scalar: UInt8(128))]
    },
    KernelCase("QLinearMatMul", detail: "int8 batch, float16 scales, saturating") { r in
        [r.integers([2, 3, 8], Int8.min...Int8.max), Tensor(scalar: Float16(0.1)), Tensor(scalar: Int8(1)),
         r.integers([8, 4], Int8.min...Int8.max), Tensor(scalar: Float16(0.07)), Tensor(scalar: Int8(-2)),
         Tensor(scalar: Float16(0.5)), Tensor(scalar: Int8(-5))]
    },
]

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: integerMatMulCases)
func vulkanIntegerMatMulMatchesCPU(_ kc: KernelCase) throws { try checkAgainstCPU(kc) }

@Test(.enabled(if: TestVulkan.device != nil, TestVulkan.skipReason), arguments: quantizeCases)
func vulkanQuantizeMatchesCPU(_ kc: KernelCase) throws { try checkAgainstCPU(kc) }

@Test func quantizeNodesAreAcceptedWhereTheKernelRunsThem() {
    func accepts(_ op: String, _ types: [DataType], outputType: DataType? = nil) -> Bool {
        let node = Node(name: op, opType: op, inputs: ["x", "s", "z"].prefix(types.count).map { $0 }, outputs: ["y"],
                        attributes: outputType.map { ["output_dtype": .int(Int($0.rawValue))] } ?? [:])
        return VulkanKernels.accepts(node, inputTypes: types)
    }
    #expect(accepts("QuantizeLinear", [.float, .float, .int8]))
    #expect(accepts("QuantizeLinear", [.float16, .float16], outputType: .uint16))
    #expect(!accepts("QuantizeLinear", [.float, .float], outputType: .int32))
    #expect(!accepts("QuantizeLinear", [.double, .double, .uint8]))
    #expect(!accepts("QuantizeLinear", [.float, .float, .int32]))
    #expect(accepts("DequantizeLinear", [.int32, .float, .int32]))
    #expect(!accepts("DequantizeLinear", [.int8, .float, .int8], outputType: .double))
    #expect(!accepts("DequantizeLinear", [.uint32, .float]))
    #expect(accepts("QLinearMatMul", [.int8, .float, .int8, .int8, .float16, .int8, .float, .int8]))
    #expect(!accepts("MatMulInteger", [.int16, .int16]))
}
