/* SIMD helpers for the optimised kernels: the Cortex-M4/M7/M33 DSP instructions through ACLE
 * intrinsics (arm_acle.h) when the compiler targets them (__ARM_FEATURE_DSP), otherwise the
 * same operations in portable C, so one kernel source runs (and is tested) on any CPU.
 * Lane convention (little-endian word of 4 int8 x0..x3):
 *   ekrt_sxtb16(w)     = {x0, x2} as int16 lanes    ekrt_sxtb16_hi(w)    = {x1, x3}
 *   ekrt_sxtab16(o, w) = {o.lo + x0, o.hi + x2}     ekrt_sxtab16_hi(o, w) = {o.lo + x1, o.hi + x3}
 * Define EKRT_PORTABLE to force the C path on an Arm target. */
#ifndef EKRT_DSP_H
#define EKRT_DSP_H

/* Files including this header hold the hot loops: gcc compiles them -O2 even inside an -Os
 * build (TFLM builds its kernels -O2 beside an -Os core too). Include it first. */
#if defined(__GNUC__) && !defined(__clang__) && !defined(EKRT_KERNELS_DEFAULT_OPT)
#pragma GCC optimize("O2")
#endif

#include <stdint.h>
#include <string.h>

/* for the small helpers a kernel instantiates per mode: gcc's size heuristics may otherwise
 * keep the mode a run-time argument */
#if defined(__GNUC__)
#define EKRT_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define EKRT_ALWAYS_INLINE inline
#endif

#if defined(__ARM_FEATURE_DSP) && !defined(EKRT_PORTABLE)
#include <arm_acle.h>
#define EKRT_HAVE_DSP 1

static inline uint32_t ekrt_sxtb16(uint32_t w)
{
    return (uint32_t)__sxtb16((int8x4_t)w);
}
/* the rotation folds into the instruction (gcc 12 does not fuse a separate ROR) */
static inline uint32_t ekrt_sxtb16_hi(uint32_t w)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
    return r;
}
static inline uint32_t ekrt_sxtab16(uint32_t o, uint32_t w)
{
    return (uint32_t)__sxtab16((int16x2_t)o, (int8x4_t)w);
}
static inline uint32_t ekrt_sxtab16_hi(uint32_t o, uint32_t w)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(o), "r"(w));
    return r;
}
static inline int32_t ekrt_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlad((int16x2_t)a, (int16x2_t)b, acc);
}
static inline int32_t ekrt_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlabb((int32_t)a, (int32_t)b, acc);
}
static inline int32_t ekrt_qadd(int32_t a, int32_t b)
{
    return __qadd(a, b);
}
/* (a * b + 2^31) >> 32, the rounded high word */
static inline int32_t ekrt_smmulr(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#define ekrt_ssat9(v) __ssat((v), 9)
static inline int32_t ekrt_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlatt((int32_t)a, (int32_t)b, acc);
}
static inline uint32_t ekrt_sadd16(uint32_t a, uint32_t b)
{
    return (uint32_t)__sadd16((int16x2_t)a, (int16x2_t)b);
}
/* acc + (a * b + 2^31) >> 32 (wrapping), the rounded high word accumulated */
static inline int32_t ekrt_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
#define ekrt_ssat8(v) __ssat((v), 8)

#else
#define EKRT_HAVE_DSP 0

static inline uint32_t ekrt_lane16(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}
static inline int32_t ekrt_lo16(uint32_t v)
{
    return (int32_t)(int16_t)(uint16_t)(v & 0xFFFFu);
}
static inline int32_t ekrt_hi16(uint32_t v)
{
    return (int32_t)(int16_t)(uint16_t)(v >> 16);
}
static inline int32_t ekrt_byte(uint32_t w, int i)
{
    return (int32_t)(int8_t)(uint8_t)(w >> (8 * i));
}

static inline uint32_t ekrt_sxtb16(uint32_t w)
{
    return ekrt_lane16(ekrt_byte(w, 0), ekrt_byte(w, 2));
}
static inline uint32_t ekrt_sxtb16_hi(uint32_t w)
{
    return ekrt_lane16(ekrt_byte(w, 1), ekrt_byte(w, 3));
}
static inline uint32_t ekrt_sxtab16(uint32_t o, uint32_t w)
{
    return ekrt_lane16(ekrt_lo16(o) + ekrt_byte(w, 0), ekrt_hi16(o) + ekrt_byte(w, 2));
}
static inline uint32_t ekrt_sxtab16_hi(uint32_t o, uint32_t w)
{
    return ekrt_lane16(ekrt_lo16(o) + ekrt_byte(w, 1), ekrt_hi16(o) + ekrt_byte(w, 3));
}
/* wrapping accumulate, like the instruction (and like TFLM's int32 sums for valid models) */
static inline int32_t ekrt_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(ekrt_lo16(a) * ekrt_lo16(b)) +
                     (uint32_t)(ekrt_hi16(a) * ekrt_hi16(b)));
}
static inline int32_t ekrt_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(ekrt_lo16(a) * ekrt_lo16(b)));
}
static inline int32_t ekrt_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(ekrt_hi16(a) * ekrt_hi16(b)));
}
static inline int32_t ekrt_qadd(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + (int64_t)b;
    return s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : (int32_t)s);
}
static inline int32_t ekrt_ssat9(int32_t v)
{
    return v < -256 ? -256 : (v > 255 ? 255 : v);
}
static inline int32_t ekrt_smmulr(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 31)) >> 32);
}
static inline uint32_t ekrt_sadd16(uint32_t a, uint32_t b)
{
    return ekrt_lane16(ekrt_lo16(a) + ekrt_lo16(b), ekrt_hi16(a) + ekrt_hi16(b));
}
static inline int32_t ekrt_smmlar(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)ekrt_smmulr(a, b));
}
static inline int32_t ekrt_ssat8(int32_t v)
{
    return v < -128 ? -128 : (v > 127 ? 127 : v);
}
#endif

/* 4 int8 from any address (one LDR on Cortex-M3 and later: unaligned word loads are legal) */
static inline uint32_t ekrt_load4(const int8_t *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
    return w;
}

/* the first n (1..3) bytes at p in a word's low bytes, the rest 0 (no read past p + n) */
static inline uint32_t ekrt_load_tail(const int8_t *p, int32_t n)
{
    uint32_t w = 0;
    int32_t i;
    for (i = 0; i < n; ++i) {
        w |= (uint32_t)(uint8_t)p[i] << (8 * i);
    }
    return w;
}

/* {v, v} as two int16 lanes (v within int16) */
static inline uint32_t ekrt_dup16(int32_t v)
{
    return ((uint32_t)v & 0xFFFFu) * 0x00010001u;
}

/* MultiplyByQuantizedMultiplier for multipliers made by ekrt_quantize_multiplier (qm in
 * [2^30, 2^31) or 0) and |shift| <= 31: the saturating case of
 * SaturatingRoundingDoublingHighMul cannot occur, and floor((ab + 2^30) / 2^31) equals TFLM's
 * truncating (ab + nudge) / 2^31 for both signs, so this is exactly ekrt_mbqm; the rounding
 * divide is RoundingDivideByPOT (the sign of x >> right is the sign of x). */
static inline int32_t ekrt_mbqm_fast(int32_t acc, int32_t qm, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int64_t ab = (int64_t)(int32_t)((uint32_t)acc << left) * (int64_t)qm;
    const int32_t x = (int32_t)((ab + ((int64_t)1 << 30)) >> 31);
    const int32_t mask = (int32_t)((1u << right) - 1u);
    const int32_t q = x >> right;
    return q + ((x & mask) > ((mask >> 1) + (q < 0 ? 1 : 0)) ? 1 : 0);
}

/* MultiplyByQuantizedMultiplier for a right shift r in [2, 31] and any int32 acc, qm from
 * ekrt_quantize_multiplier (in [2^30, 2^31) or 0), with one 64-bit multiply-accumulate.
 * With x = SaturatingRoundingDoublingHighMul(acc, qm) = floor((acc * qm + 2^30) / 2^31) (above)
 * and n = (x < 0), RoundingDivideByPOT(x, r) = floor((x + 2^(r-1) - n) / 2^r), and
 * floor((floor(A / 2^31) + c) / 2^r) = floor((A + c 2^31) / 2^(31+r)) for integers A, c, so
 *     result = floor((acc * qm + 2^30 + 2^(30+r) - n 2^31) / 2^(31+r)).
 * n may be taken as (acc < 0): x has acc's sign, and where x = 0 both give 0. Splitting
 * -n 2^31 = n 2^31 - n 2^32, the addend's low word is 2^30 + n 2^31 (acc's sign bit over
 * 0x40000000) and its high word 2^(r-2) - n; the result is the sum's high word >> (r - 1).
 * No step can overflow (|acc * qm| < 2^62). */
static inline int32_t ekrt_mbqm_r2(int32_t acc, int32_t qm, int32_t r)
{
    const uint32_t lo = 0x40000000u | ((uint32_t)acc & 0x80000000u);
    const int32_t hi = (int32_t)(1u << (r - 2)) + (acc >> 31);
    const int64_t s = (int64_t)acc * qm + (int64_t)(((uint64_t)(uint32_t)hi << 32) | lo);
    return (int32_t)(s >> 32) >> (r - 1);
}

/* ekrt_requant_s8 (requantize, add the zero point, clamp) for shifts in [-31, 31] and
 * multipliers from ekrt_quantize_multiplier: every shift ekrt_conv_per_channel accepts for
 * the variants (ekrt_shifts_fast). Right shifts of 2 or more take ekrt_mbqm_r2, a right
 * shift of 1 and left shifts ekrt_mbqm_fast. */
static inline int8_t ekrt_requant_fast(int32_t acc, int32_t qm, int32_t shift, int32_t zp,
                                       int32_t lo, int32_t hi)
{
    int32_t v = shift <= -2 ? ekrt_mbqm_r2(acc, qm, -shift) : ekrt_mbqm_fast(acc, qm, shift);
    v = ekrt_ssat9(v) + zp;
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* MultiplyByQuantizedMultiplier for the common case, in 6 instructions: |acc| < 2^30,
 * qm in [0, 2^31) (from ekrt_quantize_multiplier), right shift r in [1, 31].
 * SaturatingRoundingDoublingHighMul(acc, qm) = floor((acc * qm + 2^30) / 2^31) (shown above)
 * = floor((2 acc * qm + 2^31) / 2^32) = SMMULR(2 acc, qm), and 2 acc fits int32. Then
 * |x| <= |acc| < 2^30, so RoundingDivideByPOT = (x + 2^(r-1) - (x < 0)) >> r cannot overflow. */
static inline int32_t ekrt_mbqm_r(int32_t acc, int32_t qm, int32_t r)
{
    const int32_t x = ekrt_smmulr(acc * 2, qm);
    return (x + (int32_t)(1u << (r - 1)) + (x >> 31)) >> r;
}

/* ekrt_requant_s8 under ekrt_mbqm_r's conditions: the result is within int32 comfortably, so
 * the [-256, 255] pre-clamp changes nothing and the zero point is added directly. */
static inline int8_t ekrt_requant_r(int32_t acc, int32_t qm, int32_t r, int32_t zp, int32_t lo,
                                    int32_t hi)
{
    const int32_t v = ekrt_mbqm_r(acc, qm, r) + zp;
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* Largest |accumulator| a product of k int8 weights with k offset int8 inputs (|x + offset|
 * <= 255) plus a bias can reach, checked against ekrt_mbqm_r's 2^30 at prepare. */
#define EKRT_ACC_LIMIT ((int64_t)1 << 30)

#endif /* EKRT_DSP_H */
