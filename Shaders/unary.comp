#version 450
// Elementwise unary ops: y = OP(x), OP one of elementwise.glsl's unary macros or the
// conversions below. alpha/beta are the op's attributes
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

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { T x[]; };
layout(std430, binding = 1) writeonly buffer Y { R y[]; };
layout(push_constant) uniform Params { uint n; float alpha; float beta; } p;

#include "activation.glsl"
#include "fit.glsl"
#include "elementwise.glsl"

// Cast as the CPU does: a float to an integer type truncates toward zero and saturates to
// [LO, HI] (defined then; NaN gives 0); other conversions keep the value or, between
// integers, its bits, and `fit` then rounds or wraps it into a narrow target.
R convert(T v) {
#ifdef LO
    if (isnan(v)) return R(0);
    if (v <= float(LO)) return LO;
    if (v >= float(HI)) return HI;
#endif
#if defined(FIT_HALF) && defined(DOUBLE)
    return R(roundHalf64(v));
#else
    return R(v);
#endif
}

#define OP_CONVERT(v, a, b) convert(v)
#define OP_NONZERO(v, a, b) uint((v) != T(0))

R op(T v) { return OP(v, p.alpha, p.beta); }

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) y[i] = fit(op(x[i]));
}
