#version 450
// Unique over the n items of x as [outer, n, inner] (an item: the outer·inner elements at one
// index of the middle axis, compared in row-major order, the first that differ deciding;
// without an axis outer = inner = 1), in three passes (PASS 0, 1, 2) of an invocation per item i.
// PASS 0: first[i], the lowest index of an item equal to item i.
// PASS 1: each first occurrence (first[i] = i) numbers its group g: with SORTED, how many first
// occurrences are less than it, else how many come before it; it writes group[i] = g, its
// index and its group's size (how many items have first = i) at g of indices and counts, and
// item 0 the number of groups to total[0].
// PASS 2: inverse[i] = group[first[i]]; each first occurrence writes its item at its group of
// y, [outer, total, inner] from the buffer's start. T is the element type as the device holds it.
layout(local_size_x_id = 0) in;
#include "words.glsl"
layout(std430, binding = 0) readonly buffer X { T x[]; };
layout(std430, binding = 1) buffer Scratch { uint scratch[]; };  // first[i] at i, group[i] at n + i
layout(std430, binding = 2) writeonly buffer Y { T y[]; };
layout(std430, binding = 3) writeonly buffer Indices { int indices[]; };
layout(std430, binding = 4) writeonly buffer Inverse { int inverse[]; };
layout(std430, binding = 5) writeonly buffer Counts { int counts[]; };
layout(std430, binding = 6) buffer Total { uint total[]; };
layout(push_constant) uniform Params { uint n; uint outer; uint inner; } p;

// -1, 0 or 1 as item i is less than, equal to or greater than item j (as the CPU compares:
// a NaN element is unequal to and greater than all).
int compare(uint i, uint j) {
    for (uint o = 0; o < p.outer; ++o) {
        uint a = (o * p.n + i) * p.inner, b = (o * p.n + j) * p.inner;
        for (uint e = 0; e < p.inner; ++e) {
            T u = x[a + e], v = x[b + e];
            if (u != v) return u < v ? -1 : 1;
        }
    }
    return 0;
}

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
#if PASS == 0
        uint first = i;
        for (uint j = 0; j < i; ++j) {
            if (compare(j, i) == 0) { first = j; break; }
        }
        scratch[i] = first;
#elif PASS == 1
        if (scratch[i] != i) continue;
        uint g = 0, size = 0, groups = 0;
        for (uint j = 0; j < p.n; ++j) {
            uint first = scratch[j];
            if (first == i) size++;
            if (first != j) continue;
            groups++;
#if SORTED
            if (compare(j, i) < 0) g++;
#else
            if (j < i) g++;
#endif
        }
        scratch[p.n + i] = g;
        STORE_INDEX(indices, g, int(i));
        STORE_INDEX(counts, g, int(size));
        if (i == 0) total[0] = groups;
#else
        uint first = scratch[i], g = scratch[p.n + first];
        STORE_INDEX(inverse, i, int(g));
        if (first != i) continue;
        uint groups = total[0];
        for (uint o = 0; o < p.outer; ++o) {
            for (uint e = 0; e < p.inner; ++e) y[(o * groups + g) * p.inner + e] = x[(o * p.n + i) * p.inner + e];
        }
#endif
    }
}
