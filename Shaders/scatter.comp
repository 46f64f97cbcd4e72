#version 450
// ScatterElements (ELEMENTS 1) and ScatterND (ELEMENTS 0) into y, which already holds a copy
// of the data, combining by REDUCTION (0 none, 1 add, 2 mul, 3 max, 4 min). One invocation
// applies the updates in order, as the ops define for repeated indices; T is float or int.
// Negative indices count from the end.
#ifndef T
#define T float
#endif
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) buffer Y { T y[]; };
layout(std430, binding = 1) readonly buffer I { int idx[]; };
layout(std430, binding = 2) readonly buffer U { T u[]; };
// ELEMENTS: n updates of `shape` (rank dims), written along `axis`; ND: n index tuples of
// length k, each selecting a slice of `slice` elements. dims/ds: the data's shape and strides.
layout(push_constant) uniform Params { uint n; uint rank; uint axis; uint k; uint slice; uint shape[8]; uint dims[8]; uint ds[8]; } p;

T combine(T old, T v) {
#if REDUCTION == 1
    return old + v;
#elif REDUCTION == 2
    return old * v;
#elif REDUCTION == 3
    return max(old, v);
#elif REDUCTION == 4
    return min(old, v);
#else
    return v;
#endif
}

uint wrap(int v, uint len) { return uint(v < 0 ? v + int(len) : v); }

void main() {
    if (gl_GlobalInvocationID.x != 0u) return;
    for (uint j = 0; j < p.n; ++j) {
#if ELEMENTS
        uint rem = j, dst = 0;
        for (int d = int(p.rank) - 1; d >= 0; --d) {
            uint c = rem % p.shape[d];
            rem /= p.shape[d];
            if (uint(d) == p.axis) c = wrap(INDEX(idx, j), p.dims[d]);
            dst += c * p.ds[d];
        }
        y[dst] = combine(y[dst], u[j]);
#else
        uint dst = 0;
        for (uint t = 0; t < p.k; ++t) dst += wrap(INDEX(idx, j * p.k + t), p.dims[t]) * p.ds[t];
        for (uint s = 0; s < p.slice; ++s) y[dst + s] = combine(y[dst + s], u[j * p.slice + s]);
#endif
    }
}
