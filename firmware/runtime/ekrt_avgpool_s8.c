/* AVERAGE_POOL_2D int8 (TFLM reference_integer_ops::AveragePool): the divisor counts only
 * the taps inside the image; the average rounds half away from zero. Also what both pools
 * share: the Prepare (ekrt_pool_prepare) and the reference loop (ekrt_pool_s8). */
#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include "ekrt_internal.h"

void ekrt_pool_s8(const ekrt_pool_params_t *p, const int8_t *in, int8_t *out, int is_max)
{
    const int32_t ch = p->channels, row = p->in_w * ch;
    int32_t b, oy, ox, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * row;
        for (oy = 0; oy < p->out_h; ++oy) {
            const ekrt_span_t ys = ekrt_pool_span(oy, p->stride_h, p->pad_h, p->k_h, p->in_h);
            for (ox = 0; ox < p->out_w; ++ox, out += ch) {
                const ekrt_span_t xs = ekrt_pool_span(ox, p->stride_w, p->pad_w, p->k_w, p->in_w);
                const int8_t *win = in_b + ys.lo * row + xs.lo * ch;
                const int32_t rows = ys.hi - ys.lo, cols = xs.hi - xs.lo;
                for (c = 0; c < ch; ++c) {
                    int32_t v = is_max ? -128 : 0;
                    if (is_max) {
                        for (y = 0; y < rows; ++y) {
                            for (x = 0; x < cols; ++x) {
                                const int32_t t = win[y * row + x * ch + c];
                                v = t > v ? t : v;
                            }
                        }
                    } else if (rows > 0 && cols > 0) {
                        const int32_t count = rows * cols;
                        for (y = 0; y < rows; ++y) {
                            for (x = 0; x < cols; ++x) {
                                v += win[y * row + x * ch + c];
                            }
                        }
                        v = v > 0 ? (v + count / 2) / count : (v - count / 2) / count;
                    }
                    out[c] = (int8_t)ekrt_clamp(v, p->act_min, p->act_max);
                }
            }
        }
    }
}

int ekrt_pool_prepare(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in)
{
    ekrt_pool_params_t *p = &op->p.pool;
    const ekrt_tinfo_t *in, *out;
    uint32_t o;
    int32_t padding, act;
    if (ekrt_want_inputs(c, n_in, 1, 1)) {
        return -1;
    }
    if (ekrt_want(c, op->in[0], "input", EKRT_T_INT8, 4) ||
        ekrt_want(c, op->out, "output", EKRT_T_INT8, 4)) {
        return -1;
    }
    in = ekrt_tinfo(c, op->in[0]);
    out = ekrt_tinfo(c, op->out);
    o = ekrt_opts_table(c, ot, EKRT_OPT_POOL);
    padding = ekrt_fb_get_i8(&c->fb, o, EKRT_POOL_PADDING, 0);
    p->stride_w = ekrt_fb_get_i32(&c->fb, o, EKRT_POOL_STRIDE_W, 0);
    p->stride_h = ekrt_fb_get_i32(&c->fb, o, EKRT_POOL_STRIDE_H, 0);
    p->k_w = ekrt_fb_get_i32(&c->fb, o, EKRT_POOL_FILTER_W, 0);
    p->k_h = ekrt_fb_get_i32(&c->fb, o, EKRT_POOL_FILTER_H, 0);
    act = ekrt_fb_get_i8(&c->fb, o, EKRT_POOL_ACTIVATION, 0);
    if (p->stride_w < 1 || p->stride_h < 1 || p->k_w < 1 || p->k_h < 1 || p->stride_w > 1024 ||
        p->stride_h > 1024 || p->k_w > 4096 || p->k_h > 4096) {
        return ekrt_fail_op(c, "invalid pool size/stride");
    }
    p->batches = in->dims[0];
    p->in_h = in->dims[1];
    p->in_w = in->dims[2];
    p->channels = in->dims[3];
    p->out_h = out->dims[1];
    p->out_w = out->dims[2];
    if (out->dims[0] != p->batches || out->dims[3] != p->channels) {
        return ekrt_fail_op(c, "output shape does not match input");
    }
    if (ekrt_conv_padding(c, padding, p->stride_h, 1, p->in_h, p->k_h, p->out_h, &p->pad_h) ||
        ekrt_conv_padding(c, padding, p->stride_w, 1, p->in_w, p->k_w, p->out_w, &p->pad_w) ||
        ekrt_act_range(c, act, out, &p->act_min, &p->act_max)) {
        return -1;
    }
    return 0;
}

int ekrt_prepare_avgpool(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in)
{
    const ekrt_pool_params_t *p = &op->p.pool;
    if (ekrt_pool_prepare(c, op, ot, n_in) != 0) {
        return -1;
    }
    if (p->channels >= 4 && p->k_h * p->k_w <= EKRT_POOL_4CH_MAX_TAPS) {
        op->eval = ekrt_eval_avgpool_4ch;
    }
    return 0;
}

void ekrt_eval_avgpool(const ekrt_t *rt, const ekrt_op_t *op)
{
    ekrt_pool_s8(&op->p.pool, EKRT_IN(rt, op, 0), EKRT_OUT(rt, op), 0);
}

/* TFLM's average: the sum over `count` taps divided, rounding half away from zero */
static inline int8_t avg_of(int32_t sum, int32_t count, int32_t lo, int32_t hi)
{
    const int32_t v = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* Variant: at least 4 channels, windows of at most EKRT_POOL_4CH_MAX_TAPS taps: four channels
 * a word, summed in int16 lanes (SXTAB16; 255 taps of |x| <= 128 stay inside int16). When the
 * channels are not a multiple of 4, the last group overlaps the one before it. */
void ekrt_eval_avgpool_4ch(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_pool_params_t *p = &op->p.pool;
    const int8_t *in = EKRT_IN(rt, op, 0);
    int8_t *out = EKRT_OUT(rt, op);
    const int32_t ch = p->channels, row = p->in_w * ch, lo = p->act_min, hi = p->act_max;
    int32_t b, oy, ox, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * row;
        for (oy = 0; oy < p->out_h; ++oy) {
            const ekrt_span_t ys = ekrt_pool_span(oy, p->stride_h, p->pad_h, p->k_h, p->in_h);
            for (ox = 0; ox < p->out_w; ++ox, out += ch) {
                const ekrt_span_t xs = ekrt_pool_span(ox, p->stride_w, p->pad_w, p->k_w, p->in_w);
                const int32_t count = (ys.hi - ys.lo) * (xs.hi - xs.lo);
                const int8_t *base = in_b + ys.lo * row + xs.lo * ch;
                for (c = 0; c < ch; c += 4) {
                    const int32_t g = c + 4 <= ch ? c : ch - 4;
                    uint32_t s02 = 0, s13 = 0;
                    for (y = ys.lo; y < ys.hi; ++y) {
                        const int8_t *ip = base + (y - ys.lo) * row + g;
                        for (x = xs.hi - xs.lo; x > 0; --x, ip += ch) {
                            const uint32_t w = ekrt_load4(ip);
                            s02 = ekrt_sxtab16(s02, w);
                            s13 = ekrt_sxtab16_hi(s13, w);
                        }
                    }
                    if (count == 0) {
                        s02 = s13 = 0;
                    }
                    out[g] = avg_of((int16_t)(uint16_t)s02, count ? count : 1, lo, hi);
                    out[g + 1] = avg_of((int16_t)(uint16_t)s13, count ? count : 1, lo, hi);
                    out[g + 2] = avg_of((int16_t)(uint16_t)(s02 >> 16), count ? count : 1, lo, hi);
                    out[g + 3] = avg_of((int16_t)(uint16_t)(s13 >> 16), count ? count : 1, lo, hi);
                }
            }
        }
    }
}
