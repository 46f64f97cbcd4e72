#version 450
// Packs float32 X (`count` elements) into float16 pairs for the kernels that read constant
// operands at fp16 precision (half.glsl): word i holds elements 2i and 2i + 1, zero past the
// end; a grid-stride loop over the words.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { uint y[]; };
layout(push_constant) uniform Params { uint words; uint count; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.words; i += stride) {
        uint e = 2 * i;
        y[i] = packHalf2x16(vec2(e < p.count ? x[e] : 0.0, e + 1 < p.count ? x[e + 1] : 0.0));
    }
}
