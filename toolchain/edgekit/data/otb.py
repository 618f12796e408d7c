"""OT Bioelettronica recordings: OTBiolab+ .mat exports and native .otb+ / .otb4 files.

Files. Each recording is one file named SSS-GGG-RRR.mat (or .otb+ / .otb4): subject, gesture,
repetition, anywhere under the root (a parent folder named session<M> sets the session, else 1).
Other names: put a manifest next to the files, `manifest.csv` (header
file,subject,session,gesture,repetition; session and repetition optional) or `manifest.toml`
([[recording]] tables with the same keys), or point --data at the manifest itself (see
manifest.py); paths in it are relative to the manifest.

A .mat export holds
  Data               samples x columns, a plain matrix or wrapped in a 1 x 1 cell
  Time               samples x 1 (optional), plain or wrapped
  Description        one text per column: a cell column or a char matrix
  SamplingFrequency  scalar, Hz
An EMG column's description reads `<muscle> - <input> (Channel a->b) - <code> (<k>)[<unit>]`:
the electrode code (electrodes.py) and the 1-based channel k within that grid, in uV or mV
(scaled to microvolts here). Columns are chosen in this order:
  1. decomposition outputs and sources (`Decomposition of ...`, `Source for decomposition of ...`)
     are dropped, whatever they name;
  2. a column naming a known electrode code with a uV / mV unit is EMG; naming a known code with
     another unit (e.g. [a.u]) it is dropped; an unknown code with a uV / mV unit is an error;
  3. the rest is dropped as a reference signal (`acquired data[ %(MVC)]`) or an auxiliary input
     (acceleration, force, load cell, ramp, buffer, trigger, quaternion ...), judged on the text
     without the input name (`AUX 3 (Channel 1->1)`), since OTBiolab+ names amplifier inputs
     "AUX ..." even when an electrode grid is plugged into them.
Only if no column names an electrode code (older exports) are the columns the heuristics of step
3 do not drop taken as EMG, and then exactly 192 must remain: three 8x8 grids in the legacy
column-major layout (grids.otb_3x8x8).

Geometry: grids appear in file order (grouped by input and code) and are placed side by side
(grids.side_by_side; grids of different heights cannot be); within a grid, column k goes to the
pixel of electrode k (electrodes.grid_for). Every file of a dataset must give the same grid and
sampling frequency. Recording.extra["columns"] lists the first file's kept and dropped columns
with the reason, so a run can report them.

Gesture numbers map to contiguous class ids in ascending order ("idle" for gesture 0, else
"gest<G>"); a file's trial index is its rank among the repetitions of its subject/session/gesture.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EdgekitError
from ._matio import as_signal, read_mat, scalar, text_cells, unwrap_cell
from .electrodes import ELECTRODES, known_codes
from .formats import register_format
from .grids import Grid, otb_3x8x8
from .manifest import Entry, find_entries
from .otb_columns import Column, OtbFile, column_report, grid_from_columns
from .otb_native import read_native
from .recording import Recording, Trial

EXTENSIONS = (".mat", ".otb+", ".otb4")
NATIVE = (".otb+", ".otb4")
LEGACY_CHANNELS = 192
REQUIRED = ("Data", "Description", "SamplingFrequency")

# '<head> - <code> (<k>)[<unit>]'; the head is '<muscle> - <input> (Channel a->b)'
EMG_RE = re.compile(
    r"^(?P<head>.*\S)\s+-\s+(?P<code>[A-Za-z0-9]+)\s*\((?P<k>\d+)\)\s*"
    r"\[(?P<unit>[^\]]*)\]\s*$"
)
INPUT_END_RE = re.compile(r"\(\s*Channel\s*\d+\s*->\s*\d+\s*\)", re.IGNORECASE)
DECOMP_RE = re.compile(r"decomposition\s+of", re.IGNORECASE)
REFERENCE_RE = re.compile(r"acquired\s+data|%\s*\(\s*mvc\s*\)", re.IGNORECASE)
AUX_RE = re.compile(
    r"aux|acceleration|accelerometer|ramp|buffer|quaternion|load\s*cell|"
    r"force|torque|trigger|sync",
    re.IGNORECASE,
)
TO_MICROVOLT = {"uv": 1.0, "µv": 1.0, "μv": 1.0, "mv": 1000.0}


def label_name(gesture: int) -> str:
    return "idle" if gesture == 0 else f"gest{gesture}"


def without_input_name(desc: str) -> str:
    """`desc` minus its input name ('AUX 3 (Channel 1->1)' in 'Biceps - AUX 3 (Channel 1->1) -
    ...'): OTBiolab+ names amplifier inputs "AUX ..." even when they carry EMG."""
    end = INPUT_END_RE.search(desc)
    if not end:
        return desc
    start = desc.rfind(" - ", 0, end.start())
    start = 0 if start < 0 else start + 3
    return desc[:start] + desc[end.end() :]


def classify(index: int, desc: str) -> Column:
    """What one Description entry is (see the module docstring for the rules and their order)."""
    col = Column(index, desc, "unclassified")
    if DECOMP_RE.search(desc):
        col.kind, col.why = "dropped", "decomposition output or source, not EMG"
        return col
    m = EMG_RE.match(desc)
    if m and m["code"].upper() in ELECTRODES:
        unit = m["unit"].strip()
        scale = TO_MICROVOLT.get(unit.lower())
        if scale is None:
            col.kind, col.why = (
                "dropped",
                f"electrode {m['code'].upper()} but unit [{unit}] is not uV or mV",
            )
            return col
        col.kind, col.code, col.k, col.head, col.scale = (
            "emg",
            m["code"].upper(),
            int(m["k"]),
            m["head"],
            scale,
        )
        return col
    if m and m["unit"].strip().lower() in TO_MICROVOLT:
        col.kind, col.code = "unknown-code", m["code"]
        return col
    if REFERENCE_RE.search(desc):
        col.kind, col.why = "dropped", "reference signal (e.g. %MVC target), not EMG"
        return col
    hit = AUX_RE.search(without_input_name(desc))
    if hit:
        col.kind, col.why = "dropped", f"auxiliary input ({hit.group(0)!r} outside the input name)"
    elif m:
        col.kind, col.why = "dropped", f"unit [{m['unit'].strip()}] is not uV or mV"
    return col


def select_columns(desc: list[str], path: Path) -> tuple[list[Column], Grid, dict[str, Any]]:
    """The EMG columns of one export, their grid and the kept/dropped report."""
    cols = [classify(i, d) for i, d in enumerate(desc)]
    unknown = [c for c in cols if c.kind == "unknown-code"]
    if unknown:
        c = unknown[0]
        raise EdgekitError(
            f"{path}: field 'Description' column {c.index + 1} ({c.description!r}): unknown "
            f"OT Bioelettronica electrode code {c.code!r}; known: {', '.join(known_codes())}. To add "
            "one, append an Electrode(...) line to ELECTRODES in toolchain/edgekit/data/electrodes.py"
        )
    if any(c.kind == "emg" for c in cols):
        kept, grid = grid_from_columns(cols, path)
        return kept, grid, column_report(cols, kept)
    kept = [c for c in cols if c.kind == "unclassified"]
    if not kept:
        raise EdgekitError(
            f"{path}: field 'Description': no recognisable EMG column among {len(desc)} columns "
            f"(e.g. {desc[:3]}); expected descriptions like '<muscle> - <input> (Channel 1->64) - "
            f"GR08MM1305 (1)[uV]' naming one of {', '.join(known_codes())}"
        )
    if len(kept) != LEGACY_CHANNELS:
        aux = [c.description for c in cols if c.kind == "dropped"]
        raise EdgekitError(
            f"{path}: field 'Description': no column names a known electrode code, so the legacy "
            f"layout applies: expected {LEGACY_CHANNELS} EMG columns after dropping auxiliary "
            f"ones, found {len(kept)} of {len(desc)} columns ({len(aux)} auxiliary, e.g. {aux[:3]}). "
            "Name the electrode in each EMG column as OTBiolab+ does ('... - GR08MM1305 (k)[uV]')"
        )
    return kept, otb_3x8x8(), column_report(cols, kept)


def read_mat_export(path: Path) -> OtbFile:
    """One OTBiolab+ .mat export -> its EMG in microvolts, grid and column report."""
    mat = read_mat(path, REQUIRED)
    try:
        desc = text_cells(mat["Description"])
    except ValueError as e:
        raise EdgekitError(
            f"{path}: field 'Description': expected one text label per column ({e})"
        ) from None
    fs = scalar(mat["SamplingFrequency"], path, "SamplingFrequency")
    data = unwrap_cell(mat["Data"], path, "Data")
    if data.ndim != 2:
        raise EdgekitError(
            f"{path}: field 'Data': expected samples x columns, got shape {data.shape}"
        )
    if data.shape[1] != len(desc):
        if data.shape[0] == len(desc):
            data = data.T  # exported columns x samples
        else:
            raise EdgekitError(
                f"{path}: field 'Data' has shape {data.shape} but 'Description' has "
                f"{len(desc)} labels; expected one label per column"
            )
    if "Time" in mat:
        t = unwrap_cell(mat["Time"], path, "Time")
        if t.size != data.shape[0]:
            raise EdgekitError(
                f"{path}: field 'Time' has {t.size} values; expected one per sample "
                f"of 'Data' ({data.shape[0]})"
            )
    kept, grid, report = select_columns(desc, path)
    idx = [c.index for c in kept]
    sig = as_signal(data[:, idx].T, path, "Data (EMG columns)", grid.n_channels)
    scale = np.asarray([c.scale for c in kept], dtype=np.float32)[:, None]
    if (scale != 1).any():
        sig = sig * scale
    return OtbFile(sig, fs, grid, report)


def read_file(path: Path) -> OtbFile:
    if path.suffix.lower() in NATIVE:
        return read_native(path)
    return read_mat_export(path)


@register_format("otb")
def load_otb(root: Path) -> Recording:
    entries: list[Entry] = find_entries(Path(root), EXTENSIONS, "OT Bioelettronica")
    gestures = sorted({e.gesture for e in entries})
    class_of = {g: i for i, g in enumerate(gestures)}
    trials: list[Trial] = []
    first: tuple[Path, OtbFile] | None = None
    counter: dict[tuple[int, int, int], int] = {}
    for e in sorted(
        entries, key=lambda e: (e.subject, e.session, e.gesture, e.repetition, str(e.path))
    ):
        f = read_file(e.path)
        if first is None:
            first = (e.path, f)
        else:
            p0, f0 = first
            if f.fs != f0.fs:
                raise EdgekitError(
                    f"{e.path}: field 'SamplingFrequency' is {f.fs:g} Hz but {p0} has "
                    f"{f0.fs:g} Hz; expected one sampling frequency for the whole dataset"
                )
            if f.grid != f0.grid:
                raise EdgekitError(
                    f"{e.path}: field 'Description': electrode grid {f.grid.name} "
                    f"({f.grid.n_channels} channels, {f.grid.rows}x{f.grid.cols}) but "
                    f"{p0} has {f0.grid.name} ({f0.grid.n_channels} channels, "
                    f"{f0.grid.rows}x{f0.grid.cols}); expected one grid for the whole "
                    "dataset"
                )
        k = (e.subject, e.session, e.gesture)
        idx = counter.get(k, 0)
        counter[k] = idx + 1
        trials.append(
            Trial(
                signal=f.signal,
                label=class_of[e.gesture],
                subject=e.subject,
                session=e.session,
                trial=idx,
                source=str(e.path),
            )
        )
    assert first is not None
    p0, f0 = first
    extra = {"columns": {"file": str(p0), "files": len(entries), **f0.columns}}
    return Recording(
        trials=trials,
        fs=f0.fs,
        label_names=[label_name(g) for g in gestures],
        layout="otb",
        source=str(root),
        extra=extra,
        grid=f0.grid,
    )
