#version 450
// Elementwise unary ops, one per OP define: y = op(x). alpha/beta are the op's attributes
// (LeakyRelu/Elu alpha, Selu alpha/gamma, HardSigmoid alpha/beta, Clip min/max).
#define OP_RELU 0
#define OP_LEAKY_RELU 1
#define OP_SIGMOID 2
#define OP_TANH 3
#define OP_EXP 4
#define OP_LOG 5
#define OP_ABS 6
#define OP_NEG 7
#define OP_SQRT 8
#define OP_RECIPROCAL 9
#define OP_FLOOR 10
#define OP_CEIL 11
#define OP_ELU 12
#define OP_SELU 13
#define OP_HARD_SIGMOID 14
#define OP_CLIP 15
#define OP_SOFTPLUS 16
#define OP_HARD_SWISH 17
#define OP_SIN 18
#define OP_COS 19

layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint n; float alpha; float beta; } p;

float op(float v) {
#if OP == OP_RELU
    return v < 0.0 ? 0.0 : v;
#elif OP == OP_LEAKY_RELU
    return v < 0.0 ? p.alpha * v : v;
#elif OP == OP_SIGMOID
    return 1.0 / (1.0 + exp(-v));
#elif OP == OP_TANH
    float e = exp(-2.0 * abs(v));
    return sign(v) * (1.0 - e) / (1.0 + e);
#elif OP == OP_EXP
    return exp(v);
#elif OP == OP_LOG
    return log(v);
#elif OP == OP_ABS
    return abs(v);
#elif OP == OP_NEG
    return -v;
#elif OP == OP_SQRT
    return sqrt(v);
#elif OP == OP_RECIPROCAL
    return 1.0 / v;
#elif OP == OP_FLOOR
    return floor(v);
#elif OP == OP_CEIL
    return ceil(v);
#elif OP == OP_ELU
    return v < 0.0 ? p.alpha * (exp(v) - 1.0) : v;
#elif OP == OP_SELU
    return v <= 0.0 ? p.beta * p.alpha * (exp(v) - 1.0) : p.beta * v;
#elif OP == OP_HARD_SIGMOID
    return clamp(p.alpha * v + p.beta, 0.0, 1.0);
#elif OP == OP_CLIP
    return min(max(v, p.alpha), p.beta);
#elif OP == OP_SOFTPLUS
    return v > 20.0 ? v : log(1.0 + exp(v));
#elif OP == OP_HARD_SWISH
    return v * clamp(v / 6.0 + 0.5, 0.0, 1.0);
#elif OP == OP_SIN
    return sin(v);
#elif OP == OP_COS
    return cos(v);
#else
#error "unknown OP"
#endif
}

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) y[i] = op(x[i]);
}
