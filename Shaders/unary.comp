#version 450
// Elementwise unary ops, one per OP define: y = op(x). alpha/beta are the op's attributes
// (LeakyRelu/Elu/Celu/ThresholdedRelu alpha, Selu alpha/gamma, HardSigmoid alpha/beta, Clip
// min/max, Shrink bias/lambd, IsInf detect_positive/negative). T is the element type read
// (float, int, or uint for bool and unsigned types) and R the type written (T unless
// defined); each result goes through `fit` (fit.glsl) into the narrow type R stands for.
#ifndef T
#define T float
#endif
#ifndef R
#define R T
#endif
#define OP_RELU 0
#define OP_LEAKY_RELU 1
#define OP_SIGMOID 2
#define OP_TANH 3
#define OP_EXP 4
#define OP_LOG 5
#define OP_ABS 6
#define OP_NEG 7
#define OP_SQRT 8
#define OP_RECIPROCAL 9
#define OP_FLOOR 10
#define OP_CEIL 11
#define OP_ELU 12
#define OP_SELU 13
#define OP_HARD_SIGMOID 14
#define OP_CLIP 15
#define OP_SOFTPLUS 16
#define OP_HARD_SWISH 17
#define OP_SIN 18
#define OP_COS 19
#define OP_TAN 20
#define OP_ASIN 21
#define OP_ACOS 22
#define OP_ATAN 23
#define OP_SINH 24
#define OP_COSH 25
#define OP_ASINH 26
#define OP_ACOSH 27
#define OP_ATANH 28
#define OP_ERF 29
#define OP_SIGN 30
#define OP_ROUND 31
#define OP_SOFTSIGN 32
#define OP_MISH 33
#define OP_GELU 34
#define OP_GELU_TANH 35
#define OP_CELU 36
#define OP_THRESHOLDED_RELU 37
#define OP_NOT 38
#define OP_ISNAN 39
#define OP_ISINF 40
#define OP_CONVERT 41
#define OP_NONZERO 42
#define OP_SHRINK 43
#define OP_BITWISE_NOT 44

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { T x[]; };
layout(std430, binding = 1) writeonly buffer Y { R y[]; };
layout(push_constant) uniform Params { uint n; float alpha; float beta; } p;

#include "activation.glsl"
#include "fit.glsl"

#if OP == OP_CONVERT
// Cast as the CPU does: a float to an integer type truncates toward zero and saturates to
// [LO, HI] (defined then; NaN gives 0); other conversions keep the value or, between
// integers, its bits, and `fit` then rounds or wraps it into a narrow target.
R convert(T v) {
#ifdef LO
    if (isnan(v)) return R(0);
    if (v <= float(LO)) return LO;
    if (v >= float(HI)) return HI;
#endif
    return R(v);
}
#endif

R op(T v) {
#if OP == OP_RELU
    return v < 0.0 ? 0.0 : v;
#elif OP == OP_LEAKY_RELU
    return v < 0.0 ? p.alpha * v : v;
#elif OP == OP_SIGMOID
    return sigmoid(v);
#elif OP == OP_TANH
    return tanh_(v);
#elif OP == OP_EXP
    return exp(v);
#elif OP == OP_LOG
    return log(v);
#elif OP == OP_ABS
    return abs(v);
#elif OP == OP_NEG
    return -v;
#elif OP == OP_SQRT
    return sqrt(v);
#elif OP == OP_RECIPROCAL
    return 1.0 / v;
#elif OP == OP_FLOOR
    return floor(v);
#elif OP == OP_CEIL
    return ceil(v);
#elif OP == OP_ELU
    return v < 0.0 ? p.alpha * (exp(v) - 1.0) : v;
#elif OP == OP_SELU
    return v <= 0.0 ? p.beta * p.alpha * (exp(v) - 1.0) : p.beta * v;
#elif OP == OP_HARD_SIGMOID
    return clamp(p.alpha * v + p.beta, 0.0, 1.0);
#elif OP == OP_CLIP
    return min(max(v, p.alpha), p.beta);
#elif OP == OP_SOFTPLUS
    return softplus(v);
#elif OP == OP_HARD_SWISH
    return v * clamp(v / 6.0 + 0.5, 0.0, 1.0);
#elif OP == OP_SIN
    return sin(v);
#elif OP == OP_COS
    return cos(v);
#elif OP == OP_TAN
    return tan(v);
#elif OP == OP_ASIN
    return atan(v, sqrt(1.0 - v * v));  // more precise than asin on some drivers (lavapipe)
#elif OP == OP_ACOS
    return atan(sqrt(1.0 - v * v), v);
#elif OP == OP_ATAN
    return atan(v);
#elif OP == OP_SINH
    return 0.5 * (exp(v) - exp(-v));
#elif OP == OP_COSH
    return 0.5 * (exp(v) + exp(-v));
#elif OP == OP_ASINH
    return sign(v) * log(abs(v) + sqrt(v * v + 1.0));
#elif OP == OP_ACOSH
    return log(v + sqrt(v * v - 1.0));
#elif OP == OP_ATANH
    return 0.5 * log((1.0 + v) / (1.0 - v));
#elif OP == OP_ERF
    return erf_(v);
#elif OP == OP_SIGN
    return v != v ? v : sign(v);  // NaN stays NaN
#elif OP == OP_ROUND
    return roundEven(v);
#elif OP == OP_SOFTSIGN
    return v / (1.0 + abs(v));
#elif OP == OP_MISH
    return v * tanh_(softplus(v));
#elif OP == OP_GELU
    return gelu(v);
#elif OP == OP_GELU_TANH
    return geluTanh(v);
#elif OP == OP_CELU
    return max(0.0, v) + min(0.0, p.alpha * (exp(v / p.alpha) - 1.0));
#elif OP == OP_THRESHOLDED_RELU
    return v > p.alpha ? v : 0.0;
#elif OP == OP_NOT
    return 1u - v;
#elif OP == OP_ISNAN
    return uint(isnan(v));
#elif OP == OP_ISINF
    return uint(isinf(v) && ((v > 0.0 && p.alpha != 0.0) || (v < 0.0 && p.beta != 0.0)));
#elif OP == OP_CONVERT
    return convert(v);
#elif OP == OP_NONZERO
    return uint(v != T(0));
#elif OP == OP_SHRINK
    return v < -p.beta ? v + p.alpha : v > p.beta ? v - p.alpha : 0.0;
#elif OP == OP_BITWISE_NOT
    return ~v;
#else
#error "unknown OP"
#endif
}

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) y[i] = fit(op(x[i]));
}
