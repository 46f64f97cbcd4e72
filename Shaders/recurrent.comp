#version 450
// One time step of RNN (CELL 0), GRU (CELL 1) or LSTM (CELL 2), every
// direction and batch entry at once: one invocation per (direction d, batch entry b, hidden
// unit j). xw holds X·Wᵀ for every step ([rows][dirs·G·H], G gates, a row per (t, b) as the
// layout orders X); the step adds the biases and h·Rᵀ, applies the gates and writes the new
// state (h, then c: [2][dirs][batch][H]) and Y. Entries past their sequence length keep their
// state; reverse directions (REVERSE_ALL, or d = 1) run from their own last valid step.
// F, G, H_ are the activations (codes below, parameters FA/FB, GA/GB, HA/HB); CLIP clips every
// gate's input when defined; PEEP adds LSTM's peepholes; COUPLED ties its forget gate to 1 - i.
// GRU with RESET_FIRST (linear_before_reset = 0) scales the state by the reset gate before R
// multiplies it: a first dispatch a step (PASS_RESET) writes r ⊙ h to resetState, which the
// step's candidate gate then reads; without, the reset gate scales h·Rᵀ + Rb.
#define A_SIGMOID 0
#define A_TANH 1
#define A_RELU 2
#define A_AFFINE 3
#define A_LEAKY_RELU 4
#define A_THRESHOLDED_RELU 5
#define A_SCALED_TANH 6
#define A_HARD_SIGMOID 7
#define A_ELU 8
#define A_SOFTSIGN 9
#define A_SOFTPLUS 10
#if CELL == 0
#define GATES 1
#elif CELL == 1
#define GATES 3
#else
#define GATES 4
#endif

layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer XW { float xw[]; };
layout(std430, binding = 1) readonly buffer Rw { float r[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) readonly buffer Lens { int lens[]; };
layout(std430, binding = 4) readonly buffer SIn { float sin_[]; };
layout(std430, binding = 5) writeonly buffer SOut { float sout[]; };
layout(std430, binding = 6) writeonly buffer Y { float y[]; };
layout(std430, binding = 7) readonly buffer P { float peep[]; };
#ifdef RESET_FIRST
layout(std430, binding = 8) buffer RS { float resetState[]; };
#endif
layout(push_constant) uniform Params { uint step; uint seq; uint batch; uint hidden; uint dirs; uint layout_; } p;

#include "activation.glsl"

float act(int kind, float a, float b, float v) {
    switch (kind) {
    case A_SIGMOID: return sigmoid(v);
    case A_TANH: return tanh_(v);
    case A_RELU: return max(v, 0.0);
    case A_AFFINE: return a * v + b;
    case A_LEAKY_RELU: return v >= 0.0 ? v : a * v;
    case A_THRESHOLDED_RELU: return v > a ? v : 0.0;
    case A_SCALED_TANH: return a * tanh_(b * v);
    case A_HARD_SIGMOID: return clamp(a * v + b, 0.0, 1.0);
    case A_ELU: return v >= 0.0 ? v : a * (exp(v) - 1.0);
    case A_SOFTSIGN: return v / (1.0 + abs(v));
    default: return softplus(v);
    }
}

float clipped(float v) {
#ifdef CLIP
    return clamp(v, -CLIP, CLIP);
#else
    return v;
#endif
}

void main() {
    uint H = p.hidden, total = p.dirs * p.batch * H, cells = total;
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += stride) {
        uint j = i % H, b = (i / H) % p.batch, d = i / (H * p.batch);
        uint len = uint(INDEX(lens, b));
        float hPrev = sin_[i], cPrev = sin_[cells + i];
        if (p.step >= len) {
#ifdef PASS_RESET
            continue;
#endif
            sout[i] = hPrev;
            sout[cells + i] = cPrev;
            continue;
        }
#ifdef REVERSE_ALL
        bool reverse = true;
#else
        bool reverse = d == 1u;
#endif
        uint t = reverse ? len - 1u - p.step : p.step;
        uint row = p.layout_ == 0u ? t * p.batch + b : b * p.seq + t;
        uint GH = GATES * H;
        float pre[GATES], rec[GATES];
        for (uint g = 0u; g < GATES; ++g) {
#ifdef PASS_RESET
            if (g != 1u) continue;
#endif
            uint unit = d * GH + g * H + j;
            float acc = 0.0;
#if defined(RESET_FIRST) && !defined(PASS_RESET)
            if (g == 2u) {
                for (uint k = 0u; k < H; ++k) acc += r[unit * H + k] * resetState[(d * p.batch + b) * H + k];
            } else
#endif
            for (uint k = 0u; k < H; ++k) acc += r[unit * H + k] * sin_[(d * p.batch + b) * H + k];
            rec[g] = acc + bias[d * 2u * GH + GH + g * H + j];
            pre[g] = xw[row * p.dirs * GH + unit] + bias[d * 2u * GH + g * H + j];
        }
#ifdef PASS_RESET
        resetState[i] = act(F, FA, FB, clipped(pre[1] + rec[1])) * hPrev;
        continue;
#endif
        float h, c = 0.0;
#if CELL == 0
        h = act(F, FA, FB, clipped(pre[0] + rec[0]));
#elif CELL == 1
        float z = act(F, FA, FB, clipped(pre[0] + rec[0]));
        float rg = act(F, FA, FB, clipped(pre[1] + rec[1]));
#ifdef RESET_FIRST
        float candidate = act(G, GA, GB, clipped(pre[2] + rec[2]));
#else
        float candidate = act(G, GA, GB, clipped(pre[2] + rg * rec[2]));
#endif
        h = (1.0 - z) * candidate + z * hPrev;
#else
        float pi = 0.0, po = 0.0, pf = 0.0;
#ifdef PEEP
        pi = peep[d * 3u * H + j]; po = peep[d * 3u * H + H + j]; pf = peep[d * 3u * H + 2u * H + j];
#endif
        float ig = act(F, FA, FB, clipped(pre[0] + rec[0] + pi * cPrev));
#ifdef COUPLED
        float fg = 1.0 - ig;
#else
        float fg = act(F, FA, FB, clipped(pre[2] + rec[2] + pf * cPrev));
#endif
        float candidate = act(G, GA, GB, clipped(pre[3] + rec[3]));
        c = fg * cPrev + ig * candidate;
        float og = act(F, FA, FB, clipped(pre[1] + rec[1] + po * c));
        h = og * act(H_, HA, HB, c);
#endif
        sout[i] = h;
        sout[cells + i] = c;
        uint at = p.layout_ == 0u ? ((t * p.dirs + d) * p.batch + b) * H + j : ((b * p.seq + t) * p.dirs + d) * H + j;
        y[at] = h;
    }
}
