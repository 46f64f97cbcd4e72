#version 450
// Reduces each row of a contiguous [rows, len] input to one value, one invocation a row:
// the Reduce* ops by OP define, and ArgMax/ArgMin (R = int; `last` picks the last of ties).
#ifndef R
#define R float
#endif
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
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { R y[]; };
layout(push_constant) uniform Params { uint rows; uint len; uint last; } p;

#define INF uintBitsToFloat(0x7f800000u)

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint r = gl_GlobalInvocationID.x; r < p.rows; r += stride) {
        uint base = r * p.len;
#if OP == OP_ARGMAX || OP == OP_ARGMIN
        uint best = 0;
        for (uint i = 1; i < p.len; ++i) {
            float v = x[base + i], b = x[base + best];
#if OP == OP_ARGMAX
            if (v > b || (p.last != 0u && v == b)) best = i;
#else
            if (v < b || (p.last != 0u && v == b)) best = i;
#endif
        }
        y[r] = int(best);
#elif OP == OP_LOG_SUM_EXP
        float m = -INF;
        for (uint i = 0; i < p.len; ++i) m = max(m, x[base + i]);
        float s = 0.0;
        for (uint i = 0; i < p.len; ++i) s += exp(x[base + i] - m);
        y[r] = p.len == 0u ? -INF : m + log(s);
#else
#if OP == OP_MAX
        float acc = -INF;
#elif OP == OP_MIN
        float acc = INF;
#elif OP == OP_PROD
        float acc = 1.0;
#else
        float acc = 0.0;
#endif
        for (uint i = 0; i < p.len; ++i) {
            float v = x[base + i];
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
#if OP == OP_MEAN
        acc /= float(p.len);
#elif OP == OP_L2
        acc = sqrt(acc);
#elif OP == OP_LOG_SUM
        acc = log(acc);
#endif
        y[r] = acc;
#endif
    }
}
