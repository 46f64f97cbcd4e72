/// Namespace of the CPU kernels, one static per ONNX op (or op family), referenced by the
/// session's op table. Each op family lives in its own file as an extension.
public enum CPUKernels {}
