// Packed-A SGEMM for convolutions: an MR×NR micro-kernel — 8×32 on AVX-512F (32 registers
// hold 16 accumulators), else 6×16 on AVX2+FMA — with the conv epilogue (bias, residual,
// activation) applied while the tile is in registers; then Winograd's tile transforms and the direct
// kernels (depthwise conv, MaxPool). x86-64 only: elsewhere the entry points say "unavailable".
//
// Blocking (BLIS's loop order): K in blocks of KC; per K block, N in blocks of NC whose
// packed B (KC×NC, NR-column panels) stays in L2; per MR-row A panel (KC×MR, in L1), every
// NR-column B panel. A is packed once (MR-row panels, k-major); B (NR-column panels,
// k-major) per call, straight from the conv input (the im2col happens while packing).

#include "cgemm.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { KC = 256, NC = 512 };

/// Output positions up to which vx_depthwise_prefers_blocked says yes: at stride 1 (measured,
/// 1 thread, against plane by plane: 7×7 1.4–1.8×, 14×14 1.4–1.5×, 28×28 0.96–1.1×, 56×56 0.9×),
/// and at stride 2 both ways (14×14 outputs 1.4–2.2×, 28×28 1.1–1.2×, 56×56 1.06×).
enum { BLOCKED_MAX_POSITIONS = 256, BLOCKED_MAX_POSITIONS_STRIDE_2 = 1024 };

typedef float vf8 __attribute__((vector_size(32)));
typedef int vi8 __attribute__((vector_size(32)));
typedef float vf16 __attribute__((vector_size(64)));
typedef int vi16 __attribute__((vector_size(64)));
static const int mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/// Mask of the first n (0…8) lanes.
__attribute__((target("avx2,fma"))) static inline __m256i lanes(int n) {
    return _mm256_loadu_si256((const __m256i *)(mask_table + 8 - (n < 0 ? 0 : n > 8 ? 8 : n)));
}

/// The first n (≤ 16, may be ≤ 0) lanes.
static inline __mmask16 first_lanes(int n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/// The primitives of activation_body.h and depthwise_body.h: the first n lanes of a vector
/// loaded (the others 0) or stored.
__attribute__((target("avx512f"))) static inline vf16 load_first16(const float *p, int n) {
    return (vf16)_mm512_maskz_loadu_ps(first_lanes(n), p);
}
__attribute__((target("avx512f"))) static inline void store_first16(float *p, vf16 v, int n) {
    _mm512_mask_storeu_ps(p, first_lanes(n), (__m512)v);
}
__attribute__((target("avx2,fma"))) static inline vf8 load_first8(const float *p, int n) {
    return (vf8)_mm256_maskload_ps(p, lanes(n));
}
/// Of depthwise_body.h: lanes lo…hi − 1 (clamped to the vector) loaded, the others 0; the
/// lanes outside are not read.
__attribute__((target("avx512f"))) static inline vf16 load_range16(const float *p, int lo, int hi) {
    return (vf16)_mm512_maskz_loadu_ps(first_lanes(hi) & (__mmask16)~first_lanes(lo), p);
}
__attribute__((target("avx2,fma"))) static inline vf8 load_range8(const float *p, int lo, int hi) {
    return (vf8)_mm256_maskload_ps(p, _mm256_andnot_si256(lanes(lo), lanes(hi)));
}
/// Stores the first n lanes as at most three plain stores (4, 2, 1 lanes), a whole vector as
/// one: VMASKMOVPS to memory took ~19 cycles a store on Zen 3 (measured: 6.2 ns a store
/// against 2.3 for the split), and every depthwise output row and GEMM tile edge paid it.
__attribute__((target("avx2,fma"))) static inline void store_first8(float *p, vf8 v, int n) {
    if (n >= 8) { _mm256_storeu_ps(p, (__m256)v); return; }
    if (n <= 0) return;
    __m128 part = _mm256_castps256_ps128((__m256)v);
    if (n & 4) { _mm_storeu_ps(p, part); part = _mm256_extractf128_ps((__m256)v, 1); p += 4; }
    if (n & 2) { _mm_storel_pi((__m64 *)p, part); part = _mm_movehl_ps(part, part); p += 2; }
    if (n & 1) _mm_store_ss(p, part);
}

/// Of depthwise_body.h: the 2L floats at p split into their even and odd elements (L each).
__attribute__((target("avx512f"))) static inline void deinterleave16(const float *p, float *even, float *odd) {
    __m512 a = _mm512_loadu_ps(p), b = _mm512_loadu_ps(p + 16);
    const __m512i e = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    _mm512_storeu_ps(even, _mm512_permutex2var_ps(a, e, b));
    _mm512_storeu_ps(odd, _mm512_permutex2var_ps(a, _mm512_add_epi32(e, _mm512_set1_epi32(1)), b));
}
__attribute__((target("avx2,fma"))) static inline void deinterleave8(const float *p, float *even, float *odd) {
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);  // shuffles within 128-bit halves, then across
    __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    _mm256_storeu_ps(even, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0))));
    _mm256_storeu_ps(odd, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0))));
}

#define VEC vf8
#define IVEC vi8
#define NAME(f) f##8
#define TARGET "avx2,fma"
#define RECIP_ESTIMATE(v) ((vf8)_mm256_rcp_ps((__m256)(v)))
#include "activation_body.h"
#undef VEC
#undef IVEC
#undef NAME
#undef TARGET
#undef RECIP_ESTIMATE
#define VEC vf16
#define IVEC vi16
#define NAME(f) f##16
#define TARGET "avx512f"
#define RECIP_ESTIMATE(v) ((vf16)_mm512_rcp14_ps((__m512)(v)))
#include "activation_body.h"
#undef VEC
#undef IVEC
#undef NAME
#undef TARGET
#undef RECIP_ESTIMATE

/// n rounded up to a multiple of block.
static inline int round_up(int n, int block) { return (n + block - 1) / block * block; }

/// The K block for `columns` packed columns: KC, or longer when few columns leave room in the
/// KC×NC budget (a 7×7 map's 49 columns: K up to 2048 in one pass, so the tile's C is written
/// once instead of read back and added to per block).
static int k_block(int columns) { return columns >= NC ? KC : KC * NC / columns; }

/// C tile (rows ≤ mr, cols ≤ nr) at c = A panel a (kc×mr) · B panel b (kc×nr), added to C
/// unless `flags` has FIRST; on LAST the epilogue (bias per row, z, activation `act` unless NULL) before the store.
typedef void (*micro_kernel)(int kc, const float *a, const float *b, float *c, int ldc, int rows, int cols,
                             int flags, const float *bias, const float *z, int ldz, const vx_activation *act);
enum { FIRST = 1, LAST = 2 };

/// The kernels this CPU runs: A in mr-row panels; B in `wide`-column panels, or `narrow`
/// ones for products whose columns fill wide panels badly (Winograd's 16 tiles). Chosen once;
/// VONNX_CPU_KERNEL=avx2 forces the AVX2 kernel (tests, comparisons).
typedef struct { int mr, wide, narrow; micro_kernel run_wide, run_narrow; } micro;
static micro chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;
static void kernel_6x16(int, const float *, const float *, float *, int, int, int, int, const float *, const float *, int, const vx_activation *);
static void kernel_8x32(int, const float *, const float *, float *, int, int, int, int, const float *, const float *, int, const vx_activation *);
static void kernel_7x32(int, const float *, const float *, float *, int, int, int, int, const float *, const float *, int, const vx_activation *);
static void kernel_14x32(int, const float *, const float *, float *, int, int, int, int, const float *, const float *, int, const vx_activation *);
static void kernel_8x16(int, const float *, const float *, float *, int, int, int, int, const float *, const float *, int, const vx_activation *);

static void choose(void) {
    __builtin_cpu_init();
    const char *forced = getenv("VONNX_CPU_KERNEL");
    int avx512 = __builtin_cpu_supports("avx512f") && !(forced && strcmp(forced, "avx2") == 0);
    chosen = avx512 ? (micro){8, 32, 16, kernel_8x32, kernel_8x16} : (micro){6, 16, 16, kernel_6x16, kernel_6x16};
}

static inline micro kernel(void) {
    pthread_once(&chosen_once, choose);
    return chosen;
}

/// The B panel width for a product with n columns: narrow when wide panels would pad n by
/// 5% more (measured on 196 columns: 8×16 panels of 208 beat 8×32 ones of 224).
static int panel_width(micro mk, int n) {
    return (double)round_up(n, mk.narrow) < 0.95 * round_up(n, mk.wide) ? mk.narrow : mk.wide;
}

int vx_gemm_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

int vx_gemm_row_block(void) { return kernel().mr; }

int vx_gemm_col_block(int n) { return panel_width(kernel(), n); }

int vx_gemm_t_col_block(void) { return kernel().wide; }

/// The rows (output positions) of a Cᵀ tile for n positions, and the kernel that runs them.
static int transposed_rows(micro mk, int n, micro_kernel *run) {
    *run = mk.run_wide;
    if (mk.wide != 32) return mk.mr;
    static const struct { int rows; micro_kernel run; } tiles[] = {{14, kernel_14x32}, {8, kernel_8x32}, {7, kernel_7x32}};
    int best = 0, padded = 1 << 30;
    for (int t = 0; t < 3; t++) {
        int p = round_up(n, tiles[t].rows);
        if (p < padded) { padded = p; best = t; }
    }
    *run = tiles[best].run;
    return tiles[best].rows;
}

int vx_gemm_t_row_block(int n) { micro_kernel run; return transposed_rows(kernel(), n, &run); }

size_t vx_gemm_packed_a_size(int m, int k) { return (size_t)round_up(m, kernel().mr) * (size_t)k; }

size_t vx_gemm_packed_b_size(int k, int n) { return (size_t)round_up(n, panel_width(kernel(), n)) * (size_t)k; }

/// Transposes the 8×8 block r in place: r[i] lane j becomes r[j] lane i.
__attribute__((target("avx2,fma"))) static inline void transpose8x8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int j = 0; j < 4; j++) {
        r[j] = _mm256_permute2f128_ps(u[j], u[j + 4], 0x20);
        r[j + 4] = _mm256_permute2f128_ps(u[j], u[j + 4], 0x31);
    }
}

/// Packs A (m×k, element (i, j) at a[i·rs + j·cs]) into mr-row panels (k-major, rows past m
/// zero). Row-major rows (cs = 1) go 8×8 blocks at a time through an in-register transpose, and
/// column-major ones (rs = 1) a run of rows at a time: element by element with a stride, this was
/// a fifth of SVTR's time (the attention's scores, 64×960 blocks).
__attribute__((target("avx2,fma")))
static void pack_a(int m, int k, const float *a, ptrdiff_t rs, ptrdiff_t cs, int mr, float *packed) {
    for (int p = 0; p < m; p += mr) {
        float *dst = packed + (size_t)p * k;
        const float *src = a + (ptrdiff_t)p * rs;
        int rows = m - p < mr ? m - p : mr, kk = 0;
        if (cs == 1) {
            for (; kk + 8 <= k; kk += 8) {
                __m256 r[8];
                for (int i = 0; i < 8; i++) r[i] = i < rows ? _mm256_loadu_ps(src + (ptrdiff_t)i * rs + kk) : _mm256_setzero_ps();
                transpose8x8(r);  // r[j]: column kk + j, rows 0…7
                for (int j = 0; j < 8; j++) {
                    // mr < 8: whole vectors in order, each next column overwriting the lanes past
                    // mr, the last one cut short (masked stores, ~19 cycles each on Zen 3, took
                    // 4× as long: 960×64 packed in 57 µs, now 14–21)
                    if (mr == 8 || j < 7) _mm256_storeu_ps(dst + (size_t)(kk + j) * mr, r[j]);
                    else store_first8(dst + (size_t)(kk + j) * mr, (vf8)r[j], mr);
                }
            }
        }
        for (; kk < k; kk++) {
            const float *col = src + (ptrdiff_t)kk * cs;
            if (rs == 1) for (int r = 0; r < rows; r++) dst[kk * mr + r] = col[r];
            else for (int r = 0; r < rows; r++) dst[kk * mr + r] = col[(ptrdiff_t)r * rs];
            for (int r = rows; r < mr; r++) dst[kk * mr + r] = 0;
        }
    }
}

void vx_gemm_pack_a(int m, int k, const float *a, int lda, float *packed) { pack_a(m, k, a, lda, 1, kernel().mr, packed); }

/// Where the next column of one packed row goes: lane `lane` of the panel at `d` (column
/// j lives at row + (j / width)·panel + j % width); advancing needs no division.
typedef struct { float *d; int lane, width; size_t panel; } cursor;

/// Writes `count` values src[0], src[stride], … (zeros when src is NULL) at the cursor.
__attribute__((target("avx2,fma")))
static inline void put(cursor *c, const float *src, int stride, int count) {
    while (count > 0) {
        int take = c->width - c->lane < count ? c->width - c->lane : count;
        float *d = c->d + c->lane;
        if (!src) {
            for (int t = 0; t < take; t++) d[t] = 0;
        } else if (stride == 1) {
            for (int t = 0; t < take; t++) d[t] = src[t];
            src += take;
        } else {
            int t = 0;
            if (stride == 2) {
                // 8 even elements of 16 by shuffles; src[2t + 15] is read only when a later
                // element (t + 8 < count) proves it lies inside the plane
                for (; t + 8 <= take && t + 8 < count; t += 8) {
                    __m256 lo = _mm256_loadu_ps(src + 2 * t), hi = _mm256_loadu_ps(src + 2 * t + 8);
                    __m256 even = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
                    _mm256_storeu_ps(d + t, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), _MM_SHUFFLE(3, 1, 2, 0))));
                }
            }
            for (; t < take; t++) d[t] = src[(size_t)t * stride];
            src += (size_t)take * stride;
        }
        count -= take;
        c->lane += take;
        if (c->lane == c->width) { c->lane = 0; c->d += c->panel; }
    }
}

/// pack_rows for a dense source, whose column n of row r is x[r·ld + n]: row by row, each
/// source row read straight through and spread over the panels. Panel by panel, every load
/// strode down the rows and missed the caches on Zen 3 (thread CPU time, packing B whole:
/// 40×25600 2.5 → 0.31 ms, 256×3136 3.3 → 0.23; whole 1×1 convs: 16×40 on 160×160 3.4 → 1.1 ms,
/// ResNet-50's 64×256 on 56×56 5.1 → 2.3).
__attribute__((target("avx2,fma")))
static void pack_dense_avx2(const float *x, size_t ld, int k0, int k1, int nc, float *dst, size_t panel, int width) {
    for (int r = k0; r < k1; r++) {
        const float *src = x + (size_t)r * ld;
        float *d = dst + (size_t)(r - k0) * width;
        int p0 = 0;
        if (width == 16)
            for (; p0 + 16 <= nc; p0 += 16, d += panel) {
                _mm256_storeu_ps(d, _mm256_loadu_ps(src + p0));
                _mm256_storeu_ps(d + 8, _mm256_loadu_ps(src + p0 + 8));
            }
        for (; p0 < nc; p0 += width, d += panel) {
            int cols = nc - p0 < width ? nc - p0 : width;
            for (int t = 0; t < cols; t++) d[t] = src[p0 + t];
            for (int t = cols; t < width; t++) d[t] = 0;
        }
    }
}

__attribute__((target("avx512f")))
static void pack_dense_avx512(const float *x, size_t ld, int k0, int k1, int nc, float *dst, size_t panel, int width) {
    for (int p0 = 0; p0 < nc; p0 += width, dst += panel) {
        int cols = nc - p0 < width ? nc - p0 : width;
        const float *src = x + (size_t)k0 * ld + p0;
        for (float *d = dst; d < dst + (size_t)(k1 - k0) * width; d += width, src += ld)
            for (int t = 0; t < width; t += 16)
                _mm512_mask_storeu_ps(d + t, first_lanes(width - t), _mm512_maskz_loadu_ps(first_lanes(cols - t), src + t));
    }
}

/// Packs rows [k0, k1) and columns [n0, n0 + nc) of B into `width`-column panels `panel`
/// floats apart, row r at dst + (r − k0)·width, zero-padding the last panel.
__attribute__((target("avx2,fma")))
static void pack_rows(const vx_source *s, int k0, int k1, int n0, int nc, float *dst, size_t panel, int width) {
    if (s->kh == 1 && s->kw == 1 && s->stride_h == 1 && s->stride_w == 1 && s->pad_top == 0 && s->pad_left == 0 &&
        s->oh == s->h && s->ow == s->w) {
        // a matrix, or a 1×1 conv with unit strides and no padding: no im2col
        (kernel().wide == 32 ? pack_dense_avx512 : pack_dense_avx2)(s->x + n0, (size_t)s->h * s->w, k0, k1, nc, dst, panel, width);
        return;
    }
    int ksize = s->kh * s->kw, padded = round_up(nc, width);
    int oy0 = n0 / s->ow, ox0 = n0 % s->ow;
    for (int r = k0; r < k1; r++) {
        int ch = r / ksize, ky = r % ksize / s->kw, kx = r % s->kw;
        const float *plane = s->x + (size_t)ch * s->h * s->w;
        cursor cur = {dst + (size_t)(r - k0) * width, 0, width, panel};
        int n = n0, end = n0 + nc, oy = oy0, ox = ox0;
        int off = kx * s->dilation_w - s->pad_left, sw = s->stride_w;
        // output columns whose input column ox·sw + off lies inside [0, w)
        int lo = off >= 0 ? 0 : (-off + sw - 1) / sw, hi = s->w - off <= 0 ? 0 : (s->w - off + sw - 1) / sw;
        if (hi > s->ow) hi = s->ow;
        while (n < end) {
            int seg = s->ow - ox < end - n ? s->ow - ox : end - n;
            int iy = oy * s->stride_h + ky * s->dilation_h - s->pad_top;
            if (iy < 0 || iy >= s->h || lo >= hi) {
                put(&cur, NULL, 0, seg);
            } else {
                const float *line = plane + (size_t)iy * s->w;
                // [a, b): the columns inside the plane, clamped into this segment [ox, ox + seg)
                int a = ox < lo ? lo : ox, b = ox + seg < hi ? ox + seg : hi;
                if (a > ox + seg) a = ox + seg;
                if (b < a) b = a;
                put(&cur, NULL, 0, a - ox);
                put(&cur, line + (ptrdiff_t)a * sw + off, sw, b - a);
                put(&cur, NULL, 0, ox + seg - b);
            }
            n += seg; ox = 0; oy++;
        }
        if (padded > nc) put(&cur, NULL, 0, padded - nc);
    }
}

void vx_gemm_pack_b(const vx_source *source, int k, int n, int k0, int k1, float *packed) {
    const int nr = panel_width(kernel(), n);
    if (k0 < k1 && n > 0) pack_rows(source, k0, k1, 0, n, packed + (size_t)k0 * nr, (size_t)nr * k, nr);
}

/// Asks for the C tile (rows × width floats at c, row stride ldc) and the z tile the
/// epilogue will read while the products accumulate, so that their cache misses overlap the
/// arithmetic (1×1 convs on 56×56 and 28×28 maps: ~4% faster).
static inline void prefetch_tile(const float *c, int ldc, const float *z, int ldz, int rows, int width) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < width; j += 16) {
            _mm_prefetch((const char *)(c + (size_t)r * ldc + j), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + (size_t)r * ldc + j + 15), _MM_HINT_T0);
            if (z) {
                _mm_prefetch((const char *)(z + (size_t)r * ldz + j), _MM_HINT_T0);
                _mm_prefetch((const char *)(z + (size_t)r * ldz + j + 15), _MM_HINT_T0);
            }
        }
}

/// The AVX2 micro_kernel: 6×16 in 12 accumulators.
__attribute__((target("avx2,fma")))
static void kernel_6x16(int kc, const float *a, const float *b, float *c, int ldc, int rows, int cols,
                        int flags, const float *bias, const float *z, int ldz, const vx_activation *act) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    prefetch_tile(c, ldc, (flags & LAST) ? z : NULL, ldz, rows, 16);
    for (int kk = 0; kk < kc; kk++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), t;
        t = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(t, b0, c00); c01 = _mm256_fmadd_ps(t, b1, c01);
        t = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(t, b0, c10); c11 = _mm256_fmadd_ps(t, b1, c11);
        t = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(t, b0, c20); c21 = _mm256_fmadd_ps(t, b1, c21);
        t = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(t, b0, c30); c31 = _mm256_fmadd_ps(t, b1, c31);
        t = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(t, b0, c40); c41 = _mm256_fmadd_ps(t, b1, c41);
        t = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(t, b0, c50); c51 = _mm256_fmadd_ps(t, b1, c51);
        a += 6; b += 16;
    }
    __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    __m256i m0 = lanes(cols), m1 = lanes(cols - 8);
    int full = cols == 16;
    for (int r = 0; r < rows; r++) {
        float *row = c + (size_t)r * ldc;
        __m256 v0 = acc[r][0], v1 = acc[r][1];
        if (!(flags & FIRST)) {
            v0 = _mm256_add_ps(v0, full ? _mm256_loadu_ps(row) : _mm256_maskload_ps(row, m0));
            v1 = _mm256_add_ps(v1, full ? _mm256_loadu_ps(row + 8) : _mm256_maskload_ps(row + 8, m1));
        }
        if (flags & LAST) {
            if (bias) {
                __m256 bv = _mm256_set1_ps(bias[r]);
                v0 = _mm256_add_ps(v0, bv); v1 = _mm256_add_ps(v1, bv);
            }
            if (z) {
                const float *zr = z + (size_t)r * ldz;
                v0 = _mm256_add_ps(v0, full ? _mm256_loadu_ps(zr) : _mm256_maskload_ps(zr, m0));
                v1 = _mm256_add_ps(v1, full ? _mm256_loadu_ps(zr + 8) : _mm256_maskload_ps(zr + 8, m1));
            }
            if (act) { v0 = activate8(v0, act); v1 = activate8(v1, act); }
        }
        store_first8(row, (vf8)v0, cols);
        store_first8(row + 8, (vf8)v1, cols - 8);
    }
}

/// Finishes 16 columns (lanes in `mask`) of one C row: + the C already there unless FIRST; on
/// LAST + bias, + z (if z), the activation (if act); then the store.
__attribute__((target("avx512f")))
static inline void finish16(float *row, __m512 v, __mmask16 mask, int flags, float bias, const float *z,
                            const vx_activation *act) {
    if (!(flags & FIRST)) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, row));
    if (flags & LAST) {
        v = _mm512_add_ps(v, _mm512_set1_ps(bias));
        if (z) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, z));
        if (act) v = activate16(v, act);
    }
    _mm512_mask_storeu_ps(row, mask, v);
}

/// The AVX-512 micro_kernels for wide panels: R×32 in 2R accumulators (two vectors per row);
/// 8 rows for C = A·B, and 7, 8 or 14 (28 of the 32 registers) for the rows of Cᵀ = Bᵀ·Aᵀ,
/// whichever pads the output positions least (7×7 maps: 49 = 7·7, 14×14: 196 = 14·14).
#define KERNEL_X32(R)                                                                                       \
    __attribute__((target("avx512f")))                                                                      \
    static void kernel_##R##x32(int kc, const float *a, const float *b, float *c, int ldc, int rows, int cols, \
                                int flags, const float *bias, const float *z, int ldz, const vx_activation *act) { \
        __m512 acc[R][2];                                                                                   \
        for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();                            \
        prefetch_tile(c, ldc, (flags & LAST) ? z : NULL, ldz, rows, 32);                                    \
        for (int kk = 0; kk < kc; kk++) {                                                                   \
            __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);                                   \
            _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) {                                          \
                __m512 t = _mm512_set1_ps(a[r]);                                                            \
                acc[r][0] = _mm512_fmadd_ps(t, b0, acc[r][0]);                                              \
                acc[r][1] = _mm512_fmadd_ps(t, b1, acc[r][1]);                                              \
            }                                                                                               \
            a += R; b += 32;                                                                                \
        }                                                                                                   \
        __mmask16 m0 = first_lanes(cols), m1 = first_lanes(cols - 16);                                      \
        for (int r = 0; r < rows; r++) {                                                                    \
            const float *zr = z ? z + (size_t)r * ldz : NULL;                                               \
            float *row = c + (size_t)r * ldc, br = bias ? bias[r] : 0;                                      \
            finish16(row, acc[r][0], m0, flags, br, zr, act);                                               \
            if (m1) finish16(row + 16, acc[r][1], m1, flags, br, zr ? zr + 16 : NULL, act);                 \
        }                                                                                                   \
    }
KERNEL_X32(7)
KERNEL_X32(8)
KERNEL_X32(14)

/// The AVX-512 micro_kernel for narrow panels: 8×16, one vector per row.
__attribute__((target("avx512f")))
static void kernel_8x16(int kc, const float *a, const float *b, float *c, int ldc, int rows, int cols,
                        int flags, const float *bias, const float *z, int ldz, const vx_activation *act) {
    __m512 acc[8];
    for (int r = 0; r < 8; r++) acc[r] = _mm512_setzero_ps();
    prefetch_tile(c, ldc, (flags & LAST) ? z : NULL, ldz, rows, 16);
    for (int kk = 0; kk < kc; kk++) {
        __m512 b0 = _mm512_loadu_ps(b);
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r]), b0, acc[r]);
        a += 8; b += 16;
    }
    __mmask16 m0 = first_lanes(cols);
    for (int r = 0; r < rows; r++)
        finish16(c + (size_t)r * ldc, acc[r], m0, flags, bias ? bias[r] : 0, z ? z + (size_t)r * ldz : NULL, act);
}

/// Per-thread scratch buffers (64-byte aligned), grown as needed and kept for the thread's
/// life, freed when it exits: fresh memory from the OS would cost a page fault per 4 KiB on
/// every call.
enum { SCRATCH_B, SCRATCH_T_A, SCRATCH_T_C, SCRATCH_MM_A, SCRATCH_MM_B, SCRATCH_DEPTHWISE, SCRATCH_DEPTHWISE_BLOCKED, SCRATCH_ATT_Q,
       SCRATCH_ATT_S, SCRATCH_ATT_O, SCRATCH_FEW_CHANNELS, SCRATCH_SLOTS };
typedef struct { void *block[SCRATCH_SLOTS]; size_t size[SCRATCH_SLOTS]; } scratch_set;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
    scratch_set *set = p;
    for (int i = 0; i < SCRATCH_SLOTS; i++) free(set->block[i]);
    free(set);
}

static void scratch_init(void) { pthread_key_create(&scratch_key, scratch_free); }

static float *scratch(int slot, size_t floats) {
    pthread_once(&scratch_once, scratch_init);
    scratch_set *set = pthread_getspecific(scratch_key);
    if (!set) {
        set = calloc(1, sizeof *set);
        if (!set || pthread_setspecific(scratch_key, set) != 0) abort();
    }
    size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    if (set->size[slot] < bytes) {
        free(set->block[slot]);
        set->block[slot] = aligned_alloc(64, bytes);
        if (!set->block[slot]) abort();
        set->size[slot] = bytes;
    }
    return set->block[slot];
}

void vx_gemm(int m, int n, int k, const float *packed_a, const vx_source *source, const float *packed_b,
             float *c, int ldc, const float *bias, const float *z, int ldz, vx_activation activation,
             int m0, int m1, int n0, int n1) {
    if (m1 > m) m1 = m;
    if (m0 >= m1 || n0 >= n1) return;
    const vx_activation *act = activation.kind != VX_ACT_NONE ? &activation : NULL;
    // the micro-kernels apply Relu in registers; the others run over each finished block of
    // rows (still in L1) several vectors at a time
    const vx_activation *in_kernel = act && act->kind == VX_ACT_RELU ? act : NULL;
    if (k == 0) {
        // an empty product: only the epilogue
        for (int i = m0; i < m1; i++) {
            float *row = c + (size_t)i * ldc;
            for (int j = n0; j < n1; j++) row[j] = (bias ? bias[i] : 0) + (z ? z[(size_t)i * ldz + j] : 0);
            if (act) vx_activate(row + n0, (size_t)(n1 - n0), *act);
        }
        return;
    }
    const micro mk = kernel();
    const int mr = mk.mr, nr = panel_width(mk, n);
    const micro_kernel run = nr == mk.wide ? mk.run_wide : mk.run_narrow;
    float *buffer = packed_b ? NULL : scratch(SCRATCH_B, (size_t)KC * NC);
    int span = n1 - n0 < NC ? n1 - n0 : NC, kb = k_block(round_up(span, nr));
    for (int k0 = 0; k0 < k; k0 += kb) {
        int kc = k - k0 < kb ? k - k0 : kb;
        int flags = (k0 == 0 ? FIRST : 0) | (k0 + kc == k ? LAST : 0);
        for (int nb = n0; nb < n1; nb += NC) {
            int nc = n1 - nb < NC ? n1 - nb : NC;
            const float *bp;
            size_t panel;
            if (packed_b) {
                panel = (size_t)nr * k;
                bp = packed_b + (size_t)(nb / nr) * panel + (size_t)k0 * nr;
            } else {
                panel = (size_t)nr * kc;
                pack_rows(source, k0, k0 + kc, nb, nc, buffer, panel, nr);
                bp = buffer;
            }
            for (int i = m0; i < m1; i += mr) {
                int rows = m1 - i < mr ? m1 - i : mr;
                const float *ap = packed_a + (size_t)i * k + (size_t)k0 * mr;
                for (int j = 0; j < nc; j += nr) {
                    int cols = nc - j < nr ? nc - j : nr;
                    size_t at = (size_t)i * ldc + nb + j;
                    run(kc, ap, bp + (size_t)(j / nr) * panel, c + at, ldc, rows, cols, flags,
                                bias ? bias + i : NULL, z ? z + (size_t)i * ldz + nb + j : NULL, ldz, in_kernel);
                }
                if ((flags & LAST) && act && !in_kernel)
                    for (int r = 0; r < rows; r++) vx_activate(c + (size_t)(i + r) * ldc + nb, (size_t)nc, *act);
            }
        }
    }
}

void vx_gemm_pack_b_matrix(int k, int n, vx_matrix b, float *packed) {
    const int nr = panel_width(kernel(), n);
    const size_t panel = (size_t)nr * k;
    if (b.cs == 1 && b.rs >= 0) {
        (kernel().wide == 32 ? pack_dense_avx512 : pack_dense_avx2)(b.p, (size_t)b.rs, 0, k, n, packed, panel, nr);
        return;
    }
    // columns strided (a transposed B): each column's k values are read in one run
    for (int p0 = 0; p0 < n; p0 += nr, packed += panel) {
        int cols = n - p0 < nr ? n - p0 : nr;
        for (int t = 0; t < nr; t++) {
            const float *src = b.p + (ptrdiff_t)(p0 + t) * b.cs;
            if (t < cols) for (int kk = 0; kk < k; kk++) packed[(size_t)kk * nr + t] = src[(ptrdiff_t)kk * b.rs];
            else for (int kk = 0; kk < k; kk++) packed[(size_t)kk * nr + t] = 0;
        }
    }
}

void vx_matmul(int m, int n, int k, vx_matrix a, vx_matrix b, const float *packed_b, float *c, int ldc,
               const float *z, int ldz, vx_activation act, int n0, int n1) {
    if (n1 > n) n1 = n;
    if (m <= 0 || n0 >= n1) return;
    float *pa = scratch(SCRATCH_MM_A, vx_gemm_packed_a_size(m, k));
    pack_a(m, k, a.p, a.rs, a.cs, kernel().mr, pa);
    if (packed_b) {
        vx_gemm(m, n, k, pa, NULL, packed_b, c, ldc, NULL, z, ldz, act, 0, m, n0, n1);
        return;
    }
    int w = n1 - n0;
    float *pb = scratch(SCRATCH_MM_B, vx_gemm_packed_b_size(k, w));
    vx_gemm_pack_b_matrix(k, w, (vx_matrix){b.p + (ptrdiff_t)n0 * b.cs, b.rs, b.cs}, pb);
    vx_gemm(m, w, k, pa, NULL, pb, c + n0, ldc, NULL, z ? z + n0 : NULL, ldz, act, 0, m, 0, w);
}

void vx_gemm_pack_a_matrix(int m, int k, vx_matrix a, float *packed) { pack_a(m, k, a.p, a.rs, a.cs, kernel().mr, packed); }

int vx_attention_block(void) { return kernel().wide; }

// Sᵀ = K·Qᵀ (keys down the rows, the block's queries across one wide panel) is at once the
// scores and, unnormalized by the column softmax, B of Oᵀ = Vᵀ·P packed as the kernel reads it:
// the scores are never packed (packing S as A of S·V was as costly as that product when V is
// 32 wide: 9% of SVTR's time), and the 1/Σ folds into Oᵀ's transposing store.
void vx_attention(int count, int n, int d, int width, vx_matrix q, const float *packed_k, const float *packed_vt,
                  float scale, const float *mask, ptrdiff_t mask_query_stride, ptrdiff_t mask_key_stride, float *out,
                  int ldo) {
    const micro mk = kernel();
    const int block = mk.wide;
    if (count > block) count = block;
    if (count <= 0 || n <= 0 || width <= 0) return;
    float *pq = scratch(SCRATCH_ATT_Q, vx_gemm_packed_b_size(d, count)), *s = scratch(SCRATCH_ATT_S, (size_t)n * block);
    float *ot = scratch(SCRATCH_ATT_O, (size_t)width * block), sums[32];
    vx_gemm_pack_b_matrix(d, count, (vx_matrix){q.p, q.cs, q.rs}, pq);  // Qᵀ
    vx_gemm(n, count, d, packed_k, NULL, pq, s, block, NULL, NULL, 0, (vx_activation){0}, 0, n, 0, count);
    if (count < block)  // the panel's columns past the queries: finite, so that nothing there traps or slows
        for (int r = 0; r < n; r++) memset(s + (size_t)r * block + count, 0, (size_t)(block - count) * sizeof(float));
    (block == 32 ? softmax_columns_run16 : softmax_columns_run8)(s, n, count, scale, mask, mask_query_stride,
                                                                 mask_key_stride, sums);
    vx_gemm(width, block, n, packed_vt, NULL, s, ot, block, NULL, NULL, 0, (vx_activation){0}, 0, width, 0, block);
    for (int c = 0; c < count; c++) {
        float inv = 1 / sums[c], *row = out + (size_t)c * ldo;
        for (int w = 0; w < width; w++) row[w] = ot[(size_t)w * block + c] * inv;
    }
}

size_t vx_gemm_packed_t_size(int m, int k) { return (size_t)round_up(m, kernel().wide) * (size_t)k; }

void vx_gemm_pack_t(int m, int k, const float *a, int lda, float *packed) {
    const int nr = kernel().wide;
    for (int p = 0; p < m; p += nr) {
        float *panel = packed + (size_t)p * k;
        int cols = m - p < nr ? m - p : nr;
        for (int kk = 0; kk < k; kk++) {
            for (int j = 0; j < cols; j++) panel[kk * nr + j] = a[(size_t)(p + j) * lda + kk];
            for (int j = cols; j < nr; j++) panel[kk * nr + j] = 0;
        }
    }
}

size_t vx_gemm_t_packed_b_size(int n, int k) { return (size_t)round_up(n, vx_gemm_t_row_block(n)) * (size_t)k; }

void vx_gemm_t_pack_b(const vx_source *source, int n, int k, int k0, int k1, float *packed) {
    int mr = vx_gemm_t_row_block(n);
    if (k0 < k1 && n > 0) pack_rows(source, k0, k1, 0, n, packed + (size_t)k0 * mr, (size_t)mr * k, mr);
}

void vx_gemm_t(int m, int n, int k, const float *packed_t, const vx_source *source, const float *packed_b,
               float *c, int ldc, const float *bias, const float *z, int ldz, vx_activation act, int m0, int m1) {
    if (m1 > m) m1 = m;
    if (m0 >= m1 || n <= 0) return;
    const micro mk = kernel();
    micro_kernel run;
    const int mr = transposed_rows(mk, n, &run), nr = mk.wide;
    // Cᵀ block: n rows (positions) × this call's channels, then the transposing epilogue; its
    // rows 16 floats longer than the panels, so that the epilogue's walk down a column does not
    // hit one cache set (2048 channels: 0.28 → 0.04 ms for 49 positions)
    int rows = round_up(n, mr), width = m1 - m0, cols = round_up(width, nr) + 16;
    int kb = k_block(rows);
    float *ct = scratch(SCRATCH_T_C, (size_t)rows * cols), *a = packed_b ? NULL : scratch(SCRATCH_T_A, (size_t)rows * kb);
    if (k == 0) memset(ct, 0, (size_t)rows * cols * sizeof(float));
    for (int k0 = 0; k0 < k; k0 += kb) {
        int kc = k - k0 < kb ? k - k0 : kb;
        int flags = k0 == 0 ? FIRST : 0;
        // Bᵀ: positions as MR-row panels, position i's panel at bt + i·stride
        const float *bt = packed_b ? packed_b + (size_t)k0 * mr : a;
        size_t stride = packed_b ? (size_t)k : (size_t)kc;
        if (!packed_b) pack_rows(source, k0, k0 + kc, 0, n, a, (size_t)mr * kc, mr);
        for (int j = 0; j < width; j += nr) {
            const float *bp = packed_t + (size_t)(m0 + j) * k + (size_t)k0 * nr;
            int w = width - j < nr ? width - j : nr;
            for (int i = 0; i < n; i += mr) {
                int r = n - i < mr ? n - i : mr;
                run(kc, bt + (size_t)i * stride, bp, ct + (size_t)i * cols + j, cols, r, w, flags, NULL, NULL, 0, NULL);
            }
        }
    }
    for (int ch = m0; ch < m1; ch++) {
        float b = bias ? bias[ch] : 0, *out = c + (size_t)ch * ldc;
        const float *zr = z ? z + (size_t)ch * ldz : NULL, *col = ct + (ch - m0);
        for (int i = 0; i < n; i++) {
            float v = col[(size_t)i * cols] + b;
            if (zr) v += zr[i];
            out[i] = v;
        }
        if (act.kind != VX_ACT_NONE) vx_activate(out, (size_t)n, act);
    }
}

void vx_activate(float *x, size_t count, vx_activation act) {
    if (act.kind == VX_ACT_NONE) return;
    if (kernel().wide == 32) activate_run16(x, count, &act);
    else activate_run8(x, count, &act);
}

void vx_softmax(const float *x, float *y, size_t count) {
    if (kernel().wide == 32) softmax_run16(x, y, count);
    else softmax_run8(x, y, count);
}

void vx_layer_norm(const float *x, float *y, size_t count, const float *scale, const float *bias, float eps, int centered,
                   float *mean, float *inv_std) {
    if (kernel().wide == 32) layer_norm_run16(x, y, count, scale, bias, eps, centered, mean, inv_std);
    else layer_norm_run8(x, y, count, scale, bias, eps, centered, mean, inv_std);
}

/// Σ (x[i] − shift)^power (power 1 or 2) over count floats, in float64.
__attribute__((target("avx2,fma")))
static double moment(const float *x, size_t count, double shift, int power) {
    __m256d lo = _mm256_setzero_pd(), hi = lo, s = _mm256_set1_pd(shift);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d a = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), s);
        __m256d b = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), s);
        if (power == 2) { lo = _mm256_fmadd_pd(a, a, lo); hi = _mm256_fmadd_pd(b, b, hi); }
        else { lo = _mm256_add_pd(lo, a); hi = _mm256_add_pd(hi, b); }
    }
    double lanes[4], sum = 0;
    _mm256_storeu_pd(lanes, _mm256_add_pd(lo, hi));
    for (int l = 0; l < 4; l++) sum += lanes[l];
    for (; i < count; i++) { double d = x[i] - shift; sum += power == 2 ? d * d : d; }
    return sum;
}

__attribute__((target("avx2,fma")))
void vx_instance_norm(const float *x, float *y, size_t count, float scale, float bias, float eps) {
    double n = count ? (double)count : 1, mean = moment(x, count, 0, 1) / n;
    double a = scale / __builtin_sqrt(moment(x, count, mean, 2) / n + eps), b = bias;
    __m256d m = _mm256_set1_pd(mean), av = _mm256_set1_pd(a), bv = _mm256_set1_pd(b);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d lo = _mm256_fmadd_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), m), av, bv);
        __m256d hi = _mm256_fmadd_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), m), av, bv);
        _mm256_storeu_ps(y + i, _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo)));
    }
    for (; i < count; i++) y[i] = (float)((x[i] - mean) * a + b);
}

void vx_cpu_relax(void) { _mm_pause(); }

// Winograd F(4×4, 3×3) transforms, vectorized across the tiles of a tile row: the input
// rows are split by column phase (column 4t + p at [p][t]) so that every pass reads and
// writes contiguous runs of tiles. ξ = 6k + l: k the vertical (row) index, l the horizontal.

size_t vx_winograd_scratch(int tw) { return 48 * (size_t)(tw + 1); }

/// Bᵀ·d for d0…d5 (six runs of n values) into o0…o5.
__attribute__((target("avx2,fma")))
static inline void input_columns(int n, const float *d0, const float *d1, const float *d2, const float *d3, const float *d4,
                                 const float *d5, float *restrict o0, float *restrict o1, float *restrict o2,
                                 float *restrict o3, float *restrict o4, float *restrict o5) {
    for (int t = 0; t < n; t++) {
        float a = d4[t] - 4 * d2[t], b = d3[t] - 4 * d1[t], e = d4[t] - d2[t], f = 2 * (d3[t] - d1[t]);
        o0[t] = 4 * d0[t] - 5 * d2[t] + d4[t];
        o1[t] = a + b;
        o2[t] = a - b;
        o3[t] = e + f;
        o4[t] = e - f;
        o5[t] = 4 * d1[t] - 5 * d3[t] + d5[t];
    }
}

/// r[p·n] = line[col + p] for the four phases p, 0 outside [0, w).
static inline void edge_tile_phases(const float *line, int w, int col, float *r, int n) {
    for (int p = 0; p < 4; p++) r[(size_t)p * n] = col + p >= 0 && col + p < w ? line[col + p] : 0;
}

/// r[p·n + j] = src[4j + p] for eight tiles j and four phases p: the 32 floats of eight
/// neighbouring 4-column tiles regrouped by phase with shuffles (one scalar load and store
/// per float with a bounds test took a quarter of the input transform's time).
__attribute__((target("avx2,fma")))
static inline void tile_phases8(const float *src, float *r, int n) {
    __m256 a0 = _mm256_loadu_ps(src), a1 = _mm256_loadu_ps(src + 8), a2 = _mm256_loadu_ps(src + 16), a3 = _mm256_loadu_ps(src + 24);
    // per 128-bit half: lo01 = (t p0, t+2 p0, t p1, t+2 p1) for tiles t = 0 and 1 of the pair, and so on
    __m256 lo01 = _mm256_unpacklo_ps(a0, a1), hi01 = _mm256_unpackhi_ps(a0, a1);
    __m256 lo23 = _mm256_unpacklo_ps(a2, a3), hi23 = _mm256_unpackhi_ps(a2, a3);
    // tiles in the order 0 2 4 6 | 1 3 5 7, then put back in order
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256 p0 = _mm256_shuffle_ps(lo01, lo23, _MM_SHUFFLE(1, 0, 1, 0)), p1 = _mm256_shuffle_ps(lo01, lo23, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 p2 = _mm256_shuffle_ps(hi01, hi23, _MM_SHUFFLE(1, 0, 1, 0)), p3 = _mm256_shuffle_ps(hi01, hi23, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(r, _mm256_permutevar8x32_ps(p0, order));
    _mm256_storeu_ps(r + n, _mm256_permutevar8x32_ps(p1, order));
    _mm256_storeu_ps(r + 2 * (size_t)n, _mm256_permutevar8x32_ps(p2, order));
    _mm256_storeu_ps(r + 3 * (size_t)n, _mm256_permutevar8x32_ps(p3, order));
}

__attribute__((target("avx2,fma")))
void vx_winograd_input(const float *x, int h, int w, int pad_top, int pad_left, int th, int tw, int first, int width,
                       size_t panel, float *v, size_t stride, float *scratch) {
    int n = tw + 1;                  // tile t reads phases 0–3 at t and phases 0–1 at t + 1
    float *rows = scratch;           // rows[(4i + p)·n + t] = x(4ty − pad_top + i, 4t + p − pad_left), 0 outside
    float *u = scratch + 24 * n;     // u[(4k + p)·n + t] = Σ_i Bᵀ[k][i] · rows[4i + p][t]
    for (int ty = 0; ty < th; ty++) {
        for (int i = 0; i < 6; i++) {
            int y = 4 * ty - pad_top + i;
            float *r = rows + (size_t)i * 4 * n;
            if (y < 0 || y >= h) { memset(r, 0, 4 * (size_t)n * sizeof(float)); continue; }
            const float *line = x + (size_t)y * w;
            // tiles [t0, t1) read inside the row: eight at a time, a 4×8 transpose of 32 floats
            int t0 = (pad_left + 3) / 4, t1 = (w + pad_left - 3 + 3) / 4;
            if (t1 > n) t1 = n;
            int t = 0;
            for (; t < t0 && t < n; t++) edge_tile_phases(line, w, 4 * t - pad_left, r + t, n);
            for (; t + 8 <= t1; t += 8) tile_phases8(line + 4 * t - pad_left, r + t, n);
            for (; t < n; t++) edge_tile_phases(line, w, 4 * t - pad_left, r + t, n);
        }
        for (int p = 0; p < 4; p++) {
            const float *d = rows + (size_t)p * n;
            float *o = u + (size_t)p * n;
            size_t row = 4 * (size_t)n;
            input_columns(n, d, d + row, d + 2 * row, d + 3 * row, d + 4 * row, d + 5 * row,
                          o, o + row, o + 2 * row, o + 3 * row, o + 4 * row, o + 5 * row);
        }
        // the tile row in runs that stay inside one panel
        for (int t = 0; t < tw;) {
            int tile = first + ty * tw + t, lane = tile % width, run = width - lane < tw - t ? width - lane : tw - t;
            for (int k = 0; k < 6; k++) {
                const float *q = u + (size_t)k * 4 * n + t;
                float *o = v + (size_t)(6 * k) * stride + (size_t)(tile / width) * panel + lane;
                input_columns(run, q, q + n, q + 2 * n, q + 3 * n, q + 1, q + n + 1,
                              o, o + stride, o + 2 * stride, o + 3 * stride, o + 4 * stride, o + 5 * stride);
            }
            t += run;
        }
    }
}

/// Aᵀ·s for s0…s5 (six runs of n values) into o0…o3.
__attribute__((target("avx2,fma")))
static inline void output_columns(int n, const float *s0, const float *s1, const float *s2, const float *s3, const float *s4,
                                  const float *s5, float *restrict o0, float *restrict o1, float *restrict o2,
                                  float *restrict o3) {
    for (int t = 0; t < n; t++) {
        float a = s1[t] + s2[t], b = s1[t] - s2[t], c = s3[t] + s4[t], d = s3[t] - s4[t];
        o0[t] = s0[t] + a + c;
        o1[t] = b + 2 * d;
        o2[t] = a + 4 * c;
        o3[t] = b + 8 * d + s5[t];
    }
}

/// dst[4j + p] = r[p·n + j] for eight tiles j and four phases p, + bias (+ z[4j + p] if z):
/// tile_phases8 backwards, so that the output rows are written 32 floats at a time instead of
/// gathered float by float.
__attribute__((target("avx2,fma")))
static inline void phases_tiles8(const float *r, size_t n, float *dst, __m256 bias, const float *z) {
    __m256 p0 = _mm256_loadu_ps(r), p1 = _mm256_loadu_ps(r + n), p2 = _mm256_loadu_ps(r + 2 * n), p3 = _mm256_loadu_ps(r + 3 * n);
    __m256 t0 = _mm256_unpacklo_ps(p0, p1), t1 = _mm256_unpackhi_ps(p0, p1);
    __m256 t2 = _mm256_unpacklo_ps(p2, p3), t3 = _mm256_unpackhi_ps(p2, p3);
    // per 128-bit half, one tile's four phases: tiles 0|4, 1|5, 2|6, 3|7
    __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 out[4] = {_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u2, u3, 0x20),
                     _mm256_permute2f128_ps(u0, u1, 0x31), _mm256_permute2f128_ps(u2, u3, 0x31)};
    for (int i = 0; i < 4; i++) {
        __m256 v = _mm256_add_ps(out[i], bias);
        if (z) v = _mm256_add_ps(v, _mm256_loadu_ps(z + 8 * i));
        _mm256_storeu_ps(dst + 8 * i, v);
    }
}

__attribute__((target("avx2,fma")))
void vx_winograd_output(const float *p, size_t stride, int th, int tw, float *out, int oh, int ow, float bias,
                        const float *z, vx_activation act, float *scratch) {
    float *q = scratch;              // q[(6r + j)·tw + t] = Σ_i Aᵀ[r][i] · P[6i + j] of tile t
    float *o = scratch + 24 * tw;    // o[l·tw + t]: one output row of every tile, by column phase l
    for (int ty = 0; ty < th; ty++) {
        const float *pt = p + (size_t)ty * tw;
        for (int j = 0; j < 6; j++) {
            const float *s = pt + (size_t)j * stride;
            size_t row = 6 * stride;
            float *d = q + (size_t)j * tw;
            size_t next = 6 * (size_t)tw;
            output_columns(tw, s, s + row, s + 2 * row, s + 3 * row, s + 4 * row, s + 5 * row, d, d + next, d + 2 * next, d + 3 * next);
        }
        for (int r = 0; r < 4 && 4 * ty + r < oh; r++) {
            const float *s = q + (size_t)r * 6 * tw;
            output_columns(tw, s, s + tw, s + 2 * tw, s + 3 * tw, s + 4 * tw, s + 5 * tw, o, o + tw, o + 2 * tw, o + 3 * tw);
            int y = 4 * ty + r;
            float *line = out + (size_t)y * ow;
            const float *zl = z ? z + (size_t)y * ow : NULL;
            int xo = 0;
            for (; xo + 32 <= ow; xo += 32) phases_tiles8(o + (xo >> 2), (size_t)tw, line + xo, _mm256_set1_ps(bias), zl ? zl + xo : NULL);
            for (; xo < ow; xo++) {
                float val = o[(xo & 3) * tw + (xo >> 2)] + bias;
                if (zl) val += zl[xo];
                line[xo] = val;
            }
            vx_activate(line, (size_t)ow, act);
        }
    }
}

/// Per output column o, the kernel offsets k with 0 ≤ o·s − pad + k·d < n: [lo[o], hi[o]).
static void window_columns(int outs, int s, int d, int k, int pad, int n, int *lo, int *hi) {
    for (int o = 0; o < outs; o++) {
        int start = o * s - pad;
        int a = start >= 0 ? 0 : (-start + d - 1) / d, b = n - start <= 0 ? 0 : (n - start + d - 1) / d;
        if (a > k) a = k;
        if (b > k) b = k;
        lo[o] = a; hi[o] = b < a ? a : b;
    }
}

/// Lanes l < count of line[ix + l·s] (s = 1 or 2) whose column lies in [0, w), the others
/// 0, reading nothing outside [0, w) of the row (w = INT_MAX and ix = 0 for a run known to lie
/// inside it): MaxPool's window taps on AVX-512.
__attribute__((target("avx512f"))) static inline vf16 row_taps16(const float *line, int ix, int w, int s, int count) {
    if (s == 1) return (vf16)_mm512_maskz_loadu_ps(first_lanes(count) & first_lanes(w - ix) & (__mmask16)~first_lanes(-ix), line + ix);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    int span = 2 * count - 1;
    __mmask16 lo = first_lanes(span) & first_lanes(w - ix) & (__mmask16)~first_lanes(-ix);
    __mmask16 hi = first_lanes(span - 16) & first_lanes(w - ix - 16) & (__mmask16)~first_lanes(-ix - 16);
    return (vf16)_mm512_permutex2var_ps(_mm512_maskz_loadu_ps(lo, line + ix), even, _mm512_maskz_loadu_ps(hi, line + ix + 16));
}

/// The floats a row of depthwise_body.h's padded copy takes at stride s->stride_w (1 or 2) for
/// L-lane output vectors, per stride phase: the output row rounded up to whole vectors plus
/// the kernel's reach, in those columns of the phase; at stride 1 rounded up to whole vectors
/// again, so that the copy is whole-vector stores. 64-bit: dilations come from the model.
static long long depthwise_half_pitch(const vx_source *s, int L) {
    long long reach = ((long long)s->ow + L - 1) / L * L + (long long)(s->kw - 1) * s->dilation_w / s->stride_w;
    return s->stride_w == 1 ? (reach + L - 1) / L * L : reach;
}

/// Floats of the padded rows one block of four output rows reads, at L lanes.
static long long depthwise_buffer(const vx_source *s, int L) {
    long long rows = 3LL * s->stride_h + (long long)(s->kh - 1) * s->dilation_h + 1;
    return rows * s->stride_w * depthwise_half_pitch(s, L);
}

#define VEC vf8
#define NAME(f) f##8
#define TARGET "avx2,fma"
#include "depthwise_body.h"
#undef VEC
#undef NAME
#undef TARGET
#define VEC vf16
#define NAME(f) f##16
#define TARGET "avx512f"
#include "depthwise_body.h"
#undef VEC
#undef NAME
#undef TARGET

__attribute__((target("avx2,fma")))
void vx_depthwise(const vx_source *s, const float *w, float bias, const float *z, float *out, vx_activation act) {
    // 16 lanes on AVX-512 unless the rows are 8 wide or less (7×7 maps: 7 of 8 lanes, not 7 of 16)
    int L = kernel().wide == 32 && s->ow > 8 ? 16 : 8;
    long long floats = depthwise_buffer(s, L);
    if (s->stride_w <= 2 && floats <= (1 << 22)) {
        float *buf = scratch(SCRATCH_DEPTHWISE, (size_t)floats);
        (L == 16 ? depthwise_rows16 : depthwise_rows8)(s, w, bias, z, out, act.kind != VX_ACT_NONE ? &act : NULL, buf);
        return;
    }
    // per kernel column, the outputs whose input column ox·sw + off lies inside [0, w)
    int lo[64], hi[64], kw = s->kw < 64 ? s->kw : 64;
    for (int kx = 0; kx < kw; kx++) {
        int off = kx * s->dilation_w - s->pad_left, sw = s->stride_w;
        lo[kx] = off >= 0 ? 0 : (-off + sw - 1) / sw;
        hi[kx] = s->w - off <= 0 ? 0 : (s->w - off + sw - 1) / sw;
        if (hi[kx] > s->ow) hi[kx] = s->ow;
    }
    for (int oy = 0; oy < s->oh; oy++) {
        float *o = out + (size_t)oy * s->ow;
        for (int ox = 0; ox < s->ow; ox++) o[ox] = bias;
        for (int ky = 0; ky < s->kh; ky++) {
            int iy = oy * s->stride_h + ky * s->dilation_h - s->pad_top;
            if (iy < 0 || iy >= s->h) continue;
            const float *line = s->x + (size_t)iy * s->w;
            for (int kx = 0; kx < kw; kx++) {
                float wv = w[ky * s->kw + kx];
                int off = kx * s->dilation_w - s->pad_left, sw = s->stride_w;
                if (sw == 1) {
                    const float *in = line + off;
                    for (int ox = lo[kx]; ox < hi[kx]; ox++) o[ox] += wv * in[ox];
                } else {
                    for (int ox = lo[kx]; ox < hi[kx]; ox++) o[ox] += wv * line[(ptrdiff_t)ox * sw + off];
                }
            }
        }
        if (z) {
            const float *zr = z + (size_t)oy * s->ow;
            for (int ox = 0; ox < s->ow; ox++) o[ox] += zr[ox];
        }
        vx_activate(o, (size_t)s->ow, act);
    }
}

/// The geometry of the channel-blocked depthwise conv: the padded input (ph × pw positions,
/// position (py, px) holding input (py − pad_top, px − pad_left), 0 outside the plane), the
/// output positions rounded up to whole 8×8 blocks, and the scratch floats they take with the
/// kh·kw weight vectors.
typedef struct { int ph, pw, positions; long long floats; } blocked_geometry;

/// 64-bit: the dilations come from the model.
static blocked_geometry blocked_layout(const vx_source *s) {
    long long ph = (long long)(s->oh - 1) * s->stride_h + (long long)(s->kh - 1) * s->dilation_h + 1;
    long long pw = (long long)(s->ow - 1) * s->stride_w + (long long)(s->kw - 1) * s->dilation_w + 1;
    blocked_geometry g = {(int)ph, (int)pw, round_up(s->oh * s->ow, 8), 0};
    g.floats = (ph * pw + g.positions + (long long)s->kh * s->kw) * 8;
    return g;
}

/// The output block at (oy, ox) — R rows × C columns, R·C independent sums — of the
/// channel-blocked depthwise conv into `acc` (position-major, 8 channels a vector). k in 1…5
/// (a constant where inlined) says the kernel is k×k at dilation 1, so that the taps unroll;
/// 0 reads kh, kw and the dilations from s.
static inline __attribute__((always_inline, target("avx2,fma")))
void blocked_outputs(const vx_source *s, const float *in, int pw, const __m256 *wv, __m256 bias, int oy, int ox, int R, int C,
                     const int k, float *acc) {
    const int kh = k ? k : s->kh, kw = k ? k : s->kw, dh = k ? 1 : s->dilation_h, dw = k ? 1 : s->dilation_w;
    const int sh = s->stride_h, sw = s->stride_w;
    __m256 sum[2][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) sum[r][c] = bias;
    for (int ky = 0; ky < kh; ky++)
        for (int kx = 0; kx < kw; kx++) {
            __m256 w = wv[ky * kw + kx];
            for (int r = 0; r < R; r++) {
                const float *row = in + ((size_t)((oy + r) * sh + ky * dh) * pw + (size_t)kx * dw) * 8;
                for (int c = 0; c < C; c++) sum[r][c] = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + (size_t)(ox + c) * sw * 8), sum[r][c]);
            }
        }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) _mm256_storeu_ps(acc + ((size_t)(oy + r) * s->ow + ox + c) * 8, sum[r][c]);
}

/// Every output position of the channel-blocked depthwise conv into `acc`: blocks of 2 rows ×
/// 4 columns (8 sums in flight: two FMA pipes of 4 cycles' latency), the last block of a
/// dimension moved back to end at its edge (recomputing a few outputs) rather than running
/// short; maps under 2×4 one output at a time.
static inline __attribute__((always_inline, target("avx2,fma")))
void blocked_map(const vx_source *s, const float *in, int pw, const __m256 *wv, __m256 bias, const int k, float *acc) {
    if (s->oh < 2 || s->ow < 4) {
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++) blocked_outputs(s, in, pw, wv, bias, oy, ox, 1, 1, k, acc);
        return;
    }
    for (int oy = 0; oy < s->oh; oy += 2)
        for (int ox = 0; ox < s->ow; ox += 4)
            blocked_outputs(s, in, pw, wv, bias, oy + 2 <= s->oh ? oy : s->oh - 2, ox + 4 <= s->ow ? ox : s->ow - 4, 2, 4, k, acc);
}

__attribute__((target("avx2,fma")))
void vx_depthwise_blocked(const vx_source *s, int first, int count, int channels, size_t in_size, size_t out_size,
                          const float *w, const float *bias, const float *z, float *out, vx_activation act) {
    if (count <= 0 || s->oh <= 0 || s->ow <= 0) return;
    const blocked_geometry g = blocked_layout(s);
    const int ks = s->kh * s->kw, npos = s->oh * s->ow;
    float *in = scratch(SCRATCH_DEPTHWISE_BLOCKED, (size_t)g.floats), *acc = in + (size_t)g.ph * g.pw * 8;
    __m256 *wv = (__m256 *)(acc + (size_t)g.positions * 8);  // 32-byte aligned: the scratch is 64-byte aligned
    // the padding stays 0 across blocks: each block writes the same inside positions
    memset(in, 0, (size_t)g.ph * g.pw * 8 * sizeof(float));
    // input columns [ix0, ix1) land inside the padded width
    int ix0 = s->pad_left < 0 ? -s->pad_left : 0, ix1 = g.pw - s->pad_left < s->w ? g.pw - s->pad_left : s->w;
    int iy0 = s->pad_top < 0 ? -s->pad_top : 0, iy1 = g.ph - s->pad_top < s->h ? g.ph - s->pad_top : s->h;
    for (int p0 = first; p0 < first + count; p0 += 8) {
        const int lanes8 = first + count - p0 < 8 ? first + count - p0 : 8;
        float bl[8];
        for (int c = 0; c < 8; c++) {  // lane c: plane p0 + c's channel's weights and bias (0 past the planes)
            int ch = (p0 + (c < lanes8 ? c : 0)) % channels;
            bl[c] = c < lanes8 && bias ? bias[ch] : 0;
            for (int t = 0; t < ks; t++) ((float *)wv)[t * 8 + c] = c < lanes8 ? w[(size_t)ch * ks + t] : 0;
        }
        __m256 bv = _mm256_loadu_ps(bl);
        // the 8 planes into the padded buffer, 8 columns at a time through a transpose
        for (int iy = iy0; iy < iy1; iy++) {
            float *dst = in + ((size_t)(iy + s->pad_top) * g.pw + s->pad_left) * 8;
            for (int ix = ix0; ix < ix1; ix += 8) {
                int n = ix1 - ix < 8 ? ix1 - ix : 8;
                __m256 r[8];
                for (int c = 0; c < 8; c++) {
                    const float *src = s->x + (size_t)(p0 + c) * in_size + (size_t)iy * s->w + ix;
                    r[c] = c >= lanes8 ? _mm256_setzero_ps() : n == 8 ? _mm256_loadu_ps(src) : (__m256)load_first8(src, n);
                }
                transpose8x8(r);
                for (int j = 0; j < n; j++) _mm256_storeu_ps(dst + (size_t)(ix + j) * 8, r[j]);
            }
        }
        int sq = s->kh == s->kw && s->dilation_h == 1 && s->dilation_w == 1 ? s->kh : 0;
        if (sq == 3) blocked_map(s, in, g.pw, wv, bv, 3, acc);
        else if (sq == 5) blocked_map(s, in, g.pw, wv, bv, 5, acc);
        else blocked_map(s, in, g.pw, wv, bv, 0, acc);
        // with no z, the activation on whole vectors before the transpose back; else after z
        if (!z && act.kind != VX_ACT_NONE) activate_run8(acc, (size_t)npos * 8, &act);
        for (int pos = 0; pos < npos; pos += 8) {
            int n = npos - pos < 8 ? npos - pos : 8;
            __m256 r[8];
            for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(acc + (size_t)(pos + j) * 8);  // rows past npos: scratch
            transpose8x8(r);
            for (int c = 0; c < lanes8; c++) store_first8(out + (size_t)(p0 + c) * out_size + pos, (vf8)r[c], n);
        }
        if (z)
            for (int c = 0; c < lanes8; c++) {
                float *o = out + (size_t)(p0 + c) * out_size;
                const float *zp = z + (size_t)(p0 + c) * out_size;
                for (int i = 0; i < npos; i++) o[i] += zp[i];
                vx_activate(o, (size_t)npos, act);
            }
    }
}

int vx_depthwise_prefers_blocked(const vx_source *s) {
    long long positions = (long long)s->oh * s->ow;
    int stride2 = s->stride_h == 2 && s->stride_w == 2;
    return s->kh * s->kw <= 25 && positions <= (stride2 ? BLOCKED_MAX_POSITIONS_STRIDE_2 : BLOCKED_MAX_POSITIONS) &&
           blocked_layout(s).floats <= (1 << 22);
}

/// Output channels j0 … j0 + MB − 1 at output columns ox … ox + 8·V − 1 of one output row of
/// vx_conv_few_channels (MB ≤ 6 and V = 1 or 2 vectors constants where inlined: MB·V sums in
/// registers; `count` of the columns are stored): each of the channels·kh·kw taps is one plain
/// load of V vectors from `rows` (the padded input row of each channel and ky, its stride
/// phases `half` floats apart) and MB broadcast weights; then the bias and z. KW, a constant
/// too, says the kernel is KW wide at dilation 1, so that a row's taps unroll; 0 reads s.
static inline __attribute__((always_inline, target("avx2,fma")))
void few_channels_tile(const vx_source *s, int rows_count, const float *const *rows, int half, const int sw, const int KW,
                       const float *w, int k, const float *bias, int j0, const int MB, const int V, int ox, int count,
                       const float *z, float *out, size_t out_size) {
    const int kw = KW ? KW : s->kw, dw = KW ? 1 : s->dilation_w;
    __m256 acc[6][2];
    for (int j = 0; j < MB; j++)
        for (int v = 0; v < V; v++) acc[j][v] = _mm256_set1_ps(bias ? bias[j0 + j] : 0);
    for (int r = 0; r < rows_count; r++) {  // r = channel·kh + ky
        const float *row = rows[r] + ox;
        const float *wr = w + (size_t)j0 * k + (size_t)r * kw;
        for (int kx = 0; kx < kw; kx++) {
            int c = kx * dw, at = sw == 1 ? c : (c & 1) * half + (c >> 1);  // ox's padded column: ox·sw + c
            __m256 x0 = _mm256_loadu_ps(row + at), x1 = V == 2 ? _mm256_loadu_ps(row + at + 8) : x0;
            for (int j = 0; j < MB; j++) {
                __m256 wv = _mm256_broadcast_ss(wr + (size_t)j * k + kx);
                acc[j][0] = _mm256_fmadd_ps(wv, x0, acc[j][0]);
                if (V == 2) acc[j][1] = _mm256_fmadd_ps(wv, x1, acc[j][1]);
            }
        }
    }
    for (int j = 0; j < MB; j++)
        for (int v = 0; v < V; v++) {
            size_t at = (size_t)(j0 + j) * out_size + ox + 8 * v;
            vf8 y = (vf8)acc[j][v];
            if (z) y += load_first8(z + at, count - 8 * v);
            store_first8(out + at, y, count - 8 * v);
        }
}

/// One output row of channels j0 … j0 + MB − 1 of vx_conv_few_channels, two vectors of
/// columns at a time (a last odd vector alone: the padded rows hold whole vectors only).
static inline __attribute__((always_inline, target("avx2,fma")))
void few_channels_row(const vx_source *s, int rows_count, const float *const *rows, int half, const int sw, const int KW,
                      const float *w, int k, const float *bias, int j0, const int MB, const float *z, float *out,
                      size_t out_size) {
    int ox = 0;
    for (; ox + 8 < s->ow; ox += 16) {
        int count = s->ow - ox < 16 ? s->ow - ox : 16;
        few_channels_tile(s, rows_count, rows, half, sw, KW, w, k, bias, j0, MB, 2, ox, count, z, out, out_size);
    }
    if (ox < s->ow)
        few_channels_tile(s, rows_count, rows, half, sw, KW, w, k, bias, j0, MB, 1, ox, s->ow - ox, z, out, out_size);
}

__attribute__((target("avx2,fma")))
void vx_conv_few_channels(const vx_source *s, int channels, size_t in_size, int m, const float *w, const float *bias,
                          const float *z, float *out, size_t out_size, vx_activation act, int oy0, int oy1) {
    if (oy0 >= oy1 || s->ow <= 0 || m <= 0) return;
    const int sw = s->stride_w, k = channels * s->kh * s->kw, rows_count = channels * s->kh;
    const int half = (int)depthwise_half_pitch(s, 8), pitch = sw * half;
    // per channel a ring of the span padded rows one output row reads, padded row p in slot
    // p % span: each input row is copied once (at stride 1 a 3×3 kernel read each row 3 times)
    const int span = (s->kh - 1) * s->dilation_h + 1;
    float *ring = scratch(SCRATCH_FEW_CHANNELS, (size_t)channels * span * pitch);
    const float *row[4 * 64];  // (channel, ky) → its padded row: channels ≤ 4, kh ≤ 64 (the header's contract)
    int filled = oy0 * s->stride_h;  // padded rows before it are not needed, those from it not yet copied
    // channel blocks of at most 6 as even as they come (8 channels: 4 + 4, not 6 + 2): a block
    // of MB channels keeps 2·MB sums in flight, and under 8 the FMAs wait on their latency
    const int blocks = (m + 5) / 6, base = m / blocks, longer = m % blocks;
    const int three = s->kw == 3 && s->dilation_w == 1;  // the common kernel width, its taps unrolled
    for (int oy = oy0; oy < oy1; oy++) {
        int first = oy * s->stride_h;
        for (int ci = 0; ci < channels; ci++) {
            vx_source plane = *s;
            plane.x = s->x + (size_t)ci * in_size;
            float *slots = ring + (size_t)ci * span * pitch;
            for (int p = first > filled ? first : filled; p < first + span; p++) {
                float *d = slots + (size_t)(p % span) * pitch;
                if (sw == 1) padded_row8(&plane, p - s->pad_top, d, half, 1);
                else padded_row8(&plane, p - s->pad_top, d, half, 2);
            }
            for (int ky = 0; ky < s->kh; ky++)
                row[ci * s->kh + ky] = slots + (size_t)((first + ky * s->dilation_h) % span) * pitch;
        }
        filled = first + span;
        float *o = out + (size_t)oy * s->ow;
        const float *zr = z ? z + (size_t)oy * s->ow : NULL;
        for (int b = 0, j0 = 0; b < blocks; b++) {
            int mb = base + (b < longer);
#define FEW_ROW(stride, KW, MB) few_channels_row(s, rows_count, row, half, stride, KW, w, k, bias, j0, MB, zr, o, out_size)
#define FEW_ROWS(stride, KW)                                                                                           \
    switch (mb) {                                                                                                      \
    case 1: FEW_ROW(stride, KW, 1); break;                                                                             \
    case 2: FEW_ROW(stride, KW, 2); break;                                                                             \
    case 3: FEW_ROW(stride, KW, 3); break;                                                                             \
    case 4: FEW_ROW(stride, KW, 4); break;                                                                             \
    case 5: FEW_ROW(stride, KW, 5); break;                                                                             \
    default: FEW_ROW(stride, KW, 6); break;                                                                            \
    }
            if (sw == 1) {
                if (three) { FEW_ROWS(1, 3) } else { FEW_ROWS(1, 0) }
            } else {
                if (three) { FEW_ROWS(2, 3) } else { FEW_ROWS(2, 0) }
            }
#undef FEW_ROWS
#undef FEW_ROW
            j0 += mb;
        }
        if (act.kind != VX_ACT_NONE)
            for (int j = 0; j < m; j++) activate_run8(o + (size_t)j * out_size, (size_t)s->ow, &act);
    }
}

/// The max over each window of outputs [from, to) of one row of window-row maxima.
static void scalar_max(const vx_source *s, const float *line, const int *clo, const int *chi, float *o, int from, int to) {
    for (int ox = from; ox < to; ox++) {
        if (clo[ox] >= chi[ox]) { o[ox] = 0; continue; }
        const float *left = line + (ptrdiff_t)ox * s->stride_w - s->pad_left;
        float best = left[clo[ox] * s->dilation_w];
        for (int k = clo[ox] + 1; k < chi[ox]; k++) {
            float v = left[k * s->dilation_w];
            best = v > best ? v : best;
        }
        o[ox] = best;
    }
}

/// p[0], p[s], …, p[7s] for s = 1 or 2 (s = 2 reads p[0…15]).
__attribute__((target("avx2,fma"))) static inline __m256 taps8(const float *p, int s) {
    if (s == 1) return _mm256_loadu_ps(p);
    __m256 even = _mm256_shuffle_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), _MM_SHUFFLE(3, 1, 2, 0)));
}

/// Outputs [ox, end) of a row whose windows (kw taps, stride s = 1 or 2) lie inside `line`,
/// 16 at a time, the last vector masked.
__attribute__((target("avx512f")))
static void max_taps16(const float *line, float *o, int ox, int end, int s, int pad, int kw) {
    for (; ox < end; ox += 16) {
        int count = end - ox < 16 ? end - ox : 16;
        const float *left = line + (ptrdiff_t)ox * s - pad;
        __m512 best = (__m512)row_taps16(left, 0, INT_MAX, s, count);
        for (int k = 1; k < kw; k++) best = _mm512_max_ps(best, (__m512)row_taps16(left + k, 0, INT_MAX, s, count));
        _mm512_mask_storeu_ps(o + ox, first_lanes(count), best);
    }
}

__attribute__((target("avx2,fma")))
void vx_maxpool(const vx_source *s, float *out, float *scratch) {
    const int avx512 = kernel().wide == 32;
    int *clo = (int *)(scratch + s->w + 16), *chi = clo + s->ow;
    window_columns(s->ow, s->stride_w, s->dilation_w, s->kw, s->pad_left, s->w, clo, chi);
    float *line = scratch;
    for (int oy = 0; oy < s->oh; oy++) {
        float *o = out + (size_t)oy * s->ow;
        int start = oy * s->stride_h - s->pad_top;
        int a = start >= 0 ? 0 : (-start + s->dilation_h - 1) / s->dilation_h;
        int b = s->h - start <= 0 ? 0 : (s->h - start + s->dilation_h - 1) / s->dilation_h;
        if (b > s->kh) b = s->kh;
        if (a >= b) { memset(o, 0, (size_t)s->ow * sizeof(float)); continue; }
        const float *top = s->x + (size_t)(start + a * s->dilation_h) * s->w;
        memcpy(line, top, (size_t)s->w * sizeof(float));
        for (int k = a + 1; k < b; k++) {
            const float *next = top + (size_t)(k - a) * s->dilation_h * s->w;
            for (int x = 0; x < s->w; x++) line[x] = next[x] > line[x] ? next[x] : line[x];
        }
        int ox = 0;
        if (s->dilation_w == 1 && (s->stride_w == 1 || s->stride_w == 2)) {
            // whole windows (every tap inside the row), 16 outputs at a time on AVX-512 (masked),
            // else 8; an AVX2 stride-2 load reads one float past the last tap, which `scratch`
            // has room for
            while (ox < s->ow && (clo[ox] != 0 || chi[ox] != s->kw)) ox++;
            int end = ox;
            while (end < s->ow && clo[end] == 0 && chi[end] == s->kw) end++;
            scalar_max(s, line, clo, chi, o, 0, ox);
            if (avx512) {
                max_taps16(line, o, ox, end, s->stride_w, s->pad_left, s->kw);
                ox = end;
            }
            for (; ox + 8 <= end; ox += 8) {
                const float *left = line + (ptrdiff_t)ox * s->stride_w - s->pad_left;
                __m256 best = taps8(left, s->stride_w);
                for (int k = 1; k < s->kw; k++) best = _mm256_max_ps(best, taps8(left + k, s->stride_w));
                _mm256_storeu_ps(o + ox, best);
            }
        }
        scalar_max(s, line, clo, chi, o, ox, s->ow);
    }
}

#else
// Other CPUs: no kernel (Conv runs on OpenBLAS); the entry points exist but do nothing.
int vx_gemm_available(void) { return 0; }
int vx_gemm_row_block(void) { return 1; }
int vx_gemm_col_block(int n) { (void)n; return 1; }
int vx_gemm_t_col_block(void) { return 1; }
int vx_gemm_t_row_block(int n) { (void)n; return 1; }
size_t vx_gemm_packed_a_size(int m, int k) { (void)m; (void)k; return 0; }
void vx_gemm_pack_a(int m, int k, const float *a, int lda, float *packed) { (void)m; (void)k; (void)a; (void)lda; (void)packed; }
size_t vx_gemm_packed_b_size(int k, int n) { (void)k; (void)n; return 0; }
void vx_gemm_pack_b(const vx_source *source, int k, int n, int k0, int k1, float *packed) {
    (void)source; (void)k; (void)n; (void)k0; (void)k1; (void)packed;
}
void vx_gemm(int m, int n, int k, const float *packed_a, const vx_source *source, const float *packed_b,
             float *c, int ldc, const float *bias, const float *z, int ldz, vx_activation act, int m0, int m1, int n0, int n1) {
    (void)m; (void)n; (void)k; (void)packed_a; (void)source; (void)packed_b; (void)c; (void)ldc; (void)bias; (void)z;
    (void)ldz; (void)act; (void)m0; (void)m1; (void)n0; (void)n1;
}
void vx_gemm_pack_b_matrix(int k, int n, vx_matrix b, float *packed) { (void)k; (void)n; (void)b; (void)packed; }
void vx_matmul(int m, int n, int k, vx_matrix a, vx_matrix b, const float *packed_b, float *c, int ldc,
               const float *z, int ldz, vx_activation act, int n0, int n1) {
    (void)m; (void)n; (void)k; (void)a; (void)b; (void)packed_b; (void)c; (void)ldc; (void)z; (void)ldz; (void)act; (void)n0;
    (void)n1;
}
void vx_gemm_pack_a_matrix(int m, int k, vx_matrix a, float *packed) { (void)m; (void)k; (void)a; (void)packed; }
int vx_attention_block(void) { return 1; }
void vx_attention(int count, int n, int d, int width, vx_matrix q, const float *packed_k, const float *packed_vt,
                  float scale, const float *mask, ptrdiff_t mask_query_stride, ptrdiff_t mask_key_stride, float *out,
                  int ldo) {
    (void)count; (void)n; (void)d; (void)width; (void)q; (void)packed_k; (void)packed_vt; (void)scale; (void)mask;
    (void)mask_query_stride; (void)mask_key_stride; (void)out; (void)ldo;
}
size_t vx_gemm_packed_t_size(int m, int k) { (void)m; (void)k; return 0; }
void vx_gemm_pack_t(int m, int k, const float *a, int lda, float *packed) { (void)m; (void)k; (void)a; (void)lda; (void)packed; }
size_t vx_gemm_t_packed_b_size(int n, int k) { (void)n; (void)k; return 0; }
void vx_gemm_t_pack_b(const vx_source *source, int n, int k, int k0, int k1, float *packed) {
    (void)source; (void)n; (void)k; (void)k0; (void)k1; (void)packed;
}
void vx_gemm_t(int m, int n, int k, const float *packed_t, const vx_source *source, const float *packed_b, float *c,
               int ldc, const float *bias, const float *z, int ldz, vx_activation act, int m0, int m1) {
    (void)m; (void)n; (void)k; (void)packed_t; (void)source; (void)packed_b; (void)c; (void)ldc; (void)bias; (void)z;
    (void)ldz; (void)act; (void)m0; (void)m1;
}
void vx_depthwise(const vx_source *s, const float *w, float bias, const float *z, float *out, vx_activation act) {
    (void)s; (void)w; (void)bias; (void)z; (void)out; (void)act;
}
void vx_depthwise_blocked(const vx_source *s, int first, int count, int channels, size_t in_size, size_t out_size,
                          const float *w, const float *bias, const float *z, float *out, vx_activation act) {
    (void)s; (void)first; (void)count; (void)channels; (void)in_size; (void)out_size; (void)w; (void)bias; (void)z; (void)out;
    (void)act;
}
int vx_depthwise_prefers_blocked(const vx_source *s) { (void)s; return 0; }
void vx_conv_few_channels(const vx_source *s, int channels, size_t in_size, int m, const float *w, const float *bias,
                          const float *z, float *out, size_t out_size, vx_activation act, int oy0, int oy1) {
    (void)s; (void)channels; (void)in_size; (void)m; (void)w; (void)bias; (void)z; (void)out; (void)out_size; (void)act;
    (void)oy0; (void)oy1;
}
void vx_maxpool(const vx_source *s, float *out, float *scratch) { (void)s; (void)out; (void)scratch; }
void vx_activate(float *x, size_t count, vx_activation act) { (void)x; (void)count; (void)act; }
void vx_softmax(const float *x, float *y, size_t count) { (void)x; (void)y; (void)count; }
void vx_layer_norm(const float *x, float *y, size_t count, const float *scale, const float *bias, float eps, int centered,
                   float *mean, float *inv_std) {
    (void)x; (void)y; (void)count; (void)scale; (void)bias; (void)eps; (void)centered; (void)mean; (void)inv_std;
}
void vx_instance_norm(const float *x, float *y, size_t count, float scale, float bias, float eps) {
    (void)x; (void)y; (void)count; (void)scale; (void)bias; (void)eps;
}
void vx_cpu_relax(void) {}
size_t vx_winograd_scratch(int tw) { (void)tw; return 0; }
void vx_winograd_input(const float *x, int h, int w, int pad_top, int pad_left, int th, int tw, int first, int width,
                       size_t panel, float *v, size_t stride, float *scratch) {
    (void)x; (void)h; (void)w; (void)pad_top; (void)pad_left; (void)th; (void)tw; (void)first; (void)width; (void)panel;
    (void)v; (void)stride; (void)scratch;
}
void vx_winograd_output(const float *p, size_t stride, int th, int tw, float *out, int oh, int ow, float bias,
                        const float *z, vx_activation act, float *scratch) {
    (void)p; (void)stride; (void)th; (void)tw; (void)out; (void)oh; (void)ow; (void)bias; (void)z; (void)act; (void)scratch;
}
#endif
