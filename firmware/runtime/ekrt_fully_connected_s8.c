/* FULLY_CONNECTED int8 (TFLM reference_integer_ops::FullyConnected and
 * FullyConnectedPerChannel). Filter [out_depth][accum_depth]. */
#include "ekrt_internal.h"

void ekrt_fully_connected_s8(const ekrt_fc_params_t *p, const int8_t *in, const int8_t *filter,
                             const int32_t *bias, int8_t *out)
{
    int32_t b, o, d;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * p->accum_depth;
        for (o = 0; o < p->out_depth; ++o) {
            const int8_t *w = filter + o * p->accum_depth;
            uint32_t acc = 0; /* wrapping sum, see ekrt_wadd */
            if (p->pc_mult) {
                /* per-channel variant has no filter offset (weights are symmetric) */
                for (d = 0; d < p->accum_depth; ++d) {
                    acc += (uint32_t)((int32_t)w[d] * ((int32_t)x[d] + p->input_offset));
                }
            } else {
                for (d = 0; d < p->accum_depth; ++d) {
                    acc += (uint32_t)(((int32_t)w[d] + p->filter_offset) *
                                      ((int32_t)x[d] + p->input_offset));
                }
            }
            if (bias) {
                acc += (uint32_t)bias[o];
            }
            out[b * p->out_depth + o] =
                p->pc_mult ? ekrt_requant_s8((int32_t)acc, p->pc_mult[o], p->pc_shift[o],
                                             p->output_offset, p->act_min, p->act_max)
                           : ekrt_requant_s8((int32_t)acc, p->mult, p->shift, p->output_offset,
                                             p->act_min, p->act_max);
        }
    }
}
