"""Hyser, pattern-recognition subset (PhysioNet "hd-semg"; Jiang et al., IEEE TBME 2021).

Layout on disk, as PhysioNet publishes it:
  <root>/pr_dataset/subjectNN_sessionM/
      dynamic_preprocess_sampleK.hea / .dat     WFDB record K (K = 1, 2, ...), 256 channels at
                                                2048 Hz, 1 s per dynamic trial
      maintenance_preprocess_sampleK.hea/.dat   the 4 s "maintenance" task (not read)
      dynamic_raw_sampleK.hea / .dat            unfiltered versions (read only when a session has
                                                no preprocessed records)
      label_dynamic.txt                         comma-separated gesture numbers (1..34), entry K
                                                is the gesture of record K
The root may be the dataset root, pr_dataset, or one subjectNN_sessionM folder. Records are read
with the `wfdb` package (physical units, scaled to microvolts from each channel's unit).

Geometry: four 8 x 8 electrode arrays (two over the extensors, two over the flexors), 256
channels, array a holding channels 64a..64a+63. edgekit places the arrays side by side (8 x 32)
and takes each array's channels column-major (channel k of an array at row k % 8, column k // 8);
that in-array order is an assumption (the dataset description gives the arrays, not the order).
No channel is masked.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import EdgekitError
from .formats import register_format
from .grids import Grid, column_major, side_by_side
from .recording import Recording, numbered_trials

FS_HZ = 2048.0
N_CHANNELS = 256
TASK = "dynamic"
_SESSION_RE = re.compile(r"^subject(\d+)_session(\d+)$", re.IGNORECASE)
_RECORD_RE = re.compile(rf"^{TASK}_(preprocess|raw)_sample(\d+)\.hea$", re.IGNORECASE)
TO_MICROVOLT = {"uv": 1.0, "µv": 1.0, "mv": 1000.0, "v": 1e6}


def grid() -> Grid:
    one = column_major(8, 8, name="8x8")
    return side_by_side([one] * 4, name="hyser-4x8x8")


def session_dirs(root: Path) -> list[Path]:
    if root.is_dir() and _SESSION_RE.match(root.name):
        return [root]
    dirs = sorted(p for p in root.rglob("*") if p.is_dir() and _SESSION_RE.match(p.name))
    if not dirs:
        raise EdgekitError(
            f"{root}: no Hyser session folders found; expected "
            f"{root}/pr_dataset/subjectNN_sessionM/{TASK}_preprocess_sampleK.hea "
            f"(+ .dat) and label_{TASK}.txt"
        )
    return dirs


def read_labels(path: Path) -> list[int]:
    if not path.is_file():
        raise EdgekitError(
            f"{path}: label file not found; expected label_{TASK}.txt beside the records"
        )
    text = path.read_text().replace("\n", ",").replace(" ", ",")
    try:
        return [int(float(x)) for x in text.split(",") if x.strip()]
    except ValueError:
        raise EdgekitError(f"{path}: expected comma-separated gesture numbers") from None


def read_record(hea: Path) -> tuple[np.ndarray, float]:
    """(256, n) float32 microvolts and the sampling frequency of one WFDB record."""
    import wfdb

    try:
        rec = wfdb.rdrecord(str(hea.with_suffix("")))
    except Exception as e:  # wfdb raises many types for broken headers / signal files
        raise EdgekitError(f"{hea}: not a readable WFDB record ({type(e).__name__}: {e})") from None
    if rec.n_sig != N_CHANNELS:
        raise EdgekitError(
            f"{hea}: field 'n_sig' (channels in the header) is {rec.n_sig}; "
            f"expected {N_CHANNELS} (four 8 x 8 arrays)"
        )
    scale = []
    for i, u in enumerate(rec.units):
        s = TO_MICROVOLT.get(str(u).strip().lower())
        if s is None:
            raise EdgekitError(
                f"{hea}: field 'units' of channel {i + 1} is {u!r}; expected mV, uV or V"
            )
        scale.append(s)
    sig = np.asarray(rec.p_signal, dtype=np.float64).T * np.asarray(scale)[:, None]
    if not np.isfinite(sig).all():
        raise EdgekitError(
            f"{hea}: {int((~np.isfinite(sig)).sum())} NaN/Inf samples (WFDB missing "
            "values); expected finite values"
        )
    return sig.astype(np.float32), float(rec.fs)


@register_format("hyser")
def load_hyser(root: Path) -> Recording:
    root = Path(root)
    rows = []
    fs0: tuple[float, Path] | None = None
    for d in session_dirs(root):
        subject, session = (int(g) for g in _SESSION_RE.match(d.name).groups())  # type: ignore[union-attr]
        recs: dict[str, dict[int, Path]] = {"preprocess": {}, "raw": {}}
        for p in d.iterdir():
            m = _RECORD_RE.match(p.name)
            if m:
                recs[m.group(1).lower()][int(m.group(2))] = p
        chosen = recs["preprocess"] or recs["raw"]
        if not chosen:
            continue
        labels = read_labels(d / f"label_{TASK}.txt")
        if sorted(chosen) != list(range(1, len(labels) + 1)):
            raise EdgekitError(
                f"{d / f'label_{TASK}.txt'}: {len(labels)} labels but records "
                f"{TASK}_*_sampleK exist for K = {sorted(chosen)[:5]}..; expected one "
                "label per record, K = 1..N"
            )
        for k, hea in sorted(chosen.items()):
            sig, fs = read_record(hea)
            if fs0 is None:
                fs0 = (fs, hea)
            elif fs != fs0[0]:
                raise EdgekitError(
                    f"{hea}: field 'fs' is {fs:g} Hz but {fs0[1]} has {fs0[0]:g} Hz; "
                    "expected one sampling frequency for the whole dataset"
                )
            rows.append((subject, session, labels[k - 1], k, str(hea), sig))
    if not rows or fs0 is None:
        raise EdgekitError(
            f"{root}: no {TASK}_preprocess_sampleK.hea records found in the session folders"
        )
    gestures, trials = numbered_trials(rows)
    return Recording(
        trials=trials,
        fs=fs0[0],
        label_names=[f"gest{g}" for g in gestures],
        layout="hyser",
        source=str(root),
        grid=grid(),
    )
