// Requantization as the CPU kernels compute it in float64: round-half-even(acc · multiplier)
// + zero, saturated to [LO, HI] of the 8-bit R. float32 rounds the product itself, which can
// move it across a .5 and round the other way: the product's rounding error, exact by
// Dekker's splitting (all `precise`, so nothing is fused or reordered), decides those cases.
// Exact while |acc| < 2^24.
R requantize(int acc, float multiplier, int zero) {
    precise float a = float(acc), ca = 4097.0 * a, ah = ca - (ca - a), al = a - ah;
    precise float cb = 4097.0 * multiplier, bh = cb - (cb - multiplier), bl = multiplier - bh;
    precise float product = a * multiplier;
    precise float lost = ((ah * bh - product) + ah * bl + al * bh) + al * bl;
    // product − r is exact and within ±0.5; only at ±0.5 (r even there) can `lost` move the
    // rounding, and it must be compared on its own: (product − r) + lost rounds back to 0.5
    // when lost is under half an ulp of 0.5 (acc 15 · multiplier 0.033333335 is 0.500000026).
    float r = roundEven(product);
    precise float past = product - r;
    if (past == 0.5 && lost > 0.0) r += 1.0;
    else if (past == -0.5 && lost < 0.0) r -= 1.0;
    r += float(zero);
    return isnan(r) || r <= float(LO) ? LO : r >= float(HI) ? HI : R(r);
}
