"""In-memory records of an HD-sEMG dataset.

The channel -> image geometry of a recording is its `grid` (grids.Grid), set by the loader from the
data (electrode codes, the format). A Recording made with only a legacy `layout` name gets that
name's fixed 8 x 24 geometry (grids.for_layout): "csl" (24 bipolar columns of 8, channel ch at
row ch % 8, column ch // 8) or "otb" (three 8x8 grids side by side, each column-major).
N_CHANNELS / GRID_ROWS / GRID_COLS are those legacy layouts' sizes, not a limit of edgekit.
The loaders that make Recordings register in formats.py; this module imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .grids import Grid, for_layout, resolve

N_CHANNELS = 192
GRID_ROWS = 8
GRID_COLS = 24
LAYOUTS = ("csl", "otb")


@dataclass
class Trial:
    signal: np.ndarray  # float32 (grid.n_channels, n_samples)
    label: int  # contiguous class id (index into Recording.label_names)
    subject: int
    session: int
    trial: int  # index within its gesture + session (+ subject)
    source: str  # the file it came from


@dataclass
class Recording:
    trials: list[Trial]
    fs: float
    label_names: list[str]
    layout: str  # the format's name ("csl", "otb", ...)
    source: str
    extra: dict = field(default_factory=dict)  # provenance added by later steps (e.g. disturb)
    grid: Grid = None  # type: ignore[assignment]  # None: the fixed geometry of `layout`

    def __post_init__(self) -> None:
        if self.grid is None:
            self.grid = for_layout(self.layout)


def numbered_trials(rows: list[tuple]) -> tuple[list[int], list[Trial]]:
    """Loader rows (subject, session, gesture, order, source, signal) -> (the gestures in class
    order, the trials): gestures numbered as contiguous classes, and each (subject, session,
    gesture)'s trials numbered 0, 1, ... in (order, source) order, whatever the files call them."""
    gestures = sorted({r[2] for r in rows})
    class_of = {g: i for i, g in enumerate(gestures)}
    trials: list[Trial] = []
    counter: dict[tuple[int, int, int], int] = {}
    for subject, session, gesture, _order, src, sig in sorted(rows, key=lambda r: r[:5]):
        idx = counter.get((subject, session, gesture), 0)
        counter[(subject, session, gesture)] = idx + 1
        trials.append(
            Trial(
                signal=sig,
                label=class_of[gesture],
                subject=subject,
                session=session,
                trial=idx,
                source=src,
            )
        )
    return gestures, trials


def grid_index(grid: Grid | dict | str) -> np.ndarray:
    """(rows, cols) int array: the 0-based channel index shown at each image pixel (-1: none)."""
    return resolve(grid).index()


def channel_mask(grid: Grid | dict | str) -> np.ndarray:
    """(n_channels,) bool, True where the channel carries signal.

    csl: every 8th channel (1-based 8, 16, ..., 192) is the bipolar difference across the gap
    between two electrode columns and is masked out (its pixel stays, zeroed after normalisation).
    """
    return resolve(grid).channel_mask()
