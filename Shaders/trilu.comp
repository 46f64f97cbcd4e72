#version 450
// Trilu of elements of any type (words.glsl) over [batch, rows, cols]: keeps x where col - row >= k (upper) or
// col - row <= k (lower, UPPER 0), writes zero elsewhere.
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer X { WORD x[]; };
layout(std430, binding = 1) writeonly buffer Y { WORD y[]; };
layout(push_constant) uniform Params { uint n; uint rows; uint cols; int k; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
        int col = int(i % p.cols), row = int((i / p.cols) % p.rows);
#if UPPER
        bool keep = col - row >= p.k;
#else
        bool keep = col - row <= p.k;
#endif
        y[i] = keep ? x[i] : WORD_ZERO;
    }
}
