#version 450
// NegativeLogLikelihoodLoss on log-probabilities x [N, C, D] and int32 or int64 targets [N, D] (words.glsl).
// FINAL 0, one invocation per target element i = (n, j): y[i] = -x[(n·C + t)·D + j]·w[t]
// (w = 1 without WEIGHT), and unless REDUCE is 0 (none) the weight itself at y[count + i];
// both 0 where t is ignore_index, NaN where t is out of range.
// FINAL 1, one invocation: y[0] = x[0] (summed losses), divided by x[1] (summed weights) when
// REDUCE is 2 (mean).
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer T { int t[]; };
layout(std430, binding = 2) readonly buffer W { float w[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint count; uint c; uint d; uint hasIgnore; int ignore; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
#if FINAL
        y[0] = REDUCE == 2 ? x[0] / x[1] : x[0];
#else
        int k = INDEX(t, i);
        float loss = 0.0, weight = 0.0;
        if (p.hasIgnore == 0u || k != p.ignore) {
            if (k < 0 || uint(k) >= p.c) {
                loss = uintBitsToFloat(0x7fc00000u);
            } else {
                weight = WEIGHT != 0 ? w[k] : 1.0;
                loss = -x[((i / p.d) * p.c + uint(k)) * p.d + i % p.d] * weight;
            }
        }
        y[i] = loss;
#if REDUCE != 0
        y[p.count + i] = weight;
#endif
#endif
    }
}
