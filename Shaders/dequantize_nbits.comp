#version 450
// MatMulNBits' weight dequantized to float32 W [K, N], one invocation per element (a
// grid-stride loop): column n's `bits`-bit code at k, packed low-first in B [N, blocks, blob]
// (one byte a word, uint8's device storage), minus its block's zero point, times its block's
// scale (scales [N · blocks]). ZERO 0: no zero point, 2^(bits − 1) (binding 2 is not read);
// 1: uint8 zero points packed the same way, zeroRow bytes a column; 2: float zero points, one a block.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer B { uint codes[]; };
layout(std430, binding = 1) readonly buffer S { float scale[]; };
#if ZERO == 2
layout(std430, binding = 2) readonly buffer Z { float zeroPoint[]; };
#else
layout(std430, binding = 2) readonly buffer Z { uint zeroPoint[]; };
#endif
layout(std430, binding = 3) writeonly buffer W { float w[]; };
layout(push_constant) uniform Params { uint count; uint n; uint blocks; uint blockSize; uint blob; uint bits; uint zeroRow; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint perByte = 8 / p.bits, mask = (1u << p.bits) - 1;
    for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
        uint k = i / p.n, column = i % p.n, block = k / p.blockSize, j = k % p.blockSize;
        uint code = (codes[(column * p.blocks + block) * p.blob + j / perByte] >> (j % perByte * p.bits)) & mask;
#if ZERO == 0
        float zero = float(1u << (p.bits - 1));
#elif ZERO == 1
        float zero = float((zeroPoint[column * p.zeroRow + block / perByte] >> (block % perByte * p.bits)) & mask);
#else
        float zero = zeroPoint[column * p.blocks + block];
#endif
        w[i] = (float(code) - zero) * scale[column * p.blocks + block];
    }
}
