/* The int8 matrix product behind the 1x1 convolution, the im2col convolution and the fully
 * connected layer: out[c][r] = requant(bias[r] + sum_k w[r][k] * (col_c[k] + input_offset))
 * for one or two columns (pixels) at a time and two filter rows (output channels) at a time,
 * so every weight word loaded feeds two pixels and every input word feeds two channels.
 * With DSP: 4 int8 -> two int16 pairs per SXTB16/SXTAB16 (the input offset added on the way),
 * two MACs per SMLAD; the portable path computes the same sums with the same lane order.
 * The scalar k % 4 tails are written out in each path on purpose: one shared inline helper
 * (accumulators by pointer) cost gcc 12 +17,000 instructions (+0.25%) on the sweep's w0.1. */
#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include "ekrt_internal.h"

/* the requantization parameters copied into locals, so stores to out (int8, may alias
 * anything) do not force reloads */
#define REQUANT_LOCALS(q)                                                        \
    const int32_t *const mult = (q)->mult;                                       \
    const int8_t *const shift = (q)->shift;                                      \
    const int32_t zp = (q)->output_offset, lo = (q)->act_min, hi = (q)->act_max; \
    const int32_t right_only = (q)->right_only
#define requant(q, acc, r)                                              \
    (right_only ? ekrt_requant_r((acc), mult[r], -shift[r], zp, lo, hi) \
                : ekrt_requant_fast((acc), mult[r], shift[r], zp, lo, hi))

/* Two columns through int16: the columns' first k & ~3 values, offset added, go to q15 as
 * {a0,a2} {a1,a3} {b0,b2} {b1,b3} per group of four (one SXTAB16 per two values, once per
 * column pair), so the loop over the filter rows loads four ready words per four k instead
 * of splitting both columns again for every pair of rows. */
static void mat_2col_q15(const ekrt_mat_q_t *q, const int8_t *a, int32_t k, const int8_t *w,
                         int32_t rows, const int32_t *bias, int8_t *out, uint32_t *q15)
{
    const uint32_t off2 = ekrt_dup16(q->input_offset);
    const int32_t in_off = q->input_offset, k4 = k & ~3, n4 = k >> 2;
    int32_t r = 0, i;
    REQUANT_LOCALS(q);
    {
        const int8_t *pa = a;
        uint32_t *dst = q15;
        int32_t n = n4;
        while (n-- > 0) {
            const uint32_t xa = ekrt_load4(pa), xb = ekrt_load4(pa + k);
            dst[0] = ekrt_sxtab16(off2, xa);
            dst[1] = ekrt_sxtab16_hi(off2, xa);
            dst[2] = ekrt_sxtab16(off2, xb);
            dst[3] = ekrt_sxtab16_hi(off2, xb);
            dst += 4;
            pa += 4;
        }
    }
    for (; r + 1 < rows; r += 2) {
        const int8_t *pw = w + r * k;
        const uint32_t *px = q15;
        int32_t a0 = bias ? bias[r] : 0, a1 = bias ? bias[r + 1] : 0;
        int32_t b0 = a0, b1 = a1;
        int32_t n = n4;
        while (n-- > 0) {
            const uint32_t wa = ekrt_load4(pw), wb = ekrt_load4(pw + k);
            const uint32_t wa_l = ekrt_sxtb16(wa), wa_h = ekrt_sxtb16_hi(wa);
            const uint32_t wb_l = ekrt_sxtb16(wb), wb_h = ekrt_sxtb16_hi(wb);
            const uint32_t xa_l = px[0], xa_h = px[1], xb_l = px[2], xb_h = px[3];
            a0 = ekrt_smlad(wa_l, xa_l, a0);
            a0 = ekrt_smlad(wa_h, xa_h, a0);
            a1 = ekrt_smlad(wb_l, xa_l, a1);
            a1 = ekrt_smlad(wb_h, xa_h, a1);
            b0 = ekrt_smlad(wa_l, xb_l, b0);
            b0 = ekrt_smlad(wa_h, xb_h, b0);
            b1 = ekrt_smlad(wb_l, xb_l, b1);
            b1 = ekrt_smlad(wb_h, xb_h, b1);
            pw += 4;
            px += 4;
        }
        for (i = k4; i < k; ++i) {
            const int32_t xa = a[i] + in_off, xb = a[k + i] + in_off;
            const int32_t f0 = w[r * k + i], f1 = w[(r + 1) * k + i];
            a0 = ekrt_wadd(a0, f0 * xa);
            a1 = ekrt_wadd(a1, f1 * xa);
            b0 = ekrt_wadd(b0, f0 * xb);
            b1 = ekrt_wadd(b1, f1 * xb);
        }
        {
            const int8_t o0 = requant(q, a0, r), o1 = requant(q, a1, r + 1);
            const int8_t o2 = requant(q, b0, r), o3 = requant(q, b1, r + 1);
            out[r] = o0;
            out[r + 1] = o1;
            out[rows + r] = o2;
            out[rows + r + 1] = o3;
        }
    }
    if (r < rows) {
        const int8_t *pw = w + r * k;
        const uint32_t *px = q15;
        int32_t a0 = bias ? bias[r] : 0, b0 = a0;
        int32_t n = n4;
        while (n-- > 0) {
            const uint32_t wa = ekrt_load4(pw);
            const uint32_t wa_l = ekrt_sxtb16(wa), wa_h = ekrt_sxtb16_hi(wa);
            a0 = ekrt_smlad(wa_l, px[0], a0);
            a0 = ekrt_smlad(wa_h, px[1], a0);
            b0 = ekrt_smlad(wa_l, px[2], b0);
            b0 = ekrt_smlad(wa_h, px[3], b0);
            pw += 4;
            px += 4;
        }
        for (i = k4; i < k; ++i) {
            a0 = ekrt_wadd(a0, w[r * k + i] * (a[i] + in_off));
            b0 = ekrt_wadd(b0, w[r * k + i] * (a[k + i] + in_off));
        }
        {
            const int8_t o0 = requant(q, a0, r), o2 = requant(q, b0, r);
            out[r] = o0;
            out[rows + r] = o2;
        }
    }
}

/* Two columns: a and a + k, into out and out + rows. Pointer walks and a count-down keep the
 * loop's live values (4 accumulators, 2 pointers, k, count, offset) in registers. */
static void mat_2col(const ekrt_mat_q_t *q, const int8_t *a, int32_t k, const int8_t *w,
                     int32_t rows, const int32_t *bias, int8_t *out)
{
    const uint32_t off2 = ekrt_dup16(q->input_offset);
    const int32_t in_off = q->input_offset, k4 = k & ~3;
    int32_t r = 0, i;
    REQUANT_LOCALS(q);
    for (; r + 1 < rows; r += 2) {
        const int8_t *pw = w + r * k, *pa = a;
        int32_t a0 = bias ? bias[r] : 0, a1 = bias ? bias[r + 1] : 0;
        int32_t b0 = a0, b1 = a1;
        int32_t n = k >> 2;
        while (n-- > 0) {
            const uint32_t wa = ekrt_load4(pw), wb = ekrt_load4(pw + k);
            const uint32_t wa_l = ekrt_sxtb16(wa), wa_h = ekrt_sxtb16_hi(wa);
            const uint32_t wb_l = ekrt_sxtb16(wb), wb_h = ekrt_sxtb16_hi(wb);
            uint32_t x = ekrt_load4(pa), x_l = ekrt_sxtab16(off2, x),
                     x_h = ekrt_sxtab16_hi(off2, x);
            a0 = ekrt_smlad(wa_l, x_l, a0);
            a0 = ekrt_smlad(wa_h, x_h, a0);
            a1 = ekrt_smlad(wb_l, x_l, a1);
            a1 = ekrt_smlad(wb_h, x_h, a1);
            x = ekrt_load4(pa + k);
            x_l = ekrt_sxtab16(off2, x);
            x_h = ekrt_sxtab16_hi(off2, x);
            b0 = ekrt_smlad(wa_l, x_l, b0);
            b0 = ekrt_smlad(wa_h, x_h, b0);
            b1 = ekrt_smlad(wb_l, x_l, b1);
            b1 = ekrt_smlad(wb_h, x_h, b1);
            pw += 4;
            pa += 4;
        }
        for (i = k4; i < k; ++i) {
            const int32_t xa = a[i] + in_off, xb = a[k + i] + in_off;
            const int32_t f0 = w[r * k + i], f1 = w[(r + 1) * k + i];
            a0 = ekrt_wadd(a0, f0 * xa);
            a1 = ekrt_wadd(a1, f1 * xa);
            b0 = ekrt_wadd(b0, f0 * xb);
            b1 = ekrt_wadd(b1, f1 * xb);
        }
        {
            /* all four results before any store: an int8 store may alias mult/shift */
            const int8_t o0 = requant(q, a0, r), o1 = requant(q, a1, r + 1);
            const int8_t o2 = requant(q, b0, r), o3 = requant(q, b1, r + 1);
            out[r] = o0;
            out[r + 1] = o1;
            out[rows + r] = o2;
            out[rows + r + 1] = o3;
        }
    }
    if (r < rows) {
        const int8_t *w0 = w + r * k;
        int32_t a0 = bias ? bias[r] : 0, b0 = a0;
        for (i = 0; i < k4; i += 4) {
            const uint32_t wa = ekrt_load4(w0 + i);
            const uint32_t xa = ekrt_load4(a + i), xb = ekrt_load4(a + k + i);
            const uint32_t wa_l = ekrt_sxtb16(wa), wa_h = ekrt_sxtb16_hi(wa);
            a0 = ekrt_smlad(wa_l, ekrt_sxtab16(off2, xa), a0);
            a0 = ekrt_smlad(wa_h, ekrt_sxtab16_hi(off2, xa), a0);
            b0 = ekrt_smlad(wa_l, ekrt_sxtab16(off2, xb), b0);
            b0 = ekrt_smlad(wa_h, ekrt_sxtab16_hi(off2, xb), b0);
        }
        for (; i < k; ++i) {
            a0 = ekrt_wadd(a0, w0[i] * (a[i] + in_off));
            b0 = ekrt_wadd(b0, w0[i] * (a[k + i] + in_off));
        }
        out[r] = requant(q, a0, r);
        out[rows + r] = requant(q, b0, r);
    }
}

/* One column against `rows` filter rows. */
static void mat_1col(const ekrt_mat_q_t *q, const int8_t *a, int32_t k, const int8_t *w,
                     int32_t rows, const int32_t *bias, int8_t *out_a)
{
    const uint32_t off2 = ekrt_dup16(q->input_offset);
    const int32_t k4 = k & ~3;
    int32_t r = 0, i;
    REQUANT_LOCALS(q);
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

uint32_t ekrt_mat_q15_bytes(int32_t k)
{
    return 4u * (uint32_t)(k & ~3);
}

void ekrt_mat_s8(const ekrt_mat_q_t *q, const int8_t *a, int32_t n_cols, int32_t k, const int8_t *w,
                 int32_t rows, const int32_t *bias, int8_t *out, void *q15)
{
    if (n_cols == 2 && q15 != NULL) {
        mat_2col_q15(q, a, k, w, rows, bias, out, (uint32_t *)q15);
    } else if (n_cols == 2) {
        mat_2col(q, a, k, w, rows, bias, out);
    } else {
        mat_1col(q, a, k, w, rows, bias, out);
    }
}
