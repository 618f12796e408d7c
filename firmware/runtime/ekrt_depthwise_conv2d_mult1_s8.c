/* DEPTHWISE_CONV_2D int8, depth multiplier 1, no dilation: four channels per word. For each
 * output pixel only the taps inside the image are visited (the clipped window replaces the
 * per-tap bounds test); each tap is one input word and one filter word, split into int16
 * lanes (input offset added by SXTAB16) and multiplied lane by lane (SMLABB / SMLATT).
 * A 3x3 window wholly inside the image (every output pixel but the border) runs a fully
 * unrolled body.
 * Preconditions (ekrt_depthwise_conv2d_select): depth_mult = 1, dil_h = dil_w = 1, every
 * shift in [-22, 31]. Any filter size, stride, padding and channel count (the last
 * channels % 4 run one at a time). */
#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include "ekrt_internal.h"

#define REQ(acc, c)                                                                             \
    (right_only ? ekrt_requant_r((acc), mult[c], -shift[c], zp, lo, hi)                         \
                : ekrt_requant_fast((acc), mult[c], shift[c], zp, lo, hi))

/* one tap of four channels: input word at ip, filter word at fp */
#define TAP4(ip, fp)                                                                            \
    do {                                                                                        \
        const uint32_t x_ = ekrt_load4(ip), f_ = ekrt_load4(fp);                                \
        const uint32_t x02_ = ekrt_sxtab16(off2, x_), x13_ = ekrt_sxtab16_hi(off2, x_);         \
        const uint32_t f02_ = ekrt_sxtb16(f_), f13_ = ekrt_sxtb16_hi(f_);                       \
        a0 = ekrt_smlabb(x02_, f02_, a0);                                                       \
        a2 = ekrt_smlatt(x02_, f02_, a2);                                                       \
        a1 = ekrt_smlabb(x13_, f13_, a1);                                                       \
        a3 = ekrt_smlatt(x13_, f13_, a3);                                                       \
    } while (0)

void ekrt_eval_depthwise_conv2d_mult1(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_conv_params_t *p = &op->p.conv;
    const int8_t *in = EKRT_IN(rt, op, 0), *filter = EKRT_IN(rt, op, 1);
    const int32_t *bias = EKRT_BIAS(rt, op);
    int8_t *out = EKRT_OUT(rt, op);
    const int32_t ch = p->in_c, c4 = ch & ~3, row_stride = p->in_w * ch;
    const uint32_t off2 = ekrt_dup16(p->input_offset);
    const int32_t *const mult = p->mult;
    const int8_t *const shift = p->shift;
    const int32_t zp = p->output_offset, lo = p->act_min, hi = p->act_max;
    const int32_t right_only = op->right_only, full3 = p->k_h == 3 && p->k_w == 3;
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
                if (full3 && ky0 == 0 && ky1 == 3 && kx0 == 0 && kx1 == 3) {
                    /* pointers walk tap by tap: constant offsets would each need a register */
                    const int32_t next_row = row_stride - 3 * ch;
                    for (c = 0; c < c4; c += 4) {
                        const int8_t *ip = base + c, *fp = filter + c;
                        int32_t a0 = bias ? bias[c] : 0, a1 = bias ? bias[c + 1] : 0;
                        int32_t a2 = bias ? bias[c + 2] : 0, a3 = bias ? bias[c + 3] : 0;
                        for (ky = 0; ky < 3; ++ky) {
                            TAP4(ip, fp);
                            ip += ch;
                            fp += ch;
                            TAP4(ip, fp);
                            ip += ch;
                            fp += ch;
                            TAP4(ip, fp);
                            ip += ch + next_row;
                            fp += ch;
                        }
                        {
                            const int8_t o0 = REQ(a0, c), o1 = REQ(a1, c + 1);
                            const int8_t o2 = REQ(a2, c + 2), o3 = REQ(a3, c + 3);
                            out[c] = o0;
                            out[c + 1] = o1;
                            out[c + 2] = o2;
                            out[c + 3] = o3;
                        }
                    }
                } else {
                    c = 0;
                }
                if (c < c4) {
                    /* clipped window (image border, small images): walk the valid taps */
                    const int32_t n_ky = ky1 - ky0, n_kx = kx1 - kx0;
                    const int32_t in_skip = row_stride - n_kx * ch, f_skip = (p->k_w - n_kx) * ch;
                    const int8_t *ip0 = base + ky0 * row_stride + kx0 * ch;
                    const int8_t *fp0 = filter + (ky0 * p->k_w + kx0) * ch;
                    for (; c < c4; c += 4) {
                        const int8_t *ip = ip0 + c, *fp = fp0 + c;
                        int32_t a0 = bias ? bias[c] : 0, a1 = bias ? bias[c + 1] : 0;
                        int32_t a2 = bias ? bias[c + 2] : 0, a3 = bias ? bias[c + 3] : 0;
                        for (ky = n_ky; ky > 0; --ky) {
                            for (kx = n_kx; kx > 0; --kx) {
                                TAP4(ip, fp);
                                ip += ch;
                                fp += ch;
                            }
                            ip += in_skip;
                            fp += f_skip;
                        }
                        {
                            const int8_t o0 = REQ(a0, c), o1 = REQ(a1, c + 1);
                            const int8_t o2 = REQ(a2, c + 2), o3 = REQ(a3, c + 3);
                            out[c] = o0;
                            out[c + 1] = o1;
                            out[c + 2] = o2;
                            out[c + 3] = o3;
                        }
                    }
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
                    out[c] = REQ(acc, c);
                }
                out += ch;
            }
        }
    }
}
