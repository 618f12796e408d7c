/* Host check tool: raw int16 samples (little-endian, EK_FEAT_CHANNELS per sample, sample after
 * sample) on stdin -> one line per frame on stdout: the int8 frame in hex, then the RMS values
 * as float32 bit patterns in hex. Built against a test model_meta.h; compares with causal.py. */
#include <stdio.h>
#include <string.h>

#include "ek_features.h"

static ek_features_t st;

int main(void)
{
    int16_t sample[EK_FEAT_CHANNELS];
    int8_t frame[EK_INPUT_SIZE];
    size_t i;
    ek_features_reset(&st);
    while (fread(sample, sizeof sample[0], EK_FEAT_CHANNELS, stdin) == EK_FEAT_CHANNELS) {
        if (!ek_features_push(&st, sample, frame)) continue;
        for (i = 0; i < EK_INPUT_SIZE; i++) printf("%02x", (unsigned)(uint8_t)frame[i]);
        putchar(' ');
        for (i = 0; i < EK_FEAT_CHANNELS; i++) {
            uint32_t bits;
            memcpy(&bits, &st.rms[i], sizeof bits);
            printf("%08x", (unsigned)bits);
        }
        putchar('\n');
    }
    return 0;
}
