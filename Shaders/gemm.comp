#version 450
#if SHARE_A
#extension GL_KHR_shader_subgroup_ballot : require
#endif
// Batched Y[b] = alpha * A[b] · B[b] (+ beta * C). op(A) is M×K read at
// A[aOff + i*sa0 + k*sa1], op(B) K×N at B[bOff + k*sb0 + j*sb1] (transposes are strides);
// batch offsets come from up to 4 broadcast batch dims (workgroup z); C is read at
// C[i*sc0 + j*sc1] (strides 0 broadcast it). HAS_Z adds the residual Z (Y's shape), then ACT
// applies the fused activation (activation.glsl; a fused 1×1 convolution's or Gemm's epilogue).
//
// Two variants (see KernelVariants.swift):
// - TILED: a TILE×TILE workgroup stages TILE-wide K steps of A and B in shared memory, one
//   output per invocation (specialization constants 0 and 1 must equal TILE); for GPUs.
// - otherwise: no shared memory; a workgroup of gl_WorkGroupSize.x invocations computes TM rows
//   (the same for all of them) and each invocation TN columns, TM×TN sums in registers. TM = 1
//   is the GEMV path. VEC4 picks the loads: 0 scalar, TN columns strided by the workgroup
//   width; 1 (A's rows and B's rows contiguous, TN a multiple of 4) vec4 loads along K of A and
//   along N of B, TN adjacent columns (TN / 4 vec4s of each of B's rows); 2 (A's and B's rows
//   along K contiguous, B transposed) vec4 loads along K of both, TN strided columns. With VEC4, sizes, strides and offsets along the
//   vec4 axes are multiples of 4, except N with VEC4 1 when B's rows are padded to one (the
//   host checks).
//   SHARE_A (with VEC4 1 and TM = 8, a workgroup within one subgroup of at least 8): invocation
//   i of the subgroup loads row i's vec4 of A and the others take it by subgroup broadcast,
//   where every invocation would load all TM rows itself. For CPU devices (lavapipe), where a
//   load costs a scalar loop over the lanes and a broadcast one register shuffle.
layout(local_size_x_id = 0, local_size_y_id = 1) in;
// A_HALF, B_HALF (defined or not): that operand is float16 pairs (half.glsl), read through
// LOAD_A/LOAD_B (scalar) and LOAD_A4/LOAD_B4 (vec4 index).
#include "half.glsl"
#ifdef A_HALF
layout(std430, binding = 0) readonly buffer A { uint a[]; };
#define LOAD_A(i) HALF(a, i)
#define LOAD_A4(i) HALF4(a, i)
#elif VEC4
layout(std430, binding = 0) readonly buffer A { vec4 a[]; };
#define LOAD_A4(i) a[i]
#else
layout(std430, binding = 0) readonly buffer A { float a[]; };
#define LOAD_A(i) a[i]
#endif
#ifdef B_HALF
layout(std430, binding = 1) readonly buffer B { uint b[]; };
#define LOAD_B(i) HALF(b, i)
#define LOAD_B4(i) HALF4(b, i)
#elif VEC4
layout(std430, binding = 1) readonly buffer B { vec4 b[]; };
#define LOAD_B4(i) b[i]
#else
layout(std430, binding = 1) readonly buffer B { float b[]; };
#define LOAD_B(i) b[i]
#endif
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#if HAS_C
layout(std430, binding = 3) readonly buffer Cb { float c[]; };
#endif
#if HAS_Z
layout(std430, binding = 3 + HAS_C) readonly buffer Z { float z[]; };
#endif
layout(push_constant) uniform Params {
    uint M; uint N; uint K; uint batchRank;
    uint sa0; uint sa1; uint sb0; uint sb1; uint sc0; uint sc1;
    float alpha; float beta;
    uint batchShape[4]; uint batchA[4]; uint batchB[4];
    float actAlpha; float actBeta;
} p;

#include "activation.glsl"

void store(uint batch, uint row, uint col, float acc) {
    float v = p.alpha * acc;
#if HAS_C
    v += p.beta * c[row * p.sc0 + col * p.sc1];
#endif
    uint at = (batch * p.M + row) * p.N + col;
#if HAS_Z
    v += z[at];
#endif
    y[at] = activate(v, p.actAlpha, p.actBeta);
}

#if TILED
shared float tileA[TILE][TILE];
shared float tileB[TILE][TILE];
#endif

void main() {
    uint batch = gl_WorkGroupID.z, rem = batch, aOff = 0, bOff = 0;
    for (int d = int(p.batchRank) - 1; d >= 0; --d) {
        uint i = rem % p.batchShape[d];
        rem /= p.batchShape[d];
        aOff += i * p.batchA[d];
        bOff += i * p.batchB[d];
    }
#if TILED
    uint lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y;
    uint col = gl_WorkGroupID.x * TILE + lx, row = gl_WorkGroupID.y * TILE + ly;
    float acc = 0.0;
    for (uint t = 0; t < p.K; t += TILE) {
        uint ka = t + lx, kb = t + ly;
        tileA[ly][lx] = (row < p.M && ka < p.K) ? LOAD_A(aOff + row * p.sa0 + ka * p.sa1) : 0.0;
        tileB[ly][lx] = (kb < p.K && col < p.N) ? LOAD_B(bOff + kb * p.sb0 + col * p.sb1) : 0.0;
        barrier();
        for (uint k = 0; k < TILE; ++k) acc += tileA[ly][k] * tileB[k][lx];
        barrier();
    }
    if (row < p.M && col < p.N) store(batch, row, col, acc);
#else
    uint width = gl_WorkGroupSize.x;
    uint row0 = gl_WorkGroupID.y * TM, lx = gl_LocalInvocationID.x;
#if VEC4 == 1
    uint col0 = (gl_WorkGroupID.x * width + lx) * TN, colStep = 1;
#else
    uint col0 = gl_WorkGroupID.x * width * TN + lx, colStep = width;
#endif
    // Rows and columns past the end are computed on the last one and not written.
    uint aRow[TM];
    for (uint i = 0; i < TM; ++i) aRow[i] = aOff + min(row0 + i, p.M - 1) * p.sa0;
    float acc[TM][TN];
    for (uint i = 0; i < TM; ++i)
        for (uint j = 0; j < TN; ++j) acc[i][j] = 0.0;
#if VEC4 == 1
#if TN % 4 != 0
#error VEC4 1 takes TN a multiple of 4
#endif
    // B's rows hold N columns, or more when padded to a multiple of 4 (the host checks)
    uint bCol[TN / 4], bRow = p.sb0 / 4;
    for (uint q = 0; q < TN / 4; ++q) bCol[q] = (bOff + min(col0 + 4 * q, (p.N + 3) / 4 * 4 - 4)) / 4;
#if SHARE_A
    uint aMine = aRow[min(gl_SubgroupInvocationID, TM - 1)] / 4;
#endif
    // adds row i's vec4 a of A times this K step's 4 rows of B to row i's sums
#define ACCUMULATE(i, a) { vec4 av = a; \
        for (uint q = 0; q < TN / 4; ++q) { \
            vec4 sum = av.x * bv[q][0] + av.y * bv[q][1] + av.z * bv[q][2] + av.w * bv[q][3]; \
            for (uint j = 0; j < 4; ++j) acc[i][4 * q + j] += sum[j]; } }
    for (uint k = 0; k < p.K / 4; ++k) {
        vec4 bv[TN / 4][4];
        for (uint q = 0; q < TN / 4; ++q)
            for (uint r = 0; r < 4; ++r) bv[q][r] = LOAD_B4(bCol[q] + (4 * k + r) * bRow);
#if SHARE_A
#if TM != 8
#error SHARE_A takes TM = 8
#endif
        vec4 mine = LOAD_A4(aMine + k);
        // (subgroupBroadcast takes a constant invocation: the rows spelled out)
#define ROW(i) ACCUMULATE(i, subgroupBroadcast(mine, i))
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
#else
        for (uint i = 0; i < TM; ++i) ACCUMULATE(i, LOAD_A4(aRow[i] / 4 + k))
#endif
    }
#else
    uint bCol[TN];
    for (uint j = 0; j < TN; ++j) bCol[j] = bOff + min(col0 + j * colStep, p.N - 1) * p.sb1;
#if VEC4 == 2
    for (uint k = 0; k < p.K / 4; ++k) {
        vec4 bv[TN];
        for (uint j = 0; j < TN; ++j) bv[j] = LOAD_B4(bCol[j] / 4 + k);
        for (uint i = 0; i < TM; ++i) {
            vec4 av = LOAD_A4(aRow[i] / 4 + k);
            for (uint j = 0; j < TN; ++j) acc[i][j] += dot(av, bv[j]);
        }
    }
#else
    for (uint k = 0; k < p.K; ++k) {
        float bv[TN];
        for (uint j = 0; j < TN; ++j) bv[j] = LOAD_B(bCol[j] + k * p.sb0);
        for (uint i = 0; i < TM; ++i) {
            float av = LOAD_A(aRow[i] + k * p.sa1);
            for (uint j = 0; j < TN; ++j) acc[i][j] += av * bv[j];
        }
    }
#endif
#endif
    for (uint i = 0; i < TM && row0 + i < p.M; ++i)
        for (uint j = 0; j < TN && col0 + j * colStep < p.N; ++j) store(batch, row0 + i, col0 + j * colStep, acc[i][j]);
#endif
}
