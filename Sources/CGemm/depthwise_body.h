// The direct depthwise convolution over rows of VEC-wide output vectors, written once with
// Clang's vector extensions and included by gemm.c once per instruction set after its
// primitives for that set: NAME(load_first) and NAME(store_first) (the first lanes of a
// vector) and NAME(deinterleave); VEC, NAME and TARGET as for activation_body.h.

/// Zeros the n floats at d (n ≤ 0: none) with vector stores: the rows of small maps are a few
/// vectors, where a call to memset or memcpy cost more than the copy (three of them a padded
/// row took a third of a 7×7 depthwise conv's time).
static inline __attribute__((always_inline, target(TARGET))) void NAME(zero_run)(float *d, int n) {
    enum { L = sizeof(VEC) / sizeof(float) };
    for (int i = 0; i < n; i += L) NAME(store_first)(d + i, (VEC){}, n - i);
}

/// Writes padded input row iy (a row of zeros outside [0, h)) into d (pitch = sw·half floats):
/// padded column pc holds input column pc − pad_left (0 outside the row); at stride 2 the even
/// padded columns go to d[0, half) and the odd ones to d[half, 2·half).
static inline __attribute__((always_inline, target(TARGET)))
void NAME(padded_row)(const vx_source *s, int iy, float *d, int half, const int sw) {
    enum { L = sizeof(VEC) / sizeof(float) };
    int pitch = sw * half;
    if (iy < 0 || iy >= s->h) { NAME(zero_run)(d, pitch); return; }
    const float *line = s->x + (size_t)iy * s->w - s->pad_left;  // indexed by padded column
    int lo = s->pad_left < pitch ? s->pad_left : pitch;          // the row's columns: [lo, hi)
    int hi = s->pad_left + s->w < pitch ? s->pad_left + s->w : pitch;
    if (sw == 1) {
        NAME(zero_run)(d, lo);
        int pc = lo;
        for (; pc + L <= hi; pc += L) {
            VEC v;
            memcpy(&v, line + pc, sizeof v);
            memcpy(d + pc, &v, sizeof v);
        }
        NAME(store_first)(d + pc, NAME(load_first)(line + pc, hi - pc), hi - pc);
        NAME(zero_run)(d + hi, pitch - hi);
        return;
    }
    float *even = d, *odd = d + half;
    int pc = 0;
    for (; pc + 1 < lo; pc += 2) even[pc >> 1] = odd[pc >> 1] = 0;
    if (pc < lo) { even[pc >> 1] = 0; pc++; }
    if (pc & 1 && pc < hi) { odd[pc >> 1] = line[pc]; pc++; }
    for (; pc + 2 * L <= hi; pc += 2 * L) NAME(deinterleave)(line + pc, even + (pc >> 1), odd + (pc >> 1));
    for (; pc + 1 < hi; pc += 2) { even[pc >> 1] = line[pc]; odd[pc >> 1] = line[pc + 1]; }
    for (; pc < pitch; pc++) d[(pc & 1) * half + (pc >> 1)] = pc < hi ? line[pc] : 0;
}

/// vx_depthwise for rows of stride 1 or 2: L outputs a vector, four rows at a time (four
/// independent sums). Input rows are copied once each, padding made zeros (padded_row), into
/// `buf`, a ring of the `span` rows one block of rows reads, so that every tap is one plain
/// load of L neighbouring floats: masked loads with per-tap masks took 4–8 cycles a tap. The
/// bias and z while the sums are in registers, the activation over each block of rows once
/// stored. The stride sw (1 or 2) is a constant where inlined, so that the copy and the taps'
/// offsets take no branch.
static inline __attribute__((always_inline, target(TARGET)))
void NAME(depthwise_rows_at)(const vx_source *src, const float *w, float bias, const float *z, float *out,
                             const vx_activation *act, float *buf, const int sw) {
    enum { L = sizeof(VEC) / sizeof(float), ROWS = 4 };
    const vx_source g = *src, *s = &g;  // a local copy: stores to `out` cannot change it
    const int sh = s->stride_h, dh = s->dilation_h, dw = s->dilation_w;
    const int half = depthwise_half_pitch(s, L), pitch = sw * half;
    const int span = (ROWS - 1) * sh + (s->kh - 1) * dh + 1;
    int filled = 0;  // padded rows [0, filled) have been copied; padded row p lives in ring slot p % span
    for (int oy = 0; oy < s->oh; oy += ROWS) {
        int rows = s->oh - oy < ROWS ? s->oh - oy : ROWS, first = oy * sh, base = first % span;
        int p = first > filled ? first : filled, slot = p % span;  // one division a block, not a row
        for (; p < first + span; p++, slot = slot + 1 == span ? 0 : slot + 1)
            NAME(padded_row)(s, p - s->pad_top, buf + (size_t)slot * pitch, half, sw);
        filled = first + span;
        for (int ox = 0; ox < s->ow; ox += L) {
            VEC acc[ROWS];
            for (int r = 0; r < ROWS; r++) acc[r] = (VEC){} + bias;
            for (int ky = 0; ky < s->kh; ky++) {
                const float *row[ROWS];  // output row oy + r reads padded row first + r·sh + ky·dh
                for (int r = 0; r < ROWS; r++) {
                    int slot = base + r * sh + ky * dh;
                    row[r] = buf + (size_t)(slot < span ? slot : slot - span) * pitch + ox;
                }
                for (int kx = 0; kx < s->kw; kx++) {
                    int c = kx * dw;  // output ox's padded column is ox·sw + c
                    int at = sw == 1 ? c : (c & 1) * half + (c >> 1);
                    float wv = w[ky * s->kw + kx];
                    for (int r = 0; r < ROWS; r++) {
                        VEC v;
                        memcpy(&v, row[r] + at, sizeof v);
                        acc[r] += wv * v;
                    }
                }
            }
            int count = s->ow - ox < L ? s->ow - ox : L;
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
                                 const vx_activation *act, float *buf) {
    if (src->stride_w == 1) NAME(depthwise_rows_at)(src, w, bias, z, out, act, buf, 1);
    else NAME(depthwise_rows_at)(src, w, bias, z, out, act, buf, 2);
}
