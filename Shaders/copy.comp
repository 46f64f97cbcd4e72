#version 450
// Strided copy: for every index i of `shape` (rank <= 8),
// y[outOffset + sum(i * so)] = x[inOffset + sum(i * si)]. Transpose, Concat and contiguous
// copies of views are all this one shader.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Y { float y[]; };
layout(push_constant) uniform Params {
    uint n; uint rank; uint inOffset; uint outOffset; uint shape[8]; uint si[8]; uint so[8];
} p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
        uint rem = i, ii = p.inOffset, io = p.outOffset;
        for (int d = int(p.rank) - 1; d >= 0; --d) {
            uint c = rem % p.shape[d];
            rem /= p.shape[d];
            ii += c * p.si[d];
            io += c * p.so[d];
        }
        y[io] = x[ii];
    }
}
