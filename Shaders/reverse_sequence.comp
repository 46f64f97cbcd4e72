#version 450
// ReverseSequence of x viewed as [d0, d1, inner], time and batch its first two dims (TIME_FIRST:
// time is d0), one invocation per element of any type (words.glsl): y[t, b] = x[len[b] − 1 − t, b]
// where t < len[b], else x[t, b].
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer X { WORD x[]; };
layout(std430, binding = 1) readonly buffer L { int lens[]; };
layout(std430, binding = 2) writeonly buffer Y { WORD y[]; };
layout(push_constant) uniform Params { uint n; uint d1; uint inner; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint e = gl_GlobalInvocationID.x; e < p.n; e += stride) {
        uint k = e % p.inner, j = (e / p.inner) % p.d1, i = e / (p.inner * p.d1);
#if TIME_FIRST
        uint t = i, len = uint(lens[j]);
        y[e] = x[((t < len ? len - 1u - t : t) * p.d1 + j) * p.inner + k];
#else
        uint t = j, len = uint(lens[i]);
        y[e] = x[(i * p.d1 + (t < len ? len - 1u - t : t)) * p.inner + k];
#endif
    }
}
