#version 450
// Elementwise binary ops with NumPy broadcasting: y = OP(a, b), OP one of elementwise.glsl's
// binary macros.
// Operand strides are 0 along broadcast dims; shapes are padded to rank <= 8. T is the
// operand type (float, int, or uint for bool and unsigned types; INT defined for integer
// types, SIGNED for signed ones) and R the result type (T unless defined); each result goes
// through `fit` (fit.glsl) into the narrow type R stands for. Integer division and remainder
// by zero give 0 and shifts past the type's width give 0, as on the CPU.
// An invocation computes a run of up to RUN outputs along the last dim, paying the index
// divisions once a run (see copy.comp); n counts the runs.
#ifndef T
#define T float
#endif
#ifndef R
#define R T
#endif
#ifndef TB
#define TB T
#endif

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer A { T a[]; };
layout(std430, binding = 1) readonly buffer B { TB b[]; };
layout(std430, binding = 2) writeonly buffer Y { R y[]; };
layout(push_constant) uniform Params { uint n; uint rank; uint shape[8]; uint sa[8]; uint sb[8]; } p;

#include "activation.glsl"
#include "fit.glsl"
#include "elementwise.glsl"

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint last = p.rank - 1, inner = p.shape[last];
    uint runs = (inner + RUN - 1) / RUN, innerA = p.sa[last], innerB = p.sb[last];
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
        uint rem = i / runs, start = (i - rem * runs) * RUN;
        uint iy = rem * inner + start, ia = start * innerA, ib = start * innerB;
        for (int d = int(last) - 1; d >= 0; --d) {
            uint c = rem % p.shape[d];
            rem /= p.shape[d];
            ia += c * p.sa[d];
            ib += c * p.sb[d];
        }
        for (uint j = 0; j < RUN; ++j) {
            if (start + j >= inner) break;
            y[iy + j] = fit(R(OP(a[ia], b[ib])));
            ia += innerA;
            ib += innerB;
        }
    }
}
