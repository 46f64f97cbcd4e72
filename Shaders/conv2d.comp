#version 450
// Direct 2-D convolution, NCHW input, weights [M, C/group, KH, KW], one invocation per
// OCB output channels of one pixel. HAS_BIAS adds bias[m]; RELU fuses a following Relu.
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

// Each invocation computes one output pixel for OCB (a define) consecutive output channels
// of a group, so every input value it loads feeds OCB accumulators.

void main() {
    uint cg = p.C / p.group, mg = p.M / p.group;
    uint mBlocks = (mg + OCB - 1) / OCB;
    uint total = p.N * p.group * mBlocks * p.OH * p.OW;
    uint kSize = p.KH * p.KW;
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += stride) {
        uint ow = i % p.OW, oh = (i / p.OW) % p.OH;
        uint mb = (i / (p.OW * p.OH)) % (p.group * mBlocks), n = i / (p.OW * p.OH * p.group * mBlocks);
        uint g = mb / mBlocks, m0 = g * mg + (mb % mBlocks) * OCB, mEnd = (g + 1) * mg;
        uint wBase[OCB];
        float acc[OCB];
        for (uint j = 0; j < OCB; ++j) {
            uint m = min(m0 + j, mEnd - 1);  // past the group's end: computed, not written
            wBase[j] = m * cg * kSize;
#if HAS_BIAS
            acc[j] = bias[m];
#else
            acc[j] = 0.0;
#endif
        }
        int ih0 = int(oh * p.strideH) - int(p.padTop), iw0 = int(ow * p.strideW) - int(p.padLeft);
        for (uint c = 0; c < cg; ++c) {
            uint xBase = (n * p.C + g * cg + c) * p.H * p.W;
            uint wc = c * kSize;
            for (uint kh = 0; kh < p.KH; ++kh) {
                int ih = ih0 + int(kh * p.dilH);
                if (ih < 0 || ih >= int(p.H)) continue;
                for (uint kw = 0; kw < p.KW; ++kw) {
                    int iw = iw0 + int(kw * p.dilW);
                    if (iw < 0 || iw >= int(p.W)) continue;
                    float xv = x[xBase + uint(ih) * p.W + uint(iw)];
                    uint wk = wc + kh * p.KW + kw;
                    for (uint j = 0; j < OCB; ++j) acc[j] += xv * w[wBase[j] + wk];
                }
            }
        }
        for (uint j = 0; j < OCB && m0 + j < mEnd; ++j) {
#if RELU
            acc[j] = max(acc[j], 0.0);
#endif
            y[((n * p.M + m0 + j) * p.OH + oh) * p.OW + ow] = acc[j];
        }
    }
}
