/* DEPTHWISE_CONV_2D int8, depth multiplier 1, no dilation: four channels per word. For each
 * output pixel only the taps inside the image are visited (the clipped window replaces the
 * per-tap bounds test); each tap is one input word and one filter word, split into int16
 * lanes (input offset added by SXTAB16) and multiplied lane by lane (SMLABB / SMLATT).
 * Preconditions (ekrt_depthwise_conv2d_select): depth_mult = 1, dil_h = dil_w = 1, every
 * shift in [-31, 31]. Any filter size, stride, padding and channel count (the last
 * channels % 4 run one at a time). */
#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include "ekrt_internal.h"

void ekrt_eval_depthwise_conv2d_mult1(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_conv_params_t *p = &op->p.conv;
    const int8_t *in = EKRT_IN(rt, op, 0), *filter = EKRT_IN(rt, op, 1);
    const int32_t *bias = EKRT_BIAS(rt, op);
    int8_t *out = EKRT_OUT(rt, op);
    const int32_t ch = p->in_c, c4 = ch & ~3, row_stride = p->in_w * ch;
    const uint32_t off2 = ekrt_dup16(p->input_offset);
    int32_t b, oy, ox, c;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * row_stride;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
            const int32_t ky1 = p->in_h - iy0 < p->k_h ? p->in_h - iy0 : p->k_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t kx1 = p->in_w - ix0 < p->k_w ? p->in_w - ix0 : p->k_w;
                const int8_t *base = in_b + iy0 * row_stride + ix0 * ch;
                int32_t ky, kx;
                for (c = 0; c < c4; c += 4) {
                    int32_t a0 = bias ? bias[c] : 0, a1 = bias ? bias[c + 1] : 0;
                    int32_t a2 = bias ? bias[c + 2] : 0, a3 = bias ? bias[c + 3] : 0;
                    for (ky = ky0; ky < ky1; ++ky) {
                        const int8_t *ip = base + ky * row_stride + c;
                        const int8_t *fp = filter + ky * p->k_w * ch + c;
                        for (kx = kx0; kx < kx1; ++kx) {
                            const uint32_t x = ekrt_load4(ip + kx * ch);
                            const uint32_t f = ekrt_load4(fp + kx * ch);
                            const uint32_t x02 = ekrt_sxtab16(off2, x), x13 = ekrt_sxtab16_hi(off2, x);
                            const uint32_t f02 = ekrt_sxtb16(f), f13 = ekrt_sxtb16_hi(f);
                            a0 = ekrt_smlabb(x02, f02, a0);
                            a2 = ekrt_smlatt(x02, f02, a2);
                            a1 = ekrt_smlabb(x13, f13, a1);
                            a3 = ekrt_smlatt(x13, f13, a3);
                        }
                    }
                    out[c] = ekrt_requant_fast(a0, p->mult[c], p->shift[c], p->output_offset,
                                               p->act_min, p->act_max);
                    out[c + 1] = ekrt_requant_fast(a1, p->mult[c + 1], p->shift[c + 1],
                                                   p->output_offset, p->act_min, p->act_max);
                    out[c + 2] = ekrt_requant_fast(a2, p->mult[c + 2], p->shift[c + 2],
                                                   p->output_offset, p->act_min, p->act_max);
                    out[c + 3] = ekrt_requant_fast(a3, p->mult[c + 3], p->shift[c + 3],
                                                   p->output_offset, p->act_min, p->act_max);
                }
                for (; c < ch; ++c) {
                    int32_t acc = bias ? bias[c] : 0;
                    for (ky = ky0; ky < ky1; ++ky) {
                        for (kx = kx0; kx < kx1; ++kx) {
                            const int32_t x = base[ky * row_stride + kx * ch + c];
                            const int32_t f = filter[(ky * p->k_w + kx) * ch + c];
                            acc = ekrt_wadd(acc, f * (x + p->input_offset));
                        }
                    }
                    out[c] = ekrt_requant_fast(acc, p->mult[c], p->shift[c], p->output_offset,
                                               p->act_min, p->act_max);
                }
                out += ch;
            }
        }
    }
}
