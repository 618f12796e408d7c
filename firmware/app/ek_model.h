/* One model interface, two implementations: firmware/runtime (edgekit-rt, C99) and
 * firmware/tflm (TensorFlow Lite Micro, C++). The command loop in app/ sees only this. */
#ifndef EK_MODEL_H
#define EK_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *runtime; /* "edgekit-rt" or "tflm" */
    size_t input_bytes;  /* int8 elements of the input tensor */
    size_t output_bytes; /* int8 elements of the output tensor */
    size_t arena_bytes;  /* arena size compiled in */
    size_t arena_used;   /* bytes of it the model actually uses (after init) */
} ek_model_info_t;

/* Parse the compiled-in model (model_data.h) and plan the arena. 0 on success; otherwise a
 * NUL-terminated message (bounded by err_len) saying what is unsupported or too large. */
int ek_model_init(char *err, size_t err_len);

/* Valid after a successful ek_model_init(). */
int8_t *ek_model_input(void);
const int8_t *ek_model_output(void);

/* Run one inference on the current input. 0 on success, else a message in err. */
int ek_model_invoke(char *err, size_t err_len);

void ek_model_get_info(ek_model_info_t *info);

/* Op-by-op access for ek-profile and ek-layer. A runtime that cannot step one operator at a
 * time returns 0 from ek_model_op_count() (the app then says so instead of answering). */
typedef struct {
    int32_t opcode;         /* TFLite BuiltinOperator code */
    const char *name;       /* op name, "" if the runtime was built without names */
    uint64_t macs;          /* multiply-accumulates of one eval (0 for non-MAC ops) */
    const int8_t *out_data; /* the op's output tensor; valid right after the op ran */
    size_t out_bytes;
} ek_model_op_t;

uint32_t ek_model_op_count(void);
/* 0 ok, -1 if op is out of range. */
int ek_model_op_info(uint32_t op, ek_model_op_t *info);
/* Run operators first .. first+count-1 (callers start at 0 so every input is current). */
int ek_model_invoke_ops(uint32_t first, uint32_t count, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif /* EK_MODEL_H */
