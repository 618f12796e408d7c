/* edgekit-rt internals shared by the interpreter, the planner and the kernels.
 * Not part of the public API (ekrt.h). */
#ifndef EKRT_INTERNAL_H
#define EKRT_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "ekrt.h"
#include "ekrt_schema.h"

#define EKRT_MAX_DIMS 6
#define EKRT_OP_NAME_COUNT 161

/* TFLite TensorType values (schema.fbs). */
enum {
    EKRT_T_FLOAT32 = 0,
    EKRT_T_INT32 = 2,
    EKRT_T_UINT8 = 3,
    EKRT_T_INT64 = 4,
    EKRT_T_BOOL = 6,
    EKRT_T_INT16 = 7,
    EKRT_T_INT8 = 9
};

/* TFLite BuiltinOperator values we implement. */
enum {
    EKRT_OP_ADD = 0,
    EKRT_OP_AVERAGE_POOL_2D = 1,
    EKRT_OP_CONV_2D = 3,
    EKRT_OP_DEPTHWISE_CONV_2D = 4,
    EKRT_OP_DEQUANTIZE = 6,
    EKRT_OP_FULLY_CONNECTED = 9,
    EKRT_OP_MAX_POOL_2D = 17,
    EKRT_OP_RESHAPE = 22,
    EKRT_OP_SOFTMAX = 25,
    EKRT_OP_PAD = 34,
    EKRT_OP_MEAN = 40,
    EKRT_OP_TRANSPOSE = 39,
    EKRT_OP_PADV2 = 60,
    EKRT_OP_QUANTIZE = 114
};

/* Fused activations (ActivationFunctionType). */
enum { EKRT_ACT_NONE = 0, EKRT_ACT_RELU = 1, EKRT_ACT_RELU_N1_TO_1 = 2, EKRT_ACT_RELU6 = 3 };

/* Init-time view of a tensor (shape, type, quantization, data), decoded from the flatbuffer
 * on demand (ekrt_tinfo: a small cache on the stack, so it costs no arena). */
typedef struct ekrt_tinfo {
    uint8_t *data; /* flash (constant), NULL for activations (planned later) */
    uint32_t bytes;
    float scale;         /* first quantization scale (0 if none) */
    int32_t zero_point;  /* first zero point */
    uint32_t qscale_pos; /* flatbuffer position of the scale vector payload (per-channel) */
    uint32_t qcount;     /* number of scales */
    int32_t qdim;        /* quantized_dimension */
    int32_t dims[EKRT_MAX_DIMS];
    uint8_t type;
    uint8_t ndim;
    uint8_t is_const;
} ekrt_tinfo_t;

/* One planner entry per tensor, then one per scratch buffer (init time, at the arena start:
 * 16 bytes each). Activations: lifetime [first, last] in operator indices (first < 0: never
 * written) and the planned offset; constants: offset = position of the data in the model. */
typedef struct {
    uint32_t bytes;
    uint32_t offset;
    int16_t first, last;
    uint8_t is_const;
    uint8_t placed;
    uint8_t type;
    uint8_t most16; /* scratch entries: the most the op could use, 16-byte units up to 255 */
} ekrt_plan_t;

/* A shape kept for an eval that needs it (most evals need none). */
typedef struct {
    int32_t dims[EKRT_MAX_DIMS];
    uint32_t ndim;
} ekrt_shape_t;

/* --- kernel parameter blocks ------------------------------------------------------------ */

typedef struct {
    int32_t batches, in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w, filter_in_c; /* conv: filter [out_c][k_h][k_w][filter_in_c] */
    int32_t stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int32_t depth_mult; /* depthwise only */
    int32_t input_offset, output_offset;
    int32_t act_min, act_max;
    const int32_t *mult; /* per output channel */
    const int8_t *shift;
} ekrt_conv_params_t;

typedef struct {
    int32_t batches, accum_depth, out_depth;
    int32_t input_offset, filter_offset, output_offset;
    int32_t act_min, act_max;
    int32_t mult, shift;    /* per-tensor */
    const int32_t *pc_mult; /* per-channel (NULL when per-tensor) */
    const int8_t *pc_shift;
} ekrt_fc_params_t;

typedef struct {
    int32_t in1_offset, in2_offset, out_offset, left_shift;
    int32_t in1_mult, in1_shift, in2_mult, in2_shift, out_mult, out_shift;
    int32_t act_min, act_max;
    uint32_t n;           /* output elements */
    const int32_t *bcast; /* broadcasting: ekrt_add_bcast_t in persistent memory, else NULL */
} ekrt_add_params_t;

/* ADD's broadcast: the output's dims merged where both inputs step alike (<= EKRT_MAX_DIMS),
 * and each input's element stride per merged dim (0: broadcast) */
typedef struct {
    int32_t ndim;
    int32_t dims[EKRT_MAX_DIMS], s1[EKRT_MAX_DIMS], s2[EKRT_MAX_DIMS];
} ekrt_add_bcast_t;

typedef struct {
    int32_t batches, in_h, in_w, channels, out_h, out_w;
    int32_t k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} ekrt_pool_params_t;

/* the input indices [lo, hi) one pooling window covers along an axis, clipped to the image */
typedef struct {
    int32_t lo, hi;
} ekrt_span_t;

typedef struct {
    int32_t input_zp, output_zp, mult, shift; /* mult/shift already include 1/num_elements */
    int32_t num_elements;
    uint8_t reduce_mask; /* bit d set: dimension d is reduced */
    ekrt_shape_t in;
} ekrt_mean_params_t;

typedef struct {
    int32_t before[EKRT_MAX_DIMS];
    int32_t out_dims[EKRT_MAX_DIMS];
    ekrt_shape_t in;
    int8_t pad_value;
} ekrt_pad_params_t;

typedef struct {
    int32_t perm[EKRT_MAX_DIMS];
    ekrt_shape_t in;
} ekrt_transpose_params_t;

typedef struct {
    int32_t mult, left_shift, diff_min;
    uint32_t rows, depth;
} ekrt_softmax_params_t;

typedef struct {
    float scale; /* QUANTIZE f32->s8: output scale; DEQUANTIZE: input scale */
    int32_t zero_point;
    int32_t in_zp, mult, shift; /* QUANTIZE s8->s8 */
    uint32_t n;                 /* elements */
    uint8_t from_float;         /* QUANTIZE: the input is float32 */
} ekrt_qnt_params_t;

struct ekrt_op;
/* An op's eval: reads its inputs and writes its output in the arena (shapes were checked in
 * prepare, so eval cannot fail). */
typedef void (*ekrt_eval_fn)(const ekrt_t *rt, const struct ekrt_op *op);

typedef struct ekrt_op {
    ekrt_eval_fn eval;      /* chosen in prepare (a variant or the reference); NULL: folded away */
    const void *in_data[3]; /* the inputs' data (flash or arena), NULL = absent */
    void *out_data;         /* the output's data in the arena */
    uint8_t *scratch;       /* this op's scratch buffer in the arena (NULL if none) */
    int16_t code;           /* BuiltinOperator (only codes of ekrt_op_table get this far) */
    int16_t in[3];          /* tensor indices, -1 = absent */
    int16_t out;
    uint8_t right_only; /* variants: ekrt_requant_mode() of the op's channels */
    uint8_t scratch16;  /* scratch it may use, 16-byte units up to 255 (ekrt_scratch_room) */
    union {
        ekrt_conv_params_t conv;
        ekrt_fc_params_t fc;
        ekrt_add_params_t add;
        ekrt_pool_params_t pool;
        ekrt_mean_params_t mean;
        ekrt_pad_params_t pad;
        ekrt_qnt_params_t qnt;
        ekrt_transpose_params_t tr;
        ekrt_softmax_params_t sm;
        uint32_t bytes; /* RESHAPE */
    } p;
} ekrt_op_t;

/* --- fixed-point helpers (ekrt_quant.c), TFLM quantization_util semantics --------------- */
void ekrt_quantize_multiplier(double m, int32_t *qm, int32_t *shift);
/* round half away from zero (std::round) of a float, saturated to int32 */
int32_t ekrt_round_f32(float x);
/* CalculateActivationRangeQuantized for int8; -1 if the activation is not supported. */
int ekrt_act_range_s8(int32_t act, float scale, int32_t zp, int32_t *mn, int32_t *mx);

/* SaturatingRoundingDoublingHighMul, RoundingDivideByPOT and MultiplyByQuantizedMultiplier
 * (gemmlowp / TFLM common.h), inline because every kernel calls them per output value. */
static inline int32_t ekrt_srdhm(int32_t a, int32_t b)
{
    int64_t ab;
    int64_t nudge;
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* truncating division, as C++ */
}

static inline int32_t ekrt_rdbpot(int32_t x, int32_t exponent)
{
    if (exponent <= 0) {
        return x;
    }
    if (exponent <= 31) {
        const int32_t mask = (int32_t)((1u << exponent) - 1u);
        const int32_t remainder = x & mask;
        const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
        /* arithmetic shift right, spelled so it is defined for negative x */
        const int32_t q = x >= 0 ? (x >> exponent) : ~((~x) >> exponent);
        return q + (remainder > threshold ? 1 : 0);
    }
    /* |x| < 2^31: the exact quotient rounds to 0 (or -1 + correction) */
    {
        const int64_t v = x;
        const int64_t mask = ((int64_t)1 << (exponent > 62 ? 62 : exponent)) - 1;
        const int64_t threshold = (mask >> 1) + (v < 0 ? 1 : 0);
        return (int32_t)((v < 0 ? -1 : 0) + ((v & mask) > threshold ? 1 : 0));
    }
}

static inline int32_t ekrt_mbqm(int32_t x, int32_t qm, int32_t shift)
{
    int32_t left = shift > 0 ? (shift > 31 ? 31 : shift) : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    /* x * (1 << left) in int32 like TFLM (wraps only for inputs TFLM would overflow on) */
    int32_t xs = (int32_t)(uint32_t)((uint32_t)x << left);
    return ekrt_rdbpot(ekrt_srdhm(xs, qm), right);
}

static inline int32_t ekrt_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Requantize an accumulator, add the output zero point and clamp to [lo, hi] (both within
 * int8). Pre-clamping to [-256, 255] gives the same result as TFLM for every input and keeps
 * the zero-point addition free of overflow even for a corrupt multiplier. */
static inline int8_t ekrt_requant_s8(int32_t acc, int32_t qm, int32_t shift, int32_t zp, int32_t lo,
                                     int32_t hi)
{
    const int32_t v = ekrt_clamp(ekrt_mbqm(acc, qm, shift), -256, 255) + zp;
    return (int8_t)ekrt_clamp(v, lo, hi);
}

/* The span of output index o's window (k taps from o * stride - pad) along an axis of n
 * inputs: the taps outside the image drop out (both pools; hi <= lo when none is inside). */
static inline ekrt_span_t ekrt_pool_span(int32_t o, int32_t stride, int32_t pad, int32_t k,
                                         int32_t n)
{
    const int32_t i0 = o * stride - pad;
    ekrt_span_t s;
    s.lo = i0 < 0 ? 0 : i0;
    s.hi = k < n - i0 ? i0 + k : n;
    return s;
}

/* Wrapping int32 addition (TFLM's int32 accumulators never overflow for valid models; this
 * keeps a corrupt model's overflow defined instead of undefined behaviour). */
static inline int32_t ekrt_wadd(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* --- kernels (one per file) ------------------------------------------------------------- */
void ekrt_conv2d_s8(const ekrt_conv_params_t *p, const int8_t *in, const int8_t *filter,
                    const int32_t *bias, int8_t *out);
void ekrt_depthwise_conv2d_s8(const ekrt_conv_params_t *p, const int8_t *in, const int8_t *filter,
                              const int32_t *bias, int8_t *out);
void ekrt_fully_connected_s8(const ekrt_fc_params_t *p, const int8_t *in, const int8_t *filter,
                             const int32_t *bias, int8_t *out);
/* Broadcasting add over up to EKRT_MAX_DIMS dims: s1/s2 are element strides per output dim
 * (0 where that input is broadcast). */
void ekrt_add_s8(const ekrt_add_params_t *p, uint32_t ndim, const int32_t *out_dims,
                 const int32_t *s1, const int32_t *s2, const int8_t *in1, const int8_t *in2,
                 int8_t *out);
/* both pools' reference loop: each output the maximum (is_max) or the average of its taps */
void ekrt_pool_s8(const ekrt_pool_params_t *p, const int8_t *in, int8_t *out, int is_max);
void ekrt_mean_s8(const ekrt_mean_params_t *p, uint32_t ndim, const int32_t *in_dims,
                  const int8_t *in, int8_t *out);
void ekrt_pad_s8(const ekrt_pad_params_t *p, uint32_t ndim, const int32_t *in_dims,
                 const int32_t *out_dims, const int8_t *in, int8_t *out);
void ekrt_transpose_s8(const int32_t *perm, uint32_t ndim, const int32_t *in_dims, const int8_t *in,
                       int8_t *out);
void ekrt_softmax_s8(const ekrt_softmax_params_t *p, uint32_t rows, uint32_t depth,
                     const int8_t *in, int8_t *out);
void ekrt_quantize_f32_s8(const ekrt_qnt_params_t *p, uint32_t n, const float *in, int8_t *out);
void ekrt_requantize_s8(const ekrt_qnt_params_t *p, uint32_t n, const int8_t *in, int8_t *out);
void ekrt_dequantize_s8_f32(const ekrt_qnt_params_t *p, uint32_t n, const int8_t *in, float *out);

/* --- optimised kernels (variants beside the reference of the same op) -------------------- */

/* ekrt_requant_mode() bits (below) */
#define EKRT_RQ_RIGHT 1
#define EKRT_RQ_R22 2

/* Requantization of one matrix product (ekrt_mat_s8.c): multipliers from
 * ekrt_quantize_multiplier, shifts in [-31, 31] (ekrt_shifts_fast), per row or one for all. */
typedef struct {
    int32_t input_offset;  /* -input zero point, [-127, 128] */
    int32_t output_offset; /* output zero point, [-128, 127] */
    int32_t act_min, act_max;
    const int32_t *mult; /* per row, or mult[0] for every row when per_tensor */
    const int8_t *shift;
    int32_t per_tensor;
    int32_t all_r; /* EKRT_RQ_R22 set in ekrt_requant_mode(): every row in mode R */
} ekrt_mat_q_t;

/* The ekrt_mat_q_t of a conv or fully connected op (one per eval, so copied, not stored). */
static inline ekrt_mat_q_t ekrt_mat_q(int32_t input_offset, int32_t output_offset, int32_t act_min,
                                      int32_t act_max, const int32_t *mult, const int8_t *shift,
                                      int32_t per_tensor, int32_t requant_mode)
{
    ekrt_mat_q_t q;
    q.input_offset = input_offset;
    q.output_offset = output_offset;
    q.act_min = act_min;
    q.act_max = act_max;
    q.mult = mult;
    q.shift = shift;
    q.per_tensor = per_tensor;
    q.all_r = (requant_mode & EKRT_RQ_R22) != 0;
    return q;
}

/* The matrix product out[c * rows + r] = requant(bias[r] + sum_i w[r * k + i] * (x_c[i] +
 * input_offset)) over columns x_c of k int8 (pixels, im2col columns, batches), any k >= 1,
 * any rows >= 1, any alignment of x and w (ekrt_mat_s8.c):
 * - ekrt_mat_run: all columns, a tile at a time widened to int16 into scratch;
 * - ekrt_mat_cols: a tile's n (even) widened columns xq against all rows; wq: NULL or
 *   2 * ekrt_mat_col_words(k) words of 4-byte aligned scratch, used when n >= EKRT_MAT_WIDE_MIN
 *   to widen two filter rows at a time once per tile (faster);
 * - ekrt_mat_vec: one int8 column without scratch. */
#define EKRT_MAT_WIDE_MIN 4
/* words of one widened column */
uint32_t ekrt_mat_col_words(int32_t k);
void ekrt_mat_cols(const ekrt_mat_q_t *q, const uint32_t *xq, int32_t n, int32_t k, const int8_t *w,
                   int32_t rows, const int32_t *bias, int8_t *out, uint32_t *wq);
void ekrt_mat_vec(const ekrt_mat_q_t *q, const int8_t *x, int32_t k, const int8_t *w, int32_t rows,
                  const int32_t *bias, int8_t *out);
/* Column c of n for ekrt_mat_run: a pointer to its k int8, in the input or built in buf;
 * ctx is the caller's (it may keep state: columns are asked for in order, mostly). */
typedef const int8_t *(*ekrt_mat_col_fn)(void *ctx, int32_t c, int8_t *buf);
/* Scratch for ekrt_mat_run (4-byte aligned): an op asks for ekrt_mat_scratch_min (two widened
 * columns, else one, while that is at most 512 bytes, else none: ekrt_mat_vec needs none) up
 * to ekrt_mat_scratch_max (its largest tile), and after planning may use what op->scratch16
 * says: ekrt_mat_tile = the most columns (even, up to n) whose ekrt_mat_scratch_bytes fit in
 * bytes, 0 when not even two do. */
uint32_t ekrt_mat_scratch_min(int32_t k, int32_t n);
uint32_t ekrt_mat_scratch_max(int32_t k, int32_t n); /* the most a tile can use */
int32_t ekrt_mat_tile(int32_t k, int32_t n, uint32_t bytes);
uint32_t ekrt_mat_scratch_bytes(int32_t k, int32_t tile);
/* All n columns, tiles as large as scratch_bytes allow: widen, ekrt_mat_cols; an odd last
 * one (or each, when not even two fit) by the vec path. Columns: dense (column c at
 * dense + c * k), or NULL and col(ctx, c, ...).
 * col_buf: room for two built columns of (k + 3) & ~3 bytes each (col writes column c of a
 * pair at col_buf, the other at col_buf + that), or NULL when col never builds one. */
void ekrt_mat_run(const ekrt_mat_q_t *q, const int8_t *dense, ekrt_mat_col_fn col, void *ctx,
                  int32_t n, int32_t k, const int8_t *w, int32_t rows, const int32_t *bias,
                  int8_t *out, void *scratch, uint32_t scratch_bytes, int8_t *col_buf);
/* 1 if every shift lies in [-31, 31] (the range ekrt_requant_fast handles) */
int ekrt_shifts_fast(const int8_t *shift, int32_t n);
/* EKRT_RQ_RIGHT if ekrt_requant_r applies to all n channels: shifts in [-31, -1] and
 * |bias| + k * 128 * 255 < 2^30 (bias may be NULL), with EKRT_RQ_R22 too when every shift is
 * also >= -22 (ekrt_mat_s8's mode R for every row); 0 otherwise (ekrt_requant_fast, or the
 * reference). _tensor: one shift for all n channels. */
int ekrt_requant_mode(const int8_t *shift, int32_t n, const int32_t *bias, int32_t k);
int ekrt_requant_mode_tensor(int32_t shift, int32_t n, const int32_t *bias, int32_t k);

/* --- flatbuffer reader (ekrt_fb.c) ------------------------------------------------------ */
typedef struct {
    const uint8_t *buf;
    uint32_t len;
    int bad; /* sticky: set by any out-of-bounds access */
} ekrt_fb_t;

uint32_t ekrt_fb_u32(ekrt_fb_t *fb, uint32_t pos);
int32_t ekrt_fb_i32(ekrt_fb_t *fb, uint32_t pos);
uint16_t ekrt_fb_u16(ekrt_fb_t *fb, uint32_t pos);
uint8_t ekrt_fb_u8(ekrt_fb_t *fb, uint32_t pos);
uint64_t ekrt_fb_u64(ekrt_fb_t *fb, uint32_t pos);
float ekrt_fb_f32(ekrt_fb_t *fb, uint32_t pos);
/* Follow the uoffset stored at `pos` to a table and validate its vtable. 0 on error. */
uint32_t ekrt_fb_table_at(ekrt_fb_t *fb, uint32_t pos);
/* Position of field `id` inside table `t` holding `size` bytes; 0 if absent (or bad). */
uint32_t ekrt_fb_field(ekrt_fb_t *fb, uint32_t t, uint32_t id, uint32_t size);
uint32_t ekrt_fb_get_u32(ekrt_fb_t *fb, uint32_t t, uint32_t id, uint32_t dflt);
int32_t ekrt_fb_get_i32(ekrt_fb_t *fb, uint32_t t, uint32_t id, int32_t dflt);
uint8_t ekrt_fb_get_u8(ekrt_fb_t *fb, uint32_t t, uint32_t id, uint8_t dflt);
int8_t ekrt_fb_get_i8(ekrt_fb_t *fb, uint32_t t, uint32_t id, int8_t dflt);
uint64_t ekrt_fb_get_u64(ekrt_fb_t *fb, uint32_t t, uint32_t id, uint64_t dflt);
/* Sub-table field (0 if absent). */
uint32_t ekrt_fb_get_table(ekrt_fb_t *fb, uint32_t t, uint32_t id);
/* Vector field: payload position and element count, bounds-checked for elem_size bytes per
 * element. Returns 0 if absent (count 0). */
uint32_t ekrt_fb_get_vec(ekrt_fb_t *fb, uint32_t t, uint32_t id, uint32_t elem_size,
                         uint32_t *count);
/* Element i of a vector of tables. */
uint32_t ekrt_fb_vec_table(ekrt_fb_t *fb, uint32_t vec, uint32_t count, uint32_t i);

/* --- misc ------------------------------------------------------------------------------- */
/* Tiny formatter: %s %d %u %lu %%; always NUL-terminates when n > 0. */
void ekrt_fmt(char *buf, size_t n, const char *fmt, ...);
void ekrt_vfmt(char *buf, size_t n, const char *fmt, va_list ap);
const char *ekrt_op_name(int32_t code);
const char *ekrt_type_name(uint32_t type);


/* --- op preparation (ekrt_prepare.c, ekrt_conv_common.c, one prepare per op file) ------- */

/* Tensors decoded at once by ekrt_tinfo (an op's prepare uses at most 4 plus the graph's). */
#define EKRT_TINFO_CACHE 8

/* Init-time context handed to every prepare. */
typedef struct ekrt_prep {
    ekrt_t *rt;
    ekrt_fb_t fb;
    char *err;
    size_t err_len;
    uint32_t tail;   /* persistent allocations grow down from here (offset in rt->arena) */
    uint32_t head;   /* init-only allocations grow up from the arena start */
    ekrt_plan_t *pl; /* planner entries (at the arena start): tensors, then scratch buffers */
    uint32_t n_scratch, max_scratch;
    uint32_t tvec, bvec, n_buffers;       /* the model's tensor and buffer vectors */
    ekrt_tinfo_t cache[EKRT_TINFO_CACHE]; /* ekrt_tinfo's decoded tensors */
    int32_t cached[EKRT_TINFO_CACHE];     /* their indices (-1: empty) */
    uint32_t cache_next;
    uint32_t op_index; /* operator being prepared, for messages */
    int32_t op_code;
} ekrt_prep_t;

/* prepare(c, op, options table, number of inputs): check the op, fill op->p, maybe pick a
 * faster eval (op->eval) and request scratch. 0 ok, else -1 with a message in c->err. */
typedef int (*ekrt_prepare_fn)(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in);

typedef struct {
    int32_t code;
    ekrt_prepare_fn prepare;
    ekrt_eval_fn eval;   /* the reference eval; prepare may replace it with a variant */
    int32_t may_scratch; /* prepare may call ekrt_request_scratch (sizes the planner's table) */
    uint32_t params;     /* bytes of ekrt_op_t.p the op uses (its record is cut to them) */
} ekrt_op_reg_t;

/* ekrt_op_reg_t.params of the ops whose parameters are ekrt_op_t.p.member */
#define EKRT_PARAMS(member) ((uint32_t)sizeof(((ekrt_op_t *)0)->p.member))

extern const ekrt_op_reg_t ekrt_op_table[];
extern const uint32_t ekrt_op_table_len;

int ekrt_fail(ekrt_prep_t *c, const char *fmt, ...);
int ekrt_fail_op(ekrt_prep_t *c, const char *fmt, ...); /* "operator <i> (<NAME>): ..." */
void *ekrt_palloc(ekrt_prep_t *c, uint32_t bytes);      /* persistent, end of the arena */
void *ekrt_init_alloc(ekrt_prep_t *c, uint32_t bytes);  /* init only, start of the arena */
uint32_t ekrt_type_size(uint32_t type);
int ekrt_valid_scale(float s);
uint32_t ekrt_count_of(uint32_t ndim, const int32_t *dims);
#define ekrt_elem_count(t) ekrt_count_of((t)->ndim, (t)->dims)
/* Tensor idx decoded from the model (NULL for idx < 0 or a tensor that does not decode);
 * valid until EKRT_TINFO_CACHE other tensors have been asked for. */
ekrt_tinfo_t *ekrt_tinfo(ekrt_prep_t *c, int32_t idx);
/* Decode tensor i into t: 0, or -1 with a message (malformed or unsupported tensor). */
int ekrt_decode_tensor(ekrt_prep_t *c, uint32_t i, ekrt_tinfo_t *t);
ekrt_shape_t ekrt_shape_of(const ekrt_tinfo_t *t);
int ekrt_want(ekrt_prep_t *c, int32_t idx, const char *role, uint32_t type, int32_t ndim);
int ekrt_want_const(ekrt_prep_t *c, int32_t idx, const char *role);
uint32_t ekrt_opts_table(ekrt_prep_t *c, uint32_t ot, uint8_t expect);
int ekrt_want_inputs(ekrt_prep_t *c, uint32_t n_in, uint32_t lo, uint32_t hi);
/* Ask for `bytes` of scratch during this op's eval (one buffer per op); the planner places it
 * with the tensors, lifetime [this op, this op]; eval finds it in op->scratch. _upto: the op
 * could use up to `most` bytes; after planning it finds how many it may in op->scratch16. */
int ekrt_request_scratch(ekrt_prep_t *c, ekrt_op_t *op, uint32_t bytes);
int ekrt_request_scratch_upto(ekrt_prep_t *c, ekrt_op_t *op, uint32_t bytes, uint32_t most);
/* the registration of a BuiltinOperator code (NULL if edgekit-rt lacks the op) */
const ekrt_op_reg_t *ekrt_op_find(int32_t code);

/* shared conv arithmetic (ekrt_conv_common.c) */
int ekrt_conv_padding(ekrt_prep_t *c, int32_t padding, int32_t stride, int32_t dil, int32_t in,
                      int32_t k, int32_t out, int32_t *pad);
int ekrt_conv_per_channel(ekrt_prep_t *c, const ekrt_tinfo_t *in, const ekrt_tinfo_t *f,
                          const ekrt_tinfo_t *out, int32_t n_ch, const int32_t **mult,
                          const int8_t **shift);
int ekrt_act_range(ekrt_prep_t *c, int32_t act, const ekrt_tinfo_t *out, int32_t *mn, int32_t *mx);
int ekrt_bias_ok(ekrt_prep_t *c, int32_t idx, int32_t n);
/* CONV_2D / DEPTHWISE_CONV_2D checks and parameters (TFLM conv Prepare) into op->p.conv */
int ekrt_conv_prepare(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, int depthwise);
int ekrt_bcast_strides(uint32_t in_nd, const int32_t *in_dims, uint32_t out_nd,
                       const int32_t *out_dims, int32_t *s);

/* tensor data of an op's operand at eval time */
#define EKRT_IN(rt, op, k) ((void)(rt), (const int8_t *)(op)->in_data[k])
#define EKRT_OUT(rt, op) ((void)(rt), (int8_t *)(op)->out_data)
#define EKRT_BIAS(rt, op) ((void)(rt), (const int32_t *)(op)->in_data[2])

#define EKRT_DECLARE_OP(name)                                                           \
    int ekrt_prepare_##name(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in); \
    void ekrt_eval_##name(const ekrt_t *rt, const ekrt_op_t *op)
EKRT_DECLARE_OP(conv2d);
/* the fastest eval whose preconditions the (final) conv parameters meet */
ekrt_eval_fn ekrt_conv2d_select(const ekrt_conv_params_t *p);
ekrt_eval_fn ekrt_depthwise_conv2d_select(const ekrt_conv_params_t *p);
void ekrt_eval_conv2d_1x1(const ekrt_t *rt, const struct ekrt_op *op);
void ekrt_eval_conv2d_im2col(const ekrt_t *rt, const struct ekrt_op *op);
void ekrt_eval_depthwise_conv2d_4ch(const ekrt_t *rt, const struct ekrt_op *op);
#define EKRT_DW_MAX_TAPS 49 /* ekrt_eval_depthwise_conv2d_4ch: filters up to 7x7 */
void ekrt_eval_add_elementwise(const ekrt_t *rt, const struct ekrt_op *op);
void ekrt_eval_add_bcast(const ekrt_t *rt, const struct ekrt_op *op);
void ekrt_eval_mean_hw(const ekrt_t *rt, const struct ekrt_op *op);
void ekrt_eval_fully_connected_mat(const ekrt_t *rt, const struct ekrt_op *op);
/* scratch ekrt_eval_conv2d_im2col / ekrt_eval_conv2d_1x1 ask for (ekrt_request_scratch_upto) */
int ekrt_conv2d_im2col_scratch(ekrt_prep_t *c, ekrt_op_t *op);
int ekrt_conv2d_1x1_scratch(ekrt_prep_t *c, ekrt_op_t *op);
EKRT_DECLARE_OP(depthwise_conv2d);
EKRT_DECLARE_OP(fully_connected);
EKRT_DECLARE_OP(add);
EKRT_DECLARE_OP(avgpool);
EKRT_DECLARE_OP(maxpool);
/* AVERAGE_POOL_2D / MAX_POOL_2D checks and parameters (TFLM pooling Prepare) into op->p.pool */
int ekrt_pool_prepare(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in);
void ekrt_eval_avgpool_4ch(const ekrt_t *rt, const struct ekrt_op *op);
void ekrt_eval_maxpool_4ch(const ekrt_t *rt, const struct ekrt_op *op);
#define EKRT_POOL_4CH_MAX_TAPS 255 /* ekrt_eval_avgpool_4ch: int16 lane sums */
EKRT_DECLARE_OP(mean);
EKRT_DECLARE_OP(pad);
EKRT_DECLARE_OP(reshape);
EKRT_DECLARE_OP(transpose);
EKRT_DECLARE_OP(softmax);
EKRT_DECLARE_OP(quantize);
EKRT_DECLARE_OP(dequantize);

/* Greedy first-fit planner (ekrt_plan.c). Places every entry (tensor or scratch buffer) with
 * first >= 0 and not is_const; returns the bytes needed (16-byte aligned blocks). */
size_t ekrt_plan(ekrt_plan_t *t, uint32_t n);
/* After ekrt_plan: moves planned entry s (a scratch buffer) to the longest run of bytes below
 * front that no other entry live during its lifetime uses, if longer than where it is, and
 * returns the run's length (at least the entry's own). */
uint64_t ekrt_scratch_move(ekrt_plan_t *t, uint32_t n, uint32_t s, uint64_t front);

#endif /* EKRT_INTERNAL_H */
