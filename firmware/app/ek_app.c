/* Command loop for the EEMBC / MLPerf Tiny runner protocol plus edgekit's ek- extensions.
 *
 * Everything is statically sized: one command buffer (EK_CMD_MAX), one input buffer
 * (EK_INPUT_SIZE), one copy of the last output (EK_OUTPUT_SIZE). Each command ends at '%' and
 * gets exactly one reply block ending in "m-ready", whatever bytes came before it. */
#include "ek_app.h"

#include <string.h>

#include "ek_features.h"
#include "ek_model.h"
#include "ek_port.h"
#include "model_meta.h"

#define EK_INFER_MAX 100000u /* bound for N and W of "infer N W" */
#define EK_ECHO_MAX 32       /* chars of an unknown command echoed back */
#define EK_ERR_MAX 96
#define EK_LAYER_CHUNK 2048u /* bytes of a tensor per ek-layer reply (4096 hex digits) */

/* ------------------------------------------------------------------ state */

static char s_cmd[EK_CMD_MAX + 1];
static size_t s_cmd_len;
static int s_cmd_overflow; /* more than EK_CMD_MAX bytes before '%' */
static int s_cmd_badbyte;  /* a control / non-ASCII byte inside the command */

static int8_t s_db[EK_INPUT_SIZE];
static size_t s_db_expect; /* 0: no "db load" pending or done */
static size_t s_db_have;

static int s_model_ok;
static char s_model_err[EK_ERR_MAX];

static int s_have_result;
static int8_t s_last_out[EK_OUTPUT_SIZE];
static uint64_t s_last_ticks;
static uint32_t s_last_n;

/* The port's timer is 32 bits and wraps; extend it to 64 so N long runs cannot wrap.
 * Valid while it is read at least once per 2^32 ticks (the infer loop reads it every run). */
static uint32_t s_tick_last;
static uint64_t s_tick_high;

static uint64_t now64(void)
{
    uint32_t t = ek_port_ticks();
    if (t < s_tick_last) s_tick_high += (uint64_t)1 << 32;
    s_tick_last = t;
    return s_tick_high | t;
}

/* ------------------------------------------------------------------ output */

/* Replies are assembled in a small buffer and flushed when full, so no line is ever truncated. */
static char s_out[128];
static size_t s_out_len;

static void out_flush(void)
{
    if (s_out_len) ek_port_write(s_out, s_out_len);
    s_out_len = 0;
}

static void out_ch(char c)
{
    if (s_out_len == sizeof s_out) out_flush();
    s_out[s_out_len++] = c;
}

static void out_str(const char *s)
{
    while (*s) out_ch(*s++);
}

/* Printable ASCII only, so garbage echoed back cannot break the line framing. */
static void out_clean(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n && s[i]; i++) {
        char c = s[i];
        out_ch((c >= 0x20 && c < 0x7f && c != '[' && c != ']') ? c : '?');
    }
}

static void out_u64(uint64_t v)
{
    char d[20];
    int n = 0;
    do {
        d[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v && n < 20);
    while (n) out_ch(d[--n]);
}

static void out_hex(const int8_t *p, size_t n)
{
    static const char k[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        uint8_t b = (uint8_t)p[i];
        out_ch(k[b >> 4]);
        out_ch(k[b & 15u]);
    }
}

/* Fixed-point "%.3f" (rounded half away from zero) without printf float support. */
static void out_fixed3(float v)
{
    float s;
    uint64_t m;
    int neg = 0;
    if (v != v) {
        out_str("nan");
        return;
    }
    if (v > 1e12f) v = 1e12f;
    if (v < -1e12f) v = -1e12f;
    if (v < 0) {
        neg = 1;
        v = -v;
    }
    s = v * 1000.0f + 0.5f;
    m = (uint64_t)s;
    if (neg && m) out_ch('-');
    out_u64(m / 1000u);
    out_ch('.');
    out_ch((char)('0' + (int)(m / 100u % 10u)));
    out_ch((char)('0' + (int)(m / 10u % 10u)));
    out_ch((char)('0' + (int)(m % 10u)));
}

static void out_end(void)
{
    out_ch('\r');
    out_ch('\n');
    out_flush();
}

static void line(const char *s)
{
    out_str(s);
    out_end();
}

static void err_line(const char *a, const char *b)
{
    out_str("e-[");
    out_str(a);
    if (b) out_clean(b, EK_ERR_MAX);
    out_ch(']');
    out_end();
}

/* ------------------------------------------------------------------ parsing */

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decimal digits only, no sign, value <= max. 0 on success. */
static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    uint32_t v = 0;
    if (!s || !*s) return -1;
    for (; *s; s++) {
        uint32_t d;
        if (*s < '0' || *s > '9') return -1;
        d = (uint32_t)(*s - '0');
        if (d > max || v > (max - d) / 10u) return -1; /* d > max: max - d would wrap */
        v = v * 10u + d;
    }
    *out = v;
    return 0;
}

/* Validate a whole hex string first so a bad one never leaves a half-written buffer. */
static int hex_check(const char *s, size_t *nbytes)
{
    size_t n = strlen(s), i;
    if (n == 0 || (n & 1u)) return -1;
    for (i = 0; i < n; i++)
        if (hex_nibble(s[i]) < 0) return -1;
    *nbytes = n / 2;
    return 0;
}

static void hex_decode(const char *s, int8_t *dst, size_t nbytes)
{
    size_t i;
    for (i = 0; i < nbytes; i++)
        dst[i] = (int8_t)(uint8_t)((hex_nibble(s[2 * i]) << 4) | hex_nibble(s[2 * i + 1]));
}

/* ------------------------------------------------------------------ commands */

static int need_model(void)
{
    if (s_model_ok) return 1;
    err_line("model not initialised: ", s_model_err);
    return 0;
}

/* Copy the loaded input into the model. The arena planner may reuse the input tensor for
 * activations, so this is done before every invoke. A short load is padded with the zero point. */
static void load_input(void)
{
    int8_t *in = ek_model_input();
    memcpy(in, s_db, s_db_have);
    if (s_db_have < EK_INPUT_SIZE)
        memset(in + s_db_have, (int8_t)EK_INPUT_ZERO_POINT, EK_INPUT_SIZE - s_db_have);
}

static int invoke_once(void)
{
    char err[EK_ERR_MAX];
    err[0] = 0;
    if (ek_model_invoke(err, sizeof err) != 0) {
        err[sizeof err - 1] = 0;
        err_line("model: ", err);
        s_have_result = 0;
        return -1;
    }
    return 0;
}

static void keep_result(uint64_t ticks, uint32_t n)
{
    memcpy(s_last_out, ek_model_output(), EK_OUTPUT_SIZE);
    s_last_ticks = ticks;
    s_last_n = n;
    s_have_result = 1;
}

static uint64_t ticks_to_us(uint64_t t)
{
    uint64_t hz = ek_port_tick_hz();
    if (hz == 0) hz = 1;
    return (t / hz) * 1000000u + (t % hz) * 1000000u / hz;
}

static void cmd_db(char **tok, int ntok)
{
    if (ntok >= 2 && strcmp(tok[1], "load") == 0) {
        uint32_t n;
        s_db_expect = s_db_have = 0;
        if (ntok != 3 || parse_u32(tok[2], EK_INPUT_SIZE, &n) != 0 || n == 0) {
            out_str("e-[db load: N must be 1..");
            out_u64(EK_INPUT_SIZE);
            out_ch(']');
            out_end();
            return;
        }
        s_db_expect = n;
        out_str("m-load-expecting-[");
        out_u64(n);
        out_ch(']');
        out_end();
        return;
    }
    if (ntok == 2) {
        size_t nb;
        if (s_db_expect == 0 || s_db_have >= s_db_expect) {
            err_line("db: no load pending (send db load N first)", 0);
            return;
        }
        if (hex_check(tok[1], &nb) != 0) {
            s_db_expect = s_db_have = 0;
            err_line("db: expected an even number of hex digits; buffer reset", 0);
            return;
        }
        if (nb > s_db_expect - s_db_have) {
            s_db_expect = s_db_have = 0;
            err_line("db: more bytes than db load announced; buffer reset", 0);
            return;
        }
        hex_decode(tok[1], s_db + s_db_have, nb);
        s_db_have += nb;
        if (s_db_have == s_db_expect) line("m-load-done");
        return;
    }
    err_line("db: usage db load N | db HEX", 0);
}

static void print_results(void)
{
    size_t i;
    out_str("m-results-[");
    for (i = 0; i < EK_OUTPUT_SIZE; i++) {
        float v = (float)((int32_t)s_last_out[i] - (int32_t)EK_OUTPUT_ZERO_POINT) * EK_OUTPUT_SCALE;
        if (i) out_ch(',');
        out_fixed3(v);
    }
    out_ch(']');
    out_end();
}

static void cmd_infer(char **tok, int ntok)
{
    uint32_t n, w = 0, i;
    uint64_t t0, t1;
    if (ntok < 2 || ntok > 3 || parse_u32(tok[1], EK_INFER_MAX, &n) != 0 || n == 0 ||
        (ntok == 3 && parse_u32(tok[2], EK_INFER_MAX, &w) != 0)) {
        err_line("infer: usage infer N W with N 1..100000, W 0..100000", 0);
        return;
    }
    if (s_db_expect == 0 || s_db_have != s_db_expect) {
        err_line("infer: no complete input (db load N, then db HEX)", 0);
        return;
    }
    if (!need_model()) return;
    out_str("m-warmup-start-[");
    out_u64(w);
    out_ch(']');
    out_end();
    for (i = 0; i < w; i++) {
        load_input();
        if (invoke_once() != 0) return;
    }
    line("m-warmup-done");
    out_str("m-infer-start-[");
    out_u64(n);
    out_ch(']');
    out_end();
    /* One measurement around all N runs (the 192-byte input copy per run is inside it:
     * negligible next to an inference); m-lap-us and ek-ticks come from the same two readings. */
    t0 = now64();
    for (i = 0; i < n; i++) {
        load_input();
        if (invoke_once() != 0) return;
        (void)now64(); /* keeps the 64-bit extension valid over long loops */
    }
    t1 = now64();
    /* EEMBC's th_timestamp() format, number bare: the MLPerf Tiny runner matches
     * ^m-lap-us-([0-9]+)$ */
    out_str("m-lap-us-");
    out_u64(ticks_to_us(t0));
    out_end();
    out_str("m-lap-us-");
    out_u64(ticks_to_us(t1));
    out_end();
    keep_result(t1 - t0, n);
    line("m-infer-done");
    print_results();
}

static void cmd_ek_run(char **tok, int ntok)
{
    size_t nb;
    uint64_t t0, t1;
    if (ntok != 2 || hex_check(tok[1], &nb) != 0 || nb != EK_INPUT_SIZE) {
        out_str("e-[ek-run: expected ");
        out_u64(2u * EK_INPUT_SIZE);
        out_str(" hex digits]");
        out_end();
        return;
    }
    if (!need_model()) return;
    hex_decode(tok[1], ek_model_input(), nb);
    t0 = now64();
    if (invoke_once() != 0) return;
    t1 = now64();
    keep_result(t1 - t0, 1);
    out_str("m-ek-run-[");
    out_hex(s_last_out, EK_OUTPUT_SIZE);
    out_str("]-ticks[");
    out_u64(s_last_ticks);
    out_ch(']');
    out_end();
}

static void cmd_ek_info(void)
{
    ek_model_info_t info;
    if (!need_model()) return;
    memset(&info, 0, sizeof info);
    ek_model_get_info(&info);
    out_str("m-ek-info-runtime[");
    out_clean(info.runtime ? info.runtime : "?", 32);
    out_str("]-hash[" EK_MODEL_HASH "]-arena[");
    out_u64(info.arena_bytes);
    out_str("]-used[");
    out_u64(info.arena_used);
    out_str("]-in[");
    out_u64(info.input_bytes);
    out_str("]-out[");
    out_u64(info.output_bytes);
    out_str("]-tick[");
    out_clean(ek_port_tick_unit(), 32);
    out_str("]-hz[");
    out_u64(ek_port_tick_hz());
    out_ch(']');
    out_end();
}


/* ------------------------------------------------------------------ streaming (ek-stream, ek-sblk)
 *
 * Raw samples in, a decision every hop: "ek-sblk SEQ NCH NS%" is followed by exactly
 * NCH * NS * 2 binary bytes (int16 little-endian, sample after sample, all channels of a sample
 * together). The payload is consumed byte by byte as it arrives (one sample buffered, nothing
 * else), so its length is bounded only by EK_SBLK_MAX_SAMPLES. A block the device cannot use
 * (wrong channel count or length) is still read to its end, so the framing never slips. */

#define EK_VOTE_MAX 32u
#define EK_SBLK_MAX_SAMPLES 65535u

#if EK_FEAT_CHAIN
static ek_features_t s_feat;
static int16_t s_sample[EK_FEAT_CHANNELS];
static int8_t s_frame[EK_INPUT_SIZE];
static uint8_t s_pl_lo;             /* low byte of the sample value being received */
static uint8_t s_vote[EK_VOTE_MAX]; /* the last k classes, oldest first */
#endif
static int s_st_on; /* ek-stream-start done */
static uint32_t s_st_vote_k = 1u;
static int s_st_echo;          /* print each frame (exactness checks) */
static int s_st_realtime;      /* check the board keeps up with the sample rate */
static uint32_t s_st_next_seq; /* the sequence number the next block must carry */
static uint32_t s_st_hops;     /* frames since the stream (re)started */
static uint32_t s_vote_n;      /* valid entries (<= k) */
static uint64_t s_st_lag;      /* ticks behind real time (realtime mode) */
static uint64_t s_hop_feat_ticks;

/* The payload being consumed. */
static uint32_t s_pl_left; /* bytes still to come */
static uint32_t s_pl_pos;  /* bytes into the current sample */
static int s_pl_use;       /* 0: drain only (bad block) */
static uint32_t s_pl_seq, s_pl_samples, s_pl_hops;
static uint64_t s_pl_ticks; /* processing ticks of this block */

static void stream_restart(void)
{
#if EK_FEAT_CHAIN
    ek_features_reset(&s_feat);
#endif
    s_st_hops = 0;
    s_vote_n = 0;
    s_st_lag = 0;
    s_hop_feat_ticks = 0;
}

#if EK_FEAT_CHAIN
typedef char ek_vote_classes_fit_u8[(EK_OUTPUT_SIZE <= 256) ? 1 : -1];

/* Majority over the last k classes; a tie goes to the class voted most recently. */
static uint32_t vote_push(uint8_t cls)
{
    uint32_t count[256];
    uint32_t i, best = cls, best_n = 0;
    if (s_vote_n == s_st_vote_k) {
        memmove(s_vote, s_vote + 1, s_vote_n - 1u);
        s_vote_n--;
    }
    s_vote[s_vote_n++] = cls;
    for (i = 0; i < s_vote_n; i++) count[s_vote[i]] = 0;
    for (i = 0; i < s_vote_n; i++) count[s_vote[i]]++;
    for (i = s_vote_n; i-- > 0;) {
        if (count[s_vote[i]] > best_n) {
            best_n = count[s_vote[i]];
            best = s_vote[i];
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

/* A frame is ready: run the model, vote, answer the hop. */
static void stream_hop(void)
{
    uint64_t t0, t1;
    uint32_t cls, dec;
    memcpy(ek_model_input(), s_frame, EK_INPUT_SIZE);
    t0 = now64();
    if (invoke_once() != 0) return;
    t1 = now64();
    keep_result(t1 - t0, 1);
    cls = argmax_out(s_last_out);
    dec = vote_push((uint8_t)cls);
    out_str("m-ek-hop-[");
    out_u64(s_st_hops);
    out_str("]-out[");
    out_hex(s_last_out, EK_OUTPUT_SIZE);
    out_str("]-class[");
    out_u64(cls);
    out_str("]-vote[");
    out_u64(dec);
    out_str("]-ft[");
    out_u64(s_hop_feat_ticks);
    out_str("]-it[");
    out_u64(t1 - t0);
    out_ch(']');
    if (s_st_echo) {
        out_str("-in[");
        out_hex(s_frame, EK_INPUT_SIZE);
        out_ch(']');
    }
    out_end();
    s_pl_ticks += t1 - t0;
    s_hop_feat_ticks = 0;
    s_st_hops++;
    s_pl_hops++;
}
#endif

static int need_stream(void)
{
#if EK_FEAT_CHAIN
    if (!need_model()) return 0;
    return 1;
#else
    err_line("stream: this model has no on-device feature chain (trained with zero-phase or raw "
             "features; retrain with --filter causal)",
             0);
    return 0;
#endif
}

/* ek-stream-start [K [ECHO [REALTIME]]] */
static void cmd_stream_start(char **tok, int ntok)
{
    uint32_t k = 1, echo = 0, rt = 0;
    if (ntok > 4 || (ntok >= 2 && (parse_u32(tok[1], EK_VOTE_MAX, &k) != 0 || k == 0)) ||
        (ntok >= 3 && parse_u32(tok[2], 1, &echo) != 0) ||
        (ntok >= 4 && parse_u32(tok[3], 1, &rt) != 0)) {
        out_str("e-[ek-stream-start: usage ek-stream-start K ECHO REALTIME, K 1..");
        out_u64(EK_VOTE_MAX);
        out_str(", ECHO 0|1, REALTIME 0|1]");
        out_end();
        return;
    }
    if (!need_stream()) return;
    s_st_vote_k = k;
    s_st_echo = (int)echo;
    s_st_realtime = (int)rt;
    s_st_next_seq = 0;
    s_st_on = 1;
    stream_restart();
#if EK_FEAT_CHAIN
    out_str("m-ek-stream-ch[");
    out_u64(EK_FEAT_CHANNELS);
    out_str("]-hop[");
    out_u64(EK_FEAT_HOP);
    out_str("]-blocks[");
    out_u64(EK_FEAT_BLOCKS);
    out_str("]-vote[");
    out_u64(k);
    out_str("]-max[");
    out_u64(EK_SBLK_MAX_SAMPLES);
    out_ch(']');
    out_end();
#endif
}

/* ek-stream-vote K: a new vote length; the vote history starts again. */
static void cmd_stream_vote(char **tok, int ntok)
{
    uint32_t k;
    if (ntok != 2 || parse_u32(tok[1], EK_VOTE_MAX, &k) != 0 || k == 0) {
        out_str("e-[ek-stream-vote: K must be 1..");
        out_u64(EK_VOTE_MAX);
        out_ch(']');
        out_end();
        return;
    }
    s_st_vote_k = k;
    s_vote_n = 0;
    out_str("m-ek-stream-vote-[");
    out_u64(k);
    out_ch(']');
    out_end();
}

/* ek-sblk SEQ NCH NS: returns 1 when a payload follows (m-ready comes after it). */
static int cmd_sblk(char **tok, int ntok)
{
    uint32_t seq, nch, ns;
    if (ntok != 4 || parse_u32(tok[1], 0xffffffffu, &seq) != 0 ||
        parse_u32(tok[2], 0xffffu, &nch) != 0 || parse_u32(tok[3], 0xffffffffu, &ns) != 0) {
        err_line("ek-sblk: usage ek-sblk SEQ NCH NS, then NCH*NS int16 LE (no payload read)", 0);
        return 0;
    }
    s_pl_use = 0;
    s_pl_seq = seq;
    s_pl_samples = ns;
    s_pl_hops = 0;
    s_pl_ticks = 0;
    s_pl_pos = 0;
    if ((uint64_t)nch * ns * 2u > 0xffffffffu) {
        err_line("ek-sblk: block larger than 4 GB; cannot skip it, send ek-stream-start", 0);
        return 0;
    }
    s_pl_left = nch * ns * 2u;
    if (!s_st_on) {
        err_line("ek-sblk: no stream (send ek-stream-start first); block skipped", 0);
#if EK_FEAT_CHAIN
    } else if (nch != EK_FEAT_CHANNELS) {
        out_str("e-[ek-sblk: block ");
        out_u64(seq);
        out_str(" has ");
        out_u64(nch);
        out_str(" channels, the model expects ");
        out_u64(EK_FEAT_CHANNELS);
        out_str("; block skipped, stream reset]");
        out_end();
        stream_restart();
        s_st_next_seq = seq + 1u;
#endif
    } else if (ns == 0 || ns > EK_SBLK_MAX_SAMPLES) {
        out_str("e-[ek-sblk: block ");
        out_u64(seq);
        out_str(" has ");
        out_u64(ns);
        out_str(" samples, expected 1..");
        out_u64(EK_SBLK_MAX_SAMPLES);
        out_str("; block skipped, stream reset]");
        out_end();
        stream_restart();
        s_st_next_seq = seq + 1u;
    } else {
        if (seq != s_st_next_seq) {
            out_str("e-[ek-sblk: sequence gap: expected ");
            out_u64(s_st_next_seq);
            out_str(", got ");
            out_u64(seq);
            out_str("; stream reset, this block starts it]");
            out_end();
            stream_restart();
        }
        s_st_next_seq = seq + 1u;
        s_pl_use = 1;
    }
    return s_pl_left > 0;
}

static void sblk_done(void)
{
    if (s_pl_use) {
#if EK_FEAT_CHAIN
        if (s_st_realtime) {
            /* Real time: the block's samples span ns / fs seconds; processing longer than that
             * makes the board fall behind. Report once it is a hop or more behind. */
            uint64_t span = (uint64_t)s_pl_samples * ek_port_tick_hz() / (uint64_t)(EK_FS_HZ);
            s_st_lag = s_st_lag + s_pl_ticks > span ? s_st_lag + s_pl_ticks - span : 0;
            if (s_st_lag > (uint64_t)EK_FEAT_HOP * ek_port_tick_hz() / (uint64_t)(EK_FS_HZ)) {
                out_str("e-[ek-sblk: overrun: ");
                out_u64(s_st_lag);
                out_str(" ticks behind real time after block ");
                out_u64(s_pl_seq);
                out_str("; the board cannot keep up with this rate (nothing dropped)]");
                out_end();
                s_st_lag = 0;
            }
        }
#endif
        out_str("m-ek-sblk-[");
        out_u64(s_pl_seq);
        out_str("]-hops[");
        out_u64(s_pl_hops);
        out_str("]-ticks[");
        out_u64(s_pl_ticks);
        out_ch(']');
        out_end();
    }
    line("m-ready");
}

/* One payload byte. */
static void sblk_byte(uint8_t b)
{
    s_pl_left--;
#if EK_FEAT_CHAIN
    if (s_pl_use) {
        if ((s_pl_pos & 1u) == 0) {
            s_pl_lo = b;
        } else {
            s_sample[s_pl_pos >> 1] = (int16_t)(uint16_t)((uint16_t)s_pl_lo | ((uint16_t)b << 8));
        }
        if (++s_pl_pos == 2u * EK_FEAT_CHANNELS) {
            uint64_t t0 = now64(), t1;
            int ready = ek_features_push(&s_feat, s_sample, s_frame);
            t1 = now64();
            s_hop_feat_ticks += t1 - t0;
            s_pl_ticks += t1 - t0;
            s_pl_pos = 0;
            if (ready) stream_hop();
        }
    }
#else
    (void)b;
#endif
    if (s_pl_left == 0) sblk_done();
}

static int no_result(void)
{
    if (s_have_result) return 0;
    err_line("no inference yet (infer N W or ek-run HEX first)", 0);
    return 1;
}

/* ------------------------------------------------------------------ op by op (ek-profile, ek-layer) */

static int need_input(const char *cmd)
{
    if (s_db_expect != 0 && s_db_have == s_db_expect) return 1;
    out_str("e-[");
    out_str(cmd);
    out_str(": no complete input (db load N, then db HEX)]");
    out_end();
    return 0;
}

/* The runtime must step one operator at a time (edgekit-rt can, the TFLM glue cannot). */
static int need_steps(const char *cmd)
{
    ek_model_info_t info;
    if (ek_model_op_count() > 0) return 1;
    memset(&info, 0, sizeof info);
    ek_model_get_info(&info);
    out_str("e-[");
    out_str(cmd);
    out_str(": not supported by the ");
    out_clean(info.runtime ? info.runtime : "?", 32);
    out_str(" runtime]");
    out_end();
    return 0;
}

static int invoke_ops(uint32_t first, uint32_t count)
{
    char err[EK_ERR_MAX];
    err[0] = 0;
    if (ek_model_invoke_ops(first, count, err, sizeof err) != 0) {
        err[sizeof err - 1] = 0;
        err_line("model: ", err);
        return -1;
    }
    return 0;
}

/* ek-profile: on the loaded input, one whole inference (timed as ek-run times it), then the
 * same input op by op with a timer reading between ops. One line per op, then the totals:
 *   m-ek-profile-op[i]-code[c]-name[NAME]-macs[M]-ticks[T]-bytes[B]
 *   m-ek-profile-ops[N]-sum[S]-whole[W]-same[1|0]
 * The sum includes one timer read per op, so it is a little above the whole inference;
 * same[1]: the op-by-op run produced the whole run's output bytes. */
static void cmd_ek_profile(void)
{
    uint32_t n, i;
    uint64_t t0, t1, sum = 0;
    ek_model_op_t op;
    if (!need_model() || !need_input("ek-profile") || !need_steps("ek-profile")) return;
    n = ek_model_op_count();
    load_input();
    t0 = now64();
    if (invoke_once() != 0) return;
    t1 = now64();
    keep_result(t1 - t0, 1);
    load_input();
    for (i = 0; i < n; i++) {
        t0 = now64();
        if (invoke_ops(i, 1) != 0) return;
        t1 = now64();
        sum += t1 - t0;
        if (ek_model_op_info(i, &op) != 0) {
            err_line("ek-profile: op info failed", 0);
            return;
        }
        out_str("m-ek-profile-op[");
        out_u64(i);
        out_str("]-code[");
        out_u64((uint64_t)(uint32_t)op.opcode);
        out_str("]-name[");
        out_clean(op.name ? op.name : "", 40);
        out_str("]-macs[");
        out_u64(op.macs);
        out_str("]-ticks[");
        out_u64(t1 - t0);
        out_str("]-bytes[");
        out_u64(op.out_bytes);
        out_ch(']');
        out_end();
    }
    out_str("m-ek-profile-ops[");
    out_u64(n);
    out_str("]-sum[");
    out_u64(sum);
    out_str("]-whole[");
    out_u64(s_last_ticks);
    out_str("]-same[");
    out_ch(memcmp(ek_model_output(), s_last_out, EK_OUTPUT_SIZE) == 0 ? '1' : '0');
    out_ch(']');
    out_end();
}

/* ek-layer I [OFF]: run the loaded input through ops 0..I and return op I's output tensor,
 * at most EK_LAYER_CHUNK bytes from byte OFF (default 0):
 *   m-ek-layer-[I]-at[OFF]-of[TOTAL]-[HEX] */
static void cmd_ek_layer(char **tok, int ntok)
{
    uint32_t idx, off = 0, n;
    ek_model_op_t op;
    size_t len;
    if (ntok < 2 || ntok > 3 || parse_u32(tok[1], 0xFFFFu, &idx) != 0 ||
        (ntok == 3 && parse_u32(tok[2], 0x7FFFFFFFu, &off) != 0)) {
        err_line("ek-layer: usage ek-layer I [OFFSET] (op index, byte offset)", 0);
        return;
    }
    if (!need_model() || !need_input("ek-layer") || !need_steps("ek-layer")) return;
    n = ek_model_op_count();
    if (idx >= n) {
        out_str("e-[ek-layer: op ");
        out_u64(idx);
        out_str(" out of range (the model has ops 0..");
        out_u64(n - 1u);
        out_str(")]");
        out_end();
        return;
    }
    load_input();
    if (invoke_ops(0, idx + 1u) != 0) return;
    if (ek_model_op_info(idx, &op) != 0) {
        err_line("ek-layer: op info failed", 0);
        return;
    }
    /* A PAD folded into the convolution that reads it has no tensor of its own: it answers
     * with an empty tensor (of[0]), and the convolution's output is where it shows. */
    if (op.out_data == 0) op.out_bytes = 0;
    if (off > op.out_bytes) {
        out_str("e-[ek-layer: offset past the end of the ");
        out_u64(op.out_bytes);
        out_str("-byte tensor]");
        out_end();
        return;
    }
    len = op.out_bytes - off;
    if (len > EK_LAYER_CHUNK) len = EK_LAYER_CHUNK;
    out_str("m-ek-layer-[");
    out_u64(idx);
    out_str("]-at[");
    out_u64(off);
    out_str("]-of[");
    out_u64(op.out_bytes);
    out_str("]-[");
    if (len > 0) out_hex(op.out_data + off, len);
    out_ch(']');
    out_end();
}

/* Split in place on spaces; at most 4 tokens (more -> 5, which every command rejects). */
static int tokenize(char *s, char **tok)
{
    int n = 0;
    while (*s) {
        while (*s == ' ') *s++ = 0;
        if (!*s) break;
        if (n == 4) return 5;
        tok[n++] = s;
        while (*s && *s != ' ') s++;
    }
    return n;
}

/* Returns 1 when the command is followed by a binary payload (ek-sblk). */
static int dispatch(void)
{
    char echo[EK_ECHO_MAX + 1];
    char *tok[4];
    int ntok;
    size_t len = s_cmd_len;

    while (len && s_cmd[len - 1] == ' ') len--;
    s_cmd[len] = 0;
    memcpy(echo, s_cmd, EK_ECHO_MAX);
    echo[EK_ECHO_MAX] = 0;
    ntok = tokenize(s_cmd, tok);

    if (ntok == 0) {
        err_line("empty command", 0);
    } else if (strcmp(tok[0], "name") == 0 && ntok == 1) {
        /* EEMBC's m-name-<role>-[<name>]; the MLPerf Tiny runner matches ^m-name-dut-\[([^]]+)]$ */
        out_str("m-name-dut-[edgekit-");
        out_clean(ek_port_name(), 32);
        out_ch(']');
        out_end();
    } else if (strcmp(tok[0], "profile") == 0 && ntok == 1) {
        line("m-profile-[edgekit " EK_APP_VERSION "]");
        line("m-model-[" EK_MODEL_HASH "]");
    } else if (strcmp(tok[0], "db") == 0) {
        cmd_db(tok, ntok);
    } else if (strcmp(tok[0], "infer") == 0) {
        cmd_infer(tok, ntok);
    } else if (strcmp(tok[0], "results") == 0 && ntok == 1) {
        if (!no_result()) print_results();
    } else if (strcmp(tok[0], "ek-info") == 0 && ntok == 1) {
        cmd_ek_info();
    } else if (strcmp(tok[0], "ek-out") == 0 && ntok == 1) {
        if (!no_result()) {
            out_str("m-ek-out-[");
            out_hex(s_last_out, EK_OUTPUT_SIZE);
            out_ch(']');
            out_end();
        }
    } else if (strcmp(tok[0], "ek-ticks") == 0 && ntok == 1) {
        if (!no_result()) {
            out_str("m-ek-ticks-[");
            out_u64(s_last_ticks);
            out_str("]-n[");
            out_u64(s_last_n);
            out_ch(']');
            out_end();
        }
    } else if (strcmp(tok[0], "ek-run") == 0) {
        cmd_ek_run(tok, ntok);
    } else if (strcmp(tok[0], "ek-profile") == 0 && ntok == 1) {
        cmd_ek_profile();
    } else if (strcmp(tok[0], "ek-layer") == 0) {
        cmd_ek_layer(tok, ntok);
    } else if (strcmp(tok[0], "ek-stream-start") == 0) {
        cmd_stream_start(tok, ntok);
    } else if (strcmp(tok[0], "ek-stream-vote") == 0) {
        cmd_stream_vote(tok, ntok);
    } else if (strcmp(tok[0], "ek-sblk") == 0) {
        return cmd_sblk(tok, ntok);
    } else if (strcmp(tok[0], "ek-rx-file") == 0 && ntok == 2) {
        if (ek_port_rx_file(tok[1]) == 0)
            line("m-ek-rx-file-[ok]");
        else
            err_line("ek-rx-file: this port reads the serial link only", 0);
    } else {
        err_line("unknown command: ", echo);
    }
    return 0;
}

/* ------------------------------------------------------------------ loop */

void ek_app_feed(int byte)
{
    char c;
    int payload = 0;
    if (byte < 0 || byte > 255) return;
    if (s_pl_left) { /* inside an ek-sblk payload: binary, not commands */
        sblk_byte((uint8_t)byte);
        return;
    }
    c = (char)byte;
    if (c == '%') {
        if (s_cmd_overflow)
            err_line("command too long", 0);
        else if (s_cmd_badbyte)
            err_line("command has a control or non-ASCII byte", 0);
        else
            payload = dispatch();
        if (!payload) line("m-ready");
        s_cmd_len = 0;
        s_cmd_overflow = s_cmd_badbyte = 0;
        return;
    }
    if (c == '\r' || c == '\n' || c == '\t')
        c = ' '; /* line breaks inside a command separate words like spaces */
    else if (byte < 0x20 || byte > 0x7e)
        s_cmd_badbyte = 1;
    if (c == ' ' && s_cmd_len == 0) return; /* whitespace before a command */
    if (s_cmd_len >= EK_CMD_MAX) {
        s_cmd_overflow = 1;
        return;
    }
    s_cmd[s_cmd_len++] = c;
}

void ek_app_begin(void)
{
    char err[EK_ERR_MAX];
    ek_model_info_t info;
    line("m-boot-[edgekit]");
    err[0] = 0;
    s_model_ok = 0;
    if (ek_model_init(err, sizeof err) != 0) {
        err[sizeof err - 1] = 0;
        memcpy(s_model_err, err, sizeof err);
        err_line("model: ", err);
    } else {
        memset(&info, 0, sizeof info);
        ek_model_get_info(&info);
        if (info.input_bytes != EK_INPUT_SIZE || info.output_bytes != EK_OUTPUT_SIZE) {
            static const char msg[] = "tensor sizes differ from model_meta.h";
            memcpy(s_model_err, msg, sizeof msg);
            err_line("model: ", s_model_err);
        } else {
            s_model_ok = 1;
        }
    }
    (void)now64();
    line("m-ready");
}

int ek_app_main(void)
{
    int c;
    ek_port_init();
    ek_app_begin();
    while ((c = ek_port_read_byte()) >= 0) ek_app_feed(c);
    return 0;
}
