"""Host reference: the int8 model in the tflite_micro Python interpreter (TFLM's own kernels).

Its int8 inputs come from quantspec.quantize_input (TFLite's reference AffineQuantize).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from typing import Any

import numpy as np

from ..errors import EdgekitError


def _interpreter(model: bytes, arena: int) -> Any:
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(model, arena_size=int(arena))


def allocates(model: bytes, arena: int, x0: np.ndarray) -> bool:
    """Whether TFLM allocates and runs the model in `arena` bytes. Only call with arenas at or above
    the recorded need: TFLM can abort the whole process on some too-small arenas."""
    try:
        it = _interpreter(model, arena)
        it.set_input(x0, 0)
        it.invoke()
        return True
    except (RuntimeError, ValueError):
        return False


def _captured_fd2(fn: Any) -> str:
    """Run fn() with the C-level stderr (fd 2) sent to a temp file; return what it wrote."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 2)
        try:
            fn()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        return f.read().decode(errors="replace")


def find_arena(model: bytes, x0: np.ndarray) -> int:
    """TFLM's arena need: RecordingMicroAllocator's 'Arena allocation total' after one invoke
    (print_allocations), confirmed by allocating and running in exactly that many bytes.
    (A binary search is not safe: TFLM aborts the process on some too-small arenas.)"""
    big = max(1 << 20, len(model) * 10)
    it = _interpreter(model, big)
    it.set_input(x0, 0)
    it.invoke()
    text = _captured_fd2(it.print_allocations)
    m = re.search(r"Arena allocation total (\d+) bytes", text)
    if not m:
        raise EdgekitError(f"tflite_micro: print_allocations() gave no arena total:\n{text[:400]}")
    recorded = int(m.group(1))
    # The recording misses some temporary allocations made during Prepare (seen on small conv
    # models: "Failed to allocate temp memory ... missing: 24"), so step up until it runs.
    step = max(64, -(-recorded // 16 // 16) * 16)
    for need in [recorded] + [recorded + k * step for k in range(1, 9)]:
        if allocates(model, need, x0):
            return need
    raise EdgekitError(
        f"tflite_micro: the model does not run in its recorded arena need "
        f"({recorded} bytes) nor in up to {recorded + 8 * step} bytes"
    )


def arena_with_margin(need: int) -> int:
    """EK_ARENA_SIZE: TFLM's need on the host + 10% (min 1 KB), 16-byte aligned."""
    return int(-(-(need + max(1024, need // 10)) // 16) * 16)


def host_arena(report: Any) -> int:
    """The arena for run_reference on an exported model (an artifacts.ExportReport): TFLM's own
    host need with the margin, since EK_ARENA_SIZE may be edgekit-rt's, which is smaller."""
    if report.tflm_need_host:
        return arena_with_margin(report.tflm_need_host)
    return report.ek_arena_size


def run_reference(model: bytes, x_int8: np.ndarray, arena: int) -> np.ndarray:
    """(N, H, W, 1) int8 -> (N, C) int8 outputs of the tflite_micro interpreter."""
    it = _interpreter(model, arena)
    outs = []
    for i in range(len(x_int8)):
        it.set_input(x_int8[i : i + 1], 0)
        it.invoke()
        outs.append(np.array(it.get_output(0)).reshape(-1).astype(np.int8))
    return np.stack(outs) if outs else np.zeros((0, 0), np.int8)
