#version 450
// Pad of elements of any type (words.glsl), by MODE define: 0 constant (value), 1 reflect, 2 edge, 3 wrap.
// For each output index, the input coordinate along each dim is c - before[d] mapped into
// [0, inShape[d]) by the mode; constant mode writes `value` outside. Rank <= 8.
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer X { WORD x[]; };
layout(std430, binding = 1) writeonly buffer Y { WORD y[]; };
layout(push_constant) uniform Params { uint n; uint rank; uint value; uint valueHigh; uint outShape[8]; uint inShape[8]; int before[8]; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint k = gl_GlobalInvocationID.x; k < p.n; k += stride) {
        uint rem = k, ix = 0, inStride = 1;
        bool inside = true;
        for (int d = int(p.rank) - 1; d >= 0; --d) {
            int len = int(p.inShape[d]);
            int c = int(rem % p.outShape[d]) - p.before[d];
            rem /= p.outShape[d];
#if MODE == 0
            inside = inside && c >= 0 && c < len;
#elif MODE == 1
            if (len == 1) c = 0;
            else {
                int period = 2 * (len - 1);
                c = abs(c) % period;
                if (c >= len) c = period - c;
            }
#elif MODE == 2
            c = clamp(c, 0, len - 1);
#else
            c = ((c % len) + len) % len;
#endif
            if (inside) ix += uint(c) * inStride;
            inStride *= uint(len);
        }
        y[k] = inside ? x[ix] : WORD_OF(p.value, p.valueHigh);
    }
}
