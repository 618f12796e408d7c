/* The int8 matrix product behind the 1x1 convolution, the im2col convolution and the fully
 * connected layer: out[c][r] = requant(bias[r] + sum_k w[r][k] * (col_c[k] + input_offset))
 * for one or two columns (pixels) at a time and two filter rows (output channels) at a time,
 * so every weight word loaded feeds two pixels and every input word feeds two channels.
 * With DSP: 4 int8 -> two int16 pairs per SXTB16/SXTAB16 (the input offset added on the way),
 * two MACs per SMLAD; the portable path computes the same sums with the same lane order. */
#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include "ekrt_internal.h"

static inline int8_t requant(const ekrt_mat_q_t *q, int32_t acc, int32_t r)
{
    if (q->mult != NULL) {
        return ekrt_requant_fast(acc, q->mult[r], q->shift[r], q->output_offset, q->act_min,
                                 q->act_max);
    }
    return ekrt_requant_fast(acc, q->mult_pt, q->shift_pt, q->output_offset, q->act_min,
                             q->act_max);
}

/* Two columns a, b (k int8 each) against `rows` filter rows of k int8 (row r at w + r * k). */
static void mat_2col(const ekrt_mat_q_t *q, const int8_t *a, const int8_t *b, int32_t k,
                     const int8_t *w, int32_t rows, const int32_t *bias, int8_t *out_a,
                     int8_t *out_b)
{
    const uint32_t off2 = ekrt_dup16(q->input_offset);
    const int32_t k4 = k & ~3;
    int32_t r = 0, i;
    for (; r + 1 < rows; r += 2) {
        const int8_t *w0 = w + r * k, *w1 = w0 + k;
        int32_t a0 = bias ? bias[r] : 0, a1 = bias ? bias[r + 1] : 0;
        int32_t b0 = a0, b1 = a1;
        for (i = 0; i < k4; i += 4) {
            const uint32_t wa = ekrt_load4(w0 + i), wb = ekrt_load4(w1 + i);
            const uint32_t xa = ekrt_load4(a + i), xb = ekrt_load4(b + i);
            const uint32_t wa_l = ekrt_sxtb16(wa), wa_h = ekrt_sxtb16_hi(wa);
            const uint32_t wb_l = ekrt_sxtb16(wb), wb_h = ekrt_sxtb16_hi(wb);
            const uint32_t xa_l = ekrt_sxtab16(off2, xa), xa_h = ekrt_sxtab16_hi(off2, xa);
            const uint32_t xb_l = ekrt_sxtab16(off2, xb), xb_h = ekrt_sxtab16_hi(off2, xb);
            a0 = ekrt_smlad(wa_l, xa_l, a0);
            a0 = ekrt_smlad(wa_h, xa_h, a0);
            a1 = ekrt_smlad(wb_l, xa_l, a1);
            a1 = ekrt_smlad(wb_h, xa_h, a1);
            b0 = ekrt_smlad(wa_l, xb_l, b0);
            b0 = ekrt_smlad(wa_h, xb_h, b0);
            b1 = ekrt_smlad(wb_l, xb_l, b1);
            b1 = ekrt_smlad(wb_h, xb_h, b1);
        }
        for (; i < k; ++i) {
            const int32_t xa = a[i] + q->input_offset, xb = b[i] + q->input_offset;
            a0 = ekrt_wadd(a0, w0[i] * xa);
            a1 = ekrt_wadd(a1, w1[i] * xa);
            b0 = ekrt_wadd(b0, w0[i] * xb);
            b1 = ekrt_wadd(b1, w1[i] * xb);
        }
        out_a[r] = requant(q, a0, r);
        out_a[r + 1] = requant(q, a1, r + 1);
        out_b[r] = requant(q, b0, r);
        out_b[r + 1] = requant(q, b1, r + 1);
    }
    if (r < rows) {
        const int8_t *w0 = w + r * k;
        int32_t a0 = bias ? bias[r] : 0, b0 = a0;
        for (i = 0; i < k4; i += 4) {
            const uint32_t wa = ekrt_load4(w0 + i);
            const uint32_t xa = ekrt_load4(a + i), xb = ekrt_load4(b + i);
            const uint32_t wa_l = ekrt_sxtb16(wa), wa_h = ekrt_sxtb16_hi(wa);
            a0 = ekrt_smlad(wa_l, ekrt_sxtab16(off2, xa), a0);
            a0 = ekrt_smlad(wa_h, ekrt_sxtab16_hi(off2, xa), a0);
            b0 = ekrt_smlad(wa_l, ekrt_sxtab16(off2, xb), b0);
            b0 = ekrt_smlad(wa_h, ekrt_sxtab16_hi(off2, xb), b0);
        }
        for (; i < k; ++i) {
            a0 = ekrt_wadd(a0, w0[i] * (a[i] + q->input_offset));
            b0 = ekrt_wadd(b0, w0[i] * (b[i] + q->input_offset));
        }
        out_a[r] = requant(q, a0, r);
        out_b[r] = requant(q, b0, r);
    }
}

/* One column against `rows` filter rows. */
static void mat_1col(const ekrt_mat_q_t *q, const int8_t *a, int32_t k, const int8_t *w,
                     int32_t rows, const int32_t *bias, int8_t *out_a)
{
    const uint32_t off2 = ekrt_dup16(q->input_offset);
    const int32_t k4 = k & ~3;
    int32_t r = 0, i;
    for (; r + 1 < rows; r += 2) {
        const int8_t *w0 = w + r * k, *w1 = w0 + k;
        int32_t a0 = bias ? bias[r] : 0, a1 = bias ? bias[r + 1] : 0;
        for (i = 0; i < k4; i += 4) {
            const uint32_t wa = ekrt_load4(w0 + i), wb = ekrt_load4(w1 + i);
            const uint32_t xa = ekrt_load4(a + i);
            const uint32_t xa_l = ekrt_sxtab16(off2, xa), xa_h = ekrt_sxtab16_hi(off2, xa);
            a0 = ekrt_smlad(ekrt_sxtb16(wa), xa_l, a0);
            a0 = ekrt_smlad(ekrt_sxtb16_hi(wa), xa_h, a0);
            a1 = ekrt_smlad(ekrt_sxtb16(wb), xa_l, a1);
            a1 = ekrt_smlad(ekrt_sxtb16_hi(wb), xa_h, a1);
        }
        for (; i < k; ++i) {
            const int32_t xa = a[i] + q->input_offset;
            a0 = ekrt_wadd(a0, w0[i] * xa);
            a1 = ekrt_wadd(a1, w1[i] * xa);
        }
        out_a[r] = requant(q, a0, r);
        out_a[r + 1] = requant(q, a1, r + 1);
    }
    if (r < rows) {
        const int8_t *w0 = w + r * k;
        int32_t a0 = bias ? bias[r] : 0;
        for (i = 0; i < k4; i += 4) {
            const uint32_t wa = ekrt_load4(w0 + i), xa = ekrt_load4(a + i);
            a0 = ekrt_smlad(ekrt_sxtb16(wa), ekrt_sxtab16(off2, xa), a0);
            a0 = ekrt_smlad(ekrt_sxtb16_hi(wa), ekrt_sxtab16_hi(off2, xa), a0);
        }
        for (; i < k; ++i) {
            a0 = ekrt_wadd(a0, w0[i] * (a[i] + q->input_offset));
        }
        out_a[r] = requant(q, a0, r);
    }
}

void ekrt_mat_s8(const ekrt_mat_q_t *q, const int8_t *a, const int8_t *b, int32_t k,
                 const int8_t *w, int32_t rows, const int32_t *bias, int8_t *out_a,
                 int8_t *out_b)
{
    if (b != NULL) {
        mat_2col(q, a, b, k, w, rows, bias, out_a, out_b);
    } else {
        mat_1col(q, a, k, w, rows, bias, out_a);
    }
}
