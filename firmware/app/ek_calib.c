/* On-device calibration while streaming: ek-calib-start, ek-calib-label, ek-calib-solve,
 * ek-calib-head, ek-calib-reset, and what each hop does for it (ek_calib_hop).
 *
 * The host labels the hops of a short calibration (a few seconds per gesture); for each
 * labelled hop the board adds the penultimate features its own int8 network computed (the
 * output of the op before the last FULLY_CONNECTED) to that class's sums. ek-calib-solve turns
 * the sums into a nearest-class-mean head in integers: class c's weights are its mean feature
 * vector (relative to the features' zero point) requantised to int8 with one scale for every
 * class, its bias minus half the weights' dot product with that mean, so the head's output for
 * class c is proportional to f.m_c - |m_c|^2 / 2 (the nearest class mean in Euclidean distance).
 * The output scale stays the model's; the weight scale is the one power of two that puts the
 * largest class score near a third of the int8 range above the output zero point. The head then
 * decides the stream, run by edgekit-rt's FULLY_CONNECTED kernel on the RAM weights
 * (ekrt_head.h); a .tflite holding the same weights, bias and scale gives the same bytes in
 * tflite_micro. toolchain/edgekit/export/head.py mirrors every step in numpy. */
#include <string.h>

#include "ek_commands.h"
#include "ek_model.h"
#include "ek_parse.h"
#if EK_CALIB
#include "ekrt_head.h"
#endif

#define EK_CALIB_CHUNK 2048u /* head bytes per ek-calib-head reply */

#if !EK_CALIB && defined(EK_RUNTIME_EKRT) && defined(EK_HEAD_FEATURES) && EK_HEAD_FEATURES > 0
#define EK_CALIB_NO_ROOM 1 /* everything but the RAM is there */
#endif

#if EK_CALIB
#define HEAD_WEIGHTS ((uint32_t)EK_OUTPUT_SIZE * (uint32_t)EK_HEAD_FEATURES)
/* ek-calib-head's byte layout: weights, then bias, multipliers (int32 little-endian), shifts,
 * the weight scale (float32 bits, little-endian) */
#define HEAD_BYTES (HEAD_WEIGHTS + 9u * (uint32_t)EK_OUTPUT_SIZE + 4u)
typedef char ek_calib_sum_fits_u16[(255u * EK_CALIB_MAX_HOPS <= 65535u) ? 1 : -1];
#endif

/* Why calibration cannot run here, or NULL when it can. */
static const char *unavailable(void)
{
#if EK_CALIB
    ek_model_op_t head, feat;
    if (ek_model_op_count() != (uint32_t)EK_HEAD_OP + 1u ||
        ek_model_op_info((uint32_t)EK_HEAD_OP, &head) != 0 || head.opcode != 9 ||
        ek_model_op_info((uint32_t)EK_HEAD_OP - 1u, &feat) != 0 ||
        feat.out_bytes != (size_t)EK_HEAD_FEATURES || head.out_bytes != (size_t)EK_OUTPUT_SIZE)
        return "the model's ops differ from model_meta.h (EK_HEAD_OP, EK_HEAD_FEATURES)";
    /* the features must survive the head op: its output must not overwrite its input */
    if (feat.out_data == 0 || head.out_data == 0 ||
        (feat.out_data < head.out_data + head.out_bytes &&
         head.out_data < feat.out_data + feat.out_bytes))
        return "the runtime placed the head's output over its input";
    return 0;
#elif !defined(EK_RUNTIME_EKRT)
    return "not supported by this runtime (it cannot read the penultimate features; build with "
           "edgekit-rt)";
#elif !defined(EK_HEAD_FEATURES) || EK_HEAD_FEATURES == 0
    return "this model has no FULLY_CONNECTED head on the op before it (model_meta.h "
           "EK_HEAD_FEATURES 0)";
#else
    return "no room for the calibration buffers in this build (EK_CALIB_RAM_MAX)";
#endif
}

/* 1 when calibration can run, else e-[<command>: why] and 0. */
static int need_calib(ek_app_t *app, const ek_call_t *call)
{
    const char *why;
    ek_reply_t *r = &app->reply;
    if (!ek_need_model(app)) return 0;
    why = unavailable();
    if (!why) return 1;
    ek_reply_str(r, "e-[");
    ek_reply_str(r, call->cmd->name);
    ek_reply_str(r, ": ");
    ek_reply_str(r, why);
#ifdef EK_CALIB_NO_ROOM
    ek_reply_str(r, ": the buffers need ");
    ek_reply_u64(r, (uint64_t)EK_CALIB_BYTES);
    ek_reply_str(r, " bytes, this build allows ");
    ek_reply_u64(r, (uint64_t)EK_CALIB_RAM_MAX);
#endif
    ek_reply_str(r, "; the head is unchanged]");
    ek_reply_end(r);
    return 0;
}

#if EK_CALIB
/* round(x / d), half away from zero, for d > 0 */
static int64_t rdiv(int64_t x, int64_t d)
{
    uint64_t a = (uint64_t)(x < 0 ? -x : x);
    uint64_t q = (2u * a + (uint64_t)d) / (2u * (uint64_t)d);
    return x < 0 ? -(int64_t)q : (int64_t)q;
}

/* The same for |x| < 2^30 and 0 < d < 2^30, in 32 bits (a Cortex-M4 divides those in
 * hardware): every mean and weight of the solve (|x| <= 65535 * 256). */
static int32_t rdiv32(int32_t x, int32_t d)
{
    uint32_t a = (uint32_t)(x < 0 ? -x : x);
    uint32_t q = (2u * a + (uint32_t)d) / (2u * (uint32_t)d);
    return x < 0 ? -(int32_t)q : (int32_t)q;
}

/* Class c's mean of feature j minus the features' zero point, in units of 1/256. */
static int32_t mean_q8(const ek_calib_t *c, uint32_t cls, uint32_t j)
{
    const int32_t off = 128 + (int32_t)EK_HEAD_IN_ZERO_POINT;
    const int32_t n = (int32_t)c->n[cls];
    const int32_t a = (int32_t)c->sum[cls * EK_HEAD_FEATURES + j] - n * off;
    return rdiv32(a * 256, n);
}

/* The weight of class cls, feature j, for the largest |mean| mx. */
static int32_t weight(const ek_calib_t *c, uint32_t cls, uint32_t j, int32_t mx)
{
    return rdiv32(mean_q8(c, cls, j) * 127, mx);
}

static void solve_failed(ek_app_t *app, const char *what, uint32_t cls)
{
    static const char *const labels[] = EK_LABELS;
    ek_reply_t *r = &app->reply;
    ek_reply_str(r, "e-[ek-calib-solve: ");
    if (cls < EK_OUTPUT_SIZE) {
        ek_reply_str(r, "class ");
        ek_reply_u64(r, cls);
        ek_reply_str(r, " (");
        ek_reply_clean(r, labels[cls], 32);
        ek_reply_str(r, ") has ");
        ek_reply_u64(r, app->calib.n[cls]);
        ek_reply_str(r, " hops, the head needs at least ");
        ek_reply_u64(r, EK_CALIB_MIN_HOPS);
    } else {
        ek_reply_str(r, what);
    }
    ek_reply_str(r, "; the previous head stays]");
    ek_reply_end(r);
}

/* The nearest-class-mean head from the sums (see the top of this file); on failure e-[...]
 * and nothing written. 0 on success. */
static int solve(ek_app_t *app)
{
    ek_calib_t *c = &app->calib;
    int64_t dot[EK_OUTPUT_SIZE], top = 0, lim;
    int32_t mx = 0, qm, sh, k = 0;
    uint32_t cls, j;
    float scale;
    for (cls = 0; cls < EK_OUTPUT_SIZE; cls++)
        if (c->n[cls] < EK_CALIB_MIN_HOPS) {
            solve_failed(app, 0, cls);
            return -1;
        }
    for (cls = 0; cls < EK_OUTPUT_SIZE; cls++)
        for (j = 0; j < EK_HEAD_FEATURES; j++) {
            int32_t m = mean_q8(c, cls, j);
            if ((m < 0 ? -m : m) > mx) mx = m < 0 ? -m : m;
        }
    if (mx == 0) {
        solve_failed(app, "every class mean is at the features' zero point", EK_OUTPUT_SIZE);
        return -1;
    }
    for (cls = 0; cls < EK_OUTPUT_SIZE; cls++) {
        dot[cls] = 0;
        for (j = 0; j < EK_HEAD_FEATURES; j++)
            dot[cls] += (int64_t)weight(c, cls, j, mx) * mean_q8(c, cls, j);
        dot[cls] = rdiv(dot[cls], 512); /* |m_c|^2 / 2 in the weights' units */
        if (dot[cls] > top) top = dot[cls];
    }
    /* the output scale keeps its value: the weight scale 2^-k * out_scale / in_scale maps the
     * largest class score `top` to at most a third of the range above the zero point */
    lim = (127 - (int64_t)EK_OUTPUT_ZERO_POINT) / 3;
    if (lim < 1) lim = 1;
    while (top > (lim << k)) k++;
    scale = (float)EK_OUTPUT_SCALE / (float)EK_HEAD_IN_SCALE;
    for (j = 0; j < (uint32_t)k; j++) scale *= 0.5f;
    ekrt_head_multiplier(
        (double)(float)EK_HEAD_IN_SCALE * (double)scale / (double)(float)EK_OUTPUT_SCALE, &qm, &sh);
    for (cls = 0; cls < EK_OUTPUT_SIZE; cls++) {
        for (j = 0; j < EK_HEAD_FEATURES; j++)
            c->w[cls * EK_HEAD_FEATURES + j] = (int8_t)weight(c, cls, j, mx);
        c->bias[cls] = (int32_t)-dot[cls];
        c->mult[cls] = qm;
        c->shift[cls] = (int8_t)sh;
    }
    c->w_scale = scale;
    return 0;
}

/* Byte i of the head in ek-calib-head's layout. */
static uint8_t head_byte(const ek_calib_t *c, uint32_t i)
{
    const uint32_t n = EK_OUTPUT_SIZE;
    uint32_t v;
    if (i < HEAD_WEIGHTS) return (uint8_t)c->w[i];
    i -= HEAD_WEIGHTS;
    if (i < 8u * n) {
        v = (uint32_t)(i < 4u * n ? c->bias[i / 4u] : c->mult[(i - 4u * n) / 4u]);
        return (uint8_t)(v >> (8u * (i % 4u)));
    }
    i -= 8u * n;
    if (i < n) return (uint8_t)c->shift[i];
    i -= n;
    memcpy(&v, &c->w_scale, 4);
    return (uint8_t)(v >> (8u * i));
}

/* CRC-32 (IEEE, as zlib.crc32) of the head's bytes. */
static uint32_t head_crc(const ek_calib_t *c)
{
    uint32_t crc = 0xffffffffu, i;
    int b;
    for (i = 0; i < HEAD_BYTES; i++) {
        crc ^= head_byte(c, i);
        for (b = 0; b < 8; b++) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void reply_hex32(ek_reply_t *r, uint32_t v)
{
    int8_t be[4];
    be[0] = (int8_t)(v >> 24);
    be[1] = (int8_t)(v >> 16);
    be[2] = (int8_t)(v >> 8);
    be[3] = (int8_t)v;
    ek_reply_hex(r, be, 4);
}

void ek_calib_hop(ek_app_t *app)
{
    ek_calib_t *c = &app->calib;
    ek_model_op_t feat;
    uint64_t t0;
    c->hop_label = -1;
    c->hop_ticks = 0;
    if (!(c->collecting && c->label >= 0) && !c->active) return;
    t0 = ek_clock_now(&app->clock);
    if (ek_model_op_info((uint32_t)EK_HEAD_OP - 1u, &feat) != 0) return;
    if (c->collecting && c->label >= 0) {
        uint32_t cls = (uint32_t)c->label, j;
        uint16_t *s = &c->sum[cls * EK_HEAD_FEATURES];
        if (c->n[cls] < EK_CALIB_MAX_HOPS) {
            for (j = 0; j < EK_HEAD_FEATURES; j++)
                s[j] = (uint16_t)(s[j] + (uint16_t)(feat.out_data[j] + 128));
            c->n[cls]++;
            c->hop_label = (int)cls;
        } else {
            c->dropped++;
        }
    }
    if (c->active) {
        ekrt_head_t h;
        h.n_in = EK_HEAD_FEATURES;
        h.n_out = EK_OUTPUT_SIZE;
        h.in_zero_point = EK_HEAD_IN_ZERO_POINT;
        h.out_zero_point = EK_OUTPUT_ZERO_POINT;
        h.weights = c->w;
        h.bias = c->bias;
        h.mult = c->mult;
        h.shift = c->shift;
        memcpy(c->base, app->result.out, EK_OUTPUT_SIZE);
        ekrt_head_fc_s8(&h, feat.out_data, app->result.out);
    }
    c->hop_ticks = ek_clock_now(&app->clock) - t0;
}
#else
void ek_calib_hop(ek_app_t *app)
{
    app->calib.hop_label = -1;
    app->calib.hop_ticks = 0;
}
#endif

void ek_calib_hop_fields(ek_app_t *app)
{
    ek_reply_t *r = &app->reply;
    const ek_calib_t *c = &app->calib;
    if (c->hop_label >= 0) {
        ek_reply_str(r, "-cal[");
        ek_reply_u64(r, (uint64_t)c->hop_label);
        ek_reply_ch(r, ']');
    }
    if (c->hop_ticks) {
        ek_reply_str(r, "-ct[");
        ek_reply_u64(r, c->hop_ticks);
        ek_reply_ch(r, ']');
    }
#if EK_CALIB
    if (c->active) {
        ek_reply_str(r, "-base[");
        ek_reply_hex(r, c->base, EK_OUTPUT_SIZE);
        ek_reply_ch(r, ']');
    }
#endif
}

/* ek-calib-start: collect anew (sums cleared, no label); a solved head keeps deciding.
 *   m-ek-calib-start-classes[C]-features[F]-min[MIN]-max[MAX]-bytes[B] */
void ek_cmd_calib_start(ek_app_t *app, const ek_call_t *call)
{
    ek_reply_t *r = &app->reply;
    if (!need_calib(app, call)) return;
#if EK_CALIB
    memset(app->calib.sum, 0, sizeof app->calib.sum);
    memset(app->calib.n, 0, sizeof app->calib.n);
    app->calib.collecting = 1;
    app->calib.label = -1;
    app->calib.dropped = 0;
    ek_reply_str(r, "m-ek-calib-start-classes[");
    ek_reply_u64(r, EK_OUTPUT_SIZE);
    ek_reply_str(r, "]-features[");
    ek_reply_u64(r, EK_HEAD_FEATURES);
    ek_reply_str(r, "]-min[");
    ek_reply_u64(r, EK_CALIB_MIN_HOPS);
    ek_reply_str(r, "]-max[");
    ek_reply_u64(r, EK_CALIB_MAX_HOPS);
    ek_reply_str(r, "]-bytes[");
    ek_reply_u64(r, sizeof app->calib);
    ek_reply_ch(r, ']');
    ek_reply_end(r);
#else
    (void)r;
#endif
}

/* ek-calib-label L|none: the class of the hops that follow (none: hops not collected).
 *   m-ek-calib-label-[L|none] */
void ek_cmd_calib_label(ek_app_t *app, const ek_call_t *call)
{
    uint32_t cls = 0;
    int none = strcmp(call->tok[1], "none") == 0;
    if (!none && ek_parse_u32(call->tok[1], EK_OUTPUT_SIZE - 1u, &cls) != 0) {
        ek_cmd_usage(app, call);
        return;
    }
    if (!need_calib(app, call)) return;
    if (!app->calib.collecting) {
        ek_reply_err(&app->reply, "ek-calib-label: no calibration started (ek-calib-start first)",
                     0);
        return;
    }
    app->calib.label = none ? -1 : (int)cls;
    if (none)
        ek_reply_line(&app->reply, "m-ek-calib-label-[none]");
    else
        ek_reply_line_n(&app->reply, "m-ek-calib-label-[%u]", cls);
}

/* ek-calib-solve: the head from the sums; it decides the stream from the next hop on (vote
 * history cleared). On failure the previous head stays and collecting goes on.
 *   m-ek-calib-solve-hops[n0,n1,..]-dropped[D]-crc[CRC32 hex]-ticks[T] */
void ek_cmd_calib_solve(ek_app_t *app, const ek_call_t *call)
{
#if EK_CALIB
    ek_reply_t *r = &app->reply;
    uint64_t t0;
    uint32_t i;
#endif
    if (!need_calib(app, call)) return;
#if EK_CALIB
    if (!app->calib.collecting) {
        ek_reply_err(&app->reply, "ek-calib-solve: no calibration started (ek-calib-start first)",
                     0);
        return;
    }
    t0 = ek_clock_now(&app->clock);
    if (solve(app) != 0) return;
    app->calib.solve_ticks = ek_clock_now(&app->clock) - t0;
    app->calib.active = 1;
    app->calib.collecting = 0;
    app->calib.label = -1;
    app->vote.n = 0;
    ek_reply_str(r, "m-ek-calib-solve-hops[");
    for (i = 0; i < EK_OUTPUT_SIZE; i++) {
        if (i) ek_reply_ch(r, ',');
        ek_reply_u64(r, app->calib.n[i]);
    }
    ek_reply_str(r, "]-dropped[");
    ek_reply_u64(r, app->calib.dropped);
    ek_reply_str(r, "]-crc[");
    reply_hex32(r, head_crc(&app->calib));
    ek_reply_str(r, "]-ticks[");
    ek_reply_u64(r, app->calib.solve_ticks);
    ek_reply_ch(r, ']');
    ek_reply_end(r);
#endif
}

/* ek-calib-head [OFF]: the solved head's bytes, at most EK_CALIB_CHUNK from byte OFF:
 *   m-ek-calib-head-at[OFF]-of[TOTAL]-[HEX] */
void ek_cmd_calib_head(ek_app_t *app, const ek_call_t *call)
{
    uint32_t off = 0;
    if (call->ntok == 2 && ek_parse_u32(call->tok[1], 0x7fffffffu, &off) != 0) {
        ek_cmd_usage(app, call);
        return;
    }
    if (!need_calib(app, call)) return;
#if EK_CALIB
    {
        ek_reply_t *r = &app->reply;
        uint32_t i, end;
        int8_t b;
        if (!app->calib.active) {
            ek_reply_err(r, "ek-calib-head: no solved head (ek-calib-solve first)", 0);
            return;
        }
        if (off > HEAD_BYTES) {
            ek_reply_err_n(r, "ek-calib-head: offset past the end of the %u-byte head", HEAD_BYTES);
            return;
        }
        end = HEAD_BYTES - off > EK_CALIB_CHUNK ? off + EK_CALIB_CHUNK : HEAD_BYTES;
        ek_reply_str(r, "m-ek-calib-head-at[");
        ek_reply_u64(r, off);
        ek_reply_str(r, "]-of[");
        ek_reply_u64(r, HEAD_BYTES);
        ek_reply_str(r, "]-[");
        for (i = off; i < end; i++) {
            b = (int8_t)head_byte(&app->calib, i);
            ek_reply_hex(r, &b, 1);
        }
        ek_reply_ch(r, ']');
        ek_reply_end(r);
    }
#endif
}

/* ek-calib-reset: back to the model's own head; collecting stops.  m-ek-calib-reset */
void ek_cmd_calib_reset(ek_app_t *app, const ek_call_t *call)
{
    if (!need_calib(app, call)) return;
    app->calib.active = 0;
    app->calib.collecting = 0;
    app->calib.label = -1;
    app->vote.n = 0;
    ek_reply_line(&app->reply, "m-ek-calib-reset");
}
