/* PAD / PADV2 int8 (TFLM reference_ops::Pad): output element = input element when inside
 * the copied window, else pad_value (the output zero point for PAD). */
#include <string.h>

#include "ekrt_internal.h"

void ekrt_pad_s8(const ekrt_pad_params_t *p, uint32_t ndim, const int32_t *in_dims,
                 const int32_t *out_dims, const int8_t *in, int8_t *out)
{
    int32_t idx[EKRT_MAX_DIMS] = {0};
    int32_t in_stride[EKRT_MAX_DIMS];
    uint32_t total = 1, i, d;
    int32_t s = 1;
    for (d = ndim; d-- > 0;) {
        in_stride[d] = s;
        s *= in_dims[d];
        total *= (uint32_t)out_dims[d];
    }
    for (i = 0; i < total; ++i) {
        int32_t off = 0;
        int inside = 1;
        for (d = 0; d < ndim; ++d) {
            const int32_t q = idx[d] - p->before[d];
            if (q < 0 || q >= in_dims[d]) {
                inside = 0;
                break;
            }
            off += q * in_stride[d];
        }
        out[i] = inside ? in[off] : p->pad_value;
        for (d = ndim; d-- > 0;) {
            if (++idx[d] < out_dims[d]) {
                break;
            }
            idx[d] = 0;
        }
    }
}

int ekrt_prepare_pad(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in)
{
    ekrt_pad_params_t *p = &op->p.pad;
    const ekrt_tinfo_t *in, *pd, *out;
    uint32_t d;
    uint32_t pos;
    int wide;
    (void)ot;
    if (ekrt_want_inputs(c, n_in, 2, 3)) {
        return -1;
    }
    if (ekrt_want(c, op->in[0], "input", EKRT_T_INT8, -1) ||
        ekrt_want(c, op->out, "output", EKRT_T_INT8, -1)) {
        return -1;
    }
    in = ekrt_tinfo(c, op->in[0]);
    pd = ekrt_tinfo(c, op->in[1]);
    out = ekrt_tinfo(c, op->out);
    if (pd == NULL || (pd->type != EKRT_T_INT32 && pd->type != EKRT_T_INT64) || !pd->is_const) {
        return ekrt_fail_op(c, "paddings must be a constant INT32/INT64 tensor");
    }
    wide = pd->type == EKRT_T_INT64;
    if (pd->ndim != 2 || pd->dims[0] != in->ndim || pd->dims[1] != 2 || out->ndim != in->ndim) {
        return ekrt_fail_op(c, "paddings shape does not match the input rank");
    }
    pos = (uint32_t)(pd->data - c->fb.buf);
    for (d = 0; d < in->ndim; ++d) {
        int32_t before, after;
        if (wide) {
            before = (int32_t)ekrt_fb_u64(&c->fb, pos + 16u * d);
            after = (int32_t)ekrt_fb_u64(&c->fb, pos + 16u * d + 8u);
        } else {
            before = ekrt_fb_i32(&c->fb, pos + 8u * d);
            after = ekrt_fb_i32(&c->fb, pos + 8u * d + 4u);
        }
        if (before < 0 || after < 0 || before > 0xFFFF || after > 0xFFFF ||
            out->dims[d] != in->dims[d] + before + after) {
            return ekrt_fail_op(c, "paddings do not match the output shape");
        }
        p->before[d] = before;
    }
    p->pad_value = (int8_t)out->zero_point;
    if (op->code == EKRT_OP_PADV2 && op->in[2] >= 0) {
        const ekrt_tinfo_t *cv = ekrt_tinfo(c, op->in[2]);
        if (ekrt_want(c, op->in[2], "constant", EKRT_T_INT8, -1) || !cv->is_const ||
            cv->bytes != 1) {
            return ekrt_fail_op(c, "constant value must be a constant INT8 scalar");
        }
        p->pad_value = (int8_t)cv->data[0];
    }
    p->in = ekrt_shape_of(in);
    memcpy(p->out_dims, out->dims, sizeof p->out_dims);
    return 0;
}

void ekrt_eval_pad(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_pad_params_t *p = &op->p.pad;
    ekrt_pad_s8(p, p->in.ndim, p->in.dims, p->out_dims, EKRT_IN(rt, op, 0), EKRT_OUT(rt, op));
}
