/* The heads ek-calib-solve computes from what the hops collected (ek_calib.c has the commands).
 * Each fails with e-[...] and writes nothing, so the previous head stays; 0 on success.
 * toolchain/edgekit/export/head.py mirrors both, operation for operation.
 *
 * ncm: the nearest class mean of the penultimate features, in integers. Class c's weights are
 * its mean feature vector (relative to the features' zero point) requantised to int8 with one
 * scale for every class, its bias minus half the weights' dot product with that mean, so its
 * score is proportional to f.m_c - |m_c|^2 / 2. The output keeps the model's scale; the weight
 * scale is the power of two that puts the largest class score near a third of the int8 range
 * above the output zero point. A .tflite holding the same weights, bias and scale gives the same
 * bytes in tflite_micro.
 *
 * out-lda: linear discriminant analysis of the model's own int8 outputs z (its last layer's
 * logits, minus their zero point): class means m_c and the pooled within-class covariance S
 * (plus 1e-3 of its mean variance on the diagonal), solved in IEEE double by Gauss-Jordan
 * elimination in a fixed order (no fused multiply-add: the build has -ffp-contract=off), so the
 * host's Python floats give the same bits. Class c scores a_c.z - a_c.m_c / 2 with a_c = S^-1 m_c,
 * quantised to int8 weights with one scale (the largest |a| = 127) and the same power-of-two
 * output multiplier rule as ncm: a C x C head run after the model's. */
#include "ek_commands.h"

#if EK_CALIB
#include "ekrt_head.h"

#define C EK_CALIB_C

/* round(x / d), half away from zero, for d > 0 */
static int64_t rdiv(int64_t x, int64_t d)
{
    uint64_t a = (uint64_t)(x < 0 ? -x : x);
    uint64_t q = (2u * a + (uint64_t)d) / (2u * (uint64_t)d);
    return x < 0 ? -(int64_t)q : (int64_t)q;
}

/* The same for |x| < 2^30 and 0 < d < 2^30, in 32 bits (a Cortex-M4 divides those in
 * hardware): every mean and weight of the solve (|x| <= 65535 * 256). */
static int32_t rdiv32(int32_t x, int32_t d)
{
    uint32_t a = (uint32_t)(x < 0 ? -x : x);
    uint32_t q = (2u * a + (uint32_t)d) / (2u * (uint32_t)d);
    return x < 0 ? -(int32_t)q : (int32_t)q;
}

/* Class c's mean of feature j minus the features' zero point, in units of 1/256. */
static int32_t mean_q8(const ek_calib_t *c, uint32_t cls, uint32_t j)
{
    const int32_t off = 128 + (int32_t)EK_HEAD_IN_ZERO_POINT;
    const int32_t n = (int32_t)c->n[cls];
    const int32_t a = (int32_t)c->sum[cls * EK_HEAD_FEATURES + j] - n * off;
    return rdiv32(a * 256, n);
}

/* The weight of class cls, feature j, for the largest |mean| mx. */
static int32_t weight(const ek_calib_t *c, uint32_t cls, uint32_t j, int32_t mx)
{
    return rdiv32(mean_q8(c, cls, j) * 127, mx);
}

void ek_calib_solve_failed(ek_app_t *app, const char *what, uint32_t cls)
{
    static const char *const labels[] = EK_LABELS;
    ek_reply_t *r = &app->reply;
    ek_reply_str(r, "e-[ek-calib-solve: ");
    if (cls < EK_OUTPUT_SIZE) {
        ek_reply_str(r, "class ");
        ek_reply_u64(r, cls);
        ek_reply_str(r, " (");
        ek_reply_clean(r, labels[cls], 32);
        ek_reply_str(r, ") has ");
        ek_reply_u64(r, app->calib.n[cls]);
        ek_reply_str(r, " hops, the head needs at least ");
        ek_reply_u64(r, EK_CALIB_MIN_HOPS);
    } else {
        ek_reply_str(r, what);
    }
    ek_reply_str(r, "; the previous head stays]");
    ek_reply_end(r);
}

/* ncm: the nearest-class-mean head from the sums (see the top of this file). */
int ek_calib_solve_ncm(ek_app_t *app)
{
    ek_calib_t *c = &app->calib;
    int64_t dot[EK_OUTPUT_SIZE], top = 0, lim;
    int32_t mx = 0, qm, sh, k = 0;
    uint32_t cls, j;
    float scale;
    for (cls = 0; cls < EK_OUTPUT_SIZE; cls++)
        if (c->n[cls] < EK_CALIB_MIN_HOPS) {
            ek_calib_solve_failed(app, 0, cls);
            return -1;
        }
    for (cls = 0; cls < EK_OUTPUT_SIZE; cls++)
        for (j = 0; j < EK_HEAD_FEATURES; j++) {
            int32_t m = mean_q8(c, cls, j);
            if ((m < 0 ? -m : m) > mx) mx = m < 0 ? -m : m;
        }
    if (mx == 0) {
        ek_calib_solve_failed(app, "every class mean is at the features' zero point",
                              EK_OUTPUT_SIZE);
        return -1;
    }
    for (cls = 0; cls < EK_OUTPUT_SIZE; cls++) {
        dot[cls] = 0;
        for (j = 0; j < EK_HEAD_FEATURES; j++)
            dot[cls] += (int64_t)weight(c, cls, j, mx) * mean_q8(c, cls, j);
        dot[cls] = rdiv(dot[cls], 512); /* |m_c|^2 / 2 in the weights' units */
        if (dot[cls] > top) top = dot[cls];
    }
    /* the output scale keeps its value: the weight scale 2^-k * out_scale / in_scale maps the
     * largest class score `top` to at most a third of the range above the zero point */
    lim = (127 - (int64_t)EK_OUTPUT_ZERO_POINT) / 3;
    if (lim < 1) lim = 1;
    while (top > (lim << k)) k++;
    scale = (float)EK_OUTPUT_SCALE / (float)EK_HEAD_IN_SCALE;
    for (j = 0; j < (uint32_t)k; j++) scale *= 0.5f;
    ekrt_head_multiplier(
        (double)(float)EK_HEAD_IN_SCALE * (double)scale / (double)(float)EK_OUTPUT_SCALE, &qm, &sh);
    for (cls = 0; cls < EK_OUTPUT_SIZE; cls++) {
        for (j = 0; j < EK_HEAD_FEATURES; j++)
            c->w[cls * EK_HEAD_FEATURES + j] = (int8_t)weight(c, cls, j, mx);
        c->bias[cls] = (int32_t)-dot[cls];
        c->mult[cls] = qm;
        c->shift[cls] = (int8_t)sh;
    }
    c->w_scale = scale;
    return 0;
}

/* round half away from zero of a double well inside the int32 range */
static int32_t rnd(double x)
{
    return x >= 0.0 ? (int32_t)(x + 0.5) : -(int32_t)(-x + 0.5);
}

/* mu (class means of z) and the pooled within-class covariance with its ridge, into the left
 * half of the tableau; the means into the right half. -1 when the outputs never vary. */
static int lda_tableau(ek_calib_t *c)
{
    double *a = c->work, s, tr = 0.0, eps;
    int32_t total = 0;
    uint32_t i, j, k;
    for (i = 0; i < C; i++) total += c->n[i];
    for (i = 0; i < C; i++)
        for (j = 0; j < C; j++) c->mu[i * C + j] = (double)c->zsum[i * C + j] / (double)c->n[i];
    for (j = 0; j < C; j++)
        for (k = 0; k < C; k++) {
            s = (double)c->zz[j * C + k];
            for (i = 0; i < C; i++) s = s - ((double)c->n[i] * c->mu[i * C + j]) * c->mu[i * C + k];
            a[j * 2 * C + k] = s / (double)(total - (int32_t)C);
        }
    for (j = 0; j < C; j++) tr = tr + a[j * 2 * C + j];
    if (!(tr > 0.0)) return -1;
    eps = tr / (double)C * 1e-3;
    for (j = 0; j < C; j++) {
        a[j * 2 * C + j] = a[j * 2 * C + j] + eps;
        for (i = 0; i < C; i++) a[j * 2 * C + C + i] = c->mu[i * C + j];
    }
    return 0;
}

/* Gauss-Jordan on the tableau [S | M^T] -> [I | S^-1 M^T], no pivoting (S is positive definite);
 * -1 on a pivot that is not positive. */
static int gauss_jordan(double *a)
{
    uint32_t p, r, col;
    double piv, f;
    for (p = 0; p < C; p++) {
        piv = a[p * 2 * C + p];
        if (!(piv > 0.0)) return -1;
        for (col = 0; col < 2 * C; col++) a[p * 2 * C + col] = a[p * 2 * C + col] / piv;
        for (r = 0; r < C; r++) {
            if (r == p) continue;
            f = a[r * 2 * C + p];
            for (col = 0; col < 2 * C; col++)
                a[r * 2 * C + col] = a[r * 2 * C + col] - f * a[p * 2 * C + col];
        }
    }
    return 0;
}

/* out-lda: the discriminant head on the model's outputs (see the top of this file). */
int ek_calib_solve_lda(ek_app_t *app)
{
    ek_calib_t *c = &app->calib;
    const double *a = c->work;
    double amax = 0.0, scale, top = 0.0, lim, cst[C], v;
    uint32_t i, j;
    int32_t k = 0;
    for (i = 0; i < C; i++)
        if (c->n[i] < EK_CALIB_MIN_HOPS) {
            ek_calib_solve_failed(app, 0, i);
            return -1;
        }
    if (lda_tableau(c) != 0 || gauss_jordan(c->work) != 0) {
        ek_calib_solve_failed(app, "the model's outputs do not vary over the calibration", C);
        return -1;
    }
    /* a_c[j] = a[j][C + c]; cst_c = -a_c.m_c / 2 */
    for (i = 0; i < C; i++) {
        cst[i] = 0.0;
        for (j = 0; j < C; j++) {
            v = a[j * 2 * C + C + i];
            if ((v < 0.0 ? -v : v) > amax) amax = v < 0.0 ? -v : v;
            cst[i] = cst[i] + v * c->mu[i * C + j];
        }
        cst[i] = -0.5 * cst[i];
    }
    scale = amax / 127.0;
    if (!(scale > 0.0)) {
        ek_calib_solve_failed(app, "the discriminants are all zero", C);
        return -1;
    }
    for (i = 0; i < C; i++)
        if (-cst[i] / scale > top) top = -cst[i] / scale;
    lim = (double)((127 - (int32_t)EK_OUTPUT_ZERO_POINT) / 3);
    if (lim < 1.0) lim = 1.0;
    while (top > lim) {
        lim = lim * 2.0;
        k++;
    }
    for (i = 0; i < C; i++) {
        for (j = 0; j < C; j++) c->w[i * C + j] = (int8_t)rnd(a[j * 2 * C + C + i] / scale);
        c->bias[i] = rnd(cst[i] / scale);
        c->mult[i] = (int32_t)1 << 30; /* 2^-k: QuantizeMultiplier(0.5 * 2^(1-k)) */
        c->shift[i] = (int8_t)(1 - k);
    }
    c->w_scale = (float)scale;
    return 0;
}
#endif
