#version 450
// LinearAttention (opset 27), one invocation per (batch, kv head, value feature m): column m of
// that head's [dk, dv] state evolves apart from the others, so the invocation walks the steps
// alone, keeping the column in `state` (past_state, or zeros, to start). Each step: GATED
// decays it by exp(decay) (per head, or per key feature with DECAY_PER_FEATURE); the update is
// v, or with DELTA beta·(v − state·k) (beta per kv head with BETA_PER_HEAD, else one a step);
// state += k·update; each of the `group` query heads of this kv head reads scale·(q·state).
// Inputs packed [B, T, heads·D] as the CPU kernel takes them.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) readonly buffer P { float past[]; };
layout(std430, binding = 4) readonly buffer G { float decay[]; };
layout(std430, binding = 5) readonly buffer B { float beta[]; };
layout(std430, binding = 6) writeonly buffer Y { float y[]; };
layout(std430, binding = 7) buffer S { float state[]; };
layout(push_constant) uniform Params { uint count; uint steps; uint kvHeads; uint group; uint dk; uint dv; float scale; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
        uint m = i % p.dv, head = (i / p.dv) % p.kvHeads, b = i / (p.dv * p.kvHeads);
        uint column = (b * p.kvHeads + head) * p.dk * p.dv + m;
        for (uint d = 0u; d < p.dk; ++d) {
#if PAST
            state[column + d * p.dv] = past[column + d * p.dv];
#else
            state[column + d * p.dv] = 0.0;
#endif
        }
        for (uint t = 0u; t < p.steps; ++t) {
            uint row = (b * p.steps + t) * p.kvHeads + head;
#if GATED
            for (uint d = 0u; d < p.dk; ++d) {
#if DECAY_PER_FEATURE
                float g = decay[row * p.dk + d];
#else
                float g = decay[row];
#endif
                state[column + d * p.dv] *= exp(g);
            }
#endif
            float update = v[row * p.dv + m];
#if DELTA
#if BETA_PER_HEAD
            float rate = beta[row];
#else
            float rate = beta[b * p.steps + t];
#endif
            float retrieved = 0.0;
            for (uint d = 0u; d < p.dk; ++d) retrieved += state[column + d * p.dv] * k[row * p.dk + d];
            update = rate * (update - retrieved);
#endif
            for (uint d = 0u; d < p.dk; ++d) state[column + d * p.dv] += k[row * p.dk + d] * update;
            for (uint g = 0u; g < p.group; ++g) {
                uint qRow = row * p.group + g;
                float s = 0.0;
                for (uint d = 0u; d < p.dk; ++d) s += q[qRow * p.dk + d] * state[column + d * p.dv];
                y[qRow * p.dv + m] = p.scale * s;
            }
        }
    }
}
