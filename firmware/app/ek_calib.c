/* On-device calibration while streaming: ek-calib-start, ek-calib-label, ek-calib-solve,
 * ek-calib-head, ek-calib-reset, and what each hop does for it (ek_calib_hop).
 *
 * The host labels the hops of a short calibration (a few seconds per gesture). For each labelled
 * hop the board adds what its own int8 network computed to that class's statistics: for out-lda
 * the model's outputs (its last layer's int8 logits), for ncm the penultimate features (the
 * output of the op before the last FULLY_CONNECTED). ek-calib-solve (ek_calib_solve.c) turns them
 * into a head in RAM, which then decides the stream, run by edgekit-rt's FULLY_CONNECTED kernel
 * (ekrt_head.h): out-lda after the model's head, ncm in its place. Every hop after the solve also
 * reports the model's own output (-base), so one stream gives before and after. */
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
typedef char ek_calib_sum_fits_u16[(255u * EK_CALIB_MAX_HOPS <= 65535u) ? 1 : -1];

/* the head's inputs: the model's outputs (out-lda) or the penultimate features (ncm) */
static uint32_t head_inputs(int method)
{
    return method == EK_CALIB_NCM ? (uint32_t)EK_HEAD_FEATURES : (uint32_t)EK_OUTPUT_SIZE;
}

/* ek-calib-head's byte layout: weights, then bias, multipliers (int32 little-endian), shifts,
 * the weight scale (float32 bits, little-endian) */
static uint32_t head_bytes(const ek_calib_t *c)
{
    return (uint32_t)EK_OUTPUT_SIZE * head_inputs(c->head_method) + 9u * EK_OUTPUT_SIZE + 4u;
}
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
/* Byte i of the head in ek-calib-head's layout. */
static uint8_t head_byte(const ek_calib_t *c, uint32_t i)
{
    const uint32_t n = EK_OUTPUT_SIZE, nw = n * head_inputs(c->head_method);
    uint32_t v;
    if (i < nw) return (uint8_t)c->w[i];
    i -= nw;
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
    uint32_t crc = 0xffffffffu, i, n = head_bytes(c);
    int b;
    for (i = 0; i < n; i++) {
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

/* A labelled hop's statistics for the method being collected. */
static void collect(ek_calib_t *c, const int8_t *feat)
{
    uint32_t cls = (uint32_t)c->label, j, k;
    if (c->n[cls] >= EK_CALIB_MAX_HOPS) {
        c->dropped++;
        return;
    }
    if (c->method == EK_CALIB_NCM) {
        uint16_t *s = &c->sum[cls * EK_HEAD_FEATURES];
        for (j = 0; j < EK_HEAD_FEATURES; j++) s[j] = (uint16_t)(s[j] + (uint16_t)(feat[j] + 128));
    } else {
        int32_t z[EK_CALIB_C];
        for (j = 0; j < EK_CALIB_C; j++) {
            z[j] = (int32_t)c->base[j] - (int32_t)EK_OUTPUT_ZERO_POINT;
            c->zsum[cls * EK_CALIB_C + j] += z[j];
        }
        for (j = 0; j < EK_CALIB_C; j++)
            for (k = 0; k < EK_CALIB_C; k++) c->zz[j * EK_CALIB_C + k] += (int64_t)z[j] * z[k];
    }
    c->n[cls]++;
    c->hop_label = (int)cls;
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
    memcpy(c->base, app->result.out, EK_OUTPUT_SIZE);
    if (c->collecting && c->label >= 0) collect(c, feat.out_data);
    if (c->active) {
        ekrt_head_t h;
        int ncm = c->head_method == EK_CALIB_NCM;
        h.n_in = (int32_t)head_inputs(c->head_method);
        h.n_out = EK_OUTPUT_SIZE;
        h.in_zero_point = ncm ? EK_HEAD_IN_ZERO_POINT : EK_OUTPUT_ZERO_POINT;
        h.out_zero_point = EK_OUTPUT_ZERO_POINT;
        h.weights = c->w;
        h.bias = c->bias;
        h.mult = c->mult;
        h.shift = c->shift;
        ekrt_head_fc_s8(&h, ncm ? feat.out_data : c->base, app->result.out);
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

/* ek-calib-start [out-lda|ncm]: collect anew for that method (default out-lda; statistics
 * cleared, no label); a solved head keeps deciding.
 *   m-ek-calib-start-method[M]-classes[C]-features[F]-min[MIN]-max[MAX]-bytes[B] */
void ek_cmd_calib_start(ek_app_t *app, const ek_call_t *call)
{
    ek_reply_t *r = &app->reply;
    int method = EK_CALIB_OUT_LDA;
    if (call->ntok == 2) {
        if (strcmp(call->tok[1], "ncm") == 0)
            method = EK_CALIB_NCM;
        else if (strcmp(call->tok[1], "out-lda") != 0) {
            ek_cmd_usage(app, call);
            return;
        }
    }
    if (!need_calib(app, call)) return;
#if EK_CALIB
    memset(app->calib.sum, 0, sizeof app->calib.sum);
    memset(app->calib.zsum, 0, sizeof app->calib.zsum);
    memset(app->calib.zz, 0, sizeof app->calib.zz);
    memset(app->calib.n, 0, sizeof app->calib.n);
    app->calib.method = method;
    app->calib.collecting = 1;
    app->calib.label = -1;
    app->calib.dropped = 0;
    ek_reply_str(r, method == EK_CALIB_NCM ? "m-ek-calib-start-method[ncm]-classes["
                                           : "m-ek-calib-start-method[out-lda]-classes[");
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
    (void)method;
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
    if ((app->calib.method == EK_CALIB_NCM ? ek_calib_solve_ncm(app) : ek_calib_solve_lda(app)) !=
        0)
        return;
    app->calib.solve_ticks = ek_clock_now(&app->clock) - t0;
    app->calib.head_method = app->calib.method;
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
        if (off > head_bytes(&app->calib)) {
            ek_reply_err_n(r, "ek-calib-head: offset past the end of the %u-byte head",
                           head_bytes(&app->calib));
            return;
        }
        end = head_bytes(&app->calib) - off > EK_CALIB_CHUNK ? off + EK_CALIB_CHUNK
                                                             : head_bytes(&app->calib);
        ek_reply_str(r, "m-ek-calib-head-at[");
        ek_reply_u64(r, off);
        ek_reply_str(r, "]-of[");
        ek_reply_u64(r, head_bytes(&app->calib));
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
