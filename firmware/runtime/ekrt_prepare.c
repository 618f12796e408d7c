/* Helpers every op's prepare uses: error messages naming the operator, persistent and
 * init-only arena allocation, tensor checks, options tables, and the scratch-buffer request
 * the planner turns into a buffer planned together with the tensors. */
#include <string.h>

#include "ekrt_internal.h"

int ekrt_fail(ekrt_prep_t *c, const char *fmt, ...)
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
int ekrt_fail_op(ekrt_prep_t *c, const char *fmt, ...)
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

void *ekrt_palloc(ekrt_prep_t *c, uint32_t bytes)
{
    bytes = (bytes + 7u) & ~7u;
    if (bytes > c->tail - c->head) {
        return NULL;
    }
    c->tail -= bytes;
    return c->rt->arena + c->tail;
}

/* init-only scratch from the arena start; dead once planning is done */
void *ekrt_init_alloc(ekrt_prep_t *c, uint32_t bytes)
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

uint32_t ekrt_type_size(uint32_t type)
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

int ekrt_valid_scale(float s)
{
    return s > 0.0f && s < 3.0e38f; /* also false for NaN */
}

uint32_t ekrt_count_of(uint32_t ndim, const int32_t *dims)
{
    uint32_t n = 1, d;
    for (d = 0; d < ndim; ++d) {
        n *= (uint32_t)dims[d];
    }
    return n;
}

ekrt_tinfo_t *ekrt_tinfo(ekrt_prep_t *c, int32_t idx)
{
    uint32_t k;
    if (idx < 0 || (uint32_t)idx >= c->rt->n_tensors) {
        return NULL;
    }
    for (k = 0; k < EKRT_TINFO_CACHE; ++k) {
        if (c->cached[k] == idx) {
            return &c->cache[k];
        }
    }
    /* first in, first out: an op's prepare holds at most 4 tensors, fewer than the slots */
    k = c->cache_next;
    c->cache_next = (k + 1u) % EKRT_TINFO_CACHE;
    c->cached[k] = -1;
    if (ekrt_decode_tensor(c, (uint32_t)idx, &c->cache[k]) != 0) {
        return NULL;
    }
    c->cached[k] = idx;
    return &c->cache[k];
}

ekrt_shape_t ekrt_shape_of(const ekrt_tinfo_t *t)
{
    ekrt_shape_t s;
    memset(&s, 0, sizeof s);
    memcpy(s.dims, t->dims, sizeof s.dims);
    s.ndim = t->ndim;
    return s;
}

int ekrt_want(ekrt_prep_t *c, int32_t idx, const char *role, uint32_t type, int32_t ndim)
{
    const ekrt_tinfo_t *t = ekrt_tinfo(c, idx);
    if (t == NULL) {
        return ekrt_fail_op(c, "missing %s tensor", role);
    }
    if (t->type != type) {
        return ekrt_fail_op(c, "%s tensor %d has type %s; edgekit-rt supports %s here", role,
                            (int)idx, ekrt_type_name(t->type), ekrt_type_name(type));
    }
    if (ndim >= 0 && t->ndim != ndim) {
        return ekrt_fail_op(c, "%s tensor %d has %u dims, expected %d", role, (int)idx,
                            (unsigned)t->ndim, (int)ndim);
    }
    if (type == EKRT_T_INT8 && role[0] != 'f' && !ekrt_valid_scale(t->scale)) {
        return ekrt_fail_op(c, "%s tensor %d has no valid quantization scale", role, (int)idx);
    }
    if (type == EKRT_T_INT8 && (t->zero_point < -128 || t->zero_point > 127)) {
        return ekrt_fail_op(c, "%s tensor %d zero point %d outside int8", role, (int)idx,
                            (int)t->zero_point);
    }
    return 0;
}

int ekrt_want_const(ekrt_prep_t *c, int32_t idx, const char *role)
{
    const ekrt_tinfo_t *t = ekrt_tinfo(c, idx);
    if (t == NULL || !t->is_const) {
        return ekrt_fail_op(c, "%s tensor must be a constant", role);
    }
    if (((uintptr_t)t->data & 3u) != 0 && ekrt_type_size(t->type) >= 4) {
        return ekrt_fail_op(
            c, "%s tensor data is not 4-byte aligned (keep the model array aligned)", role);
    }
    return 0;
}

uint32_t ekrt_opts_table(ekrt_prep_t *c, uint32_t ot, uint8_t expect)
{
    uint8_t kind = ekrt_fb_get_u8(&c->fb, ot, EKRT_OPERATOR_BUILTIN_OPTIONS_TYPE, 0);
    if (kind != expect) {
        return 0;
    }
    return ekrt_fb_get_table(&c->fb, ot, EKRT_OPERATOR_BUILTIN_OPTIONS);
}

int ekrt_request_scratch(ekrt_prep_t *c, ekrt_op_t *op, uint32_t bytes)
{
    return ekrt_request_scratch_upto(c, op, bytes, bytes);
}

int ekrt_request_scratch_upto(ekrt_prep_t *c, ekrt_op_t *op, uint32_t bytes, uint32_t most)
{
    ekrt_plan_t *s;
    if (bytes == 0) {
        return 0;
    }
    if (c->n_scratch >= c->max_scratch ||
        (c->n_scratch > 0 &&
         c->pl[c->rt->n_tensors + c->n_scratch - 1].first == (int32_t)c->op_index)) {
        return ekrt_fail_op(c, "scratch requested beyond the planner's table (one per op)");
    }
    s = &c->pl[c->rt->n_tensors + c->n_scratch];
    memset(s, 0, sizeof *s);
    s->bytes = bytes;
    s->first = s->last = (int16_t)c->op_index;
    s->type = EKRT_T_INT8;
    most = most > bytes ? most : bytes;
    s->most16 = (uint8_t)(most >= 255u * 16u ? 255u : (most + 15u) / 16u);
    (void)op; /* found again after planning by its lifetime (first == this op) */
    c->n_scratch++;
    return 0;
}

int ekrt_want_inputs(ekrt_prep_t *c, uint32_t n_in, uint32_t lo, uint32_t hi)
{
    if (n_in < lo || n_in > hi) {
        if (lo == hi) {
            return ekrt_fail_op(c, "expected %u input%s, got %u", (unsigned)lo, lo == 1 ? "" : "s",
                                (unsigned)n_in);
        }
        return ekrt_fail_op(c, "expected %u-%u inputs, got %u", (unsigned)lo, (unsigned)hi,
                            (unsigned)n_in);
    }
    return 0;
}
