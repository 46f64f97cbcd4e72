#version 450
// Reduces each row of a contiguous [rows, len] input to one value, rows visited as rows.glsl
// says: the Reduce* ops by OP define, and ArgMax/ArgMin (R = int; `last` picks the last of ties).
// T is the input's and the sums' type, float or double; GLSL has no double exp and log, so
// LogSum and LogSumExp take those in float precision.
#ifndef T
#define T float
#endif
#ifndef R
#define R T
#endif
#define ROW_T T
#define EXP(v) T(exp(float(v)))
#define LOG(v) T(log(float(v)))
#define OP_SUM 0
#define OP_MEAN 1
#define OP_MAX 2
#define OP_MIN 3
#define OP_PROD 4
#define OP_L1 5
#define OP_L2 6
#define OP_LOG_SUM 7
#define OP_LOG_SUM_EXP 8
#define OP_SUM_SQUARE 9
#define OP_ARGMAX 10
#define OP_ARGMIN 11

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { T x[]; };
layout(std430, binding = 1) writeonly buffer Y { R y[]; };
layout(push_constant) uniform Params { uint rows; uint len; uint last; } p;

#include "rows.glsl"

#define INF T(uintBitsToFloat(0x7f800000u))
#define NONE 0xffffffffu

#if OP == OP_ARGMAX || OP == OP_ARGMIN
// Whether value v at index i beats value b at index j (NONE: no element).
bool beats(T v, uint i, T b, uint j) {
    if (i == NONE) return false;
    if (j == NONE) return true;
#if OP == OP_ARGMAX
    if (v != b) return v > b;
#else
    if (v != b) return v < b;
#endif
    return p.last != 0u ? i > j : i < j;
}

#if ROW_GROUP
shared uint rowSharedIndex[gl_WorkGroupSize.x];
#endif

// The row's best index, from each lane's best (v, i).
uint rowBest(T v, uint i) {
#if ROW_GROUP
    rowShared[LANE] = v;
    rowSharedIndex[LANE] = i;
    barrier();
    for (uint s = LANES / 2u; s > 0u; s >>= 1u) {
        if (LANE < s && beats(rowShared[LANE + s], rowSharedIndex[LANE + s], rowShared[LANE], rowSharedIndex[LANE])) {
            rowShared[LANE] = rowShared[LANE + s];
            rowSharedIndex[LANE] = rowSharedIndex[LANE + s];
        }
        barrier();
    }
    i = rowSharedIndex[0];
    barrier();
#endif
    return i;
}
#endif

void main() {
    for (uint r = ROW_FIRST; r < p.rows; r += ROW_STEP) {
        uint base = r * p.len;
#if OP == OP_ARGMAX || OP == OP_ARGMIN
        T bestValue = T(0);
        uint best = NONE;
        for (uint i = LANE; i < p.len; i += LANES) {
            T v = x[base + i];
            if (beats(v, i, bestValue, best)) { bestValue = v; best = i; }
        }
        best = rowBest(bestValue, best);
        if (LANE == 0u) y[r] = int(best);
#elif OP == OP_LOG_SUM_EXP
        T m = -INF;
        for (uint i = LANE; i < p.len; i += LANES) m = max(m, x[base + i]);
        m = rowMax(m);
        T s = T(0);
        for (uint i = LANE; i < p.len; i += LANES) s += EXP(x[base + i] - m);
        s = rowSum(s);
        if (LANE == 0u) y[r] = p.len == 0u ? -INF : m + LOG(s);
#else
#if OP == OP_MAX
        T acc = -INF;
#elif OP == OP_MIN
        T acc = INF;
#elif OP == OP_PROD
        T acc = T(1);
#else
        T acc = T(0);
#endif
        for (uint i = LANE; i < p.len; i += LANES) {
            T v = x[base + i];
#if OP == OP_MAX
            acc = max(acc, v);
#elif OP == OP_MIN
            acc = min(acc, v);
#elif OP == OP_PROD
            acc *= v;
#elif OP == OP_L1
            acc += abs(v);
#elif OP == OP_L2 || OP == OP_SUM_SQUARE
            acc += v * v;
#else
            acc += v;
#endif
        }
#if OP == OP_MAX
        acc = rowMax(acc);
#elif OP == OP_MIN
        acc = rowMin(acc);
#elif OP == OP_PROD
        acc = rowProd(acc);
#else
        acc = rowSum(acc);
#endif
#if OP == OP_MEAN
        acc /= T(p.len);
#elif OP == OP_L2
        acc = sqrt(acc);
#elif OP == OP_LOG_SUM
        acc = LOG(acc);
#endif
        if (LANE == 0u) y[r] = acc;
#endif
    }
}
