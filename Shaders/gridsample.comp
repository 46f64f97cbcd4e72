#version 450
// GridSample as the CPU kernel (the ONNX reference): X [N, C, D1..Dd] (d = 1 to 3) sampled at
// grid [N, O1..Od, d] (x first, so grid coordinate d−1−i maps to dim i), one invocation per
// output [N, C, O...]. MODE 0 nearest (half to even), 1 linear, 2 cubic (a = −0.75);
// PADDING 0 zeros, 1 border, 2 reflection; ALIGN: align_corners.
#define TAPS (MODE == 0 ? 1 : MODE == 1 ? 2 : 4)
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer G { float grid[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint count; uint channels; uint outSize; uint rank; uint dims[3]; } p;

/// v reflected into [lo, hi]; lo when the range is empty.
float reflectInto(float v, float lo, float hi) {
    float range = hi - lo;
    if (range <= 0.0) return lo;
    if (v < lo) {
        float dx = lo - v, n = floor(dx / range), r = dx - n * range;
        return mod(n, 2.0) == 0.0 ? lo + r : hi - r;
    }
    if (v > hi) {
        float dx = v - hi, n = floor(dx / range), r = dx - n * range;
        return mod(n, 2.0) == 0.0 ? hi - r : lo + r;
    }
    return v;
}

/// Index k along a dim of `len` after padding; −1 when it reads zero.
int fetchIndex(int k, int len, float lo, float hi) {
#if PADDING == 0
    return k >= 0 && k < len ? k : -1;
#elif PADDING == 1
    return clamp(k, 0, len - 1);
#else
    return clamp(int(reflectInto(float(k), lo, hi)), 0, len - 1);
#endif
}

float cubicWeight(float t, int j) {
    const float a = -0.75;
    float x = abs(t);
    if (j == 0) return ((a * (x + 1.0) - 5.0 * a) * (x + 1.0) + 8.0 * a) * (x + 1.0) - 4.0 * a;
    if (j == 1) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (j == 2) return ((a + 2.0) * (1.0 - x) - (a + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0;
    return ((a * (2.0 - x) - 5.0 * a) * (2.0 - x) + 8.0 * a) * (2.0 - x) - 4.0 * a;
}

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint t = gl_GlobalInvocationID.x; t < p.count; t += stride) {
        uint o = t % p.outSize, plane = t / p.outSize, b = plane / p.channels;
        uint g = (b * p.outSize + o) * p.rank;
        int index[3][TAPS];
        float weight[3][TAPS];
        uint inSize = 1;
        for (uint i = 0; i < p.rank; ++i) {
            int len = int(p.dims[i]);
            inSize *= p.dims[i];
            float lo = ALIGN != 0 ? 0.0 : -0.5, hi = ALIGN != 0 ? float(len - 1) : float(len) - 0.5;
            float nv = grid[g + p.rank - 1u - i];
            float v = ALIGN != 0 ? (nv + 1.0) / 2.0 * float(len - 1) : ((nv + 1.0) * float(len) - 1.0) / 2.0;
            v = isnan(v) ? -1e9 : clamp(v, -1e9, 1e9);
#if MODE == 0
            v = roundEven(v);
#endif
            if (v < lo || v > hi) {
#if PADDING == 1
                v = clamp(v, 0.0, float(len - 1));
#elif PADDING == 2
                v = reflectInto(v, lo, hi);
#endif
            }
            float f = floor(v);
            int k = int(f);
            for (int j = 0; j < TAPS; ++j) {
#if MODE == 0
                index[i][j] = fetchIndex(int(v), len, lo, hi); weight[i][j] = 1.0;
#elif MODE == 1
                index[i][j] = fetchIndex(k + j, len, lo, hi); weight[i][j] = j == 0 ? 1.0 - (v - f) : v - f;
#else
                index[i][j] = fetchIndex(k - 1 + j, len, lo, hi); weight[i][j] = cubicWeight(v - f, j);
#endif
            }
        }
        // the product of the per-dim taps, dim 0 outermost
        uint combos = 1;
        for (uint i = 0; i < p.rank; ++i) combos *= uint(TAPS);
        float s = 0.0;
        for (uint c = 0; c < combos; ++c) {
            uint rest = c, at = 0;
            float w = 1.0;
            bool inside = true;
            for (int i = int(p.rank) - 1; i >= 0; --i) {
                uint j = rest % uint(TAPS), scale = 1;
                rest /= uint(TAPS);
                for (uint q = uint(i) + 1u; q < p.rank; ++q) scale *= p.dims[q];
                int k = index[i][j];
                inside = inside && k >= 0;
                at += uint(max(k, 0)) * scale;
                w *= weight[i][j];
            }
            if (inside) s += w * x[plane * inSize + at];
        }
        y[t] = s;
    }
}
