// The direct depthwise convolution over rows of VEC-wide output vectors, written once with
// Clang's vector extensions and included by gemm.c once per instruction set after its
// primitives for that set: NAME(load_first) and NAME(store_first) (the first lanes of a
// vector), NAME(load_range) and NAME(deinterleave); VEC, NAME and TARGET as for
// activation_body.h.

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
    if (sw == 1) {  // whole vector stores (pitch is whole vectors): narrower ones stall the taps' loads
        for (int pc = 0; pc < pitch; pc += L) {
            VEC v;
            if (pc >= lo && pc + L <= hi) memcpy(&v, line + pc, sizeof v);
            else v = NAME(load_range)(line + pc, lo - pc, hi - pc);
            memcpy(d + pc, &v, sizeof v);
        }
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
/// bias and z while the sums are in registers, the activation over blocks of rows once stored.
/// The stride sw (1 or 2) is a constant where inlined, so that the copy and the taps' offsets
/// take no branch. k in 1…5 (a constant too) says the kernel is k×k at stride sw both ways and
/// dilation 1: the taps then unroll and the k² weights are read once a plane (in the generic
/// loops, the taps' addressing took more time than their FMAs; 3×3 and 5×5 convs ran 1.3× faster).
static inline __attribute__((always_inline, target(TARGET)))
void NAME(depthwise_rows_at)(const vx_source *src, const float *w, float bias, const float *z, float *out,
                             const vx_activation *act, float *buf, const int sw, const int k) {
    enum { L = sizeof(VEC) / sizeof(float), ROWS = 4 };
    const vx_source g = *src, *s = &g;  // a local copy: stores to `out` cannot change it
    const int kh = k ? k : s->kh, kw = k ? k : s->kw;
    const int sh = k ? sw : s->stride_h, dh = k ? 1 : s->dilation_h, dw = k ? 1 : s->dilation_w;
    float wk[25];  // k > 0 (at most 5): the weights where stores to `out` cannot change them
    for (int i = 0; i < k * k; i++) wk[i] = w[i];
    const int half = depthwise_half_pitch(s, L), pitch = sw * half;
    const int span = (ROWS - 1) * sh + (kh - 1) * dh + 1;
    int filled = 0;  // padded rows [0, filled) have been copied; padded row p lives in ring slot p % span
    int activated = 0;  // output rows [0, activated) have taken the activation
    for (int oy = 0; oy < s->oh; oy += ROWS) {
        int rows = s->oh - oy < ROWS ? s->oh - oy : ROWS, first = oy * sh, base = first % span;
        int p = first > filled ? first : filled, slot = p % span;  // one division a block, not a row
        for (; p < first + span; p++, slot = slot + 1 == span ? 0 : slot + 1)
            NAME(padded_row)(s, p - s->pad_top, buf + (size_t)slot * pitch, half, sw);
        filled = first + span;
        for (int ox = 0; ox < s->ow; ox += L) {
            VEC acc[ROWS];
            for (int r = 0; r < ROWS; r++) acc[r] = (VEC){} + bias;
            for (int ky = 0; ky < kh; ky++) {
                const float *row[ROWS];  // output row oy + r reads padded row first + r·sh + ky·dh
                for (int r = 0; r < ROWS; r++) {
                    int slot = base + r * sh + ky * dh;
                    row[r] = buf + (size_t)(slot < span ? slot : slot - span) * pitch + ox;
                }
                for (int kx = 0; kx < kw; kx++) {
                    int c = kx * dw;  // output ox's padded column is ox·sw + c
                    int at = sw == 1 ? c : (c & 1) * half + (c >> 1);
                    float wv = k ? wk[ky * kw + kx] : w[ky * kw + kx];
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
        // the activation over the rows not yet activated, once they are 1024 floats or the last:
        // while in L1, and on small maps with one masked tail a plane, not one a block
        int done = oy + rows;
        if (act && ((size_t)(done - activated) * s->ow >= 1024 || done == s->oh)) {
            NAME(activate_run)(out + (size_t)activated * s->ow, (size_t)(done - activated) * s->ow, act);
            activated = done;
        }
    }
}

__attribute__((target(TARGET)))
static void NAME(depthwise_rows)(const vx_source *src, const float *w, float bias, const float *z, float *out,
                                 const vx_activation *act, float *buf) {
    const int sw = src->stride_w;
    int square = src->kh == src->kw && src->stride_h == sw && src->dilation_h == 1 && src->dilation_w == 1 ? src->kh : 0;
#define ROWS_AT(stride, k) NAME(depthwise_rows_at)(src, w, bias, z, out, act, buf, stride, k)
    if (sw == 1) {
        if (square == 3) ROWS_AT(1, 3);
        else if (square == 5) ROWS_AT(1, 5);
        else ROWS_AT(1, 0);
    } else {
        if (square == 3) ROWS_AT(2, 3);
        else if (square == 5) ROWS_AT(2, 5);
        else ROWS_AT(2, 0);
    }
#undef ROWS_AT
}
