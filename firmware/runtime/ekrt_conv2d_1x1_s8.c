/* CONV_2D int8, 1x1 filter: a matrix product of pixels x input channels by the filter rows
 * (ekrt_mat_s8), two pixels and two output channels at a time.
 * Preconditions (ekrt_conv2d_select): k_h = k_w = 1, no padding, one group, every shift in
 * [-31, 31]. Any stride, any channel count. Scratch: ekrt_mat_q15_bytes(in_c) (two input
 * pixels widened to int16; NULL when there is none to make: in_c < 4). */
#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include "ekrt_internal.h"

void ekrt_eval_conv2d_1x1(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_conv_params_t *p = &op->p.conv;
    const int8_t *in = EKRT_IN(rt, op, 0), *filter = EKRT_IN(rt, op, 1);
    const int32_t *bias = EKRT_BIAS(rt, op);
    int8_t *out = EKRT_OUT(rt, op);
    const int32_t per_row = p->out_w, n = p->batches * p->out_h * p->out_w;
    const ekrt_mat_q_t q = ekrt_mat_q(p->input_offset, p->output_offset, p->act_min, p->act_max,
                                      p->mult, p->shift, op->right_only);
    int32_t i;
    if (p->stride_h == 1 && p->stride_w == 1) {
        /* input pixels are the contiguous columns of the matrix */
        for (i = 0; i + 1 < n; i += 2) {
            ekrt_mat_s8(&q, in + i * p->in_c, 2, p->in_c, filter, p->out_c, bias,
                        out + i * p->out_c, op->scratch);
        }
        if (i < n) {
            ekrt_mat_s8(&q, in + i * p->in_c, 1, p->in_c, filter, p->out_c, bias,
                        out + i * p->out_c, NULL);
        }
        return;
    }
    for (i = 0; i < n; ++i) {
        /* strided: pixels are not adjacent, one column at a time */
        const int32_t row = i / per_row, ox = i % per_row;
        const int32_t b = row / p->out_h, oy = row % p->out_h;
        ekrt_mat_s8(&q,
                    in + ((b * p->in_h + oy * p->stride_h) * p->in_w + ox * p->stride_w) * p->in_c,
                    1, p->in_c, filter, p->out_c, bias, out + i * p->out_c, NULL);
    }
}
