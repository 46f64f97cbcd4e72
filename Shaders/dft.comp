#version 450
// DFT and STFT by direct summation (O(n) an output value), one invocation per output value:
// element (o, f, k, e) of [outer, frames, bins, inner] is bin k of the length-n transform of
// the samples x[o, f·step + t, e] of input [outer, span, inner] (t < n; complex input when
// COMPLEX, else real), each times window[t] when WINDOW. Forward: Σ x_t e^{-2πikt/n};
// INVERSE: Σ x_t e^{+2πikt/n} / n. Samples t ≥ `samples` are zero. HERMITIAN: the input
// holds bins 0..n/2 of a Hermitian spectrum (the imaginary parts of bins 0 and n/2 taken as
// 0), and the output is the real part alone; else the output is complex (two floats). kt mod n keeps each angle exact, the
// twiddles are reduced to one octant, and the sums compensated: outputs that cancel to zero
// stay within float32 rounding of the products.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float window[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params {
    uint count; uint frames; uint bins; uint inner; uint n; uint samples; uint span; uint step;
} p;

const float TWO_PI = 6.28318530717958647692;

#if COMPLEX
#define COMPONENTS 2
#else
#define COMPONENTS 1
#endif

// Sample t of the line starting at sample `first` (stride `inner` samples).
vec2 sample_(uint first, uint t) {
#if HERMITIAN
    bool mirrored = t > p.n - t;
    uint s = mirrored ? p.n - t : t;
    if (s >= p.samples) return vec2(0.0);
    uint at = (first + s * p.inner) * COMPONENTS;
    float im = (s == 0 || 2 * s == p.n) ? 0.0 : x[at + 1];
    return vec2(x[at], mirrored ? -im : im);
#else
    if (t >= p.samples) return vec2(0.0);
    uint at = (first + t * p.inner) * COMPONENTS;
#if COMPLEX
    vec2 v = vec2(x[at], x[at + 1]);
#else
    vec2 v = vec2(x[at], 0.0);
#endif
#if WINDOW
    v *= window[t];
#endif
    return v;
#endif
}

// (cos, sin) of 2π·phase/n, from an angle reduced to [0, π/4] so that the values at the
// multiples of π/2 are exact and those at angles mirrored across an octant are equal.
vec2 twiddle(uint phase) {
    uint v = 4 * phase, q = v / p.n, r = v % p.n;  // 2π·phase/n = q·π/2 + r·π/(2n)
    float unit = TWO_PI / float(4 * p.n);
    vec2 c = 2 * r > p.n ? vec2(sin(float(p.n - r) * unit), cos(float(p.n - r) * unit)) : vec2(cos(float(r) * unit), sin(float(r) * unit));
    return q == 0 ? c : q == 1 ? vec2(-c.y, c.x) : q == 2 ? -c : vec2(c.y, -c.x);
}

// Adds v to the compensated sum s (Neumaier): s.x the sum, s.y what its rounding lost.
void add(inout precise vec2 s, float v) {
    precise float t = s.x + v;
    s.y += abs(s.x) >= abs(v) ? (s.x - t) + v : (v - t) + s.x;
    s.x = t;
}

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
        uint e = i % p.inner, k = (i / p.inner) % p.bins, f = (i / (p.inner * p.bins)) % p.frames;
        uint o = i / (p.inner * p.bins * p.frames);
        uint first = (o * p.span + f * p.step) * p.inner + e;
        vec2 re = vec2(0.0), im = vec2(0.0);  // compensated sums: (sum, lost low-order part)
        uint phase = 0;  // k·t mod n
        for (uint t = 0; t < p.n; ++t) {
            vec2 v = sample_(first, t), w = twiddle(phase);
#if INVERSE
            w.y = -w.y;
#endif
            add(re, v.x * w.x + v.y * w.y);
            add(im, v.y * w.x - v.x * w.y);
            phase += k;
            if (phase >= p.n) phase -= p.n;
        }
        float scale = 1.0;
#if INVERSE
        scale = 1.0 / float(p.n);
#endif
#if HERMITIAN
        y[i] = (re.x + re.y) * scale;
#else
        y[2 * i] = (re.x + re.y) * scale;
        y[2 * i + 1] = (im.x + im.y) * scale;
#endif
    }
}
