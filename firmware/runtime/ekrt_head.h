/* edgekit-rt: a classifier head whose weights live in RAM, outside the model.
 *
 * On-device calibration (firmware/app/ek_calib.c) solves a new last FULLY_CONNECTED layer from
 * the penultimate features the model computes, and runs it in place of the model's own. The
 * head runs TFLM's per-channel FULLY_CONNECTED arithmetic (reference_integer_ops::
 * FullyConnectedPerChannel: symmetric int8 weights, int32 bias, MultiplyByQuantizedMultiplier per
 * output channel), the very kernel the model's FULLY_CONNECTED runs, so a .tflite holding the same
 * weights, bias and scales gives the same output bytes in tflite_micro. */
#ifndef EKRT_HEAD_H
#define EKRT_HEAD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t n_in;           /* features (accumulation depth) */
    int32_t n_out;          /* classes */
    int32_t in_zero_point;  /* of the features */
    int32_t out_zero_point; /* of the output */
    const int8_t *weights;  /* [n_out][n_in], symmetric (zero point 0) */
    const int32_t *bias;    /* [n_out] */
    const int32_t *mult;    /* [n_out] quantized multipliers (ekrt_head_multiplier) */
    const int8_t *shift;    /* [n_out] their shifts */
} ekrt_head_t;

/* out[n_out] = the head on one feature vector in[n_in] (no activation: the int8 range). */
void ekrt_head_fc_s8(const ekrt_head_t *h, const int8_t *in, int8_t *out);

/* TFLM's QuantizeMultiplier: m = qm * 2^(shift - 31), bit for bit (for m = (double)in_scale *
 * (double)weight_scale / (double)out_scale, as TFLM's FULLY_CONNECTED computes it). */
void ekrt_head_multiplier(double m, int32_t *qm, int32_t *shift);

#ifdef __cplusplus
}
#endif
#endif /* EKRT_HEAD_H */
