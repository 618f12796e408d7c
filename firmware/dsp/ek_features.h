/* The on-device feature chain: raw int16 samples in, the model's int8 input frame out, every hop.
 * Bit-exact twin of toolchain/edgekit/data/causal.py (see there for the definition); every
 * constant comes from the generated model_meta.h. Build with -ffp-contract=off: a fused
 * multiply-add would round differently from the reference. No allocation; the state is one
 * statically sized struct. */
#ifndef EK_FEATURES_H
#define EK_FEATURES_H

#include <stdint.h>

#include "model_meta.h"

#ifndef EK_FEAT_CHAIN
#define EK_FEAT_CHAIN 0
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if EK_FEAT_CHAIN
typedef struct {
    float z[EK_FEAT_SECTIONS][2][EK_FEAT_CHANNELS]; /* biquad delay state (DF2T) */
    float acc[EK_FEAT_CHANNELS];                    /* sum of squares of the current hop */
    float part[EK_FEAT_BLOCKS][EK_FEAT_CHANNELS];   /* the last n_blocks hops' sums */
    float rms[EK_FEAT_CHANNELS];                    /* the last frame's RMS (for checks) */
    uint32_t in_hop;                                /* samples into the current hop */
    uint32_t hops;                                  /* completed hops since reset (saturates) */
} ek_features_t;

void ek_features_reset(ek_features_t *st);

/* One sample of every channel (EK_FEAT_CHANNELS int16 counts). Returns 1 when it completes a
 * frame: then `frame` (EK_INPUT_SIZE int8, the model's input layout) holds it. */
int ek_features_push(ek_features_t *st, const int16_t *sample, int8_t *frame);
#endif

#ifdef __cplusplus
}
#endif
#endif /* EK_FEATURES_H */
