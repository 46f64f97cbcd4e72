// How kernels that move elements without computing on them see a device element (see
// VulkanTensor): WORD is one element, a uint, or with WIDE a uvec2 (an 8-byte int64, uint64 or
// float64, low word first); WORD_OF(lo, hi) makes one from two 32-bit words (hi unused when not
// WIDE), WORD_ZERO is all zero bits. Index tensors (int32 or int64) are bound as `int buf[]`:
// INDEX(buf, i) reads element i, with WIDE_INDEX (an 8-byte int64) its low word, exact for every
// index into a tensor a buffer holds and for negative ones counting from the end;
// STORE_INDEX(buf, i, v) writes the int v there, sign-extended to 64 bits with WIDE_INDEX.
#ifdef WIDE
#define WORD uvec2
#define WORD_OF(lo, hi) uvec2(lo, hi)
#define WORD_ZERO uvec2(0u)
#else
#define WORD uint
#define WORD_OF(lo, hi) (lo)
#define WORD_ZERO 0u
#endif
#ifdef WIDE_INDEX
#define INDEX(buf, i) buf[2u * (i)]
#define STORE_INDEX(buf, i, v) { int v_ = (v); buf[2u * (i)] = v_; buf[2u * (i) + 1u] = v_ >> 31; }
#else
#define INDEX(buf, i) buf[i]
#define STORE_INDEX(buf, i, v) { buf[i] = (v); }
#endif
