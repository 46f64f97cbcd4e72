// Row loops shared by the shaders that reduce each row of a tensor (normalize, softmax,
// reduce): `for (uint r = ROW_FIRST; r < rows; r += ROW_STEP)` visits this invocation's rows,
// `for (uint j = LANE; j < len; j += LANES)` its part of a row, and rowSum/rowMax/rowMin/
// rowProd combine the parts into the row's total, the same in every lane.
//
// ROW_GROUP 0: one invocation a row (a grid-stride loop over rows; the parts are the row).
// ROW_GROUP 1: one workgroup a row (dispatched as a 2-D grid of at least one group a row; the
// local size a power of two): its lanes stride over the row and combine through shared
// memory, so no invocation loops more than len / local size times. That bound matters on
// lavapipe, whose compiler silently stops the loops of one invocation after 65,535 iterations.
// ROW_T is the type of the parts combined (float unless defined).
#ifndef ROW_T
#define ROW_T float
#endif
#if ROW_GROUP
#define ROW_FIRST (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x)
#define ROW_STEP (gl_NumWorkGroups.x * gl_NumWorkGroups.y)
#define LANE gl_LocalInvocationID.x
#define LANES gl_WorkGroupSize.x
shared ROW_T rowShared[gl_WorkGroupSize.x];
#define ROW_COMBINE(NAME, COMBINE) \
ROW_T NAME(ROW_T v) { \
    rowShared[LANE] = v; \
    barrier(); \
    for (uint s = LANES / 2u; s > 0u; s >>= 1u) { \
        if (LANE < s) rowShared[LANE] = COMBINE(rowShared[LANE], rowShared[LANE + s]); \
        barrier(); \
    } \
    ROW_T total = rowShared[0]; \
    barrier(); \
    return total; \
}
#else
#define ROW_FIRST gl_GlobalInvocationID.x
#define ROW_STEP (gl_NumWorkGroups.x * gl_WorkGroupSize.x)
#define LANE 0u
#define LANES 1u
#define ROW_COMBINE(NAME, COMBINE) ROW_T NAME(ROW_T v) { return v; }
#endif

ROW_T rowAdd(ROW_T a, ROW_T b) { return a + b; }
ROW_T rowMul(ROW_T a, ROW_T b) { return a * b; }
ROW_COMBINE(rowSum, rowAdd)
ROW_COMBINE(rowMax, max)
ROW_COMBINE(rowMin, min)
ROW_COMBINE(rowProd, rowMul)
