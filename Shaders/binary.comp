#version 450
// Elementwise binary ops with NumPy broadcasting, one per OP define: y = op(a, b).
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
#define OP_ADD 0
#define OP_SUB 1
#define OP_MUL 2
#define OP_DIV 3
#define OP_MAX 4
#define OP_MIN 5
#define OP_POW 6
#define OP_PRELU 7
#define OP_EQUAL 8
#define OP_LESS 9
#define OP_GREATER 10
#define OP_LESS_EQUAL 11
#define OP_GREATER_EQUAL 12
#define OP_AND 13
#define OP_OR 14
#define OP_XOR 15
#define OP_MOD 16
#define OP_FMOD 17
#define OP_SHIFT_LEFT 18
#define OP_SHIFT_RIGHT 19

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer A { T a[]; };
layout(std430, binding = 1) readonly buffer B { T b[]; };
layout(std430, binding = 2) writeonly buffer Y { R y[]; };
layout(push_constant) uniform Params { uint n; uint rank; uint shape[8]; uint sa[8]; uint sb[8]; } p;

#include "fit.glsl"
#ifdef FIT_BITS
#define WIDTH FIT_BITS
#else
#define WIDTH 32
#endif

float power(float x, float e) {
    if (e == 0.0) return 1.0;
    if (x == 0.0) return e > 0.0 ? 0.0 : uintBitsToFloat(0x7f800000u);
    if (x > 0.0) return pow(x, e);
    if (e != floor(e)) return uintBitsToFloat(0x7fc00000u);
    float r = pow(-x, e);
    return mod(e, 2.0) == 1.0 ? -r : r;
}

#ifdef INT
// Integer division as the CPU does it: by zero gives 0, and (SIGNED) the one overflowing
// quotient, of the smallest value by -1, wraps.
T quotient(T u, T v) {
    if (v == T(0)) return T(0);
#ifdef SIGNED
    if (v == -1) return -u;
#endif
    return u / v;
}
#endif

#if OP == OP_MOD || OP == OP_FMOD
// The remainder with the dividend's sign (C fmod); `floored` gives it the divisor's (Python %).
// An integer one truncates its quotient, and a zero divisor gives 0 as on the CPU.
T remainder(T u, T v, bool floored) {
#ifdef INT
    if (v == T(0)) return T(0);
    T r = u - v * quotient(u, v);
#else
    // Exact (C fmod): q·v is p + e exactly (Dekker's product; lavapipe's fma is not fused),
    // u - p is exact (Sterbenz) and so is r, representable. Only u / v may have rounded the
    // quotient past an integer, which the sign and size of r then show and one step corrects.
    precise float q = trunc(u / v), p = q * v;
    precise float c = 4097.0 * q, qh = c - (c - q), ql = q - qh;
    precise float d = 4097.0 * v, vh = d - (d - v), vl = v - vh;
    precise float e = ((qh * vh - p) + qh * vl + ql * vh) + ql * vl;
    precise float r = (u - p) - e;
    if (r != 0.0 && (r < 0.0) != (u < 0.0)) r += u < 0.0 ? -abs(v) : abs(v);
    else if (abs(r) >= abs(v)) r -= u < 0.0 ? -abs(v) : abs(v);
#endif
    if (floored && r != T(0) && ((r < T(0)) != (v < T(0)))) r += v;
    return r;
}
#endif

R op(T u, T v) {
#if OP == OP_ADD
    return u + v;
#elif OP == OP_SUB
    return u - v;
#elif OP == OP_MUL
    return u * v;
#elif OP == OP_DIV
#ifdef INT
    return quotient(u, v);
#else
    return u / v;
#endif
#elif OP == OP_MAX
    return max(u, v);
#elif OP == OP_MIN
    return min(u, v);
#elif OP == OP_POW
    return T(power(float(u), float(v)));
#elif OP == OP_PRELU
    return u < 0.0 ? u * v : u;
#elif OP == OP_EQUAL
    return uint(u == v);
#elif OP == OP_LESS
    return uint(u < v);
#elif OP == OP_GREATER
    return uint(u > v);
#elif OP == OP_LESS_EQUAL
    return uint(u <= v);
#elif OP == OP_GREATER_EQUAL
    return uint(u >= v);
#elif OP == OP_AND
    return u & v;
#elif OP == OP_OR
    return u | v;
#elif OP == OP_XOR
    return u ^ v;
#elif OP == OP_MOD
    return remainder(u, v, true);
#elif OP == OP_FMOD
    return remainder(u, v, false);
#elif OP == OP_SHIFT_LEFT
    return v >= WIDTH ? T(0) : u << v;
#elif OP == OP_SHIFT_RIGHT
    return v >= WIDTH ? T(0) : u >> v;
#else
#error "unknown OP"
#endif
}

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
            y[iy + j] = fit(op(a[ia], b[ib]));
            ia += innerA;
            ib += innerB;
        }
    }
}
