#version 450
// GatherND of elements of any type (words.glsl): for each of `n` index tuples (of length k, after `batch` leading
// batch rows), copies the data slice of `slice` words it selects. dims/ds are the data's
// shape and strides after the batch dims; batchStride is the data words per batch row.
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer X { WORD x[]; };
layout(std430, binding = 1) readonly buffer I { int idx[]; };
layout(std430, binding = 2) writeonly buffer Y { WORD y[]; };
layout(push_constant) uniform Params { uint total; uint k; uint slice; uint perBatch; uint batchStride; uint dims[8]; uint ds[8]; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint e = gl_GlobalInvocationID.x; e < p.total; e += stride) {
        uint j = e / p.slice, s = e % p.slice, src = (j / p.perBatch) * p.batchStride;
        for (uint t = 0; t < p.k; ++t) {
            int v = INDEX(idx, j * p.k + t);
            src += uint(v < 0 ? v + int(p.dims[t]) : v) * p.ds[t];
        }
        y[e] = x[src + s];
    }
}
