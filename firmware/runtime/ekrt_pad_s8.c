/* PAD / PADV2 int8 (TFLM reference_ops::Pad): output element = input element when inside
 * the copied window, else pad_value (the output zero point for PAD). */
#include "ekrt_internal.h"

void ekrt_pad_s8(const ekrt_pad_params_t *p, uint32_t ndim, const int32_t *in_dims,
                 const int32_t *out_dims, const int8_t *in, int8_t *out)
{
    int32_t idx[EKRT_MAX_DIMS] = {0};
    int32_t in_stride[EKRT_MAX_DIMS];
    uint32_t total = 1, i, d;
    int32_t s = 1;
    for (d = ndim; d-- > 0;) {
        in_stride[d] = s;
        s *= in_dims[d];
        total *= (uint32_t)out_dims[d];
    }
    for (i = 0; i < total; ++i) {
        int32_t off = 0;
        int inside = 1;
        for (d = 0; d < ndim; ++d) {
            const int32_t q = idx[d] - p->before[d];
            if (q < 0 || q >= in_dims[d]) {
                inside = 0;
                break;
            }
            off += q * in_stride[d];
        }
        out[i] = inside ? in[off] : p->pad_value;
        for (d = ndim; d-- > 0;) {
            if (++idx[d] < out_dims[d]) {
                break;
            }
            idx[d] = 0;
        }
    }
}
