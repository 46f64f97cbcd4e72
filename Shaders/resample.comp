#version 450
// One axis of Resize: input [outer, inW, inner] to output [outer, outW, inner]. Row i of the
// host-computed taps table holds a valid flag, then `taps` input indices, then their weights
// (indices as exact floats); an invalid row (tf_crop_and_resize outside the roi) writes the
// extrapolation value.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer T { float table[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint n; uint inW; uint outW; uint inner; uint taps; float extrapolation; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x, row = 1u + 2u * p.taps;
    for (uint e = gl_GlobalInvocationID.x; e < p.n; e += stride) {
        uint k = e % p.inner, i = (e / p.inner) % p.outW, o = e / (p.inner * p.outW), t = i * row;
        float acc = p.extrapolation;
        if (table[t] != 0.0) {
            acc = 0.0;
            for (uint j = 0; j < p.taps; ++j) {
                acc += table[t + 1u + p.taps + j] * x[(o * p.inW + uint(table[t + 1u + j])) * p.inner + k];
            }
        }
        y[e] = acc;
    }
}
