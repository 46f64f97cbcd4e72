#version 450
// Strided copy of elements of any type (words.glsl): for every index i of `shape` (rank 1...8),
// y[outOffset + sum(i * so)] = x[inOffset + sum(i * si)]; input strides may be negative
// (reversed slices) or 0 (broadcasts). Transpose, Concat, Slice, Expand, Tile, Split,
// DepthToSpace and contiguous copies of views are all this one shader.
// An invocation copies a run of up to RUN elements along the last dim, so the index
// arithmetic (a division a dim) is paid once a run: 1 on GPUs, where neighbouring lanes then
// touch neighbouring words; more on CPU devices, where integer division is a scalar loop over
// the lanes. n counts the runs.
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer X { WORD x[]; };
layout(std430, binding = 1) buffer Y { WORD y[]; };
layout(push_constant) uniform Params {
    uint n; uint rank; int inOffset; uint outOffset; uint shape[8]; int si[8]; uint so[8];
} p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint last = p.rank - 1, inner = p.shape[last];
    uint runs = (inner + RUN - 1) / RUN;
    int innerIn = p.si[last];
    uint innerOut = p.so[last];
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
        uint rem = i / runs, start = (i - rem * runs) * RUN;
        uint io = p.outOffset + start * innerOut;
        int ii = p.inOffset + int(start) * innerIn;
        for (int d = int(last) - 1; d >= 0; --d) {
            uint c = rem % p.shape[d];
            rem /= p.shape[d];
            ii += int(c) * p.si[d];
            io += c * p.so[d];
        }
        for (uint j = 0; j < RUN; ++j) {
            if (start + j >= inner) break;
            y[io] = x[ii];
            ii += innerIn;
            io += innerOut;
        }
    }
}
