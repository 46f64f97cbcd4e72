#version 450
// Gather of elements of any type (words.glsl): y[o, j, i] = x[o, idx[j], i] for an input viewed as
// [outer, axisLen, inner] and `count` indices (negative ones count from the end).
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer X { WORD x[]; };
layout(std430, binding = 1) readonly buffer I { int idx[]; };
layout(std430, binding = 2) writeonly buffer Y { WORD y[]; };
layout(push_constant) uniform Params { uint n; uint axisLen; uint inner; uint count; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint k = gl_GlobalInvocationID.x; k < p.n; k += stride) {
        uint i = k % p.inner, j = (k / p.inner) % p.count, o = k / (p.inner * p.count);
        int v = INDEX(idx, j);
        uint a = uint(v < 0 ? v + int(p.axisLen) : v);
        y[k] = x[(o * p.axisLen + a) * p.inner + i];
    }
}
