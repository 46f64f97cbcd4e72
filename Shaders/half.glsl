// Float16 operands (SessionOptions.precision .fp16): float32 values rounded to float16 and
// packed in pairs into uint words by pack_half.comp (packHalf2x16: element 2i in the low half
// of word i, 2i + 1 in the high half). A kernel binds such an operand as `uint name[]` and
// reads it here, converting to float32 (its sums stay float32).
// HALF(h, i): element i. HALF4(h, i): elements 4i to 4i + 3 (the vec4 at vec4 index i).
#define HALF(h, i) unpackHalf2x16((h)[(i) >> 1] >> (((i) & 1u) << 4)).x
#define HALF4(h, i) vec4(unpackHalf2x16((h)[2u * (i)]), unpackHalf2x16((h)[2u * (i) + 1u]))
