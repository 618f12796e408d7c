/* Streaming: ek-stream-start and ek-stream-vote, and what happens at every hop (the model on
 * the feature chain's frame, a majority vote over the last K classes). The blocks of samples
 * themselves arrive with ek-sblk (ek_sblk.c). A model exported without an on-device feature
 * chain (EK_FEAT_CHAIN 0) refuses to stream. */
#include <string.h>

#include "ek_commands.h"
#include "ek_model.h"
#include "ek_parse.h"

void ek_stream_restart(ek_app_t *app)
{
#if EK_FEAT_CHAIN
    ek_features_reset(&app->stream.feat);
    app->stream.buffered = 0;
#endif
    app->stream.hops = 0;
    app->vote.n = 0;
    app->stream.lag = 0;
    app->stream.feat_ticks = 0;
}

#if EK_FEAT_CHAIN
typedef char ek_vote_classes_fit_u8[(EK_OUTPUT_SIZE <= 256) ? 1 : -1];

/* Majority over the last k classes; a tie goes to the class voted most recently. */
static uint32_t vote_push(ek_vote_t *v, uint8_t cls)
{
    uint32_t count[256];
    uint32_t i, best = cls, best_n = 0;
    if (v->n == v->k) {
        memmove(v->cls, v->cls + 1, v->n - 1u);
        v->n--;
    }
    v->cls[v->n++] = cls;
    for (i = 0; i < v->n; i++) count[v->cls[i]] = 0;
    for (i = 0; i < v->n; i++) count[v->cls[i]]++;
    for (i = v->n; i-- > 0;) {
        if (count[v->cls[i]] > best_n) {
            best_n = count[v->cls[i]];
            best = v->cls[i];
        }
    }
    return best;
}

static uint32_t argmax_out(const int8_t *o)
{
    uint32_t i, b = 0;
    for (i = 1; i < EK_OUTPUT_SIZE; i++)
        if (o[i] > o[b]) b = i;
    return b;
}

/* A frame is ready: run the model, vote, answer the hop.
 *   m-ek-hop-[H]-out[HEX]-class[C]-vote[V]-ft[feature ticks]-it[inference ticks]
 *   (-cal[L])(-ct[calibration ticks])(-base[HEX])(-in[HEX]) */
void ek_stream_hop(ek_app_t *app)
{
    ek_reply_t *r = &app->reply;
    ek_stream_t *st = &app->stream;
    uint64_t t0, t1;
    uint32_t cls, dec;
    memcpy(ek_model_input(), st->frame, EK_INPUT_SIZE);
    t0 = ek_clock_now(&app->clock);
    if (ek_invoke(app) != 0) return;
    t1 = ek_clock_now(&app->clock);
    ek_keep_result(app, t1 - t0, 1);
    ek_calib_hop(app); /* a solved head replaces the output; its ticks count as inference */
    t1 += app->calib.hop_ticks;
    cls = argmax_out(app->result.out);
    dec = vote_push(&app->vote, (uint8_t)cls);
    ek_reply_str(r, "m-ek-hop-[");
    ek_reply_u64(r, st->hops);
    ek_reply_str(r, "]-out[");
    ek_reply_hex(r, app->result.out, EK_OUTPUT_SIZE);
    ek_reply_str(r, "]-class[");
    ek_reply_u64(r, cls);
    ek_reply_str(r, "]-vote[");
    ek_reply_u64(r, dec);
    ek_reply_str(r, "]-ft[");
    ek_reply_u64(r, st->feat_ticks);
    ek_reply_str(r, "]-it[");
    ek_reply_u64(r, t1 - t0);
    ek_reply_ch(r, ']');
    ek_calib_hop_fields(app);
    if (st->echo) {
        ek_reply_str(r, "-in[");
        ek_reply_hex(r, st->frame, EK_INPUT_SIZE);
        ek_reply_ch(r, ']');
    }
    ek_reply_end(r);
    app->sblk.ticks += t1 - t0;
    st->feat_ticks = 0;
    st->hops++;
    app->sblk.hops++;
}
#endif

static int need_stream(ek_app_t *app)
{
#if EK_FEAT_CHAIN
    return ek_need_model(app);
#else
    ek_reply_err(&app->reply,
                 "stream: this model has no on-device feature chain (trained with zero-phase or "
                 "raw features; retrain with --filter causal)",
                 0);
    return 0;
#endif
}

/* ek-stream-start [K [ECHO [REALTIME]]]: a new stream, its vote length K, whether each hop
 * echoes its frame, whether blocks are checked against real time.
 *   m-ek-stream-ch[C]-hop[H]-blocks[B]-vote[K]-max[samples per block] */
void ek_cmd_stream_start(ek_app_t *app, const ek_call_t *call)
{
    ek_stream_t *st = &app->stream;
    uint32_t k = 1, echo = 0, rt = 0;
    int n = call->ntok;
    if ((n >= 2 && (ek_parse_u32(call->tok[1], EK_VOTE_MAX, &k) != 0 || k == 0)) ||
        (n >= 3 && ek_parse_u32(call->tok[2], 1, &echo) != 0) ||
        (n >= 4 && ek_parse_u32(call->tok[3], 1, &rt) != 0)) {
        ek_cmd_usage(app, call);
        return;
    }
    if (!need_stream(app)) return;
    app->vote.k = k;
    st->echo = (int)echo;
    st->realtime = (int)rt;
    st->next_seq = 0;
    st->on = 1;
    ek_stream_restart(app);
#if EK_FEAT_CHAIN
    {
        ek_reply_t *r = &app->reply;
        ek_reply_str(r, "m-ek-stream-ch[");
        ek_reply_u64(r, EK_FEAT_CHANNELS);
        ek_reply_str(r, "]-hop[");
        ek_reply_u64(r, EK_FEAT_HOP);
        ek_reply_str(r, "]-blocks[");
        ek_reply_u64(r, EK_FEAT_BLOCKS);
        ek_reply_str(r, "]-vote[");
        ek_reply_u64(r, k);
        ek_reply_str(r, "]-max[");
        ek_reply_u64(r, EK_SBLK_MAX_SAMPLES);
        ek_reply_ch(r, ']');
        ek_reply_end(r);
    }
#endif
}

/* ek-stream-vote K: a new vote length; the vote history starts again, the filters do not. */
void ek_cmd_stream_vote(ek_app_t *app, const ek_call_t *call)
{
    uint32_t k;
    if (ek_parse_u32(call->tok[1], EK_VOTE_MAX, &k) != 0 || k == 0) {
        ek_cmd_usage(app, call);
        return;
    }
    app->vote.k = k;
    app->vote.n = 0;
    ek_reply_line_n(&app->reply, "m-ek-stream-vote-[%u]", k);
}
