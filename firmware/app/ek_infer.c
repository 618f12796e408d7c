/* Running the model for the commands (input copy, invoke, the kept result, the clock), and
 * edgekit's exactness extensions that answer from it: ek-run, ek-out, ek-ticks, ek-info. */
#include <string.h>

#include "ek_commands.h"
#include "ek_model.h"
#include "ek_parse.h"
#include "ek_port.h"

uint64_t ek_clock_now(ek_clock_t *c)
{
    uint32_t t = ek_port_ticks();
    if (t < c->last) c->high += (uint64_t)1 << 32;
    c->last = t;
    return c->high | t;
}

uint64_t ek_ticks_to_us(uint64_t t)
{
    uint64_t hz = ek_port_tick_hz();
    if (hz == 0) hz = 1;
    return (t / hz) * 1000000u + (t % hz) * 1000000u / hz;
}

void ek_model_start(ek_app_t *app)
{
    char err[EK_ERR_MAX];
    ek_model_info_t info;
    err[0] = 0;
    app->model.ok = 0;
    if (ek_model_init(err, sizeof err) != 0) {
        err[sizeof err - 1] = 0;
        memcpy(app->model.err, err, sizeof err);
        ek_reply_err(&app->reply, "model: ", err);
        return;
    }
    memset(&info, 0, sizeof info);
    ek_model_get_info(&info);
    if (info.input_bytes != EK_INPUT_SIZE || info.output_bytes != EK_OUTPUT_SIZE) {
        static const char msg[] = "tensor sizes differ from model_meta.h";
        memcpy(app->model.err, msg, sizeof msg);
        ek_reply_err(&app->reply, "model: ", app->model.err);
        return;
    }
    app->model.ok = 1;
}

int ek_need_model(ek_app_t *app)
{
    if (app->model.ok) return 1;
    ek_reply_err(&app->reply, "model not initialised: ", app->model.err);
    return 0;
}

int ek_need_input(ek_app_t *app, const ek_call_t *call)
{
    ek_reply_t *r = &app->reply;
    if (app->db.expect != 0 && app->db.have == app->db.expect) return 1;
    ek_reply_str(r, "e-[");
    ek_reply_str(r, call->cmd->name);
    ek_reply_str(r, ": no complete input (db load N, then db HEX)]");
    ek_reply_end(r);
    return 0;
}

int ek_need_result(ek_app_t *app)
{
    if (app->result.have) return 1;
    ek_reply_err(&app->reply, "no inference yet (infer N W or ek-run HEX first)", 0);
    return 0;
}

/* The arena planner may reuse the input tensor for activations, so the input is copied before
 * every invoke. A short load is padded with the zero point. */
void ek_load_input(ek_app_t *app)
{
    int8_t *in = ek_model_input();
    memcpy(in, app->db.data, app->db.have);
    if (app->db.have < EK_INPUT_SIZE)
        memset(in + app->db.have, (int8_t)EK_INPUT_ZERO_POINT, EK_INPUT_SIZE - app->db.have);
}

int ek_invoke(ek_app_t *app)
{
    char err[EK_ERR_MAX];
    err[0] = 0;
    if (ek_model_invoke(err, sizeof err) != 0) {
        err[sizeof err - 1] = 0;
        ek_reply_err(&app->reply, "model: ", err);
        app->result.have = 0;
        return -1;
    }
    return 0;
}

void ek_keep_result(ek_app_t *app, uint64_t ticks, uint32_t n)
{
    memcpy(app->result.out, ek_model_output(), EK_OUTPUT_SIZE);
    app->result.ticks = ticks;
    app->result.n = n;
    app->result.have = 1;
}

/* ek-run HEX: one inference on the input given inline, timed alone.
 *   m-ek-run-[OUTHEX]-ticks[T] */
void ek_cmd_run(ek_app_t *app, const ek_call_t *call)
{
    ek_reply_t *r = &app->reply;
    size_t nb;
    uint64_t t0, t1;
    if (ek_hex_check(call->tok[1], &nb) != 0 || nb != EK_INPUT_SIZE) {
        ek_cmd_usage(app, call);
        return;
    }
    if (!ek_need_model(app)) return;
    ek_hex_decode(call->tok[1], ek_model_input(), nb);
    t0 = ek_clock_now(&app->clock);
    if (ek_invoke(app) != 0) return;
    t1 = ek_clock_now(&app->clock);
    ek_keep_result(app, t1 - t0, 1);
    ek_reply_str(r, "m-ek-run-[");
    ek_reply_hex(r, app->result.out, EK_OUTPUT_SIZE);
    ek_reply_str(r, "]-ticks[");
    ek_reply_u64(r, app->result.ticks);
    ek_reply_ch(r, ']');
    ek_reply_end(r);
}

/* ek-out: the last result's raw int8 output. */
void ek_cmd_out(ek_app_t *app, const ek_call_t *call)
{
    ek_reply_t *r = &app->reply;
    (void)call;
    if (!ek_need_result(app)) return;
    ek_reply_str(r, "m-ek-out-[");
    ek_reply_hex(r, app->result.out, EK_OUTPUT_SIZE);
    ek_reply_ch(r, ']');
    ek_reply_end(r);
}

/* ek-ticks: the timer ticks of the last result's runs, and how many runs. */
void ek_cmd_ticks(ek_app_t *app, const ek_call_t *call)
{
    ek_reply_t *r = &app->reply;
    (void)call;
    if (!ek_need_result(app)) return;
    ek_reply_str(r, "m-ek-ticks-[");
    ek_reply_u64(r, app->result.ticks);
    ek_reply_str(r, "]-n[");
    ek_reply_u64(r, app->result.n);
    ek_reply_ch(r, ']');
    ek_reply_end(r);
}

/* ek-info: runtime, model hash, arena, tensor sizes, the timer's unit and rate. */
void ek_cmd_info(ek_app_t *app, const ek_call_t *call)
{
    ek_reply_t *r = &app->reply;
    ek_model_info_t info;
    (void)call;
    if (!ek_need_model(app)) return;
    memset(&info, 0, sizeof info);
    ek_model_get_info(&info);
    ek_reply_str(r, "m-ek-info-runtime[");
    ek_reply_clean(r, info.runtime ? info.runtime : "?", 32);
    ek_reply_str(r, "]-hash[" EK_MODEL_HASH "]-arena[");
    ek_reply_u64(r, info.arena_bytes);
    ek_reply_str(r, "]-used[");
    ek_reply_u64(r, info.arena_used);
    ek_reply_str(r, "]-in[");
    ek_reply_u64(r, info.input_bytes);
    ek_reply_str(r, "]-out[");
    ek_reply_u64(r, info.output_bytes);
    ek_reply_str(r, "]-tick[");
    ek_reply_clean(r, ek_port_tick_unit(), 32);
    ek_reply_str(r, "]-hz[");
    ek_reply_u64(r, ek_port_tick_hz());
    ek_reply_ch(r, ']');
    ek_reply_end(r);
}
