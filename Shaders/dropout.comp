#version 450
// Dropout in training mode, drawing the mask as the CPU kernel does: MT19937 seeded with `seed`
// as NumPy's RandomState, one double in [0, 1) of 53 bits (two draws, a >> 5 and b >> 6) an
// element, kept when at least the ratio. The comparison is in integers: (a >> 5, b >> 6)
// against ceil(ratio·2^53) split the same way (thresholdHigh, thresholdLow).
// PASS 0, one workgroup: the mask (1 kept, 0 dropped), 312 elements per twist of the 624-word
// state, which sits in shared memory and twists in four steps: a word reads the words after it
// as they were and the word 397 on, twisted in an earlier step where it lies below.
// PASS 1, an invocation per element: y = x·scale where kept, else 0, fitted to R (fit.glsl);
// the scale 1 / (1 − ratio) as a float, or with DOUBLE the double (scaleLow, scaleHigh).
layout(local_size_x_id = 0) in;
#include "fit.glsl"
layout(std430, binding = 0) readonly buffer X { T x[]; };
layout(std430, binding = 1) buffer Mask { uint mask[]; };
layout(std430, binding = 2) writeonly buffer Y { R y[]; };
layout(push_constant) uniform Params {
    uint count; uint seed; uint thresholdHigh; uint thresholdLow; float scale; uint scaleLow; uint scaleHigh;
} p;

#if PASS == 0
shared uint mt[624];

// Word i of the state twisted, from the state as it stands.
uint twisted(uint i) {
    uint y = (mt[i] & 0x80000000u) | (mt[(i + 1) % 624] & 0x7FFFFFFFu);
    return mt[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1u) != 0 ? 0x9908B0DFu : 0u);
}

uint tempered(uint y) {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9D2C5680u;
    y ^= (y << 15) & 0xEFC60000u;
    return y ^ (y >> 18);
}
#endif

void main() {
#if PASS == 0
    uint t = gl_LocalInvocationID.x, g = gl_WorkGroupSize.x;
    if (t == 0) {
        mt[0] = p.seed;
        for (uint i = 1; i < 624; ++i) mt[i] = 1812433253u * (mt[i - 1] ^ (mt[i - 1] >> 30)) + i;
    }
    barrier();
    const uint steps[5] = uint[](0, 227, 454, 623, 624);
    for (uint base = 0; base < p.count; base += 312) {
        for (int s = 0; s < 4; ++s) {
            for (uint c = steps[s]; c < steps[s + 1]; c += g) {
                uint i = c + t, v = i < steps[s + 1] ? twisted(i) : 0u;
                barrier();
                if (i < steps[s + 1]) mt[i] = v;
                barrier();
            }
        }
        for (uint j = t; j < 312 && base + j < p.count; j += g) {
            uint a = tempered(mt[2 * j]) >> 5, b = tempered(mt[2 * j + 1]) >> 6;
            mask[base + j] = a > p.thresholdHigh || (a == p.thresholdHigh && b >= p.thresholdLow) ? 1u : 0u;
        }
        barrier();
    }
#else
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
#ifdef DOUBLE
    R scale = packDouble2x32(uvec2(p.scaleLow, p.scaleHigh));
#else
    R scale = p.scale;
#endif
    for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) y[i] = mask[i] != 0 ? fit(R(x[i]) * scale) : R(0);
#endif
}
