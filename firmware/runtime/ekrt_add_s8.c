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
    return ekrt_requant_s8(ekrt_wadd(ra, rb), p->out_mult, p->out_shift, p->out_offset,
                           p->act_min, p->act_max);
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
    if (ekrt_want(c, op->in[0], "input", EKRT_T_INT8, -1) || ekrt_want(c, op->in[1], "input", EKRT_T_INT8, -1) ||
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
    act = ekrt_fb_get_i8(&c->fb, ekrt_opts_table(c, ot, EKRT_OPT_ADD), 0, 0);
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
        p->out_shift >= -22 && p->out_shift <= 31) {
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

/* Variant: no broadcasting (both inputs have the output's element count) and shifts the fast
 * requantization handles (input shifts in [-31, 0] as 2 * max scale makes them, output shift
 * in [-22, 31]); a flat loop, same arithmetic as add_one. */
void ekrt_eval_add_elementwise(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_add_params_t *p = &op->p.add;
    const int8_t *a = EKRT_IN(rt, op, 0), *b = EKRT_IN(rt, op, 1);
    int8_t *out = EKRT_OUT(rt, op);
    const uint32_t n = rt->tensors[op->out].bytes;
    uint32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t sa = (int32_t)((uint32_t)(a[i] + p->in1_offset) << 20);
        const int32_t sb = (int32_t)((uint32_t)(b[i] + p->in2_offset) << 20);
        const int32_t sum = ekrt_wadd(ekrt_mbqm_fast(sa, p->in1_mult, p->in1_shift),
                                      ekrt_mbqm_fast(sb, p->in2_mult, p->in2_shift));
        out[i] = ekrt_requant_fast(sum, p->out_mult, p->out_shift, p->out_offset, p->act_min,
                                   p->act_max);
    }
}
