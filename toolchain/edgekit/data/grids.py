"""Electrode grids: where each recorded channel sits on the model's input image.

A Grid is a property of the data (its format and electrodes), carried through every stage as a
plain dict (frames, checkpoint, export report, model_meta.h). Nothing downstream assumes 192
channels or 8 x 24.

  rows, cols   the image size
  pixels       rows * cols entries, row-major: the 0-based channel shown at that pixel, or -1
               where there is no electrode (e.g. the empty corner of a 13 x 5 grid); such a
               pixel is always 0 in the image
  n_channels   how many channels a trial of this layout has (every channel appears on exactly
               one pixel)
  masked       channels that exist but carry no signal (CSL's bipolar gap channels): their pixel
               is zeroed after normalisation and the LDA baseline leaves them out
  blocks       the physical grids that make up the image, as (row0, col0, rows, cols) each: a
               loose contact peels the last rows of each block
  name         a short label for reports ("csl-8x24", "otb-GR08MM1305", ...)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import EdgekitError


@dataclass(frozen=True)
class Grid:
    rows: int
    cols: int
    pixels: tuple[int, ...]
    n_channels: int
    masked: tuple[int, ...] = ()
    blocks: tuple[tuple[int, int, int, int], ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        what = f"grid {self.name or '?'}"
        if self.rows < 1 or self.cols < 1:
            raise EdgekitError(f"{what}: rows and cols must be >= 1, got {self.rows} x {self.cols}")
        if len(self.pixels) != self.rows * self.cols:
            raise EdgekitError(
                f"{what}: pixels has {len(self.pixels)} entries, expected "
                f"rows * cols = {self.rows * self.cols}"
            )
        used = sorted(p for p in self.pixels if p >= 0)
        if used != list(range(self.n_channels)):
            raise EdgekitError(
                f"{what}: pixels must show each of channels 0..{self.n_channels - 1} "
                "exactly once (-1 for a pixel without an electrode)"
            )
        bad = [c for c in self.masked if not 0 <= c < self.n_channels]
        if bad:
            raise EdgekitError(f"{what}: masked channels {bad} outside 0..{self.n_channels - 1}")
        for b in self.blocks:
            r0, c0, h, w = b
            if h < 1 or w < 1 or r0 < 0 or c0 < 0 or r0 + h > self.rows or c0 + w > self.cols:
                raise EdgekitError(
                    f"{what}: block {b} does not lie inside {self.rows} x {self.cols}"
                )

    # ---- views -------------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)

    def index(self) -> np.ndarray:
        """(rows, cols) int64: the channel at each pixel, -1 where there is no electrode."""
        return np.asarray(self.pixels, dtype=np.int64).reshape(self.rows, self.cols)

    def channel_mask(self) -> np.ndarray:
        """(n_channels,) bool, True where the channel carries signal."""
        m = np.ones(self.n_channels, dtype=bool)
        m[list(self.masked)] = False
        return m

    def positions(self) -> np.ndarray:
        """(n_channels, 2) float: (row, column) of each channel on the image."""
        gi = self.index()
        pos = np.zeros((self.n_channels, 2))
        r, c = np.nonzero(gi >= 0)
        pos[gi[r, c], 0] = r
        pos[gi[r, c], 1] = c
        return pos

    def block_of(self) -> np.ndarray:
        """(n_channels,) int: the block each channel lies in (0 when there are no blocks)."""
        out = np.zeros(self.n_channels, dtype=np.int64)
        pos = self.positions()
        for k, (r0, c0, h, w) in enumerate(self.blocks):
            inside = (
                (pos[:, 0] >= r0) & (pos[:, 0] < r0 + h) & (pos[:, 1] >= c0) & (pos[:, 1] < c0 + w)
            )
            out[inside] = k
        return out

    def to_images(self, values: np.ndarray) -> np.ndarray:
        """(N, n_channels) per-channel values -> (N, 1, rows, cols) float32; no-electrode pixels 0."""
        values = np.asarray(values)
        if values.ndim != 2 or values.shape[1] != self.n_channels:
            raise EdgekitError(
                f"grid {self.name}: expected (N, {self.n_channels}) values, got {values.shape}"
            )
        gi = self.index()
        padded = np.concatenate([values, np.zeros((values.shape[0], 1), values.dtype)], axis=1)
        return padded[:, gi].astype(np.float32)[:, None, :, :]  # -1 picks the zero column

    # ---- (de)serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows": self.rows,
            "cols": self.cols,
            "n_channels": self.n_channels,
            "pixels": list(self.pixels),
            "masked": list(self.masked),
            "blocks": [list(b) for b in self.blocks],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "grid") -> Grid:
        need = ("rows", "cols", "n_channels", "pixels")
        if not isinstance(d, dict) or any(k not in d for k in need):
            raise EdgekitError(
                f"{where}: expected a grid record with fields {list(need)}, got "
                f"{sorted(d) if isinstance(d, dict) else type(d).__name__}"
            )
        return cls(
            rows=int(d["rows"]),
            cols=int(d["cols"]),
            pixels=tuple(int(p) for p in d["pixels"]),
            n_channels=int(d["n_channels"]),
            masked=tuple(int(c) for c in d.get("masked", ())),
            blocks=tuple(tuple(int(v) for v in b) for b in d.get("blocks", ())),
            name=str(d.get("name", "")),
        )


# ---- constructors ------------------------------------------------------------------------------


def column_major(
    rows: int, cols: int, *, empty: Sequence[tuple[int, int]] = (), name: str = ""
) -> Grid:
    """One grid whose channels run down each column, then to the next column; pixels listed in
    `empty` (row, col) have no electrode and take no channel number."""
    holes = set(empty)
    pixels = [-1] * (rows * cols)
    ch = 0
    for c in range(cols):
        for r in range(rows):
            if (r, c) not in holes:
                pixels[r * cols + c] = ch
                ch += 1
    return Grid(rows, cols, tuple(pixels), ch, blocks=((0, 0, rows, cols),), name=name)


def side_by_side(grids: Sequence[Grid], name: str = "") -> Grid:
    """Grids of equal height placed left to right; channels numbered grid after grid."""
    if not grids:
        raise EdgekitError("grids: side_by_side needs at least one grid")
    rows = grids[0].rows
    if any(g.rows != rows for g in grids):
        raise EdgekitError(
            f"grids: cannot place grids of {[g.rows for g in grids]} rows side by "
            "side; they need the same number of rows"
        )
    cols = sum(g.cols for g in grids)
    pixels = np.full((rows, cols), -1, dtype=np.int64)
    masked: list[int] = []
    blocks: list[tuple[int, int, int, int]] = []
    c0 = ch0 = 0
    for g in grids:
        gi = g.index()
        pixels[:, c0 : c0 + g.cols] = np.where(gi >= 0, gi + ch0, -1)
        masked += [m + ch0 for m in g.masked]
        blocks += [(r, c + c0, h, w) for (r, c, h, w) in (g.blocks or ((0, 0, g.rows, g.cols),))]
        c0 += g.cols
        ch0 += g.n_channels
    return Grid(
        rows,
        cols,
        tuple(int(p) for p in pixels.ravel()),
        ch0,
        tuple(masked),
        tuple(blocks),
        name or "+".join(g.name for g in grids),
    )


def csl() -> Grid:
    """CSL-HDEMG: 24 columns of 8 bipolar channels, channel ch at row ch % 8, column ch // 8;
    every 8th channel (row 7) is the difference across the gap between columns and is masked.
    Three 8 x 8 blocks, as the array is three 8 x 8 electrode grids side by side."""
    g = column_major(8, 24)
    return Grid(
        8,
        24,
        g.pixels,
        192,
        tuple(range(7, 192, 8)),
        ((0, 0, 8, 8), (0, 8, 8, 8), (0, 16, 8, 8)),
        "csl-8x24",
    )


def otb_3x8x8() -> Grid:
    """The OT Bioelettronica layout edgekit has read so far: three 8 x 8 grids exported one after
    the other, each column-major; all channels carry signal."""
    one = column_major(8, 8, name="8x8")
    return side_by_side([one, one, one], name="otb-3x8x8")


# ---- the geometry of a layout name, and of a run's records ---------------------------------------

LEGACY_LAYOUTS = {"csl": csl, "otb": otb_3x8x8}


def for_layout(layout: str, where: str = "layout") -> Grid:
    """The fixed 8 x 24 geometry that a bare layout name meant before grids were recorded:
    "csl" -> csl(), "otb" -> otb_3x8x8(). Old checkpoints and frames carry only this name."""
    make = LEGACY_LAYOUTS.get(layout)
    if make is None:
        raise EdgekitError(
            f"{where}: unknown layout {layout!r} and no grid recorded; known "
            f"layouts: {', '.join(LEGACY_LAYOUTS)}"
        )
    return make()


def resolve(grid: Grid | dict[str, Any] | str, where: str = "grid") -> Grid:
    """A Grid from a Grid, its to_dict() record, or a legacy layout name."""
    if isinstance(grid, Grid):
        return grid
    if isinstance(grid, str):
        return for_layout(grid, where)
    return Grid.from_dict(grid, where)
