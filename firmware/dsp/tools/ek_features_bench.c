/* Cortex-M image for benchmarks/bench_features.py: the feature chain of a real export's
 * model_meta.h on pseudo-random samples, timed per hop with SysTick, pushed sample by sample and
 * in blocks of EK_FEAT_BLOCK_MAX. Prints "block B hop I ticks T" lines through semihosting and
 * exits; QEMU only (-semihosting-config enable=on). */
#include <stdint.h>

#include "cm.h"
#include "cm_semihost.h"
#include "ek_features.h"

#define HOPS 8u

static ek_features_t st;
static int16_t block[EK_FEAT_BLOCK_MAX * EK_FEAT_CHANNELS];
static int8_t frame[EK_INPUT_SIZE];

void cm_board_init(void) {}

static void put_u32(char **p, uint32_t v)
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    while (n > 0) *(*p)++ = tmp[--n];
}

static void report(uint32_t b, uint32_t hop, uint32_t ticks)
{
    char line[64], *p = line;
    const char *parts[3] = {"block ", " hop ", " ticks "};
    const uint32_t vals[3] = {b, hop, ticks};
    int i;
    for (i = 0; i < 3; i++) {
        const char *s = parts[i];
        while (*s) *p++ = *s++;
        put_u32(&p, vals[i]);
    }
    *p++ = '\n';
    *p = '\0';
    cm_semi_write0(line);
}

int main(void)
{
    static const uint32_t sizes[2] = {1u, EK_FEAT_BLOCK_MAX};
    uint32_t lcg = 1u, k, hop, i;
    cm_systick_start();
    for (k = 0; k < 2u; k++) {
        ek_features_reset(&st);
        for (hop = 0; hop < HOPS; hop++) {
            uint32_t ticks = 0u;
            int done = 0;
            while (!done) {
                uint32_t n = ek_features_room(&st), t0;
                if (n > sizes[k]) n = sizes[k];
                for (i = 0; i < n * EK_FEAT_CHANNELS; i++) {
                    lcg = lcg * 1664525u + 1013904223u;
                    block[i] = (int16_t)(lcg >> 20) - 2048; /* +-2048 counts */
                }
                t0 = cm_systick_ticks();
                done = ek_features_push_block(&st, block, n, frame) == 1 ||
                       ek_features_room(&st) == EK_FEAT_HOP;
                ticks += cm_systick_ticks() - t0;
            }
            report(sizes[k], hop, ticks);
        }
    }
    cm_semi_exit(0);
    return 0;
}
