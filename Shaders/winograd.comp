#version 450
// Winograd F(m×m, 3×3) (WINO_M = m, 2 or 4) for a stride-1, undilated 3×3 convolution, in
// three passes (STAGE) around a batched GEMM that multiplies, for each of the α² transformed
// positions ξ (α = m + 2), the transformed input tiles V[n][ξ] (T × C4) by the transformed
// filters U[ξ] (C4 × M4): tiles are the GEMM's rows and output channels its columns, so few
// tiles (a deep layer's small map) still fill whole workgroups.
// - STAGE 0, filters: U[ξ][c][m] = (G g[m][c] Gᵀ)[ξ], zero for c ≥ C or m ≥ M (run once per
//   weight); C4 and M4 are C and M rounded up to multiples of 4, for vec4 loads;
// - STAGE 1, input: V[n][ξ][t][c] = (Bᵀ d B)[ξ] for the α×α patch d of tile t (m×m outputs;
//   zero outside the image, and for c ≥ C);
// - STAGE 2, output: Y[n][m] tile t = Aᵀ P A for P[ξ] = product[n][ξ][t][m], plus bias and
//   residual, then the fused activation (activation.glsl), as conv2d.comp's epilogue.
// One invocation per (c, m), (n, t, c) and (n, t, m) respectively, the channel varying fastest:
// so neighbouring invocations write (STAGE 1) and read (STAGE 2) neighbouring words of the
// tile-major V and P, and the image rows a run of tiles touches stay in cache. The matrices
// are Lavin and Gray's; their zeros fold away when the loops unroll.
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
    uint count; uint C; uint C4; uint M; uint H; uint W; uint OH; uint OW; uint TW; uint T; uint M4;
    uint padTop; uint padLeft; float actAlpha; float actBeta;
} p;

#include "activation.glsl"

#if WINO_M == 2
const uint TM = 2u, A = 4u;
const float G[4][3] = float[4][3](float[3](1.0, 0.0, 0.0), float[3](0.5, 0.5, 0.5), float[3](0.5, -0.5, 0.5),
                                  float[3](0.0, 0.0, 1.0));
const float BT[4][4] = float[4][4](float[4](1.0, 0.0, -1.0, 0.0), float[4](0.0, 1.0, 1.0, 0.0),
                                   float[4](0.0, -1.0, 1.0, 0.0), float[4](0.0, 1.0, 0.0, -1.0));
const float AT[2][4] = float[2][4](float[4](1.0, 1.0, 1.0, 0.0), float[4](0.0, 1.0, -1.0, -1.0));
#else
const uint TM = 4u, A = 6u;
const float G[6][3] = float[6][3](float[3](0.25, 0.0, 0.0), float[3](-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0),
                                  float[3](-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0), float[3](1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0),
                                  float[3](1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0), float[3](0.0, 0.0, 1.0));
const float BT[6][6] = float[6][6](float[6](4.0, 0.0, -5.0, 0.0, 1.0, 0.0), float[6](0.0, -4.0, -4.0, 1.0, 1.0, 0.0),
                                   float[6](0.0, 4.0, -4.0, -1.0, 1.0, 0.0), float[6](0.0, -2.0, -1.0, 2.0, 1.0, 0.0),
                                   float[6](0.0, 2.0, -1.0, -2.0, 1.0, 0.0), float[6](0.0, 4.0, 0.0, -5.0, 0.0, 1.0));
const float AT[4][6] = float[4][6](float[6](1.0, 1.0, 1.0, 1.0, 1.0, 0.0), float[6](0.0, 1.0, -1.0, 2.0, -2.0, 0.0),
                                   float[6](0.0, 1.0, 1.0, 4.0, 4.0, 0.0), float[6](0.0, 1.0, -1.0, 8.0, -8.0, 1.0));
#endif

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint e = gl_GlobalInvocationID.x; e < p.count; e += stride) {
#if STAGE == 0
        uint m = e % p.M4, c = e / p.M4;
        float g[3][3], u[A][3];
        for (uint i = 0; i < 3u; ++i)
            for (uint j = 0; j < 3u; ++j) g[i][j] = c < p.C && m < p.M ? src[((m * p.C + c) * 3u + i) * 3u + j] : 0.0;
        for (uint i = 0; i < A; ++i)  // G g
            for (uint j = 0; j < 3u; ++j) u[i][j] = G[i][0] * g[0][j] + G[i][1] * g[1][j] + G[i][2] * g[2][j];
        for (uint i = 0; i < A; ++i)  // (G g) Gᵀ
            for (uint j = 0; j < A; ++j)
                dst[((i * A + j) * p.C4 + c) * p.M4 + m] = u[i][0] * G[j][0] + u[i][1] * G[j][1] + u[i][2] * G[j][2];
#elif STAGE == 1
        uint c = e % p.C4, t = (e / p.C4) % p.T, n = e / (p.C4 * p.T);
        int oy = int((t / p.TW) * TM) - int(p.padTop), ox = int((t % p.TW) * TM) - int(p.padLeft);
        bool live = c < p.C;
        float d[A][A], v[A][A];
        for (uint i = 0; i < A; ++i)
            for (uint j = 0; j < A; ++j) {
                int y = oy + int(i), x = ox + int(j);
                d[i][j] = live && y >= 0 && y < int(p.H) && x >= 0 && x < int(p.W) ? src[((n * p.C + c) * p.H + uint(y)) * p.W + uint(x)] : 0.0;
            }
        for (uint i = 0; i < A; ++i)  // Bᵀ d
            for (uint j = 0; j < A; ++j) {
                float s = 0.0;
                for (uint k = 0; k < A; ++k) s += BT[i][k] * d[k][j];
                v[i][j] = s;
            }
        for (uint i = 0; i < A; ++i)  // (Bᵀ d) B
            for (uint j = 0; j < A; ++j) {
                float s = 0.0;
                for (uint k = 0; k < A; ++k) s += v[i][k] * BT[j][k];
                dst[((n * A * A + i * A + j) * p.T + t) * p.C4 + c] = s;
            }
#else
        uint m = e % p.M, t = (e / p.M) % p.T, n = e / (p.M * p.T);
        float q[A][A], a[TM][A];
        for (uint i = 0; i < A; ++i)
            for (uint j = 0; j < A; ++j) q[i][j] = src[((n * A * A + i * A + j) * p.T + t) * p.M + m];
        for (uint i = 0; i < TM; ++i)  // Aᵀ P
            for (uint j = 0; j < A; ++j) {
                float s = 0.0;
                for (uint k = 0; k < A; ++k) s += AT[i][k] * q[k][j];
                a[i][j] = s;
            }
        uint oy = (t / p.TW) * TM, ox = (t % p.TW) * TM;
        for (uint i = 0; i < TM; ++i)  // (Aᵀ P) A
            for (uint j = 0; j < TM; ++j) {
                if (oy + i >= p.OH || ox + j >= p.OW) continue;
                float v = 0.0;
                for (uint k = 0; k < A; ++k) v += a[i][k] * AT[j][k];
                uint at = ((n * p.M + m) * p.OH + oy + i) * p.OW + ox + j;
#if HAS_BIAS
                v += bias[m];
#endif
#if HAS_Z
                v += z[at];
#endif
                dst[at] = activate(v, p.actAlpha, p.actBeta);
            }
#endif
    }
}
