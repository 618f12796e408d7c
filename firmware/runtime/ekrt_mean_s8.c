/* MEAN int8 (TFLM reference_ops::QuantizedMeanOrSum, compute_sum = false): sum the raw
 * int8 values over the reduced dims, subtract zero_point * count, then one requantization
 * whose multiplier already folds in 1/count (computed at init, see ekrt.c). */
#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include "ekrt_internal.h"

void ekrt_mean_s8(const ekrt_mean_params_t *p, uint32_t ndim, const int32_t *in_dims,
                  const int8_t *in, int8_t *out)
{
    int32_t in_stride[EKRT_MAX_DIMS];
    int32_t kept[EKRT_MAX_DIMS], red[EKRT_MAX_DIMS];
    int32_t idx[EKRT_MAX_DIMS];
    uint32_t n_kept = 0, n_red = 0, d, k;
    int32_t s = 1, n_out = 1, o;
    for (d = ndim; d-- > 0;) {
        in_stride[d] = s;
        s *= in_dims[d];
    }
    for (d = 0; d < ndim; ++d) {
        if (p->reduce_mask & (1u << d)) {
            red[n_red++] = (int32_t)d;
        } else {
            kept[n_kept++] = (int32_t)d;
            n_out *= in_dims[d];
        }
    }
    for (o = 0; o < n_out; ++o) {
        int32_t base = 0, rem = o, off;
        uint32_t sum = 0; /* wrapping, see ekrt_wadd */
        /* row-major decomposition of o over the kept dims */
        for (k = n_kept; k-- > 0;) {
            const int32_t dd = kept[k];
            base += (rem % in_dims[dd]) * in_stride[dd];
            rem /= in_dims[dd];
        }
        for (k = 0; k < n_red; ++k) {
            idx[k] = 0;
        }
        off = base;
        for (;;) {
            sum += (uint32_t)(int32_t)in[off];
            for (k = n_red; k-- > 0;) {
                const int32_t dd = red[k];
                idx[k]++;
                off += in_stride[dd];
                if (idx[k] < in_dims[dd]) {
                    break;
                }
                off -= in_stride[dd] * idx[k];
                idx[k] = 0;
            }
            if (off == base) {
                break; /* odometer wrapped: every reduced index visited */
            }
        }
        sum -= (uint32_t)p->input_zp * (uint32_t)p->num_elements;
        out[o] = ekrt_requant_s8((int32_t)sum, p->mult, p->shift, p->output_zp, -128, 127);
    }
}

int ekrt_prepare_mean(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in)
{
    ekrt_mean_params_t *p = &op->p.mean;
    const ekrt_tinfo_t *in, *ax, *out;
    uint32_t i, n_ax, kept = 1;
    int32_t mult, shift, sh;
    uint64_t n;
    (void)ot;
    if (ekrt_want_inputs(c, n_in, 2, 2)) {
        return -1;
    }
    if (ekrt_want(c, op->in[0], "input", EKRT_T_INT8, -1) ||
        ekrt_want(c, op->in[1], "axis", EKRT_T_INT32, -1) ||
        ekrt_want_const(c, op->in[1], "axis") || ekrt_want(c, op->out, "output", EKRT_T_INT8, -1)) {
        return -1;
    }
    in = ekrt_tinfo(c, op->in[0]);
    ax = ekrt_tinfo(c, op->in[1]);
    out = ekrt_tinfo(c, op->out);
    n_ax = ekrt_elem_count(ax);
    p->reduce_mask = 0;
    for (i = 0; i < n_ax; ++i) {
        int32_t a = ekrt_fb_i32(&c->fb, (uint32_t)(ax->data - c->fb.buf) + 4u * i);
        if (a < 0) {
            a += in->ndim;
        }
        if (a < 0 || a >= in->ndim) {
            return ekrt_fail_op(c, "axis %d out of range", (int)a);
        }
        p->reduce_mask |= (uint8_t)(1u << a);
    }
    n = 1;
    for (i = 0; i < in->ndim; ++i) {
        if (p->reduce_mask & (1u << i)) {
            n *= (uint64_t)in->dims[i];
        } else {
            kept *= (uint32_t)in->dims[i];
        }
    }
    if (kept != ekrt_elem_count(out)) {
        return ekrt_fail_op(c, "output size does not match the reduced input");
    }
    p->num_elements = (int32_t)n;
    p->input_zp = in->zero_point;
    p->output_zp = out->zero_point;
    ekrt_quantize_multiplier((double)in->scale / (double)out->scale, &mult, &shift);
    /* QuantizedMeanOrSum folds 1/n into the multiplier: shift = floor(log2 n), clamped */
    sh = 0;
    while ((n >> (sh + 1)) != 0) {
        sh++;
    }
    if (sh > 32) {
        sh = 32;
    }
    if (sh > 31 + shift) {
        sh = 31 + shift;
    }
    if (sh < 0) {
        sh = 0;
    }
    p->mult = (int32_t)(((int64_t)mult * ((int64_t)1 << sh)) / (int64_t)n);
    p->shift = shift - sh;
    p->in = ekrt_shape_of(in);
    if (in->ndim == 4 && p->reduce_mask == 0x6) {
        op->eval = ekrt_eval_mean_hw;
    }
    return 0;
}

void ekrt_eval_mean(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_shape_t *in = &op->p.mean.in;
    ekrt_mean_s8(&op->p.mean, in->ndim, in->dims, EKRT_IN(rt, op, 0), EKRT_OUT(rt, op));
}

/* Variant: NHWC input reduced over H and W (global average pooling): per batch, four
 * channels a word summed in int16 lanes (SXTAB16; flushed to int32 every 255 pixels, before a
 * lane could overflow), then the same requantization as ekrt_mean_s8. Fewer than 4 channels:
 * one at a time; otherwise the last group of 4 overlaps the one before it. */
void ekrt_eval_mean_hw(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_mean_params_t *p = &op->p.mean;
    const ekrt_shape_t *t = &p->in;
    const int8_t *in = EKRT_IN(rt, op, 0);
    int8_t *out = EKRT_OUT(rt, op);
    const int32_t ch = t->dims[3], hw = t->dims[1] * t->dims[2];
    const uint32_t zp_sum = (uint32_t)p->input_zp * (uint32_t)p->num_elements;
    const int fast = p->shift >= -22 && p->shift <= 31;
    int32_t b, c, i, j;
    for (b = 0; b < t->dims[0]; ++b, in += hw * ch, out += ch) {
        for (c = 0; c < ch; c += ch < 4 ? 1 : 4) {
            const int32_t g = ch < 4 || c + 4 <= ch ? c : ch - 4, n = ch < 4 ? 1 : 4;
            uint32_t sum[4] = {0, 0, 0, 0}; /* wrapping, see ekrt_wadd */
            const int8_t *ip = in + g;
            for (i = 0; i < hw;) {
                const int32_t end = hw - i < 255 ? hw : i + 255;
                uint32_t s02 = 0, s13 = 0;
                if (n == 1) {
                    for (; i < end; ++i, ip += ch) {
                        sum[0] += (uint32_t)(int32_t)*ip;
                    }
                    continue;
                }
                for (; i < end; ++i, ip += ch) {
                    const uint32_t w = ekrt_load4(ip);
                    s02 = ekrt_sxtab16(s02, w);
                    s13 = ekrt_sxtab16_hi(s13, w);
                }
                sum[0] += (uint32_t)(int32_t)(int16_t)(uint16_t)s02;
                sum[1] += (uint32_t)(int32_t)(int16_t)(uint16_t)s13;
                sum[2] += (uint32_t)(int32_t)(int16_t)(uint16_t)(s02 >> 16);
                sum[3] += (uint32_t)(int32_t)(int16_t)(uint16_t)(s13 >> 16);
            }
            for (j = 0; j < n; ++j) {
                /* ekrt_requant_fast is exact for any multiplier in [0, 2^31) (see ekrt_dsp.h):
                 * p->mult <= the quantized multiplier; shifts outside its range take the
                 * general form */
                const int32_t acc = (int32_t)(sum[j] - zp_sum);
                out[g + j] =
                    fast ? ekrt_requant_fast(acc, p->mult, p->shift, p->output_zp, -128, 127)
                         : ekrt_requant_s8(acc, p->mult, p->shift, p->output_zp, -128, 127);
            }
        }
    }
}
