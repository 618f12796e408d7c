/* Op by op: ek-profile (timer ticks per operator) and ek-layer (one operator's output tensor),
 * both on the input loaded with db load N / db HEX. */
#include <string.h>

#include "ek_commands.h"
#include "ek_model.h"
#include "ek_parse.h"

#define EK_LAYER_CHUNK 2048u /* bytes of a tensor per ek-layer reply (4096 hex digits) */

/* The runtime must step one operator at a time (edgekit-rt can, the TFLM glue cannot). */
static int need_steps(ek_app_t *app, const ek_call_t *call)
{
    ek_reply_t *r = &app->reply;
    ek_model_info_t info;
    if (ek_model_op_count() > 0) return 1;
    memset(&info, 0, sizeof info);
    ek_model_get_info(&info);
    ek_reply_str(r, "e-[");
    ek_reply_str(r, call->cmd->name);
    ek_reply_str(r, ": not supported by the ");
    ek_reply_clean(r, info.runtime ? info.runtime : "?", 32);
    ek_reply_str(r, " runtime]");
    ek_reply_end(r);
    return 0;
}

static int invoke_ops(ek_app_t *app, uint32_t first, uint32_t count)
{
    char err[EK_ERR_MAX];
    err[0] = 0;
    if (ek_model_invoke_ops(first, count, err, sizeof err) != 0) {
        err[sizeof err - 1] = 0;
        ek_reply_err(&app->reply, "model: ", err);
        return -1;
    }
    return 0;
}

static void profile_op_line(ek_reply_t *r, uint32_t i, const ek_model_op_t *op, uint64_t ticks)
{
    ek_reply_str(r, "m-ek-profile-op[");
    ek_reply_u64(r, i);
    ek_reply_str(r, "]-code[");
    ek_reply_u64(r, (uint64_t)(uint32_t)op->opcode);
    ek_reply_str(r, "]-name[");
    ek_reply_clean(r, op->name ? op->name : "", 40);
    ek_reply_str(r, "]-macs[");
    ek_reply_u64(r, op->macs);
    ek_reply_str(r, "]-ticks[");
    ek_reply_u64(r, ticks);
    ek_reply_str(r, "]-bytes[");
    ek_reply_u64(r, op->out_bytes);
    ek_reply_ch(r, ']');
    ek_reply_end(r);
}

/* ek-profile: on the loaded input, one whole inference (timed as ek-run times it), then the
 * same input op by op with a timer reading between ops. One line per op, then the totals:
 *   m-ek-profile-op[i]-code[c]-name[NAME]-macs[M]-ticks[T]-bytes[B]
 *   m-ek-profile-ops[N]-sum[S]-whole[W]-same[1|0]
 * The sum includes one timer read per op, so it is a little above the whole inference;
 * same[1]: the op-by-op run produced the whole run's output bytes. */
void ek_cmd_profile_ops(ek_app_t *app, const ek_call_t *call)
{
    ek_reply_t *r = &app->reply;
    uint32_t n, i;
    uint64_t t0, t1, sum = 0;
    ek_model_op_t op;
    if (!ek_need_model(app) || !ek_need_input(app, call) || !need_steps(app, call)) return;
    n = ek_model_op_count();
    ek_load_input(app);
    t0 = ek_clock_now(&app->clock);
    if (ek_invoke(app) != 0) return;
    t1 = ek_clock_now(&app->clock);
    ek_keep_result(app, t1 - t0, 1);
    ek_load_input(app);
    for (i = 0; i < n; i++) {
        t0 = ek_clock_now(&app->clock);
        if (invoke_ops(app, i, 1) != 0) return;
        t1 = ek_clock_now(&app->clock);
        sum += t1 - t0;
        if (ek_model_op_info(i, &op) != 0) {
            ek_reply_err(r, "ek-profile: op info failed", 0);
            return;
        }
        profile_op_line(r, i, &op, t1 - t0);
    }
    ek_reply_str(r, "m-ek-profile-ops[");
    ek_reply_u64(r, n);
    ek_reply_str(r, "]-sum[");
    ek_reply_u64(r, sum);
    ek_reply_str(r, "]-whole[");
    ek_reply_u64(r, app->result.ticks);
    ek_reply_str(r, "]-same[");
    ek_reply_ch(r, memcmp(ek_model_output(), app->result.out, EK_OUTPUT_SIZE) == 0 ? '1' : '0');
    ek_reply_ch(r, ']');
    ek_reply_end(r);
}

/* ek-layer I [OFF]: run the loaded input through ops 0..I and return op I's output tensor,
 * at most EK_LAYER_CHUNK bytes from byte OFF (default 0):
 *   m-ek-layer-[I]-at[OFF]-of[TOTAL]-[HEX] */
void ek_cmd_layer(ek_app_t *app, const ek_call_t *call)
{
    ek_reply_t *r = &app->reply;
    uint32_t idx, off = 0, n;
    ek_model_op_t op;
    size_t len;
    if (ek_parse_u32(call->tok[1], 0xFFFFu, &idx) != 0 ||
        (call->ntok == 3 && ek_parse_u32(call->tok[2], 0x7FFFFFFFu, &off) != 0)) {
        ek_cmd_usage(app, call);
        return;
    }
    if (!ek_need_model(app) || !ek_need_input(app, call) || !need_steps(app, call)) return;
    n = ek_model_op_count();
    if (idx >= n) {
        ek_reply_str(r, "e-[ek-layer: op ");
        ek_reply_u64(r, idx);
        ek_reply_str(r, " out of range (the model has ops 0..");
        ek_reply_u64(r, n - 1u);
        ek_reply_str(r, ")]");
        ek_reply_end(r);
        return;
    }
    ek_load_input(app);
    if (invoke_ops(app, 0, idx + 1u) != 0) return;
    if (ek_model_op_info(idx, &op) != 0) {
        ek_reply_err(r, "ek-layer: op info failed", 0);
        return;
    }
    /* A PAD folded into the convolution that reads it has no tensor of its own: it answers
     * with an empty tensor (of[0]), and the convolution's output is where it shows. */
    if (op.out_data == 0) op.out_bytes = 0;
    if (off > op.out_bytes) {
        ek_reply_err_n(r, "ek-layer: offset past the end of the %u-byte tensor", op.out_bytes);
        return;
    }
    len = op.out_bytes - off;
    if (len > EK_LAYER_CHUNK) len = EK_LAYER_CHUNK;
    ek_reply_str(r, "m-ek-layer-[");
    ek_reply_u64(r, idx);
    ek_reply_str(r, "]-at[");
    ek_reply_u64(r, off);
    ek_reply_str(r, "]-of[");
    ek_reply_u64(r, op.out_bytes);
    ek_reply_str(r, "]-[");
    if (len > 0) ek_reply_hex(r, op.out_data + off, len);
    ek_reply_ch(r, ']');
    ek_reply_end(r);
}
