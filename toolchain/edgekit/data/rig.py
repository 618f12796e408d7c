"""Your own rig: `recording.toml`, the description of what the numbers in a table or EDF/BDF
dataset are (table.py, edf.py read the files), and the assembly of its trials.

recording.toml sits in the dataset root (--data may also point at it). Its keys:

  sampling_rate_hz  samples per second (tables: required; EDF/BDF: optional, checked against
                    every file's header)
  grid = [R, C]     the image: R rows x C columns of electrode positions (required)
  empty             [[row, col], ...] positions without an electrode (0-based; default none)
  channel_order     the pixel of each channel, [[row, col], ...] or row-major pixel numbers, in
                    channel order; default: channel i at the i-th non-empty pixel, row-major
                    (row i // C, column i % C when nothing is empty). Unlisted pixels are empty.
  masked            [channel, ...] 0-based channels that carry no signal (zeroed after
                    normalisation, left out of the LDA baseline)
  unit              "uV", "mV", "V" or "counts" (tables: required; EDF/BDF: only for channels
                    whose header gives no unit edgekit knows); samples are kept in microvolts
  adc_lsb           with unit = "counts": microvolts per count (e.g. 0.195 for an Intan RHD);
                    the device's feature chain then takes the counts as they are
  emg_columns       tables: [first, last], the 1-based, inclusive column range holding EMG when
                    other columns are present (default: every column but the label column)
  label_column      tables: the column holding each sample's gesture (header name, or 1-based
                    number): each file is then a continuous recording, each run of one label a
                    trial; values are gesture numbers or names from [gestures]
  channels          EDF/BDF: a regular expression every EMG channel's label matches in full
                    (e.g. "EMG\\d+" or "A\\d+" for Biosemi); default: channels typed EMG by
                    their label's "EMG " prefix (the EDF+ convention)
  ignore_annotations  EDF/BDF: annotation texts that are not gestures (e.g. ["Recording starts"])
  name              a short name for the grid in reports (default "RxC")
  [gestures]        gesture name = class number (e.g. rest = 0, fist = 1): names for the
                    numbers of a manifest, and what an annotation or label-column name means

Channels are 0-based in the order the file has them (the EMG columns left to right, the matched
EDF channels in file order); a file's columns, or an EDF's matched channels, must number exactly
the grid's channels. Every error names recording.toml (or the data file) and the field.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EdgekitError
from .grids import Grid
from .manifest import Entry
from .recording import Recording, numbered_trials

FILE = "recording.toml"
TO_MICROVOLT = {"uv": 1.0, "µv": 1.0, "μv": 1.0, "mv": 1e3, "v": 1e6}
UNITS = ("uV", "mV", "V", "counts")
COMMON = ("sampling_rate_hz", "grid", "empty", "channel_order", "masked", "unit", "adc_lsb")
KEYS = {
    "table": (*COMMON, "emg_columns", "label_column", "name", "gestures"),
    "edf": (*COMMON, "channels", "ignore_annotations", "name", "gestures"),
}
REQUIRED = {"table": ("sampling_rate_hz", "grid", "unit"), "edf": ("grid",)}


@dataclass(frozen=True)
class Rig:
    path: Path  # the recording.toml
    grid: Grid
    fs: float | None
    unit: str | None  # one of UNITS, or None (EDF/BDF: the headers say)
    adc_lsb: float | None  # microvolts per count (unit "counts")
    emg_columns: tuple[int, int] | None = None  # 1-based, inclusive
    label_column: str | int | None = None  # header name or 1-based column number
    channels: str | None = None  # EDF/BDF label regex
    ignore: tuple[str, ...] = ()
    gestures: dict[str, int] = field(default_factory=dict)

    @property
    def to_microvolt(self) -> float:
        """Microvolts per value of unit `unit`."""
        if self.unit == "counts":
            return float(self.adc_lsb)  # type: ignore[arg-type]
        return TO_MICROVOLT[self.unit.lower()]  # type: ignore[union-attr]

    @property
    def adc_step(self) -> float | None:
        return self.adc_lsb if self.unit == "counts" else None

    def gesture_of(self, label: str, where: str, hint: str = "") -> int:
        """A label (an annotation text, a label-column cell) -> its gesture number: a whole number
        as it is, a name through [gestures]."""
        text = str(label).strip()
        try:
            v = float(text)
        except ValueError:
            v = None
        if v is not None and math.isfinite(v) and v == int(v) and v >= 0:
            return int(v)
        if text in self.gestures:
            return self.gestures[text]
        known = ", ".join(f"{k} = {v}" for k, v in self.gestures.items()) or "none"
        raise EdgekitError(
            f"{where}: gesture {text!r} is not in {self.path} field 'gestures' (known: {known}); "
            f"add `{text} = <class number>` under [gestures]{hint}"
        )

    def label_names(self, numbers: list[int]) -> list[str]:
        """Class names: the [gestures] name of each number, else gest<N>."""
        name_of = {v: k for k, v in self.gestures.items()}
        return [name_of.get(g, f"gest{g}") for g in numbers]


def rig_file(root: Path) -> Path:
    """The recording.toml of a dataset root (a folder, recording.toml itself, or a file in the
    folder holding it)."""
    root = Path(root)
    path = root if root.name == FILE else (root if root.is_dir() else root.parent) / FILE
    if not path.is_file():
        raise EdgekitError(
            f"{path}: not found; a table or EDF/BDF dataset needs a recording.toml in its root "
            "saying what the numbers are (sampling_rate_hz, grid, unit, ...; see docs/data.md)"
        )
    return path


def read_rig(root: Path, kind: str) -> Rig:
    """Read and check recording.toml for a dataset of kind "table" or "edf" (EDF and BDF)."""
    path = rig_file(root)
    try:
        d = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise EdgekitError(f"{path}: not readable TOML ({e})") from None
    unknown = sorted(set(d) - set(KEYS[kind]))
    if unknown:
        raise EdgekitError(
            f"{path}: unknown field(s) {unknown} for {kind} data; known: {', '.join(KEYS[kind])}"
        )
    missing = [k for k in REQUIRED[kind] if k not in d]
    if missing:
        raise EdgekitError(
            f"{path}: field {missing[0]!r} missing; {kind} data need "
            f"{', '.join(REQUIRED[kind])} (see docs/data.md)"
        )
    where = lambda k: f"{path}: field {k!r}"  # noqa: E731
    unit = _unit(d.get("unit"), where("unit"))
    lsb = d.get("adc_lsb")
    if unit == "counts":
        if lsb is None:
            raise EdgekitError(
                f'{where("adc_lsb")} missing; unit = "counts" needs the microvolts per count'
            )
        lsb = _positive(lsb, where("adc_lsb"))
    elif lsb is not None:
        raise EdgekitError(f'{where("adc_lsb")} is only meaningful with unit = "counts"')
    fs = d.get("sampling_rate_hz")
    return Rig(
        path=path,
        grid=make_grid(d, path),
        fs=None if fs is None else _positive(fs, where("sampling_rate_hz")),
        unit=unit,
        adc_lsb=lsb,
        emg_columns=_column_range(d.get("emg_columns"), where("emg_columns")),
        label_column=_label_column(d.get("label_column"), where("label_column")),
        channels=_pattern(d.get("channels"), where("channels")),
        ignore=tuple(_strings(d.get("ignore_annotations", []), where("ignore_annotations"))),
        gestures=_gestures(d.get("gestures", {}), where("gestures")),
    )


# ---- fields ------------------------------------------------------------------------------------


def _unit(v: Any, where: str) -> str | None:
    if v is None:
        return None
    for u in UNITS:
        if isinstance(v, str) and v.strip().lower() == u.lower():
            return u
    if isinstance(v, str) and v.strip().lower() in TO_MICROVOLT:  # µV spellings
        return "uV"
    raise EdgekitError(f"{where} is {v!r}; expected one of {', '.join(UNITS)}")


def _positive(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
        raise EdgekitError(f"{where} is {v!r}; expected a number > 0")
    return float(v)


def _int_list(v: Any, where: str, what: str) -> list[int]:
    if not isinstance(v, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) for x in v
    ):
        raise EdgekitError(f"{where} is {v!r}; expected {what}")
    return v


def _pixels(v: Any, where: str, rows: int, cols: int) -> list[int]:
    """[[row, col], ...] or row-major pixel numbers -> row-major pixel numbers, each in range."""
    if not isinstance(v, list):
        raise EdgekitError(f"{where} is {v!r}; expected a list of [row, col] pairs")
    out = []
    for i, p in enumerate(v):
        if isinstance(p, list) and len(p) == 2 and all(isinstance(x, int) for x in p):
            r, c = p
        elif isinstance(p, int) and not isinstance(p, bool):
            r, c = divmod(p, cols)
        else:
            raise EdgekitError(f"{where} entry {i}: {p!r}; expected [row, col] or a pixel number")
        if not (0 <= r < rows and 0 <= c < cols):
            raise EdgekitError(
                f"{where} entry {i}: {p!r} lies outside the {rows} x {cols} grid (0-based)"
            )
        out.append(r * cols + c)
    if len(set(out)) != len(out):
        twice = sorted({p for p in out if out.count(p) > 1})
        raise EdgekitError(
            f"{where}: pixel(s) {[list(divmod(p, cols)) for p in twice]} listed twice"
        )
    return out


def make_grid(d: dict[str, Any], path: Path) -> Grid:
    """The Grid of recording.toml's grid / empty / channel_order / masked / name."""
    where = lambda k: f"{path}: field {k!r}"  # noqa: E731
    g = d["grid"]
    if not (isinstance(g, list) and len(g) == 2 and all(isinstance(x, int) and x >= 1 for x in g)):
        raise EdgekitError(f"{where('grid')} is {g!r}; expected [rows, cols], both >= 1")
    rows, cols = g
    empty = _pixels(d.get("empty", []), where("empty"), rows, cols)
    if "channel_order" in d:
        order = _pixels(d["channel_order"], where("channel_order"), rows, cols)
        clash = sorted(set(order) & set(empty))
        if clash:
            raise EdgekitError(
                f"{where('channel_order')} places channels on pixels that 'empty' lists: "
                f"{[list(divmod(p, cols)) for p in clash]}"
            )
    else:
        holes = set(empty)
        order = [p for p in range(rows * cols) if p not in holes]
    if not order:
        raise EdgekitError(f"{where('grid')}: {rows} x {cols} with every pixel empty")
    pixels = [-1] * (rows * cols)
    for ch, p in enumerate(order):
        pixels[p] = ch
    masked = _int_list(d.get("masked", []), where("masked"), "a list of 0-based channel numbers")
    bad = [c for c in masked if not 0 <= c < len(order)]
    if bad:
        raise EdgekitError(
            f"{where('masked')}: channel(s) {bad} outside 0..{len(order) - 1} (0-based)"
        )
    name = d.get("name", f"{rows}x{cols}")
    if not isinstance(name, str):
        raise EdgekitError(f"{where('name')} is {name!r}; expected a text")
    return Grid(
        rows,
        cols,
        tuple(pixels),
        len(order),
        tuple(sorted(set(masked))),
        ((0, 0, rows, cols),),
        name,
    )


def _column_range(v: Any, where: str) -> tuple[int, int] | None:
    if v is None:
        return None
    v = _int_list(v, where, "[first, last], 1-based column numbers")
    if len(v) != 2 or not 1 <= v[0] <= v[1]:
        raise EdgekitError(f"{where} is {v!r}; expected [first, last] with 1 <= first <= last")
    return v[0], v[1]


def _label_column(v: Any, where: str) -> str | int | None:
    if v is None or (isinstance(v, str) and v.strip()):
        return v.strip() if isinstance(v, str) else None
    if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
        return v
    raise EdgekitError(f"{where} is {v!r}; expected a header name or a 1-based column number")


def _pattern(v: Any, where: str) -> str | None:
    import re

    if v is None:
        return None
    if not isinstance(v, str) or not v:
        raise EdgekitError(f"{where} is {v!r}; expected a regular expression")
    try:
        re.compile(v)
    except re.error as e:
        raise EdgekitError(f"{where}: {v!r} is not a regular expression ({e})") from None
    return v


def _strings(v: Any, where: str) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise EdgekitError(f"{where} is {v!r}; expected a list of texts")
    return v


def _gestures(v: Any, where: str) -> dict[str, int]:
    if not isinstance(v, dict):
        raise EdgekitError(f"{where} is {v!r}; expected a [gestures] table: name = class number")
    seen: dict[int, str] = {}
    for k, n in v.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise EdgekitError(f"{where}: {k} = {n!r}; expected a class number >= 0")
        if n in seen:
            raise EdgekitError(f"{where}: {seen[n]!r} and {k!r} both map to {n}; expected one each")
        seen[n] = k
    return dict(v)


# ---- assembly ----------------------------------------------------------------------------------


@dataclass
class FileData:
    """One file's EMG, read and scaled: what table.py / edf.py hand to build_recording."""

    signal: np.ndarray  # float32 (grid.n_channels, n_samples), microvolts
    fs: float
    channels: list[str]  # the EMG channels' names (header / EDF labels) for the report
    segments: list[tuple[int, int, int]] | None = None  # (start, stop, gesture) in the file


Reader = Callable[[Entry], FileData]


def build_recording(
    root: Path, fmt: str, rig: Rig, entries: list[Entry], read: Reader
) -> Recording:
    """The Recording of every entry: a file with a gesture is one trial; a file without (labels
    inside) gives one trial per labelled segment. Sampling rate and grid are one per dataset."""
    rows = []
    first: tuple[Path, FileData] | None = None
    for e in entries:
        f = read(e)
        if first is None:
            first = (e.path, f)
        elif f.fs != first[1].fs:
            raise EdgekitError(
                f"{e.path}: sampling rate {f.fs:g} Hz but {first[0]} has {first[1].fs:g} Hz; "
                "expected one sampling rate for the whole dataset"
            )
        if e.gesture is not None:
            rows.append((e.subject, e.session, e.gesture, e.repetition, str(e.path), f.signal))
            continue
        for a, b, g in f.segments or []:
            src = f"{e.path} [{a / f.fs:.3f}-{b / f.fs:.3f} s]"
            sig = np.ascontiguousarray(f.signal[:, a:b])
            rows.append((e.subject, e.session, g, a, src, sig))
    if first is None or not rows:
        raise EdgekitError(f"{root}: no trials found (no files, or no labelled samples)")
    gestures, trials = numbered_trials(rows)
    return Recording(
        trials=trials,
        fs=first[1].fs,
        label_names=rig.label_names(gestures),
        layout=fmt,
        source=str(root),
        extra={"channels": {"file": str(first[0]), "names": first[1].channels}},
        grid=rig.grid,
        adc_step=rig.adc_step,
    )


def segments_of(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, stop, gesture) of each run of equal gesture numbers in a per-sample label array."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return []
    cut = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate([[0], cut])
    stops = np.concatenate([cut, [labels.size]])
    return [(int(a), int(b), int(labels[a])) for a, b in zip(starts, stops, strict=True)]


def check_channels(rig: Rig, n: int, path: Path, what: str, fix: str) -> None:
    """A file's EMG channel count against the grid's."""
    g = rig.grid
    if n != g.n_channels:
        empty = g.rows * g.cols - g.n_channels
        raise EdgekitError(
            f"{path}: {n} {what} but {rig.path} field 'grid' = [{g.rows}, {g.cols}]"
            + (f" with {empty} empty pixel(s)" if empty else "")
            + f" has {g.n_channels} channels; {fix}"
        )
