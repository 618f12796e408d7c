/* Self-check of the int8 matrix product (ekrt_mat_s8.c) against the reference fully connected
 * kernel (ekrt_fully_connected_s8, TFLM's reference_integer_ops::FullyConnected[PerChannel]),
 * over random cases that reach every path whatever a model's arena plan would give them:
 * tiles of every even size (wide, narrow) and none (vec), k with every tail, odd and even
 * groups, 1..40 rows, per-tensor and per-channel multipliers, right shifts from 1 to 31 with
 * near-2^30 biases (near-dead channels: mode G), left shifts, the full int8 range and
 * narrower activation ranges, all-rows-in-mode-R ops (EKRT_RQ_R22) and mixed ones.
 *
 * Host:   cc -I.. ekrt_matcheck.c <runtime sources> -o matcheck; ./matcheck [cases] [seed]
 * QEMU:   make -C semihost matcheck (ekrt_matcheck.elf, semihosting console, -append "cases seed")
 * Prints "matcheck ok <cases>" and exits 0, or the first mismatch and exits 1. */
#include <stdint.h>
#include <string.h>

#include "ekrt_internal.h"

#ifdef EKRT_MATCHECK_SEMIHOST
#include "cm.h"
#include "cm_semihost.h"
static void say(const char *s)
{
    cm_semi_write0(s);
}
#else
#include <stdio.h>
#include <stdlib.h>
static void say(const char *s)
{
    fputs(s, stdout);
}
#endif

#define K_MAX 160
#define ROWS_MAX 40
#define N_MAX 20

static uint32_t s_rng;
static int32_t s_bias[ROWS_MAX];
static int32_t s_mult[ROWS_MAX];
static int8_t s_shift[ROWS_MAX];
static int8_t s_ref[N_MAX * ROWS_MAX], s_got[N_MAX * ROWS_MAX];
static uint32_t s_scratch[(N_MAX + 2) * K_MAX / 2 + 64];

/* the filter and the columns exactly as large as they are: on the host each its own
 * allocation, so the sanitizers see any read past one */
#ifdef EKRT_MATCHECK_SEMIHOST
static int8_t s_w_buf[ROWS_MAX * K_MAX], s_x_buf[N_MAX * K_MAX];
static int8_t *get_w(int32_t bytes)
{
    (void)bytes;
    return s_w_buf;
}
static int8_t *get_x(int32_t bytes)
{
    (void)bytes;
    return s_x_buf;
}
static void put(int8_t *p)
{
    (void)p;
}
#else
static int8_t *get_w(int32_t bytes)
{
    return (int8_t *)malloc((size_t)bytes);
}
static int8_t *get_x(int32_t bytes)
{
    return (int8_t *)malloc((size_t)bytes);
}
static void put(int8_t *p)
{
    free(p);
}
#endif

static uint32_t rnd(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 17;
    s_rng ^= s_rng << 5;
    return s_rng;
}

static int32_t pick(int32_t lo, int32_t hi) /* [lo, hi] */
{
    return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1));
}

static void out_i(int32_t v)
{
    char buf[13];
    int i = 12;
    uint32_t u = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u != 0);
    if (v < 0) {
        buf[--i] = '-';
    }
    say(&buf[i]);
}

/* one row's multiplier and shift: mostly mode R, sometimes a near-dead channel (right shift
 * 23..31, bias near 2^30), a left shift or a right shift of 1 (mode G) */
static void row_quant(int32_t r, int32_t kind)
{
    s_mult[r] = (int32_t)(0x40000000u + (rnd() & 0x3FFFFFFFu));
    switch (kind) {
    case 0:
        s_shift[r] = (int8_t)pick(-22, -1);
        s_bias[r] = pick(-40000, 40000);
        break;
    case 1:
        s_shift[r] = (int8_t)pick(-31, -23);
        s_bias[r] =
            (int32_t)((rnd() & 1) ? 1073741000 - pick(0, 5000) : -1073741000 + pick(0, 5000));
        break;
    case 2:
        s_shift[r] = (int8_t)pick(0, 3);
        s_bias[r] = pick(-300, 300);
        break;
    default:
        s_shift[r] = (int8_t)pick(-31, -1);
        s_bias[r] = pick(-2000000, 2000000);
        break;
    }
}

static int check(uint32_t index, int32_t k, int32_t rows, int32_t n, int8_t *w, int8_t *x);

static int one_case(uint32_t index)
{
    static const int32_t ks[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  12, 13,  15,  16,  17,  24,
                                 27, 31, 32, 33, 40, 48, 63, 64, 65, 96, 100, 128, 144, 159, 160};
    const int32_t k = ks[rnd() % (sizeof ks / sizeof ks[0])];
    const int32_t rows = rnd() % 4 == 0 ? pick(1, 5) : pick(1, ROWS_MAX);
    const int32_t n = rnd() % 4 == 0 ? pick(1, 3) : pick(1, N_MAX);
    int8_t *w = get_w(rows * k), *x = get_x(n * k);
    int rc;
    if (w == NULL || x == NULL) {
        say("matcheck: out of memory\n");
        rc = -1;
    } else {
        rc = check(index, k, rows, n, w, x);
    }
    put(w);
    put(x);
    return rc;
}

static int check(uint32_t index, int32_t k, int32_t rows, int32_t n, int8_t *w, int8_t *x)
{
    const int32_t per_tensor = rnd() % 4 == 0;
    const int32_t mixed = rnd() % 3 == 0; /* rows of every kind, else all mode R */
    const int32_t full = rnd() % 2 == 0;
    const int32_t no_bias = rnd() % 8 == 0;
    const int32_t small_w = rnd() % 3 == 0;
    int32_t r, i, tile, mode;
    uint32_t room;
    ekrt_fc_params_t p;
    ekrt_mat_q_t q;
    for (i = 0; i < rows * k; ++i) {
        w[i] = (int8_t)(small_w ? pick(-3, 3) : pick(-128, 127));
    }
    for (i = 0; i < n * k; ++i) {
        x[i] = (int8_t)pick(-128, 127);
    }
    for (r = 0; r < rows; ++r) {
        row_quant(r, mixed ? pick(0, 3) : 0);
    }
    if (no_bias) {
        for (r = 0; r < rows; ++r) {
            s_bias[r] = 0;
        }
    }
    memset(&p, 0, sizeof p);
    p.batches = n;
    p.accum_depth = k;
    p.out_depth = rows;
    p.input_offset = pick(-127, 128);
    p.output_offset = pick(-128, 127);
    p.act_min = full ? -128 : pick(-128, 0);
    p.act_max = full ? 127 : pick(p.act_min, 127);
    if (per_tensor) {
        p.mult = s_mult[0];
        p.shift = s_shift[0];
        mode = ekrt_requant_mode_tensor(p.shift, rows, no_bias ? NULL : s_bias, k);
    } else {
        p.pc_mult = s_mult;
        p.pc_shift = s_shift;
        mode = ekrt_requant_mode(s_shift, rows, no_bias ? NULL : s_bias, k);
    }
    ekrt_fully_connected_s8(&p, x, w, no_bias ? NULL : s_bias, s_ref);
    q = ekrt_mat_q(p.input_offset, p.output_offset, p.act_min, p.act_max, s_mult, s_shift,
                   per_tensor, mode);
    /* any scratch an op could get: none, one widened column, or a tile of any even size */
    tile = (n & ~1) > 0 ? 2 * pick(0, (n & ~1) / 2) : 0;
    room =
        tile > 0 ? ekrt_mat_scratch_bytes(k, tile) : (rnd() % 2 ? 4u * ekrt_mat_col_words(k) : 0u);
    memset(s_got, 0x5A, sizeof s_got);
    ekrt_mat_run(&q, x, NULL, NULL, n, k, w, rows, no_bias ? NULL : s_bias, s_got, s_scratch, room,
                 NULL);
    for (i = 0; i < n * rows; ++i) {
        if (s_got[i] != s_ref[i]) {
            say("matcheck mismatch case ");
            out_i((int32_t)index);
            say(" k=");
            out_i(k);
            say(" rows=");
            out_i(rows);
            say(" n=");
            out_i(n);
            say(" tile=");
            out_i(tile);
            say(" room=");
            out_i((int32_t)room);
            say(" per_tensor=");
            out_i(per_tensor);
            say(" mode=");
            out_i(mode);
            say(" range=");
            out_i(p.act_min);
            say("..");
            out_i(p.act_max);
            say(" at=");
            out_i(i);
            say(" got=");
            out_i(s_got[i]);
            say(" want=");
            out_i(s_ref[i]);
            say("\n");
            return -1;
        }
    }
    return 0;
}

static int run(uint32_t cases, uint32_t seed)
{
    uint32_t c;
    s_rng = seed * 2654435761u + 1u;
    for (c = 0; c < cases; ++c) {
        if (one_case(c) != 0) {
            return 1;
        }
    }
    say("matcheck ok ");
    out_i((int32_t)cases);
    say("\n");
    return 0;
}

static uint32_t parse_u(const char *s, uint32_t dflt)
{
    uint32_t v = 0;
    if (s == NULL || *s < '0' || *s > '9') {
        return dflt;
    }
    while (*s >= '0' && *s <= '9') {
        v = v * 10u + (uint32_t)(*s++ - '0');
    }
    return v;
}

#ifdef EKRT_MATCHECK_SEMIHOST
void cm_board_init(void) {}
void ek_port_write(const char *buf, size_t len);
void ek_port_write(const char *buf, size_t len)
{
    (void)len;
    say(buf);
    cm_semi_exit(3);
}

int main(void)
{
    static char cmd[128];
    const char *args = "";
    uint32_t cases, seed;
    if (cm_semi_cmdline(cmd, sizeof cmd) == 0) {
        /* "<kernel> <cases> <seed>": skip the kernel path */
        args = cmd;
        while (*args != '\0' && *args != ' ') {
            args++;
        }
        while (*args == ' ') {
            args++;
        }
    }
    cases = parse_u(args, 400);
    while (*args >= '0' && *args <= '9') {
        args++;
    }
    while (*args == ' ') {
        args++;
    }
    seed = parse_u(args, 1);
    cm_semi_exit((uint32_t)run(cases, seed));
    return 0;
}
#else
int main(int argc, char **argv)
{
    return run(parse_u(argc > 1 ? argv[1] : NULL, 2000), parse_u(argc > 2 ? argv[2] : NULL, 1));
}
#endif
