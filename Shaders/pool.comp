#version 450
// 2-D pooling over NCHW planes, one invocation per output: POOL 0 average, 1 max, 2 Lp.
// Average divides by the window positions inside the padded input (countIncludePad) or
// inside the input; Lp is (Σ |x|^p)^(1/p) over the window positions inside the input.
#define POOL_AVERAGE 0
#define POOL_MAX 1
#define POOL_LP 2
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params {
    uint planes; uint H; uint W; uint OH; uint OW; uint KH; uint KW; uint strideH; uint strideW;
    uint padTop; uint padLeft; uint padBottom; uint padRight; uint dilH; uint dilW; uint countIncludePad; float p;
} p;

void main() {
    uint total = p.planes * p.OH * p.OW;
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += stride) {
        uint ow = i % p.OW, oh = (i / p.OW) % p.OH, plane = i / (p.OW * p.OH);
        uint base = plane * p.H * p.W;
        int ih0 = int(oh * p.strideH) - int(p.padTop), iw0 = int(ow * p.strideW) - int(p.padLeft);
#if POOL == POOL_MAX
        float acc = uintBitsToFloat(0xff800000u);
#else
        float acc = 0.0;
#endif
        uint inside = 0, padded = 0;
        for (uint kh = 0; kh < p.KH; ++kh) {
            int ih = ih0 + int(kh * p.dilH);
            if (ih >= int(p.H + p.padBottom)) continue;
            for (uint kw = 0; kw < p.KW; ++kw) {
                int iw = iw0 + int(kw * p.dilW);
                if (iw >= int(p.W + p.padRight)) continue;
                padded++;
                if (ih < 0 || ih >= int(p.H) || iw < 0 || iw >= int(p.W)) continue;
                inside++;
                float v = x[base + uint(ih) * p.W + uint(iw)];
#if POOL == POOL_MAX
                acc = max(acc, v);
#elif POOL == POOL_LP
                acc += pow(abs(v), p.p);
#else
                acc += v;
#endif
            }
        }
#if POOL == POOL_MAX
        y[i] = acc;
#elif POOL == POOL_LP
        y[i] = pow(acc, 1.0 / p.p);
#else
        y[i] = acc / float(p.countIncludePad != 0 ? padded : inside);
#endif
    }
}
