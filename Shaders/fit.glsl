// How a device word holds a narrow element type (see VulkanTensor): `fit` keeps a computed
// result of type R within the type it stands for, as the CPU kernel computing in that type
// would. FIT_BITS (8 or 16): wraps to that many bits, signed for int R, unsigned for uint.
// FIT_HALF: rounds to float16 (nearest even; past the largest finite value, infinity).
// FIT_BFLOAT: rounds to bfloat16 (nearest even). Neither: the value as it is.
#ifdef DOUBLE
// x rounded to an integer, half to even, by adding and taking away 2^52 (exact for |x| < 2^52;
// larger doubles are integers): lavapipe's roundEven and trunc of a double are not exact.
double roundEven64(double x) {
    precise double big = 4503599627370496.0LF, r = (abs(x) + big) - big;
    return !(abs(x) < big) ? x : x < 0.0LF ? -r : r;
}
// x rounded toward zero, from roundEven64.
double trunc64(double x) {
    double r = roundEven64(x);
    return abs(r) > abs(x) ? r - sign(x) : r;
}
#endif
#if defined(FIT_HALF) && defined(DOUBLE)
// A double rounded straight to float16, as `fit` rounds a float: once, not twice through float32.
double roundHalf64(double v) {
    if (isnan(v) || isinf(v)) return v;
    if (abs(v) >= 65520.0) return double(v < 0.0 ? uintBitsToFloat(0xff800000u) : uintBitsToFloat(0x7f800000u));
    int e;
    frexp(v, e);
    int q = max(e - 1, -14) - 10;
    return ldexp(roundEven64(ldexp(v, -q)), q);
}
#endif

R fit(R v) {
#if defined(FIT_BITS)
    return bitfieldExtract(v, 0, FIT_BITS);
#elif defined(FIT_HALF)
    if (isnan(v) || isinf(v)) return v;
    if (abs(v) >= 65520.0) return v < 0.0 ? uintBitsToFloat(0xff800000u) : uintBitsToFloat(0x7f800000u);
    int e;
    frexp(v, e);                    // |v| = f·2^e, f in [0.5, 1)
    int q = max(e - 1, -14) - 10;   // the exponent of v's float16 ulp (subnormals below 2^-14)
    return ldexp(roundEven(ldexp(v, -q)), q);
#elif defined(FIT_BFLOAT)
    if (isnan(v)) return v;
    uint b = floatBitsToUint(v);
    return uintBitsToFloat((b + 0x7fffu + ((b >> 16) & 1u)) & 0xffff0000u);
#else
    return v;
#endif
}
