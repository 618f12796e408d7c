"""edgekit-rt on the host: its own planner sizes the arena and its kernels are checked byte for
byte against tflite_micro before any firmware is rendered for a board that runs edgekit-rt.

The host runner is firmware/runtime/tools/ekrt_run.c compiled with the system C compiler from
the same sources the firmware builds (cached by a hash of those sources). Its arena figure is
what ekrt_init() reports; on a 64-bit host the runtime's tables hold 8-byte pointers, so it is
an upper bound for a 32-bit MCU (where ek-info% reports the exact figure).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .. import runs
from ..boards import FIRMWARE_DIR
from ..errors import EdgekitError

RUNTIME_DIR = FIRMWARE_DIR / "runtime"
CHECK_SAMPLES = 256  # inputs compared with tflite_micro at export (the bench compares on the board)


class NoHostCompiler(EdgekitError):
    """No C compiler on this machine to build the host runner."""


def runtime_sources(runtime_dir: Path = RUNTIME_DIR) -> list[Path]:
    """edgekit-rt's sources (interpreter + kernels) from sources.txt, the one list that
    runtime.mk and the semihosting runner's Makefile read too."""
    path = runtime_dir / "sources.txt"
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise EdgekitError(
            f"{path}: cannot read the edgekit-rt source list ({e.strerror})"
        ) from None
    names = [ln.split("#", 1)[0].strip() for ln in lines]
    srcs = [runtime_dir / n for n in names if n]
    if not srcs:
        raise EdgekitError(f"{path}: lists no edgekit-rt sources")
    return srcs


def ekrt_run_binary() -> Path:
    """Build (once per source version) and return the host ekrt_run."""
    cc = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")
    if cc is None:
        raise NoHostCompiler(
            "no host C compiler (gcc/cc) on PATH: edgekit-rt's planner cannot size "
            "the arena; install build-essential (sudo apt-get install build-essential)"
        )
    srcs = runtime_sources() + [RUNTIME_DIR / "tools" / "ekrt_run.c"]
    h = hashlib.sha256()
    for p in sorted(srcs) + sorted(RUNTIME_DIR.glob("*.h")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    exe = runs.cache_dir() / f"ekrt_run-{h.hexdigest()[:16]}"
    if exe.exists():
        return exe
    exe.parent.mkdir(parents=True, exist_ok=True)
    tmp = exe.with_name(f"{exe.name}.tmp{os.getpid()}")
    cmd = [
        cc,
        "-std=c99",
        "-O1",
        "-Wall",
        "-Wextra",
        "-Werror",
        f"-I{RUNTIME_DIR}",
        *map(str, srcs),
        "-o",
        str(tmp),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise EdgekitError(
            f"{RUNTIME_DIR}: building the host edgekit-rt runner failed:\n"
            + "\n".join(proc.stderr.strip().splitlines()[-15:])
        )
    os.replace(tmp, exe)
    return exe


def run_ekrt(model: bytes, x_int8: np.ndarray, what: str = "model") -> tuple[int, np.ndarray]:
    """(arena bytes edgekit-rt's planner needs, (N, out) int8 outputs) of `model` on x_int8."""
    exe = ekrt_run_binary()
    x = np.ascontiguousarray(x_int8, dtype=np.int8)
    with tempfile.TemporaryDirectory(prefix="edgekit-ekrt-") as td:
        path = Path(td) / "model.tflite"
        path.write_bytes(model)
        proc = subprocess.run(
            [str(exe), str(path), "--info"], input=x.tobytes(), capture_output=True, timeout=600
        )
    err = proc.stderr.decode(errors="replace").strip()
    if proc.returncode == 1:
        msg = err.splitlines()[-1].removeprefix("ekrt_run: ") if err else "no message"
        raise EdgekitError(
            f"{what}: edgekit-rt cannot run this model: {msg}. Export with "
            "--runtime tflm (needs a TFLM tree), or use only the ops edgekit-rt "
            "implements (firmware/runtime/README.md)"
        )
    if proc.returncode != 0:
        raise EdgekitError(
            f"{what}: host edgekit-rt runner failed (exit {proc.returncode}): {err[-400:]}"
        )
    m = re.search(r"arena_used=(\d+) .*out=(\d+)", err)
    if m is None:
        raise EdgekitError(f"{what}: host edgekit-rt runner printed no arena figure: {err[-400:]}")
    n_out = int(m.group(2))
    y = np.frombuffer(proc.stdout, dtype=np.int8)
    if y.size != n_out * len(x):
        raise EdgekitError(
            f"{what}: host edgekit-rt gave {y.size} output bytes for {len(x)} inputs "
            f"of {n_out} outputs"
        )
    return int(m.group(1)), y.reshape(len(x), n_out).copy()


def size_and_check(
    model: bytes, x_int8: np.ndarray, y_tflm: np.ndarray, what: str = "model"
) -> dict[str, Any]:
    """edgekit-rt's arena need, and its outputs on (up to CHECK_SAMPLES of) x_int8 compared
    byte for byte with tflite_micro's y_tflm; EdgekitError if any byte differs."""
    n = min(len(x_int8), CHECK_SAMPLES)
    need, y = run_ekrt(model, x_int8[:n], what)
    want = np.asarray(y_tflm[:n], dtype=np.int8).reshape(n, -1)
    bad = np.flatnonzero(np.any(y != want, axis=1))
    if bad.size:
        i = int(bad[0])
        d = int(np.max(np.abs(y[i].astype(np.int16) - want[i].astype(np.int16))))
        raise EdgekitError(
            f"{what}: edgekit-rt's output differs from tflite_micro on {bad.size} of "
            f"{n} inputs (first: input {i}, max |diff| {d}); the runtime is not "
            "byte-exact on this model: please report it, and use --runtime tflm"
        )
    return {
        "ekrt_need_host": need,
        "checked_inputs": n,
        "exact": True,
        "note": "arena from edgekit-rt's own planner on the host (64-bit pointers: an upper "
        "bound for 32-bit MCUs)",
    }


def arena_size(need: int) -> int:
    """EK_ARENA_SIZE for edgekit-rt: the planner's need, 16-byte aligned (it is exact, not an
    estimate, so no margin)."""
    return int(-(-need // 16) * 16)
