#ifndef VONNX_CGEMM_H
#define VONNX_CGEMM_H

#include <stddef.h>

/// The CPU backend's float32 kernels in C (x86-64 with AVX2+FMA, AVX-512F used when present,
/// both checked at run time; on other
/// CPUs `vx_gemm_available` is 0 and the callers use OpenBLAS and Swift loops instead):
/// - a GEMM for convolutions, C = A·B, with a hand-written micro-kernel: A (the weights, M×K)
///   is packed once; B (K×N) is read from a `vx_source` — a row-major matrix or, with the
///   im2col done while packing, the input planes of a 2-D convolution — and packed per call;
///   bias, residual and the activation are applied while the tile is in registers;
/// - direct depthwise convolution and 2-D MaxPool, which a GEMM serves badly, and Winograd's
///   tile transforms;
/// - the fused activations, vectorized, for the epilogues and for standalone activation ops;
/// - the spin-wait hint of the CPU thread pool.

/// The activations of VonnxIR's FusedActivation, in its order.
enum {
    VX_ACT_NONE, VX_ACT_RELU, VX_ACT_CLIP, VX_ACT_LEAKY_RELU, VX_ACT_SIGMOID, VX_ACT_TANH, VX_ACT_HARD_SIGMOID,
    VX_ACT_SILU, VX_ACT_HARD_SWISH, VX_ACT_GELU, VX_ACT_GELU_TANH, VX_ACT_MISH
};

/// An epilogue's activation: `kind` one of VX_ACT_*, with its parameters (Clip: a = min, b =
/// max; LeakyRelu: a = alpha; HardSigmoid: a = alpha, b = beta).
typedef struct { int kind; float a, b; } vx_activation;

/// Applies `act` to the count floats at x in place (vectorized; AVX2 or AVX-512 as the GEMM).
void vx_activate(float *x, size_t count, vx_activation act);

/// Softmax of the count floats at x into y (which may be x), vectorized likewise.
void vx_softmax(const float *x, float *y, size_t count);

/// Layer normalization of the count floats at x into y: (x − mean)·inv_std·scale[i] + bias[i]
/// (bias may be NULL), inv_std = 1/√(mean of (x − mean)² + eps); with `centered` 0 (RMS
/// normalization) the mean is taken as 0. Writes mean and inv_std where not NULL. Vectorized likewise.
void vx_layer_norm(const float *x, float *y, size_t count, const float *scale, const float *bias, float eps, int centered,
                   float *mean, float *inv_std);

/// Instance normalization of the count floats at x into y: (x − mean)·scale/√(variance + eps)
/// + bias, the mean, the variance and each output computed in float64 (as the Double reference
/// does), 8 floats a step.
void vx_instance_norm(const float *x, float *y, size_t count, float scale, float bias, float eps);

/// B as the im2col of 2-D input planes x[channels][h][w]: row k = (channel, ky, kx), column
/// n = (oy, ox) of an oh×ow output. A row-major K×N matrix with row stride N is the 1×1
/// case: h = oh = 1, w = ow = N, kh = kw = strides = dilations = 1, pads 0.
typedef struct {
    const float *x;
    int h, w, kh, kw, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left, oh, ow;
} vx_source;

/// 1 when the CPU has the instructions the kernel needs (AVX2 and FMA), else 0.
int vx_gemm_available(void);

/// Rows of A in a packed panel; row splits across threads should be multiples of it.
int vx_gemm_row_block(void);

/// Columns of B in a packed panel of a product with n columns (wider vectors for wide
/// products); column splits should be multiples of it.
int vx_gemm_col_block(int n);

/// Floats an M×K matrix takes once packed.
size_t vx_gemm_packed_a_size(int m, int k);

/// Packs row-major A (M×K, row stride lda) into `packed` (vx_gemm_packed_a_size floats).
void vx_gemm_pack_a(int m, int k, const float *a, int lda, float *packed);

/// Floats B (K×N) takes once packed whole.
size_t vx_gemm_packed_b_size(int k, int n);

/// Packs rows [k0, k1) of B (K×N, from `source`) into `packed` (vx_gemm_packed_b_size
/// floats), so that threads can pack disjoint row ranges of one B together.
void vx_gemm_pack_b(const vx_source *source, int k, int n, int k0, int k1, float *packed);

/// C[m0..<m1, n0..<n1] = A·B, then + bias[row] (if bias), + z[row·ldz + col] (if z), then
/// the activation, for packed A (M×K) and B (K×N) either packed whole (`packed_b`) or
/// read from `source` and packed block by block (`packed_b` NULL). Writes every element of
/// the block and no other; m0 must be a multiple of the row block and n0 of the column block.
/// Runs on the calling thread; disjoint blocks may run concurrently.
void vx_gemm(int m, int n, int k, const float *packed_a, const vx_source *source, const float *packed_b,
             float *c, int ldc, const float *bias, const float *z, int ldz, vx_activation act,
             int m0, int m1, int n0, int n1);

/// A strided matrix: element (i, j) at p[i·rs + j·cs] (a transposed one swaps rs and cs).
typedef struct { const float *p; ptrdiff_t rs, cs; } vx_matrix;

/// Packs B (K×N, read through its strides) whole for vx_gemm (vx_gemm_packed_b_size floats).
void vx_gemm_pack_b_matrix(int k, int n, vx_matrix b, float *packed);

/// Columns [n0, n1) of C = A·B (+ z[i·ldz + j] if z), then the activation, for A (M×K) and B
/// (K×N) read through their strides, C row-major with row stride ldc, on the calling thread: A
/// is packed into this thread's scratch, and so are B's columns [n0, n1) unless `packed_b` (B
/// packed whole by vx_gemm_pack_b_matrix) is given, in which case n0 must be a multiple of
/// vx_gemm_col_block(n).
void vx_matmul(int m, int n, int k, vx_matrix a, vx_matrix b, const float *packed_b, float *c, int ldc,
               const float *z, int ldz, vx_activation act, int n0, int n1);

/// Packs A (M×K, read through its strides) for vx_gemm (vx_gemm_packed_a_size floats).
void vx_gemm_pack_a_matrix(int m, int k, vx_matrix a, float *packed);

/// Queries vx_attention takes at a time.
int vx_attention_block(void);

/// Attention for `count` (≤ vx_attention_block()) queries against n keys, on the calling
/// thread: out (count × width, row stride ldo) = softmax over the keys of scale·Q·Kᵀ (+ the
/// mask: query i, key j at mask[i·mask_query_stride + j·mask_key_stride], if mask) · V, for Q
/// (count × d) read through its strides, K (n × d) and Vᵀ (width × n) packed by
/// vx_gemm_pack_a_matrix.
void vx_attention(int count, int n, int d, int width, vx_matrix q, const float *packed_k, const float *packed_vt,
                  float scale, const float *mask, ptrdiff_t mask_query_stride, ptrdiff_t mask_key_stride, float *out,
                  int ldo);

/// For small N (few output positions), the transposed product Cᵀ = Bᵀ·Aᵀ wastes less of the
/// vectors: output channels run along them, positions along the row panels.
/// Floats an M×K matrix A takes packed for vx_gemm_t.
size_t vx_gemm_packed_t_size(int m, int k);

/// Packs row-major A (M×K, row stride lda) for vx_gemm_t (panels of Aᵀ's channels).
void vx_gemm_pack_t(int m, int k, const float *a, int lda, float *packed);

/// Channels in a vx_gemm_pack_t panel; channel splits for vx_gemm_t should be multiples of it.
int vx_gemm_t_col_block(void);

/// Positions per Cᵀ tile of vx_gemm_t over n positions (n rounds up to a multiple of it).
int vx_gemm_t_row_block(int n);

/// Floats B (K×N) takes packed whole for vx_gemm_t (Bᵀ in panels of positions).
size_t vx_gemm_t_packed_b_size(int n, int k);

/// Packs rows [k0, k1) of B (K×N, from `source`) for vx_gemm_t into `packed`
/// (vx_gemm_t_packed_b_size floats), so that threads can pack disjoint row ranges together.
void vx_gemm_t_pack_b(const vx_source *source, int n, int k, int k0, int k1, float *packed);

/// Like vx_gemm for the channels [m0, m1) and every column, over A packed by vx_gemm_pack_t
/// and B either packed whole by vx_gemm_t_pack_b (`packed_b`) or read from `source` and packed
/// per call (`packed_b` NULL); m0 must be a multiple of vx_gemm_t_col_block().
void vx_gemm_t(int m, int n, int k, const float *packed_t, const vx_source *source, const float *packed_b,
               float *c, int ldc, const float *bias, const float *z, int ldz, vx_activation act, int m0, int m1);

/// One channel of a depthwise 2-D convolution, directly (no GEMM): out (oh×ow) = the
/// `source` plane (one channel, 2-D geometry) correlated with w (kh×kw), + bias (+ z, an
/// oh×ow plane, if z), then the activation.
void vx_depthwise(const vx_source *source, const float *w, float bias, const float *z, float *out, vx_activation act);

/// Planes [first, first + count) of a depthwise 2-D convolution, 8 at a time with their
/// channels along the vector lanes (each tap one FMA for 8 channels, the map's positions as
/// independent sums): plane p reads `source`'s geometry at source->x + p·in_size, is channel
/// p % channels (weights w + channel·kh·kw, bias[channel] if bias) and writes out + p·out_size
/// (+ z + p·out_size if z), then the activation. For small maps, where a plane's rows give too
/// little work per plane; the planes are transposed in and out.
void vx_depthwise_blocked(const vx_source *source, int first, int count, int channels, size_t in_size, size_t out_size,
                          const float *w, const float *bias, const float *z, float *out, vx_activation act);

/// 1 when vx_depthwise_blocked runs this geometry faster than vx_depthwise plane by plane.
int vx_depthwise_prefers_blocked(const vx_source *source);

/// Output rows [oy0, oy1) of every output channel of a 2-D convolution (group 1) of one image
/// with few input channels, directly (no im2col): out[j][oy][ox] (j < m, planes out_size apart)
/// = Σ over the channels·kh·kw taps of w[j][channel][ky][kx]·x (source->x the image's first of
/// `channels` planes, in_size apart), + bias[j] (if bias), + z at out's offset (if z), then the
/// activation. channels must be at most 4, source->kh at most 64 and source->stride_w 1 or 2.
/// For the first conv of image models (3 input channels), where the im2col took half the
/// GEMM's time.
void vx_conv_few_channels(const vx_source *source, int channels, size_t in_size, int m, const float *w, const float *bias,
                          const float *z, float *out, size_t out_size, vx_activation act, int oy0, int oy1);

/// One plane of a 2-D MaxPool (the window geometry in `source`'s kernel, stride, dilation
/// and pads) into out (oh×ow); an all-padding window gives 0. `scratch` holds w + 16 floats
/// and 2·ow ints.
void vx_maxpool(const vx_source *source, float *out, float *scratch);

/// Floats of scratch vx_winograd_input and vx_winograd_output need for tw tiles a row.
size_t vx_winograd_scratch(int tw);

/// Winograd F(4×4, 3×3) input transform of one plane x (h×w, zero-padded by pad_top and
/// pad_left) cut into th×tw tiles: tile number t = first + ty·tw + tx gets
/// v[ξ·stride + (t / width)·panel + t % width] = (Bᵀ·d·B)[ξ] for the 6×6 patch d at
/// (4ty − pad_top, 4tx − pad_left), ξ = 0…35. With width = vx_gemm_col_block(tiles) and
/// panel = width·channels, and v offset by channel·width, that is the ξ-th product's B
/// (channels × tiles) as vx_gemm_pack_b packs it: the product needs no packing pass.
void vx_winograd_input(const float *x, int h, int w, int pad_top, int pad_left, int th, int tw, int first, int width,
                       size_t panel, float *v, size_t stride, float *scratch);

/// Winograd F(4×4, 3×3) output transform of one channel: the 6×6 products of tile
/// ty·tw + tx at p[ξ·stride + ty·tw + tx] give the 4×4 outputs Aᵀ·P·A at (4ty, 4tx) of out
/// (oh×ow, tiles past its edge cropped), + bias (+ z, an oh×ow plane, if z), then the activation.
void vx_winograd_output(const float *p, size_t stride, int th, int tw, float *out, int oh, int ow, float bias,
                        const float *z, vx_activation act, float *scratch);

/// Tells the CPU this thread is spin-waiting (x86 PAUSE), for the CPU thread pool.
void vx_cpu_relax(void);

#endif
