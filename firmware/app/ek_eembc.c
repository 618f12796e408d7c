/* The EEMBC / MLPerf Tiny runner protocol's commands: name, profile, db load N / db HEX,
 * infer N W, results. The MLPerf Tiny runner matches some replies by regular expression: their
 * form is quoted where they are made. */
#include <string.h>

#include "ek_commands.h"
#include "ek_parse.h"
#include "ek_port.h"

/* EEMBC's m-name-<role>-[<name>]; the runner matches ^m-name-dut-\[([^]]+)]$ */
void ek_cmd_name(ek_app_t *app, const ek_call_t *call)
{
    ek_reply_t *r = &app->reply;
    (void)call;
    ek_reply_str(r, "m-name-dut-[edgekit-");
    ek_reply_clean(r, ek_port_name(), 32);
    ek_reply_ch(r, ']');
    ek_reply_end(r);
}

void ek_cmd_profile(ek_app_t *app, const ek_call_t *call)
{
    (void)call;
    ek_reply_line(&app->reply, "m-profile-[edgekit " EK_APP_VERSION "]");
    ek_reply_line(&app->reply, "m-model-[" EK_MODEL_HASH "]");
}

/* db load N: announce N input bytes (any previous input is dropped). */
static void db_load(ek_app_t *app, const ek_call_t *call)
{
    uint32_t n;
    app->db.expect = app->db.have = 0;
    if (call->ntok != 3 || ek_parse_u32(call->tok[2], EK_INPUT_SIZE, &n) != 0 || n == 0) {
        ek_reply_err_n(&app->reply, "db load: N must be 1..%u", EK_INPUT_SIZE);
        return;
    }
    app->db.expect = n;
    ek_reply_line_n(&app->reply, "m-load-expecting-[%u]", n);
}

/* db HEX: the next bytes of the announced input; m-load-done once all have come. A bad chunk
 * drops the whole input, so a half-loaded buffer is never run. */
static void db_hex(ek_app_t *app, const char *hex)
{
    ek_db_t *db = &app->db;
    size_t nb;
    if (db->expect == 0 || db->have >= db->expect) {
        ek_reply_err(&app->reply, "db: no load pending (send db load N first)", 0);
        return;
    }
    if (ek_hex_check(hex, &nb) != 0) {
        db->expect = db->have = 0;
        ek_reply_err(&app->reply, "db: expected an even number of hex digits; buffer reset", 0);
        return;
    }
    if (nb > db->expect - db->have) {
        db->expect = db->have = 0;
        ek_reply_err(&app->reply, "db: more bytes than db load announced; buffer reset", 0);
        return;
    }
    ek_hex_decode(hex, db->data + db->have, nb);
    db->have += nb;
    if (db->have == db->expect) ek_reply_line(&app->reply, "m-load-done");
}

/* The table lets any word count through: "db load" with the wrong count has its own error. */
void ek_cmd_db(ek_app_t *app, const ek_call_t *call)
{
    if (strcmp(call->tok[1], "load") == 0)
        db_load(app, call);
    else if (call->ntok == 2)
        db_hex(app, call->tok[1]);
    else
        ek_cmd_usage(app, call);
}

/* m-results-[v0,v1,...]: the last output dequantized, "%.3f" each. */
static void print_results(ek_app_t *app)
{
    ek_reply_t *r = &app->reply;
    size_t i;
    ek_reply_str(r, "m-results-[");
    for (i = 0; i < EK_OUTPUT_SIZE; i++) {
        int32_t q = (int32_t)app->result.out[i] - (int32_t)EK_OUTPUT_ZERO_POINT;
        if (i) ek_reply_ch(r, ',');
        ek_reply_fixed3(r, (float)q * EK_OUTPUT_SCALE);
    }
    ek_reply_ch(r, ']');
    ek_reply_end(r);
}

void ek_cmd_results(ek_app_t *app, const ek_call_t *call)
{
    (void)call;
    if (ek_need_result(app)) print_results(app);
}

/* infer N W: W warm-up runs, then N timed runs on the loaded input. */
void ek_cmd_infer(ek_app_t *app, const ek_call_t *call)
{
    ek_reply_t *r = &app->reply;
    uint32_t n, w = 0, i;
    uint64_t t0, t1;
    if (ek_parse_u32(call->tok[1], EK_INFER_MAX, &n) != 0 || n == 0 ||
        (call->ntok == 3 && ek_parse_u32(call->tok[2], EK_INFER_MAX, &w) != 0)) {
        ek_cmd_usage(app, call);
        return;
    }
    if (!ek_need_input(app, call) || !ek_need_model(app)) return;
    ek_reply_line_n(r, "m-warmup-start-[%u]", w);
    for (i = 0; i < w; i++) {
        ek_load_input(app);
        if (ek_invoke(app) != 0) return;
    }
    ek_reply_line(r, "m-warmup-done");
    ek_reply_line_n(r, "m-infer-start-[%u]", n);
    /* One measurement around all N runs (the input copy per run is inside it: negligible next
     * to an inference); m-lap-us and ek-ticks come from the same two readings. */
    t0 = ek_clock_now(&app->clock);
    for (i = 0; i < n; i++) {
        ek_load_input(app);
        if (ek_invoke(app) != 0) return;
        (void)ek_clock_now(&app->clock); /* keeps the 64-bit extension valid over long loops */
    }
    t1 = ek_clock_now(&app->clock);
    /* EEMBC's th_timestamp() format, number bare: the runner matches ^m-lap-us-([0-9]+)$ */
    ek_reply_line_n(r, "m-lap-us-%u", ek_ticks_to_us(t0));
    ek_reply_line_n(r, "m-lap-us-%u", ek_ticks_to_us(t1));
    ek_keep_result(app, t1 - t0, n);
    ek_reply_line(r, "m-infer-done");
    print_results(app);
}
