#version 450
// ConvInteger (QLINEAR 0) and QLinearConv (QLINEAR 1) of x [N, C, H, W] (1-D as H = 1) by w
// [M, C/group, kh, kw], one invocation per output of [N, M, oh, ow]: Σ (x − xZero)·(w − wZero)
// in int32 over the window (padding adds nothing); xZeros and wZeros 0 (none), 1 (one value)
// or (w) one per output channel. QLINEAR: plus bias[m] when BIAS, requantized as
// requantize.glsl with multiplier[m] and yZero.
// TX, TW: int or uint as the operands' types.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { TX x[]; };
layout(std430, binding = 1) readonly buffer W { TW w[]; };
layout(std430, binding = 2) readonly buffer XZ { TX xz[]; };
layout(std430, binding = 3) readonly buffer WZ { TW wz[]; };
layout(std430, binding = 4) readonly buffer Bias { int bias[]; };
layout(std430, binding = 5) readonly buffer Multipliers { float multiplier[]; };
layout(std430, binding = 6) writeonly buffer Y { R y[]; };
layout(push_constant) uniform Params {
    uint count; uint c; uint h; uint w; uint m; uint oh; uint ow; uint kh; uint kw; uint sh; uint sw; uint dh; uint dw;
    uint padTop; uint padLeft; uint group; uint xZeros; uint wZeros; int yZero;
} p;

#if QLINEAR
#include "requantize.glsl"
#endif

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint perGroupIn = p.c / p.group, perGroupOut = p.m / p.group;
    for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
        uint ox = i % p.ow, oy = (i / p.ow) % p.oh, oc = (i / (p.ow * p.oh)) % p.m, n = i / (p.ow * p.oh * p.m);
        int zeroX = p.xZeros == 0u ? 0 : int(xz[0]);
        int zeroW = p.wZeros == 0u ? 0 : int(wz[p.wZeros == 1u ? 0u : oc]);
        uint firstIn = (oc / perGroupOut) * perGroupIn;
        int acc = 0;
        for (uint ic = 0; ic < perGroupIn; ++ic) {
            uint plane = (n * p.c + firstIn + ic) * p.h, taps = (oc * perGroupIn + ic) * p.kh;
            for (uint ky = 0; ky < p.kh; ++ky) {
                int iy = int(oy * p.sh + ky * p.dh) - int(p.padTop);
                if (iy < 0 || iy >= int(p.h)) continue;
                for (uint kx = 0; kx < p.kw; ++kx) {
                    int ix = int(ox * p.sw + kx * p.dw) - int(p.padLeft);
                    if (ix < 0 || ix >= int(p.w)) continue;
                    acc += (int(x[(plane + uint(iy)) * p.w + uint(ix)]) - zeroX) * (int(w[(taps + ky) * p.kw + kx]) - zeroW);
                }
            }
        }
#if QLINEAR
#if BIAS
        acc += bias[oc];
#endif
        y[i] = requantize(acc, multiplier[oc], p.yZero);
#else
        y[i] = acc;
#endif
    }
}
