/* edgekit-rt interpreter: flatbuffer -> tensor/op tables -> per-op preparation (TFLM's
 * Prepare math) -> arena plan -> invoke. All tables live at the end of the caller's arena;
 * activations are planned from its start. */
#include <string.h>

#include "ekrt_internal.h"

/* BuiltinOptions union types we read (schema.fbs). */
enum {
    OPT_CONV = 1,
    OPT_DWCONV = 2,
    OPT_POOL = 5,
    OPT_FC = 8,
    OPT_SOFTMAX = 9,
    OPT_ADD = 11,
    OPT_REDUCER = 27
};

typedef struct {
    ekrt_t *rt;
    ekrt_fb_t fb;
    char *err;
    size_t err_len;
    uint32_t tail;     /* persistent allocations grow down from here (offset in rt->arena) */
    uint32_t head;     /* init-only allocations grow up from the arena start */
    ekrt_tinfo_t *ti;  /* init-time tensor info (at the arena start) */
    uint32_t op_index; /* operator being prepared, for messages */
    int32_t op_code;
} ctx_t;

static int fail(ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ekrt_vfmt(c->err, c->err_len, fmt, ap);
    va_end(ap);
    return -1;
}

static void op_name_buf(int32_t code, char *buf, size_t n)
{
    const char *name = ekrt_op_name(code);
    if (name[0] != '\0') {
        ekrt_fmt(buf, n, "%s", name);
    } else {
        ekrt_fmt(buf, n, "builtin op %d", (int)code);
    }
}

/* "operator <i> (<NAME>): <message>" */
static int fail_op(ctx_t *c, const char *fmt, ...)
{
    char name[40];
    size_t len;
    va_list ap;
    op_name_buf(c->op_code, name, sizeof name);
    ekrt_fmt(c->err, c->err_len, "operator %u (%s): ", (unsigned)c->op_index, name);
    len = c->err ? strlen(c->err) : 0;
    va_start(ap, fmt);
    if (c->err && len < c->err_len) {
        ekrt_vfmt(c->err + len, c->err_len - len, fmt, ap);
    }
    va_end(ap);
    return -1;
}

static void *palloc(ctx_t *c, uint32_t bytes)
{
    bytes = (bytes + 7u) & ~7u;
    if (bytes > c->tail - c->head) {
        return NULL;
    }
    c->tail -= bytes;
    return c->rt->arena + c->tail;
}

/* init-only scratch from the arena start; dead once planning is done */
static void *scratch_alloc(ctx_t *c, uint32_t bytes)
{
    void *p;
    bytes = (bytes + 15u) & ~15u;
    if (bytes > c->tail - c->head) {
        return NULL;
    }
    p = c->rt->arena + c->head;
    c->head += bytes;
    return p;
}

static uint32_t type_size(uint32_t type)
{
    switch (type) {
    case EKRT_T_FLOAT32:
    case EKRT_T_INT32:
        return 4;
    case EKRT_T_INT64:
        return 8;
    case EKRT_T_INT16:
        return 2;
    case EKRT_T_INT8:
    case EKRT_T_UINT8:
    case EKRT_T_BOOL:
        return 1;
    default:
        return 0;
    }
}

static int valid_scale(float s)
{
    return s > 0.0f && s < 3.0e38f; /* also false for NaN */
}

static uint32_t count_of(uint32_t ndim, const int32_t *dims)
{
    uint32_t n = 1, d;
    for (d = 0; d < ndim; ++d) {
        n *= (uint32_t)dims[d];
    }
    return n;
}

#define elem_count(t) count_of((t)->ndim, (t)->dims)

/* --- tensors ---------------------------------------------------------------------------- */

static int parse_tensors(ctx_t *c, uint32_t tvec, uint32_t n_tensors, uint32_t bvec,
                         uint32_t n_buffers)
{
    ekrt_fb_t *fb = &c->fb;
    ekrt_tinfo_t *ts = c->ti;
    uint32_t i, d;
    for (i = 0; i < n_tensors; ++i) {
        ekrt_tinfo_t *t = &ts[i];
        uint32_t tt = ekrt_fb_vec_table(fb, tvec, n_tensors, i);
        uint32_t nd, sv, buf, q, es, count = 1;
        memset(t, 0, sizeof *t);
        t->first = -1;
        t->last = -1;
        sv = ekrt_fb_get_vec(fb, tt, 0, 4, &nd);
        if (fb->bad) {
            return fail(c, "malformed model: tensor %u", (unsigned)i);
        }
        if (nd > EKRT_MAX_DIMS) {
            return fail(c, "tensor %u has %u dims (edgekit-rt supports up to %d)", (unsigned)i,
                        (unsigned)nd, EKRT_MAX_DIMS);
        }
        t->ndim = (uint8_t)nd;
        for (d = 0; d < nd; ++d) {
            int32_t v = ekrt_fb_i32(fb, sv + 4u * d);
            if (v < 1 || v > 0xFFFFFF) {
                return fail(c, "tensor %u: dimension %u is %d (expected 1..16777215)",
                            (unsigned)i, (unsigned)d, (int)v);
            }
            if (count > 0x7FFFFFFFu / (uint32_t)v) {
                return fail(c, "tensor %u is too large", (unsigned)i);
            }
            count *= (uint32_t)v;
            t->dims[d] = v;
        }
        t->type = ekrt_fb_get_u8(fb, tt, 1, 0);
        es = type_size(t->type);
        if (es != 0 && count > 0x7FFFFFFFu / es) {
            return fail(c, "tensor %u is too large", (unsigned)i);
        }
        t->bytes = count * es;
        buf = ekrt_fb_get_u32(fb, tt, 2, 0);
        if (buf >= n_buffers) {
            return fail(c, "malformed model: tensor %u uses buffer %u of %u", (unsigned)i,
                        (unsigned)buf, (unsigned)n_buffers);
        }
        q = ekrt_fb_get_table(fb, tt, 4);
        if (q) {
            uint32_t ns, nz, sc, zp;
            sc = ekrt_fb_get_vec(fb, q, 2, 4, &ns);
            zp = ekrt_fb_get_vec(fb, q, 3, 8, &nz);
            t->qdim = ekrt_fb_get_i32(fb, q, 6, 0);
            if (ns > 0) {
                t->scale = ekrt_fb_f32(fb, sc);
                t->qscale_pos = sc;
                t->qcount = ns;
            }
            if (nz > 0) {
                uint64_t z = ekrt_fb_u64(fb, zp);
                int64_t zs;
                memcpy(&zs, &z, sizeof zs);
                if (zs < -32768 || zs > 65535) {
                    return fail(c, "tensor %u: zero point out of range", (unsigned)i);
                }
                t->zero_point = (int32_t)zs;
            }
        }
        {
            uint32_t bt = ekrt_fb_vec_table(fb, bvec, n_buffers, buf);
            uint32_t dlen, dpos = ekrt_fb_get_vec(fb, bt, 0, 1, &dlen);
            uint64_t boff = ekrt_fb_get_u64(fb, bt, 1, 0);
            uint64_t bsize = ekrt_fb_get_u64(fb, bt, 2, 0);
            if (fb->bad) {
                return fail(c, "malformed model: buffer %u of tensor %u", (unsigned)buf,
                            (unsigned)i);
            }
            if (dlen == 0 && boff > 1) {
                /* data stored after the flatbuffer (models > 2 GB layout) */
                if (boff > fb->len || bsize > fb->len - boff) {
                    return fail(c, "malformed model: buffer %u lies outside the model",
                                (unsigned)buf);
                }
                dpos = (uint32_t)boff;
                dlen = (uint32_t)bsize;
            }
            if (dlen > 0) {
                if (es == 0) {
                    return fail(c, "tensor %u: constant of type %s is not supported",
                                (unsigned)i, ekrt_type_name(t->type));
                }
                if (dlen != t->bytes) {
                    return fail(c, "malformed model: tensor %u has %u data bytes, shape needs %u",
                                (unsigned)i, (unsigned)dlen, (unsigned)t->bytes);
                }
                t->data = (uint8_t *)(uintptr_t)(fb->buf + dpos);
                t->is_const = 1;
            }
        }
        if (fb->bad) {
            return fail(c, "malformed model: tensor %u", (unsigned)i);
        }
    }
    return 0;
}

/* --- per-op helpers --------------------------------------------------------------------- */

static ekrt_tinfo_t *tensor(ctx_t *c, int32_t idx)
{
    return idx >= 0 ? &c->ti[idx] : NULL;
}

static int want(ctx_t *c, int32_t idx, const char *role, uint32_t type, int32_t ndim)
{
    const ekrt_tinfo_t *t = tensor(c, idx);
    if (t == NULL) {
        return fail_op(c, "missing %s tensor", role);
    }
    if (t->type != type) {
        return fail_op(c, "%s tensor %d has type %s; edgekit-rt supports %s here", role,
                       (int)idx, ekrt_type_name(t->type), ekrt_type_name(type));
    }
    if (ndim >= 0 && t->ndim != ndim) {
        return fail_op(c, "%s tensor %d has %u dims, expected %d", role, (int)idx,
                       (unsigned)t->ndim, (int)ndim);
    }
    if (type == EKRT_T_INT8 && role[0] != 'f' && !valid_scale(t->scale)) {
        return fail_op(c, "%s tensor %d has no valid quantization scale", role, (int)idx);
    }
    if (type == EKRT_T_INT8 && (t->zero_point < -128 || t->zero_point > 127)) {
        return fail_op(c, "%s tensor %d zero point %d outside int8", role, (int)idx,
                       (int)t->zero_point);
    }
    return 0;
}

static int want_const(ctx_t *c, int32_t idx, const char *role)
{
    const ekrt_tinfo_t *t = tensor(c, idx);
    if (t == NULL || !t->is_const) {
        return fail_op(c, "%s tensor must be a constant", role);
    }
    if (((uintptr_t)t->data & 3u) != 0 && type_size(t->type) >= 4) {
        return fail_op(c, "%s tensor data is not 4-byte aligned (keep the model array aligned)",
                       role);
    }
    return 0;
}

static uint32_t opts_table(ctx_t *c, uint32_t ot, uint8_t expect)
{
    uint8_t kind = ekrt_fb_get_u8(&c->fb, ot, 3, 0);
    if (kind != expect) {
        return 0;
    }
    return ekrt_fb_get_table(&c->fb, ot, 4);
}

static int compute_padding(ctx_t *c, int32_t padding, int32_t stride, int32_t dil, int32_t in,
                           int32_t k, int32_t out, int32_t *pad)
{
    const int32_t eff = (k - 1) * dil + 1;
    int32_t expect, total;
    if (padding == 0) {
        expect = (in + stride - 1) / stride;
    } else if (padding == 1) {
        expect = (in + stride - eff) / stride;
    } else {
        return fail_op(c, "unknown padding %d", (int)padding);
    }
    if (expect != out || out < 1) {
        return fail_op(c, "output size %d does not match %s padding (expected %d)", (int)out,
                       padding == 0 ? "SAME" : "VALID", (int)expect);
    }
    total = (out - 1) * stride + eff - in;
    *pad = total > 0 ? total / 2 : 0;
    return 0;
}

/* PopulateConvolutionQuantizationParams: one multiplier per output channel. */
static int per_channel(ctx_t *c, const ekrt_tinfo_t *in, const ekrt_tinfo_t *f,
                       const ekrt_tinfo_t *out, int32_t n_ch, const int32_t **mult,
                       const int8_t **shift)
{
    int32_t *m, i, sh;
    int8_t *s;
    if (f->qcount != 1 && f->qcount != (uint32_t)n_ch) {
        return fail_op(c, "filter has %u scales for %d channels", (unsigned)f->qcount,
                       (int)n_ch);
    }
    m = (int32_t *)palloc(c, 4u * (uint32_t)n_ch);
    s = (int8_t *)palloc(c, (uint32_t)n_ch); /* shifts fit int8: 5 bytes per channel */
    if (m == NULL || s == NULL) {
        return fail_op(c, "arena too small for per-channel multipliers");
    }
    for (i = 0; i < n_ch; ++i) {
        float fs = ekrt_fb_f32(&c->fb, f->qscale_pos + (f->qcount > 1 ? 4u * (uint32_t)i : 0u));
        if (!(fs >= 0.0f && fs < 3.0e38f)) {
            return fail_op(c, "filter scale %d is invalid", (int)i);
        }
        ekrt_quantize_multiplier((double)in->scale * (double)fs / (double)out->scale, &m[i], &sh);
        if (sh < -127 || sh > 127) {
            return fail_op(c, "channel %d multiplier out of range", (int)i);
        }
        s[i] = (int8_t)sh;
    }
    *mult = m;
    *shift = s;
    return 0;
}

static int act_range(ctx_t *c, int32_t act, const ekrt_tinfo_t *out, int32_t *mn,
                     int32_t *mx)
{
    if (ekrt_act_range_s8(act, out->scale, out->zero_point, mn, mx) != 0) {
        return fail_op(c, "fused activation %d is not supported", (int)act);
    }
    return 0;
}

static int bias_ok(ctx_t *c, int32_t idx, int32_t n)
{
    const ekrt_tinfo_t *b = tensor(c, idx);
    if (b == NULL) {
        return 0;
    }
    if (want(c, idx, "bias", EKRT_T_INT32, 1) || want_const(c, idx, "bias")) {
        return -1;
    }
    if (b->dims[0] != n) {
        return fail_op(c, "bias has %d values for %d channels", (int)b->dims[0], (int)n);
    }
    return 0;
}

/* --- per-op preparation ----------------------------------------------------------------- */

static int prep_conv(ctx_t *c, ekrt_op_t *op, uint32_t ot, int depthwise)
{
    ekrt_conv_params_t *p = &op->p.conv;
    const ekrt_tinfo_t *in, *f, *out;
    uint32_t o;
    int32_t padding, act;
    if (want(c, op->in[0], "input", EKRT_T_INT8, 4) || want(c, op->in[1], "filter", EKRT_T_INT8, 4) ||
        want(c, op->out, "output", EKRT_T_INT8, 4)) {
        return -1;
    }
    in = tensor(c, op->in[0]);
    f = tensor(c, op->in[1]);
    out = tensor(c, op->out);
    o = opts_table(c, ot, depthwise ? OPT_DWCONV : OPT_CONV);
    padding = ekrt_fb_get_i8(&c->fb, o, 0, 0);
    p->stride_w = ekrt_fb_get_i32(&c->fb, o, 1, 0);
    p->stride_h = ekrt_fb_get_i32(&c->fb, o, 2, 0);
    if (depthwise) {
        p->depth_mult = ekrt_fb_get_i32(&c->fb, o, 3, 0);
        act = ekrt_fb_get_i8(&c->fb, o, 4, 0);
        p->dil_w = ekrt_fb_get_i32(&c->fb, o, 5, 1);
        p->dil_h = ekrt_fb_get_i32(&c->fb, o, 6, 1);
    } else {
        act = ekrt_fb_get_i8(&c->fb, o, 3, 0);
        p->dil_w = ekrt_fb_get_i32(&c->fb, o, 4, 1);
        p->dil_h = ekrt_fb_get_i32(&c->fb, o, 5, 1);
    }
    if (p->stride_w < 1 || p->stride_h < 1 || p->dil_w < 1 || p->dil_h < 1 ||
        p->stride_w > 1024 || p->stride_h > 1024 || p->dil_w > 1024 || p->dil_h > 1024) {
        return fail_op(c, "invalid stride/dilation");
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
        return fail_op(c, "batch mismatch");
    }
    if (depthwise) {
        if (f->dims[0] != 1 || f->dims[3] != p->out_c || p->depth_mult < 1 ||
            p->in_c * p->depth_mult != p->out_c) {
            return fail_op(c, "filter/depth_multiplier do not match input and output channels");
        }
        p->filter_in_c = 1;
    } else {
        p->filter_in_c = f->dims[3];
        if (f->dims[0] != p->out_c || p->in_c % p->filter_in_c != 0 ||
            p->out_c % (p->in_c / p->filter_in_c) != 0) {
            return fail_op(c, "filter shape does not match input and output channels");
        }
    }
    if (compute_padding(c, padding, p->stride_h, p->dil_h, p->in_h, p->k_h, p->out_h, &p->pad_h) ||
        compute_padding(c, padding, p->stride_w, p->dil_w, p->in_w, p->k_w, p->out_w, &p->pad_w) ||
        bias_ok(c, op->in[2], p->out_c) || act_range(c, act, out, &p->act_min, &p->act_max) ||
        per_channel(c, in, f, out, p->out_c, &p->mult, &p->shift)) {
        return -1;
    }
    p->input_offset = -in->zero_point;
    p->output_offset = out->zero_point;
    return 0;
}

static int prep_fc(ctx_t *c, ekrt_op_t *op, uint32_t ot)
{
    ekrt_fc_params_t *p = &op->p.fc;
    const ekrt_tinfo_t *in, *f, *out;
    uint32_t o, n_in;
    int32_t act;
    if (want(c, op->in[0], "input", EKRT_T_INT8, -1) || want(c, op->in[1], "filter", EKRT_T_INT8, 2) ||
        want(c, op->out, "output", EKRT_T_INT8, -1)) {
        return -1;
    }
    in = tensor(c, op->in[0]);
    f = tensor(c, op->in[1]);
    out = tensor(c, op->out);
    o = opts_table(c, ot, OPT_FC);
    act = ekrt_fb_get_i8(&c->fb, o, 0, 0);
    if (ekrt_fb_get_i8(&c->fb, o, 1, 0) != 0) {
        return fail_op(c, "shuffled weights format is not supported");
    }
    p->out_depth = f->dims[0];
    p->accum_depth = f->dims[1];
    n_in = elem_count(in);
    if (n_in % (uint32_t)p->accum_depth != 0) {
        return fail_op(c, "input size %u is not a multiple of %d", (unsigned)n_in,
                       (int)p->accum_depth);
    }
    p->batches = (int32_t)(n_in / (uint32_t)p->accum_depth);
    if (out->ndim < 1 || out->dims[out->ndim - 1] != p->out_depth ||
        elem_count(out) != (uint32_t)(p->batches * p->out_depth)) {
        return fail_op(c, "output shape does not match filter");
    }
    if (bias_ok(c, op->in[2], p->out_depth) || act_range(c, act, out, &p->act_min, &p->act_max)) {
        return -1;
    }
    if (f->qcount > 1) {
        if (per_channel(c, in, f, out, p->out_depth, &p->pc_mult, &p->pc_shift)) {
            return -1;
        }
    } else {
        /* GetQuantizedConvolutionMultipler: (in * filter) / out in double */
        const double prod = (double)in->scale * (double)f->scale;
        if (!(f->scale >= 0.0f && f->scale < 3.0e38f)) {
            return fail_op(c, "filter scale is invalid");
        }
        ekrt_quantize_multiplier(prod / (double)out->scale, &p->mult, &p->shift);
        p->pc_mult = NULL;
        p->pc_shift = NULL;
    }
    p->input_offset = -in->zero_point;
    p->filter_offset = -f->zero_point;
    p->output_offset = out->zero_point;
    return 0;
}

/* Element strides of `in` per output dim (right-aligned, 0 where broadcast); -1 if the
 * shapes are not broadcast-compatible. */
static int bcast_strides(uint32_t in_nd, const int32_t *in_dims, uint32_t out_nd,
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

static int prep_add(ctx_t *c, ekrt_op_t *op, uint32_t ot)
{
    ekrt_add_params_t *p = &op->p.add;
    const ekrt_tinfo_t *a, *b, *out;
    int32_t s[EKRT_MAX_DIMS], act;
    double twice_max;
    float smax;
    if (want(c, op->in[0], "input", EKRT_T_INT8, -1) || want(c, op->in[1], "input", EKRT_T_INT8, -1) ||
        want(c, op->out, "output", EKRT_T_INT8, -1)) {
        return -1;
    }
    a = tensor(c, op->in[0]);
    b = tensor(c, op->in[1]);
    out = tensor(c, op->out);
    if (bcast_strides(a->ndim, a->dims, out->ndim, out->dims, s) ||
        bcast_strides(b->ndim, b->dims, out->ndim, out->dims, s)) {
        return fail_op(c, "input shapes do not broadcast to the output shape");
    }
    act = ekrt_fb_get_i8(&c->fb, opts_table(c, ot, OPT_ADD), 0, 0);
    if (act_range(c, act, out, &p->act_min, &p->act_max)) {
        return -1;
    }
    p->in1_offset = -a->zero_point;
    p->in2_offset = -b->zero_point;
    p->out_offset = out->zero_point;
    p->left_shift = 20;
    smax = a->scale > b->scale ? a->scale : b->scale;
    twice_max = 2.0 * (double)smax;
    ekrt_quantize_multiplier((double)a->scale / twice_max, &p->in1_mult, &p->in1_shift);
    ekrt_quantize_multiplier((double)b->scale / twice_max, &p->in2_mult, &p->in2_shift);
    ekrt_quantize_multiplier(twice_max / ((double)(1 << p->left_shift) * (double)out->scale),
                             &p->out_mult, &p->out_shift);
    return 0;
}

static int prep_pool(ctx_t *c, ekrt_op_t *op, uint32_t ot)
{
    ekrt_pool_params_t *p = &op->p.pool;
    const ekrt_tinfo_t *in, *out;
    uint32_t o;
    int32_t padding, act;
    if (want(c, op->in[0], "input", EKRT_T_INT8, 4) || want(c, op->out, "output", EKRT_T_INT8, 4)) {
        return -1;
    }
    in = tensor(c, op->in[0]);
    out = tensor(c, op->out);
    o = opts_table(c, ot, OPT_POOL);
    padding = ekrt_fb_get_i8(&c->fb, o, 0, 0);
    p->stride_w = ekrt_fb_get_i32(&c->fb, o, 1, 0);
    p->stride_h = ekrt_fb_get_i32(&c->fb, o, 2, 0);
    p->k_w = ekrt_fb_get_i32(&c->fb, o, 3, 0);
    p->k_h = ekrt_fb_get_i32(&c->fb, o, 4, 0);
    act = ekrt_fb_get_i8(&c->fb, o, 5, 0);
    if (p->stride_w < 1 || p->stride_h < 1 || p->k_w < 1 || p->k_h < 1 || p->stride_w > 1024 ||
        p->stride_h > 1024 || p->k_w > 4096 || p->k_h > 4096) {
        return fail_op(c, "invalid pool size/stride");
    }
    p->batches = in->dims[0];
    p->in_h = in->dims[1];
    p->in_w = in->dims[2];
    p->channels = in->dims[3];
    p->out_h = out->dims[1];
    p->out_w = out->dims[2];
    if (out->dims[0] != p->batches || out->dims[3] != p->channels) {
        return fail_op(c, "output shape does not match input");
    }
    if (compute_padding(c, padding, p->stride_h, 1, p->in_h, p->k_h, p->out_h, &p->pad_h) ||
        compute_padding(c, padding, p->stride_w, 1, p->in_w, p->k_w, p->out_w, &p->pad_w) ||
        act_range(c, act, out, &p->act_min, &p->act_max)) {
        return -1;
    }
    return 0;
}

static int prep_mean(ctx_t *c, ekrt_op_t *op)
{
    ekrt_mean_params_t *p = &op->p.mean;
    const ekrt_tinfo_t *in, *ax, *out;
    uint32_t i, n_ax, kept = 1;
    int32_t mult, shift, sh;
    uint64_t n;
    if (want(c, op->in[0], "input", EKRT_T_INT8, -1) || want(c, op->in[1], "axis", EKRT_T_INT32, -1) ||
        want_const(c, op->in[1], "axis") || want(c, op->out, "output", EKRT_T_INT8, -1)) {
        return -1;
    }
    in = tensor(c, op->in[0]);
    ax = tensor(c, op->in[1]);
    out = tensor(c, op->out);
    n_ax = elem_count(ax);
    p->reduce_mask = 0;
    for (i = 0; i < n_ax; ++i) {
        int32_t a = ekrt_fb_i32(&c->fb, (uint32_t)(ax->data - c->fb.buf) + 4u * i);
        if (a < 0) {
            a += in->ndim;
        }
        if (a < 0 || a >= in->ndim) {
            return fail_op(c, "axis %d out of range", (int)a);
        }
        p->reduce_mask |= (uint8_t)(1u << a);
    }
    n = 1;
    for (i = 0; i < in->ndim; ++i) {
        if (p->reduce_mask & (1u << i)) {
            n *= (uint64_t)in->dims[i];
        } else {
            kept *= (uint32_t)in->dims[i];
        }
    }
    if (kept != elem_count(out)) {
        return fail_op(c, "output size does not match the reduced input");
    }
    p->num_elements = (int32_t)n;
    p->input_zp = in->zero_point;
    p->output_zp = out->zero_point;
    ekrt_quantize_multiplier((double)in->scale / (double)out->scale, &mult, &shift);
    /* QuantizedMeanOrSum folds 1/n into the multiplier: shift = floor(log2 n), clamped */
    sh = 0;
    while ((n >> (sh + 1)) != 0) {
        sh++;
    }
    if (sh > 32) {
        sh = 32;
    }
    if (sh > 31 + shift) {
        sh = 31 + shift;
    }
    if (sh < 0) {
        sh = 0;
    }
    p->mult = (int32_t)(((int64_t)mult * ((int64_t)1 << sh)) / (int64_t)n);
    p->shift = shift - sh;
    return 0;
}

static int prep_pad(ctx_t *c, ekrt_op_t *op)
{
    ekrt_pad_params_t *p = &op->p.pad;
    const ekrt_tinfo_t *in, *pd, *out;
    uint32_t d;
    uint32_t pos;
    int wide;
    if (want(c, op->in[0], "input", EKRT_T_INT8, -1) || want(c, op->out, "output", EKRT_T_INT8, -1)) {
        return -1;
    }
    in = tensor(c, op->in[0]);
    pd = tensor(c, op->in[1]);
    out = tensor(c, op->out);
    if (pd == NULL || (pd->type != EKRT_T_INT32 && pd->type != EKRT_T_INT64) || !pd->is_const) {
        return fail_op(c, "paddings must be a constant INT32/INT64 tensor");
    }
    wide = pd->type == EKRT_T_INT64;
    if (pd->ndim != 2 || pd->dims[0] != in->ndim || pd->dims[1] != 2 || out->ndim != in->ndim) {
        return fail_op(c, "paddings shape does not match the input rank");
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
            return fail_op(c, "paddings do not match the output shape");
        }
        p->before[d] = before;
    }
    p->pad_value = (int8_t)out->zero_point;
    if (op->code == EKRT_OP_PADV2 && op->in[2] >= 0) {
        const ekrt_tinfo_t *cv = tensor(c, op->in[2]);
        if (want(c, op->in[2], "constant", EKRT_T_INT8, -1) || !cv->is_const || cv->bytes != 1) {
            return fail_op(c, "constant value must be a constant INT8 scalar");
        }
        p->pad_value = (int8_t)cv->data[0];
    }
    return 0;
}

static int prep_transpose(ctx_t *c, ekrt_op_t *op)
{
    const ekrt_tinfo_t *in, *pm, *out;
    uint32_t d, seen = 0, pos;
    if (want(c, op->in[0], "input", EKRT_T_INT8, -1) || want(c, op->out, "output", EKRT_T_INT8, -1) ||
        want(c, op->in[1], "perm", EKRT_T_INT32, 1) || want_const(c, op->in[1], "perm")) {
        return -1;
    }
    in = tensor(c, op->in[0]);
    pm = tensor(c, op->in[1]);
    out = tensor(c, op->out);
    if (pm->dims[0] != in->ndim || out->ndim != in->ndim) {
        return fail_op(c, "perm length does not match the input rank");
    }
    pos = (uint32_t)(pm->data - c->fb.buf);
    for (d = 0; d < in->ndim; ++d) {
        int32_t v = ekrt_fb_i32(&c->fb, pos + 4u * d);
        if (v < 0) {
            v += in->ndim;
        }
        if (v < 0 || v >= in->ndim || (seen & (1u << v)) || out->dims[d] != in->dims[v]) {
            return fail_op(c, "perm is not a permutation matching the output shape");
        }
        seen |= 1u << v;
        op->p.tr.perm[d] = v;
    }
    return 0;
}

/* SoftmaxPrepare for int8: PreprocessSoftmaxScaling with 5 integer bits, CalculateInputRadius */
static int prep_softmax(ctx_t *c, ekrt_op_t *op, uint32_t ot)
{
    ekrt_softmax_params_t *p = &op->p.sm;
    const ekrt_tinfo_t *in, *out;
    uint32_t o, fpos;
    float beta = 0.0f;
    double real, radius;
    int32_t shift;
    if (want(c, op->in[0], "input", EKRT_T_INT8, -1) || want(c, op->out, "output", EKRT_T_INT8, -1)) {
        return -1;
    }
    in = tensor(c, op->in[0]);
    out = tensor(c, op->out);
    if (in->ndim < 1 || elem_count(in) != elem_count(out)) {
        return fail_op(c, "input and output shapes differ");
    }
    if (out->zero_point != -128 || out->scale != 1.0f / 256.0f) {
        return fail_op(c, "int8 output must have scale 1/256 and zero point -128");
    }
    o = opts_table(c, ot, OPT_SOFTMAX);
    fpos = ekrt_fb_field(&c->fb, o, 0, 4);
    if (fpos) {
        beta = ekrt_fb_f32(&c->fb, fpos);
    }
    if (!(beta > 0.0f && beta < 1.0e6f)) {
        return fail_op(c, "beta must be positive");
    }
    real = (double)beta * (double)in->scale * (double)(1 << (31 - 5));
    if (real > 2147483647.0) {
        real = 2147483647.0;
    }
    ekrt_quantize_multiplier(real, &p->mult, &shift);
    if (shift < 0 || shift > 30) {
        return fail_op(c, "input scale too small for int8 softmax");
    }
    p->left_shift = shift;
    radius = 31.0 * (double)((int64_t)1 << 26) / (double)((int64_t)1 << shift);
    p->diff_min = -(int32_t)radius; /* floor of a positive value */
    return 0;
}

static int prep_quantize(ctx_t *c, ekrt_op_t *op)
{
    ekrt_qnt_params_t *p = &op->p.qnt;
    const ekrt_tinfo_t *in = tensor(c, op->in[0]);
    const ekrt_tinfo_t *out = tensor(c, op->out);
    if (in == NULL || out == NULL) {
        return fail_op(c, "missing input or output");
    }
    if (elem_count(in) != elem_count(out)) {
        return fail_op(c, "input and output sizes differ");
    }
    if (op->code == EKRT_OP_DEQUANTIZE) {
        if (want(c, op->in[0], "input", EKRT_T_INT8, -1) ||
            want(c, op->out, "fp output", EKRT_T_FLOAT32, -1)) {
            return -1;
        }
        p->scale = in->scale;
        p->zero_point = in->zero_point;
        return 0;
    }
    if (want(c, op->out, "output", EKRT_T_INT8, -1)) {
        return -1;
    }
    p->scale = out->scale;
    p->zero_point = out->zero_point;
    if (in->type == EKRT_T_FLOAT32) {
        return 0;
    }
    if (want(c, op->in[0], "input", EKRT_T_INT8, -1)) {
        return -1;
    }
    p->in_zp = in->zero_point;
    ekrt_quantize_multiplier((double)in->scale / (double)out->scale, &p->mult, &p->shift);
    return 0;
}

static int prep_op(ctx_t *c, ekrt_op_t *op, uint32_t ot, uint32_t n_in)
{
    switch (op->code) {
    case EKRT_OP_CONV_2D:
    case EKRT_OP_DEPTHWISE_CONV_2D:
        if (n_in < 2 || n_in > 3) {
            return fail_op(c, "expected 2-3 inputs, got %u", (unsigned)n_in);
        }
        return prep_conv(c, op, ot, op->code == EKRT_OP_DEPTHWISE_CONV_2D);
    case EKRT_OP_FULLY_CONNECTED:
        if (n_in < 2 || n_in > 3) {
            return fail_op(c, "expected 2-3 inputs, got %u", (unsigned)n_in);
        }
        return prep_fc(c, op, ot);
    case EKRT_OP_ADD:
        if (n_in != 2) {
            return fail_op(c, "expected 2 inputs, got %u", (unsigned)n_in);
        }
        return prep_add(c, op, ot);
    case EKRT_OP_AVERAGE_POOL_2D:
        if (n_in != 1) {
            return fail_op(c, "expected 1 input, got %u", (unsigned)n_in);
        }
        return prep_pool(c, op, ot);
    case EKRT_OP_MEAN:
        if (n_in != 2) {
            return fail_op(c, "expected 2 inputs, got %u", (unsigned)n_in);
        }
        return prep_mean(c, op);
    case EKRT_OP_PAD:
    case EKRT_OP_PADV2:
        if (n_in < 2 || n_in > 3) {
            return fail_op(c, "expected 2-3 inputs, got %u", (unsigned)n_in);
        }
        return prep_pad(c, op);
    case EKRT_OP_RESHAPE: {
        const ekrt_tinfo_t *in = tensor(c, op->in[0]);
        const ekrt_tinfo_t *out = tensor(c, op->out);
        if (n_in < 1 || n_in > 2 || in == NULL || out == NULL) {
            return fail_op(c, "expected 1-2 inputs");
        }
        if (in->type != out->type || in->bytes != out->bytes || type_size(in->type) == 0) {
            return fail_op(c, "input and output differ in type or size");
        }
        return 0;
    }
    case EKRT_OP_SOFTMAX:
        if (n_in != 1) {
            return fail_op(c, "expected 1 input, got %u", (unsigned)n_in);
        }
        return prep_softmax(c, op, ot);
    case EKRT_OP_TRANSPOSE:
        if (n_in != 2) {
            return fail_op(c, "expected 2 inputs, got %u", (unsigned)n_in);
        }
        return prep_transpose(c, op);
    case EKRT_OP_QUANTIZE:
    case EKRT_OP_DEQUANTIZE:
        if (n_in != 1) {
            return fail_op(c, "expected 1 input, got %u", (unsigned)n_in);
        }
        return prep_quantize(c, op);
    default:
        return fail_op(c, "operator is not supported by edgekit-rt");
    }
}

static int parse_ops(ctx_t *c, uint32_t ovec, uint32_t n_ops, uint32_t cvec, uint32_t n_codes)
{
    ekrt_fb_t *fb = &c->fb;
    ekrt_t *rt = c->rt;
    uint32_t i, k;
    for (i = 0; i < n_ops; ++i) {
        ekrt_op_t *op = &rt->ops[i];
        uint32_t ot = ekrt_fb_vec_table(fb, ovec, n_ops, i);
        uint32_t opcode = ekrt_fb_get_u32(fb, ot, 0, 0);
        uint32_t ct, iv, ov, n_in, n_out;
        int32_t dep, code;
        memset(op, 0, sizeof *op);
        c->op_index = i;
        c->op_code = -1;
        if (fb->bad || opcode >= n_codes) {
            return fail(c, "malformed model: operator %u has opcode index %u of %u", (unsigned)i,
                        (unsigned)opcode, (unsigned)n_codes);
        }
        ct = ekrt_fb_vec_table(fb, cvec, n_codes, opcode);
        dep = ekrt_fb_get_i8(fb, ct, 0, 0);
        code = ekrt_fb_get_i32(fb, ct, 3, 0);
        /* schema v3a: the real code is the larger of the two fields */
        op->code = code > dep ? code : dep;
        c->op_code = op->code;
        if (op->code == 32) { /* CUSTOM */
            return fail_op(c, "custom operators are not supported");
        }
        iv = ekrt_fb_get_vec(fb, ot, 1, 4, &n_in);
        ov = ekrt_fb_get_vec(fb, ot, 2, 4, &n_out);
        if (fb->bad) {
            return fail(c, "malformed model: operator %u", (unsigned)i);
        }
        op->in[0] = op->in[1] = op->in[2] = -1;
        for (k = 0; k < n_in && k < 3; ++k) {
            int32_t t = ekrt_fb_i32(fb, iv + 4u * k);
            if (t < -1 || t >= (int32_t)rt->n_tensors) {
                return fail(c, "malformed model: operator %u input %u is tensor %d",
                            (unsigned)i, (unsigned)k, (int)t);
            }
            op->in[k] = t;
        }
        if (n_out < 1) {
            return fail_op(c, "operator has no outputs");
        }
        op->out = ekrt_fb_i32(fb, ov);
        if (op->out < 0 || op->out >= (int32_t)rt->n_tensors) {
            return fail(c, "malformed model: operator %u output is tensor %d", (unsigned)i,
                        (int)op->out);
        }
        if (prep_op(c, op, ot, n_in) != 0) {
            return -1;
        }
        if (n_out != 1) {
            return fail_op(c, "expected 1 output, got %u", (unsigned)n_out);
        }
        if (fb->bad) {
            return fail(c, "malformed model: operator %u options", (unsigned)i);
        }
    }
    return 0;
}

/* --- lifetimes + plan ------------------------------------------------------------------- */

static int plan(ctx_t *c)
{
    ekrt_t *rt = c->rt;
    ekrt_tinfo_t *ts = c->ti;
    uint32_t i, k;
    size_t need;
    for (i = 0; i < rt->n_inputs; ++i) {
        ts[rt->inputs[i]].first = 0;
        ts[rt->inputs[i]].last = 0;
    }
    for (i = 0; i < rt->n_ops; ++i) {
        const ekrt_op_t *op = &rt->ops[i];
        ekrt_tinfo_t *o = &ts[op->out];
        for (k = 0; k < 3; ++k) {
            ekrt_tinfo_t *t;
            if (op->in[k] < 0) {
                continue;
            }
            t = &ts[op->in[k]];
            if (t->is_const) {
                continue;
            }
            if (t->first < 0) {
                return fail(c, "operator %u reads tensor %d before anything writes it",
                            (unsigned)i, (int)op->in[k]);
            }
            t->last = (int32_t)i;
        }
        if (o->is_const || o->first >= 0) {
            return fail(c, "operator %u writes tensor %d which is constant or already written",
                        (unsigned)i, (int)op->out);
        }
        if (type_size(o->type) == 0 || o->bytes == 0) {
            return fail(c, "operator %u: output tensor type %s is not supported", (unsigned)i,
                        ekrt_type_name(o->type));
        }
        o->first = (int32_t)i;
        o->last = (int32_t)i;
    }
    for (i = 0; i < rt->n_outputs; ++i) {
        ekrt_tinfo_t *t = &ts[rt->outputs[i]];
        if (t->first < 0) {
            return fail(c, "graph output tensor %d is never written", (int)rt->outputs[i]);
        }
        t->last = (int32_t)rt->n_ops;
    }
    need = ekrt_plan(ts, rt->n_tensors);
    /* the compact runtime tensor table goes to the persistent end; the init-time table at the
     * start is dead once it is copied, so the activations may overwrite it later */
    rt->tensors = (ekrt_tensor_t *)palloc(c, (uint32_t)(sizeof(ekrt_tensor_t) * rt->n_tensors));
    rt->planned_bytes = need;
    rt->persistent_bytes = rt->arena_len - c->tail;
    if (rt->tensors == NULL || need > c->tail) {
        size_t front = need > c->head ? need : c->head;
        return fail(c, "arena too small: model needs %lu bytes, arena has %lu",
                    (unsigned long)(front + rt->persistent_bytes +
                                    (rt->tensors ? 0u : sizeof(ekrt_tensor_t) * rt->n_tensors)),
                    (unsigned long)rt->arena_len);
    }
    for (i = 0; i < rt->n_tensors; ++i) {
        ekrt_tensor_t *t = &rt->tensors[i];
        t->data = ts[i].placed ? rt->arena + ts[i].offset : ts[i].data;
        t->bytes = ts[i].bytes;
        memcpy(t->dims, ts[i].dims, sizeof t->dims);
        t->type = ts[i].type;
        t->ndim = ts[i].ndim;
    }
    for (i = 0; i < rt->n_inputs; ++i) {
        rt->in_scale[i] = ts[rt->inputs[i]].scale;
        rt->in_zp[i] = ts[rt->inputs[i]].zero_point;
    }
    for (i = 0; i < rt->n_outputs; ++i) {
        rt->out_scale[i] = ts[rt->outputs[i]].scale;
        rt->out_zp[i] = ts[rt->outputs[i]].zero_point;
    }
    /* front of the arena: max(init-time tables, planned activations) */
    rt->planned_bytes = need > c->head ? need : c->head;
    return 0;
}

/* --- public API ------------------------------------------------------------------------- */

static int io_list(ctx_t *c, uint32_t sg, uint32_t id, int32_t *dst, uint32_t *n,
                   const char *what)
{
    uint32_t cnt, i;
    uint32_t v = ekrt_fb_get_vec(&c->fb, sg, id, 4, &cnt);
    if (c->fb.bad) {
        return fail(c, "malformed model: graph %s", what);
    }
    if (cnt < 1 || cnt > EKRT_MAX_IO) {
        return fail(c, "graph has %u %s; edgekit-rt supports 1..%d", (unsigned)cnt, what,
                    EKRT_MAX_IO);
    }
    for (i = 0; i < cnt; ++i) {
        int32_t t = ekrt_fb_i32(&c->fb, v + 4u * i);
        if (t < 0 || t >= (int32_t)c->rt->n_tensors) {
            return fail(c, "malformed model: graph %s %u is tensor %d", what, (unsigned)i,
                        (int)t);
        }
        if (c->ti[t].is_const || type_size(c->ti[t].type) == 0) {
            return fail(c, "graph %s tensor %d (type %s) is not supported", what, (int)t,
                        ekrt_type_name(c->ti[t].type));
        }
        dst[i] = t;
    }
    *n = cnt;
    return 0;
}

int ekrt_init(ekrt_t *rt, const uint8_t *model, size_t model_len, uint8_t *arena,
              size_t arena_len, char *err, size_t err_len)
{
    ctx_t c;
    uint32_t root, sg, subgraphs, n_sg, cvec, n_codes, bvec, n_buffers, tvec, ovec;
    uint32_t n_tensors, n_ops;
    size_t skip;
    if (err != NULL && err_len > 0) {
        err[0] = '\0';
    }
    if (rt == NULL) {
        return -1;
    }
    memset(rt, 0, sizeof *rt);
    memset(&c, 0, sizeof c);
    c.rt = rt;
    c.err = err;
    c.err_len = err_len;
    if (model == NULL || arena == NULL) {
        return fail(&c, "no model or no arena");
    }
    if (model_len < 16 || model_len > 0x7FFFFFF0u) {
        return fail(&c, "model is %lu bytes: not a TFLite flatbuffer", (unsigned long)model_len);
    }
    skip = (size_t)((16u - ((uintptr_t)arena & 15u)) & 15u);
    if (arena_len < skip + 64u) {
        return fail(&c, "arena too small: %lu bytes", (unsigned long)arena_len);
    }
    rt->model = model;
    rt->model_len = model_len;
    rt->arena = arena + skip;
    rt->arena_len = (arena_len - skip) > 0x7FFFFFF0u ? 0x7FFFFFF0u : (arena_len - skip);
    rt->arena_len &= ~(size_t)7u;
    c.tail = (uint32_t)rt->arena_len;
    c.fb.buf = model;
    c.fb.len = (uint32_t)model_len;

    if (memcmp(model + 4, "TFL3", 4) != 0) {
        return fail(&c, "not a TFLite model (file identifier is not TFL3)");
    }
    root = ekrt_fb_table_at(&c.fb, 0);
    if (c.fb.bad) {
        return fail(&c, "malformed model: root table");
    }
    if (ekrt_fb_get_u32(&c.fb, root, 0, 0) != 3) {
        return fail(&c, "model schema version %u, expected 3",
                    (unsigned)ekrt_fb_get_u32(&c.fb, root, 0, 0));
    }
    cvec = ekrt_fb_get_vec(&c.fb, root, 1, 4, &n_codes);
    subgraphs = ekrt_fb_get_vec(&c.fb, root, 2, 4, &n_sg);
    bvec = ekrt_fb_get_vec(&c.fb, root, 4, 4, &n_buffers);
    if (c.fb.bad || n_sg < 1) {
        return fail(&c, "malformed model: no subgraph");
    }
    sg = ekrt_fb_vec_table(&c.fb, subgraphs, n_sg, 0);
    tvec = ekrt_fb_get_vec(&c.fb, sg, 0, 4, &n_tensors);
    ovec = ekrt_fb_get_vec(&c.fb, sg, 3, 4, &n_ops);
    if (c.fb.bad) {
        return fail(&c, "malformed model: subgraph 0");
    }
    if (n_tensors < 1 || n_tensors > 0x7FFF || n_ops > 0x7FFF) {
        return fail(&c, "model has %u tensors and %u operators (supported: 1..32767)",
                    (unsigned)n_tensors, (unsigned)n_ops);
    }
    rt->n_tensors = n_tensors;
    rt->n_ops = n_ops;
    c.ti = (ekrt_tinfo_t *)scratch_alloc(&c, (uint32_t)(sizeof(ekrt_tinfo_t) * n_tensors));
    rt->ops = (ekrt_op_t *)palloc(&c, (uint32_t)(sizeof(ekrt_op_t) * (n_ops ? n_ops : 1u)));
    if (c.ti == NULL || rt->ops == NULL) {
        return fail(&c, "arena too small: %lu bytes cannot hold the tables of %u tensors and %u operators",
                    (unsigned long)arena_len, (unsigned)n_tensors, (unsigned)n_ops);
    }
    if (parse_tensors(&c, tvec, n_tensors, bvec, n_buffers) ||
        io_list(&c, sg, 1, rt->inputs, &rt->n_inputs, "inputs") ||
        io_list(&c, sg, 2, rt->outputs, &rt->n_outputs, "outputs") ||
        parse_ops(&c, ovec, n_ops, cvec, n_codes) || plan(&c)) {
        rt->n_tensors = 0;
        rt->n_ops = 0;
        rt->n_inputs = 0;
        rt->n_outputs = 0;
        return -1;
    }
    rt->arena_used = skip + rt->planned_bytes + rt->persistent_bytes;
    rt->ready = 1;
    return 0;
}

int ekrt_invoke_ops(ekrt_t *rt, uint32_t first, uint32_t count, char *err, size_t err_len)
{
    uint32_t i;
    if (err != NULL && err_len > 0) {
        err[0] = '\0';
    }
    if (rt == NULL || !rt->ready) {
        ekrt_fmt(err, err_len, "edgekit-rt is not initialised");
        return -1;
    }
    if (first > rt->n_ops || count > rt->n_ops - first) {
        ekrt_fmt(err, err_len, "operators %u..+%u out of range (model has %u)", (unsigned)first,
                 (unsigned)count, (unsigned)rt->n_ops);
        return -1;
    }
    for (i = first; i < first + count; ++i) {
        const ekrt_op_t *op = &rt->ops[i];
        const ekrt_tensor_t *in = &rt->tensors[op->in[0]];
        ekrt_tensor_t *out = &rt->tensors[op->out];
        const ekrt_tensor_t *in1 = op->in[1] >= 0 ? &rt->tensors[op->in[1]] : NULL;
        const int32_t *bias = op->in[2] >= 0 ? (const int32_t *)(const void *)rt->tensors[op->in[2]].data : NULL;
        switch (op->code) {
        case EKRT_OP_CONV_2D:
            ekrt_conv2d_s8(&op->p.conv, (const int8_t *)in->data, (const int8_t *)in1->data, bias,
                           (int8_t *)out->data);
            break;
        case EKRT_OP_DEPTHWISE_CONV_2D:
            ekrt_depthwise_conv2d_s8(&op->p.conv, (const int8_t *)in->data,
                                     (const int8_t *)in1->data, bias, (int8_t *)out->data);
            break;
        case EKRT_OP_FULLY_CONNECTED:
            ekrt_fully_connected_s8(&op->p.fc, (const int8_t *)in->data, (const int8_t *)in1->data,
                                    bias, (int8_t *)out->data);
            break;
        case EKRT_OP_ADD: {
            int32_t s1[EKRT_MAX_DIMS], s2[EKRT_MAX_DIMS];
            (void)bcast_strides(in->ndim, in->dims, out->ndim, out->dims, s1);
            (void)bcast_strides(in1->ndim, in1->dims, out->ndim, out->dims, s2);
            ekrt_add_s8(&op->p.add, out->ndim, out->dims, s1, s2, (const int8_t *)in->data,
                        (const int8_t *)in1->data, (int8_t *)out->data);
            break;
        }
        case EKRT_OP_AVERAGE_POOL_2D:
            ekrt_avgpool_s8(&op->p.pool, (const int8_t *)in->data, (int8_t *)out->data);
            break;
        case EKRT_OP_MEAN:
            ekrt_mean_s8(&op->p.mean, in->ndim, in->dims, (const int8_t *)in->data,
                         (int8_t *)out->data);
            break;
        case EKRT_OP_PAD:
        case EKRT_OP_PADV2:
            ekrt_pad_s8(&op->p.pad, in->ndim, in->dims, out->dims, (const int8_t *)in->data,
                        (int8_t *)out->data);
            break;
        case EKRT_OP_SOFTMAX: {
            const uint32_t depth = (uint32_t)in->dims[in->ndim - 1];
            ekrt_softmax_s8(&op->p.sm, in->bytes / depth, depth, (const int8_t *)in->data,
                            (int8_t *)out->data);
            break;
        }
        case EKRT_OP_TRANSPOSE:
            ekrt_transpose_s8(op->p.tr.perm, in->ndim, in->dims, (const int8_t *)in->data,
                              (int8_t *)out->data);
            break;
        case EKRT_OP_RESHAPE:
            if (out->data != in->data) {
                memmove(out->data, in->data, out->bytes);
            }
            break;
        case EKRT_OP_QUANTIZE:
            if (in->type == EKRT_T_FLOAT32) {
                ekrt_quantize_f32_s8(&op->p.qnt, elem_count(out), (const float *)(const void *)in->data,
                                     (int8_t *)out->data);
            } else {
                ekrt_requantize_s8(&op->p.qnt, elem_count(out), (const int8_t *)in->data,
                                   (int8_t *)out->data);
            }
            break;
        case EKRT_OP_DEQUANTIZE:
            ekrt_dequantize_s8_f32(&op->p.qnt, elem_count(out), (const int8_t *)in->data,
                                   (float *)(void *)out->data);
            break;
        default:
            ekrt_fmt(err, err_len, "operator %u: unsupported code %d", (unsigned)i, (int)op->code);
            return -1;
        }
    }
    return 0;
}

/* ---- per-op stepping and inspection (minimal version from branch i9-tools) ------------- */

int ekrt_invoke(ekrt_t *rt, char *err, size_t err_len)
{
    return ekrt_invoke_ops(rt, 0, rt != NULL ? rt->n_ops : 0, err, err_len);
}

uint32_t ekrt_op_count(const ekrt_t *rt)
{
    return (rt != NULL && rt->ready) ? rt->n_ops : 0;
}

/* Quantization of tensor `t` read back from the flatbuffer (the runtime keeps no per-tensor
 * scale after init; this is only called by tools, never during an inference). */
static void tensor_quant(const ekrt_t *rt, int32_t t, float *scale, int32_t *zp)
{
    ekrt_fb_t fb;
    uint32_t root, sgs, n_sg, sg, tvec, n_t, tt, q, sc, zv, ns, nz;
    *scale = 0.0f;
    *zp = 0;
    fb.buf = rt->model;
    fb.len = (uint32_t)rt->model_len;
    fb.bad = 0;
    root = ekrt_fb_table_at(&fb, 0);
    sgs = ekrt_fb_get_vec(&fb, root, 2, 4, &n_sg);
    if (fb.bad || n_sg < 1) {
        return;
    }
    sg = ekrt_fb_vec_table(&fb, sgs, n_sg, 0);
    tvec = ekrt_fb_get_vec(&fb, sg, 0, 4, &n_t);
    if (fb.bad || t < 0 || (uint32_t)t >= n_t) {
        return;
    }
    tt = ekrt_fb_vec_table(&fb, tvec, n_t, (uint32_t)t);
    q = ekrt_fb_get_table(&fb, tt, 4);
    if (fb.bad || q == 0) {
        return;
    }
    sc = ekrt_fb_get_vec(&fb, q, 2, 4, &ns);
    zv = ekrt_fb_get_vec(&fb, q, 3, 8, &nz);
    if (!fb.bad && ns > 0) {
        *scale = ekrt_fb_f32(&fb, sc);
    }
    if (!fb.bad && nz > 0) {
        uint64_t z = ekrt_fb_u64(&fb, zv);
        int64_t zs;
        memcpy(&zs, &z, sizeof zs);
        *zp = (int32_t)zs;
    }
}

static uint64_t op_macs(const ekrt_op_t *op)
{
    const ekrt_conv_params_t *c = &op->p.conv;
    const ekrt_fc_params_t *f = &op->p.fc;
    switch (op->code) {
    case EKRT_OP_CONV_2D:
        return (uint64_t)c->batches * (uint64_t)c->out_h * (uint64_t)c->out_w *
               (uint64_t)c->out_c * (uint64_t)c->k_h * (uint64_t)c->k_w * (uint64_t)c->filter_in_c;
    case EKRT_OP_DEPTHWISE_CONV_2D:
        return (uint64_t)c->batches * (uint64_t)c->out_h * (uint64_t)c->out_w *
               (uint64_t)c->out_c * (uint64_t)c->k_h * (uint64_t)c->k_w;
    case EKRT_OP_FULLY_CONNECTED:
        return (uint64_t)f->batches * (uint64_t)f->accum_depth * (uint64_t)f->out_depth;
    default:
        return 0;
    }
}

int ekrt_op_info(const ekrt_t *rt, uint32_t op, ekrt_op_info_t *info)
{
    const ekrt_op_t *o;
    const ekrt_tensor_t *t;
    uint32_t d;
    if (rt == NULL || !rt->ready || op >= rt->n_ops || info == NULL) {
        return -1;
    }
    o = &rt->ops[op];
    t = &rt->tensors[o->out];
    memset(info, 0, sizeof *info);
    info->opcode = o->code;
    info->name = ekrt_op_name(o->code);
    info->macs = op_macs(o);
    info->out_data = (const int8_t *)t->data;
    info->out_bytes = t->bytes;
    info->out_tensor = o->out;
    tensor_quant(rt, o->out, &info->out_scale, &info->out_zero_point);
    info->out_rank = t->ndim;
    for (d = 0; d < t->ndim && d < 6u; ++d) {
        info->out_dims[d] = t->dims[d];
    }
    return 0;
}
/* ---- end of per-op block --------------------------------------------------------------- */

void *ekrt_input(ekrt_t *rt, uint32_t index, size_t *bytes)
{
    if (rt == NULL || !rt->ready || index >= rt->n_inputs) {
        if (bytes) {
            *bytes = 0;
        }
        return NULL;
    }
    if (bytes) {
        *bytes = rt->tensors[rt->inputs[index]].bytes;
    }
    return rt->tensors[rt->inputs[index]].data;
}

const void *ekrt_output(const ekrt_t *rt, uint32_t index, size_t *bytes)
{
    if (rt == NULL || !rt->ready || index >= rt->n_outputs) {
        if (bytes) {
            *bytes = 0;
        }
        return NULL;
    }
    if (bytes) {
        *bytes = rt->tensors[rt->outputs[index]].bytes;
    }
    return rt->tensors[rt->outputs[index]].data;
}

static int quant_of(float s, int32_t z, float *scale, int32_t *zp)
{
    if (scale) {
        *scale = s;
    }
    if (zp) {
        *zp = z;
    }
    return 0;
}

int ekrt_input_quant(const ekrt_t *rt, uint32_t index, float *scale, int32_t *zero_point)
{
    if (rt == NULL || !rt->ready || index >= rt->n_inputs) {
        return -1;
    }
    return quant_of(rt->in_scale[index], rt->in_zp[index], scale, zero_point);
}

int ekrt_output_quant(const ekrt_t *rt, uint32_t index, float *scale, int32_t *zero_point)
{
    if (rt == NULL || !rt->ready || index >= rt->n_outputs) {
        return -1;
    }
    return quant_of(rt->out_scale[index], rt->out_zp[index], scale, zero_point);
}

size_t ekrt_arena_used(const ekrt_t *rt)
{
    return (rt != NULL && rt->ready) ? rt->arena_used : 0;
}
