"""Build and drive ekrt_semi.elf (edgekit-rt on QEMU mps2-an386 through semihosting).

Used by tests/test_runtime_kernels_qemu.py and benchmarks/bench_runtime.py:

    elf = build(Path("/tmp/x"))                      # make, Cortex-M4 + DSP
    res = run(elf, [Job(model, inputs, outputs, profile=True)])
    res[0].ticks, res[0].ops                        # SysTick ticks (x 40 = instructions)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
INSTR_PER_TICK = 40  # -icount shift=0: 1 ns per instruction, SysTick at 25 MHz


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


@dataclass
class Result:
    ok: bool
    error: str = ""
    arena: int = 0
    records: int = 0
    ticks: int = 0
    ops: list[OpTicks] = field(default_factory=list)


def build(build_dir: Path, extra_cflags: str = "") -> Path:
    """make the runner into build_dir; returns the ELF path."""
    if shutil.which("arm-none-eabi-gcc") is None:
        raise RuntimeError("arm-none-eabi-gcc not found (Debian: gcc-arm-none-eabi)")
    cmd = ["make", "-s", "-C", str(HERE), f"BUILD={build_dir}"]
    if extra_cflags:
        cmd.append(f"EXTRA_CFLAGS={extra_cflags}")
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return build_dir / "ekrt_semi.elf"


_JOB = re.compile(r"^job (\d+) ok arena=(\d+) records=(\d+) ticks=(\d+)$")
_ERR = re.compile(r"^job (\d+) error (.*)$")
_OP = re.compile(r"^op (\d+) (\d+) (\S+) macs=(\d+) ticks=(\d+)$")


def run(elf: Path, jobs: list[Job], timeout: float = 600.0) -> list[Result]:
    """Run every job in one QEMU boot; one Result per job, in order."""
    with tempfile.TemporaryDirectory(prefix="ekrt-semi-") as tmp:
        jobs_file = Path(tmp) / "jobs.txt"
        jobs_file.write_text(
            "".join(
                f"{j.model} {j.inputs} {j.outputs}{' profile' if j.profile else ''}\n" for j in jobs
            )
        )
        for p in [*(j.model for j in jobs), *(j.inputs for j in jobs), jobs_file]:
            if " " in str(p):
                raise ValueError(f"{p}: paths with spaces cannot go through the jobs file")
        proc = subprocess.run(
            [
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
                "-append",
                str(jobs_file),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
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
    return results
