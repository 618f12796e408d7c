"""Feature frames (RMS / raw), normalisation fitted on training frames only, the 8 x 24 image."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest

from edgekit.data import Recording, Trial, channel_mask, grid_index
from edgekit.data.features import FeatureConfig, Frames, Normalizer, extract, to_images, trial_key
from edgekit.errors import EdgekitError

FS = 2048.0


def sine_trial(
    amp: np.ndarray,
    n: int,
    f: float = 100.0,
    label: int = 0,
    session: int = 1,
    trial: int = 0,
    extra_hz: float | None = None,
) -> Trial:
    t = np.arange(n) / FS
    x = amp[:, None] * np.sin(2 * np.pi * f * t)[None, :]
    if extra_hz:
        x = x + 5.0 * np.sin(2 * np.pi * extra_hz * t)[None, :]
    return Trial(x.astype(np.float32), label, 1, session, trial, f"mem/trial{trial}")


def rec_of(*trials: Trial) -> Recording:
    return Recording(list(trials), FS, ["idle", "a", "b"], "csl", "mem")


@pytest.mark.parametrize("filt", ["causal", "zero-phase"])
def test_rms_values_and_frame_count(filt: str) -> None:
    amp = np.linspace(1, 50, 192)
    n = 2048
    fr = extract(rec_of(sine_trial(amp, n)), FeatureConfig(filter=filt))
    if filt == "zero-phase":
        win, hop = 307, 102  # 150 ms / 50 ms at 2048 Hz
        assert len(fr) == 1 + (n - win) // hop
    else:  # 3 whole hops; 3 warm-up hops dropped
        assert FeatureConfig().samples(FS) == (306, 102)
        assert len(fr) == n // 102 - 3 + 1 - 3
    assert fr.x.dtype == np.float32 and fr.x.shape == (len(fr), 192)
    assert fr.y.dtype == np.int64 and fr.trial_key.dtype == np.int64
    inner = fr.x[2:-2]  # away from the filter's edge effects
    np.testing.assert_allclose(inner, np.broadcast_to(amp / np.sqrt(2), inner.shape), rtol=0.03)


def test_band_pass_removes_out_of_band_and_raw_frames() -> None:
    amp = np.full(192, 10.0)
    rec = rec_of(sine_trial(amp, 4096, f=5.0))  # 5 Hz: below the 20 Hz band edge
    rms = extract(rec, FeatureConfig()).x
    assert np.median(rms) < 0.5
    zp = "zero-phase"  # no phase shift: the instant is exact
    raw = extract(rec_of(sine_trial(amp, 4096, f=100.0)), FeatureConfig(kind="raw", filter=zp))
    rmsf = extract(rec_of(sine_trial(amp, 4096, f=100.0)), FeatureConfig(kind="rms", filter=zp))
    assert raw.x.shape == rmsf.x.shape  # one instant per hop, same frame grid
    ends = 307 + 102 * np.arange(len(raw)) - 1  # the instant each frame takes
    expected = 10.0 * np.sin(2 * np.pi * 100.0 * ends / FS)
    np.testing.assert_allclose(
        raw.x[2:-2, 0], expected[2:-2], atol=0.3
    )  # in-band: passes unchanged


def test_notch_removes_hum() -> None:
    amp = np.full(192, 10.0)
    rec = rec_of(sine_trial(amp, 4096, f=120.0, extra_hz=50.0))
    plain = extract(rec, FeatureConfig()).x[3:-3].mean()
    notched = extract(rec, FeatureConfig(notch_hz=50.0)).x[3:-3].mean()
    assert abs(plain - np.sqrt(50 + 12.5)) < 0.3 and abs(notched - 10 / np.sqrt(2)) < 0.3


def test_keys_sessions_and_duplicates() -> None:
    amp = np.ones(192)
    fr = extract(
        rec_of(
            sine_trial(amp, 1000, label=0, trial=0),
            sine_trial(amp, 1000, label=1, trial=0),
            sine_trial(amp, 1000, label=1, session=2, trial=0),
        ),
        FeatureConfig(),
    )
    assert len(np.unique(fr.trial_key)) == 3
    assert set(fr.session.tolist()) == {1, 2} and set(fr.subject.tolist()) == {1}
    assert trial_key(1, 2, 1, 0) in fr.trial_key
    with pytest.raises(EdgekitError, match="same \\(subject, session, label, trial\\)"):
        extract(rec_of(sine_trial(amp, 1000), sine_trial(amp, 1000)), FeatureConfig())


def test_nan_and_short_trials_name_file_and_trial() -> None:
    amp = np.ones(192)
    bad = sine_trial(amp, 1000, trial=3)
    bad.signal[0, 10] = np.inf
    with pytest.raises(EdgekitError, match=r"mem/trial3: trial 3 .*NaN/Inf"):
        extract(rec_of(sine_trial(amp, 1000), bad), FeatureConfig())
    with pytest.raises(
        EdgekitError,
        match=r"mem/trial5: trial 5 .*100 samples .*shorter than one feature window "
        r"of 205 samples \(100 ms\)",
    ):
        extract(
            rec_of(sine_trial(amp, 100, trial=5)), FeatureConfig(window_ms=100, filter="zero-phase")
        )
    with pytest.raises(
        EdgekitError,
        match=r"mem/trial6: trial 6 .*500 samples .*leave no frame after the "
        r"100 ms warm-up",
    ):
        extract(rec_of(sine_trial(amp, 500, trial=6)), FeatureConfig())


def test_feature_config_round_trip_and_validation() -> None:
    cfg = FeatureConfig(window_ms=200, hop_ms=25, kind="raw", band_hz=(10, 400), notch_hz=50.0)
    d = json.loads(json.dumps(asdict(cfg)))  # as stored in a checkpoint / JSON report
    assert FeatureConfig.from_dict(d) == cfg
    assert FeatureConfig.from_dict(asdict(FeatureConfig())) == FeatureConfig()
    old = {
        k: v
        for k, v in asdict(FeatureConfig()).items()
        if k not in ("filter", "adc_lsb", "warmup_ms")
    }
    assert (
        FeatureConfig.from_dict(old).filter == "zero-phase"
    )  # records from before the causal chain
    with pytest.raises(EdgekitError, match="unknown filter 'fir'"):
        FeatureConfig(filter="fir")
    with pytest.raises(EdgekitError, match="unknown feature kind 'mav'"):
        FeatureConfig(kind="mav")
    with pytest.raises(EdgekitError, match="unknown fields \\['bogus'\\]"):
        FeatureConfig.from_dict({"bogus": 1})
    with pytest.raises(EdgekitError, match=r"20-450 Hz cannot be served at 800 Hz.*360 Hz"):
        extract(
            Recording([sine_trial(np.ones(192), 1000)], 800.0, ["idle"], "csl", "mem"),
            FeatureConfig(band_hz=(20, 450)),
        )
    # the default band adapts to the rate: its high edge at most 0.45 x fs
    assert FeatureConfig().band(800.0) == (20.0, 360.0)
    assert FeatureConfig().band(2048.0) == (20.0, 450.0)


def test_normalizer_train_only_and_mask() -> None:
    rng = np.random.default_rng(0)
    x_train = rng.normal(5.0, 2.0, (500, 192)).astype(np.float32)
    x_train[:, 3] = 7.0  # a dead channel: constant
    mask = channel_mask("csl")
    norm = Normalizer.fit(x_train, mask)
    assert norm.mean.shape == (192,) and norm.std.dtype == np.float32
    assert np.all(norm.mean[~mask] == 0) and np.all(norm.std[~mask] == 1)
    assert norm.std[3] == 1.0
    z = norm.apply(x_train)
    np.testing.assert_allclose(z[:, mask & (np.arange(192) != 3)].mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(z[:, mask & (np.arange(192) != 3)].std(0), 1, atol=1e-3)
    assert np.all(z[:, ~mask] == 0)
    other = rng.normal(100.0, 1.0, (10, 192))
    assert np.abs(norm.apply(other)[:, mask].mean()) > 10  # statistics are not refitted on new data
    # The checkpoint path: mean/std as lists, plus the layout's mask.
    again = Normalizer(norm.mean.tolist(), norm.std.tolist(), mask)
    np.testing.assert_array_equal(again.apply(other), norm.apply(other))
    with pytest.raises(EdgekitError, match="one mean and one std per channel"):
        Normalizer(np.zeros(10), np.ones(9))  # any channel count, but one of each per channel
    with pytest.raises(EdgekitError, match="expected frames"):
        again.apply(np.zeros((3, 64)))  # frames of another grid


def test_to_images() -> None:
    x = np.tile(np.arange(192, dtype=np.float32), (4, 1))
    for layout in ("csl", "otb"):
        im = to_images(x, layout)
        assert im.shape == (4, 1, 8, 24) and im.dtype == np.float32
        assert np.array_equal(im[0, 0], grid_index(layout).astype(np.float32))
    with pytest.raises(EdgekitError, match="unknown layout"):
        to_images(x, "xyz")
    with pytest.raises(EdgekitError, match=r"expected \(N, 192\)"):
        to_images(x[:, :100], "csl")


def test_frames_dataclass_fields() -> None:
    f = Frames(
        np.zeros((2, 192), np.float32),
        np.zeros(2, np.int64),
        np.zeros(2, np.int64),
        np.ones(2, np.int64),
        np.ones(2, np.int64),
    )
    assert len(f) == 2
