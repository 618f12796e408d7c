/* DEPTHWISE_CONV_2D int8, per-channel requantization
 * (TFLM reference_integer_ops::DepthwiseConvPerChannel). Filter [1][k_h][k_w][out_c],
 * out channel = in_channel * depth_mult + m. */
#include "ekrt_internal.h"

void ekrt_depthwise_conv2d_s8(const ekrt_conv_params_t *p, const int8_t *in, const int8_t *filter,
                              const int32_t *bias, int8_t *out)
{
    int32_t b, oy, ox, ic, m, ky, kx;
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                for (ic = 0; ic < p->in_c; ++ic) {
                    for (m = 0; m < p->depth_mult; ++m) {
                        const int32_t oc = ic * p->depth_mult + m;
                        uint32_t acc = 0; /* wrapping sum, see ekrt_wadd */
                        for (ky = 0; ky < p->k_h; ++ky) {
                            const int32_t iy = iy0 + p->dil_h * ky;
                            if (iy < 0 || iy >= p->in_h) {
                                continue;
                            }
                            for (kx = 0; kx < p->k_w; ++kx) {
                                const int32_t ix = ix0 + p->dil_w * kx;
                                int32_t iv, fv;
                                if (ix < 0 || ix >= p->in_w) {
                                    continue;
                                }
                                iv = in[((b * p->in_h + iy) * p->in_w + ix) * p->in_c + ic];
                                fv = filter[(ky * p->k_w + kx) * p->out_c + oc];
                                acc += (uint32_t)(fv * (iv + p->input_offset));
                            }
                        }
                        if (bias) {
                            acc += (uint32_t)bias[oc];
                        }
                        out[((b * p->out_h + oy) * p->out_w + ox) * p->out_c + oc] =
                            ekrt_requant_s8((int32_t)acc, p->mult[oc], p->shift[oc],
                                            p->output_offset, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}

int ekrt_prepare_depthwise_conv2d(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in)
{
    int32_t i;
    if (ekrt_want_inputs(c, n_in, 2, 3) || ekrt_conv_prepare(c, op, ot, 1)) {
        return -1;
    }
    op->eval = ekrt_depthwise_conv2d_select(&op->p.conv);
    op->right_only = (uint8_t)ekrt_requant_mode(
        op->p.conv.shift, op->p.conv.out_c,
        op->in[2] >= 0 ? (const int32_t *)(const void *)ekrt_tinfo(c, op->in[2])->data : NULL,
        op->p.conv.k_h * op->p.conv.k_w);
    /* the 4-channel kernel folds the zero point into its rounding constant for right shifts
     * up to 22 only (see ekrt_depthwise_conv2d_4ch_s8.c); deeper shifts take the general path */
    for (i = 0; i < op->p.conv.out_c; ++i) {
        if (op->p.conv.shift[i] < -22) {
            op->right_only = 0;
        }
    }
    return 0;
}

void ekrt_eval_depthwise_conv2d(const ekrt_t *rt, const ekrt_op_t *op)
{
    ekrt_depthwise_conv2d_s8(&op->p.conv, EKRT_IN(rt, op, 0), EKRT_IN(rt, op, 1), EKRT_BIAS(rt, op),
                             EKRT_OUT(rt, op));
}

/* Variants, fastest first; this reference kernel is the fallback for every other shape. */
ekrt_eval_fn ekrt_depthwise_conv2d_select(const ekrt_conv_params_t *p)
{
    if (p->dil_h == 1 && p->dil_w == 1 && p->k_h * p->k_w <= EKRT_DW_MAX_TAPS &&
        ekrt_shifts_fast(p->shift, p->out_c)) {
        return ekrt_eval_depthwise_conv2d_4ch;
    }
    return ekrt_eval_depthwise_conv2d;
}
