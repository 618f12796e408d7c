"""The synthetic HD-sEMG generator: real .mat files in the CSL layout, deterministic, in band."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from scipy import signal as sps

from edgekit.data import channel_mask, load_recording
from edgekit.data.synth import CONFIG_FILE, SynthConfig, default_dataset, generate
from edgekit.errors import EdgekitError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("synth") / "ds", SynthConfig.tiny(seed=3))


def test_layout_and_loader(tiny: Path) -> None:
    cfg = SynthConfig.tiny(seed=3)
    files = sorted(p.relative_to(tiny).as_posix() for p in tiny.rglob("*.mat"))
    assert files == [
        f"subject1/session{s}/gest{g}.mat" for s in (1, 2) for g in range(cfg.n_classes)
    ]
    rec = load_recording(tiny, "csl")
    assert rec.label_names == ["idle", "gest1", "gest2", "gest3"]
    assert len(rec.trials) == cfg.sessions * (
        cfg.idle_trials + (cfg.n_classes - 1) * cfg.trials_per_gesture
    )
    assert all(t.signal.shape == (192, int(cfg.trial_seconds * cfg.fs)) for t in rec.trials)
    meta = json.loads((tiny / CONFIG_FILE).read_text())
    assert SynthConfig.from_dict(meta["config"]) == cfg


def test_deterministic_by_seed(tiny: Path, tmp_path: Path) -> None:
    again = load_recording(generate(tmp_path / "a", SynthConfig.tiny(seed=3)), "csl")
    first = load_recording(tiny, "csl")
    assert all(
        np.array_equal(a.signal, b.signal) for a, b in zip(first.trials, again.trials, strict=True)
    )
    other = load_recording(generate(tmp_path / "b", SynthConfig.tiny(seed=4)), "csl")
    assert not np.array_equal(first.trials[5].signal, other.trials[5].signal)


def test_spectrum_mostly_in_band_and_gestures_stronger_than_idle(tiny: Path) -> None:
    rec = load_recording(tiny, "csl")
    mask = channel_mask("csl")
    fs = rec.fs
    inband = total = 0.0
    for t in rec.trials:
        if t.label == 0:
            continue
        f, p = sps.welch(t.signal[mask], fs=fs, nperseg=256, axis=1)
        p = p.sum(axis=0)
        inband += p[(f >= 20) & (f <= 450)].sum()
        total += p.sum()
    assert inband / total > 0.85
    rms = {
        lab: np.mean([np.sqrt(np.mean(t.signal[mask] ** 2)) for t in rec.trials if t.label == lab])
        for lab in range(4)
    }
    assert all(rms[g] > 2.5 * rms[0] for g in (1, 2, 3))


def test_gap_channels_carry_no_gesture_signal(tiny: Path) -> None:
    rec = load_recording(tiny, "csl")
    gap = ~channel_mask("csl")

    # Gesture-to-idle power ratio: large on signal channels, ~1 on the across-the-gap channels.
    def power(label: int, rows: np.ndarray) -> float:
        sos = sps.butter(4, [20, 450], btype="bandpass", fs=rec.fs, output="sos")
        return float(
            np.mean(
                [
                    np.mean(sps.sosfiltfilt(sos, t.signal[rows], axis=1) ** 2)
                    for t in rec.trials
                    if t.label == label
                ]
            )
        )

    assert power(1, gap) / power(0, gap) < 1.5
    assert power(1, ~gap) / power(0, ~gap) > 5


def test_session_shift_moves_the_pattern(tmp_path: Path) -> None:
    # trial-to-trial variation pinned low so the comparison isolates the session shift
    base = SynthConfig(
        **{
            **asdict(SynthConfig.tiny(seed=1)),
            "pattern_jitter": 0.1,
            "force_var": 0.2,
            "noise_uv": 3.0,
        }
    )
    still = SynthConfig(
        **{**asdict(base), "shift_std": 0.0, "axial_shift_std": 0.0, "gain_var": 0.0}
    )

    def pattern_change(cfg: SynthConfig, name: str) -> float:
        rec = load_recording(generate(tmp_path / name, cfg), "csl")
        m = channel_mask("csl")
        pat = {
            s: np.mean(
                [
                    np.sqrt(np.mean(t.signal[m] ** 2, axis=1))
                    for t in rec.trials
                    if t.label == 1 and t.session == s
                ],
                axis=0,
            )
            for s in (1, 2)
        }
        return float(
            np.linalg.norm(pat[1] / np.linalg.norm(pat[1]) - pat[2] / np.linalg.norm(pat[2]))
        )

    assert pattern_change(
        base.__class__(**{**asdict(base), "shift_std": 1.0}), "moved"
    ) > 2 * pattern_change(still, "still")


def test_default_dataset_cached_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))
    cfg = SynthConfig.tiny(seed=7)
    p = default_dataset(cfg)
    assert p.parent == tmp_path / "cache" and p.name == f"synth-{cfg.digest()}"
    stamp = (p / CONFIG_FILE).stat().st_mtime_ns
    assert default_dataset(cfg) == p and (p / CONFIG_FILE).stat().st_mtime_ns == stamp  # reused
    assert [q.name for q in (tmp_path / "cache").iterdir()] == [p.name]  # no temp left
    assert SynthConfig.tiny(seed=8).digest() != cfg.digest()


def test_generate_refuses_foreign_folder_and_bad_config(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(EdgekitError, match="not an edgekit synthetic dataset"):
        generate(tmp_path / "mine", SynthConfig.tiny())
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
    with pytest.raises(EdgekitError, match="n_classes must be >= 2"):
        SynthConfig(n_classes=1)
    with pytest.raises(EdgekitError, match="unknown config fields \\['classes'\\]"):
        SynthConfig.from_dict({"classes": 3})


def test_disturbed_session(tiny: Path, tmp_path: Path) -> None:
    """`disturb`/`disturb_sessions` emit a session recorded with a loose contact: its peeled row
    carries strong 50 Hz hum, everything else is the clean dataset sample for sample."""
    from dataclasses import replace

    cfg = replace(SynthConfig.tiny(seed=3), disturb="lc", disturb_sessions=(2,))
    out = generate(tmp_path / "lc", cfg)
    assert SynthConfig.from_dict(json.loads((out / CONFIG_FILE).read_text())["config"]) == cfg
    assert cfg.digest() != SynthConfig.tiny(seed=3).digest()
    clean, bad = load_recording(tiny, "csl"), load_recording(out, "csl")
    peeled = np.arange(192) % 8 == 6  # row 6 (row 7 is csl's gap row)
    for a, b in zip(clean.trials, bad.trials, strict=True):
        assert (a.session, a.label, a.trial) == (b.session, b.label, b.trial)
        if a.session == 1:
            assert np.array_equal(a.signal, b.signal)
            continue
        assert np.array_equal(
            a.signal[~peeled & (np.arange(192) % 8 != 7)],
            b.signal[~peeled & (np.arange(192) % 8 != 7)],
        )
        f, p_clean = sps.periodogram(a.signal[peeled], fs=cfg.fs, axis=1)
        _, p_bad = sps.periodogram(b.signal[peeled], fs=cfg.fs, axis=1)
        k = np.argmin(np.abs(f - 50.0))
        assert np.median(p_bad[:, k] / np.maximum(p_clean[:, k], 1e-12)) > 20


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"disturb": "wobble"}, "known: ca, lc"),
        ({"disturb": "lc", "disturb_sessions": (4,)}, "not sessions 1..3"),
        ({"disturb_sessions": (1,)}, "without disturb"),
    ],
)
def test_disturb_config_errors(kw: dict, msg: str) -> None:
    with pytest.raises(EdgekitError, match=msg):
        SynthConfig(**kw)
