import Glibc
import VonnxIR

/// The longest transform the device sums directly (each output value costs O(n)).
let maxDeviceDFTLength = 1 << 16

/// DFT (opset 17: axis attribute, default 1; opset 20: axis input 2, default -2) of float32
/// [..., signal dims..., 1 or 2] as the CPU kernel, dft_length and axis read on the host:
/// zero-padded or truncated to dft_length, onesided keeping n/2+1 bins forward and reading a
/// one-sided (Hermitian) spectrum inverse, to a real output (`Shaders/dft.comp`).
func recordDFT(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    guard x.rank >= 2, x.shape[x.rank - 1] == 1 || x.shape[x.rank - 1] == 2 else {
        throw ctx.error("input must end in a dim of 1 (real) or 2 (complex), got \(x.shape)")
    }
    var axis = try ctx.node.int("axis", default: 1)
    if ctx.opset >= 20 {
        axis = -2
        if let a = try ctx.hostInput(2) {
            guard a.count == 1, a.dataType.isInteger else { throw ctx.error("axis must be one integer") }
            axis = a.ints()[0]
        }
    }
    axis = try ctx.axis(axis, rank: x.rank)
    guard axis < x.rank - 1 else { throw ctx.error("axis \(axis) must not be the last (complex) axis") }
    let inverse = try ctx.node.int("inverse", default: 0) != 0, onesided = try ctx.node.int("onesided", default: 0) != 0
    let length = x.shape[axis], hermitian = inverse && onesided
    var n = hermitian ? 2 * (length - 1) : length
    if let l = try ctx.hostInput(1) {
        guard l.count == 1, l.dataType.isInteger else { throw ctx.error("dft_length must be one integer") }
        n = l.ints()[0]
    }
    guard n > 0, n <= maxDeviceDFTLength else { throw ctx.error("dft_length \(n) must be in 1...\(maxDeviceDFTLength) on Vulkan") }
    var shape = x.shape
    shape[axis] = onesided && !inverse ? n / 2 + 1 : n
    shape[x.rank - 1] = hermitian ? 1 : 2
    let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)..<(x.rank - 1)].reduce(1, *)
    return [try recordTransform(ctx, x, window: nil, shape: shape, lines: (outer, 1, shape[axis], inner), span: length,
                                n: n, length: length, step: 0, inverse: inverse, hermitian: hermitian)]
}

/// STFT of float32 signal [batch, length, 1 or 2] as the CPU kernel, frame_step and
/// frame_length read on the host, the window (input 2) on the device: output [batch, frames,
/// bins, 2], bins = frame_length/2+1 when onesided (the default) (`Shaders/dft.comp`).
func recordSTFT(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), window = ctx.optionalInput(2)
    guard x.rank == 3, x.shape[2] == 1 || x.shape[2] == 2 else { throw ctx.error("signal must be [batch, length, 1 or 2], got \(x.shape)") }
    guard let stepTensor = try ctx.hostInput(1), stepTensor.count == 1, stepTensor.dataType.isInteger, stepTensor.ints()[0] > 0 else {
        throw ctx.error("frame_step must be one positive integer")
    }
    let step = stepTensor.ints()[0], length = x.shape[1]
    var frameLength = window?.count ?? length
    if let fl = try ctx.hostInput(3) {
        guard fl.count == 1, fl.dataType.isInteger else { throw ctx.error("frame_length must be one integer") }
        frameLength = fl.ints()[0]
    }
    guard frameLength > 0, frameLength <= length, frameLength <= maxDeviceDFTLength else {
        throw ctx.error("frame_length \(frameLength) must be in 1...\(min(length, maxDeviceDFTLength))")
    }
    if let window, window.rank != 1 || window.count != frameLength {
        throw ctx.error("window \(window.shape) must hold frame_length \(frameLength) values")
    }
    let frames = (length - frameLength) / step + 1
    let bins = try ctx.node.int("onesided", default: 1) != 0 ? frameLength / 2 + 1 : frameLength
    return [try recordTransform(ctx, x, window: window, shape: [x.shape[0], frames, bins, 2], lines: (x.shape[0], frames, bins, 1),
                                span: length, n: frameLength, length: frameLength, step: step, inverse: false, hermitian: false)]
}

/// Records `Shaders/dft.comp` over x as [outer, span, inner, 1 or 2] (span = x's samples a
/// line) into a new float32 tensor of `shape`: [outer, frames, bins, inner] values, complex
/// unless `hermitian`.
private func recordTransform(_ ctx: VulkanKernelContext, _ x: VulkanTensor, window: VulkanTensor?, shape: [Int],
                             lines: (outer: Int, frames: Int, bins: Int, inner: Int), span: Int, n: Int, length: Int, step: Int,
                             inverse: Bool, hermitian: Bool) throws -> VulkanTensor {
    guard x.dataType == .float, window.map({ $0.dataType == .float }) ?? true else {
        throw ctx.error("the input and window must be float32 on Vulkan, got \(x.dataType)")
    }
    let y = try ctx.recorder.makeTensor(shape: shape)
    let count = lines.outer * lines.frames * lines.bins * lines.inner
    var push = PushConstants()
    for v in [count, lines.frames, lines.bins, lines.inner, n, length, span, step] { push.add(v) }
    let flags = ["COMPLEX": x.shape[x.rank - 1] == 2, "WINDOW": window != nil, "INVERSE": inverse, "HERMITIAN": hermitian]
    try ctx.dispatch1D("dft", defines: flags.mapValues { $0 ? "1" : "0" }, buffers: [x.buffer, (window ?? x).buffer, y.buffer],
                       push: push, count: count)
    return y
}
