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

/* short copies inline: the stem has in_c = 1, where a memcpy call per tap costs more than
 * the multiply-accumulates */
static inline void copy_bytes(int8_t *dst, const int8_t *src, int32_t n)
{
    if (n >= 16) {
        memcpy(dst, src, (size_t)n);
        return;
    }
    while (n-- > 0) {
        *dst++ = *src++;
    }
}

static void fill_column(const ekrt_conv_params_t *p, const int8_t *in, int32_t pix, int8_t *col)
{
    const int32_t row = pix / p->out_w, ox = pix % p->out_w;
    const int32_t b = row / p->out_h, oy = row % p->out_h;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int32_t span = p->k_w * p->in_c;
    const int8_t zp = (int8_t)(-p->input_offset);
    int32_t ky, kx, i;
    const int whole_rows = p->dil_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        const int8_t *src = in + ((b * p->in_h + iy) * p->in_w + ix0) * p->in_c;
        if (iy < 0 || iy >= p->in_h) {
            for (i = 0; i < span; ++i) {
                col[i] = zp;
            }
        } else if (whole_rows) {
            copy_bytes(col, src, span); /* the window's row is contiguous in NHWC */
        } else {
            for (kx = 0; kx < p->k_w; ++kx) {
                const int32_t ix = ix0 + kx * p->dil_w;
                if (ix < 0 || ix >= p->in_w) {
                    for (i = 0; i < p->in_c; ++i) {
                        col[kx * p->in_c + i] = zp;
                    }
                } else {
                    copy_bytes(col + kx * p->in_c, src + kx * p->dil_w * p->in_c, p->in_c);
                }
            }
        }
        col += span;
    }
}

typedef struct {
    const ekrt_conv_params_t *p;
    const int8_t *in;
} col_ctx_t;

static const int8_t *im2col(const void *ctx, int32_t pix, int8_t *buf)
{
    const col_ctx_t *c = (const col_ctx_t *)ctx;
    fill_column(c->p, c->in, pix, buf);
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
    ekrt_mat_run(&q, im2col, &ctx, n, k, EKRT_IN(rt, op, 1), p->out_c, EKRT_BIAS(rt, op),
                 EKRT_OUT(rt, op), cols + (pairs ? 2u : 1u) * cb, mat, cols);
}
