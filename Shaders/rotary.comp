#version 450
// RotaryEmbedding, one invocation per element of x: [B, H, S, D] (HEADS_LAST 0) or
// [B, S, H·D] (HEADS_LAST 1). The first `rot` features of each head rotate in pairs (i,
// i + rot/2), or (2i, 2i + 1) when INTERLEAVED, by the cache row's cos and sin: the row is
// position_ids[b·S + s] (positions = B·S), position_ids[s] (positions = S), else b·S + s;
// a row outside the cache's `rows` reads the nearest one. The other features are copied.
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer C { float cosCache[]; };
layout(std430, binding = 2) readonly buffer S { float sinCache[]; };
layout(std430, binding = 3) readonly buffer P { int positionIds[]; };
layout(std430, binding = 4) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint count; uint heads; uint seq; uint d; uint rot; uint positions; uint rows; } p;

#define R float
#include "fit.glsl"

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint half_ = p.rot / 2u;
    for (uint t = gl_GlobalInvocationID.x; t < p.count; t += stride) {
        uint i = t % p.d, head = t / p.d;
#if HEADS_LAST
        uint s = (head / p.heads) % p.seq, b = head / (p.heads * p.seq);
#else
        uint s = head % p.seq, b = head / (p.heads * p.seq);
#endif
        if (i >= p.rot) { y[t] = x[t]; continue; }
        uint base = t - i;
#if INTERLEAVED
        uint pair = i / 2u; bool first = i % 2u == 0u;
        uint i1 = 2u * pair, i2 = i1 + 1u;
#else
        uint pair = i % half_; bool first = i < half_;
        uint i1 = pair, i2 = pair + half_;
#endif
        int id = p.positions == 0u ? int(b * p.seq + s) : INDEX(positionIds, p.positions == p.seq ? s : b * p.seq + s);
        uint row = uint(clamp(id, 0, int(p.rows) - 1));
        float c = cosCache[row * half_ + pair], sn = sinCache[row * half_ + pair];
        float x1 = x[base + i1], x2 = x[base + i2];
        y[t] = fit(first ? c * x1 - sn * x2 : sn * x1 + c * x2);
    }
}
