"""Can this model run on this board? Checked before anything is built or run on the host's
interpreter, so a model that cannot is refused with the reason and the numbers, not by a
compiler, a linker or a crash.

The op list of edgekit-rt is read from its operator table (firmware/runtime/ekrt_ops.c), the one
place it is defined; TFLM's from the resolver the export writes.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..artifacts import load_export
from ..boards import FIRMWARE_DIR, Board
from ..errors import EdgekitError
from ..export.tflite import TFLM_RESOLVER, TfliteInfo, inspect_tflite, validate_tflm_int8

EKRT_OP_TABLE = FIRMWARE_DIR / "runtime" / "ekrt_ops.c"
# Besides the arena the firmware holds the model's input once more in its `db load` buffer
# (app/ek_app.c s_db: db load N takes any N up to the input size, so RAM is the only bound on the
# input), and a third time in the stream's frame (s_frame) when the model has the on-device feature
# chain. A board's [estimate] runtime_ram_bytes was measured on a 192-byte-input model, so these
# buffers are counted in full on top of it (at most 384 bytes counted twice).
FEATURE_CHAIN = re.compile(r"^#define EK_FEAT_CHAIN 1\s*$", re.M)


def runtime_ops(runtime: str, table: Path = EKRT_OP_TABLE) -> list[str]:
    """The TFLite builtin operators a runtime can run."""
    if runtime != "edgekit-rt":
        return sorted(TFLM_RESOLVER)
    try:
        text = table.read_text()
    except OSError as e:
        raise EdgekitError(f"{table}: cannot read edgekit-rt's operator table ({e})") from None
    ops = re.findall(r"\{\s*EKRT_OP_(\w+)\s*,", text)
    if not ops:
        raise EdgekitError(f"{table}: no operators found in ekrt_op_table")
    return sorted(ops)


def check_model(model: bytes, what: str, board: Board, runtime: str) -> TfliteInfo:
    """The model is a whole int8 .tflite with int8 input and output, and every op it uses is one
    the runtime has; raises EdgekitError saying which and what to do."""
    info = inspect_tflite(model, what)
    validate_tflm_int8(info, what, input_shape=None)
    have = runtime_ops(runtime)
    lacking = [op for op in info.op_names if op not in have]
    if lacking:
        fix = (
            "bench it with --runtime tflm (needs a TFLM tree), or rebuild the model without them"
            if runtime == "edgekit-rt"
            else "rebuild the model without them"
        )
        raise EdgekitError(
            f"{what}: {runtime} (board {board.name}) has no {', '.join(lacking)} "
            f"operator{'s' if len(lacking) > 1 else ''}; it runs {', '.join(have)}; {fix}"
        )
    return info


def check_input_buffers(export_dir: Path, board: Board) -> None:
    """The export's fit report (for this board) leaves room for the firmware's input buffers."""
    export_json = export_dir / "export.json"
    ex = load_export(export_json)
    fit = ex.raw.get("fit")
    shape = (ex.raw.get("input") or {}).get("shape")
    if not isinstance(fit, dict) or fit.get("board") != board.name or not shape:
        return  # exported for another board: its build reports the fit
    n_in = int(np.prod(shape))
    try:
        free, budget = int(fit["ram"]["free"]), int(fit["ram"]["budget"])
    except (KeyError, TypeError, ValueError):
        raise EdgekitError(
            f"{export_json}: field 'fit.ram' is {fit.get('ram')!r}, expected free and budget "
            "bytes; re-run `edgekit export`"
        ) from None
    meta = export_dir / "model_meta.h"
    chain = meta.is_file() and FEATURE_CHAIN.search(meta.read_text()) is not None
    copies, what = (2, "db load buffer, stream frame") if chain else (1, "db load buffer")
    if copies * n_in > free:
        where = board.path or f"boards/{board.name}.toml"
        raise EdgekitError(
            f"{where}: the model does not fit board {board.name!r}: its input is {n_in:,} B and "
            f"the firmware holds it {copies} more time{'s' if copies > 1 else ''} ({what}) = "
            f"{copies * n_in:,} B, but only {free:,} B of ram_bytes = {budget:,} B are left "
            "after the arena and the runtime; pick a board with more RAM or a smaller input"
        )
