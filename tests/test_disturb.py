"""Each disturbance simulator is checked by measuring its signature on the output signal."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from edgekit.data import Recording, Trial
from edgekit.data.causal import INT16_MAX, adc_lsb_for, to_counts
from edgekit.data.disturb import (
    DISTURBANCES,
    ContactArtifactConfig,
    DeadChannelConfig,
    LooseContactConfig,
    NoiseConfig,
    SaturatedChannelConfig,
    adc_full_scale,
    apply_disturbances,
    apply_to_recording,
    broadband_noise,
    contact_artifact,
    dead_channels,
    loose_contact,
    parse_disturbances,
    peeled_channels,
    saturated_channels,
    signal_scale,
)
from edgekit.data.features import FeatureConfig, extract
from edgekit.errors import EdgekitError

FS = 2048.0


def emg_like(seed: int, seconds: float = 4.0) -> np.ndarray:
    """Band-limited (20-450 Hz) Gaussian noise, channel gains varying 0.5..2: an sEMG stand-in."""
    rng = np.random.default_rng(seed)
    n = int(FS * seconds)
    sos = sps.butter(4, [20, 450], btype="band", fs=FS, output="sos")
    x = sps.sosfiltfilt(sos, rng.standard_normal((192, n)), axis=1)
    x *= rng.uniform(0.5, 2.0, size=(192, 1)) / x.std()
    return x.astype(np.float32)


def power_fraction(x: np.ndarray, lo: float, hi: float) -> float:
    f, p = sps.periodogram(x, fs=FS, axis=-1)
    p = p.reshape(-1, f.size).sum(0)
    return float(p[(f >= lo) & (f < hi)].sum() / p.sum())


# ---------------------------------------------------------------------------- contact artifact


def test_contact_artifact_signature():
    x = emg_like(0)
    out = contact_artifact(x, FS, "otb", ContactArtifactConfig(), np.random.default_rng(1))
    diff = (out - x).astype(np.float64)

    touched = np.flatnonzero(np.abs(diff).max(1) > 0)
    assert touched.min() >= 192 - 36, "artifact outside the last 36 electrodes"
    assert touched.size > 20  # strikes wander over the region

    # Strike rate: the peaks of the strongest channel's |artifact| (each strike's centre).
    env = np.abs(diff).max(0)
    peaks, _ = sps.find_peaks(env, height=0.3 * env.max(), distance=int(0.1 * FS))
    intervals = np.diff(peaks) / FS
    assert len(peaks) >= 15  # 4 s at 4-5 Hz
    assert np.all((intervals > 0.19) & (intervals < 0.26)), intervals
    assert 4.0 <= 1 / intervals.mean() <= 5.0

    # Electrodes touched by each strike: those above 5 % of the strike's peak just after it.
    sets = []
    for p in peaks:
        w = np.abs(diff[:, max(0, p - int(0.01 * FS)) : p + int(0.06 * FS)]).max(1)
        sets.append(frozenset(np.flatnonzero(w > 0.05 * w.max())))
    assert all(min(s) >= 192 - 36 for s in sets)
    assert len(set(sets)) >= len(sets) // 2, "strikes should touch varying electrodes"
    assert any(len(s) > 1 for s in sets), "strikes should spread to neighbours"

    # Mostly low-frequency: the artifact's power sits below 20 Hz (the clean EMG's does not), but
    # the sharp onset leaves a share inside the 20-450 Hz feature band, so it survives filtering.
    assert power_fraction(diff, 0, 20) > 0.7
    assert 0.05 < power_fraction(diff, 20, 450) < 0.3
    assert power_fraction(x, 0, 20) < 0.05
    # High amplitude: the artifact dwarfs the EMG on the touched channels.
    assert np.abs(diff).max() > 10 * x[touched].std()


def test_contact_artifact_spatial_decay():
    x = emg_like(3, 1.0)
    cfg = ContactArtifactConfig(rate_hz=(4.0, 4.0), radius=(2.5, 2.5), amplitude=(20.0, 20.0))
    out = contact_artifact(x, FS, "otb", cfg, np.random.default_rng(5))
    # The first strike starts in [0, 0.25) s and the second not before 0.25 s.
    first = np.abs(out - x)[:, : int(0.25 * FS)].astype(np.float64).max(1)
    c = int(np.argmax(first))
    rows, cols = np.arange(192) % 8, np.arange(192) // 8
    d = np.hypot(rows - rows[c], cols - cols[c])
    hit = np.flatnonzero(first > 0)
    assert hit.size > 3
    # Amplitude never grows with distance from the strike centre.
    for i in hit:
        for j in hit:
            if d[i] < d[j] - 1e-9:
                assert first[i] >= first[j] * (1 - 1e-4)
    assert first[hit].min() < 0.7 * first[c]  # Gaussian of sigma = radius: exp(-1/2) at the edge
    assert np.all(d[hit] <= 2.5 + 1e-9)


# ---------------------------------------------------------------------------- loose contact


def test_loose_contact_signature():
    x = emg_like(10)
    cfg = LooseContactConfig()
    out = loose_contact(x, FS, "otb", cfg, np.random.default_rng(2))
    diff = out - x
    changed = set(np.flatnonzero(np.abs(diff).max(1) > 0).tolist())
    expected = {ch for ch in range(192) if ch % 8 in (6, 7)}  # rows 6, 7 of every 8x8 grid
    assert changed == expected
    assert set(peeled_channels("otb").tolist()) == expected
    assert set(peeled_channels("csl", grids=(2,)).tolist()) == {ch for ch in expected if ch >= 128}

    peeled = np.array(sorted(expected))
    f, p = sps.periodogram(out[peeled].astype(np.float64), fs=FS, axis=-1)
    above = f > 5
    # The strongest spectral line of every peeled channel is the 50 Hz mains.
    assert np.all(np.abs(f[above][np.argmax(p[:, above], axis=1)] - 50.0) <= 0.5)
    # 50 Hz and its harmonics carry most of the power.
    near = np.zeros_like(f, dtype=bool)
    for k in range(1, 5):
        near |= np.abs(f - 50.0 * k) <= 1.0
    assert p[:, near].sum() / p.sum() > 0.6

    # EMG coupling reduced: regress the output on the clean EMG over unclipped samples.
    rail = np.abs(out[peeled]).max()
    gains = []
    for c in peeled:
        ok = np.abs(out[c]) < rail
        gains.append(np.dot(out[c, ok], x[c, ok]) / np.dot(x[c, ok], x[c, ok]))
    assert 0.05 < np.median(gains) < 0.5
    # Some clipping: samples pinned at the common rail, in some but not all channels.
    pinned = (np.abs(out[peeled]) >= rail * (1 - 1e-6)).sum(1)
    assert pinned.sum() > 50
    assert 0 < np.count_nonzero(pinned) < peeled.size
    # Untouched channels are exactly the input.
    others = np.setdiff1d(np.arange(192), peeled)
    assert np.array_equal(out[others], x[others])


# ---------------------------------------------------------------------------- basics


def test_dead_channels_zero():
    x = emg_like(20, 1.0)
    out = dead_channels(x, FS, "csl", DeadChannelConfig(count=5), np.random.default_rng(0))
    rms = np.sqrt(np.mean(out.astype(np.float64) ** 2, axis=1))
    dead = np.flatnonzero(rms < 1e-9)
    assert dead.size == 5
    assert np.all(dead % 8 != 7)  # chosen among csl channels that carry signal
    alive = np.setdiff1d(np.arange(192), dead)
    assert np.array_equal(out[alive], x[alive])
    out2 = dead_channels(
        x, FS, "otb", DeadChannelConfig(channels=(3, 100), residual=0.01), np.random.default_rng(0)
    )
    assert np.all(out2[[3, 100]].std(1) < 0.02 * signal_scale(x))


def test_saturated_channels_clipped_at_rail():
    x = emg_like(21, 1.0)
    cfg = SaturatedChannelConfig(count=3)
    out = saturated_channels(x, FS, "otb", cfg, np.random.default_rng(0))
    rail = cfg.rail * signal_scale(x)
    at_rail = np.mean(np.isclose(np.abs(out), rail, rtol=1e-5), axis=1)
    sat = np.flatnonzero(at_rail > 0.99)
    assert sat.size == 3
    assert np.abs(out).max() <= rail * (1 + 1e-6)
    others = np.setdiff1d(np.arange(192), sat)
    assert np.array_equal(out[others], x[others])


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_noise_snr(snr_db):
    x = emg_like(22, 2.0)
    out = broadband_noise(x, FS, "otb", NoiseConfig(snr_db=snr_db), np.random.default_rng(0))
    noise = (out - x).astype(np.float64)
    sig = x.astype(np.float64)
    measured = 10 * np.log10(np.mean(sig**2, axis=1) / np.mean(noise**2, axis=1))
    assert np.all(np.abs(measured - snr_db) < 0.5), measured
    overall = 10 * np.log10(np.mean(sig**2) / np.mean(noise**2))
    assert abs(overall - snr_db) < 0.5
    # Broadband: the noise has power well above the EMG band.
    assert power_fraction(noise, 500, FS / 2) > 0.4


# ---------------------------------------------------------------------------- registry


def test_determinism_and_no_mutation():
    x = emg_like(30, 1.0)
    keep = x.copy()
    for name in DISTURBANCES:
        a = apply_disturbances(x, FS, "otb", name, np.random.default_rng(7))
        b = apply_disturbances(x, FS, "otb", name, np.random.default_rng(7))
        c = apply_disturbances(x, FS, "otb", name, np.random.default_rng(8))
        assert a.dtype == np.float32 and a.shape == x.shape
        assert np.array_equal(a, b), name
        assert not np.array_equal(a, c), name
    assert np.array_equal(x, keep)


def test_parse_and_unknown_name():
    assert [d.name for d in parse_disturbances("ca, lc")] == ["ca", "lc"]
    assert [d.name for d in parse_disturbances(["noise"])] == ["noise"]
    with pytest.raises(EdgekitError) as e:
        parse_disturbances("ca,wobble")
    msg = str(e.value)
    with pytest.raises(EdgekitError, match="known: ca, lc"):
        parse_disturbances(" , ")
    assert "wobble" in msg and all(k in msg for k in ("ca", "lc", "dead", "saturated", "noise"))


def test_apply_to_recording_sessions():
    trials = [
        Trial(
            emg_like(40 + i, 0.5),
            label=i % 2,
            subject=1,
            session=1 + i // 2,
            trial=i % 2,
            source=f"t{i}",
        )
        for i in range(4)
    ]
    rec = Recording(trials, FS, ["idle", "fist"], "csl", "unit")
    keep = [t.signal.copy() for t in trials]
    out = apply_to_recording(rec, "ca,lc", seed=3, sessions=[2])
    again = apply_to_recording(rec, "ca,lc", seed=3, sessions=[2])
    assert len(out.trials) == 4 and out.fs == FS and out.layout == "csl"
    for i, (t, k) in enumerate(zip(out.trials, keep, strict=True)):
        assert np.array_equal(rec.trials[i].signal, k)  # input untouched
        assert np.array_equal(t.signal, again.trials[i].signal)  # seeded
        assert (t.session == 2) == (not np.array_equal(t.signal, k))
        assert t.label == rec.trials[i].label
    assert out.extra["disturb"]["names"] == ["ca", "lc"]
    # The same trial gets the same disturbance whichever sessions are selected.
    every = apply_to_recording(rec, "ca,lc", seed=3)
    assert np.array_equal(every.trials[3].signal, out.trials[3].signal)
    with pytest.raises(EdgekitError):
        apply_to_recording(rec, "bogus", seed=0)


# ---------------------------------------------------------------------------- the ADC's range


def counts_recording(gain: float, extra: dict | None = None) -> Recording:
    """int16 ADC counts (adc_lsb 1, as CSL and the generated data store them): emg_like scaled
    so the contact artifact (30-60x the median RMS) exceeds int16 range while the clean signal
    does not."""
    trials = []
    for i in range(3):
        x = np.round(emg_like(50 + i, 0.5) * gain)
        trials.append(
            Trial(x.astype(np.float32), label=i % 2, subject=1, session=1, trial=i, source=f"t{i}")
        )
    return Recording(trials, FS, ["idle", "fist"], "csl", "counts", extra=extra or {})


def test_contact_artifact_saturates_at_int16_full_scale():
    rec = counts_recording(1500.0)
    assert max(np.abs(t.signal).max() for t in rec.trials) < INT16_MAX
    assert adc_full_scale(rec) == INT16_MAX  # integer counts in range: adc_lsb 1
    raw = apply_disturbances(rec.trials[0].signal, FS, "csl", "ca", np.random.default_rng(0))
    assert np.abs(raw).max() > INT16_MAX  # what the simulator alone makes: no ADC gives that
    out = apply_to_recording(rec, "ca", seed=4)
    clip = out.extra["disturb"]["clipping"]
    over = 0
    for i, t in enumerate(out.trials):
        assert np.abs(t.signal).max() <= INT16_MAX
        unclipped = apply_disturbances(
            rec.trials[i].signal,
            FS,
            "csl",
            "ca",
            np.random.default_rng(np.random.SeedSequence([4, i])),
        )
        over += int((np.abs(unclipped) > INT16_MAX).sum())
        # inside the range the clip changes nothing; beyond it the sample sits at the rail
        inside = np.abs(unclipped) <= INT16_MAX
        assert np.array_equal(t.signal[inside], unclipped[inside])
        assert np.array_equal(np.abs(t.signal[~inside]), np.full((~inside).sum(), INT16_MAX))
        to_counts(t.signal, 1.0, t.source)  # what refused the samples before
    assert clip["clipped"] == over > 0 and clip["trials"] == 3 and clip["trials_clipped"] >= 1
    assert clip["samples"] == sum(t.signal.size for t in rec.trials)
    assert 0 < clip["fraction"] < clip["fraction_of_changed"] < 1
    assert clip["full_scale"] == INT16_MAX
    # the disturbed recording goes through the causal chain the board runs
    frames = extract(out, FeatureConfig(adc_lsb=1.0))
    assert np.isfinite(frames.x).all() and len(frames) > 0


def test_loose_contact_stays_within_range():
    rec = counts_recording(1500.0)
    out = apply_to_recording(rec, "lc", seed=1)
    assert all(np.abs(t.signal).max() <= INT16_MAX for t in out.trials)
    assert out.extra["disturb"]["clipping"]["changed"] > 0


def test_declared_full_scale_and_adc_step():
    # a recording that declares a smaller range than int16 (e.g. a 12-bit front end)
    rec = counts_recording(200.0, extra={"adc_full_scale": 2047.0})
    assert adc_full_scale(rec) == 2047.0
    out = apply_to_recording(rec, "ca", seed=2)
    assert max(np.abs(t.signal).max() for t in out.trials) == 2047.0
    assert out.extra["disturb"]["clipping"]["full_scale"] == 2047.0
    # float data: the ADC step the chain would take (adc_lsb_for), or the one it is given
    x = counts_recording(1.0)
    assert adc_full_scale(x) == INT16_MAX * adc_lsb_for([t.signal for t in x.trials])
    assert adc_full_scale(x, adc_lsb=0.25) == INT16_MAX * 0.25
    with pytest.raises(EdgekitError, match="adc_full_scale.*expected a number > 0"):
        adc_full_scale(counts_recording(1.0, extra={"adc_full_scale": "12 bit"}))


def test_every_condition_documents_its_effect():
    for d in DISTURBANCES.values():
        assert len(d.effect) > 30, d.name
