#version 450
// TopK along the middle dim of [outer, n, inner], one invocation per input element: its rank
// in its line is how many elements come before it (greater, or less with LARGEST 0; equal
// ones by lower index; NaN above every number), and a rank under k writes the element and
// its index at that position of [outer, k, inner]. T is float, int or uint.
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer X { T x[]; };
layout(std430, binding = 1) writeonly buffer V { T values[]; };
layout(std430, binding = 2) writeonly buffer I { int indices[]; };
layout(push_constant) uniform Params { uint count; uint n; uint inner; uint k; } p;

bool greater(T a, T b) {
#ifndef INT
    if (isnan(a) || isnan(b)) return isnan(a) && !isnan(b);
#endif
    return a > b;
}

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
        uint e = i % p.inner, j = (i / p.inner) % p.n, o = i / (p.inner * p.n);
        uint line = o * p.n * p.inner + e;
        T v = x[i];
        uint rank = 0;
        for (uint q = 0; q < p.n && rank < p.k; ++q) {
            T w = x[line + q * p.inner];
#if LARGEST
            bool ahead = greater(w, v);
#else
            bool ahead = greater(v, w);
#endif
            if (ahead || (q < j && !greater(v, w) && !greater(w, v))) rank++;
        }
        if (rank < p.k) {
            uint at = (o * p.k + rank) * p.inner + e;
            values[at] = v;
            STORE_INDEX(indices, at, int(j));
        }
    }
}
