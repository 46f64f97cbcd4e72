#version 450
// Elementwise binary ops with NumPy broadcasting, one per OP define: y = op(a, b).
// Operand strides are 0 along broadcast dims; shapes are padded to rank <= 8. T is the
// operand type (float, int, or uint for bool) and R the result type (T unless defined).
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

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer A { T a[]; };
layout(std430, binding = 1) readonly buffer B { T b[]; };
layout(std430, binding = 2) writeonly buffer Y { R y[]; };
layout(push_constant) uniform Params { uint n; uint rank; uint shape[8]; uint sa[8]; uint sb[8]; } p;

float power(float x, float e) {
    if (e == 0.0) return 1.0;
    if (x == 0.0) return e > 0.0 ? 0.0 : uintBitsToFloat(0x7f800000u);
    if (x > 0.0) return pow(x, e);
    if (e != floor(e)) return uintBitsToFloat(0x7fc00000u);
    float r = pow(-x, e);
    return mod(e, 2.0) == 1.0 ? -r : r;
}

#if OP == OP_MOD || OP == OP_FMOD
// The remainder with the dividend's sign (C fmod); `floored` gives it the divisor's (Python %).
// INT is defined when T is int (integer division truncates).
T remainder(T u, T v, bool floored) {
#ifdef INT
    T r = u - v * (u / v);
#else
    T r = u - v * trunc(u / v);
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
    return u / v;
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
            y[iy + j] = op(a[ia], b[ib]);
            ia += innerA;
            ib += innerB;
        }
    }
}
