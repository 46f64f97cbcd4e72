#version 450
#extension GL_EXT_spirv_intrinsics : require
// The integer matrix products (MatMulInteger, QLinearMatMul, ConvInteger and QLinearConv as
// [batch…, M, N] products of packed rows) by packed 8-bit dot products: a and b as
// pack4x8.comp writes them (k values 4 a word, each row's sum after the words), one invocation
// per output. A batch index walks batch[] (batchRank dims, last fastest) with strides in rows
// of A (batchA) and of B (batchB); output (i, j) of a batch is packed row `row` of A and `col`
// of B. Exact in int32 with the zero points subtracted afterwards:
// Σ (a − za)(b − zb) = Σ ab − zb·Σ a − za·Σ b + k·za·zb (wrapping as the direct sum would).
// aZeros/bZeros: 0 (none), 1 (one value) or one per row % aZeros / col % bZeros.
// QLINEAR 1: plus bias[row] when BIAS, requantized (requantize.glsl) by multiplier[row %
// multipliers] and yZero into the 8-bit R. SIGNED_A, SIGNED_B: whether the operands are int8.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer A { uint a[]; };
layout(std430, binding = 1) readonly buffer B { uint b[]; };
layout(std430, binding = 2) readonly buffer ZA { TA za[]; };
layout(std430, binding = 3) readonly buffer ZB { TB zb[]; };
layout(std430, binding = 4) readonly buffer Bias { int bias[]; };
layout(std430, binding = 5) readonly buffer Multipliers { float multiplier[]; };
layout(std430, binding = 6) writeonly buffer Y { R y[]; };
layout(push_constant) uniform Params {
    uint m; uint n; uint k; uint words; uint aRows; uint bRows; uint aZeros; uint bZeros; uint multipliers; uint batchRank;
    uint batch[4]; uint batchA[4]; uint batchB[4]; int yZero;
} p;

// SPV_KHR_integer_dot_product's OpSDot, OpUDot and OpSUDot (first operand signed) on 4 packed
// bytes (PackedVectorFormat4x8Bit = 0); capabilities DotProduct and DotProductInput4x8BitPacked.
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot(uint x, uint y, spirv_literal int format);
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4451)
uint udot(uint x, uint y, spirv_literal int format);
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4452)
int sudot(uint x, uint y, spirv_literal int format);

int dot4(uint x, uint y) {
#if SIGNED_A && SIGNED_B
    return sdot(x, y, 0);
#elif SIGNED_A
    return sudot(x, y, 0);
#elif SIGNED_B
    return sudot(y, x, 0);
#else
    return int(udot(x, y, 0));
#endif
}

#if QLINEAR
#include "requantize.glsl"
#endif

void main() {
    uint total = p.m * p.n;
    for (uint d = 0; d < p.batchRank; ++d) total *= p.batch[d];
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint t = gl_GlobalInvocationID.x; t < total; t += stride) {
        uint row = (t / p.n) % p.m, col = t % p.n, rest = t / (p.n * p.m);
        for (int d = int(p.batchRank) - 1; d >= 0; --d) {
            uint q = rest % p.batch[d];
            rest /= p.batch[d];
            row += q * p.batchA[d];
            col += q * p.batchB[d];
        }
        int acc = 0;
        for (uint w = 0; w < p.words; ++w) acc += dot4(a[row * p.words + w], b[col * p.words + w]);
        int zeroA = p.aZeros == 0u ? 0 : int(za[row % p.aZeros]);
        int zeroB = p.bZeros == 0u ? 0 : int(zb[col % p.bZeros]);
        acc += int(p.k) * zeroA * zeroB - zeroB * int(a[p.aRows * p.words + row]) - zeroA * int(b[p.bRows * p.words + col]);
#if QLINEAR
#if BIAS
        acc += bias[row];
#endif
        y[t] = requantize(acc, multiplier[row % p.multipliers], p.yZero);
#else
        y[t] = acc;
#endif
    }
}
