"""Estimated Cortex-M4 cycles of firmware functions under QEMU, from the m4cycles TCG plugin
(firmware/runtime/tools/qemu_cycles; the model and its validation: docs/runtime-cycles.md).

The plugin charges each instruction QEMU executes the cycles of the Cortex-M4 TRM's timing table
at zero wait states; markers at a function's entry and after every BL to it bracket its calls.
A CycleMeter loads it into one QEMU run and reads the calls back while QEMU runs (the plugin
flushes each hit as it happens). Where the plugin cannot be used (no host C compiler, no arm
binutils, a core the model is not for, a QEMU without plugins) the meter says why and QEMU runs
without it: the bench and the stream still run, without cycle estimates.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from .. import runs
from ..assets import FIRMWARE_DIR
from ..boards import Board

WHAT = "estimated Cortex-M4 cycles (TRM timing, zero wait states)"
NOTE = (
    "an estimate: the Cortex-M4 TRM's cycles for each instruction QEMU executes (loads paired "
    "and address stalls as the TRM says, taken branches +2, divides 12), at zero wait states; a "
    "real board adds flash wait states and bus contention (docs/runtime-cycles.md)"
)
# A hop's work must leave a tenth of the hop free: serial I/O, interrupts, and the wait states
# the estimate leaves out. The stream's verdict and the sweep's default budget use it.
KEEP_UP_SHARE = 0.9
# The functions that bracket one inference (ek-run, infer, the first run of ek-profile) and
# ek-profile's op-by-op calls: both called with BL from firmware/app, for both runtimes.
INFERENCE = "ek_model_invoke"
OPS = "ek_model_invoke_ops"
MODULE = "edgekit.bench._m4cycles"


def m4cycles() -> ModuleType:
    """firmware/runtime/tools/qemu_cycles/m4cycles.py, loaded once from the firmware edgekit
    ships (a checkout's or the wheel's _assets). Registered in sys.modules before it runs: its
    dataclasses look their module up there."""
    mod = sys.modules.get(MODULE)
    if mod is not None:
        return mod
    path = FIRMWARE_DIR / "runtime" / "tools" / "qemu_cycles" / "m4cycles.py"
    spec = importlib.util.spec_from_file_location(MODULE, path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"{path}: cannot load the m4cycles module")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[MODULE] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[MODULE]
        raise
    return mod


def plugin() -> Path:
    """The plugin's shared library, built once per source (gcc -shared) into edgekit's cache."""
    return m4cycles().build_plugin(runs.cache_dir() / "m4cycles")


def m4_reason(board: Board) -> str | None:
    """Why the cycle model does not apply to a board's core, or None when it does."""
    if board.cpu.lower().startswith("cortex-m4"):
        return None
    return f"the cycle model is the Cortex-M4's; board {board.name} has a {board.cpu}"


def why(e: Exception) -> str:
    """An m4cycles failure as one message that says where it came from."""
    msg = str(e).strip()
    return msg if msg.startswith("m4cycles") else f"m4cycles: {msg}"


class CycleMeter:
    """m4cycles on one QEMU run, bracketing the calls of a few firmware functions."""

    def __init__(self, functions: Sequence[str]):
        self.functions = list(functions)
        self.why_not: str | None = None  # set when there is no estimate, saying why
        self.hits: Path | None = None
        self.markers: list[Any] = []

    @property
    def on(self) -> bool:
        return self.hits is not None and self.why_not is None

    def qemu_args(self, board: Board, elf: Path, workdir: Path) -> list[str]:
        """The QEMU arguments that load the plugin for `elf` (hits into workdir); [] when it
        cannot be used, and why_not says why."""
        self.why_not = m4_reason(board)
        if self.why_not:
            return []
        try:
            m4 = m4cycles()
            so = plugin()
            self.markers = m4.call_markers(Path(elf), self.functions)
            hits = Path(workdir) / "m4cycles.txt"
            args = m4.plugin_args(so, self.markers, hits)
        except (RuntimeError, ValueError, OSError, subprocess.CalledProcessError) as e:
            self.why_not = why(e)
            return []
        self.hits = hits
        return args

    def refused(self, qemu_output: str) -> None:
        """QEMU did not start with the plugin (built without plugin support?): run without."""
        last = [ln for ln in qemu_output.splitlines() if ln.strip()][-1:] or ["no output"]
        self.why_not = f"QEMU did not start with the m4cycles plugin: {last[0]}"
        self.hits = None

    def _profile(self) -> Any:
        if not self.on:
            return None
        assert self.hits is not None
        try:
            if self.hits.stat().st_size == 0:  # its header goes out with the first hit
                return m4cycles().Profile(0, 0, [], None, [])
            return m4cycles().read_profile(self.hits, self.markers)
        except (OSError, ValueError) as e:
            self.why_not = f"m4cycles: cannot read {self.hits}: {e}"
            return None

    def calls(self, function: str) -> list[Any]:
        """Every completed call of `function` so far (m4cycles Call: .counts.cycles, ...)."""
        prof = self._profile()
        return prof.calls(function) if prof is not None else []

    def roots(self) -> list[Any]:
        """The completed outermost calls of the marked functions, in the order they returned."""
        prof = self._profile()
        return prof.roots if prof is not None else []
