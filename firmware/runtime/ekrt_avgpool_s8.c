/* AVERAGE_POOL_2D int8 (TFLM reference_integer_ops::AveragePool): the divisor counts only
 * the taps inside the image; the average rounds half away from zero. */
#include "ekrt_internal.h"

void ekrt_avgpool_s8(const ekrt_pool_params_t *p, const int8_t *in, int8_t *out)
{
    int32_t b, oy, ox, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = iy0 < 0 ? -iy0 : 0;
            const int32_t fy1 = p->k_h < p->in_h - iy0 ? p->k_h : p->in_h - iy0;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t fx1 = p->k_w < p->in_w - ix0 ? p->k_w : p->in_w - ix0;
                for (c = 0; c < p->channels; ++c) {
                    int32_t acc = 0, count = 0;
                    for (y = fy0; y < fy1; ++y) {
                        for (x = fx0; x < fx1; ++x) {
                            acc += in[((b * p->in_h + iy0 + y) * p->in_w + ix0 + x) * p->channels + c];
                            count++;
                        }
                    }
                    if (count > 0) {
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    }
                    out[((b * p->out_h + oy) * p->out_w + ox) * p->channels + c] =
                        (int8_t)ekrt_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
