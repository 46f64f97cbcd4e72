#version 450
// Attention (ONNX opset 23): softmax(scale·Q·Kᵀ, softcapped, plus the mask and causal bias)·V
// per (batch, head); head h reads kv head h / (hq / hkv) (grouped-query). K and V are
// [B, hkv, total, d] contiguous (past and current already joined); Q and Y go through
// (batch, head, seq) strides, so 3-D [B, S, H·D] and 4-D layouts are one shader.
// MASK: 0 none, 1 additive float, 2 bool (false masks out); mask columns past `mcols` mask out.
// QK < 0: an invocation computes Y[b, h, i, d] in two passes over the keys (max, then the
// exp-sum and weighted values). QK >= 0: one element [b, h, i, j] of qk_matmul_output: the
// scores (0), with the bias added (2), or after the softmax (3).
#include "activation.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) readonly buffer M { uint mask[]; };
layout(std430, binding = 4) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params {
    uint n; uint hq; uint hkv; uint sq; uint total; uint dq; uint dv;
    uint qsb; uint qsh; uint qss; uint ysb; uint ysh; uint yss;
    uint msb; uint msh; uint mss; uint msj; uint mcols;
    uint causal; uint pastLength; float scale; float softcap;
} p;

#define NEG_INF uintBitsToFloat(0xff800000u)

float score(uint qBase, uint kBase, uint j) {
    float s = 0.0;
    for (uint c = 0; c < p.dq; ++c) s += q[qBase + c] * k[kBase + j * p.dq + c];
    s *= p.scale;
    return p.softcap > 0.0 ? p.softcap * tanh_(s / p.softcap) : s;
}

float bias(uint b, uint h, uint i, uint j) {
    if (p.causal != 0u && j > i + p.pastLength) return NEG_INF;
#if MASK != 0
    if (j >= p.mcols) return NEG_INF;
    uint m = mask[b * p.msb + h * p.msh + i * p.mss + j * p.msj];
#if MASK == 1
    return uintBitsToFloat(m);
#else
    return m != 0u ? 0.0 : NEG_INF;
#endif
#else
    return 0.0;
#endif
}

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint t = gl_GlobalInvocationID.x; t < p.n; t += stride) {
        uint inner = QK < 0 ? p.dv : p.total;
        uint e = t % inner, i = (t / inner) % p.sq, h = (t / (inner * p.sq)) % p.hq, b = t / (inner * p.sq * p.hq);
        uint kv = b * p.hkv + h / (p.hq / p.hkv);
        uint qBase = b * p.qsb + h * p.qsh + i * p.qss, kBase = kv * p.total * p.dq;
#if QK == 0 || QK == 2
        float s = score(qBase, kBase, e);
        y[t] = QK == 2 ? s + bias(b, h, i, e) : s;
#else
        float m = NEG_INF;
        for (uint j = 0; j < p.total; ++j) m = max(m, score(qBase, kBase, j) + bias(b, h, i, j));
        float sum = 0.0, acc = 0.0;
        for (uint j = 0; j < p.total; ++j) {
            float w = exp(score(qBase, kBase, j) + bias(b, h, i, j) - m);
            sum += w;
#if QK < 0
            acc += w * v[(kv * p.total + j) * p.dv + e];
#endif
        }
#if QK < 0
        y[b * p.ysb + h * p.ysh + i * p.yss + e] = acc / sum;
#else
        y[t] = exp(score(qBase, kBase, e) + bias(b, h, i, e) - m) / sum;
#endif
#endif
    }
}
