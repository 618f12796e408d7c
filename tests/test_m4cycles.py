"""The m4cycles QEMU plugin (firmware/runtime/tools/qemu_cycles) against cycle counts the
Cortex-M4 TRM predicts exactly, on real QEMU mps2-an386.

validate/loops.S holds eight loops of N = 100 iterations, each between <case>_begin and
<case>_end. Every loop ends `subs r1, r1, #1; bne` (1 + 1 cycles, + P = 2 when the branch is
taken: 99 of the 100 times), so a case costs 100 x (body + 2) + 99 x 2 cycles. The bodies, from
the TRM's instruction table (3.3.1) and its load/store pairing rules (3.3.2):

  ldr_chain  4 x LDR r0,[r0]: each addresses with the register the one before loaded, so none
             pipelines: 4 x 2 = 8
  ldr_pipe   LDR 2, then five loads (LDR, LDR.W, LDRB, LDRH.W, LDR post-indexed) each behind a
             load whose loaded register it does not address with: 1 each -> 2 + 5 = 7
  ldst_mix   LDR 2; STR [r6] (immediate offset) 1; LDR 2 (nothing pipelines behind a store);
             STR [r6,r5] (register offset, 2) behind an LDR -> 1; LDR [r6,r5] behind a store 2;
             ADD r8 1; LDR [r8] 2 + 1 (its address register was written by the ADD just before:
             no forwarding to the address generator) -> 2+1+2+1+2+1+3 = 12
  mac        LDR 2, LDR 1 (pipelined), SMLAD, SMLABB, SMLAL, MLA, MUL, SMULBB, SXTB16 1 each
             -> 3 + 7 = 10
  branch     BL leaf 1+P, BX LR 1+P, BL leaf_pop 1+P, PUSH {r4,lr} 1+2, POP {r4,pc} 1+2+P,
             CBZ not taken 1, B (taken) 1+P -> 3+3+3+3+5+1+3 = 21
  multi      LDM 4 regs 1+4, STM 4 regs 1+4, LDRD 3, STRD 3, PUSH 4 regs 1+4, POP 4 regs 1+4
             -> 26
  div        UDIV, SDIV: the TRM gives 2..12 (early termination); the model takes div=12 -> 24
             (this case checks the parameter is applied, not the core)
  vfp        VLDR 2, VMLA 3, VADD 1, VMUL 1, VSTR 2, VDIV 14, VMOV r,s 1, VPUSH {s0,s1} 1+2,
             VPOP {s0,s1} 1+2 -> 30

QEMU's -singlestep (one instruction per translated block) must give the same counts: the
pairing of instructions that straddle a block boundary is settled at run time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "firmware" / "runtime" / "tools" / "qemu_cycles"
sys.path.insert(0, str(TOOLS))
sys.path.insert(0, str(REPO / "firmware" / "runtime" / "tools" / "semihost"))
import m4cycles  # noqa: E402

import ekrt_semi  # noqa: E402

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None
    or shutil.which("arm-none-eabi-gcc") is None
    or shutil.which("gcc") is None,
    reason="needs qemu-system-arm, arm-none-eabi-gcc and a host gcc (for the plugin)",
)

N, P = 100, 2
# case: (instructions in the loop body without SUBS/BNE, body cycles)
BODY = {
    "ldr_chain": (4, 8),
    "ldr_pipe": (6, 7),
    "ldst_mix": (7, 12),
    "mac": (9, 10),
    "branch": (7, 21),
    "multi": (6, 26),
    "div": (2, 24),
    "vfp": (9, 30),
}


def predicted(case: str) -> tuple[int, int]:
    insns, cycles = BODY[case]
    return N * (insns + 2), N * (cycles + 2) + (N - 1) * P


@pytest.fixture(scope="module")
def loops(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[m4cycles.Marker]]:
    tmp = tmp_path_factory.mktemp("m4cycles")
    elf = tmp / "loops.elf"
    subprocess.run(
        [
            "arm-none-eabi-gcc",
            "-mcpu=cortex-m4",
            "-mthumb",
            "-mfpu=fpv4-sp-d16",
            "-mfloat-abi=hard",
            "-nostdlib",
            "-Wl,-Ttext=0",
            "-Wl,-e,reset",
            str(TOOLS / "validate" / "loops.S"),
            "-o",
            str(elf),
        ],
        check=True,
        capture_output=True,
    )
    names = [f"{c}_{e}" for c in BODY for e in ("begin", "end")]
    return m4cycles.build_plugin(tmp), elf, m4cycles.symbol_markers(elf, names)


def run_loops(loops, tmp: Path, *extra: str) -> m4cycles.Profile:
    plugin, elf, markers = loops
    out = tmp / "hits.txt"
    proc = subprocess.run(
        ekrt_semi.qemu_argv(elf, *extra, *m4cycles.plugin_args(plugin, markers, out)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return m4cycles.read_profile(out, markers)


def measured(prof: m4cycles.Profile, case: str) -> m4cycles.Counts:
    begin = next(c for m, c in prof.hits if m.name == f"{case}_begin")  # the loop's first pass
    (end,) = [c for m, c in prof.hits if m.name == f"{case}_end"]
    return end - begin


@pytest.mark.parametrize("singlestep", [False, True], ids=["blocks", "singlestep"])
def test_loops_match_the_trm(loops, tmp_path, singlestep):
    prof = run_loops(loops, tmp_path, *(["-singlestep"] if singlestep else []))
    got = {c: (measured(prof, c).instructions, measured(prof, c).cycles) for c in BODY}
    assert got == {c: predicted(c) for c in BODY}
    assert prof.end is not None and prof.p == P and prof.div == 12


def test_events_and_classes(loops, tmp_path):
    prof = run_loops(loops, tmp_path)
    ev = {c: measured(prof, c).events() for c in BODY}
    assert ev["ldr_pipe"]["pipelined"] == 5 * N and ev["ldr_chain"]["pipelined"] == 0
    assert ev["ldst_mix"]["pipelined"] == N and ev["ldst_mix"]["agu_stall"] == N
    assert ev["mac"]["pipelined"] == N
    # branch case: BL, BX, BL, POP {pc}, B taken every pass, CBZ never, BNE 99 of 100
    assert ev["branch"]["taken"] == 5 * N + N - 1 and ev["branch"]["not_taken"] == N + 1
    assert ev["branch"]["refill_cycles"] == P * ev["branch"]["taken"]
    mac = measured(prof, "mac").by_class()
    assert mac["dsp"]["instructions"] == 3 * N  # SMLAD, SMLABB, SMULBB
    assert mac["mul"]["instructions"] == 3 * N  # SMLAL, MLA, MUL
    vfp = measured(prof, "vfp").by_class()
    assert vfp["fp_div"] == {"instructions": N, "cycles": 14 * N}
    assert vfp["fp_mac"] == {"instructions": N, "cycles": 3 * N}


def test_parameters_p_and_div(loops, tmp_path):
    plugin, elf, markers = loops
    out = tmp_path / "hits.txt"
    cmd = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-icount", "shift=0"]
    cmd += ["-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]
    subprocess.run(
        cmd + m4cycles.plugin_args(plugin, markers, out, p=3, div=2), check=True, timeout=120
    )
    prof = m4cycles.read_profile(out, markers)
    div = measured(prof, "div")
    assert div.cycles == N * (2 + 2 + 2) + (N - 1) * 3
    assert measured(prof, "ldr_chain").cycles == N * 10 + (N - 1) * 3


def test_bad_argument_is_refused(loops, tmp_path):
    plugin, elf, _ = loops
    proc = subprocess.run(
        ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-kernel", str(elf)]
        + ["-plugin", f"{plugin},out={tmp_path / 'x'},div=40"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "div=2..12" in proc.stderr


# --- on edgekit-rt: ekrt_semi's cycle attribution, and the decoder against QEMU's disassembler


@pytest.fixture(scope="module")
def rt_run(loops, tmp_path_factory: pytest.TempPathFactory):
    import rt_models
    from runtime_util import random_inputs

    tmp = tmp_path_factory.mktemp("m4cycles-rt")
    spec = next(s for s in rt_models.all_specs() if s.name == "mbv2")
    model = rt_models.build(spec, rt_models.cache_dir())
    (tmp / "in.bin").write_bytes(random_inputs(model, spec.seed)[:2].tobytes())
    elf = ekrt_semi.build(tmp / "build")
    jobs = [
        ekrt_semi.Job(model, tmp / "in.bin", tmp / "a.out", profile=True),
        ekrt_semi.Job(model, tmp / "in.bin", tmp / "b.out", profile=False),
    ]
    return ekrt_semi, elf, model, tmp, ekrt_semi.run(elf, jobs, cycles=True)


def test_ekrt_semi_cycles_per_inference_and_op(rt_run):
    ekrt_semi, _, _, _, (prof, whole) = rt_run
    for res in (prof, whole):
        assert res.ok and res.cycles is not None
        ticks_instr = res.ticks * ekrt_semi.INSTR_PER_TICK
        # the plugin counts what SysTick times, less the two timer reads around it; SysTick
        # counts whole ticks of 40 instructions, so its count may fall short by up to 39
        diff = ticks_instr - res.cycles.instructions
        assert -ekrt_semi.INSTR_PER_TICK < diff <= 2 * ekrt_semi.INSTR_PER_TICK
        assert res.cycles.cycles > res.cycles.instructions  # loads, branches: CPI > 1
    assert all(o.cycles is not None for o in prof.ops) and len(prof.ops) > 5
    for o in prof.ops:
        assert abs(o.ticks * ekrt_semi.INSTR_PER_TICK - o.cycles.instructions) <= 80
    # the op calls account for the inference but for the loop and the timer reads around them
    op_cycles = sum(o.cycles.cycles for o in prof.ops)
    assert 0 < prof.cycles.cycles - op_cycles < 200 * len(prof.ops)
    # op by op and the whole invoke run the same kernels
    assert abs(whole.cycles.cycles - op_cycles) < 50 * len(prof.ops)


# mnemonic (condition code and .w/.n stripped) -> the plugin's class
_CLASS_OF = [
    ("dual", r"ldrd|strd"),
    ("multi", r"ldm\w*|stm\w*|push|pop"),
    ("load", r"ldr|ldrb|ldrh|ldrsb|ldrsh|ldrex[bh]?|ldrb?t|ldrs?ht|ldrsbt"),
    ("store", r"str|strb|strh|strex[bh]?|strb?t|strht"),
    ("branch", r"b|bl|bx|blx|cbn?z|tb[bh]"),
    ("div", r"[su]div"),
    ("mul", r"muls?|ml[as]|[su]mull|[su]mlal"),
    (
        "dsp",
        r"smla[bt][bt]|smlaw[bt]|smlal[bt][bt]|smlal?dx?|smlsl?dx?|smul[bt][bt]|smulw[bt]"
        r"|smu[as]dx?|smm(ul|la|ls)r?|usada?8|umaal",
    ),
    ("fp_mem", r"vldr|vstr|vldm\w*|vstm\w*|vpush|vpop"),
    ("fp_mac", r"vn?ml[as]|vfn?m[as]"),
    ("fp_div", r"vdiv|vsqrt"),
    ("fp", r"v\w+"),
    ("other", r"msr|mrs|cpsi[de]|dsb|dmb|isb|svc|bkpt|udf|pl[di]|clrex"),
]
_COND = r"(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?"


def expected_class(disas: str) -> str:
    import re

    mnemonic, _, operands = disas.strip().partition(" ")
    mnemonic = mnemonic.split(".")[0]
    for cls, pattern in _CLASS_OF:
        if re.fullmatch(f"({pattern}){_COND}", mnemonic):
            return cls
    if re.fullmatch(f"(mov|add){_COND}", mnemonic) and operands.strip().startswith("pc"):
        return "branch"
    return "alu"


def test_decoder_agrees_with_qemu_disassembler(loops, rt_run):
    """Every instruction edgekit-rt executes (and the validation loops) is classed as QEMU's own
    disassembler names it."""
    plugin = loops[0]
    _, elf, model, tmp, _ = rt_run
    (tmp / "jobs.txt").write_text(f"{model} {tmp / 'in.bin'} {tmp / 'c.out'} profile\n")
    seen = {}
    for kernel, extra in ((elf, ["-append", str(tmp / "jobs.txt")]), (loops[1], [])):
        dump = tmp / "dump.txt"
        subprocess.run(
            ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-icount", "shift=0"]
            + ["-semihosting-config", "enable=on,target=native", "-kernel", str(kernel), *extra]
            + m4cycles.plugin_args(plugin, [], tmp / "hits.txt", dump=dump),
            check=True,
            capture_output=True,
            timeout=300,
        )
        for line in dump.read_text().splitlines():
            left, _, disas = line.partition(" | ")
            seen[disas] = left.split()[2]
    wrong = {d: c for d, c in seen.items() if expected_class(d) != c}
    assert len(seen) > 500 and not wrong
    assert {"load", "store", "dsp", "mul", "branch", "multi", "dual"} <= set(seen.values())
