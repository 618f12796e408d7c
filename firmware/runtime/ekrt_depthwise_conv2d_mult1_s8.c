/* DEPTHWISE_CONV_2D int8, depth multiplier 1, no dilation: four channels per word.
 * Channel groups are the outer loop: a group's filter taps are split into int16 lanes once
 * ({f0,f2} {f1,f3} per tap, on the stack), then every output pixel of the group costs per
 * tap one input word, two SXTAB16 (input offset added on the way), one LDRD of the ready
 * filter lanes and four lane multiplies (SMLABB / SMLATT). Only the taps inside the image
 * are visited (the clipped window replaces per-tap bounds tests); a full 3x3 window is
 * unrolled. Channels beyond the last multiple of 4 run one at a time.
 * Preconditions (ekrt_depthwise_conv2d_select): depth_mult = 1, dil_h = dil_w = 1,
 * k_h * k_w <= EKRT_DW_MAX_TAPS, every shift in [-22, 31]. Any stride, padding, channels. */
#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include "ekrt_internal.h"

#define REQ(acc, m, s)                                         \
    (right_only ? ekrt_requant_r((acc), (m), -(s), zp, lo, hi) \
                : ekrt_requant_fast((acc), (m), (s), zp, lo, hi))

/* one tap of four channels: input word at ip, filter lanes f[0] = {f0,f2}, f[1] = {f1,f3} */
#define TAP4(ip, f)                                                                     \
    do {                                                                                \
        const uint32_t x_ = ekrt_load4(ip);                                             \
        const uint32_t x02_ = ekrt_sxtab16(off2, x_), x13_ = ekrt_sxtab16_hi(off2, x_); \
        a0 = ekrt_smlabb(x02_, (f)[0], a0);                                             \
        a2 = ekrt_smlatt(x02_, (f)[0], a2);                                             \
        a1 = ekrt_smlabb(x13_, (f)[1], a1);                                             \
        a3 = ekrt_smlatt(x13_, (f)[1], a3);                                             \
    } while (0)

void ekrt_eval_depthwise_conv2d_mult1(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_conv_params_t *p = &op->p.conv;
    const int8_t *in = EKRT_IN(rt, op, 0), *filter = EKRT_IN(rt, op, 1);
    const int32_t *bias = EKRT_BIAS(rt, op);
    int8_t *out = EKRT_OUT(rt, op);
    const int32_t ch = p->in_c, c4 = ch & ~3, row_stride = p->in_w * ch;
    const int32_t taps = p->k_h * p->k_w, full3 = p->k_h == 3 && p->k_w == 3;
    const uint32_t off2 = ekrt_dup16(p->input_offset);
    const int32_t zp = p->output_offset, lo = p->act_min, hi = p->act_max;
    const int32_t right_only = op->right_only;
    uint32_t fl[EKRT_DW_MAX_TAPS][2];
    int32_t b, oy, ox, c, t;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * row_stride;
        int8_t *out_b = out + b * p->out_h * p->out_w * ch;
        for (c = 0; c < c4; c += 4) {
            const int32_t m0 = p->mult[c], m1 = p->mult[c + 1], m2 = p->mult[c + 2];
            const int32_t m3 = p->mult[c + 3];
            const int32_t s0 = p->shift[c], s1 = p->shift[c + 1], s2 = p->shift[c + 2];
            const int32_t s3 = p->shift[c + 3];
            const int32_t b0 = bias ? bias[c] : 0, b1 = bias ? bias[c + 1] : 0;
            const int32_t b2 = bias ? bias[c + 2] : 0, b3 = bias ? bias[c + 3] : 0;
            int8_t *o = out_b + c;
            for (t = 0; t < taps; ++t) {
                const uint32_t f = ekrt_load4(filter + t * ch + c);
                fl[t][0] = ekrt_sxtb16(f);
                fl[t][1] = ekrt_sxtb16_hi(f);
            }
            for (oy = 0; oy < p->out_h; ++oy) {
                const int32_t iy0 = oy * p->stride_h - p->pad_h;
                const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
                const int32_t ky1 = p->in_h - iy0 < p->k_h ? p->in_h - iy0 : p->k_h;
                for (ox = 0; ox < p->out_w; ++ox) {
                    const int32_t ix0 = ox * p->stride_w - p->pad_w;
                    const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
                    const int32_t kx1 = p->in_w - ix0 < p->k_w ? p->in_w - ix0 : p->k_w;
                    const int8_t *ip = in_b + iy0 * row_stride + ix0 * ch + c;
                    int32_t a0 = b0, a1 = b1, a2 = b2, a3 = b3;
                    if (full3 && ky0 == 0 && ky1 == 3 && kx0 == 0 && kx1 == 3) {
                        const int32_t next_row = row_stride - 2 * ch;
                        TAP4(ip, fl[0]);
                        ip += ch;
                        TAP4(ip, fl[1]);
                        ip += ch;
                        TAP4(ip, fl[2]);
                        ip += next_row;
                        TAP4(ip, fl[3]);
                        ip += ch;
                        TAP4(ip, fl[4]);
                        ip += ch;
                        TAP4(ip, fl[5]);
                        ip += next_row;
                        TAP4(ip, fl[6]);
                        ip += ch;
                        TAP4(ip, fl[7]);
                        ip += ch;
                        TAP4(ip, fl[8]);
                    } else {
                        int32_t ky, kx;
                        for (ky = ky0; ky < ky1; ++ky) {
                            const int8_t *rp = ip + ky * row_stride + kx0 * ch;
                            const uint32_t *fp = fl[ky * p->k_w + kx0];
                            for (kx = kx1 - kx0; kx > 0; --kx) {
                                TAP4(rp, fp);
                                rp += ch;
                                fp += 2;
                            }
                        }
                    }
                    {
                        const int8_t o0 = REQ(a0, m0, s0), o1 = REQ(a1, m1, s1);
                        const int8_t o2 = REQ(a2, m2, s2), o3 = REQ(a3, m3, s3);
                        o[0] = o0;
                        o[1] = o1;
                        o[2] = o2;
                        o[3] = o3;
                    }
                    o += ch;
                }
            }
        }
        for (c = c4; c < ch; ++c) { /* the channels beyond the last group of four */
            int8_t *o = out_b + c;
            for (oy = 0; oy < p->out_h; ++oy) {
                const int32_t iy0 = oy * p->stride_h - p->pad_h;
                const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
                const int32_t ky1 = p->in_h - iy0 < p->k_h ? p->in_h - iy0 : p->k_h;
                for (ox = 0; ox < p->out_w; ++ox) {
                    const int32_t ix0 = ox * p->stride_w - p->pad_w;
                    const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
                    const int32_t kx1 = p->in_w - ix0 < p->k_w ? p->in_w - ix0 : p->k_w;
                    int32_t acc = bias ? bias[c] : 0, ky, kx;
                    for (ky = ky0; ky < ky1; ++ky) {
                        for (kx = kx0; kx < kx1; ++kx) {
                            const int32_t x = in_b[(iy0 + ky) * row_stride + (ix0 + kx) * ch + c];
                            const int32_t f = filter[(ky * p->k_w + kx) * ch + c];
                            acc = ekrt_wadd(acc, f * (x + p->input_offset));
                        }
                    }
                    *o = REQ(acc, p->mult[c], p->shift[c]);
                    o += ch;
                }
            }
        }
    }
}
