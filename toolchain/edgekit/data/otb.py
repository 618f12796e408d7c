"""OT Bioelettronica (Quattrocento / OT BioLab export, ICE Lab style) loader.

Each recording is a .mat file named SSS-GGG-RRR.mat (subject, gesture, repetition), anywhere under
the root (searched recursively; a parent folder named session<M> sets the session, else 1). A file
holds:
  Data               samples x columns numeric array (EMG columns plus auxiliary columns)
  Description        one label per column (cell array of strings or char matrix)
  SamplingFrequency  scalar, Hz
The 192 EMG columns are chosen by their descriptions, not by position: columns whose description
names an auxiliary signal (AUX, acceleration, ramp, buffer, quaternion, load cell, force, torque,
trigger, sync) are dropped and exactly 192 must remain, kept in file order.

Geometry assumed: three 8x8 grids exported one after the other (EMG channels 0..63 grid 0,
64..127 grid 1, 128..191 grid 2); grid g occupies image columns 8g..8g+7; within a grid the export
is column-major: channel k of the grid sits at row k % 8, column k // 8. All channels carry signal.

Gesture numbers are mapped to contiguous class ids in ascending order, named "gest<G>" ("idle" for
gesture 0); a file's trial index is its rank among the repetitions of its subject/session/gesture.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import EdgekitError
from ._matio import as_signal, read_mat, text_cells
from .recording import N_CHANNELS, Recording, Trial

_NAME_RE = re.compile(r"^(\d+)-(\d+)-(\d+)\.mat$", re.IGNORECASE)
_SESS_RE = re.compile(r"^session[_-]?(\d+)$", re.IGNORECASE)
AUX_RE = re.compile(r"aux|acceleration|accelerometer|ramp|buffer|quaternion|load\s*cell|"
                    r"force|torque|trigger|sync", re.IGNORECASE)
REQUIRED = ("Data", "Description", "SamplingFrequency")


def label_name(gesture: int) -> str:
    return "idle" if gesture == 0 else f"gest{gesture}"


def find_files(root: Path) -> list[Path]:
    root = Path(root)
    if root.is_file():
        if not _NAME_RE.match(root.name):
            raise EdgekitError(f"{root}: expected a file named SSS-GGG-RRR.mat (subject-gesture-repetition)")
        return [root]
    files = sorted(p for p in root.rglob("*.mat") if _NAME_RE.match(p.name))
    if not files:
        raise EdgekitError(f"{root}: no OT Bioelettronica files found; expected files named "
                           "SSS-GGG-RRR.mat (subject-gesture-repetition) under it")
    return files


def emg_columns(descriptions: list[str], path: Path) -> np.ndarray:
    """Indices of the 192 EMG columns, chosen by description."""
    keep = [i for i, d in enumerate(descriptions) if not AUX_RE.search(d)]
    if len(keep) != N_CHANNELS:
        aux = [d for d in descriptions if AUX_RE.search(d)]
        raise EdgekitError(f"{path}: field 'Description': expected {N_CHANNELS} EMG columns after "
                           f"dropping auxiliary ones, found {len(keep)} of {len(descriptions)} columns "
                           f"({len(aux)} auxiliary, e.g. {aux[:3]})")
    return np.asarray(keep, dtype=np.int64)


def read_file(path: Path) -> tuple[np.ndarray, float]:
    """One OTB export -> (192, n) float32 EMG signal and its sampling frequency."""
    mat = read_mat(path, REQUIRED)
    try:
        desc = text_cells(mat["Description"])
    except ValueError as e:
        raise EdgekitError(f"{path}: field 'Description': expected one text label per column ({e})") from None
    try:
        fs = float(np.asarray(mat["SamplingFrequency"], dtype=np.float64).ravel()[0])
    except (TypeError, ValueError, IndexError):
        raise EdgekitError(f"{path}: field 'SamplingFrequency': expected a positive number") from None
    if not np.isfinite(fs) or fs <= 0:
        raise EdgekitError(f"{path}: field 'SamplingFrequency': expected a positive number, got {fs}")
    data = np.asarray(mat["Data"])
    if data.ndim != 2:
        raise EdgekitError(f"{path}: field 'Data': expected samples x columns, got shape {data.shape}")
    if data.shape[1] != len(desc):
        if data.shape[0] == len(desc):
            data = data.T  # exported columns x samples
        else:
            raise EdgekitError(f"{path}: field 'Data' has shape {data.shape} but 'Description' has "
                               f"{len(desc)} labels; expected one label per column")
    cols = emg_columns(desc, path)
    return as_signal(data[:, cols].T, path, "Data (EMG columns)"), fs


def load_otb(root: Path) -> Recording:
    files = find_files(Path(root))
    entries = []
    for f in files:
        m = _NAME_RE.match(f.name)
        subject, gesture, rep = (int(g) for g in m.groups())  # type: ignore[union-attr]
        session = 1
        for part in reversed(f.parent.parts):
            ms = _SESS_RE.match(part)
            if ms:
                session = int(ms.group(1))
                break
        entries.append((subject, session, gesture, rep, f))
    gestures = sorted({e[2] for e in entries})
    class_of = {g: i for i, g in enumerate(gestures)}
    trials: list[Trial] = []
    fs0: float | None = None
    counter: dict[tuple[int, int, int], int] = {}
    for subject, session, gesture, rep, f in sorted(entries):
        sig, fs = read_file(f)
        if fs0 is None:
            fs0, first = fs, f
        elif fs != fs0:
            raise EdgekitError(f"{f}: field 'SamplingFrequency' is {fs:g} Hz but {first} has {fs0:g} Hz; "
                               "expected one sampling frequency for the whole dataset")
        k = (subject, session, gesture)
        idx = counter.get(k, 0)
        counter[k] = idx + 1
        trials.append(Trial(signal=sig, label=class_of[gesture], subject=subject, session=session,
                            trial=idx, source=str(f)))
    assert fs0 is not None
    return Recording(trials=trials, fs=fs0, label_names=[label_name(g) for g in gestures],
                     layout="otb", source=str(root))
