/* FULLY_CONNECTED int8 (TFLM reference_integer_ops::FullyConnected and
 * FullyConnectedPerChannel). Filter [out_depth][accum_depth]. */
#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include "ekrt_internal.h"

void ekrt_fully_connected_s8(const ekrt_fc_params_t *p, const int8_t *in, const int8_t *filter,
                             const int32_t *bias, int8_t *out)
{
    int32_t b, o, d;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * p->accum_depth;
        for (o = 0; o < p->out_depth; ++o) {
            const int8_t *w = filter + o * p->accum_depth;
            uint32_t acc = 0; /* wrapping sum, see ekrt_wadd */
            if (p->pc_mult) {
                /* per-channel variant has no filter offset (weights are symmetric) */
                for (d = 0; d < p->accum_depth; ++d) {
                    acc += (uint32_t)((int32_t)w[d] * ((int32_t)x[d] + p->input_offset));
                }
            } else {
                for (d = 0; d < p->accum_depth; ++d) {
                    acc += (uint32_t)(((int32_t)w[d] + p->filter_offset) *
                                      ((int32_t)x[d] + p->input_offset));
                }
            }
            if (bias) {
                acc += (uint32_t)bias[o];
            }
            out[b * p->out_depth + o] =
                p->pc_mult ? ekrt_requant_s8((int32_t)acc, p->pc_mult[o], p->pc_shift[o],
                                             p->output_offset, p->act_min, p->act_max)
                           : ekrt_requant_s8((int32_t)acc, p->mult, p->shift, p->output_offset,
                                             p->act_min, p->act_max);
        }
    }
}

int ekrt_prepare_fully_connected(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in)
{
    ekrt_fc_params_t *p = &op->p.fc;
    const ekrt_tinfo_t *in, *f, *out;
    uint32_t o, n_elems;
    int32_t act;
    if (ekrt_want_inputs(c, n_in, 2, 3)) {
        return -1;
    }
    if (ekrt_want(c, op->in[0], "input", EKRT_T_INT8, -1) ||
        ekrt_want(c, op->in[1], "filter", EKRT_T_INT8, 2) ||
        ekrt_want(c, op->out, "output", EKRT_T_INT8, -1)) {
        return -1;
    }
    in = ekrt_tinfo(c, op->in[0]);
    f = ekrt_tinfo(c, op->in[1]);
    out = ekrt_tinfo(c, op->out);
    o = ekrt_opts_table(c, ot, EKRT_OPT_FC);
    act = ekrt_fb_get_i8(&c->fb, o, EKRT_FC_ACTIVATION, 0);
    if (ekrt_fb_get_i8(&c->fb, o, EKRT_FC_WEIGHTS_FORMAT, 0) != 0) {
        return ekrt_fail_op(c, "shuffled weights format is not supported");
    }
    p->out_depth = f->dims[0];
    p->accum_depth = f->dims[1];
    n_elems = ekrt_elem_count(in);
    if (n_elems % (uint32_t)p->accum_depth != 0) {
        return ekrt_fail_op(c, "input size %u is not a multiple of %d", (unsigned)n_elems,
                            (int)p->accum_depth);
    }
    p->batches = (int32_t)(n_elems / (uint32_t)p->accum_depth);
    if (out->ndim < 1 || out->dims[out->ndim - 1] != p->out_depth ||
        ekrt_elem_count(out) != (uint32_t)(p->batches * p->out_depth)) {
        return ekrt_fail_op(c, "output shape does not match filter");
    }
    if (ekrt_bias_ok(c, op->in[2], p->out_depth) ||
        ekrt_act_range(c, act, out, &p->act_min, &p->act_max)) {
        return -1;
    }
    if (f->qcount > 1) {
        if (ekrt_conv_per_channel(c, in, f, out, p->out_depth, &p->pc_mult, &p->pc_shift)) {
            return -1;
        }
    } else {
        /* GetQuantizedConvolutionMultipler: (in * filter) / out in double */
        const double prod = (double)in->scale * (double)f->scale;
        if (!(f->scale >= 0.0f && f->scale < 3.0e38f)) {
            return ekrt_fail_op(c, "filter scale is invalid");
        }
        ekrt_quantize_multiplier(prod / (double)out->scale, &p->mult, &p->shift);
        p->pc_mult = NULL;
        p->pc_shift = NULL;
    }
    p->input_offset = -in->zero_point;
    p->filter_offset = -f->zero_point;
    p->output_offset = out->zero_point;
    if (p->filter_offset == 0 && (p->pc_mult != NULL ? ekrt_shifts_fast(p->pc_shift, p->out_depth)
                                                     : (p->shift >= -31 && p->shift <= 31))) {
        /* a little scratch at least (ekrt_mat_scratch_min), tiles of batches where the plan
         * has room */
        const uint32_t least = ekrt_mat_scratch_min(p->accum_depth, p->batches);
        const uint32_t most = ekrt_mat_scratch_max(p->accum_depth, p->batches);
        const int32_t *bias =
            op->in[2] >= 0 ? (const int32_t *)(const void *)ekrt_tinfo(c, op->in[2])->data : NULL;
        op->eval = ekrt_eval_fully_connected_mat;
        op->right_only =
            (uint8_t)(p->pc_mult != NULL
                          ? ekrt_requant_mode(p->pc_shift, p->out_depth, bias, p->accum_depth)
                          : ekrt_requant_mode_tensor(p->shift, p->out_depth, bias, p->accum_depth));
        return ekrt_request_scratch_upto(c, op, least, most > least ? most : least);
    }
    return 0;
}

void ekrt_eval_fully_connected(const ekrt_t *rt, const ekrt_op_t *op)
{
    ekrt_fully_connected_s8(&op->p.fc, EKRT_IN(rt, op, 0), EKRT_IN(rt, op, 1), EKRT_BIAS(rt, op),
                            EKRT_OUT(rt, op));
}

/* Variant: symmetric weights (filter zero point 0) and shifts in [-31, 31]: the batches are
 * the columns of the int8 matrix product (ekrt_mat_run; one batch: ekrt_mat_vec, no scratch). */
void ekrt_eval_fully_connected_mat(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_fc_params_t *p = &op->p.fc;
    const int32_t per_tensor = p->pc_mult == NULL;
    const int8_t shift = (int8_t)p->shift; /* per-tensor: in [-31, 31] (prepare) */
    const ekrt_mat_q_t q =
        ekrt_mat_q(p->input_offset, p->output_offset, p->act_min, p->act_max,
                   per_tensor ? &p->mult : p->pc_mult, per_tensor ? &shift : p->pc_shift,
                   per_tensor, op->right_only);
    const uint32_t room = (uint32_t)op->scratch16 * 16u;
    const uint32_t least = ekrt_mat_scratch_min(p->accum_depth, p->batches);
    /* the batches are contiguous columns */
    ekrt_mat_run(&q, EKRT_IN(rt, op, 0), NULL, NULL, p->batches, p->accum_depth, EKRT_IN(rt, op, 1),
                 p->out_depth, EKRT_BIAS(rt, op), EKRT_OUT(rt, op), op->scratch,
                 room > least ? room : least, NULL);
}
