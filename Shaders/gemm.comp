#version 450
// Batched Y[b] = alpha * A[b] · B[b] (+ beta * C), tiled through shared memory. op(A) is
// M×K read at A[aOff + i*sa0 + k*sa1], op(B) K×N at B[bOff + k*sb0 + j*sb1] (transposes are
// strides); batch offsets come from up to 4 broadcast batch dims; C is read at
// C[i*sc0 + j*sc1] (strides 0 broadcast it); RELU 1 clamps the result at 0. The workgroup
// is TILE×TILE (specialization constants 0 and 1 must equal TILE).
layout(local_size_x_id = 0, local_size_y_id = 1) in;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#if HAS_C
layout(std430, binding = 3) readonly buffer Cb { float c[]; };
#endif
layout(push_constant) uniform Params {
    uint M; uint N; uint K; uint batchRank;
    uint sa0; uint sa1; uint sb0; uint sb1; uint sc0; uint sc1;
    float alpha; float beta;
    uint batchShape[4]; uint batchA[4]; uint batchB[4];
} p;

shared float tileA[TILE][TILE];
shared float tileB[TILE][TILE];

void main() {
    uint lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y;
    uint col = gl_WorkGroupID.x * TILE + lx, row = gl_WorkGroupID.y * TILE + ly, batch = gl_WorkGroupID.z;
    uint rem = batch, aOff = 0, bOff = 0;
    for (int d = int(p.batchRank) - 1; d >= 0; --d) {
        uint i = rem % p.batchShape[d];
        rem /= p.batchShape[d];
        aOff += i * p.batchA[d];
        bOff += i * p.batchB[d];
    }
    float acc = 0.0;
    for (uint t = 0; t < p.K; t += TILE) {
        uint ka = t + lx, kb = t + ly;
        tileA[ly][lx] = (row < p.M && ka < p.K) ? a[aOff + row * p.sa0 + ka * p.sa1] : 0.0;
        tileB[ly][lx] = (kb < p.K && col < p.N) ? b[bOff + kb * p.sb0 + col * p.sb1] : 0.0;
        barrier();
        for (uint k = 0; k < TILE; ++k) acc += tileA[ly][k] * tileB[k][lx];
        barrier();
    }
    if (row < p.M && col < p.N) {
        float v = p.alpha * acc;
#if HAS_C
        v += p.beta * c[row * p.sc0 + col * p.sc1];
#endif
#if RELU
        v = max(v, 0.0);
#endif
        y[(batch * p.M + row) * p.N + col] = v;
    }
}
