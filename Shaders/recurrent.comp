#version 450
// Time steps of RNN (CELL 0), GRU (CELL 1) or LSTM (CELL 2) for every direction and batch
// entry, a unit (direction d, batch entry b, hidden unit j) at a time. xw holds X·Wᵀ for every
// step ([rows][dirs·G·H], G gates, a row per (t, b) as the layout orders X); a step adds the
// biases and h·Rᵀ, applies the gates and writes the new state and Y. The state buffer holds two
// states taking turns (h then c, each [dirs][batch][H]; step s reads state s mod 2 and writes the
// other), then, with RESET_FIRST, r ⊙ h. Entries past their sequence length keep their state;
// reverse directions (REVERSE_ALL, or d = 1) run from their own last valid step.
// Without SEQUENCE a dispatch runs one step (p.step; p.steps is 1), its invocations spread over
// every unit. With SEQUENCE it runs p.steps steps from p.step, a workgroup per (d, b) looping
// over them, a workgroup barrier where a dispatch and a pipeline barrier would be.
// F, G, H_ are the activations (codes below, parameters FA/FB, GA/GB, HA/HB); CLIP clips every
// gate's input when defined; PEEP adds LSTM's peepholes; COUPLED ties its forget gate to 1 - i.
// GRU with RESET_FIRST (linear_before_reset = 0) scales the state by the reset gate before R
// multiplies it: a phase before each step writes r ⊙ h (a dispatch of its own, PASS_RESET,
// without SEQUENCE), which the step's candidate gate then reads; without, the reset gate scales
// h·Rᵀ + Rb. With VEC4 (H a multiple of 4) R's rows are read 4 floats at a time.
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
#ifdef VEC4
layout(std430, binding = 1) readonly buffer Rw { vec4 r[]; };
#else
layout(std430, binding = 1) readonly buffer Rw { float r[]; };
#endif
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) readonly buffer Lens { int lens[]; };
layout(std430, binding = 4) coherent buffer State { float st[]; };
layout(std430, binding = 5) writeonly buffer Y { float y[]; };
layout(std430, binding = 6) readonly buffer P { float peep[]; };
layout(push_constant) uniform Params { uint step; uint steps; uint seq; uint batch; uint hidden; uint dirs; uint layout_; } p;

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

// R's row `unit` (of dirs·G·H rows of H) times the H state values from st[at].
float recurrence(uint unit, uint at) {
    uint H = p.hidden;
    float acc = 0.0;
#ifdef VEC4
    for (uint k = 0u; k < H / 4u; ++k) {
        uint s = at + 4u * k;
        acc += dot(r[unit * (H / 4u) + k], vec4(st[s], st[s + 1u], st[s + 2u], st[s + 3u]));
    }
#else
    for (uint k = 0u; k < H; ++k) acc += r[unit * H + k] * st[at + k];
#endif
    return acc;
}

// Unit j of (d, b) = `pair` (d·batch + b) at step s: with `reset`, the GRU's r ⊙ h; else the
// step. With `pair` uniform (SEQUENCE), so are the state reads of the recurrence, which a CPU
// device then makes once for all lanes.
void run(uint pair, uint j, uint s, bool reset) {
    uint H = p.hidden, cells = p.dirs * p.batch * H;
    uint i = pair * H + j, b = pair % p.batch, d = pair / p.batch;
    uint len = uint(INDEX(lens, b));
    uint from = (s & 1u) * 2u * cells, to = 2u * cells - from, vector = from + pair * H;
    float hPrev = st[from + i], cPrev = st[from + cells + i];
    if (s >= len) {
        if (!reset) { st[to + i] = hPrev; st[to + cells + i] = cPrev; }
        return;
    }
#ifdef REVERSE_ALL
    bool reverse = true;
#else
    bool reverse = d == 1u;
#endif
    uint t = reverse ? len - 1u - s : s;
    uint row = p.layout_ == 0u ? t * p.batch + b : b * p.seq + t;
    uint GH = GATES * H;
    float pre[GATES], rec[GATES];
    for (uint g = 0u; g < GATES; ++g) {
        uint unit = d * GH + g * H + j;
#ifdef RESET_FIRST
        // the reset phase needs the reset gate only; the step reads r ⊙ h for its candidate
        if (reset && g != 1u) continue;
        rec[g] = recurrence(unit, !reset && g == 2u ? 4u * cells + pair * H : vector) + bias[d * 2u * GH + GH + g * H + j];
#else
        rec[g] = recurrence(unit, vector) + bias[d * 2u * GH + GH + g * H + j];
#endif
        pre[g] = xw[row * p.dirs * GH + unit] + bias[d * 2u * GH + g * H + j];
    }
#ifdef RESET_FIRST
    if (reset) {
        st[4u * cells + i] = act(F, FA, FB, clipped(pre[1] + rec[1])) * hPrev;
        return;
    }
#endif
    float h, c = 0.0;
#if CELL == 0
    h = act(F, FA, FB, clipped(pre[0] + rec[0]));
#elif CELL == 1
    float z = act(F, FA, FB, clipped(pre[0] + rec[0]));
#ifdef RESET_FIRST
    float candidate = act(G, GA, GB, clipped(pre[2] + rec[2]));
#else
    float rg = act(F, FA, FB, clipped(pre[1] + rec[1]));
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
    st[to + i] = h;
    st[to + cells + i] = c;
    uint at = p.layout_ == 0u ? ((t * p.dirs + d) * p.batch + b) * H + j : ((b * p.seq + t) * p.dirs + d) * H + j;
    y[at] = h;
}

void main() {
#ifdef SEQUENCE
    // A workgroup per (d, b): its H units, step after step.
    uint pair = gl_WorkGroupID.z;
    for (uint s = p.step; s < p.step + p.steps; ++s) {
#ifdef RESET_FIRST
        for (uint j = gl_LocalInvocationID.x; j < p.hidden; j += gl_WorkGroupSize.x) run(pair, j, s, true);
        memoryBarrierBuffer();
        barrier();
#endif
        for (uint j = gl_LocalInvocationID.x; j < p.hidden; j += gl_WorkGroupSize.x) run(pair, j, s, false);
        memoryBarrierBuffer();
        barrier();
    }
#else
    uint total = p.dirs * p.batch * p.hidden, stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
#ifdef PASS_RESET
    for (uint i = gl_GlobalInvocationID.x; i < total; i += stride) run(i / p.hidden, i % p.hidden, p.step, true);
#else
    for (uint i = gl_GlobalInvocationID.x; i < total; i += stride) run(i / p.hidden, i % p.hidden, p.step, false);
#endif
#endif
}
