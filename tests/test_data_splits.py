"""Splits by whole trial: leave-one-session-out, held-out trials, K-fold; the leakage guard."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.data.features import Frames, trial_key
from edgekit.data.splits import Split, check_no_leak, kfold_splits, make_split
from edgekit.errors import EdgekitError


def fake_frames(sessions: int = 3, classes: int = 4, trials: int = 5, per_trial: int = 7) -> Frames:
    y, key, sess = [], [], []
    for s in range(1, sessions + 1):
        for c in range(classes):
            for t in range(trials):
                y += [c] * per_trial
                key += [trial_key(1, s, c, t)] * per_trial
                sess += [s] * per_trial
    n = len(y)
    rng = np.random.default_rng(0)
    return Frames(
        rng.normal(size=(n, 192)).astype(np.float32),
        np.array(y, np.int64),
        np.array(key, np.int64),
        np.array(sess, np.int64),
        np.ones(n, np.int64),
    )


def parts_keys(sp: Split, fr: Frames) -> dict[str, set[int]]:
    return {p: set(fr.trial_key[getattr(sp, p)].tolist()) for p in ("train", "val", "test")}


def test_session_split_last_session_and_val_from_training_sessions() -> None:
    fr = fake_frames()
    sp = make_split(fr, "session", seed=0)
    check_no_leak(sp, fr)
    assert sp.kind == "session" and sp.test_sessions == [3]
    assert np.array_equal(np.sort(sp.test), np.flatnonzero(fr.session == 3))
    assert set(fr.session[sp.val].tolist()) == {1, 2} and set(fr.session[sp.train].tolist()) == {
        1,
        2,
    }
    assert len(sp.train) + len(sp.val) + len(sp.test) == len(fr)
    k = parts_keys(sp, fr)
    assert len(k["val"]) == 2 * 4 * 1  # round(0.2 * 5) = 1 per (class, session)
    for p in ("train", "val", "test"):  # whole trials only
        idx = getattr(sp, p)
        assert all(
            (fr.trial_key == key).sum() == np.isin(idx, np.flatnonzero(fr.trial_key == key)).sum()
            for key in k[p]
        )
    sp1 = make_split(fr, "session", seed=0, test_session=1)
    assert set(fr.session[sp1.test].tolist()) == {1}
    assert make_split(fr, "session", seed=0).val.tolist() == sp.val.tolist()  # deterministic
    assert make_split(fr, "session", seed=5).val.tolist() != sp.val.tolist()


def test_session_split_errors() -> None:
    with pytest.raises(EdgekitError, match="only session\\(s\\) \\[1\\].*at least 2 sessions"):
        make_split(fake_frames(sessions=1), "session")
    with pytest.raises(
        EdgekitError, match="test-session 9 is not in the data; sessions present: \\[1, 2, 3\\]"
    ):
        make_split(fake_frames(), "session", test_session=9)
    with pytest.raises(EdgekitError, match="unknown kind 'frame'"):
        make_split(fake_frames(), "frame")


def test_trial_split_stratified() -> None:
    fr = fake_frames(sessions=2, trials=8)
    sp = make_split(fr, "trial", seed=1)
    check_no_leak(sp, fr)
    k = parts_keys(sp, fr)
    assert len(k["test"]) == 2 * 4 * 2  # 25% of 8 per (class, session)
    assert set(fr.y[sp.test].tolist()) == {0, 1, 2, 3} and set(fr.y[sp.val].tolist()) == {
        0,
        1,
        2,
        3,
    }
    assert len(k["train"]) + len(k["val"]) + len(k["test"]) == 2 * 4 * 8
    with pytest.raises(EdgekitError, match="at least 3"):
        make_split(fake_frames(sessions=1, classes=1, trials=2), "trial")


def test_kfold_partitions_trials() -> None:
    fr = fake_frames(sessions=2, trials=5)
    splits = kfold_splits(fr, 5, seed=0)
    assert len(splits) == 5 and [s.fold for s in splits] == list(range(5))
    all_test: list[int] = []
    for sp in splits:
        check_no_leak(sp, fr)
        k = parts_keys(sp, fr)
        assert len(k["val"]) > 0 and set(fr.y[sp.test].tolist()) == {0, 1, 2, 3}
        all_test += sorted(k["test"])
    assert sorted(all_test) == sorted(set(fr.trial_key.tolist()))  # each trial tested exactly once
    with pytest.raises(EdgekitError, match="folds must be >= 2"):
        kfold_splits(fr, 1)
    with pytest.raises(EdgekitError, match="need at least 100 trials"):
        kfold_splits(fr, 100)


def test_leak_guard() -> None:
    fr = fake_frames()
    sp = make_split(fr, "trial", seed=0)
    key = fr.trial_key[sp.test[0]]
    frames_of_trial = np.flatnonzero(fr.trial_key == key)
    # Move one frame of a test trial into train: a frame-level split, which must be refused.
    leaky = Split(
        np.concatenate([sp.train, frames_of_trial[:1]]),
        sp.val,
        np.setdiff1d(sp.test, frames_of_trial[:1]),
        "trial",
        "leaky",
    )
    with pytest.raises(EdgekitError, match="1 trial\\(s\\) appear in both train and test"):
        check_no_leak(leaky, fr)
    with pytest.raises(EdgekitError, match="out of range"):
        check_no_leak(Split(np.array([len(fr)]), sp.val, sp.test, "trial", "bad"), fr)
