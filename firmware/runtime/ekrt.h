/* edgekit-rt: a C99 interpreter for int8 TensorFlow Lite flatbuffers.
 *
 * It reads the same .tflite C array TFLM consumes, plans all activations into one
 * caller-provided arena (no malloc), and runs int8 kernels that are bit-exact with
 * TFLM's reference kernels. Constant tensors (weights, biases) stay in the flatbuffer.
 *
 *   ekrt_t rt;
 *   char err[128];
 *   if (ekrt_init(&rt, model, model_len, arena, sizeof arena, err, sizeof err) != 0) ...
 *   memcpy(ekrt_input(&rt, 0, NULL), x, n);
 *   if (ekrt_invoke(&rt, err, sizeof err) != 0) ...
 *   y = ekrt_output(&rt, 0, &n);
 */
#ifndef EKRT_H
#define EKRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EKRT_VERSION "0.1.0"
#define EKRT_MAX_IO 4 /* graph inputs / outputs supported */

struct ekrt_op;

typedef struct {
    const uint8_t *model;
    size_t model_len;
    uint8_t *arena;          /* 16-byte aligned start inside the caller's arena */
    size_t arena_len;        /* usable bytes from `arena` */
    size_t planned_bytes;    /* start of arena: activations (and init-time tables during init) */
    size_t persistent_bytes; /* tensor/op tables and per-channel multipliers (end of arena) */
    size_t arena_used;       /* planned + persistent + alignment slack */
    struct ekrt_op **ops;    /* one record per operator, each sized to its parameters */
    uint32_t n_tensors;
    uint32_t n_ops;
    uint32_t n_inputs;
    uint32_t n_outputs;
    int32_t inputs[EKRT_MAX_IO]; /* graph input / output tensor indices */
    int32_t outputs[EKRT_MAX_IO];
    void *in_data[EKRT_MAX_IO], *out_data[EKRT_MAX_IO];
    uint32_t in_bytes[EKRT_MAX_IO], out_bytes[EKRT_MAX_IO];
    uint8_t in_type[EKRT_MAX_IO], out_type[EKRT_MAX_IO]; /* TFLite TensorType */
    float in_scale[EKRT_MAX_IO], out_scale[EKRT_MAX_IO];
    int32_t in_zp[EKRT_MAX_IO], out_zp[EKRT_MAX_IO];
    int ready;
} ekrt_t;

/* Parse `model` (not copied: it must outlive rt), check every op and tensor type, compute
 * the quantization parameters and plan the arena. 0 on success; otherwise -1 and a
 * NUL-terminated message in err (bounded by err_len) naming what is wrong. */
int ekrt_init(ekrt_t *rt, const uint8_t *model, size_t model_len, uint8_t *arena, size_t arena_len,
              char *err, size_t err_len);

/* Run all operators once. 0 on success, else -1 and a message. */
int ekrt_invoke(ekrt_t *rt, char *err, size_t err_len);

/* Data pointer of graph input/output `index` (NULL if out of range or not initialised);
 * *bytes (if non-NULL) receives the tensor size in bytes. */
void *ekrt_input(ekrt_t *rt, uint32_t index, size_t *bytes);
const void *ekrt_output(const ekrt_t *rt, uint32_t index, size_t *bytes);

/* Quantization of graph input/output `index` (per-tensor). 0 on success. */
int ekrt_input_quant(const ekrt_t *rt, uint32_t index, float *scale, int32_t *zero_point);
int ekrt_output_quant(const ekrt_t *rt, uint32_t index, float *scale, int32_t *zero_point);

/* --- per-operator access (profiling, per-layer diff) ----------------------------------- */
typedef struct {
    int32_t opcode;         /* TFLite BuiltinOperator code */
    const char *name;       /* op name ("" when built with EKRT_NO_OP_NAMES) */
    uint64_t macs;          /* multiply-accumulates of one eval (0 for non-MAC ops) */
    const int8_t *out_data; /* the op's (first) output tensor in the arena; valid right after
                              * the op ran. NULL (out_bytes 0) for a PAD folded into the
                              * convolution that reads it: that PAD's output is never
                              * materialised, the convolution reads the PAD's input. */
    size_t out_bytes;
    int32_t out_tensor; /* tensor index in the model's subgraph */
    float out_scale;
    int32_t out_zero_point;
    uint32_t out_rank;
    int32_t out_dims[6];
} ekrt_op_info_t;

/* Number of operators (as in the model's subgraph, folded ones included). */
uint32_t ekrt_op_count(const ekrt_t *rt);
/* Describe operator `op`: 0 ok, -1 out of range (or not initialised). */
int ekrt_op_info(const ekrt_t *rt, uint32_t op, ekrt_op_info_t *info);
/* Run operators [first, first + count) on the current arena contents (ekrt_invoke == all
 * ops). A folded PAD runs as a no-op; the convolution it was folded into reads the PAD's
 * input, so running any prefix of ops in order still produces every later output exactly. */
int ekrt_invoke_ops(ekrt_t *rt, uint32_t first, uint32_t count, char *err, size_t err_len);

/* Bytes of the arena the model uses (after a successful init). */
size_t ekrt_arena_used(const ekrt_t *rt);

#ifdef __cplusplus
}
#endif
#endif /* EKRT_H */
