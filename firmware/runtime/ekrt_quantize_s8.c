/* QUANTIZE (float32 -> int8: TFLM AffineQuantize; int8 -> int8: Requantize) and
 * DEQUANTIZE (int8 -> float32: reference Dequantize, scale held as double). */
#include "ekrt_internal.h"

void ekrt_quantize_f32_s8(const ekrt_qnt_params_t *p, uint32_t n, const float *in, int8_t *out)
{
    uint32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t q = ekrt_round_f32(in[i] / p->scale);
        /* saturating add so a huge input cannot overflow before the clamp */
        const int64_t v = (int64_t)q + p->zero_point;
        out[i] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
    }
}

void ekrt_requantize_s8(const ekrt_qnt_params_t *p, uint32_t n, const int8_t *in, int8_t *out)
{
    uint32_t i;
    for (i = 0; i < n; ++i) {
        out[i] =
            ekrt_requant_s8((int32_t)in[i] - p->in_zp, p->mult, p->shift, p->zero_point, -128, 127);
    }
}

void ekrt_dequantize_s8_f32(const ekrt_qnt_params_t *p, uint32_t n, const int8_t *in, float *out)
{
    const double scale = (double)p->scale;
    uint32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = (float)(scale * (double)((int32_t)in[i] - p->zero_point));
    }
}

int ekrt_prepare_quantize(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in)
{
    ekrt_qnt_params_t *p = &op->p.qnt;
    const ekrt_tinfo_t *in = ekrt_tinfo(c, op->in[0]);
    const ekrt_tinfo_t *out = ekrt_tinfo(c, op->out);
    (void)ot;
    if (ekrt_want_inputs(c, n_in, 1, 1)) {
        return -1;
    }
    if (in == NULL || out == NULL) {
        return ekrt_fail_op(c, "missing input or output");
    }
    if (ekrt_elem_count(in) != ekrt_elem_count(out)) {
        return ekrt_fail_op(c, "input and output sizes differ");
    }
    p->n = ekrt_elem_count(out);
    if (op->code == EKRT_OP_DEQUANTIZE) {
        if (ekrt_want(c, op->in[0], "input", EKRT_T_INT8, -1) ||
            ekrt_want(c, op->out, "fp output", EKRT_T_FLOAT32, -1)) {
            return -1;
        }
        p->scale = in->scale;
        p->zero_point = in->zero_point;
        return 0;
    }
    if (ekrt_want(c, op->out, "output", EKRT_T_INT8, -1)) {
        return -1;
    }
    p->scale = out->scale;
    p->zero_point = out->zero_point;
    p->from_float = in->type == EKRT_T_FLOAT32;
    if (in->type == EKRT_T_FLOAT32) {
        return 0;
    }
    if (ekrt_want(c, op->in[0], "input", EKRT_T_INT8, -1)) {
        return -1;
    }
    p->in_zp = in->zero_point;
    ekrt_quantize_multiplier((double)in->scale / (double)out->scale, &p->mult, &p->shift);
    return 0;
}

void ekrt_eval_quantize(const ekrt_t *rt, const ekrt_op_t *op)
{
    const uint32_t n = op->p.qnt.n;
    if (op->p.qnt.from_float) {
        ekrt_quantize_f32_s8(&op->p.qnt, n, (const float *)op->in_data[0], EKRT_OUT(rt, op));
    } else {
        ekrt_requantize_s8(&op->p.qnt, n, EKRT_IN(rt, op, 0), EKRT_OUT(rt, op));
    }
}

int ekrt_prepare_dequantize(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in)
{
    return ekrt_prepare_quantize(c, op, ot, n_in);
}

void ekrt_eval_dequantize(const ekrt_t *rt, const ekrt_op_t *op)
{
    (void)rt;
    ekrt_dequantize_s8_f32(&op->p.qnt, op->p.qnt.n, (const int8_t *)op->in_data[0],
                           (float *)op->out_data);
}
