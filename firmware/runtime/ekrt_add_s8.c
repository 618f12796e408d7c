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

/* Merge adjacent output dims where both inputs step alike (both contiguous over them, or one
 * broadcast over them): [1,H,W,C] + [1,1,1,C] becomes (H*W, C) with strides (C, 1) and (0, 1). */
static void add_collapse(uint32_t nd, const int32_t *dims, const int32_t *s1, const int32_t *s2,
                         ekrt_add_bcast_t *g)
{
    uint32_t d;
    g->ndim = 0;
    for (d = 0; d < nd; ++d) {
        const int32_t k = g->ndim - 1;
        if (dims[d] == 1) {
            continue;
        }
        if (k >= 0 && s1[d] * dims[d] == g->s1[k] && s2[d] * dims[d] == g->s2[k]) {
            g->dims[k] *= dims[d]; /* inner dim d continues dim k for both inputs */
            g->s1[k] = s1[d];
            g->s2[k] = s2[d];
            continue;
        }
        g->dims[g->ndim] = dims[d];
        g->s1[g->ndim] = s1[d];
        g->s2[g->ndim] = s2[d];
        g->ndim++;
    }
    if (g->ndim == 0) {
        g->ndim = 1;
        g->dims[0] = 1;
        g->s1[0] = g->s2[0] = 0;
    }
}

int ekrt_prepare_add(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in)
{
    ekrt_add_params_t *p = &op->p.add;
    const ekrt_tinfo_t *a, *b, *out;
    int32_t s1[EKRT_MAX_DIMS], s2[EKRT_MAX_DIMS], act;
    double twice_max;
    float smax;
    int fast;
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
    if (ekrt_bcast_strides(a->ndim, a->dims, out->ndim, out->dims, s1) ||
        ekrt_bcast_strides(b->ndim, b->dims, out->ndim, out->dims, s2)) {
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
    p->n = ekrt_elem_count(out);
    p->bcast = NULL;
    fast = p->in1_shift >= -31 && p->in1_shift <= 0 && p->in2_shift >= -31 && p->in2_shift <= 0 &&
           p->out_shift >= -31 && p->out_shift <= -1;
    if (ekrt_elem_count(a) == p->n && ekrt_elem_count(b) == p->n) {
        if (fast) {
            op->eval = ekrt_eval_add_elementwise;
        }
        p->bcast = NULL;
        return 0;
    }
    {
        ekrt_add_bcast_t *g = (ekrt_add_bcast_t *)ekrt_palloc(c, sizeof(ekrt_add_bcast_t));
        if (g == NULL) {
            return ekrt_fail_op(c, "arena too small for the broadcast shape");
        }
        add_collapse(out->ndim, out->dims, s1, s2, g);
        p->bcast = (const int32_t *)(const void *)g;
    }
    if (fast) {
        op->eval = ekrt_eval_add_bcast;
    }
    return 0;
}

/* the same-shape inputs of a non-broadcasting ADD as one flat run */
static const ekrt_add_bcast_t *add_geometry(const ekrt_add_params_t *p, ekrt_add_bcast_t *flat)
{
    if (p->bcast != NULL) {
        return (const ekrt_add_bcast_t *)(const void *)p->bcast;
    }
    flat->ndim = 1;
    flat->dims[0] = (int32_t)p->n;
    flat->s1[0] = flat->s2[0] = 1;
    return flat;
}

void ekrt_eval_add(const ekrt_t *rt, const ekrt_op_t *op)
{
    ekrt_add_bcast_t flat;
    const ekrt_add_bcast_t *g = add_geometry(&op->p.add, &flat);
    ekrt_add_s8(&op->p.add, (uint32_t)g->ndim, g->dims, g->s1, g->s2, EKRT_IN(rt, op, 0),
                EKRT_IN(rt, op, 1), EKRT_OUT(rt, op));
}

/* rounding right shift by r in [0, 31] spelled with per-op constants (see ekrt_mbqm_r) */
static inline int32_t shift_round(int32_t x, int32_t half, int32_t negmask, int32_t r)
{
    return (x + half + ((x >> 31) & negmask)) >> r;
}

/* Variants: input shifts in [-31, 0] (2 * max scale makes them so) and output shift in
 * [-31, -1]. The arithmetic of ekrt_mbqm_r: the scaled inputs (a + offset) << 20 stay below
 * 2^28 and their sum below 2^29, so every SaturatingRoundingDoublingHighMul is one SMMULR.
 * add_run: n outputs from inputs stepping sa and sb elements (0: broadcast). */
static inline void add_run(const ekrt_add_params_t *p, const int8_t *a, int32_t sa, const int8_t *b,
                           int32_t sb, int8_t *out, int32_t n)
{
    const int32_t off1 = p->in1_offset, off2 = p->in2_offset, m1 = p->in1_mult, m2 = p->in2_mult;
    const int32_t r1 = -p->in1_shift, r2 = -p->in2_shift, mo = p->out_mult, ro = -p->out_shift;
    const int32_t h1 = r1 > 0 ? (int32_t)(1u << (r1 - 1)) : 0, n1 = r1 > 0 ? -1 : 0;
    const int32_t h2 = r2 > 0 ? (int32_t)(1u << (r2 - 1)) : 0, n2 = r2 > 0 ? -1 : 0;
    const int32_t zp = p->out_offset, lo = p->act_min, hi = p->act_max;
    int32_t i;
    for (i = 0; i < n; ++i) {
        /* (x + offset) << 20, doubled for SMMULR */
        const int32_t xa = ekrt_smmulr((*a + off1) * (1 << 21), m1);
        const int32_t xb = ekrt_smmulr((*b + off2) * (1 << 21), m2);
        const int32_t sum = shift_round(xa, h1, n1, r1) + shift_round(xb, h2, n2, r2);
        const int32_t v = ekrt_mbqm_r(sum, mo, ro) + zp;
        out[i] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
        a += sa;
        b += sb;
    }
}

/* no broadcasting: one flat run */
void ekrt_eval_add_elementwise(const ekrt_t *rt, const ekrt_op_t *op)
{
    add_run(&op->p.add, EKRT_IN(rt, op, 0), 1, EKRT_IN(rt, op, 1), 1, EKRT_OUT(rt, op),
            (int32_t)op->p.add.n);
}

/* broadcasting: a run along the innermost merged dim, the outer ones by an odometer */
void ekrt_eval_add_bcast(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_add_bcast_t *g = (const ekrt_add_bcast_t *)(const void *)op->p.add.bcast;
    const int8_t *a = EKRT_IN(rt, op, 0), *b = EKRT_IN(rt, op, 1);
    int8_t *out = EKRT_OUT(rt, op);
    const int32_t last = g->ndim - 1, n = g->dims[last];
    int32_t idx[EKRT_MAX_DIMS] = {0};
    int32_t o1 = 0, o2 = 0, o, d;
    for (o = 0; o < (int32_t)op->p.add.n; o += n) {
        add_run(&op->p.add, a + o1, g->s1[last], b + o2, g->s2[last], out + o, n);
        for (d = last - 1; d >= 0; --d) {
            idx[d]++;
            o1 += g->s1[d];
            o2 += g->s2[d];
            if (idx[d] < g->dims[d]) {
                break;
            }
            o1 -= g->s1[d] * idx[d];
            o2 -= g->s2[d] * idx[d];
            idx[d] = 0;
        }
    }
}
