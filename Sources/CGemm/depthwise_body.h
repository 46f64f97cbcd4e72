// The direct depthwise convolution over rows of VEC-wide output vectors, written once with
// Clang's vector extensions and included by gemm.c once per instruction set after its
// primitives for that set: NAME(row_taps) (a row's inputs under one tap, masked to the row),
// NAME(load_first) and NAME(store_first) (the first lanes of a vector); VEC, NAME and TARGET
// as for activation_body.h.

/// vx_depthwise for rows of stride 1 or 2: L outputs a vector, four rows at a time (four
/// independent sums), each tap one masked load (two and a permutation at stride 2) of the
/// inputs whose column lies inside the row (the padding reads as 0); the bias and z while the
/// sums are in registers, the activation over each block of rows once stored. The stride sw
/// (1 or 2) is a constant where inlined, so that the taps' loads take no branch.
static inline __attribute__((always_inline, target(TARGET)))
void NAME(depthwise_rows_at)(const vx_source *src, const float *w, float bias, const float *z, float *out,
                             const vx_activation *act, const int sw) {
    enum { L = sizeof(VEC) / sizeof(float), ROWS = 4 };
    const vx_source g = *src, *s = &g;  // a local copy: stores to `out` cannot change it
    for (int oy = 0; oy < s->oh; oy += ROWS) {
        int rows = s->oh - oy < ROWS ? s->oh - oy : ROWS;
        for (int ox = 0; ox < s->ow; ox += L) {
            int count = s->ow - ox < L ? s->ow - ox : L;
            VEC acc[ROWS];
            for (int r = 0; r < ROWS; r++) acc[r] = (VEC){} + bias;
            for (int ky = 0; ky < s->kh; ky++) {
                for (int kx = 0; kx < s->kw; kx++) {
                    int ix = ox * sw + kx * s->dilation_w - s->pad_left;  // lane 0's input column
                    float wv = w[ky * s->kw + kx];
                    for (int r = 0; r < rows; r++) {
                        int iy = (oy + r) * s->stride_h + ky * s->dilation_h - s->pad_top;
                        if (iy < 0 || iy >= s->h) continue;
                        acc[r] += wv * NAME(row_taps)(s->x + (size_t)iy * s->w, ix, s->w, sw, count);
                    }
                }
            }
            for (int r = 0; r < rows; r++) {
                size_t at = (size_t)(oy + r) * s->ow + ox;
                VEC v = acc[r];
                if (z) v += NAME(load_first)(z + at, count);
                NAME(store_first)(out + at, v, count);
            }
        }
        if (act) NAME(activate_run)(out + (size_t)oy * s->ow, (size_t)rows * s->ow, act);  // while in L1
    }
}

__attribute__((target(TARGET)))
static void NAME(depthwise_rows)(const vx_source *src, const float *w, float bias, const float *z, float *out,
                                 const vx_activation *act) {
    if (src->stride_w == 1) NAME(depthwise_rows_at)(src, w, bias, z, out, act, 1);
    else NAME(depthwise_rows_at)(src, w, bias, z, out, act, 2);
}
