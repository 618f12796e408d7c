/* CONV_2D int8, per-channel requantization (TFLM reference_integer_ops::ConvPerChannel).
 * Input NHWC, filter [out_c][k_h][k_w][filter_in_c], grouped when in_c > filter_in_c. */
#include "ekrt_internal.h"

void ekrt_conv2d_s8(const ekrt_conv_params_t *p, const int8_t *in, const int8_t *filter,
                    const int32_t *bias, int8_t *out)
{
    const int32_t groups = p->in_c / p->filter_in_c;
    const int32_t per_group = p->out_c / groups;
    int32_t b, oy, ox, oc, ky, kx, ic;
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                for (oc = 0; oc < p->out_c; ++oc) {
                    const int32_t ic0 = (oc / per_group) * p->filter_in_c;
                    uint32_t acc = 0; /* wrapping sum, see ekrt_wadd */
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = iy0 + p->dil_h * ky;
                        if (iy < 0 || iy >= p->in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ix0 + p->dil_w * kx;
                            const int8_t *ip, *fp;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            ip = in + (((int32_t)b * p->in_h + iy) * p->in_w + ix) * p->in_c + ic0;
                            fp = filter + ((oc * p->k_h + ky) * p->k_w + kx) * p->filter_in_c;
                            for (ic = 0; ic < p->filter_in_c; ++ic) {
                                acc += (uint32_t)((int32_t)fp[ic] *
                                                  ((int32_t)ip[ic] + p->input_offset));
                            }
                        }
                    }
                    if (bias) {
                        acc += (uint32_t)bias[oc];
                    }
                    out[((b * p->out_h + oy) * p->out_w + ox) * p->out_c + oc] =
                        ekrt_requant_s8((int32_t)acc, p->mult[oc], p->shift[oc], p->output_offset,
                                        p->act_min, p->act_max);
                }
            }
        }
    }
}

int ekrt_prepare_conv2d(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in)
{
    if (ekrt_want_inputs(c, n_in, 2, 3) || ekrt_conv_prepare(c, op, ot, 0)) {
        return -1;
    }
    op->eval = ekrt_conv2d_select(&op->p.conv);
    if (op->eval != ekrt_eval_conv2d) {
        op->right_only = (uint8_t)ekrt_requant_mode(
            op->p.conv.shift, op->p.conv.out_c,
            op->in[2] >= 0 ? (const int32_t *)(const void *)ekrt_tinfo(c, op->in[2])->data : NULL,
            op->p.conv.k_h * op->p.conv.k_w * op->p.conv.filter_in_c);
    }
    if (op->eval == ekrt_eval_conv2d_im2col) {
        return ekrt_conv2d_im2col_scratch(c, op);
    }
    if (op->eval == ekrt_eval_conv2d_1x1) {
        return ekrt_conv2d_1x1_scratch(c, op);
    }
    return 0;
}

void ekrt_eval_conv2d(const ekrt_t *rt, const ekrt_op_t *op)
{
    ekrt_conv2d_s8(&op->p.conv, EKRT_IN(rt, op, 0), EKRT_IN(rt, op, 1), EKRT_BIAS(rt, op),
                   EKRT_OUT(rt, op));
}

/* Variants, fastest first; this reference kernel is the fallback for every other shape. */
ekrt_eval_fn ekrt_conv2d_select(const ekrt_conv_params_t *p)
{
    if (p->filter_in_c != p->in_c || !ekrt_shifts_fast(p->shift, p->out_c)) {
        return ekrt_eval_conv2d;
    }
    if (p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0) {
        return ekrt_eval_conv2d_1x1;
    }
    return ekrt_eval_conv2d_im2col;
}
