#version 450
// MaxUnpool in two passes (PASS 0, 1) over the bindings below; winners starts all -1.
// PASS 0, an invocation per element i of x: its index f, a row-major offset into the output
// MaxPool's window implies (`inferred`), names the element of y at the same coordinates (y's
// strides `outStrides`); the highest i naming an element wins it (atomicMax). An index outside
// [0, inferredCount) is skipped.
// PASS 1, an invocation per element of y: the element of x that won it, else zero.
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer X { WORD x[]; };
layout(std430, binding = 1) readonly buffer I { int indices[]; };
layout(std430, binding = 2) buffer Winners { int winners[]; };
layout(std430, binding = 3) writeonly buffer Y { WORD y[]; };
layout(push_constant) uniform Params {
    uint count; uint outCount; uint inferredCount; uint rank; uint inferred[5]; uint outStrides[5];
} p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
#if PASS == 0
    for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
        int f = INDEX(indices, i);
#ifdef WIDE_INDEX
        if (indices[2u * i + 1u] != (f >> 31)) continue;  // past int32
#endif
        if (f < 0 || uint(f) >= p.inferredCount) continue;
        uint rest = uint(f), at = 0;
        for (int k = int(p.rank) - 1; k >= 0; --k) {
            at += (rest % p.inferred[k]) * p.outStrides[k];
            rest /= p.inferred[k];
        }
        atomicMax(winners[at], int(i));
    }
#else
    for (uint i = gl_GlobalInvocationID.x; i < p.outCount; i += stride) {
        int w = winners[i];
        y[i] = w >= 0 ? x[w] : WORD_ZERO;
    }
#endif
}
