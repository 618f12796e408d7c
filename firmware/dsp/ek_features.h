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

/* Samples the chain takes before the current hop ends (1..EK_FEAT_HOP). */
uint32_t ek_features_room(const ek_features_t *st);

/* n samples of every channel (n * EK_FEAT_CHANNELS int16 counts, all channels of a sample
 * together), 1 <= n <= ek_features_room(): a block never crosses a hop's end, so at most its
 * last sample completes a frame. Returns 1 when it does (then `frame`, EK_INPUT_SIZE int8 in the
 * model's input layout, holds it), 0 when not, -1 for a bad n (nothing consumed). Blocks of
 * several samples cost less per sample (the filter state stays in registers across a block);
 * the result is bit for bit the same however the samples are split. */
int ek_features_push_block(ek_features_t *st, const int16_t *samples, uint32_t n, int8_t *frame);

/* One sample of every channel: ek_features_push_block(st, sample, 1, frame). */
int ek_features_push(ek_features_t *st, const int16_t *sample, int8_t *frame);

/* How many samples a caller buffers for ek_features_push_block (8: the state's loads and stores
 * are 1/8 of the per-sample ones; 8 samples of 192 channels are 3 KB of int16). */
#ifndef EK_FEAT_BLOCK_MAX
#define EK_FEAT_BLOCK_MAX 8u
#endif
#endif

#ifdef __cplusplus
}
#endif
#endif /* EK_FEATURES_H */
