#version 450
// Strided copy of 32-bit words (any element type): for every index i of `shape` (rank <= 8),
// y[outOffset + sum(i * so)] = x[inOffset + sum(i * si)]; input strides may be negative
// (reversed slices) or 0 (broadcasts). Transpose, Concat, Slice, Expand, Tile, Split and
// contiguous copies of views are all this one shader.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) buffer Y { uint y[]; };
layout(push_constant) uniform Params {
    uint n; uint rank; int inOffset; uint outOffset; uint shape[8]; int si[8]; uint so[8];
} p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
        uint rem = i, io = p.outOffset;
        int ii = p.inOffset;
        for (int d = int(p.rank) - 1; d >= 0; --d) {
            uint c = rem % p.shape[d];
            rem /= p.shape[d];
            ii += int(c) * p.si[d];
            io += c * p.so[d];
        }
        y[io] = x[ii];
    }
}
