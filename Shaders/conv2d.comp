#version 450
// Direct 2-D convolution, NCHW input, weights [M, C/group, KH, KW], one invocation per
// output element. HAS_BIAS adds bias[m]; RELU fuses a following Relu.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#if HAS_BIAS
layout(std430, binding = 3) readonly buffer Bias { float bias[]; };
#endif
layout(push_constant) uniform Params {
    uint N; uint C; uint H; uint W; uint M; uint OH; uint OW; uint KH; uint KW;
    uint strideH; uint strideW; uint padTop; uint padLeft; uint dilH; uint dilW; uint group;
} p;

void main() {
    uint total = p.N * p.M * p.OH * p.OW;
    uint cg = p.C / p.group, mg = p.M / p.group;
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += stride) {
        uint ow = i % p.OW, oh = (i / p.OW) % p.OH, m = (i / (p.OW * p.OH)) % p.M, n = i / (p.OW * p.OH * p.M);
        uint g = m / mg;
#if HAS_BIAS
        float acc = bias[m];
#else
        float acc = 0.0;
#endif
        int ih0 = int(oh * p.strideH) - int(p.padTop), iw0 = int(ow * p.strideW) - int(p.padLeft);
        for (uint c = 0; c < cg; ++c) {
            uint xBase = (n * p.C + g * cg + c) * p.H * p.W;
            uint wBase = (m * cg + c) * p.KH * p.KW;
            for (uint kh = 0; kh < p.KH; ++kh) {
                int ih = ih0 + int(kh * p.dilH);
                if (ih < 0 || ih >= int(p.H)) continue;
                for (uint kw = 0; kw < p.KW; ++kw) {
                    int iw = iw0 + int(kw * p.dilW);
                    if (iw < 0 || iw >= int(p.W)) continue;
                    acc += x[xBase + uint(ih) * p.W + uint(iw)] * w[wBase + kh * p.KW + kw];
                }
            }
        }
#if RELU
        acc = max(acc, 0.0);
#endif
        y[i] = acc;
    }
}
