/* Host check tool: raw int16 samples (little-endian, EK_FEAT_CHANNELS per sample, sample after
 * sample) on stdin -> one line per frame on stdout: the int8 frame in hex, then the RMS values
 * as float32 bit patterns in hex. Built against a test model_meta.h; compares with causal.py.
 * Argument: how the samples are split into ek_features_push_block calls: a block size 1..8, or
 * 0 for pseudo-random sizes (every split must give the same bits). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ek_features.h"

static ek_features_t st;
static int16_t block[EK_FEAT_BLOCK_MAX * EK_FEAT_CHANNELS];

static void print_frame(const int8_t *frame)
{
    size_t i;
    for (i = 0; i < EK_INPUT_SIZE; i++) printf("%02x", (unsigned)(uint8_t)frame[i]);
    putchar(' ');
    for (i = 0; i < EK_FEAT_CHANNELS; i++) {
        uint32_t bits;
        memcpy(&bits, &st.rms[i], sizeof bits);
        printf("%08x", (unsigned)bits);
    }
    putchar('\n');
}

int main(int argc, char **argv)
{
    int8_t frame[EK_INPUT_SIZE];
    const long fixed = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
    uint32_t lcg = 12345u;
    if (fixed < 0 || fixed > (long)EK_FEAT_BLOCK_MAX) return 2;
    ek_features_reset(&st);
    for (;;) {
        uint32_t want = (uint32_t)fixed, room = ek_features_room(&st);
        size_t got;
        int r;
        if (want == 0) {
            lcg = lcg * 1103515245u + 12345u;
            want = 1u + (lcg >> 16) % EK_FEAT_BLOCK_MAX;
        }
        if (want > room) want = room;
        got = fread(block, sizeof block[0] * EK_FEAT_CHANNELS, want, stdin);
        if (got == 0) break;
        r = ek_features_push_block(&st, block, (uint32_t)got, frame);
        if (r < 0) return 3;
        if (r == 1) print_frame(frame);
        if (got < want) break;
    }
    return 0;
}
