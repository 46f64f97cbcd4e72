import Foundation
import Testing
@testable import Vonnx
import VonnxCPU
import VonnxIR
import VonnxVulkan

// The Vulkan kernels for typed tensors, reductions, indexing and normalization, each against
// the CPU kernel of the same op on fresh random inputs (seed in failures). The device runs with
// validation on (any message fails) and poisons new buffers, so an unwritten output shows.

private let device = TestVulkan.device

private func i64(_ v: [Int]) -> Tensor { Tensor(shape: [v.count], scalars: v.map(Int64.init)) }

/// One kernel check: an op, its attributes, and inputs drawn from a generator.
struct KernelCase: CustomTestStringConvertible, Sendable {
    let op: String
    /// The op's domain ("" the default; "com.microsoft" for onnxruntime's contrib ops).
    var domain = ""
    var attributes: [String: Attribute] = [:]
    var opset = 18
    let inputs: @Sendable (inout SplitMix) -> [Tensor?]
    /// What else tells this case apart (its element types, say).
    var detail = ""
    /// How many outputs the node has, where not the op's usual count (MaxPool's Indices, say).
    var outputs: Int?
    var testDescription: String { "\(op) \(attributes.keys.sorted())\(detail.isEmpty ? "" : " " + detail)" }

    init(_ op: String, _ attributes: [String: Attribute] = [:], domain: String = "", opset: Int = 18, detail: String = "",
         outputs: Int? = nil, _ inputs: @escaping @Sendable (inout SplitMix) -> [Tensor?]) {
        self.op = op; self.domain = domain; self.attributes = attributes; self.opset = opset; self.detail = detail
        self.outputs = outputs; self.inputs = inputs
    }
}

private let s = [3, 4, 5]
private let kernelCases: [KernelCase] = {
    var c: [KernelCase] = []
    for op in ["Tan", "Atan", "Sinh", "Cosh", "Asinh", "Erf", "Sign", "Round", "Softsign", "Mish", "Gelu", "Celu",
               "ThresholdedRelu", "Shrink", "Softplus", "Sin", "Cos"] {
        c.append(KernelCase(op) { [$0.floats(s)] })
    }
    for op in ["Asin", "Acos", "Atanh"] { c.append(KernelCase(op) { [$0.floats(s, -0.9...0.9)] }) }
    c.append(KernelCase("Acosh") { [$0.floats(s, 1.1...4)] })
    c.append(KernelCase("Gelu", ["approximate": .string(Array("tanh".utf8))], opset: 20) { [$0.floats(s)] })
    c.append(KernelCase("IsNaN") { r in [Tensor(shape: [4], scalars: [Float.nan, 1, -.infinity, r.floats([1]).scalars(as: Float.self)[0]])] })
    c.append(KernelCase("IsInf", ["detect_negative": .int(0)]) { _ in [Tensor(shape: [4], scalars: [Float.nan, .infinity, -.infinity, 2])] })
    c.append(KernelCase("Not") { [$0.bools(s)] })
    for op in ["Abs", "Neg", "Sign"] { c.append(KernelCase(op) { [$0.ints(s)] }) }
    for to in [DataType.int64, .int32, .bool, .float] {
        c.append(KernelCase("Cast", ["to": .int(Int(to.rawValue))]) { [$0.floats(s, -5...5)] })
    }
    c.append(KernelCase("Cast", ["to": .int(Int(DataType.float.rawValue))]) { [$0.ints(s)] })
    c.append(KernelCase("Cast", ["to": .int(Int(DataType.int64.rawValue))]) { [$0.bools(s)] })
    c.append(KernelCase("CastLike") { [$0.ints(s), $0.floats([1])] })
    for op in ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"] {
        c.append(KernelCase(op) { [$0.floats([3, 1, 5], -1...1).map { ($0 * 2).rounded() }, $0.floats([4, 1], -1...1).map { ($0 * 2).rounded() }] })
        c.append(KernelCase(op) { [$0.ints(s, -2...2), $0.ints([5], -2...2)] })
    }
    c.append(KernelCase("Equal") { [$0.bools(s), $0.bools([4, 1])] })
    for op in ["And", "Or", "Xor"] { c.append(KernelCase(op) { [$0.bools(s), $0.bools([4, 5])] }) }
    for op in ["Add", "Sub", "Mul", "Max", "Min"] { c.append(KernelCase(op) { [$0.ints(s), $0.ints([1, 5])] }) }
    c.append(KernelCase("Mod") { [$0.int32s([3, 4, 4]), Tensor(shape: [4], scalars: [Int32(3), -3, 7, -5])] })
    c.append(KernelCase("Mod", ["fmod": .int(1)]) { [$0.floats(s, -9...9), $0.floats([5], 1...3)] })
    c.append(KernelCase("Where") { [$0.bools([4, 1]), $0.ints(s), $0.ints([5])] })
    c.append(KernelCase("Where") { [$0.bools(s), $0.floats([1]), $0.floats([3, 1, 5])] })
    for op in ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
               "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"] {
        c.append(KernelCase(op, ["keepdims": .int(0)]) { [$0.floats(s, 0.5...2), i64([0, 2])] })
        c.append(KernelCase(op) { [$0.floats(s, 0.5...2), i64([-1])] })
        c.append(KernelCase(op) { [$0.floats(s, 0.5...2)] })
    }
    c.append(KernelCase("ReduceSum", ["noop_with_empty_axes": .int(1)]) { [$0.floats(s), i64([])] })
    c.append(KernelCase("ReduceMean", ["axes": .ints([1])], opset: 13) { [$0.floats(s)] })
    for op in ["ArgMax", "ArgMin"] {
        c.append(KernelCase(op, ["axis": .int(1), "keepdims": .int(0)]) { [$0.floats(s)] })
        c.append(KernelCase(op, ["axis": .int(-1), "select_last_index": .int(1)]) { [$0.floats(s, -1...1).map { $0.rounded() }] })
    }
    c.append(KernelCase("Slice") { [$0.ints(s), i64([2, -1]), i64([-100, 0]), i64([2, 0]), i64([-2, 1])] })
    c.append(KernelCase("Slice") { [$0.floats(s), i64([1]), i64([3]), nil, nil].map { $0 } })
    c.append(KernelCase("Gather", ["axis": .int(1)]) { [$0.floats(s), $0.ints([2, 3], -4...3)] })
    c.append(KernelCase("Gather") { [$0.bools(s), Tensor(shape: [], scalars: [Int32(-1)])] })
    c.append(KernelCase("GatherElements", ["axis": .int(2)]) { [$0.ints(s), $0.ints([3, 4, 2], -5...4)] })
    c.append(KernelCase("Expand") { [$0.floats([3, 1]), i64([2, 1, 4])] })
    c.append(KernelCase("Tile") { [$0.ints([2, 3]), i64([2, 3])] })
    c.append(KernelCase("Split", ["axis": .int(1)]) { [$0.floats(s), i64([1, 3])] })
    c.append(KernelCase("Split", ["axis": .int(2), "num_outputs": .int(3)]) { [$0.floats(s)] })
    for mode in ["DCR", "CRD"] { c.append(KernelCase("DepthToSpace", ["blocksize": .int(2), "mode": .string(Array(mode.utf8))]) { [$0.floats([2, 8, 3, 2])] }) }
    c.append(KernelCase("SpaceToDepth", ["blocksize": .int(2)]) { [$0.floats([2, 3, 4, 6])] })
    c.append(KernelCase("Shape", ["start": .int(-2)], opset: 15) { [$0.floats(s)] })
    c.append(KernelCase("Size") { [$0.floats(s)] })
    for mode in ["constant", "reflect", "edge", "wrap"] {
        c.append(KernelCase("Pad", ["mode": .string(Array(mode.utf8))]) { [$0.floats(s), i64([1, 0, 2, 2, -1, 3]), Tensor(scalar: Float(0.5))] })
    }
    c.append(KernelCase("Pad") { [$0.ints([3, 4]), i64([1, 2]), nil, i64([-1])] })
    for upper in [0, 1] { c.append(KernelCase("Trilu", ["upper": .int(upper)]) { [$0.floats([2, 4, 5]), i64([-1])] }) }
    c.append(KernelCase("CumSum", ["exclusive": .int(1), "reverse": .int(1)]) { [$0.floats(s), i64([1])] })
    c.append(KernelCase("CumSum") { [$0.ints(s), Tensor(scalar: Int32(-1))] })
    c.append(KernelCase("LayerNormalization", ["axis": .int(1)]) { [$0.floats(s), $0.floats([4, 5]), $0.floats([5])] })
    c.append(KernelCase("LayerNormalization") { [$0.floats(s), $0.floats([5])] })
    c.append(KernelCase("InstanceNormalization") { [$0.floats([2, 3, 4, 5]), $0.floats([3]), $0.floats([3])] })
    c.append(KernelCase("GroupNormalization", ["num_groups": .int(2)], opset: 21) { [$0.floats([2, 4, 3, 3]), $0.floats([4]), $0.floats([4])] })
    c.append(KernelCase("RMSNormalization", ["axis": .int(1)], opset: 23) { [$0.floats(s), $0.floats([5])] })
    c.append(KernelCase("Hardmax", ["axis": .int(1)]) { [$0.floats(s, -1...1).map { $0.rounded() }] })
    c.append(KernelCase("Dropout") { [$0.floats(s)] })
    for reduction in ["none", "add", "mul", "max", "min"] {
        c.append(KernelCase("ScatterElements", ["axis": .int(1), "reduction": .string(Array(reduction.utf8))]) {
            [$0.floats(s), $0.ints([3, 2, 5], -4...3), $0.floats([3, 2, 5])]
        })
        c.append(KernelCase("ScatterND", ["reduction": .string(Array(reduction.utf8))]) {
            [$0.ints(s), Tensor(shape: [3, 2], scalars: [Int64(0), 1, 2, -1, 0, 1]), $0.ints([3, 5])]
        })
    }
    c.append(KernelCase("LRN", ["size": .int(3), "alpha": .float(0.01)]) { [$0.floats([2, 5, 3, 2])] })
    c.append(KernelCase("Dropout", opset: 9) { [$0.floats(s)] })
    c.append(KernelCase("ConvTranspose", ["strides": .ints([2, 1]), "pads": .ints([1, 0, 0, 1]), "output_padding": .ints([1, 0]),
                                          "dilations": .ints([1, 2]), "group": .int(2)]) {
        [$0.floats([2, 4, 3, 4]), $0.floats([4, 3, 3, 2]), $0.floats([6])]
    })
    c.append(KernelCase("ConvTranspose", ["auto_pad": .string(Array("SAME_UPPER".utf8)), "strides": .ints([2])]) {
        [$0.floats([1, 2, 5]), $0.floats([2, 3, 4])]
    })
    c.append(KernelCase("OneHot", ["axis": .int(1)]) { [$0.ints([3, 4], -5...4), Tensor(scalar: Int64(5)), Tensor(shape: [2], scalars: [Float(-1), 3])] })
    c.append(KernelCase("OneHot") { [$0.int32s([4], -3...2), Tensor(scalar: Float(3)), Tensor(shape: [2], scalars: [Int64(0), 9])] })
    c.append(KernelCase("OneHot", ["axis": .int(-2)], detail: "float indices (truncated, NaN and ±inf off)") { r in
        [Tensor(shape: [2, 5], scalars: r.floats([7], -4.9...4.9).scalars(as: Float.self) + [.nan, .infinity, -.infinity]),
         Tensor(scalar: Float(4.5)), Tensor(shape: [2], scalars: [Int32(-7), 2])]
    })
    for (k, dtype) in [(0, nil), (2, DataType.int64), (-3, .float16), (7, .bool)] as [(Int, DataType?)] {
        var attributes: [String: Attribute] = ["k": .int(k)]
        if let dtype { attributes["dtype"] = .int(Int(dtype.rawValue)) }
        c.append(KernelCase("EyeLike", attributes, detail: "k \(k)") { [$0.floats([4, 6])] })
    }
    c.append(KernelCase("EyeLike", detail: "int32, taller than wide") { [$0.int32s([5, 3])] })
    c.append(KernelCase("Conv", detail: "3-D") { [$0.floats([2, 2, 4, 5, 6]), $0.floats([3, 2, 2, 3, 2]), $0.floats([3])] })
    c.append(KernelCase("Conv", ["strides": .ints([2, 1, 2]), "dilations": .ints([1, 2, 1]), "pads": .ints([1, 0, 2, 0, 1, 1]),
                                 "group": .int(2)], detail: "3-D") { [$0.floats([1, 4, 5, 7, 6]), $0.floats([6, 2, 3, 2, 3])] })
    c.append(KernelCase("Conv", ["auto_pad": .string(Array("SAME_UPPER".utf8)), "strides": .ints([2, 2, 2])], detail: "3-D") {
        [$0.floats([1, 3, 5, 4, 3]), $0.floats([2, 3, 3, 3, 2])]
    })
    c.append(KernelCase("FusedConv", ["pads": .ints([1, 1, 1, 1, 1, 1])].merging(FusedActivation.leakyRelu(alpha: 0.1).attributes) { $1 },
                        domain: "com.microsoft", detail: "3-D, bias, residual") {
        [$0.floats([1, 2, 3, 4, 5]), $0.floats([3, 2, 3, 3, 3]), $0.floats([3]), $0.floats([1, 3, 3, 4, 5])]
    })
    c.append(KernelCase("Col2Im", opset: 18, detail: "2-D") { [$0.floats([2, 12, 16]), i64([5, 5]), i64([2, 2])] })
    c.append(KernelCase("Col2Im", ["strides": .ints([2, 1]), "dilations": .ints([1, 2]), "pads": .ints([1, 0, 1, 0])], opset: 18) {
        [$0.floats([1, 12, 6]), i64([5, 4]), i64([3, 2])]
    })
    c.append(KernelCase("Col2Im", opset: 18, detail: "3-D") { [$0.floats([1, 8, 12]), i64([3, 4, 3]), i64([2, 2, 2])] })
    c.append(KernelCase("Col2Im", ["strides": .ints([2])], opset: 18, detail: "1-D") { [$0.floats([2, 6, 4]), i64([9]), i64([3])] })
    c.append(KernelCase("PRelu", opset: 6, detail: "legacy per-channel slope") { [$0.floats([2, 3, 4, 5]), $0.floats([3])] })
    c.append(KernelCase("PRelu", opset: 6, detail: "legacy per-channel slope, 3-D") { [$0.floats([2, 4, 3]), $0.floats([4])] })
    c.append(KernelCase("Clip", opset: 13, detail: "int8") { r in
        [Tensor(shape: s, scalars: (0..<60).map { _ in Int8.random(in: -128...127, using: &r) }), Tensor(scalar: Int8(-50)), Tensor(scalar: Int8(90))]
    })
    c.append(KernelCase("Clip", opset: 13, detail: "int32, min only") { r in [r.int32s(s), Tensor(scalar: Int32(-2))] })
    c.append(KernelCase("Clip", opset: 13, detail: "int64, max only") { r in [r.ints(s), nil, Tensor(scalar: Int64(3))] })
    c.append(KernelCase("Clip", opset: 13, detail: "int64, min above max") { r in [r.ints(s), Tensor(scalar: Int64(4)), Tensor(scalar: Int64(-1))] })
    c.append(KernelCase("Swish") { [$0.floats(s, -9...9)] })
    c.append(KernelCase("Swish", ["alpha": .float(-0.6)]) { [$0.floats(s, -9...9)] })
    c.append(KernelCase("GatherND") { [$0.floats(s), Tensor(shape: [2, 2], scalars: [Int64(0), -1, 2, 3])] })
    c.append(KernelCase("GatherND", ["batch_dims": .int(1)]) { [$0.ints(s), Tensor(shape: [3, 2, 1], scalars: [Int64(0), 3, -1, 2, 1, 1])] })
    for (mode, coordinates) in [("nearest", "asymmetric"), ("linear", "half_pixel"), ("cubic", "align_corners"), ("linear", "tf_crop_and_resize")] {
        c.append(KernelCase("Resize", ["mode": .string(Array(mode.utf8)), "coordinate_transformation_mode": .string(Array(coordinates.utf8)),
                                       "extrapolation_value": .float(-3)]) {
            [$0.floats([1, 2, 4, 5]), Tensor(shape: [8], scalars: [Float(0), 0, 0.1, 0.2, 1, 1, 0.8, 0.9]), Tensor(shape: [4], scalars: [Float(1), 1, 1.5, 0.6])]
        })
    }
    // nearest at integer scales (one strided copy), alone and beside an axis resampled by taps
    c.append(KernelCase("Resize", ["mode": .string(Array("nearest".utf8))]) {
        [$0.floats([1, 3, 4, 5]), nil, Tensor(shape: [4], scalars: [Float(1), 2, 2, 1.5])]
    })
    c.append(KernelCase("Resize", ["mode": .string(Array("nearest".utf8)), "coordinate_transformation_mode": .string(Array("asymmetric".utf8)),
                                   "nearest_mode": .string(Array("floor".utf8))]) {
        [$0.floats([2, 3, 5]), nil, nil, i64([2, 6, 15])]
    })
    c.append(KernelCase("Resize", ["mode": .string(Array("linear".utf8)), "axes": .ints([3, 2])]) {
        [$0.floats([1, 2, 4, 5]), nil, nil, i64([7, 3])]
    })
    for mode in ["linear", "cubic"] {  // antialiased: a downscale widens the taps
        c.append(KernelCase("Resize", ["mode": .string(Array(mode.utf8)), "antialias": .int(1)], detail: "antialias") {
            [$0.floats([1, 2, 9, 11]), nil, Tensor(shape: [4], scalars: [Float(1), 1, 0.6, 0.3])]
        })
    }
    c.append(KernelCase("Resize", ["mode": .string(Array("linear".utf8)), "antialias": .int(1)], detail: "antialias, sizes up and down") {
        [$0.floats([1, 2, 9, 5]), nil, nil, i64([1, 2, 4, 8])]
    })
    c.append(KernelCase("Upsample", ["mode": .string(Array("nearest".utf8))], opset: 9) {
        [$0.floats([1, 2, 3, 4]), Tensor(shape: [4], scalars: [Float(1), 1, 2, 3])]
    })
    c.append(KernelCase("Upsample", ["mode": .string(Array("bilinear".utf8)), "scales": .floats([1, 1, 2, 1.5])], opset: 7) {
        [$0.floats([1, 2, 3, 4])]
    })
    c.append(KernelCase("ReduceMax", ["keepdims": .int(0)], detail: "bool") { [$0.bools([3, 4, 5]), i64([1])] })
    c.append(KernelCase("ReduceMin", detail: "bool") { [$0.bools([3, 4, 5]), i64([0, 2])] })
    c.append(KernelCase("ReduceMin", ["keepdims": .int(0)], detail: "bool, all axes") { [$0.bools([2, 3])] })
    c.append(KernelCase("MeanVarianceNormalization", opset: 13) { [$0.floats([3, 2, 4, 5])] })
    c.append(KernelCase("MeanVarianceNormalization", ["axes": .ints([1, -1])], opset: 13) { [$0.floats([2, 3, 4, 5], -9...9)] })
    c.append(KernelCase("MeanVarianceNormalization", ["axes": .ints([2, 3])], opset: 13, detail: "axes last") { [$0.floats([2, 3, 4, 5])] })
    c.append(KernelCase("ReverseSequence", detail: "time first") { r in [r.floats([5, 3, 2]), i64([5, 0, 3])] })
    c.append(KernelCase("ReverseSequence", ["time_axis": .int(1), "batch_axis": .int(0)], detail: "batch first, int64") { r in
        [r.ints([4, 6]), Tensor(shape: [4], scalars: [Int32(1), 6, 2, 4])]
    })
    c.append(KernelCase("Det", opset: 11) { [$0.floats([2, 3, 5, 5])] })
    c.append(KernelCase("Det", opset: 11, detail: "2×2, one singular") { _ in
        [Tensor(shape: [3, 2, 2], scalars: [Float(1), 2, 3, 4, 2, 4, 1, 2, 0, 0, 0, 7])]
    })
    // Einsum: float32 pairs on the GEMM (batched, permuted output, broadcast ellipsis, inner
    // product), the rest on einsum.comp (one or three operands, a diagonal, float64, float16).
    func einsum(_ equation: String) -> [String: Attribute] { ["equation": .string(Array(equation.utf8))] }
    c.append(KernelCase("Einsum", einsum("bij,bjk->bik"), opset: 12) { [$0.floats([3, 4, 5]), $0.floats([3, 5, 6])] })
    c.append(KernelCase("Einsum", einsum("bhqd,bhkd->bhqk"), opset: 12) { [$0.floats([2, 3, 5, 8]), $0.floats([2, 3, 7, 8])] })
    c.append(KernelCase("Einsum", einsum("ik,jk->ji"), opset: 12, detail: "permuted") { [$0.floats([4, 6]), $0.floats([5, 6])] })
    c.append(KernelCase("Einsum", einsum("...ij,...jk"), opset: 12, detail: "broadcast") { [$0.floats([2, 1, 3, 4]), $0.floats([5, 4, 2])] })
    c.append(KernelCase("Einsum", einsum("i,i"), opset: 12, detail: "inner product") { [$0.floats([37]), $0.floats([37])] })
    c.append(KernelCase("Einsum", einsum("...ii->...i"), opset: 12, detail: "diagonal") { [$0.floats([2, 4, 4])] })
    c.append(KernelCase("Einsum", einsum("ij->ji"), opset: 12, detail: "transpose") { [$0.floats([5, 7])] })
    c.append(KernelCase("Einsum", einsum("ij->"), opset: 12, detail: "sum") { [$0.floats([5, 7])] })
    c.append(KernelCase("Einsum", einsum("ij,jk,kl->il"), opset: 12, detail: "three") { [$0.floats([3, 4]), $0.floats([4, 5]), $0.floats([5, 2])] })
    c.append(KernelCase("Einsum", einsum("bij,bjk->bik"), opset: 12, detail: "float64") { r in
        [r.floats([3, 4, 5]), r.floats([3, 5, 6])].map { Tensor(shape: $0.shape, scalars: $0.scalars(as: Float.self).map(Double.init)) }
    })
    c.append(KernelCase("Einsum", einsum("ij,jk->ik"), opset: 12, detail: "float16") { r in
        // quarters: products and sums exact in float32 and double alike, so both round to one float16
        [r.floats([3, 4]), r.floats([4, 5])].map { Tensor(shape: $0.shape, scalars: $0.scalars(as: Float.self).map { Float16(($0 * 4).rounded() / 4) }) }
    })
    c.append(KernelCase("Compress", ["axis": .int(-2)], opset: 11) { r in [r.floats([2, 5, 3]), r.bools([4])] })
    c.append(KernelCase("Compress", opset: 11, detail: "flattened, int64") { r in [r.ints([3, 4]), Tensor(shape: [7], scalars: [true, false, false, true, true, false, true])] })
    c.append(KernelCase("Compress", ["axis": .int(0)], opset: 11, detail: "nothing selected") { r in [r.floats([3, 2]), Tensor(shape: [2], scalars: [false, false])] })
    // Attention: grouped-query heads, float and bool masks, past state, causal, softcap, scale, qk_matmul_output
    c.append(KernelCase("Attention", opset: 23) { [$0.floats([2, 4, 3, 8]), $0.floats([2, 2, 5, 8]), $0.floats([2, 2, 5, 6]), $0.floats([3, 5])] })
    c.append(KernelCase("Attention", ["q_num_heads": .int(4), "kv_num_heads": .int(2), "is_causal": .int(1), "softcap": .float(2),
                                      "scale": .float(0.3), "qk_matmul_output_mode": .int(3)], opset: 23) {
        [$0.floats([2, 3, 32]), $0.floats([2, 5, 16]), $0.floats([2, 5, 12]), $0.bools([2, 1, 3, 7]), $0.floats([2, 2, 2, 8]), $0.floats([2, 2, 2, 6])]
    })
    for mode in [0, 2] {
        c.append(KernelCase("Attention", ["is_causal": .int(1 - mode / 2), "softcap": .float(Float(mode)), "qk_matmul_output_mode": .int(mode)], opset: 23) {
            [$0.floats([1, 2, 4, 8]), $0.floats([1, 2, 4, 8]), $0.floats([1, 2, 4, 3]), $0.floats([2, 4, 4])]
        })
    }
    c.append(KernelCase("CumProd", ["exclusive": .int(1), "reverse": .int(1)], opset: 26) { [$0.floats(s, 0.5...1.5), i64([1])] })
    c.append(KernelCase("CumProd", opset: 26) { [$0.ints(s, -3...3), Tensor(scalar: Int32(-1))] })
    for reduction in ["none", "sum", "mean"] {
        let attributes: [String: Attribute] = ["reduction": .string(Array(reduction.utf8)), "ignore_index": .int(1)]
        c.append(KernelCase("NegativeLogLikelihoodLoss", attributes) { [$0.floats([3, 4, 2]), $0.ints([3, 2], 0...3), $0.floats([4])] })
        c.append(KernelCase("SoftmaxCrossEntropyLoss", ["reduction": .string(Array(reduction.utf8))]) { [$0.floats([5, 3]), $0.int32s([5], 0...2)] })
    }
    c.append(KernelCase("SoftmaxCrossEntropyLoss", ["ignore_index": .int(-1)]) { [$0.floats([2, 3, 4]), $0.ints([2, 4], -1...2), $0.floats([3])] })
    // MaxUnpool: indices anywhere in the implied output, repeats included (the last element
    // pointing at a place wins, as on the CPU), 1-D to 3-D, output_shape larger than implied
    c.append(KernelCase("MaxUnpool", ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])], opset: 11) { r in
        [r.floats([2, 3, 3, 4]), r.ints([2, 3, 3, 4], 0...287)]  // implied [2, 3, 6, 8]
    })
    c.append(KernelCase("MaxUnpool", ["kernel_shape": .ints([3, 2]), "strides": .ints([2, 1]), "pads": .ints([1, 0, 0, 1])], opset: 11,
                        detail: "output_shape, int32") { r in
        [r.int32s([1, 2, 3, 5]), r.ints([1, 2, 3, 5], 0...59), i64([1, 2, 7, 8])]  // implied [1, 2, 6, 5]
    })
    c.append(KernelCase("MaxUnpool", ["kernel_shape": .ints([3]), "strides": .ints([3])], opset: 11, detail: "1-D, float16") { r in
        [Tensor(shape: [2, 2, 5], scalars: r.floats([2, 2, 5]).scalars(as: Float.self).map(Float16.init)), r.ints([2, 2, 5], 0...59)]
    })
    c.append(KernelCase("MaxUnpool", ["kernel_shape": .ints([2, 1, 2])], opset: 11, detail: "3-D, uint8") { r in
        [Tensor(shape: [1, 2, 2, 3, 2], scalars: (0..<24).map { _ in UInt8.random(in: 0...255, using: &r) }), r.ints([1, 2, 2, 3, 2], 0...35)]
    })
    // RoiAlign: avg and max, both coordinate modes (opset 16; opset 10's output_half_pixel),
    // a set sampling_ratio and adaptive ones, regions reaching past the image, float16
    @Sendable func regions(_ r: inout SplitMix, _ count: Int, _ size: Float) -> Tensor {
        Tensor(shape: [count, 4], scalars: (0..<count).flatMap { _ -> [Float] in
            let x = Float.random(in: -2...size, using: &r), y = Float.random(in: -2...size, using: &r)
            return [x, y, x + Float.random(in: 0...size, using: &r), y + Float.random(in: 0...size, using: &r)]
        })
    }
    c.append(KernelCase("RoiAlign", ["output_height": .int(3), "output_width": .int(4), "spatial_scale": .float(0.5)], opset: 16) { r in
        [r.floats([2, 3, 7, 9]), regions(&r, 5, 16), r.ints([5], 0...1)]
    })
    c.append(KernelCase("RoiAlign", ["mode": .string(Array("max".utf8)), "sampling_ratio": .int(2), "output_height": .int(2), "output_width": .int(3),
                                     "coordinate_transformation_mode": .string(Array("output_half_pixel".utf8))], opset: 16, detail: "max, output_half_pixel") { r in
        [r.floats([1, 2, 6, 5]), regions(&r, 4, 6), r.ints([4], 0...0)]
    })
    c.append(KernelCase("RoiAlign", ["output_height": .int(2), "output_width": .int(2)], opset: 10, detail: "opset 10, float16") { r in
        [r.floats([2, 2, 5, 6]), regions(&r, 3, 5), r.ints([3], 0...1)].enumerated().map { i, t in
            i < 2 ? Tensor(shape: t.shape, scalars: t.scalars(as: Float.self).map(Float16.init)) : t
        }
    })
    // Dropout in training mode with a seed: the mask as the CPU draws it, over one twist of the
    // generator's state and several, in float32, float16 and float64, with and without the mask
    for (seed, shape) in [(0, [3, 5, 7]), (2_147_483_653, [7, 11, 13])] {
        c.append(KernelCase("Dropout", ["seed": .int(seed)], opset: 13, detail: "training, \(shape)") { r in
            [r.floats(shape), Tensor(scalar: Float(0.3)), Tensor(scalar: true)]
        })
    }
    c.append(KernelCase("Dropout", ["seed": .int(7)], opset: 13, detail: "training, float16, no mask", outputs: 1) { r in
        [Tensor(shape: [5, 9], scalars: r.floats([5, 9]).scalars(as: Float.self).map(Float16.init)), Tensor(scalar: 0.75), Tensor(scalar: true)]
    })
    c.append(KernelCase("Dropout", ["seed": .int(3)], opset: 13, detail: "training, float64") { r in
        [Tensor(shape: [4, 9], scalars: r.floats([4, 9]).scalars(as: Float.self).map(Double.init)), Tensor(scalar: 0.5), Tensor(scalar: true)]
    })
    return c
}()

extension Tensor {
    fileprivate func map(_ f: (Float) -> Float) -> Tensor { Tensor(shape: shape, scalars: scalars(as: Float.self).map(f)) }
}

@Test(.enabled(if: device != nil, TestVulkan.skipReason), arguments: kernelCases)
func vulkanKernelMatchesCPU(_ kc: KernelCase) throws { try checkAgainstCPU(kc) }

/// Whether `kc` reads int64 or uint64 values, or its op writes int64 ones: what the narrow
/// device holds in one word where the shared one may hold them in 8 bytes.
private func touches64Bit(_ kc: KernelCase) -> Bool {
    var r = SplitMix(state: 1)
    return ["ArgMax", "ArgMin", "TopK", "MaxPool", "NonMaxSuppression", "Shape", "Size"].contains(kc.op)
        || kc.inputs(&r).contains { $0?.dataType == .int64 || $0?.dataType == .uint64 }
}

@Test(.enabled(if: TestVulkan.narrowDevice != nil, TestVulkan.skipReason), arguments: kernelCases.filter(touches64Bit))
func vulkanKernelMatchesCPUInNarrowStorage(_ kc: KernelCase) throws { try checkAgainstCPU(kc, on: TestVulkan.narrowDevice) }

/// The elements of an int64 or uint64 tensor exactly (uint64 as its bit pattern), else nil.
func bitPatterns64(_ t: Tensor) -> [Int64]? {
    switch t.dataType {
    case .int64: t.scalars(as: Int64.self)
    case .uint64: t.scalars(as: UInt64.self).map { Int64(bitPattern: $0) }
    default: nil
    }
}

/// Runs `kc` on a Vulkan test device (`chosen`, else the shared one) and on the CPU and expects
/// the same outputs: equal integers and bools, floats within 1e-5 + 1e-4·|CPU| (equal with
/// `exact`; NaN matches NaN).
/// `integerSlack`: how far an integer output may be from the CPU's (a requantized result whose
/// float value the device rounds in float32 where the CPU computes in double).
/// `weights`: the inputs uploaded as the node's weights, as a partition's initializers are.
func checkAgainstCPU(_ kc: KernelCase, exact: Bool = false, integerSlack: Double = 0, on chosen: VulkanDevice? = nil,
                     weights: Set<Int> = []) throws {
    let device = try #require(chosen ?? device)
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SplitMix(state: seed)
    let inputs = kc.inputs(&rng)
    var outputs = 1
    if kc.op == "Split" { outputs = kc.attributes["num_outputs"] != nil ? 3 : 2 }
    if kc.op == "LayerNormalization" || kc.op == "Dropout" { outputs = kc.op == "Dropout" ? 2 : 3 }
    if kc.op == "SoftmaxCrossEntropyLoss" || kc.op == "TopK" { outputs = 2 }
    if kc.op == "Attention" { outputs = kc.attributes["qk_matmul_output_mode"] != nil ? 4 : 3 }
    if ["RNN", "GRU", "LSTM"].contains(kc.op) { outputs = kc.op == "LSTM" ? 3 : 2 }
    outputs = kc.outputs ?? outputs
    let node = Node(name: kc.op, opType: kc.op, domain: kc.domain, inputs: inputs.indices.map { inputs[$0] == nil ? "" : "in\($0)" },
                    outputs: (0..<outputs).map { "out\($0)" }, attributes: kc.attributes)
    #expect(VulkanKernels.accepts(node, inputTypes: inputs.map { $0?.dataType }, storage: device.storage), "\(kc.op) not accepted")
    let got = try VulkanKernels.run(node, inputs: inputs, opset: kc.opset, device: device, weights: weights)
    let messages = device.takeValidationMessages()
    #expect(messages.isEmpty, "validation: \(messages.joined(separator: "\n"))")
    let cpu = try #require(opTable[kc.domain]?[kc.op]).cpu
    let want = try cpu(KernelContext(node: node, inputs: inputs, opset: kc.opset, pool: ThreadPool(threads: 1)))
    #expect(got.count == want.count, "\(kc.op): \(got.count) outputs, CPU \(want.count)")
    for (i, (g, w)) in zip(got, want).enumerated() {
        let what = "\(kc.testDescription) output \(i) seed \(seed)"
        #expect(g.dataType == w.dataType && g.shape == w.shape, "\(what): \(g) vs CPU \(w)")
        guard g.dataType == w.dataType, g.shape == w.shape else { continue }
        if let a = bitPatterns64(g), let e = bitPatterns64(w) {  // past 2^53, as doubles they would round
            let bad = a.indices.filter { a[$0] != e[$0] }
            #expect(bad.isEmpty, "\(what): \(bad.prefix(4).map { "[\($0)] \(a[$0]) vs \(e[$0])" })")
            continue
        }
        let a = g.doubles(), e = w.doubles(), exact = exact || !g.dataType.isFloatingPoint
        let slack = g.dataType.isFloatingPoint ? 0 : integerSlack
        let bad = a.indices.filter { j in
            !(a[j].isNaN && e[j].isNaN) && a[j] != e[j] && (exact ? abs(a[j] - e[j]) > slack : !(abs(a[j] - e[j]) <= 1e-5 + 1e-4 * abs(e[j])))
        }
        #expect(bad.isEmpty, "\(what): \(bad.prefix(4).map { "[\($0)] \(a[$0]) vs \(e[$0])" })")
    }
}

@Test(.enabled(if: device != nil, TestVulkan.skipReason)) func typedTensorsRoundTripAndNarrowInt64() throws {
    let device = try #require(device)
    let recorder = try VulkanRecorder(device: device)
    let values: [Tensor] = [Tensor(shape: [3], scalars: [Int64(-5), 0, 2_000_000_000]),
                            Tensor(shape: [2], scalars: [true, false]), Tensor(shape: [2], scalars: [Int32(-1), 7])]
    let downloads = try values.map { try recorder.download(try recorder.upload($0)) }
    try recorder.submitAndWait()
    for (d, v) in zip(downloads, values) {
        let t = try d.tensor()
        #expect(t.dataType == v.dataType && t.doubles() == v.doubles(), "\(v) came back as \(t)")
    }
    // Narrow storage (VulkanOptions.narrow64) refuses int64 past int32 and float64; wide storage holds them.
    let beyond = [Tensor(shape: [1], scalars: [Int64(1) << 40]), Tensor(shape: [1], scalars: [Double(1)])]
    let narrow = try VulkanRecorder(device: try #require(TestVulkan.narrowDevice))
    for t in beyond { #expect(throws: VonnxError.self) { try narrow.upload(t) } }
    let wide = try VulkanRecorder(device: device)
    let kept = beyond.filter { device.storage.wide.contains($0.dataType) }
    let held = try kept.map { try wide.download(try wide.upload($0)) }
    try wide.submitAndWait()
    for (d, v) in zip(held, kept) { #expect(try d.tensor().doubles() == v.doubles(), "\(v) in wide storage") }
}

@Test func acceptsChecksTypesPerKernel() {
    func node(_ op: String, _ n: Int, _ attributes: [String: Attribute] = [:]) -> Node {
        Node(name: op, opType: op, inputs: (0..<n).map { "in\($0)" }, outputs: ["out"], attributes: attributes)
    }
    #expect(VulkanKernels.accepts(node("Add", 2), inputTypes: [.int64, .int64]))
    #expect(VulkanKernels.accepts(node("Pow", 2), inputTypes: [.float, .int64]))
    #expect(!VulkanKernels.accepts(node("Pow", 2), inputTypes: [.float, .double]))
    #expect(!VulkanKernels.accepts(node("ReduceSum", 2), inputTypes: [.int64, .int64]))
    #expect(VulkanKernels.accepts(node("ReduceSum", 2), inputTypes: [.float, .int64]))
    #expect(VulkanKernels.accepts(node("And", 2), inputTypes: [.bool, .bool]))
    #expect(!VulkanKernels.accepts(node("Cast", 1, ["to": .int(Int(DataType.double.rawValue))]), inputTypes: [.float]))
    #expect(!VulkanKernels.accepts(node("Gather", 2), inputTypes: [.double, .int64]))
    #expect(!VulkanKernels.accepts(node("BatchNormalization", 5, ["training_mode": .int(1)]), inputTypes: [.float, .float, .float, .float, .float]))
    var pool = node("MaxPool", 1)
    pool.outputs = ["y", "indices"]
    #expect(VulkanKernels.accepts(pool, inputTypes: [.uint8]))
    #expect(!VulkanKernels.accepts(node("AveragePool", 1), inputTypes: [.uint8]))
    #expect(!VulkanKernels.accepts(node("AveragePool", 1, ["kernel_shape": .ints([2, 2, 2, 2])]), inputTypes: [.float]))
    #expect(VulkanKernels.accepts(node("LpPool", 1, ["kernel_shape": .ints([2, 2, 2])]), inputTypes: [.float]))
    #expect(VulkanKernels.accepts(node("AveragePool", 1, ["kernel_shape": .ints([2, 2])]), inputTypes: [.float]))
    let fused = Node(name: "f", opType: "FusedConv", domain: "com.microsoft", inputs: ["x", "w", "b", "z"], outputs: ["y"],
                     attributes: ["activation": .string(Array("Relu".utf8))])
    #expect(VulkanKernels.accepts(fused, inputTypes: [.float, .float, .float, .float]))
    var other = fused
    other.inputs = ["x", "w"]; other.attributes = ["activation": .string(Array("Sigmoid".utf8))]
    #expect(VulkanKernels.accepts(other, inputTypes: [.float, .float]))
    other.attributes = ["activation": .string(Array("Swish9".utf8))]  // no FusedActivation
    #expect(!VulkanKernels.accepts(other, inputTypes: [.float, .float]))
}
