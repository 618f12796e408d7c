/* MAX_POOL_2D int8 (TFLM reference_integer_ops::MaxPool): the largest input of the taps
 * inside the image, clamped to the fused activation range. Prepare and reference loop:
 * ekrt_pool_prepare, ekrt_pool_s8 (ekrt_avgpool_s8.c). */
#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include "ekrt_internal.h"

int ekrt_prepare_maxpool(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in)
{
    if (ekrt_pool_prepare(c, op, ot, n_in) != 0) {
        return -1;
    }
    if (op->p.pool.channels >= 4) {
        op->eval = ekrt_eval_maxpool_4ch;
    }
    return 0;
}

void ekrt_eval_maxpool(const ekrt_t *rt, const ekrt_op_t *op)
{
    ekrt_pool_s8(&op->p.pool, EKRT_IN(rt, op, 0), EKRT_OUT(rt, op), 1);
}

/* the signed byte-wise maximum of a and b (SSUB8 sets a lane's GE bit when a >= b, SEL picks) */
static inline uint32_t max8(uint32_t a, uint32_t b)
{
#if EKRT_HAVE_DSP
    uint32_t r, t;
    __asm__("ssub8 %1, %2, %3\n\tsel %0, %2, %3" : "=r"(r), "=&r"(t) : "r"(a), "r"(b) : "cc");
    return r;
#else
    uint32_t r = 0;
    int i;
    for (i = 0; i < 32; i += 8) {
        const int8_t x = (int8_t)(uint8_t)(a >> i), y = (int8_t)(uint8_t)(b >> i);
        r |= (uint32_t)(uint8_t)(x >= y ? x : y) << i;
    }
    return r;
#endif
}

/* Variant: at least 4 channels: four channels a word, a byte-wise maximum per tap (two DSP
 * instructions), the activation clamp the same way (max with {lo x4}, min via max of the
 * complements: min(a, b) = ~max(~a, ~b) for the signed bytes' order reversed by ~). When
 * the channels are not a multiple of 4, the last group overlaps the one before it. */
void ekrt_eval_maxpool_4ch(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_pool_params_t *p = &op->p.pool;
    const int8_t *in = EKRT_IN(rt, op, 0);
    int8_t *out = EKRT_OUT(rt, op);
    const int32_t ch = p->channels, row = p->in_w * ch;
    const uint32_t lo4 = (uint32_t)(uint8_t)p->act_min * 0x01010101u;
    const uint32_t nhi4 = (uint32_t)(uint8_t) ~(uint8_t)p->act_max * 0x01010101u;
    const int clamp = p->act_min > -128 || p->act_max < 127;
    int32_t b, oy, ox, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * row;
        for (oy = 0; oy < p->out_h; ++oy) {
            const ekrt_span_t ys = ekrt_pool_span(oy, p->stride_h, p->pad_h, p->k_h, p->in_h);
            for (ox = 0; ox < p->out_w; ++ox, out += ch) {
                const ekrt_span_t xs = ekrt_pool_span(ox, p->stride_w, p->pad_w, p->k_w, p->in_w);
                const int8_t *base = in_b + ys.lo * row + xs.lo * ch;
                for (c = 0; c < ch; c += 4) {
                    const int32_t g = c + 4 <= ch ? c : ch - 4;
                    uint32_t m = 0x80808080u; /* -128 in every lane */
                    for (y = ys.lo; y < ys.hi; ++y) {
                        const int8_t *ip = base + (y - ys.lo) * row + g;
                        for (x = xs.hi - xs.lo; x > 0; --x, ip += ch) {
                            m = max8(m, ekrt_load4(ip));
                        }
                    }
                    if (clamp) {
                        m = ~max8(~max8(m, lo4), nhi4);
                    }
                    memcpy(out + g, &m, 4);
                }
            }
        }
    }
}
