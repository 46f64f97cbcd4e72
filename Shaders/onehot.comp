#version 450
// OneHot with values of any type (words.glsl): the output is the indices' shape with `depth` inserted at the axis,
// viewed as [outer, depth, inner]; y = on where the index (negative ones count from the end)
// equals the position along depth, else off. FLOAT_INDEX: the indices are floats (float32, or a
// half type the words hold as one), truncated toward zero as the CPU reads them.
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer I { int idx[]; };
layout(std430, binding = 1) writeonly buffer Y { WORD y[]; };
layout(push_constant) uniform Params { uint n; uint depth; uint inner; uint off; uint on; uint offHigh; uint onHigh; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint k = gl_GlobalInvocationID.x; k < p.n; k += stride) {
        uint i = k % p.inner, d = (k / p.inner) % p.depth, o = k / (p.inner * p.depth);
#ifdef FLOAT_INDEX
        float f = intBitsToFloat(idx[o * p.inner + i]);
        int v = abs(f) < 2147483648.0 ? int(f) : -1 - int(p.depth);
#else
        int v = INDEX(idx, o * p.inner + i);
#endif
        if (v < 0) v += int(p.depth);
        y[k] = v == int(d) ? WORD_OF(p.on, p.onHigh) : WORD_OF(p.off, p.offHigh);
    }
}
