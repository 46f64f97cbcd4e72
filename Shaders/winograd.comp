#version 450
// Winograd F(2×2, 3×3) for a stride-1, undilated 3×3 convolution, in three passes (STAGE),
// around a batched GEMM that multiplies, for each of the 16 transformed positions ξ, the
// transformed filters U[ξ] (M × C4) by the transformed input tiles V[n][ξ] (C4 × T4):
// - STAGE 0, filters: U[ξ][m][c] = (G g[m][c] Gᵀ)[ξ], zero for c ≥ C;
// - STAGE 1, input: V[n][ξ][c][t] = (Bᵀ d B)[ξ] for the 4×4 patch d of tile t (2×2 outputs;
//   zero outside the image, and for c ≥ C or t ≥ T), rows padded to T4 (a multiple of 4);
// - STAGE 2, output: Y[n][m] tile t = Aᵀ P A for P[ξ] = product[n][ξ][m][t], plus bias and
//   residual, then the fused activation (activation.glsl), as conv2d.comp's epilogue.
// One invocation per (m, c), (n, c, t) and (n, m, t) respectively.
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer In { float src[]; };
layout(std430, binding = 1) writeonly buffer Out { float dst[]; };
#if STAGE == 2 && HAS_BIAS
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
#endif
#if STAGE == 2 && HAS_Z
layout(std430, binding = 2 + HAS_BIAS) readonly buffer Z { float z[]; };
#endif
layout(push_constant) uniform Params {
    uint count; uint C; uint C4; uint M; uint H; uint W; uint OH; uint OW; uint TW; uint T; uint T4;
    uint padTop; uint padLeft; float actAlpha; float actBeta;
} p;

#include "activation.glsl"

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint e = gl_GlobalInvocationID.x; e < p.count; e += stride) {
#if STAGE == 0
        uint c = e % p.C4, m = e / p.C4;
        float g[3][3], u[4][3];
        for (uint i = 0; i < 3u; ++i)
            for (uint j = 0; j < 3u; ++j) g[i][j] = c < p.C ? src[((m * p.C + c) * 3u + i) * 3u + j] : 0.0;
        for (uint j = 0; j < 3u; ++j) {  // G g
            u[0][j] = g[0][j];
            u[1][j] = 0.5 * (g[0][j] + g[1][j] + g[2][j]);
            u[2][j] = 0.5 * (g[0][j] - g[1][j] + g[2][j]);
            u[3][j] = g[2][j];
        }
        for (uint i = 0; i < 4u; ++i) {  // (G g) Gᵀ
            float r[4] = float[4](u[i][0], 0.5 * (u[i][0] + u[i][1] + u[i][2]), 0.5 * (u[i][0] - u[i][1] + u[i][2]), u[i][2]);
            for (uint j = 0; j < 4u; ++j) dst[((i * 4u + j) * p.M + m) * p.C4 + c] = r[j];
        }
#elif STAGE == 1
        uint t = e % p.T4, c = (e / p.T4) % p.C4, n = e / (p.T4 * p.C4);
        int oy = int((t / p.TW) * 2u) - int(p.padTop), ox = int((t % p.TW) * 2u) - int(p.padLeft);
        bool live = t < p.T && c < p.C;
        float d[4][4], v[4][4];
        for (uint i = 0; i < 4u; ++i)
            for (uint j = 0; j < 4u; ++j) {
                int y = oy + int(i), x = ox + int(j);
                d[i][j] = live && y >= 0 && y < int(p.H) && x >= 0 && x < int(p.W) ? src[((n * p.C + c) * p.H + uint(y)) * p.W + uint(x)] : 0.0;
            }
        for (uint j = 0; j < 4u; ++j) {  // Bᵀ d
            v[0][j] = d[0][j] - d[2][j];
            v[1][j] = d[1][j] + d[2][j];
            v[2][j] = d[2][j] - d[1][j];
            v[3][j] = d[1][j] - d[3][j];
        }
        for (uint i = 0; i < 4u; ++i) {  // (Bᵀ d) B
            float r[4] = float[4](v[i][0] - v[i][2], v[i][1] + v[i][2], v[i][2] - v[i][1], v[i][1] - v[i][3]);
            for (uint j = 0; j < 4u; ++j) dst[(((n * 16u + i * 4u + j) * p.C4) + c) * p.T4 + t] = r[j];
        }
#else
        uint t = e % p.T, m = (e / p.T) % p.M, n = e / (p.T * p.M);
        float q[4][4], a[2][4];
        for (uint i = 0; i < 4u; ++i)
            for (uint j = 0; j < 4u; ++j) q[i][j] = src[((n * 16u + i * 4u + j) * p.M + m) * p.T + t];
        for (uint j = 0; j < 4u; ++j) {  // Aᵀ P
            a[0][j] = q[0][j] + q[1][j] + q[2][j];
            a[1][j] = q[1][j] - q[2][j] - q[3][j];
        }
        uint oy = (t / p.TW) * 2u, ox = (t % p.TW) * 2u;
        for (uint i = 0; i < 2u; ++i) {  // (Aᵀ P) A
            float r[2] = float[2](a[i][0] + a[i][1] + a[i][2], a[i][1] - a[i][2] - a[i][3]);
            for (uint j = 0; j < 2u; ++j) {
                if (oy + i >= p.OH || ox + j >= p.OW) continue;
                uint at = ((n * p.M + m) * p.OH + oy + i) * p.OW + ox + j;
                float v = r[j];
#if HAS_BIAS
                v += bias[m];
#endif
#if HAS_Z
                v += z[at];
#endif
                dst[at] = activate(v, p.actAlpha, p.actBeta);
            }
        }
#endif
    }
}
