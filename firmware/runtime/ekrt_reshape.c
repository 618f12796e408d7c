/* RESHAPE: same bytes, new shape (a copy only when the planner put input and output apart). */
#include <string.h>

#include "ekrt_internal.h"

int ekrt_prepare_reshape(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in)
{
    const ekrt_tinfo_t *in = ekrt_tinfo(c, op->in[0]);
    const ekrt_tinfo_t *out = ekrt_tinfo(c, op->out);
    (void)ot;
    if (n_in < 1 || n_in > 2 || in == NULL || out == NULL) {
        return ekrt_fail_op(c, "expected 1-2 inputs");
    }
    if (in->type != out->type || in->bytes != out->bytes || ekrt_type_size(in->type) == 0) {
        return ekrt_fail_op(c, "input and output differ in type or size");
    }
    op->p.bytes = out->bytes;
    return 0;
}

void ekrt_eval_reshape(const ekrt_t *rt, const ekrt_op_t *op)
{
    (void)rt;
    if (op->out_data != op->in_data[0]) {
        memmove(op->out_data, op->in_data[0], op->p.bytes);
    }
}
