#version 450
// Depthwise 2-D convolution (group = C: output channel m reads input channel m / (M/C) only),
// one invocation per strip of PX neighbouring outputs of a row; workgroup y is the channel m
// and z the image n, so the weight loads are uniform across a workgroup:
//   Y[n, m, oy, ox] = act(bias[m] + Σ_{kh,kw} W[m, kh, kw] · X[n, m / (M/C), ih, iw] (+ Z[n, m, oy, ox]))
// with ih = oy·strideH - padTop + kh·dilH (and iw likewise), zero outside the image. Weights
// are [M, 1, KH, KW] as ONNX stores them. KH, KW, the strip width PX and the horizontal
// STRIDE_W and DIL_W are defines, so the loops unroll: a strip loads each input row's span
// once into registers, (PX - 1)·STRIDE_W + (KW - 1)·DIL_W + 1 values, where one invocation an
// output (PX = 1) loads KW of them per output.
// HAS_BIAS, HAS_Z and ACT as in conv2d.comp's epilogue.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
// W_HALF (defined or not): the weights are float16 pairs (half.glsl).
#include "half.glsl"
#ifdef W_HALF
layout(std430, binding = 1) readonly buffer W { uint w[]; };
#define LOAD_W(i) HALF(w, i)
#else
layout(std430, binding = 1) readonly buffer W { float w[]; };
#define LOAD_W(i) w[i]
#endif
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#if HAS_BIAS
layout(std430, binding = 3) readonly buffer Bias { float bias[]; };
#endif
#if HAS_Z
layout(std430, binding = 3 + HAS_BIAS) readonly buffer Z { float z[]; };
#endif
layout(push_constant) uniform Params {
    uint C; uint H; uint W; uint M; uint OH; uint OW;
    uint strideH; uint strideW; uint padTop; uint padLeft; uint dilH; uint dilW;
    float actAlpha; float actBeta;
} p;

#include "activation.glsl"

const uint SPAN = (PX - 1) * STRIDE_W + (KW - 1) * DIL_W + 1;

void main() {
    uint strips = (p.OW + PX - 1) / PX, strip = gl_GlobalInvocationID.x, m = gl_WorkGroupID.y, n = gl_WorkGroupID.z;
    if (strip >= p.OH * strips) return;
    uint oy = strip / strips, ox0 = strip % strips * PX;
    int ih0 = int(oy * p.strideH) - int(p.padTop), iw0 = int(ox0 * STRIDE_W) - int(p.padLeft);
    uint xc = (n * p.C + m / (p.M / p.C)) * p.H * p.W, wk = m * KH * KW;
    float acc[PX];
    for (uint i = 0; i < PX; ++i) acc[i] = 0.0;
    for (uint kh = 0; kh < KH; ++kh) {
        int ih = ih0 + int(kh * p.dilH);
        if (ih < 0 || ih >= int(p.H)) continue;
        uint row = xc + uint(ih) * p.W;
        float span[SPAN];
        for (uint j = 0; j < SPAN; ++j) {
            int iw = iw0 + int(j);
            span[j] = 0.0;
            if (iw >= 0 && iw < int(p.W)) span[j] = x[row + uint(iw)];
        }
        for (uint kw = 0; kw < KW; ++kw) {
            float weight = LOAD_W(wk + kh * KW + kw);
            for (uint i = 0; i < PX; ++i) acc[i] += span[i * STRIDE_W + kw * DIL_W] * weight;
        }
    }
    uint at = (n * p.M + m) * p.OH * p.OW + oy * p.OW + ox0;
    for (uint i = 0; i < PX; ++i) {
        if (ox0 + i >= p.OW) break;
        float v = acc[i];
#if HAS_BIAS
        v += bias[m];
#endif
#if HAS_Z
        v += z[at + i];
#endif
        y[at + i] = activate(v, p.actAlpha, p.actBeta);
    }
}
