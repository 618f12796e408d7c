/* m4cycles: a QEMU TCG plugin (plugin API version 1, QEMU 7.2) that estimates Cortex-M4 cycles
 * for the Thumb-2 code a guest executes, from the instruction timing table of the Cortex-M4
 * Technical Reference Manual (zero wait states). docs/runtime-cycles.md states the model.
 *
 *   qemu-system-arm -M mps2-an386 -icount shift=0 ... \
 *     -plugin m4cycles.so,out=HITS.txt[,markers=ADDR:ADDR:...][,p=2][,div=12][,dump=INSNS.txt]
 *
 * Each instruction is decoded once, when QEMU translates its block: class, base cycles, and the
 * registers that decide pairing (the address registers of a load/store, the register a load
 * writes, the registers a data-processing instruction writes). The cost of an instruction
 * given the one before it in the block is fixed then, and counted inline at execution (no call
 * per instruction). What only execution knows is settled once per block, by a call at block
 * entry: whether the branch that ended the previous block was taken (+P) and the pairing of a
 * block's first instruction with the previous block's last one when execution ran straight on.
 *
 * Markers: at every execution of an instruction whose address is in `markers` the plugin
 * writes one line "hit <index> <counters>" to `out` (flushed at once), the counters as they
 * were just before that instruction. At exit it writes "end <counters>". The counters are,
 * per class, executed instructions and cycles, then the events (pipelined loads/stores,
 * address-generation stalls, taken and not-taken branches, refill cycles); the first line of
 * `out` names them. `dump` lists every translated instruction with its class and cost. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the part of QEMU 7.2's include/qemu/qemu-plugin.h this plugin uses (API version 1);
 * Debian ships no header, so the declarations are written out here ----------------------- */
typedef uint64_t qemu_plugin_id_t;
typedef struct {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    } u;
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn,
                                                enum qemu_plugin_op op, void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
char *qemu_plugin_insn_disas(const struct qemu_plugin_insn *insn);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;
EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

/* ---- the model ------------------------------------------------------------------------- */
enum cls {
    C_ALU,    /* 1: data processing, moves, shifts, extend, bitfield, SIMD add, IT, hints */
    C_MUL,    /* 1: MUL, MLA, MLS, SMULL, UMULL, SMLAL, UMLAL */
    C_DSP,    /* 1: halfword and dual multiplies: SMLAD, SMLABB, SMUAD, SMLALD, SMMUL, ... */
    C_DIV,    /* div= (2..12 in the TRM, data dependent): SDIV, UDIV */
    C_LOAD,   /* 2, 1 when pipelined: LDR, LDRB, LDRH, LDRSB, LDRSH, LDREX; LDR PC 2+P */
    C_STORE,  /* 1 with an immediate offset, 2 (1 pipelined) with a register offset; STREX */
    C_DUAL,   /* 3: LDRD, STRD */
    C_MULTI,  /* 1+N: LDM, STM, PUSH, POP (+P with PC) */
    C_BRANCH, /* 1 (+P when taken): B, BL, BX, BLX, CBZ, CBNZ, MOV/ADD PC; TBB, TBH 2 (+P) */
    C_FP,     /* 1: VADD, VSUB, VMUL, VNMUL, VABS, VNEG, VCMP, VCVT, VMOV, VMRS, VMSR */
    C_FPMAC,  /* 3: VMLA, VMLS, VNMLA, VNMLS, VFMA, VFMS, VFNMA, VFNMS */
    C_FPDIV,  /* 14: VDIV, VSQRT */
    C_FPMEM,  /* 1+words: VLDR, VSTR, VLDM, VSTM, VPUSH, VPOP */
    C_OTHER,  /* 1: MSR, MRS, CPS, barriers, SVC, BKPT, UDF, anything not decoded */
    NCLS
};
static const char *const CLS_NAMES[NCLS] = {"alu",    "mul",    "dsp",    "div",    "load",
                                            "store",  "dual",   "multi",  "branch", "fp",
                                            "fp_mac", "fp_div", "fp_mem", "other"};
enum ev { E_PIPE, E_AGU, E_TAKEN, E_NOT_TAKEN, E_REFILL, NEV };
static const char *const EV_NAMES[NEV] = {"pipelined", "agu_stall", "taken", "not_taken",
                                          "refill_cycles"};

enum mem {
    M_NONE,
    M_LD1,    /* a single load (LDREX/STREX too): the next LDR/STR can pipeline behind it */
    M_ST_IMM, /* single store, immediate offset: always 1 cycle */
    M_ST_REG, /* single store, register offset: 2, or 1 behind a load */
    M_OTHER   /* LDRD/STRD, LDM/STM, VLDR..., TBB: never pipelined */
};

typedef struct {
    uint8_t cls, base, mem, branch; /* branch: writes the PC (P more cycles when taken) */
    uint16_t addr;                  /* registers the address is formed from */
    uint16_t ldst;                  /* M_LD1: the register it loads */
    uint16_t dpw;                   /* registers a non-load instruction writes */
} insn_t;

typedef struct {
    uint64_t start, fall; /* first instruction; address after the last */
    uint64_t last_exec;   /* counted inline when the block's last instruction starts */
    insn_t head, tail;
} block_t;

typedef struct {
    uint32_t index;
    uint8_t cls, cost;
    int8_t ev;
    block_t *last_of; /* the block this instruction ends, or NULL */
} mark_t;

static uint64_t g_n[NCLS], g_c[NCLS], g_e[NEV];
static unsigned g_p = 2, g_div = 12;
static uint64_t *g_marks;
static size_t g_nmarks;
static FILE *g_out, *g_dump;
static block_t *g_last;
static uint64_t g_last_seen;

#define BIT(r) ((uint16_t)(1u << (r)))

static void set(insn_t *d, int cls, int base, int mem, uint16_t addr)
{
    d->cls = (uint8_t)cls;
    d->base = (uint8_t)base;
    d->mem = (uint8_t)mem;
    d->addr = addr;
}

static unsigned popcount(uint32_t v)
{
    unsigned n = 0;
    for (; v; v &= v - 1) n++;
    return n;
}

/* Pairing with the instruction before (TRM "Load/store timings"): a load or store whose
 * address uses a register the previous data-processing instruction wrote stalls one cycle (no
 * forwarding path to the address generator); an LDR, or an STR with a register offset, right
 * behind a single load whose loaded register it does not address with takes one cycle less.
 * Returns the cycle adjustment and sets *ev to the event it counts. */
static int pair_adjust(const insn_t *prev, const insn_t *cur, int *ev)
{
    if (cur->mem == M_NONE) return 0;
    if (prev->dpw & cur->addr) {
        *ev = E_AGU;
        return 1;
    }
    if ((cur->mem == M_LD1 || cur->mem == M_ST_REG) && prev->mem == M_LD1 &&
        !(prev->ldst & cur->addr)) {
        *ev = E_PIPE;
        return -1;
    }
    return 0;
}

/* ---- 16-bit Thumb (ARMv7-M ARM A5.2) ---------------------------------------------------- */
static void decode16_misc(uint32_t h, insn_t *d)
{
    if ((h & 0xff00) == 0xb000) { /* ADD/SUB SP, SP, #imm */
        set(d, C_ALU, 1, M_NONE, 0);
        d->dpw = BIT(13);
    } else if ((h & 0xf500) == 0xb100) { /* CBZ, CBNZ */
        set(d, C_BRANCH, 1, M_NONE, 0);
        d->branch = 1;
    } else if ((h & 0xff00) == 0xb200 || (h & 0xff00) == 0xba00) { /* extend, REV */
        set(d, C_ALU, 1, M_NONE, 0);
        d->dpw = BIT(h & 7);
    } else if ((h & 0xfe00) == 0xb400) { /* PUSH */
        set(d, C_MULTI, 1 + (int)popcount(h & 0x1ff), M_OTHER, BIT(13));
    } else if ((h & 0xfe00) == 0xbc00) { /* POP */
        set(d, C_MULTI, 1 + (int)popcount(h & 0x1ff), M_OTHER, BIT(13));
        d->branch = (h & 0x100) != 0;
    } else if ((h & 0xff00) == 0xbf00) { /* IT, NOP and the other hints */
        set(d, C_ALU, 1, M_NONE, 0);
    } else { /* CPS, BKPT */
        set(d, C_OTHER, 1, M_NONE, 0);
    }
}

static void decode16_ldst(uint32_t h, insn_t *d)
{
    if ((h >> 11) == 0x9) { /* LDR (literal) */
        set(d, C_LOAD, 2, M_LD1, BIT(15));
        d->ldst = BIT((h >> 8) & 7);
    } else if ((h >> 12) == 0x5) { /* register offset: STR STRH STRB LDRSB LDR LDRH LDRB LDRSH */
        uint16_t addr = (uint16_t)(BIT((h >> 3) & 7) | BIT((h >> 6) & 7));
        if (((h >> 9) & 7) < 3) {
            set(d, C_STORE, 2, M_ST_REG, addr);
        } else {
            set(d, C_LOAD, 2, M_LD1, addr);
            d->ldst = BIT(h & 7);
        }
    } else { /* immediate offset: word/byte (011), halfword (1000), SP-relative (1001) */
        int sp = (h >> 12) == 0x9;
        uint16_t addr = sp ? BIT(13) : BIT((h >> 3) & 7);
        if (h & 0x800) {
            set(d, C_LOAD, 2, M_LD1, addr);
            d->ldst = sp ? BIT((h >> 8) & 7) : BIT(h & 7);
        } else {
            set(d, C_STORE, 1, M_ST_IMM, addr);
        }
    }
}

static void decode16(uint32_t h, insn_t *d)
{
    uint32_t top6 = h >> 10;
    if ((h >> 14) == 0) { /* shift (imm), add/sub (reg, imm3), MOV/CMP/ADD/SUB (imm8) */
        set(d, C_ALU, 1, M_NONE, 0);
        if ((h >> 11) != 0x5) d->dpw = (h >> 13) == 1 ? BIT((h >> 8) & 7) : BIT(h & 7);
    } else if (top6 == 0x10) { /* data processing: TST CMP CMN write nothing, MUL multiplies */
        uint32_t op = (h >> 6) & 15;
        set(d, op == 13 ? C_MUL : C_ALU, 1, M_NONE, 0);
        if (op != 8 && op != 10 && op != 11) d->dpw = BIT(h & 7);
    } else if (top6 == 0x11) { /* ADD/CMP/MOV (high registers), BX, BLX */
        uint32_t op = (h >> 8) & 3, rd = ((h >> 4) & 8) | (h & 7);
        set(d, C_ALU, 1, M_NONE, 0);
        if (op == 3 || (op != 1 && rd == 15)) {
            d->cls = C_BRANCH;
            d->branch = 1;
        } else if (op != 1) {
            d->dpw = BIT(rd);
        }
    } else if ((h >> 11) == 0x9 || (h >> 12) == 0x5 || (h >> 13) == 3 || (h >> 12) == 0x8 ||
               (h >> 12) == 0x9) {
        decode16_ldst(h, d);
    } else if ((h >> 12) == 0xa) { /* ADR, ADD Rd, SP, #imm */
        set(d, C_ALU, 1, M_NONE, 0);
        d->dpw = BIT((h >> 8) & 7);
    } else if ((h >> 12) == 0xb) {
        decode16_misc(h, d);
    } else if ((h >> 12) == 0xc) { /* STM, LDM */
        set(d, C_MULTI, 1 + (int)popcount(h & 0xff), M_OTHER, BIT((h >> 8) & 7));
    } else if ((h >> 12) == 0xd && ((h >> 8) & 15) < 14) { /* B<cond> */
        set(d, C_BRANCH, 1, M_NONE, 0);
        d->branch = 1;
    } else if ((h >> 11) == 0x1c) { /* B */
        set(d, C_BRANCH, 1, M_NONE, 0);
        d->branch = 1;
    } else { /* UDF, SVC */
        set(d, C_OTHER, 1, M_NONE, 0);
    }
}

/* ---- 32-bit Thumb-2 (ARMv7-M ARM A5.3) -------------------------------------------------- */
static void decode32_multi_dual(uint32_t h1, uint32_t h2, insn_t *d)
{
    uint32_t rn = h1 & 15, o1 = (h1 >> 7) & 3, o2 = (h1 >> 4) & 3, o3 = (h2 >> 4) & 15;
    if (!(h1 & 0x40)) { /* LDM, STM (PUSH.W, POP.W): 1+N, +P when it loads the PC */
        set(d, C_MULTI, 1 + (int)popcount(h2 & 0xdfff), M_OTHER, BIT(rn));
        d->branch = (h1 & 0x10) && (h2 & 0x8000);
    } else if (o1 == 0 && o2 <= 1) { /* STREX, LDREX: pipeline as LDR */
        set(d, o2 ? C_LOAD : C_STORE, 2, M_LD1, BIT(rn));
        d->ldst = o2 ? BIT((h2 >> 12) & 15) : BIT((h2 >> 8) & 15);
    } else if ((o1 & 2) || (o2 & 2)) { /* LDRD, STRD: the two words pipelined, 3 */
        set(d, C_DUAL, 3, M_OTHER, BIT(rn));
    } else if (o1 == 1 && o2 == 1 && o3 <= 1) { /* TBB, TBH: 2+P */
        set(d, C_BRANCH, 2, M_OTHER, (uint16_t)(BIT(rn) | BIT(h2 & 15)));
        d->branch = 1;
    } else { /* STREXB/H (status register in bits 3:0), LDREXB/H */
        set(d, o2 ? C_LOAD : C_STORE, 2, M_LD1, BIT(rn));
        d->ldst = o2 ? BIT((h2 >> 12) & 15) : BIT(h2 & 15);
    }
}

static void decode32_branch_misc(uint32_t h1, uint32_t h2, insn_t *d)
{
    uint32_t o1 = (h2 >> 12) & 7, op = (h1 >> 4) & 0x7f;
    set(d, C_OTHER, 1, M_NONE, 0);
    if ((o1 & 1) || (!(o1 & 5) && (op & 0x38) != 0x38)) { /* B (T4), BL; B<cond> (T3) */
        d->cls = C_BRANCH;
        d->branch = 1;
    } else if (!(o1 & 5) && (op & 0x7e) == 0x3e) { /* MRS */
        d->dpw = BIT((h2 >> 8) & 15);
    } else if (!(o1 & 5) && op == 0x3a) { /* hints (NOP.W, ...) */
        d->cls = C_ALU;
    } else if (!(o1 & 5) && op == 0x3b && ((h2 >> 4) & 15) == 6) { /* ISB: 1+B, B = a refill */
        d->base = (uint8_t)(1 + g_p);
    } /* MSR, DSB/DMB (1+B, B at least 0), CLREX, UDF: 1 */
}

static void decode32_ldst_single(uint32_t h1, uint32_t h2, insn_t *d)
{
    uint32_t rn = h1 & 15, rt = (h2 >> 12) & 15, size = (h1 >> 5) & 3;
    int reg_offset = !(h1 & 0x80) && ((h2 >> 6) & 0x3f) == 0 && rn != 15;
    uint16_t addr = (uint16_t)(BIT(rn) | (reg_offset ? BIT(h2 & 15) : 0));
    if (!(h1 & 0x10)) { /* STRB, STRH, STR */
        if (reg_offset) {
            set(d, C_STORE, 2, M_ST_REG, addr);
        } else {
            set(d, C_STORE, 1, M_ST_IMM, addr);
        }
    } else if (rt == 15 && size != 2) { /* PLD, PLI: hints */
        set(d, C_OTHER, 1, M_NONE, 0);
    } else if (rt == 15) { /* LDR PC: 2+P, blocking */
        set(d, C_LOAD, 2, M_OTHER, addr);
        d->branch = 1;
    } else {
        set(d, C_LOAD, 2, M_LD1, addr);
        d->ldst = BIT(rt);
    }
}

static void decode32_mul(uint32_t h1, uint32_t h2, insn_t *d)
{
    uint32_t o1 = (h1 >> 4) & 7, o2 = (h2 >> 4) & 15, rdlo = (h2 >> 12) & 15, rd = (h2 >> 8) & 15;
    if (!(h1 & 0x80)) { /* multiply, multiply accumulate, absolute difference: 1 */
        set(d, o1 == 0 ? C_MUL : C_DSP, 1, M_NONE, 0);
        d->dpw = BIT(rd);
    } else if ((o1 == 1 || o1 == 3) && o2 == 15) { /* SDIV, UDIV */
        set(d, C_DIV, (int)g_div, M_NONE, 0);
        d->dpw = BIT(rd);
    } else { /* long multiplies: SMULL UMULL SMLAL UMLAL 1; SMLALxy SMLALD SMLSLD UMAAL 1 */
        set(d, (o2 == 0 && !(o1 & 1)) ? C_MUL : C_DSP, 1, M_NONE, 0);
        d->dpw = (uint16_t)(BIT(rdlo) | BIT(rd));
    }
}

/* Floating point (coprocessors 10 and 11; single precision on the Cortex-M4 FPU). */
static void decode32_coproc(uint32_t h1, uint32_t h2, insn_t *d)
{
    uint32_t cp = (h2 >> 8) & 15, op1 = (h1 >> 4) & 0x3f, rn = h1 & 15, rt = (h2 >> 12) & 15;
    set(d, C_OTHER, 1, M_NONE, 0);
    if ((cp & 0xe) != 0xa) return;
    if ((op1 & 0x3e) == 0x04) { /* VMOV two core registers <-> D / two S: 2 */
        set(d, C_FP, 2, M_NONE, 0);
        if (op1 & 1) d->dpw = (uint16_t)(BIT(rt) | BIT(rn));
    } else if (!(op1 & 0x20) && (op1 & 0x3a)) { /* VLDR VSTR (P=1 W=0), VLDM VSTM VPUSH VPOP */
        int words = ((op1 & 0x12) == 0x10) ? (cp == 11 ? 2 : 1) : (int)(h2 & 0xff);
        set(d, C_FPMEM, 1 + words, M_OTHER, BIT(rn));
    } else if ((op1 & 0x30) == 0x20 && (h2 & 0x10)) { /* VMOV core <-> S, VMRS, VMSR: 1 */
        set(d, C_FP, 1, M_NONE, 0);
        if ((op1 & 1) && rt != 15) d->dpw = BIT(rt);
    } else if ((op1 & 0x30) == 0x20) { /* data processing */
        uint32_t opc1 = ((h1 >> 5) & 4) | ((h1 >> 4) & 3), opc2 = h1 & 15;
        if (opc1 == 4 || (opc1 == 7 && opc2 == 1 && ((h2 >> 6) & 3) == 3)) {
            set(d, C_FPDIV, 14, M_NONE, 0); /* VDIV, VSQRT */
        } else if (opc1 == 0 || opc1 == 1 || opc1 == 5 || opc1 == 6) {
            set(d, C_FPMAC, 3, M_NONE, 0); /* VMLA VMLS VNMLA VNMLS VFNMA VFNMS VFMA VFMS */
        } else {
            set(d, C_FP, 1, M_NONE, 0);
        }
    }
}

static void decode32(uint32_t h1, uint32_t h2, insn_t *d)
{
    uint32_t op1 = (h1 >> 11) & 3, op2 = (h1 >> 4) & 0x7f, rd = (h2 >> 8) & 15;
    set(d, C_OTHER, 1, M_NONE, 0);
    if (op1 == 1 && (op2 & 0x60) == 0x00) {
        decode32_multi_dual(h1, h2, d);
    } else if ((op1 == 1 && (op2 & 0x60) == 0x20) || /* data processing (shifted reg) */
               (op1 == 2 && !(h2 & 0x8000)) ||       /* data processing (immediate) */
               (op1 == 3 && (op2 & 0x70) == 0x20)) { /* data processing (register) */
        set(d, C_ALU, 1, M_NONE, 0);
        if (rd != 15) d->dpw = BIT(rd); /* Rd = PC: TST TEQ CMP CMN (flags only) */
    } else if (op1 == 2) {
        decode32_branch_misc(h1, h2, d);
    } else if (op1 == 3 && ((op2 & 0x71) == 0x00 || ((op2 & 0x61) == 0x01 && (op2 & 6) != 6))) {
        decode32_ldst_single(h1, h2, d);
    } else if (op1 == 3 && (op2 & 0x70) == 0x30) {
        decode32_mul(h1, h2, d);
    } else if (op2 & 0x40) {
        decode32_coproc(h1, h2, d);
    }
}

/* Decodes one instruction; returns its length in bytes. The length comes from the first
 * halfword, not from qemu_plugin_insn_size(): QEMU 7.2 reports extra bytes (the next
 * halfword) for some instructions just below a 1 KiB page boundary. */
static size_t decode(const uint8_t *b, size_t size, insn_t *d)
{
    uint32_t h1 = (uint32_t)b[0] | (uint32_t)b[1] << 8;
    memset(d, 0, sizeof *d);
    if ((h1 >> 11) >= 0x1d && size >= 4) {
        decode32(h1, (uint32_t)b[2] | (uint32_t)b[3] << 8, d);
        return 4;
    }
    decode16(h1, d);
    return 2;
}

/* ---- execution ------------------------------------------------------------------------- */
static void write_counters(const char *tag, long index)
{
    int i;
    if (index >= 0) {
        fprintf(g_out, "%s %ld", tag, index);
    } else {
        fputs(tag, g_out);
    }
    for (i = 0; i < NCLS; ++i) fprintf(g_out, " %llu", (unsigned long long)g_n[i]);
    for (i = 0; i < NCLS; ++i) fprintf(g_out, " %llu", (unsigned long long)g_c[i]);
    for (i = 0; i < NEV; ++i) fprintf(g_out, " %llu", (unsigned long long)g_e[i]);
    fputc('\n', g_out);
    fflush(g_out); /* a killed QEMU still leaves every hit */
}

/* Block entry: settle how the previous block ended, if its last instruction ran (an I/O access
 * or an exception can cut a block short; then its closing branch never executed). */
static void block_exec(unsigned int vcpu, void *udata)
{
    block_t *cur = udata, *last = g_last;
    (void)vcpu;
    if (last != NULL && last->last_exec != g_last_seen) {
        if (last->tail.branch) {
            if (cur->start != last->fall) {
                g_e[E_TAKEN]++;
                g_e[E_REFILL] += g_p;
            } else {
                g_e[E_NOT_TAKEN]++;
            }
        } else if (cur->start == last->fall) {
            int ev = -1, adj = pair_adjust(&last->tail, &cur->head, &ev);
            if (adj != 0) {
                g_c[cur->head.cls] += (uint64_t)(int64_t)adj;
                g_e[ev]++;
            }
        }
    }
    g_last = cur;
    g_last_seen = cur->last_exec;
}

static void mark_exec(unsigned int vcpu, void *udata)
{
    mark_t *m = udata;
    (void)vcpu;
    write_counters("hit", (long)m->index);
    g_n[m->cls]++;
    g_c[m->cls] += m->cost;
    if (m->ev >= 0) g_e[m->ev]++;
    if (m->last_of != NULL) m->last_of->last_exec++;
}

static long marker_index(uint64_t vaddr)
{
    size_t lo = 0, hi = g_nmarks;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (g_marks[mid] < vaddr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return (lo < g_nmarks && g_marks[lo] == vaddr) ? (long)lo : -1;
}

static void dump_insn(struct qemu_plugin_insn *insn, const insn_t *d, size_t size, int cost)
{
    char *text = qemu_plugin_insn_disas(insn);
    const uint8_t *b = qemu_plugin_insn_data(insn);
    size_t i;
    fprintf(g_dump, "%08llx ", (unsigned long long)qemu_plugin_insn_vaddr(insn));
    for (i = 0; i < 4; ++i) fprintf(g_dump, i < size ? "%02x" : "  ", i < size ? b[i] : 0);
    fprintf(g_dump, " %s %d%s | %s\n", CLS_NAMES[d->cls], cost, d->branch ? "+P" : "",
            text ? text : "?");
    free(text);
}

static void block_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    block_t *blk = calloc(1, sizeof *blk);
    insn_t prev, d;
    (void)id;
    if (blk == NULL || n == 0) {
        free(blk);
        return;
    }
    memset(&prev, 0, sizeof prev);
    for (i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t vaddr = qemu_plugin_insn_vaddr(insn);
        size_t size = decode(qemu_plugin_insn_data(insn), qemu_plugin_insn_size(insn), &d);
        int ev = -1, cost;
        long mark;
        cost = d.base + (i > 0 ? pair_adjust(&prev, &d, &ev) : 0);
        if (i == 0) {
            blk->start = vaddr;
            blk->head = d;
        }
        if (i + 1 == n) {
            blk->fall = vaddr + size;
            blk->tail = d;
        }
        mark = g_nmarks ? marker_index(vaddr) : -1;
        if (mark >= 0) {
            mark_t *m = calloc(1, sizeof *m);
            if (m == NULL) abort();
            m->index = (uint32_t)mark;
            m->cls = d.cls;
            m->cost = (uint8_t)cost;
            m->ev = (int8_t)ev;
            m->last_of = (i + 1 == n) ? blk : NULL;
            qemu_plugin_register_vcpu_insn_exec_cb(insn, mark_exec, QEMU_PLUGIN_CB_NO_REGS, m);
        } else {
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                       &g_n[d.cls], 1);
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                       &g_c[d.cls], (uint64_t)cost);
            if (ev >= 0) {
                qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                           &g_e[ev], 1);
            }
            if (i + 1 == n) {
                qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                           &blk->last_exec, 1);
            }
        }
        if (g_dump != NULL) dump_insn(insn, &d, size, cost);
        prev = d;
    }
    qemu_plugin_register_vcpu_tb_exec_cb(tb, block_exec, QEMU_PLUGIN_CB_NO_REGS, blk);
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    write_counters("end", -1);
    fclose(g_out);
    if (g_dump != NULL) fclose(g_dump);
}

/* ---- arguments -------------------------------------------------------------------------- */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* "ADDR:ADDR:..." (hex or decimal, strtoull base 0); the index of a hit is the address's
 * position in the sorted, de-duplicated list (m4cycles.py sorts the same way). */
static int parse_markers(const char *s)
{
    size_t cap = 1, k = 0;
    const char *p;
    char *end;
    for (p = s; *p; ++p) cap += *p == ':';
    g_marks = calloc(cap, sizeof *g_marks);
    if (g_marks == NULL) return -1;
    for (p = s; *p;) {
        g_marks[k++] = strtoull(p, &end, 0);
        if (end == p || (*end != ':' && *end != '\0')) return -1;
        p = *end ? end + 1 : end;
    }
    qsort(g_marks, k, sizeof *g_marks, cmp_u64);
    for (g_nmarks = 0, cap = 0; cap < k; ++cap) {
        if (g_nmarks == 0 || g_marks[g_nmarks - 1] != g_marks[cap])
            g_marks[g_nmarks++] = g_marks[cap];
    }
    return 0;
}

static int parse_arg(const char *a, const char **out, const char **dump)
{
    char *end;
    if (strncmp(a, "out=", 4) == 0) {
        *out = a + 4;
    } else if (strncmp(a, "dump=", 5) == 0) {
        *dump = a + 5;
    } else if (strncmp(a, "markers=", 8) == 0) {
        return parse_markers(a + 8);
    } else if (strncmp(a, "p=", 2) == 0) {
        g_p = (unsigned)strtoul(a + 2, &end, 10);
        return (*end || g_p > 3) ? -1 : 0;
    } else if (strncmp(a, "div=", 4) == 0) {
        g_div = (unsigned)strtoul(a + 4, &end, 10);
        return (*end || g_div < 2 || g_div > 12) ? -1 : 0;
    } else {
        return -1;
    }
    return 0;
}

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    const char *out = NULL, *dump = NULL;
    int i;
    if (strcmp(info->target_name, "arm") != 0) {
        fprintf(stderr, "m4cycles: target %s is not arm\n", info->target_name);
        return -1;
    }
    for (i = 0; i < argc; ++i) {
        if (parse_arg(argv[i], &out, &dump) != 0) {
            fprintf(stderr,
                    "m4cycles: bad argument '%s' (expected out=FILE, markers=ADDR:ADDR..., "
                    "p=1..3, div=2..12, dump=FILE)\n",
                    argv[i]);
            return -1;
        }
    }
    if (out == NULL || (g_out = fopen(out, "w")) == NULL) {
        fprintf(stderr, "m4cycles: cannot write the out= file '%s'\n", out ? out : "");
        return -1;
    }
    if (dump != NULL && (g_dump = fopen(dump, "w")) == NULL) {
        fprintf(stderr, "m4cycles: cannot write the dump= file '%s'\n", dump);
        return -1;
    }
    fprintf(g_out, "m4cycles 1 p=%u div=%u classes", g_p, g_div);
    for (i = 0; i < NCLS; ++i) fprintf(g_out, "%c%s", i ? ',' : ' ', CLS_NAMES[i]);
    fputs(" events", g_out);
    for (i = 0; i < NEV; ++i) fprintf(g_out, "%c%s", i ? ',' : ' ', EV_NAMES[i]);
    fputc('\n', g_out);
    qemu_plugin_register_vcpu_tb_trans_cb(id, block_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
