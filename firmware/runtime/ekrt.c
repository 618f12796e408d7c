/* edgekit-rt interpreter: flatbuffer -> tensor/op tables -> per-op prepare (each op's file,
 * found through ekrt_op_table) -> graph rewrites (PAD folding) -> arena plan -> invoke (walks
 * the op table's evals). All tables live at the end of the caller's arena; activations and
 * scratch buffers are planned from its start. */
#include <stddef.h>
#include <string.h>

#include "ekrt_internal.h"

/* --- tensors ---------------------------------------------------------------------------- */

/* Shape, type, size and quantization of tensor i, and its data when it is a constant. */
int ekrt_decode_tensor(ekrt_prep_t *c, uint32_t i, ekrt_tinfo_t *t)
{
    ekrt_fb_t *fb = &c->fb;
    const uint32_t tt = ekrt_fb_vec_table(fb, c->tvec, c->rt->n_tensors, i);
    uint32_t nd, sv, buf, q, es, d, count = 1;
    memset(t, 0, sizeof *t);
    sv = ekrt_fb_get_vec(fb, tt, EKRT_TENSOR_SHAPE, 4, &nd);
    if (fb->bad) {
        return ekrt_fail(c, "malformed model: tensor %u", (unsigned)i);
    }
    if (nd > EKRT_MAX_DIMS) {
        return ekrt_fail(c, "tensor %u has %u dims (edgekit-rt supports up to %d)", (unsigned)i,
                         (unsigned)nd, EKRT_MAX_DIMS);
    }
    t->ndim = (uint8_t)nd;
    for (d = 0; d < nd; ++d) {
        int32_t v = ekrt_fb_i32(fb, sv + 4u * d);
        if (v < 1 || v > 0xFFFFFF) {
            return ekrt_fail(c, "tensor %u: dimension %u is %d (expected 1..16777215)", (unsigned)i,
                             (unsigned)d, (int)v);
        }
        if (count > 0x7FFFFFFFu / (uint32_t)v) {
            return ekrt_fail(c, "tensor %u is too large", (unsigned)i);
        }
        count *= (uint32_t)v;
        t->dims[d] = v;
    }
    t->type = ekrt_fb_get_u8(fb, tt, EKRT_TENSOR_TYPE, 0);
    es = ekrt_type_size(t->type);
    if (es != 0 && count > 0x7FFFFFFFu / es) {
        return ekrt_fail(c, "tensor %u is too large", (unsigned)i);
    }
    t->bytes = count * es;
    buf = ekrt_fb_get_u32(fb, tt, EKRT_TENSOR_BUFFER, 0);
    if (buf >= c->n_buffers) {
        return ekrt_fail(c, "malformed model: tensor %u uses buffer %u of %u", (unsigned)i,
                         (unsigned)buf, (unsigned)c->n_buffers);
    }
    q = ekrt_fb_get_table(fb, tt, EKRT_TENSOR_QUANTIZATION);
    if (q) {
        uint32_t ns, nz, sc, zp;
        sc = ekrt_fb_get_vec(fb, q, EKRT_QUANT_SCALE, 4, &ns);
        zp = ekrt_fb_get_vec(fb, q, EKRT_QUANT_ZERO_POINT, 8, &nz);
        t->qdim = ekrt_fb_get_i32(fb, q, EKRT_QUANT_QUANTIZED_DIMENSION, 0);
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
                return ekrt_fail(c, "tensor %u: zero point out of range", (unsigned)i);
            }
            t->zero_point = (int32_t)zs;
        }
    }
    {
        uint32_t bt = ekrt_fb_vec_table(fb, c->bvec, c->n_buffers, buf);
        uint32_t dlen, dpos = ekrt_fb_get_vec(fb, bt, EKRT_BUFFER_DATA, 1, &dlen);
        uint64_t boff = ekrt_fb_get_u64(fb, bt, EKRT_BUFFER_OFFSET, 0);
        uint64_t bsize = ekrt_fb_get_u64(fb, bt, EKRT_BUFFER_SIZE, 0);
        if (fb->bad) {
            return ekrt_fail(c, "malformed model: buffer %u of tensor %u", (unsigned)buf,
                             (unsigned)i);
        }
        if (dlen == 0 && boff > 1) {
            /* data stored after the flatbuffer (models > 2 GB layout) */
            if (boff > fb->len || bsize > fb->len - boff) {
                return ekrt_fail(c, "malformed model: buffer %u lies outside the model",
                                 (unsigned)buf);
            }
            dpos = (uint32_t)boff;
            dlen = (uint32_t)bsize;
        }
        if (dlen > 0) {
            if (es == 0) {
                return ekrt_fail(c, "tensor %u: constant of type %s is not supported", (unsigned)i,
                                 ekrt_type_name(t->type));
            }
            if (dlen != t->bytes) {
                return ekrt_fail(c, "malformed model: tensor %u has %u data bytes, shape needs %u",
                                 (unsigned)i, (unsigned)dlen, (unsigned)t->bytes);
            }
            t->data = (uint8_t *)(uintptr_t)(fb->buf + dpos);
            t->is_const = 1;
        }
    }
    if (fb->bad) {
        return ekrt_fail(c, "malformed model: tensor %u", (unsigned)i);
    }
    return 0;
}

/* Every tensor decoded once (so each is checked before any op uses it) into its planner entry. */
static int parse_tensors(ekrt_prep_t *c)
{
    uint32_t i;
    for (i = 0; i < c->rt->n_tensors; ++i) {
        ekrt_plan_t *e = &c->pl[i];
        ekrt_tinfo_t t;
        if (ekrt_decode_tensor(c, i, &t) != 0) {
            return -1;
        }
        memset(e, 0, sizeof *e);
        e->bytes = t.bytes;
        e->first = -1;
        e->last = -1;
        e->type = t.type;
        e->is_const = t.is_const;
        e->offset = t.is_const ? (uint32_t)(t.data - c->fb.buf) : 0u;
    }
    return 0;
}


/* The code of operator i (0 if unreadable: parse_ops reports it). */
static int32_t op_code_at(ekrt_fb_t *fb, uint32_t ovec, uint32_t n_ops, uint32_t cvec,
                          uint32_t n_codes, uint32_t i)
{
    const uint32_t ot = ekrt_fb_vec_table(fb, ovec, n_ops, i);
    const uint32_t opcode = ekrt_fb_get_u32(fb, ot, EKRT_OPERATOR_OPCODE_INDEX, 0);
    uint32_t ct;
    int32_t dep, code;
    if (fb->bad || opcode >= n_codes) {
        return 0;
    }
    ct = ekrt_fb_vec_table(fb, cvec, n_codes, opcode);
    dep = ekrt_fb_get_i8(fb, ct, EKRT_OPCODE_DEPRECATED_BUILTIN_CODE, 0);
    code = ekrt_fb_get_i32(fb, ct, EKRT_OPCODE_BUILTIN_CODE, 0);
    return code > dep ? code : dep; /* schema v3a: the real code is the larger field */
}

static int parse_ops(ekrt_prep_t *c, uint32_t ovec, uint32_t n_ops, uint32_t cvec, uint32_t n_codes)
{
    ekrt_fb_t *fb = &c->fb;
    ekrt_t *rt = c->rt;
    uint32_t i, k;
    for (i = 0; i < n_ops; ++i) {
        ekrt_op_t *op;
        const ekrt_op_reg_t *reg;
        uint32_t ot = ekrt_fb_vec_table(fb, ovec, n_ops, i);
        uint32_t opcode = ekrt_fb_get_u32(fb, ot, EKRT_OPERATOR_OPCODE_INDEX, 0);
        uint32_t iv, ov, n_in, n_out, size;
        int32_t code;
        c->op_index = i;
        c->op_code = -1;
        if (fb->bad || opcode >= n_codes) {
            return ekrt_fail(c, "malformed model: operator %u has opcode index %u of %u",
                             (unsigned)i, (unsigned)opcode, (unsigned)n_codes);
        }
        code = op_code_at(fb, ovec, n_ops, cvec, n_codes, i);
        c->op_code = code;
        reg = ekrt_op_find(code);
        if (reg == NULL) {
            return ekrt_fail_op(c, code == EKRT_BUILTIN_CUSTOM
                                       ? "custom operators are not supported"
                                       : "operator is not supported by edgekit-rt");
        }
        /* the record holds only the parameters this op's kind uses */
        size = (uint32_t)offsetof(ekrt_op_t, p) + reg->params;
        op = rt->ops[i] = (ekrt_op_t *)ekrt_palloc(c, size);
        if (op == NULL) {
            return ekrt_fail(c, "arena too small: %lu bytes cannot hold the operator table",
                             (unsigned long)rt->arena_len);
        }
        memset(op, 0, size);
        op->code = (int16_t)code;
        iv = ekrt_fb_get_vec(fb, ot, EKRT_OPERATOR_INPUTS, 4, &n_in);
        ov = ekrt_fb_get_vec(fb, ot, EKRT_OPERATOR_OUTPUTS, 4, &n_out);
        if (fb->bad) {
            return ekrt_fail(c, "malformed model: operator %u", (unsigned)i);
        }
        op->in[0] = op->in[1] = op->in[2] = -1;
        for (k = 0; k < n_in && k < 3; ++k) {
            int32_t t = ekrt_fb_i32(fb, iv + 4u * k);
            if (t < -1 || t >= (int32_t)rt->n_tensors) {
                return ekrt_fail(c, "malformed model: operator %u input %u is tensor %d",
                                 (unsigned)i, (unsigned)k, (int)t);
            }
            op->in[k] = (int16_t)t;
        }
        if (n_out < 1) {
            return ekrt_fail_op(c, "operator has no outputs");
        }
        {
            const int32_t t = ekrt_fb_i32(fb, ov);
            if (t < 0 || t >= (int32_t)rt->n_tensors) {
                return ekrt_fail(c, "malformed model: operator %u output is tensor %d", (unsigned)i,
                                 (int)t);
            }
            op->out = (int16_t)t;
        }
        op->eval = reg->eval;
        if (reg->prepare(c, op, ot, n_in) != 0) {
            return -1;
        }
        if (n_out != 1) {
            return ekrt_fail_op(c, "expected 1 output, got %u", (unsigned)n_out);
        }
        if (fb->bad) {
            return ekrt_fail(c, "malformed model: operator %u options", (unsigned)i);
        }
    }
    return 0;
}

/* --- graph rewrite: fold an explicit zero-point PAD into the convolution reading it ------ */

/* A PAD of H and W only, padding with the zero point, read by exactly one CONV_2D /
 * DEPTHWISE_CONV_2D as its input and by nothing else, is the same as that convolution with
 * larger implicit padding: TFLM's kernels skip out-of-image taps, i.e. treat them as
 * (zero point + input offset) = 0. The conv then reads the PAD's input directly; the PAD op
 * stays in the op list with no eval and no materialised output. */
static int fold_pads(ekrt_prep_t *c)
{
    ekrt_t *rt = c->rt;
    uint32_t i, j, k;
    for (i = 0; i < rt->n_ops; ++i) {
        ekrt_op_t *pad = rt->ops[i];
        const ekrt_tinfo_t *pin, *pout;
        int32_t reader = -1, readers = 0;
        if (pad->code != EKRT_OP_PAD && pad->code != EKRT_OP_PADV2) {
            continue;
        }
        pin = ekrt_tinfo(c, pad->in[0]);
        pout = ekrt_tinfo(c, pad->out);
        if (pin == NULL || pout == NULL) {
            return -1;
        }
        if (pin->ndim != 4 || pad->p.pad.before[0] != 0 || pad->p.pad.before[3] != 0 ||
            pin->dims[0] != pout->dims[0] || pin->dims[3] != pout->dims[3] ||
            pad->p.pad.pad_value != (int8_t)pout->zero_point) {
            continue;
        }
        for (k = 0; k < rt->n_outputs; ++k) {
            if (rt->outputs[k] == pad->out) {
                readers = 2;
            }
        }
        for (j = i + 1; j < rt->n_ops && readers < 2; ++j) {
            for (k = 0; k < 3; ++k) {
                if (rt->ops[j]->in[k] == pad->out) {
                    readers += (k == 0 && reader < 0) ? 1 : 2;
                    reader = (int32_t)j;
                }
            }
        }
        if (readers == 1) {
            ekrt_op_t *conv = rt->ops[reader];
            ekrt_conv_params_t *p = &conv->p.conv;
            /* the 1x1 variant needs no padding; a conv with a larger filter already has
             * the im2col scratch (or runs the reference), which any padding suits */
            if ((conv->code != EKRT_OP_CONV_2D && conv->code != EKRT_OP_DEPTHWISE_CONV_2D) ||
                conv->eval == ekrt_eval_conv2d_1x1) {
                continue;
            }
            p->pad_h += pad->p.pad.before[1];
            p->pad_w += pad->p.pad.before[2];
            p->in_h = pin->dims[1];
            p->in_w = pin->dims[2];
            conv->in[0] = pad->in[0];
            conv->eval = conv->code == EKRT_OP_CONV_2D ? ekrt_conv2d_select(p)
                                                       : ekrt_depthwise_conv2d_select(p);
            pad->eval = NULL;
        }
    }
    return 0;
}

/* --- lifetimes + plan ------------------------------------------------------------------- */

static int lifetimes(ekrt_prep_t *c)
{
    ekrt_t *rt = c->rt;
    ekrt_plan_t *ts = c->pl;
    uint32_t i, k;
    for (i = 0; i < rt->n_inputs; ++i) {
        ts[rt->inputs[i]].first = 0;
        ts[rt->inputs[i]].last = 0;
    }
    for (i = 0; i < rt->n_ops; ++i) {
        const ekrt_op_t *op = rt->ops[i];
        ekrt_plan_t *o = &ts[op->out];
        if (op->eval == NULL) {
            continue; /* folded: its output is never materialised */
        }
        for (k = 0; k < 3; ++k) {
            ekrt_plan_t *t;
            if (op->in[k] < 0) {
                continue;
            }
            t = &ts[op->in[k]];
            if (t->is_const) {
                continue;
            }
            if (t->first < 0) {
                return ekrt_fail(c, "operator %u reads tensor %d before anything writes it",
                                 (unsigned)i, (int)op->in[k]);
            }
            t->last = (int16_t)i;
        }
        if (o->is_const || o->first >= 0) {
            return ekrt_fail(c, "operator %u writes tensor %d which is constant or already written",
                             (unsigned)i, (int)op->out);
        }
        if (ekrt_type_size(o->type) == 0 || o->bytes == 0) {
            return ekrt_fail(c, "operator %u: output tensor type %s is not supported", (unsigned)i,
                             ekrt_type_name(o->type));
        }
        o->first = (int16_t)i;
        o->last = (int16_t)i;
    }
    for (i = 0; i < rt->n_outputs; ++i) {
        ekrt_plan_t *t = &ts[rt->outputs[i]];
        if (t->first < 0) {
            return ekrt_fail(c, "graph output tensor %d is never written", (int)rt->outputs[i]);
        }
        t->last = (int16_t)rt->n_ops;
    }
    return 0;
}

/* where tensor idx lives after planning: the model (constant), the arena, or nowhere (NULL) */
static void *tensor_data(const ekrt_prep_t *c, int32_t idx)
{
    const ekrt_plan_t *t;
    if (idx < 0) {
        return NULL;
    }
    t = &c->pl[idx];
    if (t->is_const) {
        return (void *)(uintptr_t)(c->fb.buf + t->offset);
    }
    return t->placed ? c->rt->arena + t->offset : NULL;
}

/* the graph's inputs or outputs: data, bytes, type, quantization */
static void io_bind(ekrt_prep_t *c, uint32_t n, const int32_t *idx, void **data, uint32_t *bytes,
                    uint8_t *type, float *scale, int32_t *zp)
{
    uint32_t i;
    for (i = 0; i < n; ++i) {
        const ekrt_tinfo_t *t = ekrt_tinfo(c, idx[i]);
        data[i] = tensor_data(c, idx[i]);
        bytes[i] = c->pl[idx[i]].bytes;
        type[i] = c->pl[idx[i]].type;
        scale[i] = t ? t->scale : 0.0f;
        zp[i] = t ? t->zero_point : 0;
    }
}

/* Each scratch buffer moves to the longest free run of the arena during its op (below the
 * planned front: the arena does not grow) and may use it, up to the most its op can use
 * (ekrt_request_scratch_upto) and 4080 bytes: op->scratch16. */
static void scratch_rooms(ekrt_prep_t *c, size_t need)
{
    const uint32_t n = c->rt->n_tensors + c->n_scratch;
    uint32_t i;
    for (i = 0; i < c->n_scratch; ++i) {
        const uint32_t j = c->rt->n_tensors + i;
        const uint64_t room = ekrt_scratch_move(c->pl, n, j, need) / 16u;
        c->rt->ops[c->pl[j].first]->scratch16 =
            (uint8_t)(room < c->pl[j].most16 ? room : c->pl[j].most16);
    }
}

static int plan(ekrt_prep_t *c)
{
    ekrt_t *rt = c->rt;
    uint32_t i, k;
    size_t need;
    if (lifetimes(c) != 0) {
        return -1;
    }
    need = ekrt_plan(c->pl, rt->n_tensors + c->n_scratch);
    if (need <= (size_t)0x7FFFFFF0u) {
        scratch_rooms(c, need);
    }
    rt->persistent_bytes = rt->arena_len - c->tail;
    /* the planner entries at the start are dead once the data pointers are bound, so the
     * activations may overwrite them later */
    if (need > c->tail) {
        size_t front = need > c->head ? need : c->head;
        return ekrt_fail(c, "arena too small: model needs %lu bytes, arena has %lu",
                         (unsigned long)(front + rt->persistent_bytes),
                         (unsigned long)rt->arena_len);
    }
    for (i = 0; i < rt->n_ops; ++i) {
        ekrt_op_t *op = rt->ops[i];
        for (k = 0; k < 3; ++k) {
            op->in_data[k] = tensor_data(c, op->in[k]);
        }
        op->out_data = op->eval != NULL ? tensor_data(c, op->out) : NULL;
    }
    for (i = 0; i < c->n_scratch; ++i) {
        const ekrt_plan_t *s = &c->pl[rt->n_tensors + i];
        rt->ops[s->first]->scratch = rt->arena + s->offset;
    }
    io_bind(c, rt->n_inputs, rt->inputs, rt->in_data, rt->in_bytes, rt->in_type, rt->in_scale,
            rt->in_zp);
    io_bind(c, rt->n_outputs, rt->outputs, rt->out_data, rt->out_bytes, rt->out_type, rt->out_scale,
            rt->out_zp);
    /* front of the arena: max(init-time tables, planned activations) */
    rt->planned_bytes = need > c->head ? need : c->head;
    return 0;
}

/* --- public API ------------------------------------------------------------------------- */

static int io_list(ekrt_prep_t *c, uint32_t sg, uint32_t id, int32_t *dst, uint32_t *n,
                   const char *what)
{
    uint32_t cnt, i;
    uint32_t v = ekrt_fb_get_vec(&c->fb, sg, id, 4, &cnt);
    if (c->fb.bad) {
        return ekrt_fail(c, "malformed model: graph %s", what);
    }
    if (cnt < 1 || cnt > EKRT_MAX_IO) {
        return ekrt_fail(c, "graph has %u %s; edgekit-rt supports 1..%d", (unsigned)cnt, what,
                         EKRT_MAX_IO);
    }
    for (i = 0; i < cnt; ++i) {
        int32_t t = ekrt_fb_i32(&c->fb, v + 4u * i);
        if (t < 0 || t >= (int32_t)c->rt->n_tensors) {
            return ekrt_fail(c, "malformed model: graph %s %u is tensor %d", what, (unsigned)i,
                             (int)t);
        }
        if (c->pl[t].is_const || ekrt_type_size(c->pl[t].type) == 0) {
            return ekrt_fail(c, "graph %s tensor %d (type %s) is not supported", what, (int)t,
                             ekrt_type_name(c->pl[t].type));
        }
        dst[i] = t;
    }
    *n = cnt;
    return 0;
}

/* The model's root tables: its one subgraph's tensors and operators, the buffers, the
 * operator codes (positions into the flatbuffer, checked). */
typedef struct {
    uint32_t sg, cvec, n_codes, ovec, n_ops, n_tensors;
} ekrt_graph_t;

static int read_graph(ekrt_prep_t *c, ekrt_graph_t *g)
{
    uint32_t root, subgraphs, n_sg;
    if (memcmp(c->fb.buf + 4, "TFL3", 4) != 0) {
        return ekrt_fail(c, "not a TFLite model (file identifier is not TFL3)");
    }
    root = ekrt_fb_table_at(&c->fb, 0);
    if (c->fb.bad) {
        return ekrt_fail(c, "malformed model: root table");
    }
    if (ekrt_fb_get_u32(&c->fb, root, EKRT_MODEL_VERSION, 0) != EKRT_SCHEMA_VERSION) {
        return ekrt_fail(c, "model schema version %u, expected 3",
                         (unsigned)ekrt_fb_get_u32(&c->fb, root, EKRT_MODEL_VERSION, 0));
    }
    g->cvec = ekrt_fb_get_vec(&c->fb, root, EKRT_MODEL_OPERATOR_CODES, 4, &g->n_codes);
    subgraphs = ekrt_fb_get_vec(&c->fb, root, EKRT_MODEL_SUBGRAPHS, 4, &n_sg);
    c->bvec = ekrt_fb_get_vec(&c->fb, root, EKRT_MODEL_BUFFERS, 4, &c->n_buffers);
    if (c->fb.bad || n_sg < 1) {
        return ekrt_fail(c, "malformed model: no subgraph");
    }
    g->sg = ekrt_fb_vec_table(&c->fb, subgraphs, n_sg, 0);
    c->tvec = ekrt_fb_get_vec(&c->fb, g->sg, EKRT_SUBGRAPH_TENSORS, 4, &g->n_tensors);
    g->ovec = ekrt_fb_get_vec(&c->fb, g->sg, EKRT_SUBGRAPH_OPERATORS, 4, &g->n_ops);
    if (c->fb.bad) {
        return ekrt_fail(c, "malformed model: subgraph 0");
    }
    if (g->n_tensors < 1 || g->n_tensors > 0x7FFF || g->n_ops > 0x7FFE) {
        return ekrt_fail(c, "model has %u tensors and %u operators (supported: 1..32767, 0..32766)",
                         (unsigned)g->n_tensors, (unsigned)g->n_ops);
    }
    return 0;
}

/* The arena's init tables: planner entries at the start (one per tensor and per op that may
 * ask for scratch), the op table at the end. */
static int alloc_tables(ekrt_prep_t *c, const ekrt_graph_t *g)
{
    ekrt_t *rt = c->rt;
    uint32_t i;
    c->max_scratch = 0;
    for (i = 0; i < g->n_ops; ++i) {
        const ekrt_op_reg_t *reg =
            ekrt_op_find(op_code_at(&c->fb, g->ovec, g->n_ops, g->cvec, g->n_codes, i));
        c->max_scratch += (reg != NULL && reg->may_scratch) ? 1u : 0u;
    }
    c->pl = (ekrt_plan_t *)ekrt_init_alloc(
        c, (uint32_t)(sizeof(ekrt_plan_t) * (g->n_tensors + c->max_scratch)));
    rt->ops =
        (ekrt_op_t **)ekrt_palloc(c, (uint32_t)(sizeof(ekrt_op_t *) * (g->n_ops ? g->n_ops : 1u)));
    if (c->pl == NULL || rt->ops == NULL) {
        return ekrt_fail(
            c, "arena too small: %lu bytes cannot hold the tables of %u tensors and %u operators",
            (unsigned long)rt->arena_len, (unsigned)g->n_tensors, (unsigned)g->n_ops);
    }
    return 0;
}

int ekrt_init(ekrt_t *rt, const uint8_t *model, size_t model_len, uint8_t *arena, size_t arena_len,
              char *err, size_t err_len)
{
    ekrt_prep_t c;
    ekrt_graph_t g;
    size_t skip;
    if (err != NULL && err_len > 0) {
        err[0] = '\0';
    }
    if (rt == NULL) {
        return -1;
    }
    memset(rt, 0, sizeof *rt);
    memset(&c, 0, sizeof c);
    memset(c.cached, 0xFF, sizeof c.cached);
    c.rt = rt;
    c.err = err;
    c.err_len = err_len;
    if (model == NULL || arena == NULL) {
        return ekrt_fail(&c, "no model or no arena");
    }
    if (model_len < 16 || model_len > 0x7FFFFFF0u) {
        return ekrt_fail(&c, "model is %lu bytes: not a TFLite flatbuffer",
                         (unsigned long)model_len);
    }
    skip = (size_t)((16u - ((uintptr_t)arena & 15u)) & 15u);
    if (arena_len < skip + 64u) {
        return ekrt_fail(&c, "arena too small: %lu bytes", (unsigned long)arena_len);
    }
    rt->model = model;
    rt->model_len = model_len;
    rt->arena = arena + skip;
    rt->arena_len = (arena_len - skip) > 0x7FFFFFF0u ? 0x7FFFFFF0u : (arena_len - skip);
    rt->arena_len &= ~(size_t)7u;
    c.tail = (uint32_t)rt->arena_len;
    c.fb.buf = model;
    c.fb.len = (uint32_t)model_len;
    if (read_graph(&c, &g) != 0) {
        return -1;
    }
    rt->n_tensors = g.n_tensors;
    rt->n_ops = g.n_ops;
    if (alloc_tables(&c, &g) || parse_tensors(&c) ||
        io_list(&c, g.sg, EKRT_SUBGRAPH_INPUTS, rt->inputs, &rt->n_inputs, "inputs") ||
        io_list(&c, g.sg, EKRT_SUBGRAPH_OUTPUTS, rt->outputs, &rt->n_outputs, "outputs") ||
        parse_ops(&c, g.ovec, g.n_ops, g.cvec, g.n_codes) || fold_pads(&c) || plan(&c)) {
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
        ekrt_fmt(err, err_len, "operators %u..%u out of range (model has %u)", (unsigned)first,
                 (unsigned)(first + count), (unsigned)rt->n_ops);
        return -1;
    }
    for (i = first; i < first + count; ++i) {
        const ekrt_op_t *op = rt->ops[i];
        if (op->eval != NULL) {
            op->eval(rt, op);
        }
    }
    return 0;
}

int ekrt_invoke(ekrt_t *rt, char *err, size_t err_len)
{
    return ekrt_invoke_ops(rt, 0, rt != NULL ? rt->n_ops : 0, err, err_len);
}

uint32_t ekrt_op_count(const ekrt_t *rt)
{
    return (rt != NULL && rt->ready) ? rt->n_ops : 0;
}

/* Shape and first scale and zero point of tensor `t`, read again from the model (the runtime
 * keeps no tensor table in RAM). */
static uint32_t tensor_meta(const ekrt_t *rt, int32_t t, ekrt_op_info_t *info)
{
    uint32_t type;
    ekrt_fb_t fb;
    uint32_t root, sgs, n_sg, sg, tvec, n_t, tt, q, sc, zv, ns, nz, sv, nd, d;
    fb.buf = rt->model;
    fb.len = (uint32_t)rt->model_len;
    fb.bad = 0;
    root = ekrt_fb_table_at(&fb, 0);
    sgs = ekrt_fb_get_vec(&fb, root, EKRT_MODEL_SUBGRAPHS, 4, &n_sg);
    sg = ekrt_fb_vec_table(&fb, sgs, n_sg, 0);
    tvec = ekrt_fb_get_vec(&fb, sg, EKRT_SUBGRAPH_TENSORS, 4, &n_t);
    tt = ekrt_fb_vec_table(&fb, tvec, n_t, (uint32_t)t);
    sv = ekrt_fb_get_vec(&fb, tt, EKRT_TENSOR_SHAPE, 4, &nd);
    for (d = 0; d < nd && d < 6u; ++d) {
        info->out_dims[d] = ekrt_fb_i32(&fb, sv + 4u * d);
    }
    info->out_rank = nd < 6u ? nd : 6u;
    type = ekrt_fb_get_u8(&fb, tt, EKRT_TENSOR_TYPE, 0);
    q = ekrt_fb_get_table(&fb, tt, EKRT_TENSOR_QUANTIZATION);
    if (fb.bad || q == 0) {
        return type;
    }
    sc = ekrt_fb_get_vec(&fb, q, EKRT_QUANT_SCALE, 4, &ns);
    zv = ekrt_fb_get_vec(&fb, q, EKRT_QUANT_ZERO_POINT, 8, &nz);
    if (ns > 0) {
        info->out_scale = ekrt_fb_f32(&fb, sc);
    }
    if (nz > 0) {
        info->out_zero_point = (int32_t)(int64_t)ekrt_fb_u64(&fb, zv);
    }
    return type;
}

static uint64_t op_macs(const ekrt_op_t *op, uint64_t n_out)
{
    switch (op->code) {
    case EKRT_OP_CONV_2D:
        return n_out * (uint64_t)(op->p.conv.k_h * op->p.conv.k_w * op->p.conv.filter_in_c);
    case EKRT_OP_DEPTHWISE_CONV_2D:
        return n_out * (uint64_t)(op->p.conv.k_h * op->p.conv.k_w);
    case EKRT_OP_FULLY_CONNECTED:
        return n_out * (uint64_t)op->p.fc.accum_depth;
    default:
        return 0;
    }
}

int ekrt_op_info(const ekrt_t *rt, uint32_t op_index, ekrt_op_info_t *info)
{
    const ekrt_op_t *op;
    uint64_t n_out = 1;
    uint32_t d, type;
    if (rt == NULL || !rt->ready || op_index >= rt->n_ops || info == NULL) {
        return -1;
    }
    op = rt->ops[op_index];
    memset(info, 0, sizeof *info);
    info->opcode = op->code;
    info->name = ekrt_op_name(op->code);
    info->out_tensor = op->out;
    type = tensor_meta(rt, op->out, info);
    for (d = 0; d < info->out_rank; ++d) {
        n_out *= (uint64_t)info->out_dims[d];
    }
    info->macs = op_macs(op, n_out);
    if (op->eval != NULL) {
        info->out_data = (const int8_t *)op->out_data;
        info->out_bytes = (size_t)n_out * ekrt_type_size(type);
    }
    return 0;
}

void *ekrt_input(ekrt_t *rt, uint32_t index, size_t *bytes)
{
    if (rt == NULL || !rt->ready || index >= rt->n_inputs) {
        if (bytes) {
            *bytes = 0;
        }
        return NULL;
    }
    if (bytes) {
        *bytes = rt->in_bytes[index];
    }
    return rt->in_data[index];
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
        *bytes = rt->out_bytes[index];
    }
    return rt->out_data[index];
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