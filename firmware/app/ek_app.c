/* The command loop of the EEMBC / MLPerf Tiny runner protocol plus edgekit's ek- extensions:
 * bytes in, commands ending at '%', one table of commands, one dispatcher.
 *
 * Everything is statically sized (ek_app_state.h): one command buffer (EK_CMD_MAX), one input
 * buffer (EK_INPUT_SIZE), one copy of the last output (EK_OUTPUT_SIZE). Each command gets
 * exactly one reply block ending in "m-ready", whatever bytes came before it. */
#include "ek_app.h"

#include <string.h>

#include "ek_commands.h"
#include "ek_parse.h"
#include "ek_port.h"

#define EK_ECHO_MAX 32 /* chars of an unknown command echoed back */

static void cmd_rx_file(ek_app_t *app, const ek_call_t *call);

/* Every command: its name, the words it takes after the name, the usage its errors quote and
 * its handler. A command is found by its whole first word. */
static const ek_cmd_t k_commands[] = {
    /* EEMBC / MLPerf Tiny runner protocol */
    {"name", 0, 0, NULL, 0, ek_cmd_name},
    {"profile", 0, 0, NULL, 0, ek_cmd_profile},
    {"db", 1, EK_ARGS_ANY, "db: usage db load N | db HEX", 0, ek_cmd_db},
    {"infer", 1, 2, "infer: usage infer N W with N 1..%u, W 0..%u", EK_INFER_MAX, ek_cmd_infer},
    {"results", 0, 0, NULL, 0, ek_cmd_results},
    /* edgekit: exactness (raw int8 outputs, ticks, arena, model hash) */
    {"ek-info", 0, 0, NULL, 0, ek_cmd_info},
    {"ek-out", 0, 0, NULL, 0, ek_cmd_out},
    {"ek-ticks", 0, 0, NULL, 0, ek_cmd_ticks},
    {"ek-run", 1, 1, "ek-run: expected %u hex digits", 2u * EK_INPUT_SIZE, ek_cmd_run},
    /* edgekit: op by op */
    {"ek-profile", 0, 0, NULL, 0, ek_cmd_profile_ops},
    {"ek-layer", 1, 2, "ek-layer: usage ek-layer I [OFFSET] (op index, byte offset)", 0,
     ek_cmd_layer},
    /* edgekit: streaming */
    {"ek-stream-start", 0, 3,
     "ek-stream-start: usage ek-stream-start K ECHO REALTIME, K 1..%u, ECHO 0|1, REALTIME 0|1",
     EK_VOTE_MAX, ek_cmd_stream_start},
    {"ek-stream-vote", 1, 1, "ek-stream-vote: K must be 1..%u", EK_VOTE_MAX, ek_cmd_stream_vote},
    {"ek-sblk", 3, 3, "ek-sblk: usage ek-sblk SEQ NCH NS, then NCH*NS int16 LE (no payload read)",
     0, ek_cmd_sblk},
    {"ek-rx-file", 1, 1, NULL, 0, cmd_rx_file},
    /* edgekit: calibration while streaming */
    {"ek-calib-start", 0, 1, "ek-calib-start: usage ek-calib-start [out-lda|ncm]", 0,
     ek_cmd_calib_start},
    {"ek-calib-label", 1, 1, "ek-calib-label: usage ek-calib-label L|none, L a class 0..%u",
     EK_OUTPUT_SIZE - 1u, ek_cmd_calib_label},
    {"ek-calib-solve", 0, 0, NULL, 0, ek_cmd_calib_solve},
    {"ek-calib-head", 0, 1, "ek-calib-head: usage ek-calib-head [OFFSET] (byte offset)", 0,
     ek_cmd_calib_head},
    {"ek-calib-reset", 0, 0, NULL, 0, ek_cmd_calib_reset},
};

static ek_app_t s_app;

void ek_cmd_usage(ek_app_t *app, const ek_call_t *call)
{
    ek_reply_err_n(&app->reply, call->cmd->usage, call->cmd->usage_n);
}

/* ek-rx-file PATH: read the host's bytes from a host file from now on (ek_port.h). */
static void cmd_rx_file(ek_app_t *app, const ek_call_t *call)
{
    if (ek_port_rx_file(call->tok[1]) == 0)
        ek_reply_line(&app->reply, "m-ek-rx-file-[ok]");
    else
        ek_reply_err(&app->reply, "ek-rx-file: this port reads the serial link only", 0);
}

static const ek_cmd_t *find_command(const char *name)
{
    size_t i;
    for (i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        if (strcmp(k_commands[i].name, name) == 0) return &k_commands[i];
    return NULL;
}

/* Run the command in app->cmd (complete, without its '%'). */
static void dispatch(ek_app_t *app)
{
    char echo[EK_ECHO_MAX + 1];
    ek_call_t call;
    size_t len = app->cmd.len;
    int nargs;

    while (len && app->cmd.text[len - 1] == ' ') len--;
    app->cmd.text[len] = 0;
    memcpy(echo, app->cmd.text, EK_ECHO_MAX);
    echo[EK_ECHO_MAX] = 0;
    call.ntok = ek_split_words(app->cmd.text, call.tok, EK_TOK_MAX);
    if (call.ntok == 0) {
        ek_reply_err(&app->reply, "empty command", 0);
        return;
    }
    call.cmd = find_command(call.tok[0]);
    nargs = call.ntok - 1;
    if (call.cmd && (nargs < call.cmd->min_args || nargs > call.cmd->max_args)) {
        if (call.cmd->usage) {
            ek_cmd_usage(app, &call);
            return;
        }
        call.cmd = NULL; /* "name foo" is no command */
    }
    if (!call.cmd) {
        ek_reply_err(&app->reply, "unknown command: ", echo);
        return;
    }
    call.cmd->run(app, &call);
}

void ek_app_feed(int byte)
{
    ek_app_t *app = &s_app;
    ek_cmdline_t *cl = &app->cmd;
    char c;
    if (byte < 0 || byte > 255) return;
    if (app->sblk.left) { /* inside an ek-sblk payload: binary, not commands */
        ek_sblk_byte(app, (uint8_t)byte);
        return;
    }
    c = (char)byte;
    if (c == '%') {
        if (cl->overflow)
            ek_reply_err(&app->reply, "command too long", 0);
        else if (cl->badbyte)
            ek_reply_err(&app->reply, "command has a control or non-ASCII byte", 0);
        else
            dispatch(app);
        if (!app->sblk.left) ek_reply_line(&app->reply, "m-ready"); /* else after the payload */
        cl->len = 0;
        cl->overflow = cl->badbyte = 0;
        return;
    }
    if (c == '\r' || c == '\n' || c == '\t')
        c = ' '; /* line breaks inside a command separate words like spaces */
    else if (byte < 0x20 || byte > 0x7e)
        cl->badbyte = 1;
    if (c == ' ' && cl->len == 0) return; /* whitespace before a command */
    if (cl->len >= EK_CMD_MAX) {
        cl->overflow = 1;
        return;
    }
    cl->text[cl->len++] = c;
}

void ek_app_begin(void)
{
    ek_app_t *app = &s_app;
    ek_reply_line(&app->reply, "m-boot-[edgekit]");
    app->vote.k = 1u;
    ek_model_start(app);
    (void)ek_clock_now(&app->clock);
    ek_reply_line(&app->reply, "m-ready");
}

int ek_app_main(void)
{
    int c;
    ek_port_init();
    ek_app_begin();
    while ((c = ek_port_read_byte()) >= 0) ek_app_feed(c);
    return 0;
}
