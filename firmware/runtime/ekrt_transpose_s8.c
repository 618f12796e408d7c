/* TRANSPOSE int8 (TFLM reference_ops::Transpose): out[i0..in] = in[index permuted by perm],
 * output dim d = input dim perm[d]. Pure data movement. */
#include "ekrt_internal.h"

void ekrt_transpose_s8(const int32_t *perm, uint32_t ndim, const int32_t *in_dims,
                       const int8_t *in, int8_t *out)
{
    int32_t in_stride[EKRT_MAX_DIMS], out_dims[EKRT_MAX_DIMS], step[EKRT_MAX_DIMS];
    int32_t idx[EKRT_MAX_DIMS] = {0};
    uint32_t d, total = 1, i;
    int32_t s = 1, off = 0;
    for (d = ndim; d-- > 0;) {
        in_stride[d] = s;
        s *= in_dims[d];
    }
    for (d = 0; d < ndim; ++d) {
        out_dims[d] = in_dims[perm[d]];
        step[d] = in_stride[perm[d]];
        total *= (uint32_t)out_dims[d];
    }
    for (i = 0; i < total; ++i) {
        out[i] = in[off];
        for (d = ndim; d-- > 0;) {
            idx[d]++;
            off += step[d];
            if (idx[d] < out_dims[d]) {
                break;
            }
            off -= step[d] * idx[d];
            idx[d] = 0;
        }
    }
}
