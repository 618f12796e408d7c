/* Host runner for edgekit-rt (POSIX; not for firmware).
 *   ekrt_run MODEL.tflite [--arena BYTES] [--output-file FILE] [--info] [--stepwise] [--layers]
 * Reads N input records (raw bytes, input-tensor size each) from stdin until EOF, runs the
 * model on each and writes N raw output records to stdout (or FILE). --info prints
 * "arena_used=<n> planned=<n> persistent=<n> in=<n> out=<n>" to stderr after init.
 * --stepwise runs every record one operator at a time (ekrt_invoke_ops); --layers prints
 * one line per operator to stderr after the last record:
 * "layer <i> <name> macs=<n> tensor=<t> bytes=<n> dims=<d0>x<d1>... zp=<z> sum=<byte sum>".
 * Exit: 0 ok, 1 model/init/invoke error, 2 usage or I/O error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ekrt.h"

static int usage(void)
{
    fprintf(stderr, "usage: ekrt_run MODEL.tflite [--arena BYTES] [--output-file FILE] [--info] "
                    "[--stepwise] [--layers]\n");
    return 2;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;
    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        /* exact-size heap copy so AddressSanitizer catches any read past the model */
        buf = (unsigned char *)malloc(n > 0 ? (size_t)n : 1u);
        if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return buf;
}

/* A test tool, not firmware: one straight pass (arguments, model, arena, records in, outputs and
 * the op profile out) reads best in one function, so it stays longer than 120 lines. */
int main(int argc, char **argv)
{
    const char *model_path = NULL, *out_path = NULL;
    size_t arena_len = 1u << 20, model_len = 0, in_bytes = 0, out_bytes = 0;
    int info = 0, stepwise = 0, layers = 0, i, rc = 0;
    uint32_t op;
    unsigned char *model, *arena;
    FILE *out = stdout;
    ekrt_t rt;
    char err[256];
    for (i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--arena") == 0 && i + 1 < argc) {
            arena_len = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--output-file") == 0 && i + 1 < argc) {
            out_path = argv[++i];
        } else if (strcmp(argv[i], "--info") == 0) {
            info = 1;
        } else if (strcmp(argv[i], "--stepwise") == 0) {
            stepwise = 1;
        } else if (strcmp(argv[i], "--layers") == 0) {
            layers = 1;
        } else if (argv[i][0] == '-' || model_path != NULL) {
            return usage();
        } else {
            model_path = argv[i];
        }
    }
    if (model_path == NULL) {
        return usage();
    }
    model = read_file(model_path, &model_len);
    if (model == NULL) {
        fprintf(stderr, "ekrt_run: cannot read %s\n", model_path);
        return 2;
    }
    arena = (unsigned char *)malloc(arena_len > 0 ? arena_len : 1u);
    if (arena == NULL) {
        free(model);
        fprintf(stderr, "ekrt_run: cannot allocate %lu arena bytes\n", (unsigned long)arena_len);
        return 2;
    }
    if (ekrt_init(&rt, model, model_len, arena, arena_len, err, sizeof err) != 0) {
        fprintf(stderr, "ekrt_run: %s\n", err);
        free(arena);
        free(model);
        return 1;
    }
    (void)ekrt_input(&rt, 0, &in_bytes);
    (void)ekrt_output(&rt, 0, &out_bytes);
    if (info) {
        fprintf(stderr, "arena_used=%lu planned=%lu persistent=%lu in=%lu out=%lu\n",
                (unsigned long)rt.arena_used, (unsigned long)rt.planned_bytes,
                (unsigned long)rt.persistent_bytes, (unsigned long)in_bytes,
                (unsigned long)out_bytes);
    }
    if (out_path != NULL) {
        out = fopen(out_path, "wb");
        if (out == NULL) {
            fprintf(stderr, "ekrt_run: cannot write %s\n", out_path);
            free(arena);
            free(model);
            return 2;
        }
    }
    for (;;) {
        unsigned char *in = (unsigned char *)ekrt_input(&rt, 0, NULL);
        size_t got = fread(in, 1, in_bytes, stdin);
        if (got == 0) {
            break;
        }
        if (got != in_bytes) {
            fprintf(stderr, "ekrt_run: partial input record (%lu of %lu bytes)\n",
                    (unsigned long)got, (unsigned long)in_bytes);
            rc = 2;
            break;
        }
        if (stepwise) {
            for (op = 0; op < ekrt_op_count(&rt) && rc == 0; ++op) {
                if (ekrt_invoke_ops(&rt, op, 1, err, sizeof err) != 0) {
                    fprintf(stderr, "ekrt_run: %s\n", err);
                    rc = 1;
                }
            }
            if (rc != 0) {
                break;
            }
        } else if (ekrt_invoke(&rt, err, sizeof err) != 0) {
            fprintf(stderr, "ekrt_run: %s\n", err);
            rc = 1;
            break;
        }
        if (fwrite(ekrt_output(&rt, 0, NULL), 1, out_bytes, out) != out_bytes) {
            fprintf(stderr, "ekrt_run: write failed\n");
            rc = 2;
            break;
        }
    }
    for (op = 0; layers && op < ekrt_op_count(&rt); ++op) {
        ekrt_op_info_t li;
        unsigned long sum = 0;
        size_t k;
        uint32_t d;
        if (ekrt_op_info(&rt, op, &li) != 0) {
            fprintf(stderr, "ekrt_run: no info for operator %u\n", (unsigned)op);
            rc = 1;
            break;
        }
        for (k = 0; k < li.out_bytes; ++k) {
            sum += (unsigned char)li.out_data[k];
        }
        fprintf(stderr, "layer %u %s macs=%lu tensor=%d bytes=%lu dims=", (unsigned)op, li.name,
                (unsigned long)li.macs, (int)li.out_tensor, (unsigned long)li.out_bytes);
        for (d = 0; d < li.out_rank; ++d) {
            fprintf(stderr, d ? "x%d" : "%d", (int)li.out_dims[d]);
        }
        fprintf(stderr, " zp=%d sum=%lu\n", (int)li.out_zero_point, sum);
    }
    if (ekrt_op_info(&rt, ekrt_op_count(&rt), NULL) != -1) {
        fprintf(stderr, "ekrt_run: ekrt_op_info accepted an index out of range\n");
        rc = 1;
    }
    if (out != stdout) {
        fclose(out);
    }
    free(arena);
    free(model);
    return rc;
}
