"""Which part of a session is its calibration: the first S seconds of each gesture.

A user who puts the electrodes on again holds each gesture for a few seconds before using the
classifier. In a recorded session those seconds are the start of each gesture's trials in trial
order (trial 0, then trial 1, ... cut at S seconds); the rest of the session (later trials, and the
remainder of a cut trial) is what the calibrated classifier is scored on. `edgekit calibrate`
(per-trial frames) and `edgekit stream --calibrate` (the board's stream) both cut here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EdgekitError
from .recording import Recording, Trial


@dataclass
class SessionCut:
    """A session's trials and how many leading samples of each are calibration."""

    session: int
    trials: list[Trial]  # every trial of the session, by (label, trial index)
    cal_samples: np.ndarray  # (len(trials),) leading samples of each trial that calibrate
    seconds: float
    source: str

    def trial_lengths(self) -> np.ndarray:
        return np.array([t.signal.shape[1] for t in self.trials])


def session_trials(rec: Recording, session: int | None, where: str) -> tuple[int, list[Trial]]:
    """The trials of one session (default: the last) by (label, trial index)."""
    sessions = sorted({t.session for t in rec.trials})
    if not sessions:
        raise EdgekitError(f"{where}: the recording has no trials")
    s = sessions[-1] if session is None else int(session)
    if s not in sessions:
        raise EdgekitError(f"{where}: session {s} is not in the recording; sessions: {sessions}")
    return s, sorted((t for t in rec.trials if t.session == s), key=lambda t: (t.label, t.trial))


def gesture_trials(
    rec: Recording, s: int, trials: list[Trial], n_classes: int, where: str
) -> list[list[int]]:
    """Indices into trials of each gesture 0..n_classes-1; every one must have a trial."""
    out = []
    for c in range(n_classes):
        idx = [i for i, t in enumerate(trials) if t.label == c]
        if not idx:
            raise EdgekitError(
                f"{where}: session {s} has no trial of gesture {c} ({_name(rec, c)}); "
                f"calibration needs every one of the model's {n_classes} gestures"
            )
        out.append(idx)
    return out


def _name(rec: Recording, c: int) -> str:
    return rec.label_names[c] if c < len(rec.label_names) else str(c)


def cut_session(
    rec: Recording, session: int | None, seconds: float, n_classes: int, where: str
) -> SessionCut:
    """The first `seconds` of every gesture of the session; every class must be there and keep
    some samples for the rest of the session."""
    if not (seconds > 0 and np.isfinite(seconds)):
        raise EdgekitError(
            f"--seconds-per-gesture: expected a number of seconds > 0, got {seconds}"
        )
    s, trials = session_trials(rec, session, where)
    want = int(round(seconds * rec.fs))
    cal = np.zeros(len(trials), np.int64)
    for c, idx in enumerate(gesture_trials(rec, s, trials, n_classes, where)):
        total = sum(trials[i].signal.shape[1] for i in idx)
        if want >= total:
            raise EdgekitError(
                f"{where}: session {s} holds {total / rec.fs:.2f} s of gesture {c} "
                f"({_name(rec, c)}); --seconds-per-gesture {seconds:g} leaves none of it to "
                "score the calibration on"
            )
        left = want
        for i in idx:
            cal[i] = min(left, trials[i].signal.shape[1])
            left -= cal[i]
    return SessionCut(s, trials, cal, float(seconds), f"{where} session {s}")


def check_compatible(rec: Recording, fs: float, grid: dict, where: str) -> None:
    """A recording must have the model's sampling rate and electrode grid."""
    if abs(rec.fs - fs) > 1e-6 * fs:
        raise EdgekitError(
            f"{where}: sampling rate {rec.fs:g} Hz, the model was trained at {fs:g} Hz "
            "(its feature chain's filters and hop are fixed at that rate)"
        )
    mine = rec.grid.to_dict()
    keys = ("rows", "cols", "n_channels", "pixels")
    diff = [k for k in keys if mine.get(k) != grid.get(k)]
    if diff:
        raise EdgekitError(
            f"{where}: electrode grid {rec.grid.name} ({rec.grid.rows}x{rec.grid.cols}, "
            f"{rec.grid.n_channels} channels) differs from the model's {grid.get('name')} "
            f"({grid.get('rows')}x{grid.get('cols')}, {grid.get('n_channels')} channels) in "
            f"{', '.join(diff)}"
        )
