#version 450
// Normalizes each contiguous row of [rows, len]: y = (x - mean) / sqrt(var + eps) * scale + bias,
// and stores each row's mean and 1/sqrt(var + eps). Element j of row r takes scale and bias at
// ((r % period) * len + j) / div: LayerNormalization (period 1, div 1), InstanceNormalization
// (period C, div len), GroupNormalization (period groups, div spatial). With `rms` the mean is
// taken as 0 (RMSNormalization: var is the mean square). With STD_EPSILON the epsilon is added to
// the standard deviation instead: 1/(sqrt(var) + eps) (MeanVarianceNormalization). Rows as
// rows.glsl says (ROW_GROUP).
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer S { float scale[]; };
layout(std430, binding = 2) readonly buffer B { float bias[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(std430, binding = 4) writeonly buffer M { float meanOut[]; };
layout(std430, binding = 5) writeonly buffer D { float invStdOut[]; };
layout(push_constant) uniform Params { uint rows; uint len; uint period; uint div; float epsilon; uint hasBias; uint rms; } p;

#include "rows.glsl"

void main() {
    for (uint r = ROW_FIRST; r < p.rows; r += ROW_STEP) {
        uint base = r * p.len;
        float mean = 0.0;
        if (p.rms == 0u) {
            for (uint j = LANE; j < p.len; j += LANES) mean += x[base + j];
            mean = rowSum(mean) / float(p.len);
        }
        float var = 0.0;
        for (uint j = LANE; j < p.len; j += LANES) { float d = x[base + j] - mean; var += d * d; }
#if STD_EPSILON
        float inv = 1.0 / (sqrt(rowSum(var) / float(p.len)) + p.epsilon);
#else
        float inv = 1.0 / sqrt(rowSum(var) / float(p.len) + p.epsilon);
#endif
        if (LANE == 0u) {
            meanOut[r] = mean;
            invStdOut[r] = inv;
        }
        for (uint j = LANE; j < p.len; j += LANES) {
            uint c = ((r % p.period) * p.len + j) / p.div;
            y[base + j] = (x[base + j] - mean) * inv * scale[c] + (p.hasBias != 0u ? bias[c] : 0.0);
        }
    }
}
