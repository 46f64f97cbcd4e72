import VonnxIR

/// GridSample (opset 16/20/22) of float32 X [N, C, D1..Dd] (d = 1 to 3) at grid
/// [N, O1..Od, d], as the CPU kernel (`Shaders/gridsample.comp`).
func recordGridSample(_ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), grid = try ctx.input(1)
    let d = x.rank - 2
    guard (1...3).contains(d), grid.rank == x.rank, grid.shape[0] == x.shape[0], grid.shape[grid.rank - 1] == d,
          x.dataType == .float, grid.dataType == .float else {
        throw ctx.error("X \(x) and grid \(grid) must be float32 [N, C, D1..Dd] and [N, O1..Od, d], d 1 to 3")
    }
    let modes = ["nearest": 0, "linear": 1, "bilinear": 1, "cubic": 2, "bicubic": 2], paddings = ["zeros": 0, "border": 1, "reflection": 2]
    let modeName = try ctx.node.string("mode", default: "linear"), paddingName = try ctx.node.string("padding_mode", default: "zeros")
    guard let mode = modes[modeName], let padding = paddings[paddingName] else {
        throw ctx.error("mode '\(modeName)' / padding_mode '\(paddingName)' is not supported")
    }
    let dims = Array(x.shape[2...]), outDims = Array(grid.shape[1..<(grid.rank - 1)])
    let y = try ctx.recorder.makeTensor(shape: Array(x.shape[..<2]) + outDims)
    guard dims.allSatisfy({ $0 > 0 }) || y.count == 0 else { throw ctx.error("cannot sample an empty input \(x.shape)") }
    var push = PushConstants()
    for v in [y.count, x.shape[1], outDims.reduce(1, *), d] { push.add(v) }
    push.add(dims, length: 3)
    let defines = ["MODE": "\(mode)", "PADDING": "\(padding)", "ALIGN": try ctx.node.int("align_corners", default: 0) != 0 ? "1" : "0"]
    try ctx.dispatch1D("gridsample", defines: defines, buffers: [x.buffer, grid.buffer, y.buffer], push: push, count: y.count)
    return [y]
}
