/* ADD int8 with broadcasting (TFLM reference_integer_ops AddElementwise/BroadcastAdd6DSlow):
 * both inputs are shifted left by left_shift (20), scaled to a common scale, summed and
 * requantized to the output scale. */
#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include "ekrt_internal.h"

static int8_t add_one(const ekrt_add_params_t *p, int32_t a, int32_t b)
{
    const int32_t sa = (a + p->in1_offset) * (1 << p->left_shift);
    const int32_t sb = (b + p->in2_offset) * (1 << p->left_shift);
    const int32_t ra = ekrt_mbqm(sa, p->in1_mult, p->in1_shift);
    const int32_t rb = ekrt_mbqm(sb, p->in2_mult, p->in2_shift);
    return ekrt_requant_s8(ekrt_wadd(ra, rb), p->out_mult, p->out_shift, p->out_offset, p->act_min,
                           p->act_max);
}

void ekrt_add_s8(const ekrt_add_params_t *p, uint32_t ndim, const int32_t *out_dims,
                 const int32_t *s1, const int32_t *s2, const int8_t *in1, const int8_t *in2,
                 int8_t *out)
{
    int32_t idx[EKRT_MAX_DIMS] = {0};
    uint32_t total = 1, i, d;
    int32_t o1 = 0, o2 = 0;
    for (d = 0; d < ndim; ++d) {
        total *= (uint32_t)out_dims[d];
    }
    for (i = 0; i < total; ++i) {
        out[i] = add_one(p, in1[o1], in2[o2]);
        /* odometer increment of the output index, updating both input offsets */
        for (d = ndim; d-- > 0;) {
            idx[d]++;
            o1 += s1[d];
            o2 += s2[d];
            if (idx[d] < out_dims[d]) {
                break;
            }
            o1 -= s1[d] * idx[d];
            o2 -= s2[d] * idx[d];
            idx[d] = 0;
        }
    }
}

int ekrt_prepare_add(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in)
{
    ekrt_add_params_t *p = &op->p.add;
    const ekrt_tinfo_t *a, *b, *out;
    int32_t s[EKRT_MAX_DIMS], act;
    double twice_max;
    float smax;
    if (ekrt_want_inputs(c, n_in, 2, 2)) {
        return -1;
    }
    if (ekrt_want(c, op->in[0], "input", EKRT_T_INT8, -1) ||
        ekrt_want(c, op->in[1], "input", EKRT_T_INT8, -1) ||
        ekrt_want(c, op->out, "output", EKRT_T_INT8, -1)) {
        return -1;
    }
    a = ekrt_tinfo(c, op->in[0]);
    b = ekrt_tinfo(c, op->in[1]);
    out = ekrt_tinfo(c, op->out);
    if (ekrt_bcast_strides(a->ndim, a->dims, out->ndim, out->dims, s) ||
        ekrt_bcast_strides(b->ndim, b->dims, out->ndim, out->dims, s)) {
        return ekrt_fail_op(c, "input shapes do not broadcast to the output shape");
    }
    act = ekrt_fb_get_i8(&c->fb, ekrt_opts_table(c, ot, EKRT_OPT_ADD), EKRT_ADD_ACTIVATION, 0);
    if (ekrt_act_range(c, act, out, &p->act_min, &p->act_max)) {
        return -1;
    }
    p->in1_offset = -a->zero_point;
    p->in2_offset = -b->zero_point;
    p->out_offset = out->zero_point;
    p->left_shift = 20;
    smax = a->scale > b->scale ? a->scale : b->scale;
    twice_max = 2.0 * (double)smax;
    ekrt_quantize_multiplier((double)a->scale / twice_max, &p->in1_mult, &p->in1_shift);
    ekrt_quantize_multiplier((double)b->scale / twice_max, &p->in2_mult, &p->in2_shift);
    ekrt_quantize_multiplier(twice_max / ((double)(1 << p->left_shift) * (double)out->scale),
                             &p->out_mult, &p->out_shift);
    if (ekrt_elem_count(a) == ekrt_elem_count(out) && ekrt_elem_count(b) == ekrt_elem_count(out) &&
        p->in1_shift >= -31 && p->in1_shift <= 0 && p->in2_shift >= -31 && p->in2_shift <= 0 &&
        p->out_shift >= -31 && p->out_shift <= -1) {
        op->eval = ekrt_eval_add_elementwise;
    }
    return 0;
}

void ekrt_eval_add(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_tensor_t *a = &rt->tensors[op->in[0]], *b = &rt->tensors[op->in[1]];
    const ekrt_tensor_t *out = &rt->tensors[op->out];
    int32_t s1[EKRT_MAX_DIMS], s2[EKRT_MAX_DIMS];
    (void)ekrt_bcast_strides(a->ndim, a->dims, out->ndim, out->dims, s1);
    (void)ekrt_bcast_strides(b->ndim, b->dims, out->ndim, out->dims, s2);
    ekrt_add_s8(&op->p.add, out->ndim, out->dims, s1, s2, EKRT_IN(rt, op, 0), EKRT_IN(rt, op, 1),
                EKRT_OUT(rt, op));
}

/* rounding right shift by r in [0, 31] spelled with per-op constants (see ekrt_mbqm_r) */
static inline int32_t shift_round(int32_t x, int32_t half, int32_t negmask, int32_t r)
{
    return (x + half + ((x >> 31) & negmask)) >> r;
}

/* Variant: no broadcasting (both inputs have the output's element count), input shifts in
 * [-31, 0] (2 * max scale makes them so) and output shift in [-31, -1]. A flat loop with
 * the arithmetic of ekrt_mbqm_r: the scaled inputs (a + offset) << 20 stay below 2^28 and
 * their sum below 2^29, so every SaturatingRoundingDoublingHighMul is one SMMULR. */
void ekrt_eval_add_elementwise(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_add_params_t *p = &op->p.add;
    const int8_t *a = EKRT_IN(rt, op, 0), *b = EKRT_IN(rt, op, 1);
    int8_t *out = EKRT_OUT(rt, op);
    const uint32_t n = rt->tensors[op->out].bytes;
    const int32_t off1 = p->in1_offset, off2 = p->in2_offset, m1 = p->in1_mult, m2 = p->in2_mult;
    const int32_t r1 = -p->in1_shift, r2 = -p->in2_shift, mo = p->out_mult, ro = -p->out_shift;
    const int32_t h1 = r1 > 0 ? (int32_t)(1u << (r1 - 1)) : 0, n1 = r1 > 0 ? -1 : 0;
    const int32_t h2 = r2 > 0 ? (int32_t)(1u << (r2 - 1)) : 0, n2 = r2 > 0 ? -1 : 0;
    const int32_t zp = p->out_offset, lo = p->act_min, hi = p->act_max;
    uint32_t i;
    for (i = 0; i < n; ++i) {
        /* (x + offset) << 20, doubled for SMMULR */
        const int32_t xa = ekrt_smmulr((a[i] + off1) * (1 << 21), m1);
        const int32_t xb = ekrt_smmulr((b[i] + off2) * (1 << 21), m2);
        const int32_t sum = shift_round(xa, h1, n1, r1) + shift_round(xb, h2, n2, r2);
        const int32_t v = ekrt_mbqm_r(sum, mo, ro) + zp;
        out[i] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
    }
}
