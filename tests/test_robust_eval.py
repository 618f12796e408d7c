"""Majority voting, latency per vote length, and clean/CA/LC accuracy on a tiny dataset."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import signal as sps
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from edgekit.data import Recording, Trial, channel_mask
from edgekit.data.disturb import apply_to_recording
from edgekit.data.features import FeatureConfig, Normalizer, extract, to_images
from edgekit.errors import EdgekitError
from edgekit.robust.evaluate import EvalSet, evaluate, majority_vote, vote_latency_ms
from edgekit.robust.stages import eval_table

FS = 2048.0


def tiny_recording(seed: int = 0) -> Recording:
    """3 classes x 2 sessions x 3 trials of 1 s: band-limited noise with a class-specific
    spatial amplitude pattern (a stand-in for muscle activity)."""
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(0.2, 1.0, (3, 192))
    for c in range(3):
        patterns[c, 40 * c : 40 * c + 40] *= 4.0  # a strong active region per class
    sos = sps.butter(4, [20, 450], btype="band", fs=FS, output="sos")
    trials = []
    for session in (1, 2):
        for c in range(3):
            for t in range(3):
                sig = sps.sosfilt(sos, rng.standard_normal((192, int(FS))), axis=1)
                sig *= patterns[c][:, None] * rng.uniform(0.8, 1.2)
                trials.append(Trial(sig.astype(np.float32), c, 1, session, t, f"mem{session}"))
    return Recording(trials, FS, ["a", "b", "c"], "otb", "tiny")


def test_majority_vote_causal_within_trial():
    pred = np.array([0, 1, 1, 0, 0, 2, 2, 2, 1])
    key = np.array([7, 7, 7, 7, 7, 7, 9, 9, 9])
    out = majority_vote(pred, key, 3, 3)
    # trial 7: [0] [0,1]->tie, latest 1 [0,1,1]->1 [1,1,0]->1 [1,0,0]->0 [0,0,2]->0
    # trial 9 starts afresh: [2] [2,2] [2,2,1]->2
    assert out.tolist() == [0, 1, 1, 1, 0, 0, 2, 2, 2]
    assert np.array_equal(majority_vote(pred, key, 1, 3), pred)
    with pytest.raises(EdgekitError):
        majority_vote(pred, key, 0, 3)


def test_latency():
    assert vote_latency_ms(150, 50, 1) == 150
    assert vote_latency_ms(150, 50, 10) == 600


def test_vote_improves_noisy_predictions():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 200)
    key = np.repeat(np.arange(40), 20)  # 40 trials of 20 windows
    pred = np.where(rng.random(y.size) < 0.6, y, rng.integers(0, 4, y.size))
    s = {"noisy": EvalSet(np.zeros((y.size, 1, 8, 24), np.float32), y, key)}
    r = evaluate(lambda x: pred, s, 4, 150.0, 50.0)
    acc = r["accuracy"]["noisy"]
    assert r["votes"] == [1, 3, 5, 10] and r["latency_ms"] == [150, 250, 350, 600]
    assert acc[0] < 0.8 and acc[3] > acc[0] + 0.1 and acc[3] >= acc[1]
    table = eval_table(
        {
            **r,
            "sets": ["noisy"],
            "models": {"m": {"float": r["accuracy"], "int8": None, "int8_status": "not exported"}},
        }
    )
    assert "k=10 (600 ms)" in table and "| m | float | noisy |" in table
    assert "m int8: not exported" in table


def test_clean_ca_lc_table_on_tiny_dataset():
    rec = tiny_recording()
    fcfg = FeatureConfig(window_ms=150, hop_ms=50)
    f = extract(rec, fcfg)
    tr = f.session == 1
    norm = Normalizer.fit(f.x[tr], channel_mask(rec.layout))
    x = to_images(norm.apply(f.x), rec.layout)
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
    lda.fit(x[tr].reshape(tr.sum(), -1), f.y[tr])

    # the test session, clean and disturbed before feature extraction (as robust eval does)
    test = dataclasses.replace(rec, trials=[t for t in rec.trials if t.session == 2])
    sets = {}
    for name in ("clean", "ca", "lc"):
        ft = extract(test if name == "clean" else apply_to_recording(test, name, 0), fcfg)
        sets[name] = EvalSet(to_images(norm.apply(ft.x), rec.layout), ft.y, ft.trial_key)
    assert list(sets) == ["clean", "ca", "lc"]
    assert all(len(s.y) == len(sets["clean"].y) for s in sets.values())
    assert np.array_equal(sets["ca"].y, sets["clean"].y)
    assert not np.array_equal(sets["lc"].x, sets["clean"].x)
    # The peeled rows (6, 7) change in the lc frames; the others do not.
    d = np.abs(sets["lc"].x - sets["clean"].x).max(axis=(0, 1))
    assert d[6:].min() > 1.0 and d[:6].max() == 0
    r = evaluate(lambda z: lda.predict(z.reshape(len(z), -1)), sets, 3, 150.0, 50.0)
    clean, lc = r["accuracy"]["clean"], r["accuracy"]["lc"]
    assert clean[0] > 0.9
    assert all(0.0 <= a <= 1.0 for accs in r["accuracy"].values() for a in accs)
    assert len(lc) == 4
    assert set(r["n"]) == {"clean", "ca", "lc"}
