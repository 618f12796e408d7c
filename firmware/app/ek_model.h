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
    const char *runtime;  /* "edgekit-rt" or "tflm" */
    size_t input_bytes;   /* int8 elements of the input tensor */
    size_t output_bytes;  /* int8 elements of the output tensor */
    size_t arena_bytes;   /* arena size compiled in */
    size_t arena_used;    /* bytes of it the model actually uses (after init) */
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

#ifdef __cplusplus
}
#endif
#endif /* EK_MODEL_H */
