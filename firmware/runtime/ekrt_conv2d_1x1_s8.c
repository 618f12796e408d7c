/* CONV_2D int8, 1x1 filter: a matrix product of the output pixels' input pixels (columns of
 * in_c) by the filter rows (ekrt_mat_run: tiles of pixels widened to int16 in scratch).
 * Preconditions (ekrt_conv2d_select): k_h = k_w = 1, no padding, one group, every shift in
 * [-31, 31]. Any stride, any channel count, any number of pixels.
 * Scratch: ekrt_conv2d_1x1_scratch() (none for a single pixel), more used when the plan
 * leaves room (op->scratch16). */
#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include "ekrt_internal.h"

static int32_t pixels(const ekrt_conv_params_t *p)
{
    return p->batches * p->out_h * p->out_w;
}

int ekrt_conv2d_1x1_scratch(ekrt_prep_t *c, ekrt_op_t *op)
{
    const ekrt_conv_params_t *p = &op->p.conv;
    const uint32_t least = ekrt_mat_scratch_min(p->in_c, pixels(p));
    const uint32_t most = ekrt_mat_scratch_max(p->in_c, pixels(p));
    /* 16 bytes at least, so there is a buffer to move into a larger free run */
    return ekrt_request_scratch_upto(c, op, most > 0 && least < 16u ? 16u : least,
                                     most > least ? most : least);
}

typedef struct {
    const ekrt_conv_params_t *p;
    const int8_t *in;
} pix_ctx_t;

static const int8_t *pixel_strided(void *ctx, int32_t i, int8_t *buf)
{
    const pix_ctx_t *c = (const pix_ctx_t *)ctx;
    const ekrt_conv_params_t *p = c->p;
    const int32_t row = i / p->out_w, ox = i % p->out_w;
    const int32_t b = row / p->out_h, oy = row % p->out_h;
    (void)buf;
    return c->in + ((b * p->in_h + oy * p->stride_h) * p->in_w + ox * p->stride_w) * p->in_c;
}

void ekrt_eval_conv2d_1x1(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_conv_params_t *p = &op->p.conv;
    const ekrt_mat_q_t q = ekrt_mat_q(p->input_offset, p->output_offset, p->act_min, p->act_max,
                                      p->mult, p->shift, 0, op->right_only);
    const int dense = p->stride_h == 1 && p->stride_w == 1; /* output pixel i reads pixel i */
    const uint32_t room = (uint32_t)op->scratch16 * 16u;
    const uint32_t asked = ekrt_mat_scratch_min(p->in_c, pixels(p));
    pix_ctx_t ctx;
    ctx.p = p;
    ctx.in = EKRT_IN(rt, op, 0);
    ekrt_mat_run(&q, dense ? ctx.in : NULL, pixel_strided, &ctx, pixels(p), p->in_c,
                 EKRT_IN(rt, op, 1), p->out_c, EKRT_BIAS(rt, op), EKRT_OUT(rt, op), op->scratch,
                 room > asked ? room : asked, NULL);
}
