/* SOFTMAX int8 -> int8 (TFLM reference_ops::Softmax, quantized): gemmlowp fixed-point
 * exp on the beta-scaled differences to the row max (5 integer bits), sum with 12 integer
 * bits, fixed-point reciprocal, output scale 1/256 and zero point -128. */
#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include "ekrt_internal.h"

/* gemmlowp fixed-point helpers on raw int32 values. SaturatingRoundingDoublingHighMul:
 * floor((a b + 2^30) / 2^31) equals TFLM's truncating (a b + nudge) / 2^31 for both signs
 * (see ekrt_mbqm_fast), one 64-bit multiply-add and a shift; the one saturating case apart. */
static inline int32_t fp_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

static int32_t sat_shl(int32_t x, int32_t e) /* SaturatingRoundingMultiplyByPOT, e > 0 */
{
    const int32_t threshold = (int32_t)((1u << (31 - e)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << e);
}

/* exp(x) for x in [-1/4, 0), x and result with 0 integer bits */
static int32_t exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668; /* exp(-1/8) */
    const int32_t one_third = 715827883;
    const int32_t x = ekrt_wadd(a, 1 << 28); /* a + 1/8 */
    const int32_t x2 = fp_mul(x, x);
    const int32_t x3 = fp_mul(x2, x);
    const int32_t x4 = fp_mul(x2, x2);
    const int32_t x4_over_4 = ekrt_rdbpot(x4, 2);
    const int32_t poly = ekrt_rdbpot(ekrt_wadd(fp_mul(ekrt_wadd(x4_over_4, x3), one_third), x2), 1);
    return ekrt_wadd(constant_term, fp_mul(constant_term, ekrt_wadd(x, poly)));
}

/* exp(a) for a <= 0 with 5 integer bits (26 fractional); result with 0 integer bits */
static int32_t exp_neg(int32_t a)
{
    static const int32_t mult[7] = {1672461947, 1302514674, 790015084, 290630308,
                                    39332535,   720401,     242};
    const int32_t one_quarter = 1 << 24;
    const int32_t a_mod = ekrt_wadd(a & ((1 << 24) - 1), -one_quarter);
    int32_t result = exp_quarter(sat_shl(a_mod, 5)); /* Rescale<0> from 5 integer bits */
    const int32_t remainder = ekrt_wadd(a_mod, (int32_t)(0u - (uint32_t)a));
    int32_t k;
    for (k = 0; k < 7; ++k) {
        if (remainder & (1 << (24 + k))) {
            result = fp_mul(result, mult[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), 0 integer bits in and out (Newton-Raphson, 2 integer bits) */
static int32_t one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_den = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = ekrt_wadd(1515870810, fp_mul(half_den, -1010580540));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t hdx = fp_mul(half_den, x);
        const int32_t one_minus = ekrt_wadd(1 << 29, -hdx);
        x = ekrt_wadd(x, sat_shl(fp_mul(x, one_minus), 2));
    }
    return sat_shl(x >= 0 ? (x >> 1) : ~((~x) >> 1), 2);
}

static int32_t clz32(uint32_t x)
{
    int32_t n = 0;
    if (x == 0) {
        return 32;
    }
    while ((x & 0x80000000u) == 0) {
        x <<= 1;
        n++;
    }
    return n;
}

void ekrt_softmax_s8(const ekrt_softmax_params_t *p, uint32_t rows, uint32_t depth,
                     const int8_t *in, int8_t *out)
{
    uint32_t r, c;
    for (r = 0; r < rows; ++r) {
        const int8_t *x = in + r * depth;
        int8_t *y = out + r * depth;
        int32_t max_in = -128, sum = 0, headroom, bits_over_unit, scale;
        for (c = 0; c < depth; ++c) {
            max_in = x[c] > max_in ? x[c] : max_in;
        }
        for (c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in;
            if (diff >= p->diff_min) {
                const int32_t scaled = fp_mul(diff * (1 << p->left_shift), p->mult);
                sum = ekrt_wadd(sum, ekrt_rdbpot(exp_neg(scaled), 12)); /* Rescale<12> */
            }
        }
        headroom = clz32((uint32_t)sum);
        bits_over_unit = 12 - headroom;
        scale = one_over_one_plus_x((int32_t)(((uint32_t)sum << (headroom & 31)) - 0x80000000u));
        for (c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in;
            if (diff >= p->diff_min) {
                const int32_t scaled = fp_mul(diff * (1 << p->left_shift), p->mult);
                const int32_t e = exp_neg(scaled);
                const int32_t v = ekrt_rdbpot(fp_mul(scale, e), bits_over_unit + 31 - 8) - 128;
                y[c] = (int8_t)ekrt_clamp(v, -128, 127);
            } else {
                y[c] = -128;
            }
        }
    }
}

/* SoftmaxPrepare for int8: PreprocessSoftmaxScaling with 5 integer bits, CalculateInputRadius */
int ekrt_prepare_softmax(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in)
{
    ekrt_softmax_params_t *p = &op->p.sm;
    const ekrt_tinfo_t *in, *out;
    uint32_t o, fpos;
    float beta = 0.0f;
    double real, radius;
    int32_t shift;
    if (ekrt_want_inputs(c, n_in, 1, 1)) {
        return -1;
    }
    if (ekrt_want(c, op->in[0], "input", EKRT_T_INT8, -1) ||
        ekrt_want(c, op->out, "output", EKRT_T_INT8, -1)) {
        return -1;
    }
    in = ekrt_tinfo(c, op->in[0]);
    out = ekrt_tinfo(c, op->out);
    if (in->ndim < 1 || ekrt_elem_count(in) != ekrt_elem_count(out)) {
        return ekrt_fail_op(c, "input and output shapes differ");
    }
    if (out->zero_point != -128 || out->scale != 1.0f / 256.0f) {
        return ekrt_fail_op(c, "int8 output must have scale 1/256 and zero point -128");
    }
    o = ekrt_opts_table(c, ot, EKRT_OPT_SOFTMAX);
    fpos = ekrt_fb_field(&c->fb, o, EKRT_SOFTMAX_BETA, 4);
    if (fpos) {
        beta = ekrt_fb_f32(&c->fb, fpos);
    }
    if (!(beta > 0.0f && beta < 1.0e6f)) {
        return ekrt_fail_op(c, "beta must be positive");
    }
    real = (double)beta * (double)in->scale * (double)(1 << (31 - 5));
    if (real > 2147483647.0) {
        real = 2147483647.0;
    }
    ekrt_quantize_multiplier(real, &p->mult, &shift);
    if (shift < 0 || shift > 30) {
        return ekrt_fail_op(c, "input scale too small for int8 softmax");
    }
    p->left_shift = shift;
    radius = 31.0 * (double)((int64_t)1 << 26) / (double)((int64_t)1 << shift);
    p->diff_min = -(int32_t)radius; /* floor of a positive value */
    p->depth = (uint32_t)in->dims[in->ndim - 1];
    p->rows = ekrt_elem_count(in) / p->depth;
    return 0;
}

void ekrt_eval_softmax(const ekrt_t *rt, const ekrt_op_t *op)
{
    ekrt_softmax_s8(&op->p.sm, op->p.sm.rows, op->p.sm.depth, EKRT_IN(rt, op, 0), EKRT_OUT(rt, op));
}
