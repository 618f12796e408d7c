// ek_model.h over TensorFlow Lite Micro: the same model C array, TFLM's kernels.
// Registers exactly the model's ops (EK_OPS from model_meta.h) in a MicroMutableOpResolver.
// Built only when a TFLM source tree is given (make TFLM_DIR=...); see app/build.mk.
#include <cstring>
#include <new>

#include "ek_model.h"
#include "model_data.h"
#include "model_meta.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace
{

using Resolver = tflite::MicroMutableOpResolver<EK_OP_COUNT>;

#ifndef EK_ARENA_SIZE_TFLM /* exports before edgekit-rt sized the arena: one figure */
#define EK_ARENA_SIZE_TFLM EK_ARENA_SIZE
#endif
alignas(16) uint8_t g_arena[EK_ARENA_SIZE_TFLM];
// Constructed in place by ek_model_init(): no static constructors, no heap.
alignas(Resolver) uint8_t g_resolver_mem[sizeof(Resolver)];
alignas(tflite::MicroInterpreter) uint8_t g_interp_mem[sizeof(tflite::MicroInterpreter)];
tflite::MicroInterpreter *g_interp = nullptr;
TfLiteTensor *g_in = nullptr;
TfLiteTensor *g_out = nullptr;

int fail(char *err, size_t len, const char *msg)
{
    MicroPrintf("edgekit: %s", msg);
    if (err && len) {
        std::strncpy(err, msg, len - 1);
        err[len - 1] = '\0';
    }
    return -1;
}

bool is_int8(const TfLiteTensor *t, size_t bytes)
{
    return t && t->type == kTfLiteInt8 && t->bytes == bytes;
}

}  // namespace

extern "C" int ek_model_init(char *err, size_t err_len)
{
    const tflite::Model *model = tflite::GetModel(g_model_data);
    if (model->version() != TFLITE_SCHEMA_VERSION) {
        return fail(err, err_len, "model schema version differs from this TFLM");
    }
    Resolver *resolver = new (g_resolver_mem) Resolver();
#define EK_REGISTER(method) \
    if (resolver->method() != kTfLiteOk) return fail(err, err_len, "cannot register " #method);
    EK_OPS(EK_REGISTER)
#undef EK_REGISTER
    g_interp =
        new (g_interp_mem) tflite::MicroInterpreter(model, *resolver, g_arena, sizeof g_arena);
    if (g_interp->AllocateTensors() != kTfLiteOk) {
        g_interp = nullptr;
        return fail(err, err_len, "AllocateTensors failed (arena too small or op unsupported)");
    }
    g_in = g_interp->input(0);
    g_out = g_interp->output(0);
    if (!is_int8(g_in, EK_INPUT_SIZE) || !is_int8(g_out, EK_OUTPUT_SIZE)) {
        g_interp = nullptr;
        return fail(err, err_len, "input/output tensors are not int8 of the sizes in model_meta.h");
    }
    return 0;
}

extern "C" int8_t *ek_model_input(void)
{
    return g_in ? g_in->data.int8 : nullptr;
}

extern "C" const int8_t *ek_model_output(void)
{
    return g_out ? g_out->data.int8 : nullptr;
}

extern "C" int ek_model_invoke(char *err, size_t err_len)
{
    if (!g_interp) return fail(err, err_len, "model not initialised");
    if (g_interp->Invoke() != kTfLiteOk) return fail(err, err_len, "Invoke failed");
    return 0;
}

extern "C" void ek_model_get_info(ek_model_info_t *info)
{
    info->runtime = "tflm";
    info->input_bytes = g_in ? g_in->bytes : 0;
    info->output_bytes = g_out ? g_out->bytes : 0;
    info->arena_bytes = sizeof g_arena;
    info->arena_used = g_interp ? g_interp->arena_used_bytes() : 0;
}

// Op-by-op stepping (ek-profile, ek-layer) is not implemented over TFLM: MicroInterpreter runs
// the whole graph in Invoke(). ek_model_op_count() == 0 makes the app answer
// e-[ek-profile: not supported by the tflm runtime] rather than a misleading profile.
extern "C" uint32_t ek_model_op_count(void)
{
    return 0;
}

extern "C" int ek_model_op_info(uint32_t, ek_model_op_t *)
{
    return -1;
}

extern "C" int ek_model_invoke_ops(uint32_t, uint32_t, char *err, size_t err_len)
{
    return fail(err, err_len, "op-by-op invoke is not supported by the tflm runtime");
}
