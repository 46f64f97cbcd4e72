#version 450
// Hardmax along the middle dim of [outer, len, inner], one invocation per (outer, inner)
// line: 1 at the first maximum, 0 elsewhere.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint lines; uint len; uint inner; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint l = gl_GlobalInvocationID.x; l < p.lines; l += stride) {
        uint base = (l / p.inner) * p.len * p.inner + l % p.inner, best = 0;
        for (uint s = 1; s < p.len; ++s) if (x[base + s * p.inner] > x[base + best * p.inner]) best = s;
        for (uint s = 0; s < p.len; ++s) y[base + s * p.inner] = s == best ? 1.0 : 0.0;
    }
}
