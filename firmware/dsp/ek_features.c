/* See ek_features.h. The float expressions below are written operation for operation as in
 * causal.py; do not "simplify" them (reassociating changes the rounding). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off") /* also where the build (Arduino) does not pass it */
/* -O2 for the per-sample loop whatever the build's level (ports build -Os): the cascade must be
 * unrolled for its state to live in registers. */
#pragma GCC optimize("O2")
#endif
#include "ek_features.h"

#include <math.h>
#include <string.h>

#if EK_FEAT_CHAIN

static const float k_sos[EK_FEAT_SECTIONS * 5] = EK_FEAT_SOS;
static const float k_mean[EK_FEAT_CHANNELS] = EK_NORM_MEAN;
static const float k_std[EK_FEAT_CHANNELS] = EK_NORM_STD;
static const uint8_t k_mask[EK_FEAT_CHANNELS] = EK_FEAT_MASK;
static const int16_t k_pixel[EK_INPUT_SIZE] = EK_FEAT_PIXELS;

void ek_features_reset(ek_features_t *st)
{
    memset(st, 0, sizeof *st);
}

/* TFLite's input quantization: round(v / scale) half away from zero, + zero point, clamped.
 * Done on the float's integer and fractional parts, which are exact for |t| < 2^23, so no
 * addition of 0.5 can round the wrong way. */
static int8_t quantize(float v)
{
    float t = v / EK_INPUT_SCALE;
    float a = t < 0.0f ? -t : t;
    int32_t q;
    if (!(a < 256.0f)) { /* beyond int8 range either way (or NaN: treated as large) */
        q = (t < 0.0f) ? -256 : 256;
    } else {
        int32_t i = (int32_t)a;
        if (a - (float)i >= 0.5f) i++;
        q = t < 0.0f ? -i : i;
    }
    q += EK_INPUT_ZERO_POINT;
    if (q < -128) q = -128;
    if (q > 127) q = 127;
    return (int8_t)q;
}

static void make_frame(ek_features_t *st, int8_t *frame)
{
    static const float k_window = (float)EK_FEAT_WINDOW;
    uint32_t c, j, p;
    for (c = 0; c < EK_FEAT_CHANNELS; c++) {
        float tot = 0.0f;
        for (j = 0; j < EK_FEAT_BLOCKS; j++)
            tot = tot + st->part[(st->hops + j) % EK_FEAT_BLOCKS][c];
        st->rms[c] = sqrtf(tot / k_window);
    }
    for (p = 0; p < EK_INPUT_SIZE; p++) {
        int ch = k_pixel[p];
        float v = 0.0f;
        if (ch >= 0 && k_mask[ch]) v = (st->rms[ch] - k_mean[ch]) / k_std[ch];
        frame[p] = quantize(v);
    }
}

/* One channel through the biquad cascade for n samples (stride `step` int16 apart): the delay
 * state and the running sum stay in registers for the whole block instead of being loaded and
 * stored for every sample. The operations per sample are those of causal.py, in its order. */
static void channel_block(ek_features_t *st, uint32_t c, const int16_t *x_in, uint32_t step,
                          uint32_t n)
{
    const float lsb = EK_FEAT_ADC_LSB;
    float z0[EK_FEAT_SECTIONS], z1[EK_FEAT_SECTIONS];
    float acc = st->acc[c];
    uint32_t s, i;
    for (s = 0; s < EK_FEAT_SECTIONS; s++) {
        z0[s] = st->z[s][0][c];
        z1[s] = st->z[s][1][c];
    }
    for (i = 0; i < n; i++) {
        float x = (float)x_in[i * step] * lsb;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 16
#endif
        for (s = 0; s < EK_FEAT_SECTIONS; s++) {
            const float *k = &k_sos[5u * s];
            float y = k[0] * x + z0[s];
            z0[s] = (k[1] * x - k[3] * y) + z1[s];
            z1[s] = k[2] * x - k[4] * y;
            x = y;
        }
        acc = acc + x * x;
    }
    for (s = 0; s < EK_FEAT_SECTIONS; s++) {
        st->z[s][0][c] = z0[s];
        st->z[s][1][c] = z1[s];
    }
    st->acc[c] = acc;
}

uint32_t ek_features_room(const ek_features_t *st)
{
    return EK_FEAT_HOP - st->in_hop;
}

int ek_features_push_block(ek_features_t *st, const int16_t *samples, uint32_t n, int8_t *frame)
{
    uint32_t c;
    if (n == 0 || n > ek_features_room(st)) return -1; /* a block never crosses a hop's end */
    for (c = 0; c < EK_FEAT_CHANNELS; c++) channel_block(st, c, samples + c, EK_FEAT_CHANNELS, n);
    st->in_hop += n;
    if (st->in_hop < EK_FEAT_HOP) return 0;
    st->in_hop = 0;
    memcpy(st->part[st->hops % EK_FEAT_BLOCKS], st->acc, sizeof st->acc);
    memset(st->acc, 0, sizeof st->acc);
    /* Saturate at a multiple of n_blocks above it so the ring index stays right. */
    st->hops++;
    if (st->hops >= 2u * EK_FEAT_BLOCKS) st->hops -= EK_FEAT_BLOCKS;
    if (st->hops < EK_FEAT_BLOCKS) return 0;
    make_frame(st, frame);
    return 1;
}

int ek_features_push(ek_features_t *st, const int16_t *sample, int8_t *frame)
{
    return ek_features_push_block(st, sample, 1u, frame);
}

#else
typedef int ek_features_unused_t; /* ISO C: a translation unit must not be empty */
#endif
