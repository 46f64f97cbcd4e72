#version 450
// Depthwise 2-D convolution (group = C: output channel m reads input channel m / (M/C) only),
// one invocation per output pixel; workgroup y is the channel m and z the image n, so the
// weight loads are uniform across a workgroup:
//   Y[n, m, oy, ox] = act(bias[m] + Σ_{kh,kw} W[m, kh, kw] · X[n, m / (M/C), ih, iw] (+ Z[n, m, oy, ox]))
// with ih = oy·strideH - padTop + kh·dilH (and iw likewise), zero outside the image. Weights
// are [M, 1, KH, KW] as ONNX stores them; KH and KW are defines, so the window loops unroll.
// HAS_BIAS, HAS_Z and ACT as in conv2d.comp's epilogue.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
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

void main() {
    uint pix = gl_GlobalInvocationID.x, m = gl_WorkGroupID.y, n = gl_WorkGroupID.z;
    if (pix >= p.OH * p.OW) return;
    uint ox = pix % p.OW, oy = pix / p.OW;
    int ih0 = int(oy * p.strideH) - int(p.padTop), iw0 = int(ox * p.strideW) - int(p.padLeft);
    uint xc = (n * p.C + m / (p.M / p.C)) * p.H * p.W, wk = m * KH * KW;
    float acc = 0.0;
    for (uint kh = 0; kh < KH; ++kh) {
        int ih = ih0 + int(kh * p.dilH);
        if (ih < 0 || ih >= int(p.H)) continue;
        for (uint kw = 0; kw < KW; ++kw) {
            int iw = iw0 + int(kw * p.dilW);
            if (iw >= 0 && iw < int(p.W)) acc += x[xc + uint(ih) * p.W + uint(iw)] * w[wk + kh * KW + kw];
        }
    }
#if HAS_BIAS
    acc += bias[m];
#endif
    uint at = (n * p.M + m) * p.OH * p.OW + pix;
#if HAS_Z
    acc += z[at];
#endif
    y[at] = activate(acc, p.actAlpha, p.actBeta);
}
