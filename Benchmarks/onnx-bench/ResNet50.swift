import Vonnx
import Glibc

/// ResNet-50 v1 with the ONNX Model Zoo's layout (resnet50-v1-7): input "data" [N,3,224,224],
/// output "resnetv17_dense0_fwd" [N,1000]; seeded He-initialized weights and plausible
/// BatchNormalization statistics, residual branches scaled by 0.2 so activations stay O(1).
/// The same structure as scripts/make_resnet50.py (weights differ: another generator).
enum ResNet50 {
    static func model(seed: UInt64 = 0) -> Model {
        var random = NormalGenerator(seed: seed)
        var b = GraphBuilder(name: "resnet50")
        func tensor(_ shape: [Int], _ value: (inout NormalGenerator) -> Float) -> Tensor {
            let n = shape.reduce(1, *)
            return Tensor(shape: shape, scalars: (0..<n).map { _ in value(&random) })
        }
        func conv(_ x: String, _ cin: Int, _ cout: Int, _ k: Int, _ stride: Int, _ pad: Int) -> String {
            let scale = Float((2.0 / Double(cin * k * k)).squareRoot())
            let w = b.constant(tensor([cout, cin, k, k]) { $0.next() * scale }, prefix: "w")
            return b.node("Conv", [x, w], ["kernel_shape": .ints([k, k]), "strides": .ints([stride, stride]),
                                           "pads": .ints([pad, pad, pad, pad])])
        }
        func bn(_ x: String, _ c: Int) -> String {
            let gamma = b.constant(tensor([c]) { 1 + 0.1 * $0.next() }, prefix: "gamma")
            let beta = b.constant(tensor([c]) { 0.1 * $0.next() }, prefix: "beta")
            let mean = b.constant(tensor([c]) { 0.1 * $0.next() }, prefix: "mean")
            let variance = b.constant(tensor([c]) { 1 + 0.2 * $0.uniform() }, prefix: "var")
            return b.node("BatchNormalization", [x, gamma, beta, mean, variance], ["epsilon": .float(1e-5)])
        }
        func relu(_ x: String) -> String { b.node("Relu", [x]) }
        func block(_ x: String, _ cin: Int, _ mid: Int, _ cout: Int, _ stride: Int) -> String {
            var h = relu(bn(conv(x, cin, mid, 1, 1, 0), mid))
            h = relu(bn(conv(h, mid, mid, 3, stride, 1), mid))
            h = bn(conv(h, mid, cout, 1, 1, 0), cout)
            h = b.node("Mul", [h, b.constant(Tensor(shape: [1], scalars: [Float(0.2)]), prefix: "k")])
            let shortcut = cin == cout && stride == 1 ? x : bn(conv(x, cin, cout, 1, stride, 0), cout)
            return relu(b.node("Add", [h, shortcut]))
        }
        var x = b.input("data", .float, [.symbol("N"), .value(3), .value(224), .value(224)])
        x = relu(bn(conv(x, 3, 64, 7, 2, 3), 64))
        x = b.node("MaxPool", [x], ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])])
        var cin = 64
        for (mid, count, stride) in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)] {
            for i in 0..<count {
                x = block(x, cin, mid, mid * 4, i == 0 ? stride : 1)
                cin = mid * 4
            }
        }
        x = b.node("Flatten", [b.node("GlobalAveragePool", [x])], ["axis": .int(1)])
        let fcScale = Float((1.0 / 2048.0).squareRoot())
        let fcw = b.constant(tensor([1000, 2048]) { $0.next() * fcScale }, prefix: "fcw")
        let fcb = b.constant(Tensor(zeros: .float, shape: [1000]), prefix: "fcb")
        b.node("Gemm", [x, fcw, fcb], ["alpha": .float(1), "beta": .float(1), "transB": .int(1)], output: "resnetv17_dense0_fwd")
        b.output("resnetv17_dense0_fwd", .tensor(.float, shape: [.symbol("N"), .value(1000)]))
        return Model(irVersion: 8, opsets: ["": 13], producer: "vonnx", graph: b.graph)
    }
}

/// Seeded standard-normal numbers (SplitMix64 + Box–Muller).
struct NormalGenerator {
    private var state: UInt64
    private var spare: Float?
    init(seed: UInt64) { state = seed &+ 0x5DEE_CE66 }

    mutating func uniform() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476C_E5E4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 24)
    }

    mutating func next() -> Float {
        if let s = spare { spare = nil; return s }
        let u1 = max(uniform(), 1e-7), u2 = uniform()
        let r = (-2 * logf(u1)).squareRoot(), theta = 2 * Float.pi * u2
        spare = r * sinf(theta)
        return r * cosf(theta)
    }
}
