/* DEPTHWISE_CONV_2D int8, any depth multiplier, no dilation: four output channels per step.
 *
 * Output channels go in groups of four (the last group overlaps the one before it when out_c
 * is not a multiple of 4, so every group is full; out_c < 4 stores only out_c bytes). A
 * group's filter taps are split into int16 lanes once ({f0,f2} {f1,f3} per tap, on the
 * stack), with its bias and requantization constants; then per output pixel and tap: the
 * group's four inputs plus the input offset as two lane words x02 = {x0,x2}, x13 = {x1,x3}
 * and four lane multiplies (SMLABB / SMLATT). How the inputs are fetched is the only
 * difference between depth multipliers:
 *   W (multiplier 1): one word load, two SXTAB16;
 *   H (multiplier 2): channels c, c, c+1, c+1: one halfword load, ORR, one SXTAB16;
 *   B (any other, and out_c < 4): four byte loads.
 *
 * 3-wide windows (W and H, image at least 3 wide; "pix3"): every pixel reads three whole
 * input columns inside the image, no bounds checks. A window hanging over the left or right
 * edge is read `shift` columns further in, against the filter lanes shifted the other way:
 * the lane table has two zero columns on each side, so the lanes of any shift are a pointer
 * into it (a zero lane times an in-image input adds zero, as TFLM's skipped tap does). The
 * kernel rows inside the image (1-3) start the window vertically. On the DSP one asm block
 * computes a pixel: gcc 12 spills the C version's accumulators and lanes around the taps
 * (+60% instructions). Other windows (5x5, narrow images): per-pixel clipped loops in C.
 *
 * Requantization ("right" = ekrt_requant_mode() 1: shifts in [-22, -1], |acc| < 2^30):
 * filter lanes and bias are doubled at setup, so the accumulator is the 2 acc that
 * ekrt_mbqm_r's SMMULR wants, and the output zero point is folded into the rounding constant:
 *   c = 2^(s-1) + zp * 2^s,  out = clamp((SMMULR(2 acc, m) + c + sign) >> s)
 * which is ekrt_requant_r exactly: |SMMULR| <= |acc| < 2^30, |zp * 2^s| <= 2^29 (s <= 22), so
 * the sum does not overflow, and zp * 2^s is a multiple of 2^s. Otherwise ekrt_requant_fast.
 * Preconditions (ekrt_depthwise_conv2d_select): dil_h = dil_w = 1, k_h * k_w <= EKRT_DW_MAX_TAPS,
 * every shift in [-22, 31]. Any stride, padding, channel count and depth multiplier. */
#include <stddef.h>

#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include "ekrt_internal.h"

#define DW_LT_W 7 /* lane table columns: 2 zero, the 3 filter columns, 2 zero */

/* the constants of one group of four output channels, at fixed offsets (the asm reads them) */
typedef struct {
    int32_t mc[4][2];  /*  0: {multiplier, c (right only, see above)} */
    int32_t s[4];      /* 32: right shift (right), shift (otherwise) */
    uint32_t lo2, hi2; /* 48: {act_min, act_min}, {act_max, act_max} */
    int32_t b[4];      /* 56: bias (doubled when right) */
    int32_t row;       /* 72: input row bytes */
    int32_t off[4];    /* 76: input byte of each channel from the group's first */
    int32_t bf[4];     /* 92: b + input offset * sum of the 3x3 filter (full windows) */
} dw_q_t;
typedef char dw_q_layout_ok[offsetof(dw_q_t, s) == 32 && offsetof(dw_q_t, lo2) == 48 &&
                                    offsetof(dw_q_t, b) == 56 && offsetof(dw_q_t, row) == 72 &&
                                    offsetof(dw_q_t, bf) == 92
                                ? 1
                                : -1];

/* one group: constants and filter lanes (per tap {f0,f2} {f1,f3}, doubled when right): the
 * clipped pixels read fl, pix3 reads lt (never both in one layer) */
typedef struct {
    dw_q_t q;
    union {
        uint32_t fl[EKRT_DW_MAX_TAPS][2]; /* k_h x k_w taps */
        uint32_t lt[3][DW_LT_W][2];       /* 3-wide windows: column j's lanes at lt[ky][j + 2] */
    } u;
} dw_group_t;

/* the layer, as the loops want it */
typedef struct {
    int32_t in_c, out_c, in_h, in_w, out_h, out_w, k_h, k_w, s_h, s_w, pad_h, pad_w;
    int32_t x_lo, x_hi; /* output columns whose window lies inside the image */
    int32_t in_off;     /* input offset */
    uint32_t off2;      /* {in_off, in_off} */
    int32_t zp, lo, hi, right, n_store;
    int32_t full; /* pix3 on the DSP, "right", and some 3x3 windows lie inside: q->bf is set */
    int32_t ky_lo, ky_hi; /* the kernel rows some output row uses */
} dw_layer_t;

/* {lo, hi} as two int16 lanes */
static inline uint32_t dw_lanes(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}

/* bytes p[0], p[1] in the low half (one LDRH) */
static inline uint32_t dw_load2(const int8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

static inline int8_t dw_req(const dw_layer_t *L, const dw_q_t *q, int j, int32_t acc)
{
    if (L->right) {
        const int32_t x = ekrt_smmulr(acc, q->mc[j][0]);
        const int32_t v = (x + q->mc[j][1] + (x >> 31)) >> q->s[j];
        return (int8_t)(v < L->lo ? L->lo : (v > L->hi ? L->hi : v));
    }
    return ekrt_requant_fast(acc, q->mc[j][0], q->s[j], L->zp, L->lo, L->hi);
}

/* the inputs of one tap at ip (the group's first input channel of that pixel) */
#define DW_FETCH_W(ip)                           \
    const uint32_t w_ = ekrt_load4(ip);          \
    const uint32_t x02 = ekrt_sxtab16(off2, w_); \
    const uint32_t x13 = ekrt_sxtab16_hi(off2, w_)
#define DW_FETCH_H(ip)                                       \
    const uint32_t h_ = dw_load2(ip);                        \
    const uint32_t x02 = ekrt_sxtab16(off2, h_ | (h_ << 8)); \
    const uint32_t x13 = x02
#define DW_FETCH_B(ip)                                                                       \
    const uint32_t x02 = ekrt_sxtab16(off2, (uint32_t)(uint8_t)(ip)[q->off[0]] |             \
                                                ((uint32_t)(uint8_t)(ip)[q->off[2]] << 16)); \
    const uint32_t x13 = ekrt_sxtab16(off2, (uint32_t)(uint8_t)(ip)[q->off[1]] |             \
                                                ((uint32_t)(uint8_t)(ip)[q->off[3]] << 16))

/* one tap: inputs at ip, lanes fv[0], fv[1] */
#define DW_TAP(F, ip, fv)                   \
    do {                                    \
        F(ip);                              \
        a0 = ekrt_smlabb(x02, (fv)[0], a0); \
        a2 = ekrt_smlatt(x02, (fv)[0], a2); \
        a1 = ekrt_smlabb(x13, (fv)[1], a1); \
        a3 = ekrt_smlatt(x13, (fv)[1], a3); \
    } while (0)

/* requantize a0..a3 and store n of them at o (n = 4 but for out_c < 4) */
static inline void dw_store(const dw_layer_t *L, const dw_q_t *q, int32_t a0, int32_t a1,
                            int32_t a2, int32_t a3, int8_t *o)
{
    const int8_t o0 = dw_req(L, q, 0, a0), o1 = dw_req(L, q, 1, a1);
    const int8_t o2 = dw_req(L, q, 2, a2), o3 = dw_req(L, q, 3, a3);
    o[0] = o0;
    if (L->n_store > 1) {
        o[1] = o1;
    }
    if (L->n_store > 2) {
        o[2] = o2;
    }
    if (L->n_store > 3) {
        o[3] = o3;
    }
}

/* One output pixel, only its in-image taps (any window size). */
#define DW_DEFINE_CLIP(name, F)                                                               \
    static void name(const dw_layer_t *L, const dw_group_t *g, const int8_t *in, int32_t iy0, \
                     int32_t ix0, int8_t *o)                                                  \
    {                                                                                         \
        const dw_q_t *q = &g->q;                                                              \
        const uint32_t off2 = L->off2;                                                        \
        const int32_t ky0 = iy0 < 0 ? -iy0 : 0;                                               \
        const int32_t ky1 = L->in_h - iy0 < L->k_h ? L->in_h - iy0 : L->k_h;                  \
        const int32_t kx0 = ix0 < 0 ? -ix0 : 0;                                               \
        const int32_t kx1 = L->in_w - ix0 < L->k_w ? L->in_w - ix0 : L->k_w;                  \
        int32_t a0 = q->b[0], a1 = q->b[1], a2 = q->b[2], a3 = q->b[3];                       \
        int32_t ky, kx;                                                                       \
        for (ky = ky0; ky < ky1; ++ky) {                                                      \
            const int8_t *ip = in + ((iy0 + ky) * L->in_w + ix0 + kx0) * L->in_c;             \
            for (kx = kx0; kx < kx1; ++kx) {                                                  \
                DW_TAP(F, ip, g->u.fl[ky * L->k_w + kx]);                                     \
                ip += L->in_c;                                                                \
            }                                                                                 \
        }                                                                                     \
        dw_store(L, q, a0, a1, a2, a3, o);                                                    \
    }
DW_DEFINE_CLIP(dw_clip_w, DW_FETCH_W)
DW_DEFINE_CLIP(dw_clip_h, DW_FETCH_H)
DW_DEFINE_CLIP(dw_clip_b, DW_FETCH_B)

/* n output pixels of one row whose windows lie inside the image horizontally (any window
 * width): kernel rows ky0 .. ky0 + rows - 1, the first window at ip; no clipping per pixel */
#define DW_DEFINE_ROWK(name, F)                                                               \
    static void name(const dw_layer_t *L, const dw_group_t *g, const int8_t *ip, int32_t ky0, \
                     int32_t rows, int32_t n, int8_t *o)                                      \
    {                                                                                         \
        const dw_q_t *q = &g->q;                                                              \
        const uint32_t off2 = L->off2;                                                        \
        const int32_t ch = L->in_c, kw = L->k_w, step = L->s_w * ch, oc = L->out_c;           \
        const int32_t next = L->in_w * ch - kw * ch;                                          \
        for (; n > 0; --n, ip += step, o += oc) {                                             \
            const uint32_t(*f)[2] = g->u.fl + ky0 * kw;                                       \
            const int8_t *p = ip;                                                             \
            int32_t a0 = q->b[0], a1 = q->b[1], a2 = q->b[2], a3 = q->b[3], r, k;             \
            for (r = rows; r > 0; --r, p += next) {                                           \
                if (kw == 5) { /* unrolled: the common 5x5 */                                 \
                    DW_TAP(F, p, f[0]);                                                       \
                    DW_TAP(F, p + ch, f[1]);                                                  \
                    DW_TAP(F, p + 2 * ch, f[2]);                                              \
                    DW_TAP(F, p + 3 * ch, f[3]);                                              \
                    DW_TAP(F, p + 4 * ch, f[4]);                                              \
                    p += 5 * ch;                                                              \
                    f += 5;                                                                   \
                    continue;                                                                 \
                }                                                                             \
                for (k = kw; k > 0; --k, p += ch, ++f) {                                      \
                    DW_TAP(F, p, *f);                                                         \
                }                                                                             \
            }                                                                                 \
            dw_store(L, q, a0, a1, a2, a3, o);                                                \
        }                                                                                     \
    }
DW_DEFINE_ROWK(dw_rowk_w, DW_FETCH_W)
DW_DEFINE_ROWK(dw_rowk_h, DW_FETCH_H)
DW_DEFINE_ROWK(dw_rowk_b, DW_FETCH_B)

/* pix3 in C: `rows` kernel rows of 3 taps at p (row stride q->row), lanes lt (row stride
 * DW_LT_W), into a0..a3 */
#define DW_PIX3_C(F, p, lt, rows)          \
    do {                                   \
        const int8_t *p_ = (p);            \
        const uint32_t(*l_)[2] = (lt);     \
        int32_t r_;                        \
        a0 = q->b[0];                      \
        a1 = q->b[1];                      \
        a2 = q->b[2];                      \
        a3 = q->b[3];                      \
        for (r_ = 0; r_ < (rows); ++r_) {  \
            DW_TAP(F, p_, l_[0]);          \
            DW_TAP(F, p_ + ch, l_[1]);     \
            DW_TAP(F, p_ + 2 * ch, l_[2]); \
            p_ += q->row;                  \
            l_ += DW_LT_W;                 \
        }                                  \
    } while (0)

#if EKRT_HAVE_DSP
/* pix3 on the DSP, one block: bias; per tap (9 instructions) the input word or halfword, the
 * input offset added by SXTAB16, the lanes by two LDRs (one free register fewer than LDRD);
 * per kernel row the next input row; then, for "right", the requantization of the four
 * channels (7 each: LDRD {m, c}, LDR s, SMMULR, two ADDs, ASR, SSAT to int16), the
 * activation clamp of two channels at a time (SSUB16 + SEL against {lo, lo} and {hi, hi}:
 * [lo, hi] lies inside int16, so clamping the saturated value is clamping the value) and the
 * four bytes packed into a0. Offsets: dw_q_t, and DW_LT_W * 8 = 56 bytes a lane row. */
#define DW_ASM_TAP_W(addr, fo, fo4)         \
    "ldr %[w], " addr "\n\t"                \
    "ldr %[f], [%[L], #" fo "]\n\t"         \
    "sxtab16 %[x], %[o2], %[w]\n\t"         \
    "smlabb %[a0], %[x], %[f], %[a0]\n\t"   \
    "smlatt %[a2], %[x], %[f], %[a2]\n\t"   \
    "ldr %[f], [%[L], #" fo4 "]\n\t"        \
    "sxtab16 %[x], %[o2], %[w], ror #8\n\t" \
    "smlabb %[a1], %[x], %[f], %[a1]\n\t"   \
    "smlatt %[a3], %[x], %[f], %[a3]\n\t"
#define DW_ASM_TAP_H(addr, fo, fo4)       \
    "ldrh %[w], " addr "\n\t"             \
    "ldr %[f], [%[L], #" fo "]\n\t"       \
    "orr %[w], %[w], %[w], lsl #8\n\t"    \
    "sxtab16 %[x], %[o2], %[w]\n\t"       \
    "smlabb %[a0], %[x], %[f], %[a0]\n\t" \
    "smlatt %[a2], %[x], %[f], %[a2]\n\t" \
    "ldr %[f], [%[L], #" fo4 "]\n\t"      \
    "smlabb %[a1], %[x], %[f], %[a1]\n\t" \
    "smlatt %[a3], %[x], %[f], %[a3]\n\t"
/* the full 3x3 window of an inside pixel: input offset folded into the bias (q->bf), so no
 * offset register, which frees one for LDRD: 8 instructions a tap */
#define DW_ASM_TAPF_W(addr, fo, fo4)       \
    "ldr %[w], " addr "\n\t"               \
    "ldrd %[f], %[g], [%[L], #" fo "]\n\t" \
    "sxtb16 %[x], %[w]\n\t"                \
    "sxtb16 %[w], %[w], ror #8\n\t"        \
    "smlabb %[a0], %[x], %[f], %[a0]\n\t"  \
    "smlatt %[a2], %[x], %[f], %[a2]\n\t"  \
    "smlabb %[a1], %[w], %[g], %[a1]\n\t"  \
    "smlatt %[a3], %[w], %[g], %[a3]\n\t"
#define DW_ASM_TAPF_H(addr, fo, fo4)       \
    "ldrh %[w], " addr "\n\t"              \
    "ldrd %[f], %[g], [%[L], #" fo "]\n\t" \
    "orr %[w], %[w], %[w], lsl #8\n\t"     \
    "sxtb16 %[x], %[w]\n\t"                \
    "smlabb %[a0], %[x], %[f], %[a0]\n\t"  \
    "smlatt %[a2], %[x], %[f], %[a2]\n\t"  \
    "smlabb %[a1], %[x], %[g], %[a1]\n\t"  \
    "smlatt %[a3], %[x], %[g], %[a3]\n\t"
#define DW_ASM_FULL(TAP)                                                                   \
    "ldrd %[a0], %[a1], [%[Q], #92]\n\t"                                                   \
    "ldrd %[a2], %[a3], [%[Q], #100]\n\t" DW_ASM_ROW(TAP, "0", "4", "8", "12", "16", "20") \
        DW_ASM_NEXT                                                                        \
        DW_ASM_ROW(TAP, "56", "60", "64", "68", "72", "76") DW_ASM_NEXT                    \
        DW_ASM_ROW(TAP, "112", "116", "120", "124", "128", "132")
#define DW_ASMF(BODY, ip, lt)                                                                   \
    do {                                                                                        \
        const int8_t *p_ = (ip);                                                                \
        uint32_t w_, x_, f_, g_;                                                                \
        __asm__(BODY                                                                            \
                : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [p] "+r"(p_), \
                  [w] "=&r"(w_), [x] "=&r"(x_), [f] "=&r"(f_), [g] "=&r"(g_)                    \
                : [ch] "r"(ch), [L] "r"(lt), [Q] "r"(q)                                         \
                : "memory", "cc");                                                              \
    } while (0)
#define DW_ASM_ROW(TAP, o0, o1, o2, o3, o4, o5) \
    TAP("[%[p]]", o0, o1) TAP("[%[p], %[ch]]", o2, o3) TAP("[%[p], %[ch], lsl #1]", o4, o5)
#define DW_ASM_NEXT             \
    "ldr %[f], [%[Q], #72]\n\t" \
    "add %[p], %[p], %[f]\n\t"
#define DW_ASM_ROWS1(TAP)                \
    "ldrd %[a0], %[a1], [%[Q], #56]\n\t" \
    "ldrd %[a2], %[a3], [%[Q], #64]\n\t" DW_ASM_ROW(TAP, "0", "4", "8", "12", "16", "20")
#define DW_ASM_ROWS2(TAP) \
    DW_ASM_ROWS1(TAP) DW_ASM_NEXT DW_ASM_ROW(TAP, "56", "60", "64", "68", "72", "76")
#define DW_ASM_ROWS3(TAP) \
    DW_ASM_ROWS2(TAP) DW_ASM_NEXT DW_ASM_ROW(TAP, "112", "116", "120", "124", "128", "132")
#define DW_ASM_REQ1(a, mc, s)              \
    "ldrd %[f], %[w], [%[Q], #" mc "]\n\t" \
    "ldr %[x], [%[Q], #" s "]\n\t"         \
    "smmulr " a ", " a ", %[f]\n\t"        \
    "add %[w], %[w], " a ", asr #31\n\t"   \
    "add " a ", " a ", %[w]\n\t"           \
    "asr " a ", " a ", %[x]\n\t"           \
    "ssat " a ", #16, " a "\n\t"
#define DW_ASM_CLAMP2(a)           \
    "ssub16 %[x], " a ", %[f]\n\t" \
    "sel " a ", " a ", %[f]\n\t"   \
    "ssub16 %[x], %[w], " a "\n\t" \
    "sel " a ", " a ", %[w]\n\t"
#define DW_ASM_REQ4                                                \
    DW_ASM_REQ1("%[a0]", "0", "32")                                \
    DW_ASM_REQ1("%[a1]", "8", "36")                                \
    DW_ASM_REQ1("%[a2]", "16", "40")                               \
    DW_ASM_REQ1("%[a3]", "24", "44")                               \
    "pkhbt %[a0], %[a0], %[a2], lsl #16\n\t"                       \
    "pkhbt %[a1], %[a1], %[a3], lsl #16\n\t"                       \
    "ldrd %[f], %[w], [%[Q], #48]\n\t" DW_ASM_CLAMP2("%[a0]")      \
        DW_ASM_CLAMP2("%[a1]") "and %[a0], %[a0], #0x00ff00ff\n\t" \
                               "and %[a1], %[a1], #0x00ff00ff\n\t" \
                               "orr %[a0], %[a0], %[a1], lsl #8\n\t"
#define DW_ASM(BODY, ip, lt)                                                                    \
    do {                                                                                        \
        const int8_t *p_ = (ip);                                                                \
        uint32_t w_, x_, f_;                                                                    \
        __asm__(BODY                                                                            \
                : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [p] "+r"(p_), \
                  [w] "=&r"(w_), [x] "=&r"(x_), [f] "=&r"(f_)                                   \
                : [ch] "r"(ch), [L] "r"(lt), [Q] "r"(q), [o2] "r"(off2)                         \
                : "memory", "cc");                                                              \
    } while (0)
/* the requantized pixel, packed in a0 */
#define DW_PIX3_R(TAP, ip, lt, rows)                       \
    do {                                                   \
        if ((rows) == 3) {                                 \
            DW_ASM(DW_ASM_ROWS3(TAP) DW_ASM_REQ4, ip, lt); \
        } else if ((rows) == 2) {                          \
            DW_ASM(DW_ASM_ROWS2(TAP) DW_ASM_REQ4, ip, lt); \
        } else {                                           \
            DW_ASM(DW_ASM_ROWS1(TAP) DW_ASM_REQ4, ip, lt); \
        }                                                  \
    } while (0)
#define DW_PIX3_R_W(ip, lt, rows) DW_PIX3_R(DW_ASM_TAP_W, ip, lt, rows)
#define DW_PIX3_R_H(ip, lt, rows) DW_PIX3_R(DW_ASM_TAP_H, ip, lt, rows)
#define DW_PIXF_R_W(ip, lt) DW_ASMF(DW_ASM_FULL(DW_ASM_TAPF_W) DW_ASM_REQ4, ip, lt)
#define DW_PIXF_R_H(ip, lt) DW_ASMF(DW_ASM_FULL(DW_ASM_TAPF_H) DW_ASM_REQ4, ip, lt)
#define DW_HAVE_PIX3_R 1
#else
/* never run (DW_HAVE_PIX3_R is 0, and L->full with it) */
#define DW_PIX3_R_W(ip, lt, rows) (a0 = 0, (void)(ip), (void)(lt))
#define DW_PIX3_R_H(ip, lt, rows) (a0 = 0, (void)(ip), (void)(lt))
#define DW_PIXF_R_W(ip, lt) (a0 = 0, (void)(ip), (void)(lt))
#define DW_PIXF_R_H(ip, lt) (a0 = 0, (void)(ip), (void)(lt))
#define DW_HAVE_PIX3_R 0
#endif

/* pixels ox .. x1 - 1 of one output row, each reading columns px .. px + 2 (px: the window
 * start clamped into the image) against the lanes of filter column px - ix0 first (zero
 * lanes past the filter, see dw_group_t.u.lt); PIX is the pixel's code */
#define DW_ROW_LOOP(PIX)                                            \
    for (; ox < x1; ++ox, ix0 += sw, o += oc) {                     \
        const int32_t px = ix0 < 0 ? 0 : (ix0 > last ? last : ix0); \
        const int8_t *ip = in_row + px * ch;                        \
        const uint32_t(*l)[2] = lt + (px - ix0);                    \
        PIX;                                                        \
    }

/* One output row of pix3: kernel rows ky0 .. ky0 + rows - 1 starting at input row `in_row`.
 * On the DSP with "right": the asm pixel for 1, 2 or 3 rows; full 3x3 windows inside the
 * image (L->full) by the folded-offset block. Otherwise the same in C. */
#define DW_DEFINE_ROW3(name, V)                                                                   \
    static void name(const dw_layer_t *L, const dw_group_t *g, const int8_t *in_row, int32_t ky0, \
                     int32_t rows, int8_t *o)                                                     \
    {                                                                                             \
        const dw_q_t *q = &g->q;                                                                  \
        const uint32_t off2 = L->off2;                                                            \
        const int32_t ch = L->in_c, oc = L->out_c, sw = L->s_w, last = L->in_w - 3;               \
        const uint32_t(*lt)[2] = g->u.lt[ky0] + 2; /* filter column 0's lanes */                  \
        int32_t ox = 0, x1 = L->out_w, ix0 = -L->pad_w, a0, a1, a2, a3;                           \
        if (!(L->right && DW_HAVE_PIX3_R)) {                                                      \
            DW_ROW_LOOP(DW_PIX3_C(DW_FETCH_##V, ip, l, rows); dw_store(L, q, a0, a1, a2, a3, o))  \
            return;                                                                               \
        }                                                                                         \
        if (rows == 3 && L->full) {                                                               \
            x1 = L->x_lo;                                                                         \
            DW_ROW_LOOP(DW_PIX3_R_##V(ip, l, 3); memcpy(o, &a0, 4))                               \
            {                                                                                     \
                const int8_t *ip = in_row + ix0 * ch; /* inside: no clamping */                   \
                const int32_t step = sw * ch, n = L->x_hi - ox;                                   \
                int32_t k;                                                                        \
                for (k = 0; k < n; ++k, ip += step, o += oc) {                                    \
                    DW_PIXF_R_##V(ip, lt);                                                        \
                    memcpy(o, &a0, 4);                                                            \
                }                                                                                 \
                ox += n;                                                                          \
                ix0 += n * sw;                                                                    \
            }                                                                                     \
            x1 = L->out_w;                                                                        \
            DW_ROW_LOOP(DW_PIX3_R_##V(ip, l, 3); memcpy(o, &a0, 4))                               \
            return;                                                                               \
        }                                                                                         \
        if (rows == 3) {                                                                          \
            DW_ROW_LOOP(DW_PIX3_R_##V(ip, l, 3); memcpy(o, &a0, 4))                               \
        } else if (rows == 2) {                                                                   \
            DW_ROW_LOOP(DW_PIX3_R_##V(ip, l, 2); memcpy(o, &a0, 4))                               \
        } else {                                                                                  \
            DW_ROW_LOOP(DW_PIX3_R_##V(ip, l, 1); memcpy(o, &a0, 4))                               \
        }                                                                                         \
    }
DW_DEFINE_ROW3(dw_row3_w, W)
DW_DEFINE_ROW3(dw_row3_h, H)

typedef void (*dw_clip_fn)(const dw_layer_t *, const dw_group_t *, const int8_t *, int32_t, int32_t,
                           int8_t *);
typedef void (*dw_row3_fn)(const dw_layer_t *, const dw_group_t *, const int8_t *, int32_t, int32_t,
                           int8_t *);
typedef void (*dw_rowk_fn)(const dw_layer_t *, const dw_group_t *, const int8_t *, int32_t, int32_t,
                           int32_t, int8_t *);

/* the group of output channels oc .. oc+3 (clamped to out_c - 1 when out_c < 4): constants,
 * and the lanes of the kernel rows some output row uses (into g->u.lt for pix3, else g->u.fl) */
static void dw_group_setup(const ekrt_conv_params_t *p, const dw_layer_t *L, const int8_t *filter,
                           const int32_t *bias, int32_t oc, int pix3, dw_group_t *g)
{
    const int32_t right = L->right, dbl = right ? 1 : 0;
    int32_t ch[4], j, ky, kx;
    for (j = 0; j < 4; ++j) {
        ch[j] = oc + j < p->out_c ? oc + j : p->out_c - 1;
    }
    for (j = 0; j < 4; ++j) {
        const int32_t s = p->shift[ch[j]];
        g->q.b[j] = bias ? (int32_t)((uint32_t)bias[ch[j]] << dbl) : 0;
        g->q.mc[j][0] = p->mult[ch[j]];
        g->q.s[j] = right ? -s : s;
        g->q.mc[j][1] = right ? (int32_t)((1u << (-s - 1)) + ((uint32_t)L->zp << -s)) : 0;
    }
    if (p->depth_mult != 1 || p->out_c < 4) { /* read by the byte-fetching variant only */
        for (j = 0; j < 4; ++j) {
            g->q.off[j] = ch[j] / p->depth_mult - ch[0] / p->depth_mult;
        }
    }
    if (p->out_c >= 4) {
        /* four consecutive filter bytes a tap: two SXTB16 (doubled: shift left, and clear the
         * bit the low lane's sign carried into the high lane) */
        const uint32_t keep = right ? 0xFFFEFFFFu : 0xFFFFFFFFu;
        const int32_t oc_ = p->out_c;
        for (ky = L->ky_lo; ky < L->ky_hi; ++ky) {
            uint32_t(*d)[2] = pix3 ? &g->u.lt[ky][2] : &g->u.fl[ky * p->k_w];
            const int8_t *f = filter + ky * p->k_w * oc_ + oc;
            for (kx = p->k_w; kx > 0; --kx, ++d, f += oc_) {
                const uint32_t w = ekrt_load4(f);
                (*d)[0] = (ekrt_sxtb16(w) << dbl) & keep;
                (*d)[1] = (ekrt_sxtb16_hi(w) << dbl) & keep;
            }
        }
    }
    for (ky = L->ky_lo; ky < L->ky_hi && p->out_c < 4; ++ky) {
        for (kx = 0; kx < p->k_w; ++kx) {
            uint32_t *d = pix3 ? g->u.lt[ky][kx + 2] : g->u.fl[ky * p->k_w + kx];
            const int8_t *f = filter + (ky * p->k_w + kx) * p->out_c;
            d[0] = dw_lanes(f[ch[0]] * (1 + dbl), f[ch[2]] * (1 + dbl));
            d[1] = dw_lanes(f[ch[1]] * (1 + dbl), f[ch[3]] * (1 + dbl));
        }
    }
    if (L->full) {
        int32_t sum[4] = {0, 0, 0, 0};
        for (ky = 0; ky < 3; ++ky) {
            for (kx = 2; kx < 5; ++kx) {
                const uint32_t *v = g->u.lt[ky][kx];
                sum[0] += (int16_t)(uint16_t)v[0];
                sum[2] += (int16_t)(uint16_t)(v[0] >> 16);
                sum[1] += (int16_t)(uint16_t)v[1];
                sum[3] += (int16_t)(uint16_t)(v[1] >> 16);
            }
        }
        for (j = 0; j < 4; ++j) {
            g->q.bf[j] = ekrt_wadd(g->q.b[j], (int32_t)((uint32_t)sum[j] * (uint32_t)L->in_off));
        }
    }
}

static void dw_layer_setup(const ekrt_conv_params_t *p, int32_t right, dw_layer_t *L)
{
    L->in_c = p->in_c;
    L->out_c = p->out_c;
    L->in_h = p->in_h;
    L->in_w = p->in_w;
    L->out_h = p->out_h;
    L->out_w = p->out_w;
    L->k_h = p->k_h;
    L->k_w = p->k_w;
    L->s_h = p->stride_h;
    L->s_w = p->stride_w;
    L->pad_h = p->pad_h;
    L->pad_w = p->pad_w;
    L->x_lo = (p->pad_w + p->stride_w - 1) / p->stride_w;
    L->x_hi =
        p->in_w - p->k_w + p->pad_w >= 0 ? (p->in_w - p->k_w + p->pad_w) / p->stride_w + 1 : 0;
    L->x_lo = L->x_lo < p->out_w ? L->x_lo : p->out_w;
    L->x_hi = L->x_hi < p->out_w ? L->x_hi : p->out_w;
    L->x_hi = L->x_hi > L->x_lo ? L->x_hi : L->x_lo;
    L->in_off = p->input_offset;
    L->off2 = ekrt_dup16(p->input_offset);
    L->zp = p->output_offset;
    L->lo = p->act_min;
    L->hi = p->act_max;
    L->right = right;
    L->n_store = p->out_c < 4 ? p->out_c : 4;
    L->ky_lo = p->pad_h - (p->out_h - 1) * p->stride_h; /* ky0 of the last output row */
    L->ky_lo = L->ky_lo > 0 ? L->ky_lo : 0;
    L->ky_hi = p->in_h + p->pad_h < p->k_h ? p->in_h + p->pad_h : p->k_h; /* first row's ky1 */
    L->full =
        DW_HAVE_PIX3_R && right && p->k_h == 3 && p->k_w == 3 && p->in_h >= 3 && L->x_hi > L->x_lo;
}

/* every output pixel of one group: pix3 rows, or the horizontally inside pixels by rowk and
 * the others clipped */
static void dw_group_run(const dw_layer_t *L, const dw_group_t *g, const int8_t *in, int8_t *out,
                         dw_clip_fn clip, dw_row3_fn row3, dw_rowk_fn rowk)
{
    int32_t oy, ox;
    for (oy = 0; oy < L->out_h; ++oy) {
        const int32_t iy0 = oy * L->s_h - L->pad_h;
        const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
        const int32_t ky1 = L->in_h - iy0 < L->k_h ? L->in_h - iy0 : L->k_h;
        int8_t *o = out + oy * L->out_w * L->out_c;
        if (row3 != NULL && ky1 > ky0) {
            row3(L, g, in + (iy0 + ky0) * g->q.row, ky0, ky1 - ky0, o);
            continue;
        }
        for (ox = 0; ox < L->out_w; ++ox) {
            if (ox == L->x_lo && L->x_hi > ox && ky1 > ky0) {
                const int32_t ix0 = ox * L->s_w - L->pad_w;
                rowk(L, g, in + ((iy0 + ky0) * L->in_w + ix0) * L->in_c, ky0, ky1 - ky0,
                     L->x_hi - ox, o + ox * L->out_c);
                ox = L->x_hi - 1;
                continue;
            }
            clip(L, g, in, iy0, ox * L->s_w - L->pad_w, o + ox * L->out_c);
        }
    }
}

void ekrt_eval_depthwise_conv2d_4ch(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_conv_params_t *p = &op->p.conv;
    const int8_t *in = EKRT_IN(rt, op, 0), *filter = EKRT_IN(rt, op, 1);
    const int32_t *bias = EKRT_BIAS(rt, op);
    int8_t *out = EKRT_OUT(rt, op);
    const int32_t dm = p->depth_mult;
    const int wide = p->out_c >= 4 && (dm == 1 || dm == 2);
    /* pix3 reads windows moved at most 2 columns (the lane table's zero columns) */
    const int pix3 = wide && p->k_w == 3 && p->k_h <= 3 && p->in_w >= 3 && p->pad_w <= 2 &&
                     (p->out_w - 1) * p->stride_w - p->pad_w - (p->in_w - 3) <= 2;
    const dw_clip_fn clip = !wide ? dw_clip_b : (dm == 1 ? dw_clip_w : dw_clip_h);
    const dw_row3_fn row3 = !pix3 ? NULL : (dm == 1 ? dw_row3_w : dw_row3_h);
    const dw_rowk_fn rowk = !wide ? dw_rowk_b : (dm == 1 ? dw_rowk_w : dw_rowk_h);
    dw_layer_t L;
    dw_group_t g;
    int32_t b, oc;
    dw_layer_setup(p, op->right_only, &L);
    memset(g.u.lt, 0, sizeof g.u.lt); /* the zero columns; the filter columns are set per group */
    g.q.lo2 = ekrt_dup16(L.lo);
    g.q.hi2 = ekrt_dup16(L.hi);
    g.q.row = p->in_w * p->in_c;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + b * p->in_h * p->in_w * p->in_c;
        int8_t *out_b = out + b * p->out_h * p->out_w * p->out_c;
        for (oc = 0; oc < p->out_c; oc += 4) {
            const int32_t c = oc + 4 <= p->out_c || p->out_c < 4 ? oc : p->out_c - 4;
            dw_group_setup(p, &L, filter, bias, c, pix3, &g);
            dw_group_run(&L, &g, in_b + c / dm, out_b + c, clip, row3, rowk);
        }
    }
}
