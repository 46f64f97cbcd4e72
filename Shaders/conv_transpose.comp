#version 450
// ConvTranspose over up to 3 spatial dims (fewer are padded with size-1 dims), one invocation
// per output element: y[n, oc, o] = b[oc] + sum over the kernel taps k with
// o + padBegin - k * dilation = i * stride of
// - FROM_COLUMNS 0: the group's input channels ic, x[n, ic, i] * w[ic, oc % outPerGroup, k];
// - FROM_COLUMNS 1: columns[n, oc, k, i], the product Wᵀ·X[n] a GEMM made (group 1), so this
//   pass only gathers each output's taps (col2im).
// Kernel sizes K0–K2, strides S0–S2 and dilations D0–D2 are defines, so the tap loops unroll and
// the divisions by strides become multiplications (lavapipe divides integers lane by lane).
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#if !FROM_COLUMNS
layout(std430, binding = 3) readonly buffer W { float w[]; };
#endif
layout(push_constant) uniform Params {
    uint n; uint inC; uint outC; uint groups; uint hasBias;
    uint inS[3]; uint outS[3]; uint pad[3];
} p;

void main() {
    uint inPerGroup = p.inC / p.groups, outPerGroup = p.outC / p.groups;
    uint inSpatial = p.inS[0] * p.inS[1] * p.inS[2], kSpatial = K0 * K1 * K2;
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint idx = gl_GlobalInvocationID.x; idx < p.n; idx += stride) {
        uint rem = idx;
        uint o2 = rem % p.outS[2]; rem /= p.outS[2];
        uint o1 = rem % p.outS[1]; rem /= p.outS[1];
        uint o0 = rem % p.outS[0]; rem /= p.outS[0];
        uint oc = rem % p.outC, batch = rem / p.outC;
        uint g = oc / outPerGroup, ocg = oc % outPerGroup;
        float acc = p.hasBias != 0u ? b[oc] : 0.0;
        for (uint k0 = 0; k0 < K0; ++k0) {
            int t0 = int(o0 + p.pad[0]) - int(k0 * D0);
            if (t0 < 0 || uint(t0) % S0 != 0 || uint(t0) / S0 >= p.inS[0]) continue;
            for (uint k1 = 0; k1 < K1; ++k1) {
                int t1 = int(o1 + p.pad[1]) - int(k1 * D1);
                if (t1 < 0 || uint(t1) % S1 != 0 || uint(t1) / S1 >= p.inS[1]) continue;
                for (uint k2 = 0; k2 < K2; ++k2) {
                    int t2 = int(o2 + p.pad[2]) - int(k2 * D2);
                    if (t2 < 0 || uint(t2) % S2 != 0 || uint(t2) / S2 >= p.inS[2]) continue;
                    uint i = ((uint(t0) / S0) * p.inS[1] + uint(t1) / S1) * p.inS[2] + uint(t2) / S2;
                    uint kk = (k0 * K1 + k1) * K2 + k2;
#if FROM_COLUMNS
                    acc += x[((batch * p.outC + oc) * kSpatial + kk) * inSpatial + i];
#else
                    for (uint icg = 0; icg < inPerGroup; ++icg) {
                        uint ic = g * inPerGroup + icg;
                        acc += x[(batch * p.inC + ic) * inSpatial + i] * w[(ic * outPerGroup + ocg) * kSpatial + kk];
                    }
#endif
                }
            }
        }
        y[idx] = acc;
    }
}
