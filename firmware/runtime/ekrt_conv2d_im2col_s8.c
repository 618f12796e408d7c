/* CONV_2D int8, any filter size: each output pixel's receptive field is copied into a
 * scratch column (im2col, k_h * k_w * in_c int8; taps outside the image are filled with the
 * input zero point, which contributes 0 exactly as TFLM's skipped taps do), which the matrix
 * product (ekrt_mat_run) widens into its tile.
 * Preconditions (ekrt_conv2d_select): one group, every shift in [-31, 31], scratch of
 * ekrt_conv2d_im2col_scratch() bytes. Any stride, dilation, padding, channel count. */
#include "ekrt_dsp.h" /* first: kernel optimisation level */
#include <string.h>

#include "ekrt_internal.h"

static int32_t im2col_k(const ekrt_conv_params_t *p)
{
    return p->k_h * p->k_w * p->in_c;
}

/* one int8 column of k rounded up to 4 */
static uint32_t col_bytes(const ekrt_conv_params_t *p)
{
    return ((uint32_t)im2col_k(p) + 3u) & ~3u;
}

/* At least one column and, when small, the matrix product's least (ekrt_mat_scratch_min: two
 * widened columns, or one); with room, two columns then the matrix product's tile. */
static uint32_t least(const ekrt_conv_params_t *p, int32_t k, int32_t n)
{
    const uint32_t m = ekrt_mat_scratch_min(k, n);
    return m == 0 ? col_bytes(p) : (m == ekrt_mat_scratch_bytes(k, 2) ? 2u : 1u) * col_bytes(p) + m;
}

int ekrt_conv2d_im2col_scratch(ekrt_prep_t *c, ekrt_op_t *op)
{
    const ekrt_conv_params_t *p = &op->p.conv;
    const int32_t k = im2col_k(p), n = p->batches * p->out_h * p->out_w;
    const uint32_t l = least(p, k, n), most = 2u * col_bytes(p) + ekrt_mat_scratch_max(k, n);
    return ekrt_request_scratch_upto(c, op, l, most > l ? most : l);
}

/* short copies inline, a word at a time (unaligned words are one LDR/STR on Cortex-M3 and
 * later): the stem has in_c = 1..3, where a memcpy call per tap costs more than the
 * multiply-accumulates */
static inline void copy_bytes(int8_t *dst, const int8_t *src, int32_t n)
{
    if (n >= 32) {
        memcpy(dst, src, (size_t)n);
        return;
    }
    while (n >= 4) {
        const uint32_t v = ekrt_load4(src);
        memcpy(dst, &v, 4);
        dst += 4;
        src += 4;
        n -= 4;
    }
    while (n-- > 0) {
        *dst++ = *src++;
    }
}

typedef struct {
    const ekrt_conv_params_t *p;
    const int8_t *in;
} col_ctx_t;

static void fill_column(const ekrt_conv_params_t *p, const int8_t *in, int32_t b, int32_t oy,
                        int32_t ox, int8_t *col)
{
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int32_t span = p->k_w * p->in_c;
    const int8_t zp = (int8_t)(-p->input_offset);
    int32_t ky, kx;
    const int whole_rows = p->dil_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        /* offsets, not pointers: a window may start outside the image */
        const int32_t row = (b * p->in_h + iy) * p->in_w;
        if (iy < 0 || iy >= p->in_h) {
            memset(col, zp, (size_t)span);
        } else if (whole_rows) {
            /* the window's row is contiguous in NHWC */
            copy_bytes(col, in + (row + ix0) * p->in_c, span);
        } else {
            for (kx = 0; kx < p->k_w; ++kx) {
                const int32_t ix = ix0 + kx * p->dil_w;
                if (ix < 0 || ix >= p->in_w) {
                    memset(col + kx * p->in_c, zp, (size_t)p->in_c);
                } else {
                    copy_bytes(col + kx * p->in_c, in + (row + ix) * p->in_c, p->in_c);
                }
            }
        }
        col += span;
    }
}

static const int8_t *im2col(void *ctx, int32_t pix, int8_t *buf)
{
    const col_ctx_t *c = (const col_ctx_t *)ctx;
    const ekrt_conv_params_t *p = c->p;
    const int32_t row = pix / p->out_w;
    fill_column(p, c->in, row / p->out_h, row % p->out_h, pix % p->out_w, buf);
    return buf;
}

void ekrt_eval_conv2d_im2col(const ekrt_t *rt, const ekrt_op_t *op)
{
    const ekrt_conv_params_t *p = &op->p.conv;
    const int32_t k = im2col_k(p), n = p->batches * p->out_h * p->out_w;
    const uint32_t cb = col_bytes(p), room = (uint32_t)op->scratch16 * 16u;
    const uint32_t bytes = room > least(p, k, n) ? room : least(p, k, n);
    /* two int8 columns when a pair of widened ones fits after them, else one column (and at
     * most one widened column: the vec path) */
    const uint32_t two = ekrt_mat_scratch_bytes(k, 2), one = 4u * ekrt_mat_col_words(k);
    const int pairs = n >= 2 && bytes >= 2u * cb + two;
    const uint32_t mat = pairs ? bytes - 2u * cb : (bytes - cb >= one ? one : 0u);
    const ekrt_mat_q_t q = ekrt_mat_q(p->input_offset, p->output_offset, p->act_min, p->act_max,
                                      p->mult, p->shift, 0, op->right_only);
    int8_t *cols = (int8_t *)op->scratch;
    col_ctx_t ctx;
    ctx.p = p;
    ctx.in = EKRT_IN(rt, op, 0);
    ekrt_mat_run(&q, NULL, im2col, &ctx, n, k, EKRT_IN(rt, op, 1), p->out_c, EKRT_BIAS(rt, op),
                 EKRT_OUT(rt, op), cols + (pairs ? 2u : 1u) * cb, mat, cols);
}
