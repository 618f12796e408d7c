"""Build and drive ekrt_semi.elf (edgekit-rt on QEMU mps2-an386 through semihosting).

Used by tests/test_runtime_kernels_qemu.py and benchmarks/bench_runtime.py:

    elf = build(Path("/tmp/x"))                      # make, Cortex-M4 + DSP
    res = run(elf, [Job(model, inputs, outputs, profile=True)], cycles=True)
    res[0].ticks, res[0].ops                        # SysTick ticks (x 40 = instructions)
    res[0].cycles.cycles, res[0].ops[i].cycles      # with cycles=True: m4cycles estimates

With cycles=True QEMU runs with the m4cycles plugin (../qemu_cycles): a Cortex-M4 cycle
estimate and instruction counts by class for the last inference of each job and, with
profile, for each of its ops (the ekrt_invoke_ops calls).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "qemu_cycles"))
import m4cycles  # noqa: E402

INSTR_PER_TICK = 40  # -icount shift=0: 1 ns per instruction, SysTick at 25 MHz
# the functions m4cycles brackets: ekrt_semi.c's job and inference, edgekit-rt's per-op call
MARKED = ["semi_run_job", "semi_infer", "ekrt_invoke_ops"]


@dataclass
class Job:
    model: Path
    inputs: Path
    outputs: Path
    profile: bool = False


@dataclass
class OpTicks:
    index: int
    code: int
    name: str
    macs: int
    ticks: int
    cycles: m4cycles.Counts | None = None  # run(cycles=True): this op's ekrt_invoke_ops call


@dataclass
class Result:
    ok: bool
    error: str = ""
    arena: int = 0
    records: int = 0
    ticks: int = 0
    ops: list[OpTicks] = field(default_factory=list)
    cycles: m4cycles.Counts | None = None  # run(cycles=True): the last inference


def build(build_dir: Path, extra_cflags: str = "") -> Path:
    """make the runner into build_dir; returns the ELF path."""
    if shutil.which("arm-none-eabi-gcc") is None:
        raise RuntimeError("arm-none-eabi-gcc not found (Debian: gcc-arm-none-eabi)")
    cmd = ["make", "-s", "-C", str(HERE), f"BUILD={build_dir}"]
    if extra_cflags:
        cmd.append(f"EXTRA_CFLAGS={extra_cflags}")
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return build_dir / "ekrt_semi.elf"


def qemu_argv(elf: Path, *extra: str) -> list[str]:
    """The QEMU command line a semihosted image runs under here (also test_m4cycles.py's):
    mps2-an386, one instruction a nanosecond (-icount shift=0), semihosting on the host's
    files; extra: more options (-append, a plugin, -singlestep)."""
    return [
        "qemu-system-arm",
        "-M",
        "mps2-an386",
        "-nographic",
        "-icount",
        "shift=0",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
        str(elf),
        *extra,
    ]


_JOB = re.compile(r"^job (\d+) ok arena=(\d+) records=(\d+) ticks=(\d+)$")
_ERR = re.compile(r"^job (\d+) error (.*)$")
_OP = re.compile(r"^op (\d+) (\d+) (\S+) macs=(\d+) ticks=(\d+)$")


JOBS_MAX = 64 * 1024  # ekrt_semi.c's JOBS_MAX


def run(elf: Path, jobs: list[Job], timeout: float = 600.0, cycles: bool = False) -> list[Result]:
    """Run every job in one QEMU boot; one Result per job, in order."""
    with tempfile.TemporaryDirectory(prefix="ekrt-semi-") as tmp:
        hits = Path(tmp) / "m4cycles.txt"
        plugin: list[str] = []
        if cycles:
            markers = m4cycles.call_markers(elf, MARKED)
            plugin = m4cycles.plugin_args(m4cycles.build_plugin(elf.parent), markers, hits)
        jobs_file = Path(tmp) / "jobs.txt"
        text = "".join(
            f"{j.model} {j.inputs} {j.outputs}{' profile' if j.profile else ''}\n" for j in jobs
        )
        if len(text.encode()) >= JOBS_MAX:  # ekrt_semi.c's s_jobs holds JOBS_MAX - 1 bytes
            raise ValueError(
                f"{len(jobs)} jobs make a jobs file of {len(text.encode())} B; ekrt_semi reads at "
                f"most {JOBS_MAX - 1} B: run them in several boots"
            )
        jobs_file.write_text(text)
        for p in [*(j.model for j in jobs), *(j.inputs for j in jobs), jobs_file]:
            if " " in str(p):
                raise ValueError(f"{p}: paths with spaces cannot go through the jobs file")
        proc = subprocess.run(
            qemu_argv(elf, "-append", str(jobs_file), *plugin),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        profile = m4cycles.read_profile(hits, markers) if cycles else None
    results: list[Result] = [Result(ok=False, error="no report") for _ in jobs]
    current = None
    # QEMU writes the semihosting console to stderr when stdout is not a terminal
    for line in (proc.stdout + "\n" + proc.stderr).splitlines():
        if m := _JOB.match(line):
            current = results[int(m[1])] = Result(True, "", int(m[2]), int(m[3]), int(m[4]))
        elif m := _ERR.match(line):
            results[int(m[1])] = Result(False, m[2])
            current = None
        elif (m := _OP.match(line)) and current is not None:
            current.ops.append(OpTicks(int(m[1]), int(m[2]), m[3], int(m[4]), int(m[5])))
    if proc.returncode not in (0, 1):
        raise RuntimeError(
            f"ekrt_semi exited {proc.returncode}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    if profile is not None:
        _attach_cycles(results, profile)
    return results


def _attach_cycles(results: list[Result], profile: m4cycles.Profile) -> None:
    """One semi_run_job call per job; its last semi_infer call is the inference the ticks
    time; inside it (profile) one ekrt_invoke_ops call per op, in order."""
    job_calls = profile.calls("semi_run_job")
    if len(job_calls) != len(results):
        raise RuntimeError(f"m4cycles saw {len(job_calls)} jobs, expected {len(results)}")
    for res, call in zip(results, job_calls, strict=True):
        infers = [c for c in call.calls if c.function == "semi_infer"]
        if not res.ok or not infers:
            continue
        res.cycles = infers[-1].counts
        op_calls = [c for c in infers[-1].calls if c.function == "ekrt_invoke_ops"]
        for op, c in zip(res.ops, op_calls, strict=False):
            op.cycles = c.counts
