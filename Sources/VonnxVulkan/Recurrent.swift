import VonnxIR

/// RNN, GRU and LSTM on float32, as the CPU kernels compute them: one GEMM makes X·Wᵀ for
/// every step, direction and gate, then `Shaders/recurrent.comp` runs the steps, reading the
/// state the step before wrote (two states taking turns). The "recurrent" kernel variant picks
/// how: "sequence" runs every step in one dispatch, a workgroup per direction and batch entry
/// with a workgroup barrier between steps (small hidden sizes on GPUs, where a step is too little
/// work to pay for a dispatch and a pipeline barrier); "steps" runs one dispatch per step over every
/// unit, GRU with linear_before_reset = 0 adding one before it for the reset-scaled state its
/// candidate gate reads. Sequence lengths, reverse and bidirectional runs, both layouts,
/// initial states, clip, peepholes and input_forget are supported; the activations must be the
/// same for both directions.
enum RecurrentCell: Int {
    case rnn = 0, gru = 1, lstm = 2

    static let byName: [String: RecurrentCell] = ["RNN": .rnn, "GRU": .gru, "LSTM": .lstm]

    var gates: Int { [1, 3, 4][rawValue] }
    /// The activations one direction takes, by default.
    var defaultActivations: [String] { [["Tanh"], ["Sigmoid", "Tanh"], ["Sigmoid", "Tanh", "Tanh"]][rawValue] }

    /// The activation codes of `recurrent.comp` by lowercased ONNX name, with their default alpha and beta.
    static let activations: [String: (code: Int, alpha: Float, beta: Float)] = [
        "sigmoid": (0, 0, 0), "tanh": (1, 0, 0), "relu": (2, 0, 0), "affine": (3, 1, 0), "leakyrelu": (4, 0.01, 0),
        "thresholdedrelu": (5, 1, 0), "scaledtanh": (6, 1, 1), "hardsigmoid": (7, 0.2, 0.5), "elu": (8, 1, 0),
        "softsign": (9, 0, 0), "softplus": (10, 0, 0),
    ]

    /// The shader defines of `node`'s activations (F, G, H_ with their parameters), or nil
    /// when it names one the shader lacks or the two directions' differ.
    func activationDefines(_ node: Node) -> [String: String]? {
        guard let names = try? node.strings("activations") ?? defaultActivations,
              let alphas = try? node.floats("activation_alpha") ?? [],
              let betas = try? node.floats("activation_beta") ?? [] else { return nil }
        let count = defaultActivations.count
        guard names.count >= count else { return nil }
        var defines: [String: String] = [:], ai = 0, bi = 0
        var chosen: [[String]] = []
        for (i, name) in names.enumerated() {
            guard let a = Self.activations[name.lowercased()] else { return nil }
            var alpha = a.alpha, beta = a.beta
            // as the CPU kernel: alpha and beta lists are consumed by the functions that take them
            if ["affine", "leakyrelu", "thresholdedrelu", "scaledtanh", "hardsigmoid", "elu"].contains(name.lowercased()) {
                if ai < alphas.count { alpha = alphas[ai]; ai += 1 }
            }
            if ["affine", "scaledtanh", "hardsigmoid"].contains(name.lowercased()), bi < betas.count { beta = betas[bi]; bi += 1 }
            let words = ["\(a.code)", glslFloat(alpha), glslFloat(beta)]
            if i < count {
                let slot = ["F", "G", "H_"][i]
                defines[slot] = words[0]; defines[String(slot.prefix(1)) + "A"] = words[1]; defines[String(slot.prefix(1)) + "B"] = words[2]
            }
            chosen.append(words)
        }
        let perDirection = stride(from: 0, to: chosen.count - count + 1, by: count).map { Array(chosen[$0..<($0 + count)]) }
        guard perDirection.allSatisfy({ $0 == perDirection[0] }) else { return nil }
        return defines
    }
}

/// `v` as an exact GLSL float expression.
private func glslFloat(_ v: Float) -> String { "uintBitsToFloat(\(v.bitPattern)u)" }

func recordRecurrent(_ cell: RecurrentCell, _ ctx: VulkanKernelContext) throws -> [VulkanTensor] {
    let x = try ctx.input(0), w = try ctx.input(1), r = try ctx.input(2)
    let layout = try ctx.node.int("layout", default: 0)
    guard x.rank == 3, w.rank == 3, r.rank == 3, layout == 0 || layout == 1 else {
        throw ctx.error("X \(x.shape), W \(w.shape) and R \(r.shape) must have rank 3 and layout 0 or 1")
    }
    let (seq, batch, input) = layout == 0 ? (x.shape[0], x.shape[1], x.shape[2]) : (x.shape[1], x.shape[0], x.shape[2])
    let direction = try ctx.node.string("direction", default: "forward")
    guard let dirs = ["forward": 1, "reverse": 1, "bidirectional": 2][direction] else { throw ctx.error("unknown direction '\(direction)'") }
    let hidden = try ctx.node.int("hidden_size") ?? r.shape[2], gates = cell.gates, gh = gates * hidden
    guard hidden > 0, input > 0, w.shape == [dirs, gh, input], r.shape == [dirs, gh, hidden] else {
        throw ctx.error("W \(w.shape) or R \(r.shape) do not fit \(dirs) direction(s), hidden size \(hidden), input size \(input)")
    }
    guard var defines = cell.activationDefines(ctx.node) else { throw ctx.error("activations the Vulkan kernel lacks, or differing by direction") }
    defines["CELL"] = "\(cell.rawValue)"
    if direction == "reverse" { defines["REVERSE_ALL"] = "1" }
    if let clip = try ctx.node.float("clip") { defines["CLIP"] = glslFloat(clip) }
    if cell == .lstm, try ctx.node.int("input_forget", default: 0) != 0 { defines["COUPLED"] = "1" }

    let stateShape = layout == 0 ? [dirs, batch, hidden] : [batch, dirs, hidden]
    func check(_ t: VulkanTensor?, _ name: String, _ shape: [Int], integer: Bool = false) throws {
        guard let t else { return }
        guard t.shape == shape, integer ? t.dataType.isInteger : t.dataType == .float else {
            throw ctx.error("\(name) is \(t), expected \(integer ? "integers" : "float32") of shape \(shape)")
        }
    }
    let bias = ctx.optionalInput(3), lens = ctx.optionalInput(4), h0 = ctx.optionalInput(5), c0 = ctx.optionalInput(6)
    let peep = cell == .lstm ? ctx.optionalInput(7) : nil
    try check(bias, "B", [dirs, 2 * gh]); try check(lens, "sequence_lens", [batch], integer: true)
    try check(h0, "initial_h", stateShape); try check(c0, "initial_c", stateShape); try check(peep, "P", [dirs, 3 * hidden])
    if peep != nil { defines["PEEP"] = "1" }
    let resetFirst = try cell == .gru && ctx.node.int("linear_before_reset", default: 0) == 0
    if resetFirst { defines["RESET_FIRST"] = "1" }

    // X·Wᵀ for every (step, batch entry) row, all directions and gates along the columns.
    let rows = seq * batch
    let xw = try recordGemmShader(ctx, a: x, b: w, c: nil, shape: GemmShape(m: rows, n: dirs * gh, k: input, sa: (input, 1), sb: (1, input)),
                                  output: [rows, dirs * gh])
    let lengths = try lens ?? ctx.recorder.upload(Tensor(shape: [batch], scalars: [Int32](repeating: Int32(clamping: seq), count: batch)))
    // The state: two [h, c] taking turns, each h and c [dirs][batch][hidden], then GRU's r ⊙ h
    // (RESET_FIRST); layout 1's initial states are transposed in.
    let cells = dirs * batch * hidden
    let state = try ctx.recorder.makeTensor(shape: [(resetFirst ? 5 : 4) * cells])
    try ctx.recorder.fill(state, bits: 0)
    let order = layout == 0 ? [0, 1, 2] : [1, 0, 2], given = contiguousStrides(stateShape)
    for (k, initial) in [h0, c0].enumerated() {
        guard let initial else { continue }
        try recordStridedCopy(ctx, from: initial.buffer, inStrides: order.map { given[$0] }, to: state.buffer,
                              outOffset: k * cells, outStrides: contiguousStrides([dirs, batch, hidden]), shape: [dirs, batch, hidden])
    }
    let yShape = layout == 0 ? [seq, dirs, batch, hidden] : [batch, seq, dirs, hidden]
    let y = try ctx.recorder.makeTensor(shape: yShape)
    try ctx.recorder.fill(y, bits: 0)
    let biasValues = try bias ?? ctx.recorder.upload(Tensor(zeros: .float, shape: [dirs, 2 * gh])), peepValues = peep ?? biasValues
    if hidden % 4 == 0 { defines["VEC4"] = "1" }
    defines.merge(wordDefines(nil, indices: lengths)) { $1 }
    let buffers = [xw.buffer, r.buffer, biasValues.buffer, lengths.buffer, state.buffer, y.buffer, peepValues.buffer]
    let variant = KernelVariants.choose("recurrent", rows: dirs * batch, columns: hidden, device: ctx.device)
    // "sequence" runs as many steps a dispatch as the device's loops may iterate; "steps" one.
    let perDispatch = variant.name == "sequence" ? min(seq, ctx.device.properties.loopIterationLimit ?? seq) : 1
    for first in stride(from: 0, to: seq, by: max(perDispatch, 1)) {
        var push = PushConstants()
        for v in [first, min(perDispatch, seq - first), seq, batch, hidden, dirs, layout] { push.add(v) }
        if variant.name == "sequence" {
            try ctx.dispatch(variant, defines: defines, buffers: buffers, push: push, columns: 1, rows: 1, batch: dirs * batch)
        } else {
            for pass in resetFirst ? [["PASS_RESET": "1"], [:]] : [[:]] {
                // the shader strides over the units, so the grid may stop at the dispatch limit
                try ctx.dispatch(variant, defines: defines.merging(pass) { $1 }, buffers: buffers, push: push,
                                 columns: min(cells, 65535 * variant.width), rows: 1, batch: 1)
            }
        }
    }
    let last = seq % 2 * 2 * cells
    // Y_h and Y_c from the last state, in the layout's order.
    let outputs = try (0..<(cell == .lstm ? 2 : 1)).map { k -> VulkanTensor in
        let final = try ctx.recorder.makeTensor(shape: stateShape)
        let strides = contiguousStrides(stateShape)
        try recordStridedCopy(ctx, from: state.buffer, inOffset: last + k * cells, inStrides: contiguousStrides([dirs, batch, hidden]),
                              to: final.buffer, outStrides: order.map { strides[$0] }, shape: [dirs, batch, hidden])
        return final
    }
    return [y] + outputs
}
