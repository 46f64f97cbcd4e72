#version 450
// The im2col matrix of NCHW input X for a 2-D window: col[n][k][p] for k over (c, kh, kw) and
// p over the output pixels, X's value under tap k of pixel p (zero outside the image), each
// row padded with zeros to `rowLength` and the rows to `rowCount` (multiples of 4) so a GEMM
// can read it as vec4s. One invocation writes 4 adjacent pixels of one row.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Col { vec4 col[]; };
layout(push_constant) uniform Params {
    uint count; uint C; uint H; uint W; uint OW; uint pixels; uint rowLength; uint rowCount; uint KH; uint KW;
    uint strideH; uint strideW; uint padTop; uint padLeft; uint dilH; uint dilW;
} p;

void main() {
    uint quads = p.rowLength / 4u, taps = p.KH * p.KW;
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint e = gl_GlobalInvocationID.x; e < p.count; e += stride) {
        uint k = (e / quads) % p.rowCount, n = e / (quads * p.rowCount);
        uint c = k / taps, kh = (k % taps) / p.KW, kw = k % p.KW;
        uint plane = (n * p.C + c) * p.H;
        vec4 v = vec4(0.0);
        for (uint j = 0; j < 4u; ++j) {
            uint pix = (e % quads) * 4u + j;
            int ih = int((pix / p.OW) * p.strideH + kh * p.dilH) - int(p.padTop);
            int iw = int((pix % p.OW) * p.strideW + kw * p.dilW) - int(p.padLeft);
            if (pix < p.pixels && c < p.C && ih >= 0 && ih < int(p.H) && iw >= 0 && iw < int(p.W)) v[j] = x[(plane + uint(ih)) * p.W + uint(iw)];
        }
        col[e] = v;
    }
}
