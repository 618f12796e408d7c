/* A RAM head run by the FULLY_CONNECTED reference kernel (see ekrt_head.h). */
#include "ekrt_head.h"

#include "ekrt_internal.h"

void ekrt_head_fc_s8(const ekrt_head_t *h, const int8_t *in, int8_t *out)
{
    ekrt_fc_params_t p;
    p.batches = 1;
    p.accum_depth = h->n_in;
    p.out_depth = h->n_out;
    p.input_offset = -h->in_zero_point;
    p.filter_offset = 0;
    p.output_offset = h->out_zero_point;
    p.act_min = -128;
    p.act_max = 127;
    p.mult = 0;
    p.shift = 0;
    p.pc_mult = h->mult;
    p.pc_shift = h->shift;
    ekrt_fully_connected_s8(&p, in, h->weights, h->bias, out);
}

void ekrt_head_multiplier(double m, int32_t *qm, int32_t *shift)
{
    ekrt_quantize_multiplier(m, qm, shift);
}
