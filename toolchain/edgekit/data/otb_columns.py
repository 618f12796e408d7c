"""Columns of an OT Bioelettronica recording -> EMG channels and their electrode grid: the part
shared by the .mat-export reader (otb.py, columns from 'Description') and the native-file reader
(otb_native.py, columns from MNE's channel names), so neither imports the other's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EdgekitError
from .electrodes import ELECTRODES, grid_for
from .grids import Grid, side_by_side


@dataclass
class Column:
    index: int
    description: str
    kind: str  # "emg" | "dropped" | "unknown-code" | "unclassified"
    why: str = ""
    code: str = ""
    k: int = 0
    head: str = ""
    scale: float = 1.0


@dataclass
class OtbFile:
    signal: np.ndarray  # (n_channels, n_samples) float32 microvolts
    fs: float
    grid: Grid
    columns: dict[str, Any] = field(default_factory=dict)  # {"kept": [...], "dropped": [...]}


def column_report(cols: list[Column], kept: list[Column]) -> dict[str, Any]:
    keep = {c.index for c in kept}
    return {
        "kept": [c.description for c in kept],
        "dropped": [
            {
                "index": c.index,
                "description": c.description,
                "why": c.why or "no electrode code, not among the legacy EMG columns",
            }
            for c in cols
            if c.index not in keep
        ],
    }


def grid_from_columns(
    cols: list[Column], path: Path, field_name: str = "Description"
) -> tuple[list[Column], Grid]:
    """EMG columns in channel order (grid after grid, channel k of each) and their Grid."""
    groups: dict[tuple[str, str], list[Column]] = {}
    for c in cols:
        if c.kind == "emg":
            groups.setdefault((c.head, c.code), []).append(c)
    ordered: list[Column] = []
    grids = []
    for (head, code), members in groups.items():
        n = ELECTRODES[code].n_channels
        ks = sorted(c.k for c in members)
        if ks != list(range(1, n + 1)):
            missing = sorted(set(range(1, n + 1)) - set(ks))
            extra = sorted(k for k in set(ks) if not 1 <= k <= n or ks.count(k) > 1)
            raise EdgekitError(
                f"{path}: field {field_name!r}: grid '{head} - {code}' has {len(members)} EMG "
                f"columns; expected channels 1..{n} once each (missing {missing[:8]}, "
                f"out of range or repeated {extra[:8]})"
            )
        ordered += sorted(members, key=lambda c: c.k)
        grids.append(grid_for(code))
    if len({g.rows for g in grids}) > 1:
        shapes = ", ".join(f"{g.name} {g.rows}x{g.cols}" for g in grids)
        raise EdgekitError(
            f"{path}: field {field_name!r}: grids {shapes} have different numbers of "
            "rows and cannot share one image; expected grids of one height per file "
            "(export them to separate datasets)"
        )
    grid = grids[0] if len(grids) == 1 else side_by_side(grids, "+".join(g.name for g in grids))
    return ordered, grid
