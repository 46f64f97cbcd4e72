#version 450
// LpNormalization along the middle dim of [outer, n, inner], one invocation per element:
// y = x / ‖its line‖ (P 1: the sum of |x|; P 2: the square root of the sum of squares), and
// 0 where that norm is 0, as the CPU kernel.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint count; uint n; uint inner; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
        uint base = (i / (p.n * p.inner)) * p.n * p.inner + i % p.inner;
        float norm = 0.0;
        for (uint q = 0; q < p.n; ++q) {
            float v = x[base + q * p.inner];
#if P == 1
            norm += abs(v);
#else
            norm += v * v;
#endif
        }
#if P == 2
        norm = sqrt(norm);
#endif
        y[i] = norm == 0.0 ? 0.0 : x[i] / norm;
    }
}
