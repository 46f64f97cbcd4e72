#version 450
// CumSum (CumProd with PROD) along the middle dim of [outer, len, inner], one invocation per
// (outer, inner) line; `exclusive` leaves out the element itself, `reverse` runs from the end.
// T is float or int.
#ifndef T
#define T float
#endif
#ifndef PROD
#define PROD 0
#endif
#if PROD
#define ACCUMULATE(a, v) a *= v
#else
#define ACCUMULATE(a, v) a += v
#endif
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { T x[]; };
layout(std430, binding = 1) writeonly buffer Y { T y[]; };
layout(push_constant) uniform Params { uint lines; uint len; uint inner; uint exclusive; uint reverse; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint l = gl_GlobalInvocationID.x; l < p.lines; l += stride) {
        uint base = (l / p.inner) * p.len * p.inner + l % p.inner;
        T acc = T(PROD);
        for (uint s = 0; s < p.len; ++s) {
            uint i = base + (p.reverse != 0u ? p.len - 1u - s : s) * p.inner;
            T v = x[i];
            if (p.exclusive != 0u) { y[i] = acc; ACCUMULATE(acc, v); } else { ACCUMULATE(acc, v); y[i] = acc; }
        }
    }
}
