"""What crosses a stage boundary, typed, with one loader each.

    frames.npz   (train / ingest -> quantize, export, robust)   Frames, load_frames
    qat.pt       (quantize -> export)                           QatRecord, load_qat
    export.json  (export -> robust, firmware, bench)            ExportReport, load_export

A later stage reads these, never an earlier stage's modules. The float / QAT checkpoint itself is
checkpoint.ModelRecord; the firmware build record is written beside the firmware by firmware.py.
Every loader checks what it returns and names the file and the field when something is off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import runs
from .data.grids import Grid
from .errors import EdgekitError

if TYPE_CHECKING:  # checkpoint loads torch; frames and export.json readers do not need it
    from . import checkpoint

# ------------------------------------------------------------------------------- frames.npz


@dataclass
class Frames:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    label_names: list[str]
    grid: Grid | None = None  # None: frames written before grids were recorded (8 x 24)
    path: Path | None = None  # the archive they came from (for messages)


def load_frames(path: Any, num_classes: int | None = None, grid: Grid | None = None) -> Frames:
    """frames.npz of a run; its images must be laid out on `grid` (the checkpoint's) if given,
    else on the grid the archive records (the legacy 8 x 24 if it records none)."""
    d = runs.load_npz(path)
    need = ["x_train", "y_train", "x_val", "y_val", "x_test", "y_test"]
    missing = [k for k in need if k not in d]
    if missing:
        raise EdgekitError(f"{path}: frames archive lacks arrays {missing}; re-run `edgekit train`")
    saved = None
    if "grid" in d:
        try:
            saved = Grid.from_dict(json.loads(str(d["grid"])), f"{path}: field 'grid'")
        except json.JSONDecodeError as e:
            raise EdgekitError(f"{path}: field 'grid' is not a JSON grid record ({e})") from None
    if grid is not None and saved is not None and saved.to_dict() != grid.to_dict():
        raise EdgekitError(
            f"{path}: field 'grid' is {saved.name} {saved.rows}x{saved.cols}, but the "
            f"model expects {grid.name} {grid.rows}x{grid.cols}; re-run `edgekit train`"
        )
    g = grid or saved
    hw = g.shape if g is not None else (8, 24)
    for part in ("train", "val", "test"):
        x, y = d[f"x_{part}"], d[f"y_{part}"]
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, *hw):
            raise EdgekitError(
                f"{path}: field 'x_{part}' has shape {x.shape}, expected (N, 1, {hw[0]}, {hw[1]})"
            )
        if len(y) != len(x):
            raise EdgekitError(f"{path}: 'y_{part}' has {len(y)} labels for {len(x)} frames")
        if num_classes is not None and len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise EdgekitError(f"{path}: 'y_{part}' has labels outside 0..{num_classes - 1}")
    if len(d["x_train"]) == 0 or len(d["x_val"]) == 0 or len(d["x_test"]) == 0:
        raise EdgekitError(
            f"{path}: empty train/val/test split "
            f"({len(d['x_train'])}/{len(d['x_val'])}/{len(d['x_test'])} frames)"
        )
    names = [str(s) for s in d["label_names"]] if "label_names" in d else []
    return Frames(
        d["x_train"].astype(np.float32),
        d["y_train"].astype(np.int64),
        d["x_val"].astype(np.float32),
        d["y_val"].astype(np.int64),
        d["x_test"].astype(np.float32),
        d["y_test"].astype(np.int64),
        names,
        g,
        Path(path),
    )


# ----------------------------------------------------------------------------------- qat.pt

QAT_FIELDS = ("folded", "act_ranges", "layers", "calibration", "test_logits")


@dataclass
class QatRecord:
    """qat.pt as export needs it. `model` is the whole checkpoint (labels, features, normaliser,
    the identity-BN state dict); the rest is its extra[] made explicit."""

    model: checkpoint.ModelRecord
    folded: dict[str, dict[str, Any]]  # float layer key -> int8-grid weight, int32-grid bias
    act_ranges: dict[str, dict[str, float]]  # activation quantizer -> min, max, scale, zero_point
    layers: list[dict[str, Any]]  # weight layers / ADD / MEAN with their output quantizer
    calibration: np.ndarray  # indices of the calibration frames in x_train
    test_logits: np.ndarray  # the QAT int8 simulation's logits on x_test
    selected: str  # "qat" (fine-tuned) or "ptq" (calibration only)
    accuracy: dict[str, Any] | None  # quantize's float / PTQ / QAT accuracies


def load_qat(path: Path, frames: Frames | None = None) -> QatRecord:
    """qat.pt ("edgekit-qat/1"); with `frames`, also checks it was made from those frames."""
    from . import checkpoint

    rec = checkpoint.load(path, checkpoint.QAT_FORMAT)
    for k in QAT_FIELDS:
        if k not in rec.extra:
            raise EdgekitError(f"{path}: field extra[{k!r}] missing; re-run `edgekit quantize`")
    cal = rec.extra["calibration"]
    if not isinstance(cal, dict) or "indices" not in cal:
        raise EdgekitError(
            f"{path}: field extra['calibration']['indices'] missing; re-run `edgekit quantize`"
        )
    idx = np.asarray(cal["indices"], dtype=np.int64)
    logits = np.asarray(rec.extra["test_logits"], dtype=np.float32)
    if logits.ndim != 2 or logits.shape[1] != rec.num_classes:
        raise EdgekitError(
            f"{path}: field extra['test_logits'] has shape {logits.shape}, expected "
            f"(N, {rec.num_classes}); re-run `edgekit quantize`"
        )
    if frames is not None:
        if len(idx) == 0 or idx.max() >= len(frames.x_train):
            raise EdgekitError(
                f"{path}: calibration indices do not fit {frames.path} "
                f"({len(frames.x_train)} training frames); re-run `edgekit quantize`"
            )
        if len(logits) != len(frames.x_test):
            raise EdgekitError(
                f"{path}: field extra['test_logits'] has {len(logits)} rows, "
                f"{frames.path} has {len(frames.x_test)} test frames; re-run "
                f"`edgekit quantize`"
            )
    return QatRecord(
        rec,
        rec.extra["folded"],
        rec.extra["act_ranges"],
        rec.extra["layers"],
        idx,
        logits,
        rec.extra.get("selected", "qat"),
        rec.extra.get("accuracy"),
    )


# ------------------------------------------------------------------------------ export.json


@dataclass
class ExportReport:
    """export.json: the int8 model's interface and memory figures (`raw`: the whole report)."""

    path: Path
    board: str
    model_hash: str
    model_bytes: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    ek_arena_size: int  # EK_ARENA_SIZE of the runtime the export was sized for
    tflm_need_host: int | None  # TFLM's arena need on the host (None: not recorded)
    raw: dict[str, Any]


def load_export(path: Path) -> ExportReport:
    path = Path(path)
    if not path.exists():
        raise EdgekitError(f"{path}: export report not found; run `edgekit export` first")
    d = runs.read_json(path)

    def field(dotted: str, kind: type, optional: bool = False) -> Any:
        v: Any = d
        for part in dotted.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if v is None and optional:
            return None
        try:
            if v is None or isinstance(v, (dict, list)):
                raise TypeError
            return kind(v)
        except (TypeError, ValueError):
            raise EdgekitError(
                f"{path}: field '{dotted}' is {v!r}, expected a {kind.__name__}; "
                "re-run `edgekit export`"
            ) from None

    return ExportReport(
        path,
        field("board", str),
        field("model_hash", str),
        field("model_bytes", int),
        field("input.scale", float),
        field("input.zero_point", int),
        field("output.scale", float),
        field("output.zero_point", int),
        field("arena.ek_arena_size", int),
        field("arena.tflm_need_host", int, optional=True),
        d,
    )
