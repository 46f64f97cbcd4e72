#version 450
// MatMulInteger (QLINEAR 0): y = Σ (a − a_zero)·(b − b_zero) in int32, one invocation per
// output of [batch, M, N]; aZeros/bZeros: 0 (none), 1 (one value) or one per row of A / column
// of B. QLINEAR 1 (QLinearMatMul): that sum requantized (requantize.glsl) by multiplier and
// yZero into the 8-bit R. TA, TB: int or uint as the operands' types.
// A batch index walks batch[] (batchRank dims, last fastest) with A's and B's element strides.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer A { TA a[]; };
layout(std430, binding = 1) readonly buffer B { TB b[]; };
layout(std430, binding = 2) readonly buffer ZA { TA za[]; };
layout(std430, binding = 3) readonly buffer ZB { TB zb[]; };
layout(std430, binding = 4) writeonly buffer Y { R y[]; };
layout(push_constant) uniform Params {
    uint m; uint n; uint k; uint aZeros; uint bZeros; uint batchRank;
    uint batch[4]; uint batchA[4]; uint batchB[4]; float multiplier; int yZero;
} p;

#if QLINEAR
#include "requantize.glsl"
#endif

void main() {
    uint total = p.m * p.n;
    for (uint d = 0; d < p.batchRank; ++d) total *= p.batch[d];
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint t = gl_GlobalInvocationID.x; t < total; t += stride) {
        uint j = t % p.n, i = (t / p.n) % p.m, rest = t / (p.n * p.m);
        uint aOffset = i * p.k, bOffset = j;
        for (int d = int(p.batchRank) - 1; d >= 0; --d) {
            uint q = rest % p.batch[d];
            rest /= p.batch[d];
            aOffset += q * p.batchA[d];
            bOffset += q * p.batchB[d];
        }
        int zeroA = p.aZeros == 0u ? 0 : int(za[p.aZeros == 1u ? 0u : i]);
        int zeroB = p.bZeros == 0u ? 0 : int(zb[p.bZeros == 1u ? 0u : j]);
        int acc = 0;
        for (uint q = 0; q < p.k; ++q) acc += (int(a[aOffset + q]) - zeroA) * (int(b[bOffset + q * p.n]) - zeroB);
#if QLINEAR
        y[t] = requantize(acc, p.multiplier, p.yZero);
#else
        y[t] = acc;
#endif
    }
}
