/* ek-sblk SEQ NCH NS: a block of raw samples for the stream, then its binary payload.
 *
 * The command is followed by exactly NCH * NS * 2 binary bytes (int16 little-endian, sample
 * after sample, all channels of a sample together). The payload is consumed as it arrives, up to
 * EK_FEAT_BLOCK_MAX samples buffered for the feature chain (which runs them channel by channel,
 * its filter state in registers), so its length is bounded only by EK_SBLK_MAX_SAMPLES. A block the device cannot use (wrong channel count or length) is still
 * read to its end, so the framing never slips; m-ready follows the payload. */
#include "ek_commands.h"
#include "ek_parse.h"
#include "ek_port.h"

/* Why a block announced with a payload cannot be used: e-[...] and the stream restarts at the
 * block after it. */
static void refuse_block(ek_app_t *app, uint32_t seq, uint32_t n, const char *what,
                         const char *expected, uint32_t want)
{
    ek_reply_t *r = &app->reply;
    ek_reply_str(r, "e-[ek-sblk: block ");
    ek_reply_u64(r, seq);
    ek_reply_str(r, " has ");
    ek_reply_u64(r, n);
    ek_reply_str(r, what);
    ek_reply_str(r, expected);
    ek_reply_u64(r, want);
    ek_reply_str(r, "; block skipped, stream reset]");
    ek_reply_end(r);
    ek_stream_restart(app);
    app->stream.next_seq = seq + 1u;
}

/* A block in sequence starts its payload; a gap restarts the stream with this block. */
static void accept_block(ek_app_t *app, uint32_t seq)
{
    ek_reply_t *r = &app->reply;
    if (seq != app->stream.next_seq) {
        ek_reply_str(r, "e-[ek-sblk: sequence gap: expected ");
        ek_reply_u64(r, app->stream.next_seq);
        ek_reply_str(r, ", got ");
        ek_reply_u64(r, seq);
        ek_reply_str(r, "; stream reset, this block starts it]");
        ek_reply_end(r);
        ek_stream_restart(app);
    }
    app->stream.next_seq = seq + 1u;
    app->sblk.use = 1;
}

void ek_cmd_sblk(ek_app_t *app, const ek_call_t *call)
{
    ek_sblk_t *b = &app->sblk;
    uint32_t seq, nch, ns;
    if (ek_parse_u32(call->tok[1], 0xffffffffu, &seq) != 0 ||
        ek_parse_u32(call->tok[2], 0xffffu, &nch) != 0 ||
        ek_parse_u32(call->tok[3], 0xffffffffu, &ns) != 0) {
        ek_cmd_usage(app, call);
        return;
    }
    b->use = 0;
    b->seq = seq;
    b->samples = ns;
    b->hops = 0;
    b->ticks = 0;
    b->pos = 0;
    if ((uint64_t)nch * ns * 2u > 0xffffffffu) {
        ek_reply_err(&app->reply,
                     "ek-sblk: block larger than 4 GB; cannot skip it, send "
                     "ek-stream-start",
                     0);
        return;
    }
    b->left = nch * ns * 2u;
    if (!app->stream.on)
        ek_reply_err(&app->reply, "ek-sblk: no stream (send ek-stream-start first); block skipped",
                     0);
#if EK_FEAT_CHAIN
    else if (nch != EK_FEAT_CHANNELS)
        refuse_block(app, seq, nch, " channels", ", the model expects ", EK_FEAT_CHANNELS);
#endif
    else if (ns == 0 || ns > EK_SBLK_MAX_SAMPLES)
        refuse_block(app, seq, ns, " samples", ", expected 1..", EK_SBLK_MAX_SAMPLES);
    else
        accept_block(app, seq);
}

#if EK_FEAT_CHAIN
/* Real time: the block's samples span ns / fs seconds; processing longer than that makes the
 * board fall behind. Report once it is a hop or more behind. */
static void check_realtime(ek_app_t *app)
{
    ek_reply_t *r = &app->reply;
    ek_stream_t *st = &app->stream;
    const ek_sblk_t *b = &app->sblk;
    uint64_t span = (uint64_t)b->samples * ek_port_tick_hz() / (uint64_t)(EK_FS_HZ);
    st->lag = st->lag + b->ticks > span ? st->lag + b->ticks - span : 0;
    if (st->lag > (uint64_t)EK_FEAT_HOP * ek_port_tick_hz() / (uint64_t)(EK_FS_HZ)) {
        ek_reply_str(r, "e-[ek-sblk: overrun: ");
        ek_reply_u64(r, st->lag);
        ek_reply_str(r, " ticks behind real time after block ");
        ek_reply_u64(r, b->seq);
        ek_reply_str(r, "; the board cannot keep up with this rate (nothing dropped)]");
        ek_reply_end(r);
        st->lag = 0;
    }
}
#endif

/* The payload's last byte came: the block's summary, then the m-ready its command is owed.
 *   m-ek-sblk-[SEQ]-hops[H]-ticks[T] */
static void block_done(ek_app_t *app)
{
    ek_reply_t *r = &app->reply;
    const ek_sblk_t *b = &app->sblk;
    if (b->use) {
#if EK_FEAT_CHAIN
        if (app->stream.realtime) check_realtime(app);
#endif
        ek_reply_str(r, "m-ek-sblk-[");
        ek_reply_u64(r, b->seq);
        ek_reply_str(r, "]-hops[");
        ek_reply_u64(r, b->hops);
        ek_reply_str(r, "]-ticks[");
        ek_reply_u64(r, b->ticks);
        ek_reply_ch(r, ']');
        ek_reply_end(r);
    }
    ek_reply_line(r, "m-ready");
}

#if EK_FEAT_CHAIN
/* The buffered samples through the feature chain; a completed hop runs the model. */
static void push_buffered(ek_app_t *app)
{
    ek_stream_t *st = &app->stream;
    uint64_t t0 = ek_clock_now(&app->clock), t1;
    int ready = ek_features_push_block(&st->feat, st->samples, st->buffered, st->frame);
    t1 = ek_clock_now(&app->clock);
    st->feat_ticks += t1 - t0;
    app->sblk.ticks += t1 - t0;
    st->buffered = 0;
    if (ready == 1) ek_stream_hop(app);
}
#endif

void ek_sblk_byte(ek_app_t *app, uint8_t byte)
{
    ek_sblk_t *b = &app->sblk;
    b->left--;
#if EK_FEAT_CHAIN
    if (b->use) {
        ek_stream_t *st = &app->stream;
        int16_t *sample = &st->samples[st->buffered * EK_FEAT_CHANNELS];
        if ((b->pos & 1u) == 0)
            b->lo = byte;
        else
            sample[b->pos >> 1] = (int16_t)(uint16_t)((uint16_t)b->lo | ((uint16_t)byte << 8));
        if (++b->pos == 2u * EK_FEAT_CHANNELS) {
            b->pos = 0;
            st->buffered++;
            /* a push never crosses a hop's end, and nothing stays buffered after a block */
            if (st->buffered == EK_FEAT_BLOCK_MAX || st->buffered == ek_features_room(&st->feat) ||
                b->left == 0)
                push_buffered(app);
        }
    }
#else
    (void)byte;
#endif
    if (b->left == 0) block_done(app);
}
