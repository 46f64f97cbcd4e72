/// The precision a backend's kernels may compute float32 tensors in.
public enum Precision: String, Sendable, CaseIterable {
    /// float32 storage and arithmetic throughout (the default).
    case fp32
    /// Constant operands of the convolution and matrix-product kernels (weights, and what is
    /// derived from them such as Winograd-transformed filters) are stored as float16 and
    /// widened in the kernel, which sums in float32: half the weight bytes for a relative
    /// error of about 2⁻¹¹ per weight. Activations stay float32.
    case fp16
}
