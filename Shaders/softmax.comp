#version 450
// Softmax (or LogSoftmax when LOG is 1) along one axis of a tensor seen as
// [outer, axisLength, inner]; one invocation per (outer, inner) row.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint outer; uint axisLength; uint inner; } p;

void main() {
    uint rows = p.outer * p.inner;
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint r = gl_GlobalInvocationID.x; r < rows; r += stride) {
        uint base = (r / p.inner) * p.axisLength * p.inner + r % p.inner;
        float m = uintBitsToFloat(0xff800000u);
        for (uint a = 0; a < p.axisLength; ++a) m = max(m, x[base + a * p.inner]);
        float s = 0.0;
        for (uint a = 0; a < p.axisLength; ++a) s += exp(x[base + a * p.inner] - m);
#if LOG
        float ls = log(s);
        for (uint a = 0; a < p.axisLength; ++a) y[base + a * p.inner] = x[base + a * p.inner] - m - ls;
#else
        float inv = 1.0 / s;
        for (uint a = 0; a < p.axisLength; ++a) y[base + a * p.inner] = exp(x[base + a * p.inner] - m) * inv;
#endif
    }
}
