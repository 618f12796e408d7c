/* Everything the command loop remembers between bytes, in one declared struct (ek_app_t) of
 * fixed size: one instance, allocated statically in ek_app.c and handed to every command. */
#ifndef EK_APP_STATE_H
#define EK_APP_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "ek_app.h"
#include "ek_features.h"
#include "ek_reply.h"
#include "model_meta.h"

#define EK_INFER_MAX 100000u       /* bound for N and W of "infer N W" */
#define EK_VOTE_MAX 32u            /* longest vote of ek-stream-start K / ek-stream-vote K */
#define EK_SBLK_MAX_SAMPLES 65535u /* samples of one ek-sblk block */

/* On-device calibration (ek_calib.c) keeps a head in RAM and per-class sums of the penultimate
 * features: compiled in when the runtime can read those features (edgekit-rt), the model has a
 * head to replace (model_meta.h: EK_HEAD_FEATURES > 0) and the buffers (EK_CALIB_BYTES) fit in
 * EK_CALIB_RAM_MAX, which a port or a build may lower (0: no calibration). Otherwise the
 * ek-calib commands answer why not. */
#if defined(ARDUINO)
#include "ek_config.h" /* a sketch's runtime (rendered by firmware.py) */
#if !defined(EK_RUNTIME_TFLM)
#define EK_RUNTIME_EKRT 1
#endif
#endif
#ifndef EK_CALIB_RAM_MAX
#define EK_CALIB_RAM_MAX EK_CALIB_RAM_DEFAULT
#endif
#if defined(EK_RUNTIME_EKRT) && defined(EK_HEAD_FEATURES) && EK_HEAD_FEATURES > 0 && \
    EK_CALIB_BYTES <= EK_CALIB_RAM_MAX
#define EK_CALIB 1
#else
#define EK_CALIB 0
#endif

/* The command being received: bytes up to '%'. */
typedef struct {
    char text[EK_CMD_MAX + 1];
    size_t len;
    int overflow; /* more than EK_CMD_MAX bytes before '%' */
    int badbyte;  /* a control / non-ASCII byte inside the command */
} ek_cmdline_t;

/* The port's 32-bit timer, extended to 64 bits so N long runs cannot wrap. Valid while it is
 * read at least once per 2^32 ticks (the infer loop reads it every run). */
typedef struct {
    uint32_t last;
    uint64_t high;
} ek_clock_t;

/* The model as ek_app_begin() found it. */
typedef struct {
    int ok;
    char err[EK_ERR_MAX]; /* why not, when !ok */
} ek_model_state_t;

/* The input of "db load N" / "db HEX". */
typedef struct {
    int8_t data[EK_INPUT_SIZE];
    size_t expect; /* 0: no "db load" pending or done */
    size_t have;
} ek_db_t;

/* The last inference: results%, ek-out%, ek-ticks% answer from it. */
typedef struct {
    int have;
    int8_t out[EK_OUTPUT_SIZE];
    uint64_t ticks; /* of all n runs */
    uint32_t n;
} ek_result_t;

/* Majority vote over the last k classes of a stream. */
typedef struct {
    uint8_t cls[EK_VOTE_MAX]; /* the last n classes, oldest first */
    uint32_t k;
    uint32_t n; /* valid entries (<= k) */
} ek_vote_t;

/* A stream (ek-stream-start): the feature chain and what the next block must be. */
typedef struct {
#if EK_FEAT_CHAIN
    ek_features_t feat;
    /* samples received and not yet through the chain (all channels of a sample together):
     * pushed EK_FEAT_BLOCK_MAX at a time, at a hop's end and at a block's end */
    int16_t samples[EK_FEAT_BLOCK_MAX * EK_FEAT_CHANNELS];
    uint32_t buffered;           /* complete samples in `samples` */
    int8_t frame[EK_INPUT_SIZE]; /* the model input the chain made last */
#endif
    int on;              /* ek-stream-start done */
    int echo;            /* print each frame (exactness checks) */
    int realtime;        /* check the board keeps up with the sample rate */
    uint32_t next_seq;   /* the sequence number the next block must carry */
    uint32_t hops;       /* frames since the stream (re)started */
    uint64_t lag;        /* ticks behind real time (realtime mode) */
    uint64_t feat_ticks; /* feature-chain ticks of the hop being assembled */
} ek_stream_t;

/* The ek-sblk block whose binary payload is being consumed. */
typedef struct {
    uint32_t seq;     /* its sequence number */
    uint32_t samples; /* its samples per channel */
    uint32_t left;    /* payload bytes still to come: while nonzero, bytes are payload */
    uint32_t pos;     /* bytes into the current sample */
    uint8_t lo;       /* low byte of the sample value being received */
    int use;          /* 0: drain only (a block the stream cannot use) */
    uint32_t hops;    /* hops it completed so far */
    uint64_t ticks;   /* processing ticks spent on it so far */
} ek_sblk_t;

/* Calibration (ek-calib-*): what is being collected and the head solved from it. Two methods
 * (ek_calib_solve.c): EK_CALIB_OUT_LDA, linear discriminant analysis of the model's own outputs
 * (its head's int8 logits: a C x C head after it), and EK_CALIB_NCM, the nearest class mean of
 * the penultimate features (a C x F head in place of the model's). */
#define EK_CALIB_OUT_LDA 0
#define EK_CALIB_NCM 1
#if EK_CALIB
#define EK_CALIB_C EK_OUTPUT_SIZE
#define EK_CALIB_W_MAX \
    (EK_HEAD_FEATURES >= EK_OUTPUT_SIZE ? EK_CALIB_C * EK_HEAD_FEATURES : EK_CALIB_C * EK_CALIB_C)
#endif
typedef struct {
#if EK_CALIB
    /* the solved head, run by ekrt_head_fc_s8 after (out-lda) or in place of (ncm) the model's
     * last FULLY_CONNECTED: [C][n_in] weights, n_in = C or EK_HEAD_FEATURES */
    int8_t w[EK_CALIB_W_MAX];
    int32_t bias[EK_CALIB_C];
    int32_t mult[EK_CALIB_C];
    int8_t shift[EK_CALIB_C];
    float w_scale; /* the weights' (per-tensor) scale */
    /* ncm, per class: sum over its hops of (feature + 128), each in 0..255 (at most
     * EK_CALIB_MAX_HOPS hops a class, so a sum fits 16 bits) */
    uint16_t sum[EK_CALIB_C * EK_HEAD_FEATURES];
    /* out-lda: per class the sum of the model's outputs minus their zero point, and over all
     * hops the sums of their products; the solve's work (a Gauss-Jordan tableau, the means) */
    int32_t zsum[EK_CALIB_C * EK_CALIB_C];
    int64_t zz[EK_CALIB_C * EK_CALIB_C];
    double work[EK_CALIB_C * 2 * EK_CALIB_C];
    double mu[EK_CALIB_C * EK_CALIB_C];
    uint16_t n[EK_CALIB_C];  /* hops per class */
    int8_t base[EK_CALIB_C]; /* the model's own output for the hop just run */
#endif
    int method;           /* of the collection (ek-calib-start) */
    int head_method;      /* of the solved head */
    int collecting;       /* ek-calib-start done, no successful ek-calib-solve since */
    int label;            /* class of the hops that follow; -1: not calibration hops */
    int active;           /* a solved head decides the stream */
    int hop_label;        /* the hop just run: the class it was added to, or -1 */
    uint32_t dropped;     /* labelled hops not added (their class had EK_CALIB_MAX_HOPS) */
    uint64_t hop_ticks;   /* ticks of calibration work in the hop just run */
    uint64_t solve_ticks; /* of the last ek-calib-solve */
} ek_calib_t;

typedef struct ek_app {
    ek_reply_t reply;
    ek_cmdline_t cmd;
    ek_clock_t clock;
    ek_model_state_t model;
    ek_db_t db;
    ek_result_t result;
    ek_stream_t stream;
    ek_vote_t vote;
    ek_sblk_t sblk;
    ek_calib_t calib;
} ek_app_t;

#endif /* EK_APP_STATE_H */
