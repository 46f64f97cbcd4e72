// Float math shared by the elementwise shaders, and the fused epilogue `activate`: the
// activation ACT of a fused node (Sources/VonnxIR/FusedActivation.swift; ShaderActivation.swift
// maps it to ACT and the two parameters).
#define ACT_NONE 0
#define ACT_RELU 1
#define ACT_CLIP 2
#define ACT_LEAKY_RELU 3
#define ACT_SIGMOID 4
#define ACT_TANH 5
#define ACT_HARD_SIGMOID 6
#define ACT_SILU 7
#define ACT_HARD_SWISH 8
#define ACT_GELU 9
#define ACT_GELU_TANH 10
#define ACT_MISH 11
#ifndef ACT
#define ACT ACT_NONE
#endif

// Abramowitz and Stegun 7.1.26 (absolute error under 1.5e-7).
float erf_(float v) {
    float t = 1.0 / (1.0 + 0.3275911 * abs(v));
    float poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return sign(v) * (1.0 - poly * exp(-v * v));
}

float tanh_(float v) {
    float e = exp(-2.0 * abs(v));
    return sign(v) * (1.0 - e) / (1.0 + e);
}

float softplus(float v) { return v > 20.0 ? v : log(1.0 + exp(v)); }

float sigmoid(float v) { return 1.0 / (1.0 + exp(-v)); }

float gelu(float v) { return 0.5 * v * (1.0 + erf_(v * 0.70710678118654752)); }

float geluTanh(float v) { return 0.5 * v * (1.0 + tanh_(0.79788456080286536 * (v + 0.044715 * v * v * v))); }

// ACT applied to v; alpha and beta are Clip's min and max, LeakyRelu's alpha, HardSigmoid's.
float activate(float v, float alpha, float beta) {
#if ACT == ACT_RELU
    return max(v, 0.0);
#elif ACT == ACT_CLIP
    return min(max(v, alpha), beta);
#elif ACT == ACT_LEAKY_RELU
    return v < 0.0 ? alpha * v : v;
#elif ACT == ACT_SIGMOID
    return sigmoid(v);
#elif ACT == ACT_TANH
    return tanh_(v);
#elif ACT == ACT_HARD_SIGMOID
    return clamp(alpha * v + beta, 0.0, 1.0);
#elif ACT == ACT_SILU
    return v * sigmoid(v);
#elif ACT == ACT_HARD_SWISH
    return v * clamp(v / 6.0 + 0.5, 0.0, 1.0);
#elif ACT == ACT_GELU
    return gelu(v);
#elif ACT == ACT_GELU_TANH
    return geluTanh(v);
#elif ACT == ACT_MISH
    return v * tanh_(softplus(v));
#else
    return v;
#endif
}
