"""Robustness evaluation: accuracy on clean and disturbed test sessions with majority voting.

Majority vote over k consecutive windows is causal, as on a device: the decision at window i of a
trial is the most frequent prediction among windows max(0, i-k+1)..i of that trial (fewer at the
start of a trial); ties go to the class predicted most recently. Deciding from k windows means the
decision covers window_ms + (k - 1) * hop_ms of signal: the latency vote_latency_ms reports.
Frames of a trial must appear in time order (features.extract emits them so).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import EdgekitError

VOTES = (1, 3, 5, 10)
Predictor = Callable[[np.ndarray], np.ndarray]  # (N, 1, H, W) frames -> (N,) class ids


@dataclass
class EvalSet:
    x: np.ndarray  # (N, 1, H, W) float32 normalised frames
    y: np.ndarray  # (N,) int64
    trial_key: np.ndarray  # (N,) int64: which trial each frame belongs to (time-ordered within)


def vote_latency_ms(window_ms: float, hop_ms: float, k: int) -> float:
    return window_ms + (k - 1) * hop_ms


def majority_vote(pred: np.ndarray, trial_key: np.ndarray, k: int, num_classes: int) -> np.ndarray:
    """Causal majority vote over the last k predictions within each trial (see module doc)."""
    if k < 1:
        raise EdgekitError(f"vote: k must be >= 1, got {k}")
    pred = np.asarray(pred, np.int64)
    out = pred.copy()
    if k == 1:
        return out
    for key in np.unique(trial_key):
        idx = np.flatnonzero(trial_key == key)
        p = pred[idx]
        for j in range(len(idx)):
            win = p[max(0, j - k + 1) : j + 1]
            counts = np.bincount(win, minlength=num_classes)
            best = np.flatnonzero(counts == counts.max())
            if len(best) == 1:
                out[idx[j]] = best[0]
            else:  # tie: the most recent of the tied classes
                out[idx[j]] = next(c for c in win[::-1] if c in best)
    return out


def evaluate(
    predict: Predictor,
    sets: dict[str, EvalSet],
    num_classes: int,
    window_ms: float,
    hop_ms: float,
    votes: Sequence[int] = VOTES,
) -> dict[str, Any]:
    """Accuracy per set and vote length. Returns
    {"votes": [k...], "latency_ms": [...], "accuracy": {set: [acc per k]}, "n": {set: frames}}."""
    acc: dict[str, list[float]] = {}
    for name, s in sets.items():
        if len(s.y) == 0:
            raise EdgekitError(f"evaluate: set {name!r} has no frames")
        pred = np.asarray(predict(s.x), np.int64)
        acc[name] = [
            float((majority_vote(pred, s.trial_key, k, num_classes) == s.y).mean()) for k in votes
        ]
    return {
        "votes": list(votes),
        "latency_ms": [vote_latency_ms(window_ms, hop_ms, k) for k in votes],
        "window_ms": window_ms,
        "hop_ms": hop_ms,
        "accuracy": acc,
        "n": {name: int(len(s.y)) for name, s in sets.items()},
    }
