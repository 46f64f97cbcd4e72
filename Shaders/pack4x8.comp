#version 450
// Packs rows of k 8-bit values (T: int or uint, one a word) 4 a word for matmul_dot4x8.comp:
// value q of a row in bits 8·(q % 4) of word q / 4, the last word's spare bytes 0; y holds
// rows × words packed words, then each row's sum of its k values (int bits).
// IM2COL 0: row r's value q is x[(r / group)·groupStride + (r % group)·rowStride + q·step].
// IM2COL 1: the rows are a convolution's windows, r = (n·groups + g)·oh·ow + pixel, over
// x [N, C, H, W] (1-D as H = 1), value q = (ic, ky, kx) of group g's C / groups channels;
// taps in the padding read x's zero point (or 0), so that they add nothing once it is subtracted.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { T x[]; };
layout(std430, binding = 1) readonly buffer XZ { T xz[]; };
layout(std430, binding = 2) writeonly buffer Y { uint y[]; };
layout(push_constant) uniform Params {
    uint rows; uint k; uint words;
#if IM2COL
    uint c; uint h; uint w; uint oh; uint ow; uint kh; uint kw; uint sh; uint sw; uint dh; uint dw;
    uint padTop; uint padLeft; uint groups; uint xZeros;
#else
    uint group; uint groupStride; uint rowStride; uint step;
#endif
} p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint r = gl_GlobalInvocationID.x; r < p.rows; r += stride) {
#if IM2COL
        uint pixel = r % (p.oh * p.ow), ox = pixel % p.ow, oy = pixel / p.ow, ng = r / (p.oh * p.ow);
        uint perGroup = p.c / p.groups, first = ((ng / p.groups) * p.c + (ng % p.groups) * perGroup) * p.h;
        int fill = p.xZeros == 0u ? 0 : int(xz[0]);
#else
        uint base = (r / p.group) * p.groupStride + (r % p.group) * p.rowStride;
#endif
        int sum = 0;
        for (uint wd = 0; wd < p.words; ++wd) {
            uint word = 0;
            for (uint lane = 0; lane < 4u && 4u * wd + lane < p.k; ++lane) {
                uint q = 4u * wd + lane;
#if IM2COL
                uint kx = q % p.kw, ky = (q / p.kw) % p.kh, ic = q / (p.kw * p.kh);
                int iy = int(oy * p.sh + ky * p.dh) - int(p.padTop), ix = int(ox * p.sw + kx * p.dw) - int(p.padLeft);
                int v = iy < 0 || iy >= int(p.h) || ix < 0 || ix >= int(p.w) ? fill
                      : int(x[(first + ic * p.h + uint(iy)) * p.w + uint(ix)]);
#else
                int v = int(x[base + q * p.step]);
#endif
                sum += v;
                word |= (uint(v) & 0xffu) << (8u * lane);
            }
            y[r * p.words + wd] = word;
        }
        y[p.rows * p.words + r] = uint(sum);
    }
}
