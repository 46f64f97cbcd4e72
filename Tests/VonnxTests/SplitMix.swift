import VonnxIR

/// A seeded generator (SplitMix64) for random test inputs; each test draws a fresh seed and
/// names it in failures.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func floats(_ shape: [Int], _ range: ClosedRange<Float> = -2...2) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: range, using: &self) })
    }
    mutating func ints(_ shape: [Int], _ range: ClosedRange<Int64> = -9...9) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Int64.random(in: range, using: &self) })
    }
    mutating func int32s(_ shape: [Int], _ range: ClosedRange<Int32> = -9...9) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Int32.random(in: range, using: &self) })
    }
    mutating func bools(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Bool.random(using: &self) })
    }
}
