#version 450
// QuantizeLinear (QUANTIZE 1) or DequantizeLinear (QUANTIZE 0), one invocation per element.
// x is walked as [outer, n, inner] around the quantization axis; element (o, j, e) takes its
// scale and zero point at o·strideOuter + (j / block)·strideAxis + e·strideInner (all strides
// 0 per tensor; per axis only strideAxis = 1 with block 1; blocked all three). ZERO_POINT 0:
// no zero point (binding 2 is not read).
// Quantize: T is float, R the quantized type, saturated to [LO, HI] (NaN: LO);
// round(x / scale) half to even, plus the zero point, as the CPU kernel.
// Dequantize: T is the quantized type, R float; (x − zero point) · scale, through `fit`.
#ifndef ZERO_POINT
#define ZERO_POINT 1
#endif
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { T x[]; };
layout(std430, binding = 1) readonly buffer S { float scale[]; };
#if QUANTIZE
layout(std430, binding = 2) readonly buffer Z { R zeroPoint[]; };
#else
layout(std430, binding = 2) readonly buffer Z { T zeroPoint[]; };
#endif
layout(std430, binding = 3) writeonly buffer Y { R y[]; };
layout(push_constant) uniform Params {
    uint count; uint n; uint inner; uint block; uint strideOuter; uint strideAxis; uint strideInner;
} p;

#include "fit.glsl"

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
        uint e = i % p.inner, j = (i / p.inner) % p.n, o = i / (p.inner * p.n);
        uint k = o * p.strideOuter + (j / p.block) * p.strideAxis + e * p.strideInner;
#if QUANTIZE
        float r = roundEven(x[i] / scale[k]);
#if ZERO_POINT
        r += float(zeroPoint[k]);
#endif
        y[i] = isnan(r) || r <= float(LO) ? LO : r >= float(HI) ? HI : R(r);
#else
        int v = int(x[i]);
#if ZERO_POINT
        v -= int(zeroPoint[k]);
#endif
        y[i] = fit(float(v) * scale[k]);
#endif
    }
}
