/* TRANSPOSE int8 (TFLM reference_ops::Transpose): out[i0..in] = in[index permuted by perm],
 * output dim d = input dim perm[d]. Pure data movement. */
#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include "ekrt_internal.h"

void ekrt_transpose_s8(const int32_t *perm, uint32_t ndim, const int32_t *in_dims, const int8_t *in,
                       int8_t *out)
{
    int32_t in_stride[EKRT_MAX_DIMS], dims[EKRT_MAX_DIMS], step[EKRT_MAX_DIMS];
    int32_t idx[EKRT_MAX_DIMS] = {0};
    uint32_t d, n = 0;
    int32_t s = 1, off = 0, outer = 1, i, a, b;
    for (d = ndim; d-- > 0;) {
        in_stride[d] = s;
        s *= in_dims[d];
    }
    /* output dims in order with their input strides; size-1 dims move nothing */
    for (d = 0; d < ndim; ++d) {
        if (in_dims[perm[d]] != 1) {
            dims[n] = in_dims[perm[d]];
            step[n] = in_stride[perm[d]];
            n++;
        }
    }
    while (n < 2) { /* pad to two dims: a 2-D block is the inner loop */
        for (d = n; d-- > 0;) {
            dims[d + 1] = dims[d];
            step[d + 1] = step[d];
        }
        dims[0] = 1;
        step[0] = 0;
        n++;
    }
    for (d = 0; d + 2 < n; ++d) {
        outer *= dims[d];
    }
    for (i = 0; i < outer; ++i) {
        /* the two innermost output dims as a plain double loop */
        const int8_t *src = in + off;
        for (a = 0; a < dims[n - 2]; ++a) {
            const int8_t *p = src + a * step[n - 2];
            for (b = 0; b < dims[n - 1]; ++b) {
                *out++ = *p;
                p += step[n - 1];
            }
        }
        /* odometer over the outer dims */
        for (d = n - 2; d-- > 0;) {
            idx[d]++;
            off += step[d];
            if (idx[d] < dims[d]) {
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
    if (ekrt_want(c, op->in[0], "input", EKRT_T_INT8, -1) ||
        ekrt_want(c, op->out, "output", EKRT_T_INT8, -1) ||
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
    op->p.tr.in = ekrt_shape_of(in);
    return 0;
}

void ekrt_eval_transpose(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_shape_t *in = &op->p.tr.in;
    ekrt_transpose_s8(op->p.tr.perm, in->ndim, in->dims, EKRT_IN(rt, op, 0), EKRT_OUT(rt, op));
}
