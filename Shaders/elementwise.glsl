// The elementwise ops, one function-like macro each: the one place their math is written.
// unary.comp and binary.comp compute the one their OP define names; a fused chain
// (Sources/VonnxVulkan/ElementwiseFusion.swift) generates a shader computing several.
// Unary macros take the value and the op's alpha and beta (see unary.comp), binary ones the
// two operands, OP_WHERE the condition and the two values. T is the operand type (float,
// int, or uint for bool and unsigned types; INT defined for integer types, SIGNED for signed
// ones; FIT_BITS for narrow ones; DOUBLE for float64); a bool result is a uint 0 or 1. Needs
// activation.glsl and fit.glsl.
#ifndef WIDTH  // the bits of an integer T (64 defined for a wide one)
#ifdef FIT_BITS
#define WIDTH FIT_BITS
#else
#define WIDTH 32
#endif
#endif

#define OP_RELU(v, a, b) ((v) < 0.0 ? 0.0 : (v))
#define OP_LEAKY_RELU(v, a, b) ((v) < 0.0 ? (a) * (v) : (v))
#define OP_SIGMOID(v, a, b) sigmoid(v)
#define OP_TANH(v, a, b) tanh_(v)
#ifdef DOUBLE  // GLSL has no double exp or log
#define OP_EXP(v, a, b) exp64(v)
#define OP_LOG(v, a, b) log64(v)
#else
#define OP_EXP(v, a, b) exp(v)
#define OP_LOG(v, a, b) log(v)
#endif
#define OP_ABS(v, a, b) abs(v)
#define OP_NEG(v, a, b) (-(v))
#define OP_SQRT(v, a, b) sqrt(v)
#define OP_RECIPROCAL(v, a, b) (1.0 / (v))
#define OP_FLOOR(v, a, b) floor(v)
#define OP_CEIL(v, a, b) ceil(v)
#define OP_ELU(v, a, b) ((v) < 0.0 ? (a) * (exp(v) - 1.0) : (v))
#define OP_SELU(v, a, b) ((v) <= 0.0 ? (b) * (a) * (exp(v) - 1.0) : (b) * (v))
#define OP_HARD_SIGMOID(v, a, b) clamp((a) * (v) + (b), 0.0, 1.0)
#define OP_CLIP(v, a, b) ((v) != (v) ? (v) : min(max(v, a), b))
#define OP_SOFTPLUS(v, a, b) softplus(v)
#define OP_HARD_SWISH(v, a, b) ((v) * clamp((v) / 6.0 + 0.5, 0.0, 1.0))
#define OP_SIN(v, a, b) sin(v)
#define OP_COS(v, a, b) cos(v)
#define OP_TAN(v, a, b) tan(v)
// atan forms: more precise than asin and acos on some drivers (lavapipe)
#define OP_ASIN(v, a, b) atan(v, sqrt(1.0 - (v) * (v)))
#define OP_ACOS(v, a, b) atan(sqrt(1.0 - (v) * (v)), v)
#define OP_ATAN(v, a, b) atan(v)
#define OP_SINH(v, a, b) (0.5 * (exp(v) - exp(-(v))))
#define OP_COSH(v, a, b) (0.5 * (exp(v) + exp(-(v))))
#define OP_ASINH(v, a, b) (sign(v) * log(abs(v) + sqrt((v) * (v) + 1.0)))
#define OP_ACOSH(v, a, b) log((v) + sqrt((v) * (v) - 1.0))
#define OP_ATANH(v, a, b) (0.5 * log((1.0 + (v)) / (1.0 - (v))))
#define OP_ERF(v, a, b) erf_(v)
#define OP_SIGN(v, a, b) ((v) != (v) ? (v) : sign(v))  // NaN stays NaN
#define OP_ROUND(v, a, b) roundEven(v)
#define OP_SOFTSIGN(v, a, b) ((v) / (1.0 + abs(v)))
#define OP_MISH(v, a, b) ((v) * tanh_(softplus(v)))
#define OP_SWISH(v, a, b) ((v) * sigmoid((a) * (v)))
#define OP_GELU(v, a, b) gelu(v)
#define OP_GELU_TANH(v, a, b) geluTanh(v)
#define OP_CELU(v, a, b) (max(0.0, v) + min(0.0, (a) * (exp((v) / (a)) - 1.0)))
#define OP_THRESHOLDED_RELU(v, a, b) ((v) > (a) ? (v) : 0.0)
#define OP_NOT(v, a, b) (1u - (v))
#define OP_ISNAN(v, a, b) uint(isnan(v))
#define OP_ISINF(v, a, b) uint(isinf(v) && (((v) > 0.0 && (a) != 0.0) || ((v) < 0.0 && (b) != 0.0)))
#define OP_SHRINK(v, a, b) ((v) < -(b) ? (v) + (a) : (v) > (b) ? (v) - (a) : 0.0)
#define OP_BITWISE_NOT(v, a, b) (~(v))

#define OP_ADD(u, v) ((u) + (v))
#define OP_SUB(u, v) ((u) - (v))
#define OP_MUL(u, v) ((u) * (v))
#ifdef INT
#define OP_DIV(u, v) quotient(u, v)
#else
#define OP_DIV(u, v) ((u) / (v))
#endif
// GLSL's min and max may drop a NaN operand; these keep it, as the CPU does.
#define OP_MAX(u, v) ((u) != (u) ? (u) : (v) != (v) ? (v) : max(u, v))
#define OP_MIN(u, v) ((u) != (u) ? (u) : (v) != (v) ? (v) : min(u, v))
#ifdef INT
#define OP_POW(u, v) T(nearInteger(power(float(u), float(v))))
#else
#define OP_POW(u, v) T(power(float(u), float(v)))
#endif
#define OP_PRELU(u, v) ((u) < 0.0 ? (u) * (v) : (u))
#define OP_EQUAL(u, v) uint((u) == (v))
#define OP_LESS(u, v) uint((u) < (v))
#define OP_GREATER(u, v) uint((u) > (v))
#define OP_LESS_EQUAL(u, v) uint((u) <= (v))
#define OP_GREATER_EQUAL(u, v) uint((u) >= (v))
#define OP_AND(u, v) ((u) & (v))
#define OP_OR(u, v) ((u) | (v))
#define OP_XOR(u, v) ((u) ^ (v))
#define OP_MOD(u, v) remainder(u, v, true)
#define OP_FMOD(u, v) remainder(u, v, false)
#define OP_SHIFT_LEFT(u, v) ((v) >= WIDTH ? T(0) : (u) << (v))
#define OP_SHIFT_RIGHT(u, v) ((v) >= WIDTH ? T(0) : (u) >> (v))

#define OP_WHERE(c, u, v) ((c) != 0u ? (u) : (v))

// r, or the integer it is within float rounding of: an integer power that float32 pow misses
// by an ulp (5² as 24.999998) truncates to what the CPU's float64 pow gives.
float nearInteger(float r) {
    float n = round(r);
    return abs(r - n) <= 4e-7 * abs(n) ? n : r;
}

float power(float x, float e) {
    if (e == 0.0) return 1.0;
    if (x == 0.0) return e > 0.0 ? 0.0 : uintBitsToFloat(0x7f800000u);
    if (x > 0.0) return pow(x, e);
    if (e != floor(e)) return uintBitsToFloat(0x7fc00000u);
    float r = pow(-x, e);
    return mod(e, 2.0) == 1.0 ? -r : r;
}

#ifdef INT
// Integer division as the CPU does it: by zero gives 0, and (SIGNED) the one overflowing
// quotient, of the smallest value by -1, wraps.
T quotient(T u, T v) {
    if (v == T(0)) return T(0);
#ifdef SIGNED
    if (v == -1) return -u;
#endif
    return u / v;
}
#endif

#ifdef DOUBLE
// e^x to about an ulp: x = n·ln 2 + r with |r| ≤ ln 2 / 2 (Cody and Waite's two-part ln 2,
// whose high part times n is exact), e^r by its Taylor series to r^13 / 13! (below 2^-53 of
// it), scaled by 2^n in two steps so that neither factor overflows before the product does.
double exp64(double x) {
    if (isnan(x)) return x;
    if (x > 709.8LF) return double(uintBitsToFloat(0x7f800000u));
    if (x < -745.2LF) return 0.0LF;
    double n = roundEven(x * 1.4426950408889634LF);
    double r = (x - n * 6.93147180369123816490e-01LF) - n * 1.90821492927058770002e-10LF;
    const double c[12] = double[](1.6059043836821613e-10LF, 2.08767569878681e-09LF, 2.505210838544172e-08LF,
        2.755731922398589e-07LF, 2.7557319223985893e-06LF, 2.48015873015873e-05LF, 0.0001984126984126984LF,
        0.001388888888888889LF, 0.008333333333333333LF, 0.041666666666666664LF, 0.16666666666666666LF, 0.5LF);  // 1/13! … 1/2!
    double s = c[0];
    for (int k = 1; k < 12; k++) s = s * r + c[k];
    s = (s * r + 1.0LF) * r + 1.0LF;
    int e = int(n);
    return ldexp(ldexp(s, e / 2), e - e / 2);
}

// ln x to about an ulp: x = m·2^e with m in [√½, √2), ln m = 2·atanh(f) with f = (m − 1) /
// (m + 1), |f| ≤ 0.172, by its series to f^19 / 19 (below 2^-53 of it); e·ln 2 in two parts.
double log64(double x) {
    if (isnan(x) || x < 0.0LF) return double(uintBitsToFloat(0x7fc00000u));
    if (x == 0.0LF) return double(uintBitsToFloat(0xff800000u));
    if (isinf(x)) return x;
    int e;
    double m = frexp(x, e);
    if (m < 0.70710678118654752LF) { m *= 2.0LF; e -= 1; }
    const double c[9] = double[](0.05263157894736842LF, 0.058823529411764705LF, 0.06666666666666667LF, 0.07692307692307693LF,
        0.09090909090909091LF, 0.1111111111111111LF, 0.14285714285714285LF, 0.2LF, 0.3333333333333333LF);  // 1/19 … 1/3
    double f = (m - 1.0LF) / (m + 1.0LF), f2 = f * f, s = c[0];
    for (int k = 1; k < 9; k++) s = s * f2 + c[k];
    s = s * f2 + 1.0LF;
    return double(e) * 6.93147180369123816490e-01LF + (2.0LF * f * s + double(e) * 1.90821492927058770002e-10LF);
}
#endif

// The remainder with the dividend's sign (C fmod); `floored` gives it the divisor's (Python %).
// An integer one truncates its quotient, and a zero divisor gives 0 as on the CPU; a float64
// one is computed in double (Dekker's splitter 2^27 + 1), needing fit.glsl's trunc64.
T remainder(T u, T v, bool floored) {
#ifdef INT
    if (v == T(0)) return T(0);
    T r = u - v * quotient(u, v);
    if (floored && r != T(0) && ((r < T(0)) != (v < T(0)))) r += v;
    return r;
#else
    // Exact (C fmod): q·v is p + e exactly (Dekker's product; lavapipe's fma is not fused),
    // u - p is exact (Sterbenz) and so is r, representable. Only u / v may have rounded the
    // quotient past an integer, which the sign and size of r then show and one step corrects.
#ifdef DOUBLE
    precise double fu = u, fv = v;
    precise double q = trunc64(fu / fv), p = q * fv;
    precise double c = 134217729.0LF * q, qh = c - (c - q), ql = q - qh;
    precise double d = 134217729.0LF * fv, vh = d - (d - fv), vl = fv - vh;
    precise double e = ((qh * vh - p) + qh * vl + ql * vh) + ql * vl;
    precise double r = (fu - p) - e;
#else
    precise float fu = float(u), fv = float(v);
    precise float q = trunc(fu / fv), p = q * fv;
    precise float c = 4097.0 * q, qh = c - (c - q), ql = q - qh;
    precise float d = 4097.0 * fv, vh = d - (d - fv), vl = fv - vh;
    precise float e = ((qh * vh - p) + qh * vl + ql * vh) + ql * vl;
    precise float r = (fu - p) - e;
#endif
    if (r != 0.0 && (r < 0.0) != (fu < 0.0)) r += fu < 0.0 ? -abs(fv) : abs(fv);
    else if (abs(r) >= abs(fv)) r -= fu < 0.0 ? -abs(fv) : abs(fv);
    if (floored && r != 0.0 && ((r < 0.0) != (fv < 0.0))) r += fv;
    return T(r);
#endif
}
