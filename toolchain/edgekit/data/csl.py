"""CSL-HDEMG loader.

Layout on disk:  <root>/subject<N>/session<M>/gest<G>.mat, G in 0..26 (any subset is accepted;
the root may also be a subject or session folder, or one gest file). Each file holds the
variable `gestures`: a MATLAB cell array of trials, each a 192 x n_samples numeric array sampled
at 2048 Hz. gest0 is rest ("idle", usually 30 trials), the others usually 10 trials each.

Channel geometry. The 192 channels are 24 columns of 8 bipolar channels, a column running
along the forearm, the columns side by side around it. 0-based channel ch sits at image row
ch % 8 (0 = proximal .. 7 = distal) and column ch // 8 (around the forearm). Every 8th channel
(1-based 8, 16, ..., 192; image row 7) is the bipolar difference across the gap between two
electrode columns and carries no meaningful signal: channel_mask("csl") marks it False, the image
keeps its pixel but the Normalizer sets it to 0 after normalisation.

Gesture numbers are mapped to contiguous class ids in ascending order; class names are "idle" for
gest0 and "gest<G>" otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import EdgekitError
from ._matio import as_signal, read_mat
from .formats import register_format
from .recording import Recording, Trial

FS_HZ = 2048.0
N_CHANNELS = 192
_GEST_RE = re.compile(r"^gest(\d+)\.mat$", re.IGNORECASE)
_SUBJ_RE = re.compile(r"^subject[_-]?(\d+)$", re.IGNORECASE)
_SESS_RE = re.compile(r"^session[_-]?(\d+)$", re.IGNORECASE)


def label_name(gesture: int) -> str:
    return "idle" if gesture == 0 else f"gest{gesture}"


def _number_from_parents(path: Path, pattern: re.Pattern[str], default: int) -> int:
    for part in reversed(path.parent.parts):
        m = pattern.match(part)
        if m:
            return int(m.group(1))
    return default


def subject_session(path: Path) -> tuple[int, int]:
    """(subject, session) of a gest<G>.mat from its subject<N>/session<M> folders (1 where absent)."""
    return _number_from_parents(path, _SUBJ_RE, 1), _number_from_parents(path, _SESS_RE, 1)


def find_files(root: Path) -> list[Path]:
    root = Path(root)
    if root.is_file():
        if not _GEST_RE.match(root.name):
            raise EdgekitError(f"{root}: expected a file named gest<G>.mat (CSL-HDEMG layout)")
        return [root]
    files = sorted(p for p in root.rglob("*.mat") if _GEST_RE.match(p.name))
    if not files:
        raise EdgekitError(
            f"{root}: no CSL-HDEMG files found; expected {root}/subject<N>/session<M>/gest<G>.mat"
        )
    return files


def _trial_arrays(cell: np.ndarray, path: Path) -> list[np.ndarray]:
    """The trials of a `gestures` variable: a cell array (object array) or one numeric 2-D array."""
    if cell.dtype == object:
        return [np.asarray(c) for c in cell.ravel(order="F")]
    if cell.ndim == 2:
        return [cell]
    raise EdgekitError(
        f"{path}: variable 'gestures': expected a cell array of 192 x n_samples "
        f"trials, got a {cell.dtype} array of shape {cell.shape}"
    )


@register_format("csl")
def load_csl(root: Path) -> Recording:
    files = find_files(Path(root))
    entries = []
    for f in files:
        gesture = int(_GEST_RE.match(f.name).group(1))  # type: ignore[union-attr]
        subject, session = subject_session(f)
        entries.append((subject, session, gesture, f))
    gestures = sorted({e[2] for e in entries})
    class_of = {g: i for i, g in enumerate(gestures)}
    trials: list[Trial] = []
    for subject, session, gesture, f in sorted(entries):
        mat = read_mat(f, ("gestures",))
        arrays = _trial_arrays(mat["gestures"], f)
        if not arrays:
            raise EdgekitError(f"{f}: variable 'gestures' is an empty cell array; expected trials")
        for i, a in enumerate(arrays):
            sig = as_signal(a, f, f"gestures{{{i + 1}}}", N_CHANNELS)
            trials.append(
                Trial(
                    signal=sig,
                    label=class_of[gesture],
                    subject=subject,
                    session=session,
                    trial=i,
                    source=str(f),
                )
            )
    return Recording(
        trials=trials,
        fs=FS_HZ,
        label_names=[label_name(g) for g in gestures],
        layout="csl",
        source=str(root),
    )
