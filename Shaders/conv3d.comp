#version 450
// 3-D convolution, direct, one invocation per output element:
//   y[n, m, o] = act(bias[m] + Σ over the group's input channels c and the kernel taps k of
//                x[n, c, o·stride − padBegin + k·dilation]·w[m, c, k] (+ z[n, m, o])),
// zero outside the input. Kernel sizes K0–K2, strides S0–S2 and dilations D0–D2 are defines,
// so the tap loops unroll. HAS_BIAS adds the bias, HAS_Z the residual (same shape as y), then
// ACT applies the fused activation (activation.glsl).
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(std430, binding = 3) readonly buffer Bias { float bias[]; };
layout(std430, binding = 4) readonly buffer Z { float z[]; };
layout(push_constant) uniform Params {
    uint n; uint inC; uint outC; uint groups;
    uint inS[3]; uint outS[3]; uint pad[3];
    float actAlpha; float actBeta;
} p;

#include "activation.glsl"

void main() {
    uint inPerGroup = p.inC / p.groups, outPerGroup = p.outC / p.groups;
    uint inSpatial = p.inS[0] * p.inS[1] * p.inS[2], kSpatial = K0 * K1 * K2;
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint idx = gl_GlobalInvocationID.x; idx < p.n; idx += stride) {
        uint rem = idx;
        uint o2 = rem % p.outS[2]; rem /= p.outS[2];
        uint o1 = rem % p.outS[1]; rem /= p.outS[1];
        uint o0 = rem % p.outS[0]; rem /= p.outS[0];
        uint m = rem % p.outC, batch = rem / p.outC;
        uint c0 = (m / outPerGroup) * inPerGroup;
#if HAS_BIAS
        float acc = bias[m];
#else
        float acc = 0.0;
#endif
        for (uint k0 = 0u; k0 < K0; ++k0) {
            int i0 = int(o0 * S0 + k0 * D0) - int(p.pad[0]);
            if (i0 < 0 || i0 >= int(p.inS[0])) continue;
            for (uint k1 = 0u; k1 < K1; ++k1) {
                int i1 = int(o1 * S1 + k1 * D1) - int(p.pad[1]);
                if (i1 < 0 || i1 >= int(p.inS[1])) continue;
                for (uint k2 = 0u; k2 < K2; ++k2) {
                    int i2 = int(o2 * S2 + k2 * D2) - int(p.pad[2]);
                    if (i2 < 0 || i2 >= int(p.inS[2])) continue;
                    uint i = (uint(i0) * p.inS[1] + uint(i1)) * p.inS[2] + uint(i2), kk = (k0 * K1 + k1) * K2 + k2;
                    for (uint c = 0u; c < inPerGroup; ++c) {
                        acc += x[(batch * p.inC + c0 + c) * inSpatial + i] * w[(m * inPerGroup + c) * kSpatial + kk];
                    }
                }
            }
        }
#if HAS_Z
        acc += z[idx];
#endif
        y[idx] = activate(acc, p.actAlpha, p.actBeta);
    }
}
