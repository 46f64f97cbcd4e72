#version 450
// Inference BatchNormalization over [N, C, spatial…]:
// y = (x - mean[c]) * scale[c] / sqrt(var[c] + epsilon) + bias[c].
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Scale { float scale[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) readonly buffer Mean { float mean[]; };
layout(std430, binding = 4) readonly buffer Var { float var[]; };
layout(std430, binding = 5) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint n; uint C; uint inner; float epsilon; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
        uint c = (i / p.inner) % p.C;
        y[i] = (x[i] - mean[c]) * (scale[c] / sqrt(var[c] + p.epsilon)) + bias[c];
    }
}
