#version 450
// Pooling over [planes, D, H, W] (1-D and 2-D inputs with D = H = 1 or D = 1), one invocation
// per output: POOL 0 average, 1 max, 2 Lp. Average divides by the window positions inside
// the padded input (countIncludePad) or inside the input; Lp is (Σ |x|^p)^(1/p) over the
// window positions inside the input. Max takes the first greatest value inside the window (0
// when none is), as the CPU kernel, over elements of type T (float unless defined; the other
// pools are float only); INDICES: also its flat index in x (over [D, H, W] column-major
// when COLUMN_MAJOR, storage_order 1) plus the plane's offset.
#ifndef T
#define T float
#endif
#define POOL_AVERAGE 0
#define POOL_MAX 1
#define POOL_LP 2
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer X { T x[]; };
layout(std430, binding = 1) writeonly buffer Y { T y[]; };
#if INDICES
layout(std430, binding = 2) writeonly buffer I { int indices[]; };
#endif
layout(push_constant) uniform Params {
    uint planes; uint size[3]; uint outSize[3]; uint kernel[3]; uint strides[3]; uint padBegin[3]; uint padEnd[3];
    uint dilations[3]; uint countIncludePad; float p;
} p;

void main() {
    uint total = p.planes * p.outSize[0] * p.outSize[1] * p.outSize[2];
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += stride) {
        uint ow = i % p.outSize[2], oh = (i / p.outSize[2]) % p.outSize[1], od = (i / (p.outSize[2] * p.outSize[1])) % p.outSize[0];
        uint plane = i / (p.outSize[2] * p.outSize[1] * p.outSize[0]);
        uint base = plane * p.size[0] * p.size[1] * p.size[2];
        int id0 = int(od * p.strides[0]) - int(p.padBegin[0]);
        int ih0 = int(oh * p.strides[1]) - int(p.padBegin[1]), iw0 = int(ow * p.strides[2]) - int(p.padBegin[2]);
#if POOL == POOL_MAX
        T acc = T(0);
        int best = -1;
#else
        float acc = 0.0;
#endif
        uint inside = 0, padded = 0;
        for (uint kd = 0; kd < p.kernel[0]; ++kd) {
            int id = id0 + int(kd * p.dilations[0]);
            if (id >= int(p.size[0] + p.padEnd[0])) continue;
            for (uint kh = 0; kh < p.kernel[1]; ++kh) {
                int ih = ih0 + int(kh * p.dilations[1]);
                if (ih >= int(p.size[1] + p.padEnd[1])) continue;
                for (uint kw = 0; kw < p.kernel[2]; ++kw) {
                    int iw = iw0 + int(kw * p.dilations[2]);
                    if (iw >= int(p.size[2] + p.padEnd[2])) continue;
                    padded++;
                    if (id < 0 || id >= int(p.size[0]) || ih < 0 || ih >= int(p.size[1]) || iw < 0 || iw >= int(p.size[2])) continue;
                    inside++;
                    T v = x[base + (uint(id) * p.size[1] + uint(ih)) * p.size[2] + uint(iw)];
#if POOL == POOL_MAX
                    if (best < 0 || v > acc) {
                        acc = v;
#if COLUMN_MAJOR
                        best = int((uint(iw) * p.size[1] + uint(ih)) * p.size[0] + uint(id));
#else
                        best = int((uint(id) * p.size[1] + uint(ih)) * p.size[2] + uint(iw));
#endif
                    }
#elif POOL == POOL_LP
                    acc += pow(abs(v), p.p);
#else
                    acc += v;
#endif
                }
            }
        }
#if POOL == POOL_MAX
        y[i] = acc;
#if INDICES
        STORE_INDEX(indices, i, int(base) + max(best, 0));
#endif
#elif POOL == POOL_LP
        y[i] = pow(acc, 1.0 / p.p);
#else
        y[i] = acc / float(p.countIncludePad != 0 ? padded : inside);
#endif
    }
}
