#version 450
// NonMaxSuppression of boxes [B, N, 4] by scores [B, C, N], in three passes (PASS 0, 1, 2)
// over the bindings below; K = min(max_output_boxes_per_class, N) selections at most a class
// (bc = b·C + c).
// PASS 0, an invocation per score: a candidate (score above the threshold, when THRESHOLD)
// writes its index at order[bc·N + rank], its rank among its class's candidates (higher score
// first, equal scores by lower index; NaN above every number); order starts all -1.
// PASS 1, an invocation per class: greedy selection in that order, a candidate kept unless
// its IoU with a box kept before it is over the threshold (boxes of no area never suppress),
// up to K kept, to kept[bc·K ...] and their number to counts[bc].
// PASS 2, an invocation per slot (bc, j) of kept: the kept ones, classes in order, as rows
// (b, c, index) of selected; slot 0 also writes their total to total[0].
// CENTER: boxes are (x center, y center, width, height), else two corners in either order.
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer Boxes { float boxes[]; };
layout(std430, binding = 1) readonly buffer Scores { float scores[]; };
layout(std430, binding = 2) buffer Order { int order[]; };
layout(std430, binding = 3) buffer Kept { int kept[]; };
layout(std430, binding = 4) buffer Counts { uint counts[]; };
layout(std430, binding = 5) writeonly buffer Selected { int selected[]; };
layout(std430, binding = 6) writeonly buffer Total { uint total[]; };
layout(push_constant) uniform Params {
    uint count; uint classes; uint n; uint k; float iou; float scoreThreshold;
} p;

// Score a ranks ahead of score b (NaN above every number).
bool ahead(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && !isnan(b);
    return a > b;
}

// Box i of batch b as (x min, y min, x max, y max).
vec4 corners(uint b, int i) {
    uint o = (b * p.n + uint(i)) * 4;
    vec4 v = vec4(boxes[o], boxes[o + 1], boxes[o + 2], boxes[o + 3]);
#if CENTER
    return vec4(v.x - v.z / 2.0, v.y - v.w / 2.0, v.x + v.z / 2.0, v.y + v.w / 2.0);
#else
    return vec4(min(v.y, v.w), min(v.x, v.z), max(v.y, v.w), max(v.x, v.z));
#endif
}

bool suppresses(vec4 a, vec4 b) {
    float ix = min(a.z, b.z) - max(a.x, b.x), iy = min(a.w, b.w) - max(a.y, b.y);
    if (ix <= 0.0 || iy <= 0.0) return false;
    float inter = ix * iy, areaA = (a.z - a.x) * (a.w - a.y), areaB = (b.z - b.x) * (b.w - b.y);
    float union_ = areaA + areaB - inter;
    if (areaA <= 0.0 || areaB <= 0.0 || union_ <= 0.0) return false;
    return inter / union_ > p.iou;
}

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint g = gl_GlobalInvocationID.x; g < p.count; g += stride) {
#if PASS == 0
        uint bc = g / p.n, i = g % p.n, line = bc * p.n;
        float s = scores[g];
#if THRESHOLD
        if (!(s > p.scoreThreshold)) continue;
#endif
        uint rank = 0;
        for (uint q = 0; q < p.n; ++q) {
            float t = scores[line + q];
#if THRESHOLD
            if (!(t > p.scoreThreshold)) continue;
#endif
            if (ahead(t, s) || (q < i && !ahead(s, t))) rank++;
        }
        order[line + rank] = int(i);
#elif PASS == 1
        uint b = g / p.classes, made = 0;
        for (uint r = 0; r < p.n && made < p.k; ++r) {
            int i = order[g * p.n + r];
            if (i < 0) break;
            vec4 box = corners(b, i);
            bool keep = true;
            for (uint q = 0; q < made && keep; ++q) keep = !suppresses(box, corners(b, kept[g * p.k + q]));
            if (keep) kept[g * p.k + made++] = i;
        }
        counts[g] = made;
#else
        uint bc = g / p.k, j = g % p.k, before = 0;
        for (uint q = 0; q < bc; ++q) before += counts[q];
        if (g == 0) {
            uint all = before;
            for (uint q = bc; q < p.count / p.k; ++q) all += counts[q];
            total[0] = all;
        }
        if (j >= counts[bc]) continue;
        uint row = (before + j) * 3;
        STORE_INDEX(selected, row, int(bc / p.classes));
        STORE_INDEX(selected, row + 1, int(bc % p.classes));
        STORE_INDEX(selected, row + 2, kept[g]);
#endif
    }
}
