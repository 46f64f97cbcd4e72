// The fused activations over one float vector, written once with Clang's vector extensions
// and included by gemm.c once per instruction set: VEC (float lanes) and IVEC (int32 lanes of
// the same width), NAME(f) the suffixed function name, TARGET the target attribute,
// RECIP_ESTIMATE(v) the CPU's reciprocal estimate of a VEC, NAME(load_first) and
// NAME(store_first) a masked load and store of a vector's first lanes.
// exp is 2ⁿ·2^f with a fitted polynomial (relative error ~2e-7 over its range), tanh Cephes' polynomial near 0 and
// exp beyond, erfc Abramowitz–Stegun 7.1.26 (absolute error 1.5e-7); NaN stays NaN. The
// tails that tend to 0 are computed without cancellation (Gelu's through erfc, GeluTanh as
// x·sigmoid(2u)).

#define ACT_FN static inline __attribute__((always_inline, target(TARGET)))

ACT_FN VEC NAME(select)(IVEC m, VEC a, VEC b) { return (VEC)((m & (IVEC)a) | (~m & (IVEC)b)); }
ACT_FN VEC NAME(clamp)(VEC x, float lo, float hi) {
    return __builtin_elementwise_min(__builtin_elementwise_max(x, (VEC){} + lo), (VEC){} + hi);
}

/// e^(sign·x) (sign ±1, a constant once inlined) for sign·x already in [−87.3, 88.3] (not
/// NaN), as 2ⁿ·2^f: n = sign·x·log₂e rounded by adding 1.5·2²³ (whose low mantissa bits then
/// hold it, so that the scale 2ⁿ is two integer operations), f = sign·x·log₂e − n ∈ [−½, ½] by
/// two FMAs on log₂e split in two floats (exact enough that |x| up to 88 loses nothing), and
/// 2^f by a degree-5 polynomial (relative error 7.5e-8, fitted near-minimax): 12 operations a
/// vector where Cephes' e^r polynomial took 15, and the negation of e^−x folds into constants.
ACT_FN VEC NAME(exp_signed_in_range)(VEC x, float sign) {
    const float log2e = 1.44269502162933349609375f * sign, log2e_low = 1.925963033500011e-08f * sign;
    VEC shifted = __builtin_elementwise_fma(x, (VEC){} + log2e, (VEC){} + 12582912.0f), n = shifted - 12582912.0f;
    VEC f = __builtin_elementwise_fma(x, (VEC){} + log2e, -n);
    f = __builtin_elementwise_fma(x, (VEC){} + log2e_low, f);
    VEC p = (VEC){} + 1.3276570243760943e-3f;
    p = __builtin_elementwise_fma(p, f, (VEC){} + 9.675542823970318e-3f);
    p = __builtin_elementwise_fma(p, f, (VEC){} + 5.550713092088699e-2f);
    p = __builtin_elementwise_fma(p, f, (VEC){} + 2.4022120237350464e-1f);
    p = __builtin_elementwise_fma(p, f, (VEC){} + 6.931469440460205e-1f);
    p = __builtin_elementwise_fma(p, f, (VEC){} + 1.0000001192092896f);
    IVEC scale = ((IVEC)shifted << 23) + (127 << 23);  // shifting drops 1.5·2²³'s own bits
    return p * (VEC)scale;
}

/// e^x for x already in [−87.3, 88.3] (not NaN).
ACT_FN VEC NAME(exp_in_range)(VEC x) { return NAME(exp_signed_in_range)(x, 1.0f); }

/// e^x: 0 below −87.3, e^88.3 above 88.3; NaN in, NaN out.
ACT_FN VEC NAME(exp)(VEC v) {
    VEC y = NAME(exp_in_range)(NAME(clamp)(v, -87.3f, 88.3f));
    return NAME(select)(v != v, v, NAME(select)(v < -87.3f, (VEC){}, y));
}

/// 1/d for finite d in [1, 2^100] (or NaN), without a division (whose throughput bounded the
/// sigmoids: SiLU was 19% of EfficientNet-B0): the estimate and one Newton step, relative
/// error ~2e-7.
ACT_FN VEC NAME(recip)(VEC d) {
    VEC r = RECIP_ESTIMATE(d);
    return r + r * (1.0f - d * r);
}

/// 1 / (1 + e^−x) for x not NaN (NaN gives a number: callers multiplying by x get NaN back),
/// e^−x through exp's range clamp but not its NaN and underflow selects: both tails keep their
/// relative precision (the negative one is 1/(1 + e^|x|), no cancellation) down to 1e-38, below
/// which the reciprocal estimate gives 0; 24 operations a vector where exp's selects and a select
/// of the tail took 40 (SiLU was 16% of EfficientNet-B0's time).
ACT_FN VEC NAME(sigmoid_of_number)(VEC x) {
    return NAME(recip)(1.0f + NAME(exp_signed_in_range)(NAME(clamp)(x, -88.3f, 87.3f), -1.0f));
}

/// 1 / (1 + e^−x); NaN in, NaN out.
ACT_FN VEC NAME(sigmoid)(VEC x) { return NAME(select)(x != x, x, NAME(sigmoid_of_number)(x)); }

ACT_FN VEC NAME(tanh)(VEC x) {
    VEC a = __builtin_elementwise_abs(x), z = x * x;
    VEC p = (VEC){} - 5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    VEC small = p * z * x + x;
    VEC e = NAME(exp)(-2.0f * a), t = (1.0f - e) * NAME(recip)(1.0f + e);
    VEC large = (VEC)(((IVEC)t) | ((IVEC)x & (IVEC){} + (int)0x80000000));
    return NAME(select)(a < 0.625f, small, large);
}

/// x·Φ(x) = x/2·erfc(−x/√2), erfc(|u|) by A&S 7.1.26 (erfc(−|u|) = 2 − erfc(|u|)).
ACT_FN VEC NAME(gelu)(VEC x) {
    VEC u = x * 0.70710678118654752f, a = __builtin_elementwise_abs(u), t = 1.0f / (1.0f + 0.3275911f * a);
    VEC p = (VEC){} + 1.061405429f;
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    VEC c = p * t * NAME(exp)(-a * a);
    return 0.5f * x * NAME(select)(x < 0.0f, c, 2.0f - c);
}

/// Activation `kind` (VX_ACT_*, parameters a and b as in vx_activation) applied to x; inlined
/// where kind is a constant, so that the switch folds away.
ACT_FN VEC NAME(apply)(VEC x, int kind, float a, float b) {
    switch (kind) {
    case VX_ACT_RELU: return NAME(select)(x > 0.0f, x, (VEC){});
    case VX_ACT_CLIP: return NAME(clamp)(x, a, b);
    case VX_ACT_LEAKY_RELU: return NAME(select)(x < 0.0f, x * a, x);
    case VX_ACT_SIGMOID: return NAME(sigmoid)(x);
    case VX_ACT_TANH: return NAME(tanh)(x);
    case VX_ACT_HARD_SIGMOID: return NAME(clamp)(x * a + b, 0.0f, 1.0f);
    case VX_ACT_SILU: return x * NAME(sigmoid_of_number)(x);
    case VX_ACT_HARD_SWISH: return x * NAME(clamp)(x * (1.0f / 6.0f) + 0.5f, 0.0f, 1.0f);
    case VX_ACT_GELU: return NAME(gelu)(x);
    case VX_ACT_GELU_TANH: return x * NAME(sigmoid_of_number)(1.5957691216057308f * (x + 0.044715f * x * x * x));
    case VX_ACT_MISH: {
        VEC u = NAME(exp)(__builtin_elementwise_min(x, (VEC){} + 20.0f)), n = u * (u + 2.0f);
        return x * (n * NAME(recip)(n + 2.0f));
    }
    default: return x;
    }
}

/// `act` applied to x (act not NULL), out of line: the GEMM micro-kernels inline only Relu,
/// since the whole switch inlined into them cost 10-15% on short-K products (1×1 convs).
__attribute__((noinline, target(TARGET)))
static VEC NAME(activate_other)(VEC x, const vx_activation *act) { return NAME(apply)(x, act->kind, act->a, act->b); }

/// `act` applied to x (act not NULL).
ACT_FN VEC NAME(activate)(VEC x, const vx_activation *act) {
    return act->kind == VX_ACT_RELU ? NAME(select)(x > 0.0f, x, (VEC){}) : NAME(activate_other)(x, act);
}

/// Activation `kind` applied to count floats at x in place, four vectors a step: their
/// independent chains overlap (one vector at a time, a sigmoid's ~20 dependent operations
/// made SiLU latency-bound: 22% of EfficientNet-B0's time).
ACT_FN void NAME(activate_kind)(float *x, size_t count, int kind, float a, float b) {
    enum { L = sizeof(VEC) / sizeof(float) };
    size_t i = 0;
    for (; i + 4 * L <= count; i += 4 * L) {
        VEC v[4];
        memcpy(v, x + i, sizeof v);
        for (int j = 0; j < 4; j++) v[j] = NAME(apply)(v[j], kind, a, b);
        memcpy(x + i, v, sizeof v);
    }
    for (; i + L <= count; i += L) {
        VEC v;
        memcpy(&v, x + i, sizeof v);
        v = NAME(apply)(v, kind, a, b);
        memcpy(x + i, &v, sizeof v);
    }
    if (i < count) NAME(store_first)(x + i, NAME(apply)(NAME(load_first)(x + i, (int)(count - i)), kind, a, b), (int)(count - i));
}

/// `act` applied to count floats at x in place: one loop per kind.
__attribute__((target(TARGET)))
static void NAME(activate_run)(float *x, size_t count, const vx_activation *act) {
    switch (act->kind) {
#define KIND(k) case k: NAME(activate_kind)(x, count, k, act->a, act->b); return;
    KIND(VX_ACT_RELU) KIND(VX_ACT_CLIP) KIND(VX_ACT_LEAKY_RELU) KIND(VX_ACT_SIGMOID) KIND(VX_ACT_TANH)
    KIND(VX_ACT_HARD_SIGMOID) KIND(VX_ACT_SILU) KIND(VX_ACT_HARD_SWISH) KIND(VX_ACT_GELU) KIND(VX_ACT_GELU_TANH)
    KIND(VX_ACT_MISH)
#undef KIND
    default: return;
    }
}

/// Softmax of the count floats at x into y (which may be x): max, then e^(x − max) and their
/// sum, then the scaling, each pass vectorized.
__attribute__((target(TARGET)))
static void NAME(softmax_run)(const float *x, float *y, size_t count) {
    enum { L = sizeof(VEC) / sizeof(float) };
    size_t full = count / L * L, tail = count - full;
    VEC mv = (VEC){} - __builtin_inff(), v, sv = {};
    for (size_t i = 0; i < full; i += L) { memcpy(&v, x + i, sizeof v); mv = __builtin_elementwise_max(mv, v); }
    float m = -__builtin_inff(), s = 0;
    for (int l = 0; l < L; l++) m = mv[l] > m ? mv[l] : m;
    for (size_t i = full; i < count; i++) m = x[i] > m ? x[i] : m;
    for (size_t i = 0; i < full; i += L) {
        memcpy(&v, x + i, sizeof v);
        v = NAME(exp)(v - m);
        sv += v;
        memcpy(y + i, &v, sizeof v);
    }
    if (tail) {
        v = (VEC){} - __builtin_inff();
        memcpy(&v, x + full, tail * sizeof(float));
        v = NAME(exp)(v - m);
        sv += v;
        memcpy(y + full, &v, tail * sizeof(float));
    }
    for (int l = 0; l < L; l++) s += sv[l];
    float inv = 1 / s;
    for (size_t i = 0; i < full; i += L) { memcpy(&v, y + i, sizeof v); v *= inv; memcpy(y + i, &v, sizeof v); }
    for (size_t i = full; i < count; i++) y[i] *= inv;
}

/// Softmax down each column of the rows×2L floats at s (row-major: one row is two vectors) of
/// scale·s + the mask (column c, row r: mask[c·mask_cs + r·mask_rs], for the first `columns`
/// columns; none if mask is NULL), left unnormalized in place: e^(x − the column's max), the
/// columns' sums into sums[0…2L). Attention's transposed scores, keys down the rows. A padding
/// mask (mask_cs 0: one value a row) is added in both passes; any other, gathered once, is
/// stored with the scaled scores by the first.
__attribute__((target(TARGET)))
static void NAME(softmax_columns_run)(float *s, int rows, int columns, float scale, const float *mask, ptrdiff_t mask_cs,
                                      ptrdiff_t mask_rs, float *sums) {
    enum { L = sizeof(VEC) / sizeof(float) };
    const int gathered = mask && mask_cs != 0;
    VEC m0 = (VEC){} - __builtin_inff(), m1 = m0, v0, v1, s0 = {}, s1 = {};
    for (int r = 0; r < rows; r++) {
        float *row = s + (size_t)r * 2 * L, add = mask && !gathered ? mask[(ptrdiff_t)r * mask_rs] : 0;
        memcpy(&v0, row, sizeof v0);
        memcpy(&v1, row + L, sizeof v1);
        v0 = v0 * scale + add;
        v1 = v1 * scale + add;
        if (gathered) {
            const float *d = mask + (ptrdiff_t)r * mask_rs;
            VEC d0 = {}, d1 = {};
            for (int c = 0; c < L && c < columns; c++) d0[c] = d[(ptrdiff_t)c * mask_cs];
            for (int c = L; c < columns; c++) d1[c - L] = d[(ptrdiff_t)c * mask_cs];
            v0 += d0;
            v1 += d1;
            memcpy(row, &v0, sizeof v0);
            memcpy(row + L, &v1, sizeof v1);
        }
        m0 = __builtin_elementwise_max(m0, v0);
        m1 = __builtin_elementwise_max(m1, v1);
    }
    const float again = gathered ? 1 : scale;
    for (int r = 0; r < rows; r++) {
        float *row = s + (size_t)r * 2 * L, add = mask && !gathered ? mask[(ptrdiff_t)r * mask_rs] : 0;
        memcpy(&v0, row, sizeof v0);
        memcpy(&v1, row + L, sizeof v1);
        v0 = NAME(exp)(v0 * again + add - m0);
        v1 = NAME(exp)(v1 * again + add - m1);
        s0 += v0;
        s1 += v1;
        memcpy(row, &v0, sizeof v0);
        memcpy(row + L, &v1, sizeof v1);
    }
    memcpy(sums, &s0, sizeof s0);
    memcpy(sums + L, &s1, sizeof s1);
}

/// Sum of the count floats at x, each less `shift` and squared when `square`.
ACT_FN float NAME(row_sum)(const float *x, size_t count, float shift, int square) {
    enum { L = sizeof(VEC) / sizeof(float) };
    VEC acc = {}, v;
    size_t i = 0;
    for (; i + L <= count; i += L) {
        memcpy(&v, x + i, sizeof v);
        v -= shift;
        acc += square ? v * v : v;
    }
    float s = 0;
    for (int l = 0; l < L; l++) s += acc[l];
    for (; i < count; i++) { float d = x[i] - shift; s += square ? d * d : d; }
    return s;
}

/// Layer normalization of one row (see vx_layer_norm).
__attribute__((target(TARGET)))
static void NAME(layer_norm_run)(const float *x, float *y, size_t count, const float *scale, const float *bias, float eps,
                                 int centered, float *mean_out, float *inv_std_out) {
    enum { L = sizeof(VEC) / sizeof(float) };
    float mean = centered ? NAME(row_sum)(x, count, 0, 0) / (float)count : 0;
    float inv = 1 / __builtin_sqrtf(NAME(row_sum)(x, count, mean, 1) / (float)count + eps);
    VEC v, s, b = {};
    size_t i = 0;
    for (; i + L <= count; i += L) {
        memcpy(&v, x + i, sizeof v);
        memcpy(&s, scale + i, sizeof s);
        if (bias) memcpy(&b, bias + i, sizeof b);
        v = (v - mean) * inv * s + b;
        memcpy(y + i, &v, sizeof v);
    }
    for (; i < count; i++) y[i] = (x[i] - mean) * inv * scale[i] + (bias ? bias[i] : 0);
    if (mean_out) *mean_out = mean;
    if (inv_std_out) *inv_std_out = inv;
}

#undef ACT_FN
