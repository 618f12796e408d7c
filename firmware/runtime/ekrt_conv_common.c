/* Conv arithmetic shared by CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and the pools:
 * TFLM's padding rule, per-channel multipliers (PopulateConvolutionQuantizationParams), the
 * fused activation range and the bias check. */
#include "ekrt_dsp.h"
#include "ekrt_internal.h"

int ekrt_conv_padding(ekrt_prep_t *c, int32_t padding, int32_t stride, int32_t dil, int32_t in,
                      int32_t k, int32_t out, int32_t *pad)
{
    const int32_t eff = (k - 1) * dil + 1;
    int32_t expect, total;
    if (padding == 0) {
        expect = (in + stride - 1) / stride;
    } else if (padding == 1) {
        expect = (in + stride - eff) / stride;
    } else {
        return ekrt_fail_op(c, "unknown padding %d", (int)padding);
    }
    if (expect != out || out < 1) {
        return ekrt_fail_op(c, "output size %d does not match %s padding (expected %d)", (int)out,
                            padding == 0 ? "SAME" : "VALID", (int)expect);
    }
    total = (out - 1) * stride + eff - in;
    *pad = total > 0 ? total / 2 : 0;
    return 0;
}

/* PopulateConvolutionQuantizationParams: one multiplier per output channel. */
int ekrt_conv_per_channel(ekrt_prep_t *c, const ekrt_tinfo_t *in, const ekrt_tinfo_t *f,
                          const ekrt_tinfo_t *out, int32_t n_ch, const int32_t **mult,
                          const int8_t **shift)
{
    int32_t *m, i, sh;
    int8_t *s;
    if (f->qcount != 1 && f->qcount != (uint32_t)n_ch) {
        return ekrt_fail_op(c, "filter has %u scales for %d channels", (unsigned)f->qcount,
                            (int)n_ch);
    }
    m = (int32_t *)ekrt_palloc(c, 4u * (uint32_t)n_ch);
    s = (int8_t *)ekrt_palloc(c, (uint32_t)n_ch); /* shifts fit int8: 5 bytes per channel */
    if (m == NULL || s == NULL) {
        return ekrt_fail_op(c, "arena too small for per-channel multipliers");
    }
    for (i = 0; i < n_ch; ++i) {
        float fs = ekrt_fb_f32(&c->fb, f->qscale_pos + (f->qcount > 1 ? 4u * (uint32_t)i : 0u));
        if (!(fs >= 0.0f && fs < 3.0e38f)) {
            return ekrt_fail_op(c, "filter scale %d is invalid", (int)i);
        }
        ekrt_quantize_multiplier((double)in->scale * (double)fs / (double)out->scale, &m[i], &sh);
        if (sh < -127 || sh > 127) {
            return ekrt_fail_op(c, "channel %d multiplier out of range", (int)i);
        }
        s[i] = (int8_t)sh;
    }
    *mult = m;
    *shift = s;
    return 0;
}

int ekrt_act_range(ekrt_prep_t *c, int32_t act, const ekrt_tinfo_t *out, int32_t *mn, int32_t *mx)
{
    if (ekrt_act_range_s8(act, out->scale, out->zero_point, mn, mx) != 0) {
        return ekrt_fail_op(c, "fused activation %d is not supported", (int)act);
    }
    return 0;
}

int ekrt_bias_ok(ekrt_prep_t *c, int32_t idx, int32_t n)
{
    const ekrt_tinfo_t *b = ekrt_tinfo(c, idx);
    if (b == NULL) {
        return 0;
    }
    if (ekrt_want(c, idx, "bias", EKRT_T_INT32, 1) || ekrt_want_const(c, idx, "bias")) {
        return -1;
    }
    if (b->dims[0] != n) {
        return ekrt_fail_op(c, "bias has %d values for %d channels", (int)b->dims[0], (int)n);
    }
    return 0;
}

/* Checks and parameters shared by CONV_2D and DEPTHWISE_CONV_2D (TFLM conv Prepare). */
int ekrt_conv_prepare(ekrt_prep_t *c, ekrt_op_t *op, uint32_t ot, int depthwise)
{
    ekrt_conv_params_t *p = &op->p.conv;
    const ekrt_tinfo_t *in, *f, *out;
    uint32_t o;
    int32_t padding, act;
    if (ekrt_want(c, op->in[0], "input", EKRT_T_INT8, 4) ||
        ekrt_want(c, op->in[1], "filter", EKRT_T_INT8, 4) ||
        ekrt_want(c, op->out, "output", EKRT_T_INT8, 4)) {
        return -1;
    }
    in = ekrt_tinfo(c, op->in[0]);
    f = ekrt_tinfo(c, op->in[1]);
    out = ekrt_tinfo(c, op->out);
    o = ekrt_opts_table(c, ot, depthwise ? EKRT_OPT_DWCONV : EKRT_OPT_CONV);
    /* the two options tables share padding and strides at the same slots */
    padding = ekrt_fb_get_i8(&c->fb, o, EKRT_CONV_PADDING, 0);
    p->stride_w = ekrt_fb_get_i32(&c->fb, o, EKRT_CONV_STRIDE_W, 0);
    p->stride_h = ekrt_fb_get_i32(&c->fb, o, EKRT_CONV_STRIDE_H, 0);
    if (depthwise) {
        p->depth_mult = ekrt_fb_get_i32(&c->fb, o, EKRT_DWCONV_DEPTH_MULTIPLIER, 0);
        act = ekrt_fb_get_i8(&c->fb, o, EKRT_DWCONV_ACTIVATION, 0);
        p->dil_w = ekrt_fb_get_i32(&c->fb, o, EKRT_DWCONV_DILATION_W, 1);
        p->dil_h = ekrt_fb_get_i32(&c->fb, o, EKRT_DWCONV_DILATION_H, 1);
    } else {
        act = ekrt_fb_get_i8(&c->fb, o, EKRT_CONV_ACTIVATION, 0);
        p->dil_w = ekrt_fb_get_i32(&c->fb, o, EKRT_CONV_DILATION_W, 1);
        p->dil_h = ekrt_fb_get_i32(&c->fb, o, EKRT_CONV_DILATION_H, 1);
    }
    if (p->stride_w < 1 || p->stride_h < 1 || p->dil_w < 1 || p->dil_h < 1 || p->stride_w > 1024 ||
        p->stride_h > 1024 || p->dil_w > 1024 || p->dil_h > 1024) {
        return ekrt_fail_op(c, "invalid stride/dilation");
    }
    p->batches = in->dims[0];
    p->in_h = in->dims[1];
    p->in_w = in->dims[2];
    p->in_c = in->dims[3];
    p->out_h = out->dims[1];
    p->out_w = out->dims[2];
    p->out_c = out->dims[3];
    p->k_h = f->dims[1];
    p->k_w = f->dims[2];
    if (out->dims[0] != p->batches) {
        return ekrt_fail_op(c, "batch mismatch");
    }
    if (depthwise) {
        if (f->dims[0] != 1 || f->dims[3] != p->out_c || p->depth_mult < 1 ||
            p->in_c * p->depth_mult != p->out_c) {
            return ekrt_fail_op(c,
                                "filter/depth_multiplier do not match input and output channels");
        }
        p->filter_in_c = 1;
    } else {
        p->filter_in_c = f->dims[3];
        if (f->dims[0] != p->out_c || p->in_c % p->filter_in_c != 0 ||
            p->out_c % (p->in_c / p->filter_in_c) != 0) {
            return ekrt_fail_op(c, "filter shape does not match input and output channels");
        }
    }
    if (ekrt_conv_padding(c, padding, p->stride_h, p->dil_h, p->in_h, p->k_h, p->out_h,
                          &p->pad_h) ||
        ekrt_conv_padding(c, padding, p->stride_w, p->dil_w, p->in_w, p->k_w, p->out_w,
                          &p->pad_w) ||
        ekrt_bias_ok(c, op->in[2], p->out_c) ||
        ekrt_act_range(c, act, out, &p->act_min, &p->act_max) ||
        ekrt_conv_per_channel(c, in, f, out, p->out_c, &p->mult, &p->shift)) {
        return -1;
    }
    p->input_offset = -in->zero_point;
    p->output_offset = out->zero_point;
    return 0;
}
/* Element strides of `in` per output dim (right-aligned, 0 where broadcast); -1 if the
 * shapes are not broadcast-compatible. */
int ekrt_bcast_strides(uint32_t in_nd, const int32_t *in_dims, uint32_t out_nd,
                       const int32_t *out_dims, int32_t *s)
{
    int32_t d, stride = 1;
    const int32_t lead = (int32_t)out_nd - (int32_t)in_nd;
    if (lead < 0) {
        return -1;
    }
    for (d = (int32_t)out_nd - 1; d >= 0; --d) {
        const int32_t di = d - lead;
        const int32_t n = di >= 0 ? in_dims[di] : 1;
        if (n == out_dims[d]) {
            s[d] = n == 1 ? 0 : stride;
        } else if (n == 1) {
            s[d] = 0;
        } else {
            return -1;
        }
        stride *= n;
    }
    return 0;
}

int ekrt_shifts_fast(const int8_t *shift, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        if (shift[i] < -31 || shift[i] > 31) {
            return 0;
        }
    }
    return 1;
}

/* the mode of n channels whose shifts are shift[0], shift[step], ... (step 0: one for all) */
static int requant_mode(const int8_t *shift, int32_t step, int32_t n, const int32_t *bias,
                        int32_t k)
{
    int64_t worst = (int64_t)k * 128 * 255;
    int mode = EKRT_RQ_RIGHT | EKRT_RQ_R22;
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int64_t b = bias ? (int64_t)bias[i] : 0;
        const int32_t sh = shift[i * step];
        if (sh < -31 || sh > -1 || worst + (b < 0 ? -b : b) >= EKRT_ACC_LIMIT) {
            return 0;
        }
        if (sh < -22) {
            mode = EKRT_RQ_RIGHT;
        }
    }
    return mode;
}

int ekrt_requant_mode(const int8_t *shift, int32_t n, const int32_t *bias, int32_t k)
{
    return requant_mode(shift, 1, n, bias, k);
}

int ekrt_requant_mode_tensor(int32_t shift, int32_t n, const int32_t *bias, int32_t k)
{
    const int8_t sh = (int8_t)(shift < -128 ? -128 : (shift > 127 ? 127 : shift));
    return requant_mode(&sh, 0, n, bias, k);
}
