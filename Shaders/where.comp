#version 450
// Where with NumPy broadcasting: y = c ? a : b, on elements of any type (words.glsl) (c is
// bool as uint). Operand strides are 0 along broadcast dims; shapes are padded to rank <= 6.
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer C { uint c[]; };
layout(std430, binding = 1) readonly buffer A { WORD a[]; };
layout(std430, binding = 2) readonly buffer B { WORD b[]; };
layout(std430, binding = 3) writeonly buffer Y { WORD y[]; };
layout(push_constant) uniform Params { uint n; uint rank; uint shape[6]; uint sc[6]; uint sa[6]; uint sb[6]; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
        uint rem = i, ic = 0, ia = 0, ib = 0;
        for (int d = int(p.rank) - 1; d >= 0; --d) {
            uint k = rem % p.shape[d];
            rem /= p.shape[d];
            ic += k * p.sc[d];
            ia += k * p.sa[d];
            ib += k * p.sb[d];
        }
        y[i] = c[ic] != 0u ? a[ia] : b[ib];
    }
}
