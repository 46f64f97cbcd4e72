import VonnxIR

extension CPUKernels {
    /// RotaryEmbedding (opset 23): rotates the first `rotary_embedding_dim` features of each
    /// head by the cached cos/sin (indexed by position_ids when given); input [B, H, S, D] or
    /// [B, S, H·D] with `num_heads`.
    public static let rotaryEmbedding: CPUKernel = widenFloat16 { ctx in
        struct Apply: RealVisitor {
            let ctx: KernelContext
            func callAsFunction<T: RealElement>(_: T.Type) throws -> [Tensor] {
                let x = try ctx.input(0), cosT = try ctx.input(1), sinT = try ctx.input(2), positions = ctx.optionalInput(3)
                let interleaved = try ctx.node.int("interleaved", default: 0) != 0
                guard x.rank == 3 || x.rank == 4 else { throw ctx.error("input \(x.shape) must be 3-D or 4-D") }
                let b = x.shape[0]
                let (h, s, d): (Int, Int, Int)
                if x.rank == 4 {
                    (h, s, d) = (x.shape[1], x.shape[2], x.shape[3])
                } else {
                    let heads = try ctx.node.int("num_heads", default: 0)
                    guard heads > 0, x.shape[2] % heads == 0 else { throw ctx.error("num_heads \(heads) must divide \(x.shape[2])") }
                    (h, s, d) = (heads, x.shape[1], x.shape[2] / heads)
                }
                var rot = try ctx.node.int("rotary_embedding_dim", default: 0)
                if rot == 0 { rot = d }
                guard rot <= d, rot % 2 == 0 else { throw ctx.error("rotary_embedding_dim \(rot) must be even and ≤ \(d)") }
                let half = rot / 2
                guard cosT.shape.last == half, sinT.shape == cosT.shape else {
                    throw ctx.error("cos_cache \(cosT.shape) and sin_cache \(sinT.shape) must end in \(half)")
                }
                let cosV = elements(cosT, T.self), sinV = elements(sinT, T.self)
                let pos = positions?.ints()
                if let pos {
                    guard pos.count == b * s || pos.count == s else { throw ctx.error("position_ids must hold \(b * s) values") }
                    let rows = cosT.count / half
                    guard pos.allSatisfy({ $0 >= 0 && $0 < rows }) else { throw ctx.error("a position id is outside [0, \(rows))") }
                } else {
                    guard cosT.count == b * s * half else { throw ctx.error("cos_cache \(cosT.shape) must be [\(b), \(s), \(half)]") }
                }
                let y = Tensor(zeros: T.dataType, shape: x.shape)
                let px = elements(x, T.self), py = elements(y, T.self)
                for bi in 0..<b { for si in 0..<s {
                    let row = pos.map { $0.count == s ? $0[si] : $0[bi * s + si] } ?? (bi * s + si)
                    for hi in 0..<h {
                        let base = x.rank == 4 ? ((bi * h + hi) * s + si) * d : ((bi * s + si) * h + hi) * d
                        for i in rot..<d { py[base + i] = px[base + i] }
                        for i in 0..<half {
                            let (i1, i2) = interleaved ? (2 * i, 2 * i + 1) : (i, i + half)
                            let c = cosV[row * half + i], sn = sinV[row * half + i]
                            let x1 = px[base + i1], x2 = px[base + i2]
                            py[base + i1] = c * x1 - sn * x2
                            py[base + i2] = sn * x1 + c * x2
                        }
                    }
                } }
                return [y]
            }
        }
        return try ctx.input(0).dataType.visitReal(Apply(ctx: ctx), ctx)
    }
}
