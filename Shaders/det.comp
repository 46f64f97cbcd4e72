#version 450
// Det of each n×n matrix of m (a copy of the input, which this pass overwrites), one invocation
// per matrix, as the CPU computes it: Gaussian elimination with partial pivoting (the first row
// of the largest magnitude), each row swap negating the product of the pivots; a zero pivot
// column gives 0.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) buffer M { float m[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint count; uint n; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x, n = p.n;
    for (uint b = gl_GlobalInvocationID.x; b < p.count; b += stride) {
        uint base = b * n * n;
        float det = 1.0;
        for (uint c = 0u; c < n; ++c) {
            uint pivotRow = c;
            for (uint r = c + 1u; r < n; ++r) {
                if (abs(m[base + r * n + c]) > abs(m[base + pivotRow * n + c])) pivotRow = r;
            }
            if (m[base + pivotRow * n + c] == 0.0) { det = 0.0; break; }
            if (pivotRow != c) {
                for (uint k = 0u; k < n; ++k) {
                    float t = m[base + pivotRow * n + k];
                    m[base + pivotRow * n + k] = m[base + c * n + k];
                    m[base + c * n + k] = t;
                }
                det = -det;
            }
            float pivot = m[base + c * n + c];
            det *= pivot;
            for (uint r = c + 1u; r < n; ++r) {
                float f = m[base + r * n + c] / pivot;
                if (f != 0.0) for (uint k = c; k < n; ++k) m[base + r * n + k] -= f * m[base + c * n + k];
            }
        }
        y[b] = det;
    }
}
