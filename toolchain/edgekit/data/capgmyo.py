"""CapgMyo (DB-a, DB-b, DB-c; Du et al., Sensors 2017): 128-channel HD-sEMG at 1000 Hz.

Layout on disk, as the preprocessed archives unpack (dba-preprocessed-001.zip ...):
  <root>/dba-preprocessed-SSS/SSS-GGG-TTT.mat      (dbb-..., dbc-... likewise)
one file per subject-gesture-trial holding
  data      samples x 128 (1000 x 128 for a 1 s trial), normalised to [-1, 1] = [-2.5, 2.5] mV
  gesture   scalar gesture number (1..8 in DB-a/DB-b, 1..12 in DB-c; 100 and 101 are extra
            recordings with one trial, not gestures of the protocol)
  subject   scalar subject number
  trial     scalar trial number (1..10)
The scalars are the truth; a file name that disagrees with them is an error. Files are found
recursively under the root; the DB is read from the folder name (dba/dbb/dbc). In DB-b, subject
numbers 2k-1 and 2k are the two sessions of person k (session 1, session 2), as the dataset's
description pairs them; edgekit reports subject k with sessions 1 and 2. Gestures 100 and 101
are skipped (listed in Recording.extra["skipped"]).

Geometry: 8 electrode arrays of 8 x 2 electrodes around the forearm, 10 mm apart, form an
8 x 16 image. Channel c (0-based) sits at row c % 8, column c // 8 (array c // 16), i.e. the
authors' 16 x 8 frame transposed; this order is an assumption from public readers of the dataset,
not from a document of the authors. No channel is masked. Signals are scaled to microvolts
(x 2500).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import EdgekitError
from ._matio import as_signal, read_mat, scalar
from .formats import register_format
from .grids import Grid, column_major
from .recording import Recording, numbered_trials

FS_HZ = 1000.0
N_CHANNELS = 128
TO_MICROVOLT = 2500.0  # [-1, 1] <-> [-2.5, 2.5] mV
EXTRA_GESTURES = (100, 101)
_NAME_RE = re.compile(r"^(\d+)-(\d+)-(\d+)\.mat$", re.IGNORECASE)
_DB_RE = re.compile(r"^db([abc])(?:$|[-_ ])", re.IGNORECASE)


def grid() -> Grid:
    g = column_major(8, 16)
    return Grid(
        8, 16, g.pixels, N_CHANNELS, (), tuple((0, 2 * a, 8, 2) for a in range(8)), "capgmyo-8x16"
    )


def _db_of(path: Path) -> str:
    for part in reversed(path.parent.parts):
        m = _DB_RE.match(part)
        if m:
            return m.group(1).lower()
    return ""


def find_files(root: Path) -> list[Path]:
    if root.is_file():
        if not _NAME_RE.match(root.name):
            raise EdgekitError(
                f"{root}: expected a CapgMyo file named SSS-GGG-TTT.mat (subject-gesture-trial)"
            )
        return [root]
    files = sorted(p for p in root.rglob("*.mat") if _NAME_RE.match(p.name))
    if not files:
        raise EdgekitError(
            f"{root}: no CapgMyo files found; expected "
            f"{root}/dba-preprocessed-SSS/SSS-GGG-TTT.mat (unzip the preprocessed "
            "archives of DB-a, DB-b or DB-c there)"
        )
    return files


def read_file(path: Path) -> tuple[int, int, int, np.ndarray]:
    """(subject, gesture, trial, (128, n) float32 microvolts) of one CapgMyo file."""
    mat = read_mat(path, ("data", "gesture", "subject", "trial"))
    nums = {}
    for k in ("subject", "gesture", "trial"):
        v = scalar(mat[k], path, k)
        if not float(v).is_integer():
            raise EdgekitError(f"{path}: field {k!r} is {v}; expected a whole number")
        nums[k] = int(v)
    m = _NAME_RE.match(path.name)
    if m:
        named = dict(
            zip(("subject", "gesture", "trial"), (int(g) for g in m.groups()), strict=True)
        )
        for k, v in named.items():
            if v != nums[k]:
                raise EdgekitError(
                    f"{path}: field {k!r} is {nums[k]} but the file name says {v}; "
                    "expected them to agree"
                )
    data = np.asarray(mat["data"])
    if data.ndim == 2 and data.shape[1] != N_CHANNELS and data.shape[0] == N_CHANNELS:
        data = data.T
    if data.ndim != 2 or data.shape[1] != N_CHANNELS:
        raise EdgekitError(
            f"{path}: field 'data': expected samples x {N_CHANNELS}, got shape {data.shape}"
        )
    sig = as_signal(data.T, path, "data", N_CHANNELS) * np.float32(TO_MICROVOLT)
    return nums["subject"], nums["gesture"], nums["trial"], sig


@register_format("capgmyo")
def load_capgmyo(root: Path) -> Recording:
    root = Path(root)
    files = find_files(root)
    rows, skipped = [], []
    for f in files:
        subject, gesture, trial, sig = read_file(f)
        if gesture in EXTRA_GESTURES:
            skipped.append(str(f))
            continue
        session = 1
        if _db_of(f) == "b":
            subject, session = (subject + 1) // 2, 1 if subject % 2 else 2
        rows.append((subject, session, gesture, trial, str(f), sig))
    if not rows:
        raise EdgekitError(
            f"{root}: only gesture 100/101 files found ({len(skipped)}); expected "
            "the protocol gestures 1..12"
        )
    gestures, trials = numbered_trials(rows)
    return Recording(
        trials=trials,
        fs=FS_HZ,
        label_names=[f"gest{g}" for g in gestures],
        layout="capgmyo",
        source=str(root),
        extra={"skipped": skipped},
        grid=grid(),
    )
