#version 450
// LRN across channels of [N, C, spatial]: y = x / (bias + alpha / size * sum of x² over the
// channels c - floor((size-1)/2) .. c + ceil((size-1)/2))^beta.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint n; uint channels; uint spatial; uint size; float alpha; float beta; float bias; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
        int c = int((i / p.spatial) % p.channels);
        uint base = i - uint(c) * p.spatial;
        int lo = max(c - int((p.size - 1u) / 2u), 0), hi = min(c + int(p.size / 2u), int(p.channels) - 1);
        float sum = 0.0;
        for (int k = lo; k <= hi; ++k) { float v = x[base + uint(k) * p.spatial]; sum += v * v; }
        y[i] = x[i] / pow(p.bias + p.alpha / float(p.size) * sum, p.beta);
    }
}
