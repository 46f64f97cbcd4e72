#version 450
// Einsum of OPERANDS (1 to 3) operands of type T (float or double): output element i sums,
// over the summed labels' index space, the product of the operands' elements. `table` holds,
// per output dim (outRank of them, row-major) then per summed dim (sumRank), its size and each
// operand's element stride along it (0 where the label is absent or broadcast, the sum of the
// axes' strides for a diagonal).
layout(local_size_x_id = 0) in;
#ifndef T
#define T float
#endif
layout(std430, binding = 0) readonly buffer Table { int table[]; };
layout(std430, binding = 1) readonly buffer A { T a[]; };
#if OPERANDS > 1
layout(std430, binding = 2) readonly buffer B { T b[]; };
#endif
#if OPERANDS > 2
layout(std430, binding = 3) readonly buffer C { T c[]; };
#endif
layout(std430, binding = OPERANDS + 1) writeonly buffer Y { T y[]; };
layout(push_constant) uniform Params { uint n; uint outRank; uint sumRank; uint sumCount; } p;

// Adds index `r`'s offsets along dims [first, first + rank) of `table` to `o`.
ivec3 offsets(uint r, uint first, uint rank, ivec3 o) {
    for (uint d = rank; d > 0u; d--) {
        uint row = 4u * (first + d - 1u), size = uint(table[row]);
        int j = int(r % size);
        r /= size;
        o += j * ivec3(table[row + 1u], table[row + 2u], table[row + 3u]);
    }
    return o;
}

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
        ivec3 o = offsets(i, 0u, p.outRank, ivec3(0));
        T acc = T(0);
        for (uint s = 0u; s < p.sumCount; s++) {
            ivec3 q = offsets(s, p.outRank, p.sumRank, o);
            T v = a[q.x];
#if OPERANDS > 1
            v *= b[q.y];
#endif
#if OPERANDS > 2
            v *= c[q.z];
#endif
            acc += v;
        }
        y[i] = acc;
    }
}
