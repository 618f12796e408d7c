/* Fixed-point requantization helpers with TFLM's exact semantics (quantization_util.cc,
 * common.h: QuantizeMultiplier, MultiplyByQuantizedMultiplier with double rounding,
 * CalculateActivationRangeQuantized). No libm: frexp/round are done by exact scaling. */
#include "ekrt_internal.h"

/* frexp for finite, non-zero x: x = f * 2^e with 0.5 <= |f| < 1. Scaling by 2 is exact. */
static double frexp_exact(double x, int32_t *e)
{
    double a = x < 0 ? -x : x;
    int32_t ex = 0;
    while (a >= 1.0) {
        a *= 0.5;
        ex++;
    }
    while (a < 0.5) {
        a *= 2.0;
        ex--;
    }
    *e = ex;
    return x < 0 ? -a : a;
}

void ekrt_quantize_multiplier(double m, int32_t *qm, int32_t *shift)
{
    double q;
    int64_t q_fixed;
    int32_t e;
    /* callers pass finite values (scales are validated > 0 and finite at init) */
    if (m == 0.0 || !(m == m) || m > 1e300 || m < -1e300) {
        *qm = 0;
        *shift = 0;
        return;
    }
    q = frexp_exact(m, &e);
    /* round(q * 2^31), half away from zero; |q * 2^31| < 2^31 so +-0.5 is exact */
    q *= 2147483648.0;
    q_fixed = q >= 0 ? (int64_t)(q + 0.5) : -(int64_t)(-q + 0.5);
    if (q_fixed == ((int64_t)1 << 31)) {
        q_fixed /= 2;
        e++;
    }
    if (e < -31) {
        e = 0;
        q_fixed = 0;
    }
    *qm = (int32_t)q_fixed;
    *shift = e;
}

int32_t ekrt_round_f32(float x)
{
    double d = (double)x;
    double r;
    if (!(d == d)) {
        return 0;
    }
    if (d >= 2147483647.0) {
        return INT32_MAX;
    }
    if (d <= -2147483648.0) {
        return INT32_MIN;
    }
    /* d is a float, so d +- 0.5 is exact in double; truncation then gives std::round */
    r = d >= 0 ? d + 0.5 : d - 0.5;
    return (int32_t)(int64_t)r;
}

int ekrt_act_range_s8(int32_t act, float scale, int32_t zp, int32_t *mn, int32_t *mx)
{
    const int32_t qmin = -128, qmax = 127;
    int32_t lo = qmin, hi = qmax, q;
    switch (act) {
    case EKRT_ACT_NONE:
        break;
    case EKRT_ACT_RELU:
        q = zp + ekrt_round_f32(0.0f / scale);
        lo = q > qmin ? q : qmin;
        break;
    case EKRT_ACT_RELU6:
        q = zp + ekrt_round_f32(0.0f / scale);
        lo = q > qmin ? q : qmin;
        q = zp + ekrt_round_f32(6.0f / scale);
        hi = q < qmax ? q : qmax;
        break;
    case EKRT_ACT_RELU_N1_TO_1:
        q = zp + ekrt_round_f32(-1.0f / scale);
        lo = q > qmin ? q : qmin;
        q = zp + ekrt_round_f32(1.0f / scale);
        hi = q < qmax ? q : qmax;
        break;
    default:
        return -1;
    }
    *mn = lo;
    *mx = hi;
    return 0;
}
