/* The command table's types, the commands (one handler each, in the file of their job) and the
 * helpers they share. The table itself, and the one dispatcher that walks it, are in ek_app.c. */
#ifndef EK_COMMANDS_H
#define EK_COMMANDS_H

#include <stdint.h>

#include "ek_app_state.h"

#define EK_TOK_MAX 4 /* words kept of a command, its name included */

struct ek_cmd;

/* One received command, split into words. */
typedef struct {
    const struct ek_cmd *cmd; /* its table row */
    int ntok;                 /* words, the name included; EK_TOK_MAX + 1: more than EK_TOK_MAX */
    char *tok[EK_TOK_MAX];
} ek_call_t;

/* A handler answers with its reply lines; the loop adds m-ready (after the payload, for a
 * command that leaves app->sblk.left nonzero). */
typedef void (*ek_cmd_fn)(ek_app_t *app, const ek_call_t *call);

#define EK_ARGS_ANY 255u /* max_args of a command that checks its own word count */

typedef struct ek_cmd {
    const char *name;
    uint8_t min_args, max_args; /* words after the name */
    /* e-[<usage>] for a word count outside min..max (and for bad values, by ek_cmd_usage()),
     * each "%u" in it standing for usage_n. NULL: with another word count the command is
     * unknown ("name foo" is not "name"). */
    const char *usage;
    uint32_t usage_n;
    ek_cmd_fn run;
} ek_cmd_t;

/* e-[<usage>] of the command being run. */
void ek_cmd_usage(ek_app_t *app, const ek_call_t *call);

/* ---- EEMBC / MLPerf Tiny runner protocol (ek_eembc.c) */
void ek_cmd_name(ek_app_t *app, const ek_call_t *call);
void ek_cmd_profile(ek_app_t *app, const ek_call_t *call);
void ek_cmd_db(ek_app_t *app, const ek_call_t *call);
void ek_cmd_infer(ek_app_t *app, const ek_call_t *call);
void ek_cmd_results(ek_app_t *app, const ek_call_t *call);

/* ---- edgekit's exactness extensions (ek_infer.c) */
void ek_cmd_info(ek_app_t *app, const ek_call_t *call);
void ek_cmd_out(ek_app_t *app, const ek_call_t *call);
void ek_cmd_ticks(ek_app_t *app, const ek_call_t *call);
void ek_cmd_run(ek_app_t *app, const ek_call_t *call);

/* ---- op by op (ek_profile.c) */
void ek_cmd_profile_ops(ek_app_t *app, const ek_call_t *call);
void ek_cmd_layer(ek_app_t *app, const ek_call_t *call);

/* ---- streaming (ek_stream.c) and its binary blocks (ek_sblk.c) */
void ek_cmd_stream_start(ek_app_t *app, const ek_call_t *call);
void ek_cmd_stream_vote(ek_app_t *app, const ek_call_t *call);
void ek_cmd_sblk(ek_app_t *app, const ek_call_t *call);

/* ---- on-device calibration while streaming (ek_calib.c) */
void ek_cmd_calib_start(ek_app_t *app, const ek_call_t *call);
void ek_cmd_calib_label(ek_app_t *app, const ek_call_t *call);
void ek_cmd_calib_solve(ek_app_t *app, const ek_call_t *call);
void ek_cmd_calib_head(ek_app_t *app, const ek_call_t *call);
void ek_cmd_calib_reset(ek_app_t *app, const ek_call_t *call);
#if EK_CALIB
/* ek_calib_solve.c: the two heads from the collected statistics (0, else e-[...] written and
 * nothing changed), and the e-[ek-calib-solve: ...] line (cls < EK_OUTPUT_SIZE: that class has
 * too few hops; else `what`) */
int ek_calib_solve_ncm(ek_app_t *app);
int ek_calib_solve_lda(ek_app_t *app);
void ek_calib_solve_failed(ek_app_t *app, const char *what, uint32_t cls);
#endif

/* ---- shared by the commands (ek_infer.c) */
uint64_t ek_clock_now(ek_clock_t *c);
uint64_t ek_ticks_to_us(uint64_t ticks);
/* Model init at boot: app->model says whether it worked; e-[model: ...] when not. */
void ek_model_start(ek_app_t *app);
/* 1 when the model is usable, else e-[model not initialised: ...] and 0. */
int ek_need_model(ek_app_t *app);
/* 1 when "db load N" + "db HEX" completed an input, else e-[<command>: no complete input ...]. */
int ek_need_input(ek_app_t *app, const ek_call_t *call);
/* 1 when an inference has run, else e-[no inference yet ...]. */
int ek_need_result(ek_app_t *app);
/* Copy the loaded input into the model's input tensor, padded with its zero point. */
void ek_load_input(ek_app_t *app);
/* One inference on the model's current input: 0, else e-[model: ...] and -1. */
int ek_invoke(ek_app_t *app);
/* Keep the model's output as the last result (n runs took ticks). */
void ek_keep_result(ek_app_t *app, uint64_t ticks, uint32_t n);

/* ---- streaming internals */
void ek_stream_restart(ek_app_t *app);       /* ek_stream.c: filters, hops and vote start again */
void ek_stream_hop(ek_app_t *app);           /* ek_stream.c: a frame is ready (stream.frame) */
void ek_sblk_byte(ek_app_t *app, uint8_t b); /* ek_sblk.c: one payload byte (sblk.left > 0) */
/* ek_calib.c, after the model ran on a hop's frame (result.out = its output): add the hop's
 * features to its class when labelled; with a solved head, result.out becomes the head's output
 * (calib.base keeps the model's) */
void ek_calib_hop(ek_app_t *app);
/* ek_calib.c: the hop line's calibration fields: -cal[L] -ct[ticks] -base[HEX], as they apply */
void ek_calib_hop_fields(ek_app_t *app);

#endif /* EK_COMMANDS_H */
