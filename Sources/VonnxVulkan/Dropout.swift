import VonnxIR

/// Dropout as the CPU kernel. At inference, or with ratio 0, the input itself (a view) and a
/// mask all true (before opset 10, ones of the input's type). In training mode with a nonzero
/// ratio (opset 12 on: ratio and training_mode read on the host), float x with the `seed`
/// attribute: the mask drawn on the device from that seed as the CPU draws it (NumPy's
/// MT19937, `Shaders/dropout.comp`), so both give the same mask, and the kept elements scaled
/// by 1 / (1 − ratio). Without a seed the CPU draws a new mask each run, which a recorded
/// partition cannot: the kernel refuses it.
func recordDropout(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0)
    let wantsMask = ctx.node.outputs.count > 1 && !ctx.node.outputs[1].isEmpty
    func scalar(_ i: Int, _ name: String) throws -> Double? {
        guard ctx.opset >= 12, let t = try ctx.hostInput(i) else { return nil }
        guard t.count == 1, t.dataType != .string else { throw ctx.error("\(name) must hold one number, got \(t)") }
        return t.doubles()[0]
    }
    let ratio = try scalar(1, "ratio") ?? Double(try ctx.node.float("ratio", default: 0.5))
    guard ratio >= 0, ratio < 1 else { throw ctx.error("ratio \(ratio) is outside [0, 1)") }
    guard try scalar(2, "training_mode") ?? 0 != 0, ratio > 0 else {
        guard wantsMask else { return [x] }
        let mask = ctx.opset >= 10 ? Tensor(shape: x.shape, scalars: [Bool](repeating: true, count: x.count))
            : Tensor(shape: x.shape, scalars: [Float](repeating: 1, count: x.count))
        return [x, try ctx.recorder.upload(mask)]
    }
    guard let seed = try ctx.node.int("seed") else {
        throw ctx.error("Dropout in training mode without a seed draws a new mask each run, which a recorded Vulkan partition cannot")
    }
    guard x.dataType.isFloatingPoint else { throw ctx.error("training mode takes a floating-point input, got \(x.dataType)") }
    let y = try ctx.recorder.makeTensor(shape: x.shape, dataType: x.dataType)
    let mask = try ctx.recorder.makeTensor(shape: x.shape, dataType: .bool)
    // kept where the 53 random bits are at least ratio·2^53 (exact: a double times a power of two)
    let threshold = UInt64((ratio * 0x1p53).rounded(.up)), scale = 1 / (1 - ratio)
    var push = PushConstants()
    for v in [x.count, Int(UInt32(truncatingIfNeeded: seed)), Int(threshold >> 26), Int(threshold & (1 << 26 - 1))] { push.add(v) }
    push.add(Float(scale))
    push.add(bits: UInt32(truncatingIfNeeded: scale.bitPattern)); push.add(bits: UInt32(truncatingIfNeeded: scale.bitPattern >> 32))
    var defines = typeDefines(x.dataType, x.dataType, ctx.device.storage)
    for (pass, count) in [elementwiseGroup, x.count].enumerated() where x.count > 0 {
        defines["PASS"] = "\(pass)"
        try ctx.dispatch1D("dropout", defines: defines, buffers: [x, mask, y].map(\.buffer), push: push, count: count)
    }
    if !wantsMask { ctx.recorder.recycle(mask) }
    return wantsMask ? [y, mask] : [y]
}
