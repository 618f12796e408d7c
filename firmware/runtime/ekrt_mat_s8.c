/* The int8 matrix product behind the 1x1 convolution, the im2col convolution and the fully
 * connected layer: out[c][r] = requant(bias[r] + sum_k w[r][k] * (x_c[k] + input_offset)).
 *
 * Columns (pixels, im2col columns, batches) are widened once into a tile in scratch
 * (widen_pair): four int8 -> {2(x0+off), 2(x2+off)} {2(x1+off), 2(x3+off)} per two words
 * (SXTAB16 then SADD16), zeros past k. The doubling is free for the requantization below
 * and costs one SADD16 per two values per column, shared by all rows.
 * - wide (a tile of at least EKRT_MAT_WIDE_MIN columns): each pair of filter rows is split to
 *   int16 once per tile too, so the loop over k is loads and SMLADs only: 2 rows x 2 columns,
 *   4 LDRD + 8 SMLAD per 16 MACs.
 * - narrow (2 or 4 columns): the filter rows are split on the fly, 2 rows x 2 columns,
 *   18 instructions per 16 MACs.
 * - vec (one column, no scratch: FULLY_CONNECTED with one batch, an odd last column): 4 rows,
 *   the column split on the fly.
 * Requantization per row: mode R where the shift is in [-22, -1] and no accumulator can reach
 * 2^30 (|bias| + k * 128 * 255 < 2^30): SMMLAR on the doubled accumulator with the zero point
 * folded into the rounding constant, 4 instructions + saturation; otherwise mode G,
 * ekrt_requant_fast (any shift in [-31, 31], any accumulator). Both equal TFLM's
 * MultiplyByQuantizedMultiplier (proofs in ekrt_dsp.h and at requant_r below).
 * The hot loops are inline asm with the DSP (gcc 12 spills them); the portable build runs the
 * same sums in the same lanes in C. */
#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include <stddef.h>

#include "ekrt_internal.h"

typedef struct {
    int32_t a0, a1, b0, b1; /* rows 0, 1 of column a; rows 0, 1 of column b */
} acc4_t;

#if EKRT_HAVE_DSP
/* the bias of a layer without one, for the asm loops (read in place, not stepped) */
static const int32_t k_no_bias[4] = {0, 0, 0, 0};
#endif

/* |bias| bound of mode R for k: 2^30 - k * 128 * 255 (k * 255 * 128 bounds the products) */
static inline int32_t r_limit(int32_t k)
{
    const int64_t l = ((int64_t)1 << 30) - (int64_t)k * 32640;
    return l > 0 ? (int32_t)l : 0;
}

/* Mode R's conditions for one row: shift in [-22, -1] (so the folded zero point cannot
 * overflow below: |x| < 2^30, |zp 2^r| <= 2^29) and |bias| < limit. */
static inline int row_is_r(const ekrt_mat_q_t *q, int32_t row, int32_t bias, int32_t limit)
{
    const int32_t sh = q->shift[q->per_tensor ? 0 : row];
    return sh >= -22 && sh <= -1 && bias > -limit && bias < limit;
}

static inline int32_t row_mult(const ekrt_mat_q_t *q, int32_t row)
{
    return q->mult[q->per_tensor ? 0 : row];
}

static inline int32_t row_shift(const ekrt_mat_q_t *q, int32_t row)
{
    return q->shift[q->per_tensor ? 0 : row];
}

/* Mode R's rounding constant with the zero point: 2^(r-1) + zp 2^r */
static inline int32_t row_rz(const ekrt_mat_q_t *q, int32_t r)
{
    return (int32_t)(1u << (r - 1)) + q->output_offset * (int32_t)(1u << r);
}

/* Mode R on acc2 = 2 acc: SMMLAR(2 acc, qm, c) = SMMULR(2 acc, qm) + c = SRDHM(acc, qm) + c
 * (ekrt_mbqm_r), so with c = rz - n (n = acc < 0, the sign bit of acc2) the shift gives
 * RoundingDivideByPOT + zp (ekrt_mbqm_r2 shows n may be taken from acc). */
static inline int32_t requant_r(int32_t acc2, int32_t qm, int32_t rz, int32_t r)
{
    return ekrt_smmlar(acc2, qm, rz + (acc2 >> 31)) >> r;
}

static inline int8_t clamp8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* The result of row `row` from its product sum (bias not included) in mode G, or in mode R
 * where the row allows it: s = twice the sum (the widened columns are doubled), or with
 * dbl = 0 the sum itself (vec). */
static int8_t finish_any(const ekrt_mat_q_t *q, int32_t row, int32_t s, int dbl, int32_t bias,
                         int32_t limit)
{
    const int32_t sh = row_shift(q, row);
    if (row_is_r(q, row, bias, limit)) {
        /* |sum| + |bias| < 2^30: twice it fits */
        const int32_t acc2 = dbl ? s + 2 * bias : 2 * (s + bias);
        return clamp8(requant_r(acc2, row_mult(q, row), row_rz(q, -sh), -sh), q->act_min,
                      q->act_max);
    }
    return ekrt_requant_fast(ekrt_wadd(dbl ? s >> 1 : s, bias), row_mult(q, row), sh,
                             q->output_offset, q->act_min, q->act_max);
}

/* finish for n rows row.. (n <= 4) and their sums; every row in mode R (q->all_r): per row
 * 3 loads and 9 operations, the zero point folded (rz = (1 + 2 zp) << (r - 1)) */
static void finish_rows(const ekrt_mat_q_t *q, int32_t row, int32_t n, const int32_t *sums, int dbl,
                        const int32_t *bias, int32_t limit, int8_t *out)
{
    int32_t j;
    if (q->all_r) {
        const int32_t step = q->per_tensor ? 0 : 1, lo = q->act_min, hi = q->act_max;
        const int32_t zp1 = 1 + 2 * q->output_offset;
        const int32_t *mult = q->mult + row * step;
        const int8_t *shift = q->shift + row * step;
        const int32_t *b = bias ? bias + row : NULL;
        for (j = 0; j < n; ++j) {
            const int32_t sh = shift[j * step], s = sums[j], bj = b ? b[j] : 0;
            const int32_t acc2 = dbl ? s + 2 * bj : 2 * (s + bj);
            const int32_t rz = (int32_t)((uint32_t)zp1 << (-sh - 1));
            out[j] = clamp8(requant_r(acc2, mult[j * step], rz, -sh), lo, hi);
        }
        return;
    }
    for (j = 0; j < n; ++j) {
        out[j] = finish_any(q, row + j, sums[j], dbl, bias ? bias[row + j] : 0, limit);
    }
}

#if EKRT_HAVE_DSP
/* The asm loops read filter rows a word at a time, up to 3 bytes past k when k % 4 != 0:
 * inside the next row, except after the filter's last row. Of the pairs of rows [r, stop),
 * the end of those read in place (stop, or stop - 2); a last pair left over is read from a zero-padded copy when
 * k <= EKRT_MAT_COPY (stack), else in C. */
#define EKRT_MAT_COPY 128

static int32_t asm_rows_end(int32_t k, int32_t rows, int32_t stop)
{
    return (k & 3) != 0 && stop == rows ? stop - 2 : stop;
}

/* From row r (a multiple of step), the end of the run of whole steps of rows that are all in
 * mode R, up to end: end itself when every row is (q->all_r), r when row r's step is not. */
static int32_t r_run(const ekrt_mat_q_t *q, int32_t r, int32_t end, int32_t step,
                     const int32_t *bias, int32_t limit)
{
    int32_t j;
    if (q->all_r) {
        return end;
    }
    for (; r + step <= end; r += step) {
        for (j = r; j < r + step; ++j) {
            if (!row_is_r(q, j, bias ? bias[j] : 0, limit)) {
                return r;
            }
        }
    }
    return r;
}
#endif

/* --- widening --------------------------------------------------------------------------- */

uint32_t ekrt_mat_col_words(int32_t k)
{
    return 2u * (uint32_t)((k + 3) >> 2);
}

/* {2(x0+off), 2(x2+off)} {2(x1+off), 2(x3+off)} of a word of 4 int8 */
static inline void split_x(uint32_t v, uint32_t off2, uint32_t *d)
{
    const uint32_t lo = ekrt_sxtab16(off2, v), hi = ekrt_sxtab16_hi(off2, v);
    d[0] = ekrt_sadd16(lo, lo);
    d[1] = ekrt_sadd16(hi, hi);
}

/* zero the lanes of a widened tail group past k (tail = k & 3 values are real) */
static inline void mask_tail(uint32_t *d, int32_t tail)
{
    d[0] &= tail == 3 ? 0xFFFFFFFFu : 0xFFFFu;
    d[1] &= tail == 1 ? 0u : 0xFFFFu;
}

/* Columns a and b (b may equal a) of a tile into their pair's run: pairs of columns
 * interleave per 4 k ({a lo, a hi, b lo, b hi}), each pair one run of
 * 2 * ekrt_mat_col_words(k) words; lanes past k are 0, so whatever weight meets them adds 0. */
static void widen_pair(uint32_t off2, const int8_t *a, const int8_t *b, int32_t k, uint32_t *d)
{
    const int32_t tail = k & 3;
    int32_t n = k >> 2;
    while (n-- > 0) {
        split_x(ekrt_load4(a), off2, d);
        split_x(ekrt_load4(b), off2, d + 2);
        a += 4;
        b += 4;
        d += 4;
    }
    if (tail) {
        split_x(ekrt_load_tail(a, tail), off2, d);
        split_x(ekrt_load_tail(b, tail), off2, d + 2);
        mask_tail(d, tail);
        mask_tail(d + 2, tail);
    }
}

/* a filter row's group of 4 k as {w0, w2} {w1, w3} */
static inline void split_w(uint32_t v, uint32_t *d)
{
    d[0] = ekrt_sxtb16(v);
    d[1] = ekrt_sxtb16_hi(v);
}

/* rows w0 and w0 + k to {r0 lo, r0 hi, r1 lo, r1 hi} per 4 k, zeros past k */
static void widen_rows2(const int8_t *w0, int32_t k, uint32_t *d)
{
    const int8_t *w1 = w0 + k;
    const int32_t tail = k & 3;
    int32_t n = k >> 2;
    while (n-- > 0) {
        const uint32_t v0 = ekrt_load4(w0), v1 = ekrt_load4(w1);
        d[0] = ekrt_sxtb16(v0);
        d[1] = ekrt_sxtb16_hi(v0);
        d[2] = ekrt_sxtb16(v1);
        d[3] = ekrt_sxtb16_hi(v1);
        w0 += 4;
        w1 += 4;
        d += 4;
    }
    if (tail) {
        split_w(ekrt_load_tail(w0, tail), d);
        split_w(ekrt_load_tail(w1, tail), d + 2);
    }
}

/* one row to {lo, hi} per 4 k, zeros past k */
static void widen_row1(const int8_t *w0, int32_t k, uint32_t *d)
{
    const int32_t tail = k & 3;
    int32_t n = k >> 2;
    while (n-- > 0) {
        split_w(ekrt_load4(w0), d);
        w0 += 4;
        d += 2;
    }
    if (tail) {
        split_w(ekrt_load_tail(w0, tail), d);
    }
}

/* --- wide: both sides widened ----------------------------------------------------------- */

/* x: a pair of columns or (xstep 4) one of a pair; w: one row (wstep 2) or one of a pair */
static int32_t dot_1x1(const uint32_t *px, const uint32_t *pw, int32_t wstep, int32_t g, int32_t a)
{
    do {
        a = ekrt_smlad(pw[0], px[0], a);
        a = ekrt_smlad(pw[1], px[1], a);
        px += 4;
        pw += wstep;
    } while (--g > 0);
    return a;
}

/* Constants of one pair of rows for the wide loop (its asm reads them at these offsets). */
typedef struct {
    const uint32_t *wq;    /* 0 */
    int32_t g;             /* 4: groups of 4 k */
    int32_t rows;          /* 8 */
    const uint32_t *x_end; /* 12: xq past the last pair of columns */
    int32_t bias0, bias1;  /* 16, 20: 2 bias (mode R) */
    int32_t qm0, rz0;      /* 24, 28 */
    int32_t qm1, rz1;      /* 32, 36 */
    int32_t r0, r1;        /* 40, 44: right shifts */
    int8_t *po;            /* 48: output of the current pair of columns, row r */
    int32_t lo, hi;        /* 52, 56: activation range */
    int32_t pad;           /* 60 */
    uint32_t w2[8];        /* 64: the widened pair of rows when g = 2 (k = 5..8) */
    /* the row loop of wide_rows_r_full: */
    const uint32_t *xq;  /* 96 */
    const int8_t *w;     /* 100: the next pair's first filter row */
    int32_t k;           /* 104 */
    const int32_t *bias; /* 108: the next pair's */
    const int32_t *mult; /* 112 */
    const int8_t *shift; /* 116 */
    int32_t step;        /* 120: 1 per channel, 0 per tensor */
    int32_t zp1;         /* 124: 1 + 2 zp, rz = zp1 << (r - 1) */
    int8_t *out_row;     /* 128: output of the next pair, first column */
    int32_t pairs;       /* 132: pairs of rows left */
    int32_t bstep;       /* 136: 8, or 0 for no bias (k_no_bias) */
} wide_ctx_t;

#if EKRT_HAVE_DSP
/* the asm below addresses these fields by offset */
typedef char
    wide_ctx_layout_ok[offsetof(wide_ctx_t, x_end) == 12 && offsetof(wide_ctx_t, qm0) == 24 &&
                               offsetof(wide_ctx_t, po) == 48 && offsetof(wide_ctx_t, w2) == 64 &&
                               offsetof(wide_ctx_t, bstep) == 136
                           ? 1
                           : -1];

/* requant_r of a0, b0 (row 0) and a1, b1 (row 1) in place, saturated to int8: per result ADD,
 * SMMLAR, ASR, SSAT; the x registers are free here */
#define WIDE_REQUANT_FULL                    \
    "ldrd %[xal], %[xah], [%[ctx], #24]\n\t" \
    "ldrd %[xbl], %[xbh], [%[ctx], #40]\n\t" \
    "add %[wl], %[xah], %[a0], asr #31\n\t"  \
    "smmlar %[wl], %[a0], %[xal], %[wl]\n\t" \
    "asr %[wl], %[wl], %[xbl]\n\t"           \
    "ssat %[a0], #8, %[wl]\n\t"              \
    "add %[wl], %[xah], %[b0], asr #31\n\t"  \
    "smmlar %[wl], %[b0], %[xal], %[wl]\n\t" \
    "asr %[wl], %[wl], %[xbl]\n\t"           \
    "ssat %[b0], #8, %[wl]\n\t"              \
    "ldrd %[xal], %[xah], [%[ctx], #32]\n\t" \
    "add %[wl], %[xah], %[a1], asr #31\n\t"  \
    "smmlar %[wl], %[a1], %[xal], %[wl]\n\t" \
    "asr %[wl], %[wl], %[xbh]\n\t"           \
    "ssat %[a1], #8, %[wl]\n\t"              \
    "add %[wl], %[xah], %[b1], asr #31\n\t"  \
    "smmlar %[wl], %[b1], %[xal], %[wl]\n\t" \
    "asr %[wl], %[wl], %[xbh]\n\t"           \
    "ssat %[b1], #8, %[wl]\n\t"

/* Every pair of columns of the tile against one pair of rows in mode R with the full int8
 * range, any g: 2 x 2 accumulators over k, per 4 k one LDM of the pair's 4 column words, two
 * LDRD of the rows' and 8 SMLAD (two groups a pass when g is even); then requant_r, four byte
 * stores. The registers are pinned: LDM wants its list in ascending order. */
#define WIDE_GROUP_LDM                   \
    "ldmia %[px]!, {r4, r5, r6, r7}\n\t" \
    "ldrd %[wl], %[wh], [%[pw]], #8\n\t" \
    "smlad %[a0], %[wl], r4, %[a0]\n\t"  \
    "smlad %[a0], %[wh], r5, %[a0]\n\t"  \
    "smlad %[b0], %[wl], r6, %[b0]\n\t"  \
    "smlad %[b0], %[wh], r7, %[b0]\n\t"  \
    "ldrd %[wl], %[wh], [%[pw]], #8\n\t" \
    "smlad %[a1], %[wl], r4, %[a1]\n\t"  \
    "smlad %[a1], %[wh], r5, %[a1]\n\t"  \
    "smlad %[b1], %[wl], r6, %[b1]\n\t"  \
    "smlad %[b1], %[wh], r7, %[b1]\n\t"
#define WIDE_R_FULL_TAIL                                     \
    WIDE_REQUANT_FULL                                        \
    "ldrd %[pw], %[cnt], [%[ctx], #8]\n\t" /* rows, x_end */ \
    "ldr %[wh], [%[ctx], #48]\n\t"         /* po */          \
    "strb %[a0], [%[wh]]\n\t"                                \
    "strb %[a1], [%[wh], #1]\n\t"                            \
    "add %[xal], %[wh], %[pw]\n\t"                           \
    "strb %[b0], [%[xal]]\n\t"                               \
    "strb %[b1], [%[xal], #1]\n\t"                           \
    "add %[wh], %[xal], %[pw]\n\t"                           \
    "str %[wh], [%[ctx], #48]\n\t"                           \
    "cmp %[px], %[cnt]\n\t"                                  \
    "bne 0b"
#define WIDE_R_FULL_HEAD                   \
    "0:\n\t"                               \
    "ldrd %[a0], %[a1], [%[ctx], #16]\n\t" \
    "mov %[b0], %[a0]\n\t"                 \
    "mov %[b1], %[a1]\n\t"                 \
    "ldrd %[pw], %[cnt], [%[ctx]]\n\t"

/* The start of a pair of rows: the rows w and w + k into wq (WQ: its address into r12, the
 * group count into r9) a word at a time (past k those lanes meet zero columns: the caller
 * leaves the last pair to C when that would read past the filter), then their constants:
 * 2 bias, qm, r, rz = zp1 << (r - 1), the output pointer. */
#define ROWS_HEAD(WQ)                    \
    "9:\n\t"                             \
    "ldr r10, [lr, #100]\n\t"            \
    "ldr r8, [lr, #104]\n\t"             \
    "add r11, r10, r8\n\t"               \
    "add r8, r11, r8\n\t"                \
    "str r8, [lr, #100]\n\t" WQ "8:\n\t" \
    "ldr r8, [r10], #4\n\t"              \
    "sxtb16 r4, r8\n\t"                  \
    "sxtb16 r5, r8, ror #8\n\t"          \
    "ldr r8, [r11], #4\n\t"              \
    "sxtb16 r6, r8\n\t"                  \
    "sxtb16 r7, r8, ror #8\n\t"          \
    "stmia r12!, {r4, r5, r6, r7}\n\t"   \
    "subs r9, r9, #1\n\t"                \
    "bne 8b\n\t"                         \
    "ldr r4, [lr, #108]\n\t"             \
    "ldrd r5, r6, [r4]\n\t"              \
    "ldr r7, [lr, #136]\n\t"             \
    "add r4, r4, r7\n\t"                 \
    "str r4, [lr, #108]\n\t"             \
    "lsl r5, r5, #1\n\t"                 \
    "lsl r6, r6, #1\n\t"                 \
    "strd r5, r6, [lr, #16]\n\t"         \
    "ldr r7, [lr, #120]\n\t"             \
    "ldr r4, [lr, #112]\n\t"             \
    "ldr r5, [r4]\n\t"                   \
    "ldr r6, [r4, r7, lsl #2]\n\t"       \
    "add r4, r4, r7, lsl #3\n\t"         \
    "str r4, [lr, #112]\n\t"             \
    "str r5, [lr, #24]\n\t"              \
    "str r6, [lr, #32]\n\t"              \
    "ldr r4, [lr, #116]\n\t"             \
    "ldrsb r5, [r4]\n\t"                 \
    "ldrsb r6, [r4, r7]\n\t"             \
    "add r4, r4, r7, lsl #1\n\t"         \
    "str r4, [lr, #116]\n\t"             \
    "rsb r5, r5, #0\n\t"                 \
    "rsb r6, r6, #0\n\t"                 \
    "strd r5, r6, [lr, #40]\n\t"         \
    "ldr r4, [lr, #124]\n\t"             \
    "sub r7, r5, #1\n\t"                 \
    "lsl r7, r4, r7\n\t"                 \
    "str r7, [lr, #28]\n\t"              \
    "sub r7, r6, #1\n\t"                 \
    "lsl r7, r4, r7\n\t"                 \
    "str r7, [lr, #36]\n\t"              \
    "ldr r4, [lr, #128]\n\t"             \
    "str r4, [lr, #48]\n\t"              \
    "add r4, r4, #2\n\t"                 \
    "str r4, [lr, #128]\n\t"             \
    "ldr r10, [lr, #96]\n\t"
#define ROWS_TAIL            \
    "ldr r4, [lr, #132]\n\t" \
    "subs r4, r4, #1\n\t"    \
    "str r4, [lr, #132]\n\t" \
    "bne 9b"
#define WQ_CTX "ldrd r12, r9, [lr]\n\t"
#define WQ_W2              \
    "add r12, lr, #64\n\t" \
    "movs r9, #2\n\t"
#define WIDE_OPERANDS                                                                         \
    : [px] "=&r"(px), [a0] "=&r"(a0), [a1] "=&r"(a1), [b0] "=&r"(b0), [b1] "=&r"(b1),            \
      [xal] "=&r"(xal), [xah] "=&r"(xah), [xbl] "=&r"(xbl), [xbh] "=&r"(xbh), [wl] "=&r"(wl),     \
      [wh] "=&r"(wh), [pw] "=&r"(pw), [cnt] "=&r"(cnt)                                            \
    : [ctx] "r"(c)                                                                                \
    : "cc", "memory"

#define WIDE_GROUP_W2(O0, O1)                  \
    "ldmia %[px]!, {r4, r5, r6, r7}\n\t"       \
    "ldrd %[wl], %[wh], [%[ctx], #" O0 "]\n\t" \
    "smlad %[a0], %[wl], r4, %[a0]\n\t"        \
    "smlad %[a0], %[wh], r5, %[a0]\n\t"        \
    "smlad %[b0], %[wl], r6, %[b0]\n\t"        \
    "smlad %[b0], %[wh], r7, %[b0]\n\t"        \
    "ldrd %[wl], %[wh], [%[ctx], #" O1 "]\n\t" \
    "smlad %[a1], %[wl], r4, %[a1]\n\t"        \
    "smlad %[a1], %[wh], r5, %[a1]\n\t"        \
    "smlad %[b1], %[wl], r6, %[b1]\n\t"        \
    "smlad %[b1], %[wh], r7, %[b1]\n\t"

/* ctx->pairs (>= 1) pairs of rows from ctx->w, every row in mode R with the full int8 range,
 * against every pair of columns of the tile: all in registers pinned for LDM. */
static void wide_rows_r_full(wide_ctx_t *ctx)
{
    register uint32_t a0 __asm__("r0"), a1 __asm__("r1"), b0 __asm__("r2"), b1 __asm__("r3");
    register uint32_t xal __asm__("r4"), xah __asm__("r5"), xbl __asm__("r6"), xbh __asm__("r7");
    register uint32_t wl __asm__("r8"), wh __asm__("r9"), pw __asm__("r11"), cnt __asm__("r12");
    register const uint32_t *px __asm__("r10");
    register wide_ctx_t *c __asm__("lr") = ctx;
    if (ctx->g == 2) {
        /* k = 5..8: the rows from fixed offsets of ctx->w2, output pointer and row count kept
         * in the registers the loop's pointer and counter would take */
        __asm__ volatile(ROWS_HEAD(WQ_W2) "ldr %[pw], [lr, #48]\n\t"
                                          "ldr %[cnt], [lr, #8]\n\t"
                                          "0:\n\t"
                                          "ldrd %[a0], %[a1], [%[ctx], #16]\n\t"
                                          "mov %[b0], %[a0]\n\t"
                                          "mov %[b1], %[a1]\n\t" WIDE_GROUP_W2("64", "72")
                                              WIDE_GROUP_W2("80", "88") WIDE_REQUANT_FULL
                         "strb %[a0], [%[pw]]\n\t"
                         "strb %[a1], [%[pw], #1]\n\t"
                         "strb %[b0], [%[pw], %[cnt]]\n\t"
                         "add %[xal], %[pw], %[cnt]\n\t"
                         "strb %[b1], [%[xal], #1]\n\t"
                         "add %[pw], %[pw], %[cnt], lsl #1\n\t"
                         "ldr %[wl], [%[ctx], #12]\n\t"
                         "cmp %[px], %[wl]\n\t"
                         "bne 0b\n\t" ROWS_TAIL WIDE_OPERANDS);
    } else if (ctx->g & 1) {
        __asm__ volatile(ROWS_HEAD(WQ_CTX) WIDE_R_FULL_HEAD
                         "1:\n\t" WIDE_GROUP_LDM "subs %[cnt], %[cnt], #1\n\t"
                         "bne 1b\n\t" WIDE_R_FULL_TAIL "\n\t" ROWS_TAIL WIDE_OPERANDS);
    } else if (ctx->g & 2) {
        __asm__ volatile(ROWS_HEAD(WQ_CTX) WIDE_R_FULL_HEAD
                         "1:\n\t" WIDE_GROUP_LDM WIDE_GROUP_LDM "subs %[cnt], %[cnt], #2\n\t"
                         "bne 1b\n\t" WIDE_R_FULL_TAIL "\n\t" ROWS_TAIL WIDE_OPERANDS);
    } else {
        /* g % 4 = 0 (k = 16, 32, 48, 64, ...: most layers): four groups a pass */
        __asm__ volatile(ROWS_HEAD(WQ_CTX) WIDE_R_FULL_HEAD
                         "1:\n\t" WIDE_GROUP_LDM WIDE_GROUP_LDM WIDE_GROUP_LDM WIDE_GROUP_LDM
                         "subs %[cnt], %[cnt], #4\n\t"
                         "bne 1b\n\t" WIDE_R_FULL_TAIL "\n\t" ROWS_TAIL WIDE_OPERANDS);
    }
}

static inline acc4_t dot_2x2(const uint32_t *px, const uint32_t *pw, int32_t g, acc4_t s)
{
    uint32_t xal, xah, xbl, xbh, wl, wh;
    __asm__("1:\n\t"
            "ldrd %[xal], %[xah], [%[px]], #8\n\t"
            "ldrd %[wl], %[wh], [%[pw]], #8\n\t"
            "ldrd %[xbl], %[xbh], [%[px]], #8\n\t"
            "smlad %[a0], %[wl], %[xal], %[a0]\n\t"
            "smlad %[a0], %[wh], %[xah], %[a0]\n\t"
            "smlad %[b0], %[wl], %[xbl], %[b0]\n\t"
            "smlad %[b0], %[wh], %[xbh], %[b0]\n\t"
            "ldrd %[wl], %[wh], [%[pw]], #8\n\t"
            "smlad %[a1], %[wl], %[xal], %[a1]\n\t"
            "smlad %[a1], %[wh], %[xah], %[a1]\n\t"
            "smlad %[b1], %[wl], %[xbl], %[b1]\n\t"
            "smlad %[b1], %[wh], %[xbh], %[b1]\n\t"
            "subs %[g], %[g], #1\n\t"
            "bne 1b"
            : [a0] "+r"(s.a0), [a1] "+r"(s.a1), [b0] "+r"(s.b0), [b1] "+r"(s.b1), [px] "+r"(px),
              [pw] "+r"(pw), [g] "+r"(g), [xal] "=&r"(xal), [xah] "=&r"(xah), [xbl] "=&r"(xbl),
              [xbh] "=&r"(xbh), [wl] "=&r"(wl), [wh] "=&r"(wh)
            :
            : "cc", "memory");
    return s;
}
#else
static inline acc4_t dot_2x2(const uint32_t *px, const uint32_t *pw, int32_t g, acc4_t s)
{
    do {
        s.a0 = ekrt_smlad(pw[0], px[0], s.a0);
        s.a0 = ekrt_smlad(pw[1], px[1], s.a0);
        s.b0 = ekrt_smlad(pw[0], px[2], s.b0);
        s.b0 = ekrt_smlad(pw[1], px[3], s.b0);
        s.a1 = ekrt_smlad(pw[2], px[0], s.a1);
        s.a1 = ekrt_smlad(pw[3], px[1], s.a1);
        s.b1 = ekrt_smlad(pw[2], px[2], s.b1);
        s.b1 = ekrt_smlad(pw[3], px[3], s.b1);
        px += 4;
        pw += 4;
    } while (--g > 0);
    return s;
}
#endif

/* Every pair of columns against one pair of rows, any mode (r_mode: both rows in mode R;
 * else their sums start at 0 and finish adds the bias). */
static void wide_any(const ekrt_mat_q_t *q, const uint32_t *xq, wide_ctx_t *ctx, int32_t r,
                     int r_mode, int32_t limit)
{
    const uint32_t *px = xq;
    const int32_t g = ctx->g, rows = ctx->rows;
    const int32_t bias0 = ctx->bias0, bias1 = ctx->bias1;
    int8_t *po = ctx->po;
    acc4_t init;
    init.a0 = init.b0 = r_mode ? 2 * bias0 : 0;
    init.a1 = init.b1 = r_mode ? 2 * bias1 : 0;
    while (px != ctx->x_end) {
        const acc4_t s = dot_2x2(px, ctx->wq, g, init);
        int8_t o0, o1, o2, o3;
        if (r_mode) {
            o0 = clamp8(requant_r(s.a0, ctx->qm0, ctx->rz0, ctx->r0), ctx->lo, ctx->hi);
            o1 = clamp8(requant_r(s.a1, ctx->qm1, ctx->rz1, ctx->r1), ctx->lo, ctx->hi);
            o2 = clamp8(requant_r(s.b0, ctx->qm0, ctx->rz0, ctx->r0), ctx->lo, ctx->hi);
            o3 = clamp8(requant_r(s.b1, ctx->qm1, ctx->rz1, ctx->r1), ctx->lo, ctx->hi);
        } else {
            o0 = finish_any(q, r, s.a0, 1, bias0, limit);
            o1 = finish_any(q, r + 1, s.a1, 1, bias1, limit);
            o2 = finish_any(q, r, s.b0, 1, bias0, limit);
            o3 = finish_any(q, r + 1, s.b1, 1, bias1, limit);
        }
        po[0] = o0;
        po[1] = o1;
        po[rows] = o2;
        po[rows + 1] = o3;
        px += 4 * g;
        po += 2 * rows;
    }
}

/* rows r, r + 1 against the tile in C (any mode, any activation range) */
static void wide_pair_c(const ekrt_mat_q_t *q, const uint32_t *xq, int32_t n, int32_t k,
                        const int8_t *w, const int32_t *bias, int8_t *out, uint32_t *wq,
                        wide_ctx_t *ctx, int32_t r, int32_t limit)
{
    int r_mode;
    (void)n;
    ctx->bias0 = bias ? bias[r] : 0;
    ctx->bias1 = bias ? bias[r + 1] : 0;
    r_mode = row_is_r(q, r, ctx->bias0, limit) && row_is_r(q, r + 1, ctx->bias1, limit);
    widen_rows2(w + r * k, k, wq);
    ctx->wq = wq;
    ctx->po = out + r;
    if (r_mode) {
        ctx->qm0 = row_mult(q, r);
        ctx->qm1 = row_mult(q, r + 1);
        ctx->r0 = -row_shift(q, r);
        ctx->r1 = -row_shift(q, r + 1);
        ctx->rz0 = row_rz(q, ctx->r0);
        ctx->rz1 = row_rz(q, ctx->r1);
    }
    wide_any(q, xq, ctx, r, r_mode, limit);
}

static void wide(const ekrt_mat_q_t *q, const uint32_t *xq, int32_t n, int32_t k, const int8_t *w,
                 int32_t rows, const int32_t *bias, int8_t *out, uint32_t *wq)
{
    const int32_t g = (k + 3) >> 2, limit = r_limit(k);
    int32_t r = 0, c;
    wide_ctx_t ctx;
    ctx.g = g;
    ctx.rows = rows;
    ctx.x_end = xq + (n >> 1) * 4 * g;
    ctx.lo = q->act_min;
    ctx.hi = q->act_max;
#if EKRT_HAVE_DSP
    if (ctx.lo == -128 && ctx.hi == 127) {
        /* runs of mode-R pairs of rows through the asm, the others in C */
        const int32_t end = rows & ~1;
        ctx.wq = wq;
        ctx.xq = xq;
        ctx.k = k;
        ctx.bstep = bias != NULL ? 8 : 0;
        ctx.step = q->per_tensor ? 0 : 1;
        ctx.zp1 = 1 + 2 * q->output_offset;
        while (r < end) {
            const int32_t stop = r_run(q, r, end, 2, bias, limit);
            if (stop > r) {
                const int32_t safe = asm_rows_end(k, rows, stop);
                if (safe > r) {
                    ctx.pairs = (safe - r) >> 1;
                    ctx.w = w + r * k;
                    ctx.bias = bias != NULL ? bias + r : k_no_bias;
                    ctx.mult = q->mult + ctx.step * r;
                    ctx.shift = q->shift + ctx.step * r;
                    ctx.out_row = out + r;
                    wide_rows_r_full(&ctx);
                }
                if (safe < stop) {
                    /* the filter's last pair of rows, read from a zero-padded copy */
                    uint32_t copy[(2 * EKRT_MAT_COPY + 4) / 4];
                    if (k <= EKRT_MAT_COPY) {
                        memcpy(copy, w + safe * k, 2u * (uint32_t)k);
                        memset((int8_t *)copy + 2 * k, 0, 4);
                        ctx.pairs = 1;
                        ctx.w = (const int8_t *)copy;
                        ctx.bias = bias != NULL ? bias + safe : k_no_bias;
                        ctx.mult = q->mult + ctx.step * safe;
                        ctx.shift = q->shift + ctx.step * safe;
                        ctx.out_row = out + safe;
                        wide_rows_r_full(&ctx);
                    } else {
                        wide_pair_c(q, xq, n, k, w, bias, out, wq, &ctx, safe, limit);
                    }
                }
                r = stop;
            } else {
                wide_pair_c(q, xq, n, k, w, bias, out, wq, &ctx, r, limit);
                r += 2;
            }
        }
    }
#endif
    for (; r + 1 < rows; r += 2) {
        wide_pair_c(q, xq, n, k, w, bias, out, wq, &ctx, r, limit);
    }
    if (r < rows) {
        const int32_t b = bias ? bias[r] : 0;
        widen_row1(w + r * k, k, wq);
        for (c = 0; c < n; ++c) {
            const int32_t s2 = dot_1x1(xq + (c >> 1) * 4 * g + (c & 1) * 2, wq, 2, g, 0);
            out[c * rows + r] = finish_any(q, r, s2, 1, b, limit);
        }
    }
}

/* --- narrow: filter rows split on the fly ----------------------------------------------- */

#if EKRT_HAVE_DSP
/* rows p0, p1 against a pair of widened columns over n groups of 4 k */
static inline acc4_t dot_narrow(const uint32_t *px, const int8_t *p0, const int8_t *p1, int32_t n,
                                acc4_t s)
{
    uint32_t xal, xah, xbl, xbh, v, t;
    __asm__("1:\n\t"
            "ldrd %[xal], %[xah], [%[px]], #8\n\t"
            "ldrd %[xbl], %[xbh], [%[px]], #8\n\t"
            "ldr %[v], [%[p0]], #4\n\t"
            "sxtb16 %[t], %[v]\n\t"
            "smlad %[a0], %[t], %[xal], %[a0]\n\t"
            "smlad %[b0], %[t], %[xbl], %[b0]\n\t"
            "sxtb16 %[v], %[v], ror #8\n\t"
            "smlad %[a0], %[v], %[xah], %[a0]\n\t"
            "smlad %[b0], %[v], %[xbh], %[b0]\n\t"
            "ldr %[v], [%[p1]], #4\n\t"
            "sxtb16 %[t], %[v]\n\t"
            "smlad %[a1], %[t], %[xal], %[a1]\n\t"
            "smlad %[b1], %[t], %[xbl], %[b1]\n\t"
            "sxtb16 %[v], %[v], ror #8\n\t"
            "smlad %[a1], %[v], %[xah], %[a1]\n\t"
            "smlad %[b1], %[v], %[xbh], %[b1]\n\t"
            "subs %[n], %[n], #1\n\t"
            "bne 1b"
            : [a0] "+r"(s.a0), [a1] "+r"(s.a1), [b0] "+r"(s.b0), [b1] "+r"(s.b1), [px] "+r"(px),
              [p0] "+r"(p0), [p1] "+r"(p1), [n] "+r"(n), [xal] "=&r"(xal), [xah] "=&r"(xah),
              [xbl] "=&r"(xbl), [xbh] "=&r"(xbh), [v] "=&r"(v), [t] "=&r"(t)
            :
            : "cc", "memory");
    return s;
}
#else
static inline acc4_t dot_narrow(const uint32_t *px, const int8_t *p0, const int8_t *p1, int32_t n,
                                acc4_t s)
{
    do {
        const uint32_t v0 = ekrt_load4(p0), v1 = ekrt_load4(p1);
        s.a0 = ekrt_smlad(ekrt_sxtb16(v0), px[0], s.a0);
        s.b0 = ekrt_smlad(ekrt_sxtb16(v0), px[2], s.b0);
        s.a0 = ekrt_smlad(ekrt_sxtb16_hi(v0), px[1], s.a0);
        s.b0 = ekrt_smlad(ekrt_sxtb16_hi(v0), px[3], s.b0);
        s.a1 = ekrt_smlad(ekrt_sxtb16(v1), px[0], s.a1);
        s.b1 = ekrt_smlad(ekrt_sxtb16(v1), px[2], s.b1);
        s.a1 = ekrt_smlad(ekrt_sxtb16_hi(v1), px[1], s.a1);
        s.b1 = ekrt_smlad(ekrt_sxtb16_hi(v1), px[3], s.b1);
        px += 4;
        p0 += 4;
        p1 += 4;
    } while (--n > 0);
    return s;
}
#endif

#if EKRT_HAVE_DSP
/* The narrow path's row loop (all rows in mode R, full int8 range), read by the asm below at
 * these offsets. */
typedef struct {
    const uint32_t *xq;    /* 0: the pair of widened columns */
    const uint32_t *x_end; /* 4 */
    const int8_t *w;       /* 8: the next pair's first row */
    int32_t k;             /* 12 */
    const int32_t *bias;   /* 16: the next pair's */
    const int32_t *mult;   /* 20 */
    const int8_t *shift;   /* 24 */
    int32_t step;          /* 28: 1 per channel, 0 per tensor */
    int32_t zp1;           /* 32: 1 + 2 zp */
    int8_t *out;           /* 36: the next pair's output, first column */
    int32_t rows;          /* 40 */
    int32_t pairs;         /* 44: pairs of rows left (>= 1) */
    int32_t bstep;         /* 48: 8, or 0 for no bias (k_no_bias) */
} narrow_ctx_t;

typedef char narrow_ctx_layout_ok
    [offsetof(narrow_ctx_t, zp1) == 32 && offsetof(narrow_ctx_t, bstep) == 48 ? 1 : -1];

/* one row's word of 4 k split and multiplied with both columns' {lo, hi} (r4..r7) */
#define NARROW_ROW(P, A, B)          \
    "ldr r8, [" P "], #4\n\t"        \
    "sxtb16 r9, r8\n\t"              \
    "smlad " A ", r9, r4, " A "\n\t" \
    "smlad " B ", r9, r6, " B "\n\t" \
    "sxtb16 r8, r8, ror #8\n\t"      \
    "smlad " A ", r8, r5, " A "\n\t" \
    "smlad " B ", r8, r7, " B "\n\t"
#define NARROW_GROUP \
    "ldmia r10!, {r4, r5, r6, r7}\n\t" NARROW_ROW("r11", "r0", "r2") NARROW_ROW("r12", "r1", "r3")

/* Per pair of rows: rows w, w + k (r11, r12) against the columns (r10) a word at a time (past
 * k those lanes meet zero columns: the caller leaves the last pair to C when the reads would
 * pass the filter), then requant_r of the four sums with 2 bias added, four byte stores.
 * Sums: r0 = row 0 column a, r1 = row 1 column a, r2 = row 0 column b, r3 = row 1 column b. */
#define NARROW_HEAD              \
    "9:\n\t"                     \
    "ldr r10, [lr]\n\t"          \
    "ldrd r11, r9, [lr, #8]\n\t" \
    "add r12, r11, r9\n\t"       \
    "add r9, r12, r9\n\t"        \
    "str r9, [lr, #8]\n\t"       \
    "movs r0, #0\n\t"            \
    "movs r1, #0\n\t"            \
    "movs r2, #0\n\t"            \
    "movs r3, #0\n\t"
#define NARROW_FINISH              \
    "ldr r4, [lr, #16]\n\t"        \
    "ldrd r5, r6, [r4]\n\t"        \
    "ldr r7, [lr, #48]\n\t"        \
    "add r4, r4, r7\n\t"           \
    "str r4, [lr, #16]\n\t"        \
    "add r0, r0, r5, lsl #1\n\t"   \
    "add r2, r2, r5, lsl #1\n\t"   \
    "add r1, r1, r6, lsl #1\n\t"   \
    "add r3, r3, r6, lsl #1\n\t"   \
    "ldrd r4, r7, [lr, #20]\n\t"   \
    "ldr r8, [lr, #28]\n\t"        \
    "ldr r5, [r4]\n\t"             \
    "ldr r6, [r4, r8, lsl #2]\n\t" \
    "add r4, r4, r8, lsl #3\n\t"   \
    "ldrsb r9, [r7]\n\t"           \
    "ldrsb r10, [r7, r8]\n\t"      \
    "add r7, r7, r8, lsl #1\n\t"   \
    "strd r4, r7, [lr, #20]\n\t"   \
    "rsb r9, r9, #0\n\t"           \
    "rsb r10, r10, #0\n\t"         \
    "ldr r4, [lr, #32]\n\t"        \
    "sub r7, r9, #1\n\t"           \
    "lsl r7, r4, r7\n\t"           \
    "sub r8, r10, #1\n\t"          \
    "lsl r8, r4, r8\n\t"           \
    "add r4, r7, r0, asr #31\n\t"  \
    "smmlar r4, r0, r5, r4\n\t"    \
    "asr r4, r4, r9\n\t"           \
    "ssat r0, #8, r4\n\t"          \
    "add r4, r7, r2, asr #31\n\t"  \
    "smmlar r4, r2, r5, r4\n\t"    \
    "asr r4, r4, r9\n\t"           \
    "ssat r2, #8, r4\n\t"          \
    "add r4, r8, r1, asr #31\n\t"  \
    "smmlar r4, r1, r6, r4\n\t"    \
    "asr r4, r4, r10\n\t"          \
    "ssat r1, #8, r4\n\t"          \
    "add r4, r8, r3, asr #31\n\t"  \
    "smmlar r4, r3, r6, r4\n\t"    \
    "asr r4, r4, r10\n\t"          \
    "ssat r3, #8, r4\n\t"          \
    "ldrd r4, r5, [lr, #36]\n\t"   \
    "strb r0, [r4]\n\t"            \
    "strb r1, [r4, #1]\n\t"        \
    "add r6, r4, r5\n\t"           \
    "strb r2, [r6]\n\t"            \
    "strb r3, [r6, #1]\n\t"        \
    "add r4, r4, #2\n\t"           \
    "str r4, [lr, #36]\n\t"        \
    "ldr r4, [lr, #44]\n\t"        \
    "subs r4, r4, #1\n\t"          \
    "str r4, [lr, #44]\n\t"        \
    "bne 9b"
#define NARROW_CLOBBERS \
    "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "cc", "memory"

/* ctx->pairs pairs of rows against one pair of columns, in registers (two groups a pass;
 * an odd count of groups enters at the second) */
static void narrow_rows_r_full(narrow_ctx_t *ctx, int odd)
{
    register narrow_ctx_t *c __asm__("lr") = ctx;
    if (odd) {
        __asm__ volatile(NARROW_HEAD "b 2f\n\t"
                                     "1:\n\t" NARROW_GROUP "2:\n\t" NARROW_GROUP
                                     "ldr r9, [lr, #4]\n\t"
                                     "cmp r10, r9\n\t"
                                     "bne 1b\n\t" NARROW_FINISH
                         :
                         : "r"(c)
                         : NARROW_CLOBBERS);
    } else {
        __asm__ volatile(NARROW_HEAD "1:\n\t" NARROW_GROUP NARROW_GROUP "ldr r9, [lr, #4]\n\t"
                                     "cmp r10, r9\n\t"
                                     "bne 1b\n\t" NARROW_FINISH
                         :
                         : "r"(c)
                         : NARROW_CLOBBERS);
    }
}
#endif

/* all rows against one pair of widened columns ({a lo, a hi, b lo, b hi} per 4 k) */
/* the pair of rows r, r + 1 (r, r when r is the last) against one pair of widened columns, in C
 * (any mode, any activation range) */
static void narrow_step_c(const ekrt_mat_q_t *q, const uint32_t *xq, int32_t k, const int8_t *w,
                          int32_t rows, const int32_t *bias, int8_t *out, int32_t r, int32_t limit)
{
    const int32_t full = k >> 2, tail = k & 3;
    const int32_t r1 = r + 1 < rows ? r + 1 : r; /* odd last row: computed twice */
    const int8_t *p0 = w + r * k, *p1 = w + r1 * k;
    const int32_t bias0 = bias ? bias[r] : 0, bias1 = bias ? bias[r1] : 0;
    acc4_t s;
    s.a0 = s.a1 = s.b0 = s.b1 = 0;
    if (full > 0) {
        s = dot_narrow(xq, p0, p1, full, s);
    }
    if (tail) {
        const uint32_t *x = xq + 4 * full;
        const uint32_t v0 = ekrt_load_tail(p0 + 4 * full, tail);
        const uint32_t v1 = ekrt_load_tail(p1 + 4 * full, tail);
        s.a0 = ekrt_smlad(ekrt_sxtb16(v0), x[0], ekrt_smlad(ekrt_sxtb16_hi(v0), x[1], s.a0));
        s.b0 = ekrt_smlad(ekrt_sxtb16(v0), x[2], ekrt_smlad(ekrt_sxtb16_hi(v0), x[3], s.b0));
        s.a1 = ekrt_smlad(ekrt_sxtb16(v1), x[0], ekrt_smlad(ekrt_sxtb16_hi(v1), x[1], s.a1));
        s.b1 = ekrt_smlad(ekrt_sxtb16(v1), x[2], ekrt_smlad(ekrt_sxtb16_hi(v1), x[3], s.b1));
    }
    if (q->all_r) {
        /* mode R for both rows, inline (as finish_rows) */
        const int32_t zp1 = 1 + 2 * q->output_offset, lo = q->act_min, hi = q->act_max;
        const int32_t i0 = q->per_tensor ? 0 : r, i1 = q->per_tensor ? 0 : r1;
        const int32_t r0 = -q->shift[i0], r1s = -q->shift[i1];
        const int32_t qm0 = q->mult[i0], qm1 = q->mult[i1];
        const int32_t rz0 = (int32_t)((uint32_t)zp1 << (r0 - 1));
        const int32_t rz1 = (int32_t)((uint32_t)zp1 << (r1s - 1));
        const int8_t o0 = clamp8(requant_r(s.a0 + 2 * bias0, qm0, rz0, r0), lo, hi);
        const int8_t o2 = clamp8(requant_r(s.b0 + 2 * bias0, qm0, rz0, r0), lo, hi);
        const int8_t o1 = clamp8(requant_r(s.a1 + 2 * bias1, qm1, rz1, r1s), lo, hi);
        const int8_t o3 = clamp8(requant_r(s.b1 + 2 * bias1, qm1, rz1, r1s), lo, hi);
        out[r] = o0;
        out[rows + r] = o2;
        out[r1] = o1;
        out[rows + r1] = o3;
    } else {
        const int8_t o0 = finish_any(q, r, s.a0, 1, bias0, limit);
        const int8_t o2 = finish_any(q, r, s.b0, 1, bias0, limit);
        const int8_t o1 = finish_any(q, r1, s.a1, 1, bias1, limit);
        const int8_t o3 = finish_any(q, r1, s.b1, 1, bias1, limit);
        out[r] = o0;
        out[rows + r] = o2;
        out[r1] = o1;
        out[rows + r1] = o3;
    }
}

/* all rows against one pair of widened columns ({a lo, a hi, b lo, b hi} per 4 k) */
static void narrow_pair(const ekrt_mat_q_t *q, const uint32_t *xq, int32_t k, const int8_t *w,
                        int32_t rows, const int32_t *bias, int8_t *out)
{
    const int32_t limit = r_limit(k);
    int32_t r = 0;
#if EKRT_HAVE_DSP
    if (q->act_min == -128 && q->act_max == 127) {
        /* runs of mode-R pairs of rows through the asm, the others in C (as in wide) */
        const int32_t end = rows & ~1;
        narrow_ctx_t ctx;
        ctx.xq = xq;
        ctx.x_end = xq + 4 * ((k + 3) >> 2);
        ctx.k = k;
        ctx.bstep = bias != NULL ? 8 : 0;
        ctx.step = q->per_tensor ? 0 : 1;
        ctx.zp1 = 1 + 2 * q->output_offset;
        ctx.rows = rows;
        while (r < end) {
            const int32_t stop = r_run(q, r, end, 2, bias, limit);
            if (stop > r) {
                const int32_t safe = asm_rows_end(k, rows, stop);
                uint32_t copy[(2 * EKRT_MAT_COPY + 4) / 4];
                if (safe > r) {
                    ctx.pairs = (safe - r) >> 1;
                    ctx.w = w + r * k;
                    ctx.bias = bias != NULL ? bias + r : k_no_bias;
                    ctx.mult = q->mult + ctx.step * r;
                    ctx.shift = q->shift + ctx.step * r;
                    ctx.out = out + r;
                    narrow_rows_r_full(&ctx, ((k + 3) >> 2) & 1);
                }
                if (safe < stop && k <= EKRT_MAT_COPY) {
                    /* the filter's last pair of rows, read from a zero-padded copy */
                    memcpy(copy, w + safe * k, 2u * (uint32_t)k);
                    memset((int8_t *)copy + 2 * k, 0, 4);
                    ctx.pairs = 1;
                    ctx.w = (const int8_t *)copy;
                    ctx.bias = bias != NULL ? bias + safe : k_no_bias;
                    ctx.mult = q->mult + ctx.step * safe;
                    ctx.shift = q->shift + ctx.step * safe;
                    ctx.out = out + safe;
                    narrow_rows_r_full(&ctx, ((k + 3) >> 2) & 1);
                } else if (safe < stop) {
                    narrow_step_c(q, xq, k, w, rows, bias, out, safe, limit);
                }
                r = stop;
            } else {
                narrow_step_c(q, xq, k, w, rows, bias, out, r, limit);
                r += 2;
            }
        }
    }
#endif
    for (; r < rows; r += 2) {
        narrow_step_c(q, xq, k, w, rows, bias, out, r, limit);
    }
}

void ekrt_mat_cols(const ekrt_mat_q_t *q, const uint32_t *xq, int32_t n, int32_t k, const int8_t *w,
                   int32_t rows, const int32_t *bias, int8_t *out, uint32_t *wq)
{
    int32_t c;
    if (wq != NULL && n >= EKRT_MAT_WIDE_MIN) {
        wide(q, xq, n, k, w, rows, bias, out, wq);
        return;
    }
    for (c = 0; c < n; c += 2) {
        narrow_pair(q, xq + c * ekrt_mat_col_words(k), k, w, rows, bias, out + c * rows);
    }
}

/* --- vec: one int8 column, no scratch --------------------------------------------------- */

typedef struct {
    int32_t s0, s1, s2, s3;
} sum4_t;

#if EKRT_HAVE_DSP
/* one group of 4 k: x split with the offset added, then each row's word split and
 * multiply-accumulated (LDR, SXTB16, SMLAD, SXTB16, SMLAD) */
#define VEC_ROW(P, S)                           \
    "ldr %[v], [%[" P "]], #4\n\t"              \
    "sxtb16 %[t], %[v]\n\t"                     \
    "smlad %[" S "], %[t], %[xl], %[" S "]\n\t" \
    "sxtb16 %[v], %[v], ror #8\n\t"             \
    "smlad %[" S "], %[v], %[xh], %[" S "]\n\t"
#define VEC_GROUP                                                                      \
    "ldr %[v], [%[px]], #4\n\t"                                                        \
    "sxtab16 %[xl], %[off2], %[v]\n\t"                                                 \
    "sxtab16 %[xh], %[off2], %[v], ror #8\n\t" VEC_ROW("p0", "s0") VEC_ROW("p1", "s1") \
        VEC_ROW("p2", "s2") VEC_ROW("p3", "s3")

/* rows p0..p3 against n groups of 4 k of x (n >= 1), x split on the fly; two groups a pass
 * (an odd n enters at the second). All 14 registers hold values, so the end and the entry
 * come from memory. */
static inline sum4_t dot_vec4(const int8_t *px, const int8_t *p0, const int8_t *p1,
                              const int8_t *p2, const int8_t *p3, int32_t n, uint32_t off2)
{
    const int8_t *end = px + 4 * n;
    const int32_t odd = n & 1;
    sum4_t s;
    uint32_t xl, xh, v, t;
    s.s0 = s.s1 = s.s2 = s.s3 = 0;
    __asm__("ldr %[t], %[odd]\n\t"
            "cmp %[t], #0\n\t"
            "bne 2f\n\t"
            "1:\n\t" VEC_GROUP "2:\n\t" VEC_GROUP "ldr %[t], %[end]\n\t"
            "cmp %[px], %[t]\n\t"
            "bne 1b"
            : [s0] "+r"(s.s0), [s1] "+r"(s.s1), [s2] "+r"(s.s2), [s3] "+r"(s.s3), [px] "+r"(px),
              [p0] "+r"(p0), [p1] "+r"(p1), [p2] "+r"(p2), [p3] "+r"(p3), [xl] "=&r"(xl),
              [xh] "=&r"(xh), [v] "=&r"(v), [t] "=&r"(t)
            : [off2] "r"(off2), [end] "m"(end), [odd] "m"(odd)
            : "cc", "memory");
    return s;
}
#else
static inline sum4_t dot_vec4(const int8_t *px, const int8_t *p0, const int8_t *p1,
                              const int8_t *p2, const int8_t *p3, int32_t n, uint32_t off2)
{
    sum4_t s;
    s.s0 = s.s1 = s.s2 = s.s3 = 0;
    while (n-- > 0) {
        const uint32_t xv = ekrt_load4(px);
        const uint32_t xl = ekrt_sxtab16(off2, xv), xh = ekrt_sxtab16_hi(off2, xv);
        uint32_t v = ekrt_load4(p0);
        s.s0 = ekrt_smlad(ekrt_sxtb16_hi(v), xh, ekrt_smlad(ekrt_sxtb16(v), xl, s.s0));
        v = ekrt_load4(p1);
        s.s1 = ekrt_smlad(ekrt_sxtb16_hi(v), xh, ekrt_smlad(ekrt_sxtb16(v), xl, s.s1));
        v = ekrt_load4(p2);
        s.s2 = ekrt_smlad(ekrt_sxtb16_hi(v), xh, ekrt_smlad(ekrt_sxtb16(v), xl, s.s2));
        v = ekrt_load4(p3);
        s.s3 = ekrt_smlad(ekrt_sxtb16_hi(v), xh, ekrt_smlad(ekrt_sxtb16(v), xl, s.s3));
        px += 4;
        p0 += 4;
        p1 += 4;
        p2 += 4;
        p3 += 4;
    }
    return s;
}
#endif

/* One int8 column against all rows, four at a time, the column split on the fly: no scratch
 * (FULLY_CONNECTED with one batch, a 1x1 convolution of one pixel, an odd last column). */
#if EKRT_HAVE_DSP
/* The vec path's loop over blocks of four rows (all rows in mode R, the full int8 range,
 * k % 4 = 0), read by the asm below at these offsets. */
typedef struct {
    const int8_t *x;     /* 0 */
    const int8_t *x_end; /* 4 */
    const int8_t *w;     /* 8: the next block's first row */
    int32_t k;           /* 12 */
    const int32_t *bias; /* 16: the next block's */
    const int32_t *mult; /* 20 */
    const int8_t *shift; /* 24 */
    int32_t step;        /* 28: 1 per channel, 0 per tensor */
    int32_t zp1;         /* 32: 1 + 2 zp */
    int8_t *out;         /* 36: the next block's output */
    int32_t blocks;      /* 40: blocks of four rows left (>= 1) */
    uint32_t off2;       /* 44: the input offset in both lanes */
    int32_t odd;         /* 48: the count of groups is odd */
    int32_t bstep;       /* 52: 16, or 0 for no bias (k_no_bias) */
} vec_ctx_t;

typedef char vec_ctx_layout_ok[offsetof(vec_ctx_t, bstep) == 52 ? 1 : -1];

/* requant_r of row sum S (+ bias B) into S: qm at [r4], shift at [r5], zp1 in r12 */
#define VEC_RQ(S, B)                   \
    "add " S ", " S ", " B "\n\t"      \
    "lsl " S ", " S ", #1\n\t"         \
    "ldr r8, [r4]\n\t"                 \
    "ldrsb r9, [r5]\n\t"               \
    "rsb r9, r9, #0\n\t"               \
    "sub r10, r9, #1\n\t"              \
    "lsl r10, r12, r10\n\t"            \
    "add r10, r10, " S ", asr #31\n\t" \
    "smmlar r10, " S ", r8, r10\n\t"   \
    "asr r10, r10, r9\n\t"             \
    "ssat " S ", #8, r10\n\t"          \
    "add r4, r4, r6, lsl #2\n\t"       \
    "add r5, r5, r6\n\t"
#define VEC_ROW_R(P, S)               \
    "ldr r12, [" P "], #4\n\t"        \
    "sxtb16 lr, r12\n\t"              \
    "smlad " S ", lr, r10, " S "\n\t" \
    "sxtb16 r12, r12, ror #8\n\t"     \
    "smlad " S ", r12, r11, " S "\n\t"
#define VEC_GROUP_R                                                                \
    "ldr r12, [r8], #4\n\t"                                                        \
    "sxtab16 r10, r9, r12\n\t"                                                     \
    "sxtab16 r11, r9, r12, ror #8\n\t" VEC_ROW_R("r4", "r0") VEC_ROW_R("r5", "r1") \
        VEC_ROW_R("r6", "r2") VEC_ROW_R("r7", "r3")

/* ctx->blocks blocks of four rows against the column: s0..s3 in r0..r3, rows in r4..r7, the
 * column in r8 split with the offset (r9) into r10, r11; the context and the column's end
 * live on the stack during the loop, which uses every other register. */
static void vec_rows_r_full(vec_ctx_t *ctx)
{
    register vec_ctx_t *c __asm__("r0") = ctx;
    __asm__ volatile(
        "push {r0}\n\t"
        "9:\n\t"
        "ldr lr, [sp]\n\t"
        "ldrd r4, r12, [lr, #8]\n\t"
        "add r5, r4, r12\n\t"
        "add r6, r5, r12\n\t"
        "add r7, r6, r12\n\t"
        "add r12, r7, r12\n\t"
        "str r12, [lr, #8]\n\t"
        "ldrd r8, r10, [lr]\n\t"
        "ldr r9, [lr, #44]\n\t"
        "ldr r12, [lr, #48]\n\t"
        "push {r10}\n\t"
        "movs r0, #0\n\t"
        "movs r1, #0\n\t"
        "movs r2, #0\n\t"
        "movs r3, #0\n\t"
        "cmp r12, #0\n\t"
        "bne 2f\n\t"
        "1:\n\t" VEC_GROUP_R "2:\n\t" VEC_GROUP_R "ldr r12, [sp]\n\t"
        "cmp r8, r12\n\t"
        "bne 1b\n\t"
        "add sp, sp, #4\n\t"
        "ldr lr, [sp]\n\t"
        "ldr r4, [lr, #16]\n\t"
        "ldmia r4, {r8, r9, r10, r11}\n\t"
        "ldr r5, [lr, #52]\n\t"
        "add r4, r4, r5\n\t"
        "str r4, [lr, #16]\n\t"
        "push {r9, r10, r11}\n\t"
        "ldrd r4, r5, [lr, #20]\n\t"
        "ldrd r6, r12, [lr, #28]\n\t" VEC_RQ("r0", "r8") "pop {r11}\n\t" VEC_RQ(
            "r1",
            "r11") "pop {r11}\n\t" VEC_RQ("r2",
                                          "r11") "pop {r11}\n\t" VEC_RQ("r3",
                                                                        "r11") "ldr lr, [sp]\n\t"
                                                                               "strd r4, r5, [lr, #20]\n\t"
                                                                               "ldr r4, [lr, #36]\n\t"
                                                                               "strb r0, [r4]\n\t"
                                                                               "strb r1, [r4, #1]\n\t"
                                                                               "strb r2, [r4, #2]\n\t"
                                                                               "strb r3, [r4, #3]\n\t"
                                                                               "add r4, r4, #4\n\t"
                                                                               "str r4, [lr, #36]\n\t"
                                                                               "ldr r4, [lr, #40]\n\t"
                                                                               "subs r4, r4, #1\n\t"
                                                                               "str r4, [lr, #40]\n\t"
                                                                               "bne 9b\n\t"
                                                                               "add sp, sp, #4"
        : "+r"(c)
        :
        : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc",
          "memory");
}
#endif

#if EKRT_HAVE_DSP
/* requant_r of a doubled row sum S (+ 2 bias B) into S (as VEC_RQ) */
#define VECW_RQ(S, B)                     \
    "add " S ", " S ", " B ", lsl #1\n\t" \
    "ldr r8, [r4]\n\t"                    \
    "ldrsb r9, [r5]\n\t"                  \
    "rsb r9, r9, #0\n\t"                  \
    "sub r10, r9, #1\n\t"                 \
    "lsl r10, r12, r10\n\t"               \
    "add r10, r10, " S ", asr #31\n\t"    \
    "smmlar r10, " S ", r8, r10\n\t"      \
    "asr r10, r10, r9\n\t"                \
    "ssat " S ", #8, r10\n\t"             \
    "add r4, r4, r6, lsl #2\n\t"          \
    "add r5, r5, r6\n\t"
#define VECW_GROUP                                                            \
    "ldrd r10, r11, [r8], #8\n\t" VEC_ROW_R("r4", "r0") VEC_ROW_R("r5", "r1") \
        VEC_ROW_R("r6", "r2") VEC_ROW_R("r7", "r3")

/* vec_rows_r_full with the column widened once (ekrt_mat_run's one-column scratch, doubled):
 * per 4 k one LDRD of it instead of a load and two splits, and r9 free for the count. ctx->x
 * is the widened column; ctx->odd as for vec; ctx->off2 holds the group count. */
static void vecw_rows_r_full(vec_ctx_t *ctx)
{
    register vec_ctx_t *c __asm__("r0") = ctx;
    __asm__ volatile(
        "push {r0}\n\t"
        "9:\n\t"
        "ldr lr, [sp]\n\t"
        "ldrd r4, r12, [lr, #8]\n\t"
        "add r5, r4, r12\n\t"
        "add r6, r5, r12\n\t"
        "add r7, r6, r12\n\t"
        "add r12, r7, r12\n\t"
        "str r12, [lr, #8]\n\t"
        "ldr r8, [lr]\n\t"
        "ldr r9, [lr, #44]\n\t"
        "ldr r12, [lr, #48]\n\t"
        "movs r0, #0\n\t"
        "movs r1, #0\n\t"
        "movs r2, #0\n\t"
        "movs r3, #0\n\t"
        "cmp r12, #0\n\t"
        "bne 2f\n\t"
        "1:\n\t" VECW_GROUP "2:\n\t" VECW_GROUP "subs r9, r9, #2\n\t"
        "bgt 1b\n\t"
        "ldr lr, [sp]\n\t"
        "ldr r4, [lr, #16]\n\t"
        "ldmia r4, {r8, r9, r10, r11}\n\t"
        "ldr r5, [lr, #52]\n\t"
        "add r4, r4, r5\n\t"
        "str r4, [lr, #16]\n\t"
        "push {r9, r10, r11}\n\t"
        "ldrd r4, r5, [lr, #20]\n\t"
        "ldrd r6, r12, [lr, #28]\n\t" VECW_RQ("r0", "r8") "pop {r11}\n\t" VECW_RQ(
            "r1",
            "r11") "pop {r11}\n\t" VECW_RQ("r2",
                                           "r11") "pop {r11}\n\t" VECW_RQ("r3",
                                                                          "r11") "ldr lr, [sp]\n\t"
                                                                                 "strd r4, r5, [lr, #20]\n\t"
                                                                                 "ldr r4, [lr, #36]\n\t"
                                                                                 "strb r0, [r4]\n\t"
                                                                                 "strb r1, [r4, #1]\n\t"
                                                                                 "strb r2, [r4, #2]\n\t"
                                                                                 "strb r3, [r4, #3]\n\t"
                                                                                 "add r4, r4, #4\n\t"
                                                                                 "str r4, [lr, #36]\n\t"
                                                                                 "ldr r4, [lr, #40]\n\t"
                                                                                 "subs r4, r4, #1\n\t"
                                                                                 "str r4, [lr, #40]\n\t"
                                                                                 "bne 9b\n\t"
                                                                                 "add sp, sp, #4"
        : "+r"(c)
        :
        : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc",
          "memory");
}
#endif

/* a row's last k & 3 weights against the split tail of x */
static int32_t tail_dot(const int8_t *p, int32_t tail, const uint32_t *xt, int32_t a)
{
    const uint32_t v = ekrt_load_tail(p, tail);
    return ekrt_smlad(ekrt_sxtb16(v), xt[0], ekrt_smlad(ekrt_sxtb16_hi(v), xt[1], a));
}

/* ekrt_mat_vec; xw: NULL, or x widened (2 * ekrt_mat_col_words(k) / 2 words: {lo, hi} per 4 k,
 * doubled) for the DSP loop to read instead of splitting x again for every block of rows */
/* rows r.. (a block of up to four) against the column in C (any mode, any activation range) */
static void vec_step_c(const ekrt_mat_q_t *q, const int8_t *x, const uint32_t *xt, int32_t k,
                       const int8_t *w, int32_t rows, const int32_t *bias, int8_t *out, int32_t r,
                       int32_t limit)
{
    const uint32_t off2 = ekrt_dup16(q->input_offset);
    const int32_t full = k >> 2, tail = k & 3;
    /* rows past the end repeat the last one: the same loads, the results dropped */
    const int32_t rn = rows - r < 4 ? rows - r : 4;
    const int8_t *p0 = w + r * k;
    const int8_t *p1 = rn > 1 ? p0 + k : p0, *p2 = rn > 2 ? p1 + k : p1;
    const int8_t *p3 = rn > 3 ? p2 + k : p2;
    int32_t sums[4];
    sum4_t t;
    t.s0 = t.s1 = t.s2 = t.s3 = 0;
    if (full > 0) {
        t = dot_vec4(x, p0, p1, p2, p3, full, off2);
    }
    if (tail) {
        t.s0 = tail_dot(p0 + 4 * full, tail, xt, t.s0);
        t.s1 = tail_dot(p1 + 4 * full, tail, xt, t.s1);
        t.s2 = tail_dot(p2 + 4 * full, tail, xt, t.s2);
        t.s3 = tail_dot(p3 + 4 * full, tail, xt, t.s3);
    }
    sums[0] = t.s0;
    sums[1] = t.s1;
    sums[2] = t.s2;
    sums[3] = t.s3;
    finish_rows(q, r, rn, sums, 0, bias, limit, out + r);
}

/* ekrt_mat_vec; xw: NULL, or x widened ({lo, hi} per 4 k, doubled) for the DSP loop to read
 * instead of splitting x again for every block of rows */
static void vec_any(const ekrt_mat_q_t *q, const int8_t *x, const uint32_t *xw, int32_t k,
                    const int8_t *w, int32_t rows, const int32_t *bias, int8_t *out)
{
    const uint32_t off2 = ekrt_dup16(q->input_offset);
    const int32_t full = k >> 2, tail = k & 3, limit = r_limit(k);
    uint32_t xt[2] = {0, 0};
    int32_t r = 0;
    if (tail) {
        const uint32_t v = ekrt_load_tail(x + 4 * full, tail);
        xt[0] = ekrt_sxtab16(off2, v) & (tail == 3 ? 0xFFFFFFFFu : 0xFFFFu);
        xt[1] = ekrt_sxtab16_hi(off2, v) & (tail == 1 ? 0u : 0xFFFFu);
    }
#if EKRT_HAVE_DSP
    if (tail == 0 && full > 0 && q->act_min == -128 && q->act_max == 127) {
        /* blocks of four rows in runs of mode-R rows through the asm, the others in C */
        const int32_t end = rows & ~3;
        vec_ctx_t ctx;
        ctx.x = xw != NULL ? (const int8_t *)(const void *)xw : x;
        ctx.x_end = x + 4 * full;
        ctx.k = k;
        ctx.bstep = bias != NULL ? 16 : 0;
        ctx.step = q->per_tensor ? 0 : 1;
        ctx.zp1 = 1 + 2 * q->output_offset;
        /* with xw the loop counts groups down by 2 from an even count */
        ctx.off2 = xw != NULL ? (uint32_t)(full + (full & 1)) : off2;
        ctx.odd = full & 1;
        while (r < end) {
            const int32_t stop = r_run(q, r, end, 4, bias, limit);
            if (stop > r) {
                ctx.blocks = (stop - r) >> 2;
                ctx.w = w + r * k;
                ctx.bias = bias != NULL ? bias + r : k_no_bias;
                ctx.mult = q->mult + ctx.step * r;
                ctx.shift = q->shift + ctx.step * r;
                ctx.out = out + r;
                if (xw != NULL) {
                    vecw_rows_r_full(&ctx);
                } else {
                    vec_rows_r_full(&ctx);
                }
                r = stop;
            } else {
                vec_step_c(q, x, xt, k, w, rows, bias, out, r, limit);
                r += 4;
            }
        }
    }
#else
    (void)xw;
#endif
    for (; r < rows; r += 4) {
        vec_step_c(q, x, xt, k, w, rows, bias, out, r, limit);
    }
}

void ekrt_mat_vec(const ekrt_mat_q_t *q, const int8_t *x, int32_t k, const int8_t *w, int32_t rows,
                  const int32_t *bias, int8_t *out)
{
    vec_any(q, x, NULL, k, w, rows, bias, out);
}

/* one column widened ({lo, hi} per 4 k, doubled, zeros past k) */
static void widen_one(uint32_t off2, const int8_t *a, int32_t k, uint32_t *d)
{
    const int32_t tail = k & 3;
    int32_t n = k >> 2;
    while (n-- > 0) {
        split_x(ekrt_load4(a), off2, d);
        a += 4;
        d += 2;
    }
    if (tail) {
        split_x(ekrt_load_tail(a, tail), off2, d);
        mask_tail(d, tail);
    }
}

/* --- tiles of columns -------------------------------------------------------------------- */

/* A tile holds up to EKRT_MAT_TILE_MAX widened columns (4 * ekrt_mat_col_words(k) bytes, about
 * 2k, each), plus two widened filter rows from EKRT_MAT_WIDE_MIN columns on. None when k is
 * so large that doubled sums could overflow (k * 255 * 128 * 2 >= 2^31): the vec path. */
#define EKRT_MAT_TILE_MAX 256

uint32_t ekrt_mat_scratch_bytes(int32_t k, int32_t tile)
{
    const uint32_t cw = ekrt_mat_col_words(k);
    return 4u * cw * (uint32_t)tile + (tile >= EKRT_MAT_WIDE_MIN ? 8u * cw : 0u);
}

/* The least scratch an op asks for lives in the arena even at the op where the arena peaks,
 * so only while it is small: two widened columns (the narrow path), else one (the vec path
 * reading it widened), else none (ekrt_mat_vec). */
#define EKRT_MAT_SMALL 512u

uint32_t ekrt_mat_scratch_min(int32_t k, int32_t n)
{
    const uint32_t two = n >= 2 && k < 32768 ? ekrt_mat_scratch_bytes(k, 2) : 0u;
    const uint32_t one = k < 32768 ? 4u * ekrt_mat_col_words(k) : 0u;
    return two > 0 && two <= EKRT_MAT_SMALL ? two : (one <= EKRT_MAT_SMALL ? one : 0u);
}

uint32_t ekrt_mat_scratch_max(int32_t k, int32_t n)
{
    const int32_t t = (n < EKRT_MAT_TILE_MAX ? n : EKRT_MAT_TILE_MAX) & ~1;
    return t >= 2 && k < 32768 ? ekrt_mat_scratch_bytes(k, t) : 0u;
}

int32_t ekrt_mat_tile(int32_t k, int32_t n, uint32_t bytes)
{
    int32_t t = (n < EKRT_MAT_TILE_MAX ? n : EKRT_MAT_TILE_MAX) & ~1;
    if (k >= 32768) {
        return 0;
    }
    while (t >= 2 && ekrt_mat_scratch_bytes(k, t) > bytes) {
        t -= 2;
    }
    return t;
}

void ekrt_mat_run(const ekrt_mat_q_t *q, const int8_t *dense, ekrt_mat_col_fn col, void *ctx,
                  int32_t n, int32_t k, const int8_t *w, int32_t rows, const int32_t *bias,
                  int8_t *out, void *scratch, uint32_t scratch_bytes, int8_t *col_buf)
{
    const uint32_t off2 = ekrt_dup16(q->input_offset);
    const int32_t tile = ekrt_mat_tile(k, n, scratch_bytes);
    const int one = k < 32768 && scratch_bytes >= 4u * ekrt_mat_col_words(k);
    uint32_t *xq = (uint32_t *)scratch;
    uint32_t *wq = xq + ekrt_mat_col_words(k) * (uint32_t)tile;
    const int32_t k4 = (k + 3) & ~3;
    int32_t t0 = 0, c;
    while (t0 < n) {
        const int32_t left = n - t0, nt = left < tile ? left & ~1 : tile;
        if (nt == 0) {
            const int8_t *x = dense ? dense + t0 * k : col(ctx, t0, col_buf);
            if (one) {
                widen_one(off2, x, k, xq);
            }
            vec_any(q, x, one ? xq : NULL, k, w, rows, bias, out + t0 * rows);
            t0 += 1;
            continue;
        }
        for (c = 0; c < nt; c += 2) {
            uint32_t *d = xq + (uint32_t)c * ekrt_mat_col_words(k);
            if (dense) {
                widen_pair(off2, dense + (t0 + c) * k, dense + (t0 + c + 1) * k, k, d);
            } else {
                widen_pair(off2, col(ctx, t0 + c, col_buf), col(ctx, t0 + c + 1, col_buf + k4), k,
                           d);
            }
        }
        ekrt_mat_cols(q, xq, nt, k, w, rows, bias, out + t0 * rows,
                      nt >= EKRT_MAT_WIDE_MIN ? wq : NULL);
        t0 += nt;
    }
}
