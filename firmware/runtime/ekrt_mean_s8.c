/* MEAN int8 (TFLM reference_ops::QuantizedMeanOrSum, compute_sum = false): sum the raw
 * int8 values over the reduced dims, subtract zero_point * count, then one requantization
 * whose multiplier already folds in 1/count (computed at init, see ekrt.c). */
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
