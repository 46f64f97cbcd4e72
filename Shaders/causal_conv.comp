#version 450
// CausalConvWithState: a depthwise causal 1-D conv of x [B, C, L] by w [C, 1, K] over the
// sequence [past_state (K−1 values a channel, zeros without PAST), x], one invocation per
// element of y [B, C, L] and of the new state [B, C, K−1] (the sequence's last K−1 values).
// y = bias + Σ_j seq[t + j]·w[j], then x·sigmoid(x) with SILU.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) readonly buffer P { float past[]; };
layout(std430, binding = 4) writeonly buffer Y { float y[]; };
layout(std430, binding = 5) writeonly buffer S { float state[]; };
layout(push_constant) uniform Params { uint count; uint channels; uint steps; uint kernel; } p;

// Element j of plane's sequence: past_state then x.
float sequence(uint plane, uint j) {
    uint history = p.kernel - 1u;
    if (j >= history) return x[plane * p.steps + j - history];
#if PAST
    return past[plane * history + j];
#else
    return 0.0;
#endif
}

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint span = p.steps + p.kernel - 1u;
    for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
        uint plane = i / span, t = i % span;
        if (t >= p.steps) {
            uint j = t - p.steps;
            state[plane * (p.kernel - 1u) + j] = sequence(plane, p.steps + j);
            continue;
        }
        uint channel = plane % p.channels;
#if BIAS
        float s = bias[channel];
#else
        float s = 0.0;
#endif
        for (uint j = 0u; j < p.kernel; ++j) s += sequence(plane, t + j) * w[channel * p.kernel + j];
#if SILU
        s = s / (1.0 + exp(-s));
#endif
        y[plane * p.steps + t] = s;
    }
}
