/* edgekit-rt on an emulated Cortex-M4 (QEMU -M mps2-an386 -semihosting), for tests and
 * benchmarks of the DSP kernels: one firmware image, any number of models, files through
 * semihosting (no serial protocol, no model compiled in).
 *
 *   qemu-system-arm -M mps2-an386 -nographic -icount shift=0 \
 *     -semihosting-config enable=on,target=native -kernel ekrt_semi.elf -append "JOBS"
 *
 * JOBS is a text file, one job per line: "MODEL.tflite INPUTS.bin OUTPUTS.bin [profile]".
 * INPUTS holds N records of the input tensor's size; OUTPUTS receives N output records.
 * For every job it prints one line
 *   job <i> ok arena=<bytes> records=<n> ticks=<SysTick ticks of the last invoke>
 * (or "job <i> error <message>"). With "profile" every invoke runs op by op
 * (ekrt_invoke_ops), each op timed, and one line per operator of the last record follows:
 * "op <i> <code> <name> macs=<n> ticks=<n>". Under -icount shift=0 one SysTick tick is 40
 * instructions. Exit code: 0 all jobs ok, 1 otherwise. */
#include <stdint.h>
#include <string.h>

#include "cm.h"
#include "cm_semihost.h"
#include "ekrt.h"

#define MODEL_MAX_MIB 3 /* in the code memory (ekrt_semi.ld): a w1.0 MobileNetV2 fits */
#define MODEL_MAX ((uint32_t)MODEL_MAX_MIB << 20)
#define STR_(x) #x
#define STR(x) STR_(x)
#define ARENA_MAX (1u << 20)
#define IO_MAX (256u * 1024u)  /* an output record: 96 x 96 x 8 and more */
#define JOBS_MAX (64u * 1024u) /* ~130 test models with tmp paths: about 20 KB */
#define OPS_MAX 1024u

static uint8_t s_model[MODEL_MAX] __attribute__((aligned(16), section(".model_buf")));
static uint8_t s_arena[ARENA_MAX] __attribute__((aligned(16)));
static uint8_t s_out[IO_MAX];
static char s_jobs[JOBS_MAX];
static uint32_t s_op_ticks[OPS_MAX];

static void out_str(const char *s)
{
    cm_semi_write0(s);
}

static void out_u(uint32_t v)
{
    char buf[12];
    int i = 11;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    out_str(&buf[i]);
}

static void sh_exit(int code)
{
    cm_semi_exit((uint32_t)code); /* the exit code reaches QEMU's exit status */
    for (;;) {
    }
}

/* whole file into buf (at most cap bytes); -1 if it cannot be read, -2 if it is larger */
static int32_t read_file(const char *path, uint8_t *buf, uint32_t cap)
{
    int32_t fd = cm_semi_open(path, CM_SEMI_MODE_RB), len;
    if (fd < 0) {
        return -1;
    }
    len = cm_semi_flen(fd);
    if (len >= 0 && (uint32_t)len > cap) {
        cm_semi_close(fd);
        return -2;
    }
    if (len < 0 || cm_semi_read(fd, buf, (uint32_t)len) != len) {
        cm_semi_close(fd);
        return -1;
    }
    cm_semi_close(fd);
    return len;
}

/* --- board glue for the shared Cortex-M startup ------------------------------------------ */
void cm_board_init(void) {}
void ek_port_write(const char *buf, size_t len);
void ek_port_write(const char *buf, size_t len)
{
    (void)len;
    out_str(buf);
    sh_exit(3);
}

/* --- jobs --------------------------------------------------------------------------------- */
static char *next_word(char **p)
{
    char *s = *p, *w;
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    if (*s == '\0' || *s == '\n') {
        *p = s;
        return NULL;
    }
    w = s;
    while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\n') {
        s++;
    }
    if (*s == ' ' || *s == '\t') {
        *s++ = '\0';
    }
    *p = s;
    return w;
}

static int job_error(uint32_t i, const char *msg)
{
    out_str("job ");
    out_u(i);
    out_str(" error ");
    out_str(msg);
    out_str("\n");
    return -1;
}

/* One inference: ekrt_invoke, or with `profile` the same ops in the same order one at a time,
 * each timed. noipa keeps semi_infer() and semi_run_job() real calls under their own names:
 * the m4cycles plugin (tools/qemu_cycles) brackets each job, each inference and each
 * ekrt_invoke_ops call by its entry and the instruction its BL returns to. */
__attribute__((noipa)) static int semi_infer(ekrt_t *rt, int profile, char *err, size_t err_len)
{
    uint32_t op;
    if (!profile) {
        return ekrt_invoke(rt, err, err_len);
    }
    for (op = 0; op < ekrt_op_count(rt) && op < OPS_MAX; ++op) {
        const uint32_t s0 = cm_systick_ticks();
        if (ekrt_invoke_ops(rt, op, 1, err, err_len) != 0) {
            return -1;
        }
        s_op_ticks[op] = cm_systick_ticks() - s0;
    }
    return 0;
}

__attribute__((noipa)) static int semi_run_job(uint32_t index, const char *model_path,
                                               const char *in_path, const char *out_path,
                                               int profile)
{
    static ekrt_t rt;
    char err[160];
    int32_t model_len, in_fd, out_fd;
    size_t in_bytes = 0, out_bytes = 0;
    uint32_t records = 0, ticks = 0, op;
    model_len = read_file(model_path, s_model, MODEL_MAX);
    if (model_len == -2) {
        return job_error(
            index, "the model is larger than this image's MODEL_MAX (" STR(MODEL_MAX_MIB) " MiB)");
    }
    if (model_len < 0) {
        return job_error(index, "cannot read the model");
    }
    if (ekrt_init(&rt, s_model, (size_t)model_len, s_arena, ARENA_MAX, err, sizeof err) != 0) {
        return job_error(index, err);
    }
    (void)ekrt_input(&rt, 0, &in_bytes);
    (void)ekrt_output(&rt, 0, &out_bytes);
    if (out_bytes > IO_MAX) {
        return job_error(index, "output too large");
    }
    in_fd = cm_semi_open(in_path, CM_SEMI_MODE_RB);
    out_fd = cm_semi_open(out_path, CM_SEMI_MODE_WB);
    if (in_fd < 0 || out_fd < 0) {
        return job_error(index, "cannot open the input or output file");
    }
    for (;;) {
        uint8_t *in = (uint8_t *)ekrt_input(&rt, 0, NULL);
        uint32_t t0;
        if (cm_semi_read(in_fd, in, (uint32_t)in_bytes) != (int32_t)in_bytes) {
            break; /* end of the inputs */
        }
        t0 = cm_systick_ticks();
        if (semi_infer(&rt, profile, err, sizeof err) != 0) {
            return job_error(index, err);
        }
        ticks = cm_systick_ticks() - t0;
        memcpy(s_out, ekrt_output(&rt, 0, NULL), out_bytes);
        if (cm_semi_write(out_fd, s_out, (uint32_t)out_bytes) != (int32_t)out_bytes) {
            return job_error(index, "write failed");
        }
        records++;
    }
    cm_semi_close(in_fd);
    cm_semi_close(out_fd);
    out_str("job ");
    out_u(index);
    out_str(" ok arena=");
    out_u((uint32_t)ekrt_arena_used(&rt));
    out_str(" records=");
    out_u(records);
    out_str(" ticks=");
    out_u(ticks);
    out_str("\n");
    if (profile && records > 0) {
        for (op = 0; op < ekrt_op_count(&rt) && op < OPS_MAX; ++op) {
            ekrt_op_info_t info;
            (void)ekrt_op_info(&rt, op, &info);
            out_str("op ");
            out_u(op);
            out_str(" ");
            out_u((uint32_t)info.opcode);
            out_str(" ");
            out_str(info.name[0] ? info.name : "?");
            out_str(" macs=");
            out_u((uint32_t)info.macs);
            out_str(" ticks=");
            out_u(s_op_ticks[op]);
            out_str("\n");
        }
    }
    return 0;
}

int main(void)
{
    char cmdline[256];
    uint32_t index = 0;
    int32_t len;
    int failed = 0, profile;
    char *p;
    if (cm_semi_cmdline(cmdline, sizeof cmdline) != 0) {
        out_str("ekrt_semi: no command line\n");
        sh_exit(2);
    }
    cmdline[sizeof cmdline - 1] = '\0';
    p = cmdline;
    (void)next_word(&p); /* QEMU passes "<kernel> <-append text>" */
    p = next_word(&p);
    if (p == NULL || (len = read_file(p, (uint8_t *)s_jobs, JOBS_MAX - 1)) < 0) {
        out_str("ekrt_semi: cannot read the jobs file\n");
        sh_exit(2);
    }
    s_jobs[len] = '\0';
    cm_systick_start();
    p = s_jobs;
    while (*p != '\0') {
        char *line = p, *m, *in, *out, *flag;
        while (*p != '\0' && *p != '\n') {
            p++;
        }
        if (*p == '\n') {
            *p++ = '\0';
        }
        m = next_word(&line);
        if (m == NULL) {
            continue;
        }
        in = next_word(&line);
        out = next_word(&line);
        flag = next_word(&line);
        profile = flag != NULL && strcmp(flag, "profile") == 0;
        if (in == NULL || out == NULL) {
            failed |= job_error(index, "expected: MODEL INPUTS OUTPUTS [profile]") != 0;
        } else if (semi_run_job(index, m, in, out, profile) != 0) {
            failed = 1;
        }
        index++;
    }
    sh_exit(failed ? 1 : 0);
    return 0;
}
