"""In-memory records of an HD-sEMG dataset and the channel -> image geometry.

Both supported layouts put the 192 channels on an 8 x 24 image (rows along the forearm,
columns around it) with the same rule, channel index ch (0-based) -> row ch % 8, column ch // 8:
  csl: 24 bipolar columns of 8 electrodes each (see csl.py); row 0 proximal .. 7 distal.
  otb: three 8x8 grids side by side, grid g in columns 8g..8g+7, channel k of a grid (column-major
       export order) at row k % 8, column k // 8 (see otb.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EdgekitError
from .grids import Grid, csl, otb_3x8x8

N_CHANNELS = 192
GRID_ROWS = 8
GRID_COLS = 24
LAYOUTS = ("csl", "otb")
FORMATS = ("csl", "otb", "capgmyo", "hyser")


@dataclass
class Trial:
    signal: np.ndarray        # float32 (192, n_samples)
    label: int                # contiguous class id (index into Recording.label_names)
    subject: int
    session: int
    trial: int                # index within its gesture + session (+ subject)
    source: str               # the file it came from


@dataclass
class Recording:
    trials: list[Trial]
    fs: float
    label_names: list[str]
    layout: str               # "csl" | "otb"
    source: str
    extra: dict = field(default_factory=dict)   # provenance added by later steps (e.g. disturb)
    grid: Grid | None = None  # electrode geometry; None: the fixed 8 x 24 geometry of `layout`

    def __post_init__(self) -> None:
        if self.grid is None:
            _check_layout(self.layout)
            self.grid = csl() if self.layout == "csl" else otb_3x8x8()


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise EdgekitError(f"layout: unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")


def grid_index(layout: str) -> np.ndarray:
    """(8, 24) int array: the 0-based channel index shown at each image pixel."""
    _check_layout(layout)
    rows = np.arange(GRID_ROWS)[:, None]
    cols = np.arange(GRID_COLS)[None, :]
    # Same rule for both layouts (see module docstring): ch = 8 * column + row.
    return (cols * GRID_ROWS + rows).astype(np.int64)


def channel_mask(layout: str) -> np.ndarray:
    """(192,) bool, True where the channel carries signal.

    csl: every 8th channel (1-based 8, 16, ..., 192) is the bipolar difference across the gap
    between two electrode columns and is masked out (its pixel stays, zeroed after normalisation).
    otb: all 192 monopolar channels carry signal.
    """
    _check_layout(layout)
    mask = np.ones(N_CHANNELS, dtype=bool)
    if layout == "csl":
        mask[GRID_ROWS - 1::GRID_ROWS] = False
    return mask


def load_recording(path: Path, fmt: str) -> Recording:
    """Load a dataset root (or a single file / manifest) in the given format (one of FORMATS);
    the Recording's grid comes from the format and the files."""
    if fmt not in FORMATS:
        raise EdgekitError(f"--format: unknown data format {fmt!r}; known formats: {', '.join(FORMATS)}")
    path = Path(path)
    if not path.exists():
        raise EdgekitError(f"{path}: dataset path not found")
    if fmt == "csl":
        from .csl import load_csl
        return load_csl(path)
    if fmt == "capgmyo":
        from .capgmyo import load_capgmyo
        return load_capgmyo(path)
    if fmt == "hyser":
        from .hyser import load_hyser
        return load_hyser(path)
    from .otb import load_otb
    return load_otb(path)
