/* ADD int8 with broadcasting (TFLM reference_integer_ops AddElementwise/BroadcastAdd6DSlow):
 * both inputs are shifted left by left_shift (20), scaled to a common scale, summed and
 * requantized to the output scale. */
#include "ekrt_internal.h"

static int8_t add_one(const ekrt_add_params_t *p, int32_t a, int32_t b)
{
    const int32_t sa = (a + p->in1_offset) * (1 << p->left_shift);
    const int32_t sb = (b + p->in2_offset) * (1 << p->left_shift);
    const int32_t ra = ekrt_mbqm(sa, p->in1_mult, p->in1_shift);
    const int32_t rb = ekrt_mbqm(sb, p->in2_mult, p->in2_shift);
    return ekrt_requant_s8(ekrt_wadd(ra, rb), p->out_mult, p->out_shift, p->out_offset,
                           p->act_min, p->act_max);
}

void ekrt_add_s8(const ekrt_add_params_t *p, uint32_t ndim, const int32_t *out_dims,
                 const int32_t *s1, const int32_t *s2, const int8_t *in1, const int8_t *in2,
                 int8_t *out)
{
    int32_t idx[EKRT_MAX_DIMS] = {0};
    uint32_t total = 1, i, d;
    int32_t o1 = 0, o2 = 0;
    for (d = 0; d < ndim; ++d) {
        total *= (uint32_t)out_dims[d];
    }
    for (i = 0; i < total; ++i) {
        out[i] = add_one(p, in1[o1], in2[o2]);
        /* odometer increment of the output index, updating both input offsets */
        for (d = ndim; d-- > 0;) {
            idx[d]++;
            o1 += s1[d];
            o2 += s2[d];
            if (idx[d] < out_dims[d]) {
                break;
            }
            o1 -= s1[d] * idx[d];
            o2 -= s2[d] * idx[d];
            idx[d] = 0;
        }
    }
}
