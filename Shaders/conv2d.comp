#version 450
// 2-D convolution as an implicit GEMM: for image n and group g,
//   Y[n, m, p] = act(bias[m] + Σ_k W[m, k] · X̂[k, p] (+ Z[n, m, p])),
// with k over (c, kh, kw) of the group and X̂ the im2col view of NCHW input X read on the fly
// (zero outside the image). Weights are [M, C/group, KH, KW] as ONNX stores them.
//
// A workgroup computes OCB output channels (workgroup y: the same for all its invocations, so
// weight loads are uniform) of one image (workgroup z); each invocation PX pixels strided by
// the workgroup width, OCB×PX sums in registers. KH and KW are defines, so the window loops
// unroll.
// CHANNEL_LANES (with OCB 1) turns the lanes the other way, for convs of fewer output pixels
// than a workgroup has lanes: the gl_WorkGroupSize.x invocations of a workgroup take as many
// adjacent output channels (workgroup y a block of them), each the same PX adjacent pixels
// (workgroup x), so the input loads are uniform and no lane idles (a GEMV per pixel).
// HAS_BIAS adds bias[m]; HAS_Z adds the residual Z (same shape as Y); then ACT applies the
// fused activation (activation.glsl).
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
    uint strideH; uint strideW; uint padTop; uint padLeft; uint dilH; uint dilW; uint group;
    float actAlpha; float actBeta;
} p;

#include "activation.glsl"

void main() {
#if CHANNEL_LANES
#if OCB != 1
#error CHANNEL_LANES takes OCB = 1
#endif
    uint block = gl_WorkGroupSize.x, lane = gl_LocalInvocationID.x;
    uint pix0 = gl_WorkGroupID.x * PX, pixStep = 1;
#else
    uint block = OCB, lane = 0;
    uint pix0 = gl_WorkGroupID.x * gl_WorkGroupSize.x * PX + gl_LocalInvocationID.x, pixStep = gl_WorkGroupSize.x;
#endif
    uint cg = p.C / p.group, mg = p.M / p.group, mBlocks = (mg + block - 1) / block;
    uint g = gl_WorkGroupID.y / mBlocks, m0 = g * mg + (gl_WorkGroupID.y % mBlocks) * block + lane, mEnd = (g + 1) * mg;
    uint n = gl_WorkGroupID.z, pixels = p.OH * p.OW;
    uint hw = p.H * p.W, taps = KH * KW;
    // Pixels past the end are computed on the last one and not written.
    int ih0[PX], iw0[PX];
    for (uint j = 0; j < PX; ++j) {
        uint pix = min(pix0 + j * pixStep, pixels - 1);
        ih0[j] = int((pix / p.OW) * p.strideH) - int(p.padTop);
        iw0[j] = int((pix % p.OW) * p.strideW) - int(p.padLeft);
    }
    uint wRow[OCB];  // past the group's end: computed on its last channel, not written
    for (uint i = 0; i < OCB; ++i) wRow[i] = min(m0 + i, mEnd - 1) * cg * taps;
    float acc[OCB][PX];
    for (uint i = 0; i < OCB; ++i)
        for (uint j = 0; j < PX; ++j) acc[i][j] = 0.0;
    uint xc = (n * p.C + g * cg) * hw;
    for (uint c = 0; c < cg; ++c, xc += hw) {
        for (uint kh = 0; kh < KH; ++kh) {
            for (uint kw = 0; kw < KW; ++kw) {
                float xv[PX];
                for (uint j = 0; j < PX; ++j) {
                    int ih = ih0[j] + int(kh * p.dilH), iw = iw0[j] + int(kw * p.dilW);
                    bool inside = ih >= 0 && ih < int(p.H) && iw >= 0 && iw < int(p.W);
                    xv[j] = inside ? x[xc + uint(ih) * p.W + uint(iw)] : 0.0;
                }
                uint wk = (c * KH + kh) * KW + kw;
                for (uint i = 0; i < OCB; ++i) {
                    float wv = LOAD_W(wRow[i] + wk);
                    for (uint j = 0; j < PX; ++j) acc[i][j] += wv * xv[j];
                }
            }
        }
    }
    for (uint i = 0; i < OCB && m0 + i < mEnd; ++i) {
        uint m = m0 + i;
        for (uint j = 0; j < PX && pix0 + j * pixStep < pixels; ++j) {
            uint at = (n * p.M + m) * pixels + pix0 + j * pixStep;
            float v = acc[i][j];
#if HAS_BIAS
            v += bias[m];
#endif
#if HAS_Z
            v += z[at];
#endif
            y[at] = activate(v, p.actAlpha, p.actBeta);
        }
    }
}
