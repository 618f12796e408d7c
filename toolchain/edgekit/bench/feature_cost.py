"""The on-device feature chain's cost per hop on a board, in estimated Cortex-M4 cycles.

What a board spends per hop is the feature chain that builds the frame plus the inference on it.
The chain's cost does not depend on the model, only on the export's chain (channels, band-pass
sections, hop, window: its model_meta.h) and on how the board's firmware is compiled (hard or
soft float). So it is measured apart from the firmware: firmware/dsp/tools/ek_features_bench.c
built against the export's model_meta.h with the compiler flags of the port of an emulated board
with the same core (the board itself when QEMU runs it; a Cortex-M4F board QEMU lacks, such as
the Spresense, as the stm32f405 builds it: hard float), run in QEMU with the m4cycles plugin
on every ek_features_push_block call. Samples go in EK_FEAT_BLOCK_MAX at a time, as the stream
pushes them; the figure is a hop that makes a frame (band-pass, RMS, normalisation,
quantisation). Results are cached by everything they depend on.
"""

from __future__ import annotations

import hashlib
import math
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .. import runs
from ..assets import FIRMWARE_DIR
from ..boards import Board, all_boards, port_search_path
from ..errors import EdgekitError
from .cycles import NOTE, WHAT, m4_reason, m4cycles, plugin, why
from .qemu import qemu_binary

FEATURES = "ek_features_push_block"
CC = "arm-none-eabi-gcc"
# What firmware/app/build.mk adds to every port's ARCH_FLAGS and OPT for dsp/: no fused
# multiply-adds (the chain is bit-exact with data/causal.py), one section per function.
BUILD_FLAGS = ["-std=c99", "-ffp-contract=off", "-ffunction-sections", "-fdata-sections"]
RUN_TIMEOUT_S = 300.0
_LINE = re.compile(r"block (\d+) hop (\d+) ticks (\d+)")


def has_chain(meta_h: Path) -> bool:
    """The export has an on-device feature chain (trained with --filter causal)."""
    return "#define EK_FEAT_CHAIN 1" in Path(meta_h).read_text()


def fpu_twin(board: Board) -> Board:
    """The emulated board the chain is measured on for `board`: itself when QEMU runs it, else
    the first emulated board (by name) with the same core and so the same float ABI."""
    reason = m4_reason(board)
    if reason:
        raise EdgekitError(f"feature cost: {reason}")
    if board.emulated:
        return board
    same = [b for _, b in sorted(all_boards().items()) if b.emulated and b.cpu == board.cpu]
    if not same:
        raise EdgekitError(
            f"feature cost: no emulated board has {board.name}'s core ({board.cpu}), so its "
            "feature chain cannot be built and run with its float ABI in QEMU"
        )
    return same[0]


def _port_make(board: Board) -> tuple[dict[str, str], Path]:
    """The board's port.mk assignments (NAME := value) and its folder."""
    for d in port_search_path(board):
        mk = d / board.port / "port.mk"
        if mk.is_file():
            found = re.findall(r"^(\w+)\s*:=\s*(.*?)\s*$", mk.read_text(), re.M)
            return dict(found), mk.parent
    raise EdgekitError(
        f"feature cost: board {board.name}'s port {board.port!r} has no port.mk (searched "
        f"{', '.join(str(d) for d in port_search_path(board))})"
    )


def _build(meta_h: Path, twin: Board, out: Path) -> tuple[Path, list[str]]:
    """ek_features_bench.c for the export's chain, compiled as the twin's port compiles dsp/."""
    mk, port_dir = _port_make(twin)
    if "ARCH_FLAGS" not in mk or "LDSCRIPT" not in mk:
        raise EdgekitError(f"{port_dir / 'port.mk'}: no ARCH_FLAGS or LDSCRIPT assignment")
    cc = shutil.which(CC)
    if cc is None:
        raise EdgekitError(f"feature cost: {CC} not found (Debian: gcc-arm-none-eabi)")
    fw, cm = FIRMWARE_DIR, FIRMWARE_DIR / "ports" / "cortex-m"
    shutil.copyfile(meta_h, out / "model_meta.h")
    # cm_startup's fault handler writes through the port: nothing listens here
    (out / "port_write.c").write_text(
        '#include <stddef.h>\n#include "ek_port.h"\n'
        "void ek_port_write(const char *buf, size_t len) { (void)buf; (void)len; }\n"
    )
    flags = [*mk["ARCH_FLAGS"].split(), mk.get("OPT", "-Os"), *BUILD_FLAGS]
    srcs = [fw / "dsp" / "ek_features.c", fw / "dsp" / "tools" / "ek_features_bench.c"]
    srcs += [cm / f for f in ("cm_startup.c", "cm_systick.c", "cm_semihost.c")]
    elf = out / "ek_features_bench.elf"
    cmd = [cc, *flags, "-Wall", "-Werror", f"-I{out}", f"-I{fw / 'dsp'}", f"-I{cm}"]
    cmd += [f"-I{fw / 'app'}", *map(str, srcs), str(out / "port_write.c")]
    cmd += [f"-T{port_dir / Path(mk['LDSCRIPT']).name}", f"-L{port_dir}", f"-L{cm}"]
    cmd += ["-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", "-lm", "-lc", "-lgcc"]
    proc = subprocess.run([*cmd, "-o", str(elf)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise EdgekitError(
            f"feature cost: building ek_features_bench.c for {twin.name} failed:\n"
            f"{proc.stderr[-2000:]}"
        )
    return elf, flags


def _run(elf: Path, twin: Board, workdir: Path) -> tuple[list[tuple[int, int]], list[Any]]:
    """The bench in QEMU with the plugin: its (block size, hop) lines and the push calls."""
    m4 = m4cycles()
    markers = m4.call_markers(elf, [FEATURES])
    hits = workdir / "m4cycles.txt"
    assert twin.qemu_machine is not None
    cmd = [qemu_binary(twin.qemu_binary), "-M", twin.qemu_machine, "-icount", "shift=0"]
    cmd += ["-nographic", "-monitor", "none", "-serial", "null", "-semihosting-config"]
    cmd += [
        "enable=on,target=native",
        "-kernel",
        str(elf),
        *m4.plugin_args(plugin(), markers, hits),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise EdgekitError(f"feature cost: QEMU ran {elf} for {RUN_TIMEOUT_S:g} s") from None
    lines = [(int(b), int(h)) for b, h, _ in _LINE.findall(proc.stdout + proc.stderr)]
    if proc.returncode != 0 or not lines:
        raise EdgekitError(
            f"feature cost: QEMU exited {proc.returncode} on {elf}: "
            f"{(proc.stdout + proc.stderr)[-500:]}"
        )
    return lines, m4.read_profile(hits, markers).calls(FEATURES)


def _per_hop(lines: list[tuple[int, int]], calls: list[Any], hop: int) -> dict[int, np.ndarray]:
    """{block size: (hops, 2) cycles and instructions of each hop}: a hop takes ceil(hop /
    block) push calls (a push never crosses a hop's end), in the order the bench printed."""
    out: dict[int, list[tuple[int, int]]] = {}
    at = 0
    for block, _ in lines:
        group = calls[at : at + math.ceil(hop / block)]
        at += len(group)
        cyc = sum(c.counts.cycles for c in group)
        out.setdefault(block, []).append((cyc, sum(c.counts.instructions for c in group)))
    if at != len(calls) or at != sum(math.ceil(hop / b) for b, _ in lines):
        raise EdgekitError(
            f"feature cost: {len(calls)} {FEATURES} calls do not make the bench's "
            f"{len(lines)} hops of {hop} samples"
        )
    return {b: np.array(v, np.int64) for b, v in out.items()}


def _key(meta_h: Path, twin: Board) -> str:
    """Everything the figure depends on: the chain, the sources, the port, the plugin."""
    fw = FIRMWARE_DIR
    mk, _ = _port_make(twin)
    h = hashlib.sha256()
    for p in (
        Path(meta_h),
        fw / "dsp" / "ek_features.c",
        fw / "dsp" / "ek_features.h",
        fw / "dsp" / "tools" / "ek_features_bench.c",
        fw / "runtime" / "tools" / "qemu_cycles" / "m4cycles.c",
    ):
        h.update(p.read_bytes())
    h.update(repr(sorted(mk.items())).encode() + twin.name.encode() + repr(BUILD_FLAGS).encode())
    return h.hexdigest()[:16]


def feature_cost(meta_h: Path, board: Board) -> dict[str, Any]:
    """Estimated cycles per hop of the export's feature chain as `board` runs it (a hop that
    makes a frame, EK_FEAT_BLOCK_MAX samples per push). EdgekitError when it cannot be measured
    (no feature chain, no tools, a core the cycle model is not for)."""
    from .stream import read_meta

    meta = read_meta(meta_h)  # says so when the export has no feature chain
    twin = fpu_twin(board)
    cache = runs.cache_dir() / "feature-cost" / f"{_key(meta_h, twin)}.json"
    if cache.is_file():
        return {**runs.read_json(cache), "board": board.name}
    with tempfile.TemporaryDirectory(prefix="edgekit-features-") as tmp:
        elf, flags = _build(meta_h, twin, Path(tmp))
        try:
            lines, calls = _run(elf, twin, Path(tmp))
        except (RuntimeError, ValueError, OSError, subprocess.CalledProcessError) as e:
            raise EdgekitError(f"feature cost: {why(e)}") from None
    hops = _per_hop(lines, calls, meta.spec.hop)
    block = max(hops)
    frames = hops[block][meta.spec.n_blocks - 1 :]  # from the window's fill on: a frame per hop
    rec = {
        "what": WHAT,
        "board": board.name,
        "measured_as": twin.name,
        "flags": " ".join(flags),
        "channels": meta.n_channels,
        "hop_samples": meta.spec.hop,
        "fs": meta.spec.fs,
        "block": block,
        "hops": len(frames),
        "median_cycles": float(np.median(frames[:, 0])),
        "max_cycles": int(frames[:, 0].max()),
        "median_instructions": float(np.median(frames[:, 1])),
        "note": (
            f"firmware/dsp/tools/ek_features_bench.c on the export's model_meta.h, built with "
            f"{twin.name}'s port flags ({' '.join(flags)}), in QEMU {twin.qemu_machine}: "
            f"{FEATURES} calls of {block} samples over a hop that makes a frame; cycles are "
            f"{NOTE}"
        ),
    }
    runs.write_json(cache, rec)
    return rec
