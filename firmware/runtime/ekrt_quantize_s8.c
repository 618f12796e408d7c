/* QUANTIZE (float32 -> int8: TFLM AffineQuantize; int8 -> int8: Requantize) and
 * DEQUANTIZE (int8 -> float32: reference Dequantize, scale held as double). */
#include "ekrt_internal.h"

void ekrt_quantize_f32_s8(const ekrt_qnt_params_t *p, uint32_t n, const float *in, int8_t *out)
{
    uint32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t q = ekrt_round_f32(in[i] / p->scale);
        /* saturating add so a huge input cannot overflow before the clamp */
        const int64_t v = (int64_t)q + p->zero_point;
        out[i] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
    }
}

void ekrt_requantize_s8(const ekrt_qnt_params_t *p, uint32_t n, const int8_t *in, int8_t *out)
{
    uint32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = ekrt_requant_s8((int32_t)in[i] - p->in_zp, p->mult, p->shift, p->zero_point,
                                 -128, 127);
    }
}

void ekrt_dequantize_s8_f32(const ekrt_qnt_params_t *p, uint32_t n, const int8_t *in,
                            float *out)
{
    const double scale = (double)p->scale;
    uint32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = (float)(scale * (double)((int32_t)in[i] - p->zero_point));
    }
}
