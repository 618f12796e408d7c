"""Plain tables (`--format table`): a folder of .csv / .tsv / .npy files, one row per sample and
one column per channel, described by the recording.toml in the folder (rig.py).

Files. CSV is comma-separated, TSV tab-separated; a first row with any non-numeric cell (outside
the label column) is a header: its names label the channels in reports and may name the label
column. NPY holds a 2-D numeric array, samples x columns (no header). Every EMG cell must be a
finite number: an empty, non-numeric or NaN cell stops the load with the file, line and column.

Which columns: `emg_columns = [first, last]` (1-based, inclusive) when other columns are present,
else every column but the label column; they must number the grid's channels. Values are scaled
from `unit` to microvolts (counts: times `adc_lsb`).

Labels, one of:
  - the file names SSS-GGG-RRR.csv (subject, gesture, repetition; session<M> folders) or a
    manifest.csv / manifest.toml (file, subject, session, gesture, repetition): each file is one
    trial of one gesture (manifest.py);
  - `label_column` in recording.toml: each file is one continuous recording (a session: manifest
    rows without gesture, subject<N>/session<M> folders, or the files' order), each run of equal
    labels one trial.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..errors import EdgekitError
from .formats import register_format
from .manifest import Entry, find_entries
from .recording import Recording
from .rig import FileData, Rig, build_recording, check_channels, read_rig, segments_of

EXTENSIONS = (".csv", ".tsv", ".npy")


@register_format("table")
def load_table(root: Path) -> Recording:
    rig = read_rig(root, "table")
    base = Path(root)
    if base.name == rig.path.name:
        base = base.parent
    inside = rig.label_column is not None
    entries = find_entries(base, EXTENSIONS, "table (.csv/.tsv/.npy)", gesture_optional=inside)
    if inside and any(e.gesture is not None for e in entries):
        raise EdgekitError(
            f"{rig.path}: field 'label_column' is set, so labels come from that column, but the "
            "manifest gives each file a gesture; drop one of the two"
        )
    return build_recording(base, "table", rig, entries, lambda e: read_table(e, rig))


def read_table(e: Entry, rig: Rig) -> FileData:
    """One table file -> its EMG in microvolts (+ its labelled segments in label-column mode)."""
    path = e.path
    if path.suffix.lower() == ".npy":
        return _from_cells(_Npy(path), rig)
    return _from_cells(_Text(path), rig)


class _Npy:
    """A .npy table: no header; columns are read from the loaded array."""

    def __init__(self, path: Path):
        self.path, self.header = path, None
        try:
            a = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise EdgekitError(f"{path}: not a readable .npy array ({e})") from None
        if a.ndim != 2 or a.dtype.kind not in "iuf":
            raise EdgekitError(
                f"{path}: a {a.dtype} array of shape {a.shape}; expected a 2-D numeric array, "
                "samples x columns"
            )
        self.a, self.n_cols = a, a.shape[1]

    def first_row(self) -> list[str] | None:
        return None

    def numbers(self, cols: list[int]) -> np.ndarray:
        cells = self.a[:, cols].astype(np.float64)
        _check_finite(cells, cols, None, 0, self.path)
        return cells

    def texts(self, col: int) -> np.ndarray:
        return self.a[:, col].astype(str)


class _Text:
    """A .csv / .tsv table; its first row may be a header (_from_cells decides)."""

    def __init__(self, path: Path):
        self.path, self.header = path, None
        self.delim = "\t" if path.suffix.lower() == ".tsv" else ","
        try:
            self.text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as e:
            raise EdgekitError(f"{path}: not a UTF-8 text table ({e})") from None
        first = next(csv.reader(io.StringIO(self.text), delimiter=self.delim), None)
        if not first:
            raise EdgekitError(f"{path}: empty file; expected one row per sample")
        self.first, self.n_cols = [c.strip() for c in first], len(first)

    def first_row(self) -> list[str] | None:
        return self.first

    def _load(self, cols: list[int], dtype) -> np.ndarray:
        return np.loadtxt(
            io.StringIO(self.text),
            delimiter=self.delim,
            skiprows=1 if self.header else 0,
            usecols=cols,
            ndmin=2,
            dtype=dtype,
            comments=None,
        )

    def ragged_row(self) -> EdgekitError | None:
        """A row of another width than the first (loadtxt reads chosen columns and would not
        notice a row with one cell too many)."""
        for line, row in enumerate(self.text.splitlines(), start=1):
            if not row.strip():
                continue
            n = len(next(csv.reader([row], delimiter=self.delim))) if '"' in row else None
            n = n if n is not None else row.count(self.delim) + 1
            if n != self.n_cols:
                return EdgekitError(
                    f"{self.path}: line {line} has {n} cells; expected {self.n_cols} like line 1"
                )
        return None

    def numbers(self, cols: list[int]) -> np.ndarray:
        bad = self.ragged_row()
        if bad is not None:
            raise bad
        try:
            cells = self._load(cols, np.float64)
        except ValueError:
            raise _bad_cell(self, cols) from None
        _check_finite(cells, cols, self.header, 1 if self.header else 0, self.path)
        return cells

    def texts(self, col: int) -> np.ndarray:
        return self._load([col], str)[:, 0]


def _from_cells(t: _Npy | _Text, rig: Rig) -> FileData:
    """The EMG columns (scaled to microvolts) and, with a label column, the labelled runs."""
    path, first = t.path, t.first_row()
    label = None
    if rig.label_column is not None:
        named = isinstance(rig.label_column, str)
        label = _label_index(rig, first if named else None, t.n_cols, path)
    emg = _emg_columns(rig, t.n_cols, label, path)
    if first is not None and any(not _is_number(first[c]) for c in emg):
        t.header = first  # the first row names the columns
    elif isinstance(rig.label_column, str):
        t.header = first  # the label column's name was found in it
    check_channels(
        rig,
        len(emg),
        path,
        f"EMG columns (of {t.n_cols})",
        "set 'emg_columns' = [first, last] to the columns holding EMG, or fix 'grid'",
    )
    cells = t.numbers(emg)
    if len(cells) == 0:
        raise EdgekitError(f"{path}: no samples (no data rows)")
    sig = np.ascontiguousarray((cells.T * rig.to_microvolt).astype(np.float32))
    names = [t.header[c] for c in emg] if t.header else [f"column {c + 1}" for c in emg]
    segments = None
    if label is not None:
        segments = _label_segments(t.texts(label), rig, path, t.header is not None)
    return FileData(sig, rig.fs, names, segments)  # type: ignore[arg-type]


def _emg_columns(rig: Rig, n_cols: int, label: int | None, path: Path) -> list[int]:
    """0-based file columns holding EMG: emg_columns, else every column but the label's."""
    if rig.emg_columns is None:
        return [c for c in range(n_cols) if c != label]
    first, last = rig.emg_columns
    if last > n_cols:
        raise EdgekitError(
            f"{path}: has {n_cols} columns but {rig.path} field 'emg_columns' = "
            f"[{first}, {last}] reaches column {last}"
        )
    if label is not None and first - 1 <= label <= last - 1:
        raise EdgekitError(
            f"{rig.path}: field 'emg_columns' = [{first}, {last}] includes the label column "
            f"({label + 1}) of {path}"
        )
    return list(range(first - 1, last))


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _bad_cell(t: _Text, cols: list[int]) -> EdgekitError:
    """The error for the first short/long row or the first non-numeric cell of `cols`."""
    rows = csv.reader(io.StringIO(t.text), delimiter=t.delim)
    for line, row in enumerate(rows, start=1):
        if line == 1 and t.header:
            continue
        if len(row) != t.n_cols:
            return EdgekitError(
                f"{t.path}: line {line} has {len(row)} cells; expected {t.n_cols} like line 1"
            )
        for c in cols:
            if not _is_number(row[c]):
                return EdgekitError(
                    f"{t.path}: line {line}, column {c + 1}{_name(t.header, c)}: {row[c]!r} is "
                    "not a number; expected numeric samples in every EMG column"
                )
    return EdgekitError(f"{t.path}: not readable as a table of numbers")


def _name(header: list[str] | None, c: int) -> str:
    return f" ({header[c]!r})" if header and c < len(header) else ""


def _check_finite(
    cells: np.ndarray, cols: list[int], header: list[str] | None, skip: int, path: Path
) -> None:
    bad = np.argwhere(~np.isfinite(cells))
    if len(bad):
        r, c = (int(v) for v in bad[0])
        where = f"row {r + 1}" if path.suffix.lower() == ".npy" else f"line {r + 1 + skip}"
        raise EdgekitError(
            f"{path}: {len(bad)} NaN/Inf cell(s), the first at {where}, column "
            f"{cols[c] + 1}{_name(header, cols[c])}; expected finite numbers"
        )


def _label_index(rig: Rig, header: list[str] | None, n_cols: int, path: Path) -> int:
    """0-based index of the label column in a file of n_cols columns."""
    col = rig.label_column
    if isinstance(col, int):
        if col > n_cols:
            raise EdgekitError(
                f"{rig.path}: field 'label_column' = {col} but {path} has {n_cols} columns"
            )
        return col - 1
    if header is None or col not in header:
        have = f"first row {header}" if header else "no header row"
        raise EdgekitError(
            f"{rig.path}: field 'label_column' = {col!r} but {path} has {have}; name a header "
            "column or give its 1-based number"
        )
    return header.index(col)  # type: ignore[arg-type]


def _label_segments(
    labels: np.ndarray, rig: Rig, path: Path, has_header: bool
) -> list[tuple[int, int, int]]:
    """Per-sample labels -> (start, stop, gesture) runs; each distinct value mapped once."""
    values, first, inverse = np.unique(
        np.char.strip(labels.astype(str)), return_index=True, return_inverse=True
    )
    numbers = []
    for v, r in zip(values, first, strict=True):
        where = f"{path}: line {int(r) + 1 + has_header}, label column"
        numbers.append(rig.gesture_of(str(v), where))
    return segments_of(np.asarray(numbers, np.int64)[inverse.reshape(-1)])
