/* ek_model.h over edgekit-rt: runs the compiled-in g_model_data (model_data.c) with one
 * static arena. EKRT_ARENA_SIZE defaults to EK_ARENA_SIZE from the generated model_meta.h. */
#include <string.h>

#include "ek_model.h"
#include "ekrt_internal.h"

#ifndef EKRT_ARENA_SIZE
#include "model_meta.h"
#define EKRT_ARENA_SIZE EK_ARENA_SIZE
#endif

extern const unsigned char g_model_data[];
extern const unsigned int g_model_data_len;

/* +16 so the runtime can align the start without losing any of EKRT_ARENA_SIZE */
static uint8_t s_arena[EKRT_ARENA_SIZE + 16];
static ekrt_t s_rt;
static int s_ready;

static size_t arena_offset(void)
{
    return (size_t)((16u - ((uintptr_t)s_arena & 15u)) & 15u);
}

static void set_err(char *err, size_t err_len, const char *msg)
{
    size_t n;
    if (err == NULL || err_len == 0) {
        return;
    }
    n = strlen(msg);
    if (n >= err_len) {
        n = err_len - 1;
    }
    memcpy(err, msg, n);
    err[n] = '\0';
}

int ek_model_init(char *err, size_t err_len)
{
    size_t in_bytes = 0, out_bytes = 0;
    float scale;
    int32_t zp;
    s_ready = 0;
    if (ekrt_init(&s_rt, (const uint8_t *)g_model_data, (size_t)g_model_data_len,
                  s_arena + arena_offset(), EKRT_ARENA_SIZE, err, err_len) != 0) {
        return -1;
    }
    if (s_rt.n_inputs != 1 || s_rt.n_outputs != 1) {
        set_err(err, err_len, "model must have exactly one input and one output");
        return -1;
    }
    (void)ekrt_input(&s_rt, 0, &in_bytes);
    (void)ekrt_output(&s_rt, 0, &out_bytes);
    /* the app moves raw int8 bytes: both ends must be int8 (1 byte per element) */
    if (s_rt.in_type[0] != EKRT_T_INT8 || s_rt.out_type[0] != EKRT_T_INT8) {
        set_err(err, err_len, "model input and output must be int8 (export with int8 I/O)");
        return -1;
    }
    if (ekrt_input_quant(&s_rt, 0, &scale, &zp) != 0 ||
        ekrt_output_quant(&s_rt, 0, &scale, &zp) != 0) {
        set_err(err, err_len, "model input/output quantization missing");
        return -1;
    }
#ifdef EK_INPUT_SIZE
    if (in_bytes != (size_t)EK_INPUT_SIZE) {
        set_err(err, err_len, "model input size differs from EK_INPUT_SIZE (model_meta.h)");
        return -1;
    }
#endif
#ifdef EK_OUTPUT_SIZE
    if (out_bytes != (size_t)EK_OUTPUT_SIZE) {
        set_err(err, err_len, "model output size differs from EK_OUTPUT_SIZE (model_meta.h)");
        return -1;
    }
#endif
    s_ready = 1;
    return 0;
}

int8_t *ek_model_input(void)
{
    return s_ready ? (int8_t *)ekrt_input(&s_rt, 0, NULL) : NULL;
}

const int8_t *ek_model_output(void)
{
    return s_ready ? (const int8_t *)ekrt_output(&s_rt, 0, NULL) : NULL;
}

int ek_model_invoke(char *err, size_t err_len)
{
    if (!s_ready) {
        set_err(err, err_len, "model not initialised");
        return -1;
    }
    return ekrt_invoke(&s_rt, err, err_len);
}

void ek_model_get_info(ek_model_info_t *info)
{
    if (info == NULL) {
        return;
    }
    info->runtime = "edgekit-rt";
    info->arena_bytes = EKRT_ARENA_SIZE;
    info->input_bytes = 0;
    info->output_bytes = 0;
    info->arena_used = 0;
    if (s_ready) {
        (void)ekrt_input(&s_rt, 0, &info->input_bytes);
        (void)ekrt_output(&s_rt, 0, &info->output_bytes);
        info->arena_used = ekrt_arena_used(&s_rt);
    }
}

uint32_t ek_model_op_count(void)
{
    return s_ready ? ekrt_op_count(&s_rt) : 0;
}

int ek_model_op_info(uint32_t op, ek_model_op_t *info)
{
    ekrt_op_info_t oi;
    if (!s_ready || info == NULL || ekrt_op_info(&s_rt, op, &oi) != 0) {
        return -1;
    }
    info->opcode = oi.opcode;
    info->name = oi.name;
    info->macs = oi.macs;
    info->out_data = oi.out_data;
    info->out_bytes = oi.out_bytes;
    return 0;
}

int ek_model_invoke_ops(uint32_t first, uint32_t count, char *err, size_t err_len)
{
    if (!s_ready) {
        set_err(err, err_len, "model not initialised");
        return -1;
    }
    return ekrt_invoke_ops(&s_rt, first, count, err, err_len);
}
