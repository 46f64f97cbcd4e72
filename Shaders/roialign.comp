#version 450
// RoiAlign of x [N, C, H, W] over rois [R, 4] (x1, y1, x2, y2 in input scale, times `scale`) of
// the images batch [R] picks, an invocation per element of y [R, C, OH, OW], as the CPU kernel:
// each bin the average (MAX 0) or the maximum (MAX 1) of gh × gw bilinear samples, gh × gw being
// sampling_ratio² or, with ratio 0, the bin's size rounded up; a sample is the sum of its four
// weighted taps, or with MAX their largest (as onnxruntime); samples outside [-1, H] × [-1, W]
// count 0. HALF_PIXEL: coordinates shifted by half a pixel, else regions at least 1 × 1.
// A batch index outside [0, N) reads its nearest image: the device cannot throw for it.
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Rois { float rois[]; };
layout(std430, binding = 2) readonly buffer Batch { int batch[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params { uint count; uint N; uint C; uint H; uint W; uint OH; uint OW; uint ratio; float scale; } p;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
        uint pw = i % p.OW, ph = (i / p.OW) % p.OH, c = (i / (p.OW * p.OH)) % p.C, r = i / (p.OW * p.OH * p.C);
        float offset = HALF_PIXEL != 0 ? 0.5 : 0.0;
        float sw = rois[4 * r] * p.scale - offset, sh = rois[4 * r + 1] * p.scale - offset;
        float rw = rois[4 * r + 2] * p.scale - offset - sw, rh = rois[4 * r + 3] * p.scale - offset - sh;
#if !HALF_PIXEL
        rw = max(rw, 1.0);
        rh = max(rh, 1.0);
#endif
        float bh = rh / float(p.OH), bw = rw / float(p.OW);
        uint gh = p.ratio > 0 ? p.ratio : uint(clamp(ceil(bh), 0.0, 65536.0));
        uint gw = p.ratio > 0 ? p.ratio : uint(clamp(ceil(bw), 0.0, 65536.0));
        uint b = uint(clamp(INDEX(batch, r), 0, int(p.N) - 1)), base = (b * p.C + c) * p.H * p.W;
        int H = int(p.H), W = int(p.W);
        float acc = 0.0;
        for (uint iy = 0; iy < gh; ++iy) {
            for (uint ix = 0; ix < gw; ++ix) {
                float yy = sh + float(ph) * bh + (float(iy) + 0.5) * bh / float(gh);
                float xx = sw + float(pw) * bw + (float(ix) + 0.5) * bw / float(gw);
                float v = 0.0;
                if (!(yy < -1.0 || yy > float(H) || xx < -1.0 || xx > float(W))) {
                    yy = max(yy, 0.0);
                    xx = max(xx, 0.0);
                    int yl = int(yy), xl = int(xx), yh = yl + 1, xh = xl + 1;
                    if (yl >= H - 1) { yl = H - 1; yh = yl; yy = float(yl); }
                    if (xl >= W - 1) { xl = W - 1; xh = xl; xx = float(xl); }
                    float ly = yy - float(yl), lx = xx - float(xl), hy = 1.0 - ly, hx = 1.0 - lx;
                    float t0 = hy * hx * x[base + yl * W + xl], t1 = hy * lx * x[base + yl * W + xh];
                    float t2 = ly * hx * x[base + yh * W + xl], t3 = ly * lx * x[base + yh * W + xh];
#if MAX
                    v = max(max(t0, t1), max(t2, t3));
#else
                    v = t0 + t1 + t2 + t3;
#endif
                }
#if MAX
                acc = iy == 0 && ix == 0 ? v : max(acc, v);
#else
                acc += v;
#endif
            }
        }
#if MAX
        y[i] = acc;
#else
        y[i] = acc / float(max(gh * gw, 1u));
#endif
    }
}
