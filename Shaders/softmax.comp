#version 450
// Softmax (or LogSoftmax when LOG is 1) along one axis of a tensor seen as
// [outer, axisLength, inner]; a row is one (outer, inner) pair, visited as rows.glsl says.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint outer; uint axisLength; uint inner; } p;

#include "rows.glsl"

void main() {
    uint rows = p.outer * p.inner;
    for (uint r = ROW_FIRST; r < rows; r += ROW_STEP) {
        uint base = (r / p.inner) * p.axisLength * p.inner + r % p.inner;
        float m = uintBitsToFloat(0xff800000u);
        for (uint a = LANE; a < p.axisLength; a += LANES) m = max(m, x[base + a * p.inner]);
        m = rowMax(m);
        float s = 0.0;
        for (uint a = LANE; a < p.axisLength; a += LANES) s += exp(x[base + a * p.inner] - m);
        s = rowSum(s);
#if LOG
        float ls = log(s);
        for (uint a = LANE; a < p.axisLength; a += LANES) y[base + a * p.inner] = x[base + a * p.inner] - m - ls;
#else
        float inv = 1.0 / s;
        for (uint a = LANE; a < p.axisLength; a += LANES) y[base + a * p.inner] = exp(x[base + a * p.inner] - m) * inv;
#endif
    }
}
