#version 450
// GatherElements of elements of any type (words.glsl): y[i] = x[i with its `axis` coordinate replaced by idx[i]]
// (negative indices count from the end). shape is the indices' shape, xs the input's strides.
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer X { WORD x[]; };
layout(std430, binding = 1) readonly buffer I { int idx[]; };
layout(std430, binding = 2) writeonly buffer Y { WORD y[]; };
layout(push_constant) uniform Params { uint n; uint rank; uint axis; uint axisLen; uint shape[8]; uint xs[8]; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint k = gl_GlobalInvocationID.x; k < p.n; k += stride) {
        uint rem = k, ix = 0;
        for (int d = int(p.rank) - 1; d >= 0; --d) {
            uint c = rem % p.shape[d];
            rem /= p.shape[d];
            if (uint(d) == p.axis) {
                int v = INDEX(idx, k);
                c = uint(v < 0 ? v + int(p.axisLen) : v);
            }
            ix += c * p.xs[d];
        }
        y[k] = x[ix];
    }
}
