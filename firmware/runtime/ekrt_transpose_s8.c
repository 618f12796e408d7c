/* TRANSPOSE int8 (TFLM reference_ops::Transpose): out[i0..in] = in[index permuted by perm],
 * output dim d = input dim perm[d]. Pure data movement. */
#include "ekrt_internal.h"

void ekrt_transpose_s8(const int32_t *perm, uint32_t ndim, const int32_t *in_dims,
                       const int8_t *in, int8_t *out)
{
    int32_t in_stride[EKRT_MAX_DIMS], out_dims[EKRT_MAX_DIMS], step[EKRT_MAX_DIMS];
    int32_t idx[EKRT_MAX_DIMS] = {0};
    uint32_t d, total = 1, i;
    int32_t s = 1, off = 0;
    for (d = ndim; d-- > 0;) {
        in_stride[d] = s;
        s *= in_dims[d];
    }
    for (d = 0; d < ndim; ++d) {
        out_dims[d] = in_dims[perm[d]];
        step[d] = in_stride[perm[d]];
        total *= (uint32_t)out_dims[d];
    }
    for (i = 0; i < total; ++i) {
        out[i] = in[off];
        for (d = ndim; d-- > 0;) {
            idx[d]++;
            off += step[d];
            if (idx[d] < out_dims[d]) {
                break;
            }
            off -= step[d] * idx[d];
            idx[d] = 0;
        }
    }
}

int ekrt_prepare_transpose(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in)
{
    const ekrt_tinfo_t *in, *pm, *out;
    uint32_t d, seen = 0, pos;
    (void)ot;
    if (ekrt_want_inputs(c, n_in, 2, 2)) {
        return -1;
    }
    if (ekrt_want(c, op->in[0], "input", EKRT_T_INT8, -1) || ekrt_want(c, op->out, "output", EKRT_T_INT8, -1) ||
        ekrt_want(c, op->in[1], "perm", EKRT_T_INT32, 1) || ekrt_want_const(c, op->in[1], "perm")) {
        return -1;
    }
    in = ekrt_tinfo(c, op->in[0]);
    pm = ekrt_tinfo(c, op->in[1]);
    out = ekrt_tinfo(c, op->out);
    if (pm->dims[0] != in->ndim || out->ndim != in->ndim) {
        return ekrt_fail_op(c, "perm length does not match the input rank");
    }
    pos = (uint32_t)(pm->data - c->fb.buf);
    for (d = 0; d < in->ndim; ++d) {
        int32_t v = ekrt_fb_i32(&c->fb, pos + 4u * d);
        if (v < 0) {
            v += in->ndim;
        }
        if (v < 0 || v >= in->ndim || (seen & (1u << v)) || out->dims[d] != in->dims[v]) {
            return ekrt_fail_op(c, "perm is not a permutation matching the output shape");
        }
        seen |= 1u << v;
        op->p.tr.perm[d] = v;
    }
    return 0;
}

void ekrt_eval_transpose(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_tensor_t *in = &rt->tensors[op->in[0]];
    ekrt_transpose_s8(op->p.tr.perm, in->ndim, in->dims, EKRT_IN(rt, op, 0), EKRT_OUT(rt, op));
}
