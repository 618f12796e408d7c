"""Train/validation/test splits of feature frames, always by whole trial (trial_key), never by frame.

  session  leave-one-session-out: test = one session (given, or the last); validation = held-out
           trials of the training sessions (stratified by class and session).
  trial    held-out trials: test and validation trials drawn per (class, session) group.
  kfold    K folds over trials (stratified by class); validation drawn inside each training part.
  subject  leave-one-subject-out: test = every trial of one subject (given, or the last);
           validation = held-out trials of the other subjects (stratified by class and subject).
With `subject=N`, the session split uses only subject N's trials (a per-subject model).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import EdgekitError
from .features import Frames

KINDS = ("session", "trial", "subject")


@dataclass
class Split:
    train: np.ndarray  # frame indices (int64)
    val: np.ndarray
    test: np.ndarray
    kind: str  # "session" | "trial" | "kfold"
    description: str
    test_sessions: list[int] = field(default_factory=list)
    fold: int | None = None  # kfold: 0-based fold index
    folds: int | None = None  # kfold: number of folds


def _held_out(
    groups: np.ndarray, chosen: int | None, what: str, hint: str
) -> tuple[int, list[int]]:
    """The group (session or subject) a leave-one-out split tests on: `chosen`, else the last."""
    present = sorted(int(g) for g in np.unique(groups))
    if len(present) < 2:
        raise EdgekitError(
            f"split {what}: the data has only {what}(s) {present}; a "
            f"leave-one-{what}-out split needs at least 2 {what}s{hint}"
        )
    t = present[-1] if chosen is None else int(chosen)
    if t not in present:
        raise EdgekitError(
            f"split {what}: --test-{what} {t} is not in the data; {what}s present: {present}"
        )
    return t, present


def _trial_table(frames: Frames) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique trial keys with their label and session (one row per trial)."""
    keys, first = np.unique(frames.trial_key, return_index=True)
    return keys, frames.y[first], frames.session[first]


def _draw(
    keys: np.ndarray, groups: np.ndarray, fraction: float, rng: np.random.Generator
) -> set[int]:
    """round(fraction * n) trials from each group (at least 1 if the group has 2+ trials)."""
    out: set[int] = set()
    if fraction <= 0:
        return out
    for g in np.unique(groups):
        ks = keys[groups == g]
        ks = ks[rng.permutation(len(ks))]
        n = int(round(fraction * len(ks)))
        if len(ks) >= 2:
            n = min(max(n, 1), len(ks) - 1)
        else:
            n = 0
        out.update(int(k) for k in ks[:n])
    return out


def _indices(frames: Frames, keys: set[int]) -> np.ndarray:
    if not keys:
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.isin(frames.trial_key, np.fromiter(keys, np.int64))).astype(np.int64)


def _group_ids(*cols: np.ndarray) -> np.ndarray:
    return np.unique(np.stack(cols, axis=1), axis=0, return_inverse=True)[1].reshape(-1)


def _check_fraction(name: str, v: float) -> None:
    if not 0.0 <= v < 1.0:
        raise EdgekitError(f"split: {name} must be in [0, 1), got {v}")


def _subject_table(frames: Frames) -> np.ndarray:
    """The subject of each trial, in _trial_table's order."""
    first = np.unique(frames.trial_key, return_index=True)[1]
    return frames.subject[first]


def make_split(
    frames: Frames,
    kind: str,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_session: int | None = None,
    test_fraction: float = 0.25,
    subject: int | None = None,
    test_subject: int | None = None,
) -> Split:
    _check_fraction("val_fraction", val_fraction)
    _check_fraction("test_fraction", test_fraction)
    rng = np.random.default_rng(seed)
    keys, labels, sessions = _trial_table(frames)
    subjects = _subject_table(frames)
    if subject is not None and kind != "subject":
        present_subj = sorted(int(s) for s in np.unique(subjects))
        if int(subject) not in present_subj:
            raise EdgekitError(
                f"split {kind}: --subject {subject} is not in the data; subjects "
                f"present: {present_subj}"
            )
        own = subjects == int(subject)
        keys, labels, sessions, subjects = keys[own], labels[own], sessions[own], subjects[own]
    if kind == "subject":
        tsub, present = _held_out(subjects, test_subject, "subject", "")
        test = {int(k) for k in keys[subjects == tsub]}
        rest = subjects != tsub
        val = _draw(keys[rest], _group_ids(labels[rest], subjects[rest]), val_fraction, rng)
        train = {int(k) for k in keys[rest]} - val
        desc = (
            f"leave-one-subject-out: test subject {tsub}, train subjects "
            f"{[s for s in present if s != tsub]} with {len(val)} trials held out for validation"
        )
        tsess = sorted(int(s) for s in np.unique(sessions[subjects == tsub]))
    elif kind == "session":
        ts, present = _held_out(sessions, test_session, "session", " (use --split trial)")
        test = {int(k) for k in keys[sessions == ts]}
        rest = sessions != ts
        val = _draw(keys[rest], _group_ids(labels[rest], sessions[rest]), val_fraction, rng)
        train = {int(k) for k in keys[rest]} - val
        desc = (
            f"leave-one-session-out: test session {ts}, train sessions "
            f"{[s for s in present if s != ts]} with {len(val)} trials held out for validation"
        )
        if subject is not None:
            desc = f"subject {subject}: " + desc
        tsess = [ts]
    elif kind == "trial":
        if len(keys) < 3:
            raise EdgekitError(
                f"split trial: the data has {len(keys)} trial(s); a held-out-trial split needs "
                "at least 3 (train, validation, test)"
            )
        test = _draw(keys, _group_ids(labels, sessions), test_fraction, rng)
        rest = ~np.isin(keys, list(test))
        val = _draw(keys[rest], _group_ids(labels[rest], sessions[rest]), val_fraction, rng)
        train = {int(k) for k in keys[rest]} - val
        desc = (
            f"held-out trials: {len(test)} test and {len(val)} validation trials drawn per "
            f"(class, session), {len(train)} training trials"
        )
        tsess = sorted(int(s) for s in np.unique(sessions))
    else:
        raise EdgekitError(
            f"split: unknown kind {kind!r}; known: {', '.join(KINDS)} (and kfold via kfold_splits)"
        )
    if not train or not test:
        raise EdgekitError(
            f"split {kind}: empty {'train' if not train else 'test'} part "
            f"({len(keys)} trials); more trials per class are needed"
        )
    return Split(
        train=_indices(frames, train),
        val=_indices(frames, val),
        test=_indices(frames, test),
        kind=kind,
        description=desc,
        test_sessions=tsess,
    )


def kfold_splits(frames: Frames, k: int, seed: int = 0, val_fraction: float = 0.2) -> list[Split]:
    """K splits whose test parts partition the trials (stratified by class)."""
    _check_fraction("val_fraction", val_fraction)
    keys, labels, sessions = _trial_table(frames)
    if k < 2:
        raise EdgekitError(f"split kfold: --folds must be >= 2, got {k}")
    if len(keys) < k:
        raise EdgekitError(
            f"split kfold: {k} folds need at least {k} trials, the data has {len(keys)}"
        )
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(keys), np.int64)
    offset = 0
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        fold_of[idx] = (
            np.arange(len(idx)) + offset
        ) % k  # rotate so small classes spread over folds
        offset += len(idx)
    out = []
    for f in range(k):
        test = {int(x) for x in keys[fold_of == f]}
        rest = fold_of != f
        val = _draw(keys[rest], labels[rest], val_fraction, rng)
        train = {int(x) for x in keys[rest]} - val
        out.append(
            Split(
                train=_indices(frames, train),
                val=_indices(frames, val),
                test=_indices(frames, test),
                kind="kfold",
                description=f"fold {f + 1}/{k} over trials: {len(test)} test, "
                f"{len(val)} validation, {len(train)} training trials",
                test_sessions=sorted(int(s) for s in np.unique(sessions)),
                fold=f,
                folds=k,
            )
        )
    return out


def check_no_leak(split: Split, frames: Frames) -> None:
    """Raise if a trial (trial_key) or a frame appears in two parts of the split."""
    parts = {name: np.asarray(getattr(split, name), np.int64) for name in ("train", "val", "test")}
    n = len(frames.trial_key)
    for name, idx in parts.items():
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise EdgekitError(f"split {split.kind}: {name} indices out of range for {n} frames")
    keys = {name: set(np.unique(frames.trial_key[idx]).tolist()) for name, idx in parts.items()}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        both = keys[a] & keys[b]
        if both:
            raise EdgekitError(
                f"split {split.kind}: {len(both)} trial(s) appear in both {a} and {b} "
                f"(e.g. trial_key {sorted(both)[:3]}); splits must be by whole trial"
            )
