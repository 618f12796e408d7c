"""Electrode-contact disturbances applied to raw HD-sEMG before feature extraction (RoHDE, NER 2023).

Every simulator takes a raw multichannel signal x (n_channels, n) float32, the sampling rate fs, the
electrode grid (a grids.Grid, its dict, or a legacy layout name "csl" | "otb"), a config dataclass
and a np.random.Generator, and returns a *new* float32
array (the input is never modified). Amplitudes are given relative to the signal's own scale
(median RMS of the channels that carry signal), so the same config works for volts, microvolts or
the synthetic generator's units.

Geometry: each channel sits at its pixel of the grid (Grid.positions(); for csl/otb channel ch at
row ch % 8, column ch // 8); distances below are Euclidean in electrode pitches on that grid.

  ca         contact artifact: a pen tapped on the skin at 4-5 Hz over the last 3/16 of the channel
             indices (36 of 192: 156..191; 12 of a 64-channel grid). Each strike has its own centre electrode and radius, so the
             set of touched electrodes varies strike to strike; a strike adds a high-amplitude
             transient (1 ms rise, 20 ms exponential decay: most of its power sits below 20 Hz,
             but the sharp onset leaks through the 20-450 Hz band-pass) whose amplitude decays with
             grid distance from the centre (Gaussian of sigma = radius, cut off at the radius).
             The defaults were set so the artifact survives feature extraction: with the first
             ones (5 ms rise, 1-2.5 pitch radius, 15-30x amplitude) the band-pass removed nearly
             all of it (RMS frames of the struck electrodes grew by 1.3x at the 90th percentile,
             and a standard model lost 1 pt); now the median struck frame grows 1.3x and the 90th
             percentile 6.7x (benchmarks/disturb_strength.py prints these).
  lc         loose contact: the last two rows of each physical grid (Grid.blocks) peeled back. The
             issue says "channels 8, 16, 24 ... of each grid" for the last row (1-based, column-major
             within an 8x8 grid); in 0-based indices that is ch % 8 == 7, so the last two rows are
             ch % 8 in {6, 7}, i.e. image rows 6 and 7 of all three 8-column grids of csl/otb (48
             channels; `grids` picks fewer blocks); rows 11-12 of a 13x5 grid.
             On csl the row-7 channels are the masked inter-column channels, so in the image only
             row 6 shows it. The peeled channels get reduced EMG coupling, strong 50 Hz hum plus
             harmonics, slow baseline wander and occasional amplifier saturation (clipped at the rail).
  dead       dead channel(s): zero (plus optional tiny residual noise).
  saturated  saturated channel(s): an offset drives the amplifier into its rail; clipped at +-rail.
  noise      white Gaussian noise added to every channel at a given per-channel SNR (dB).

The ADC's range: the amplifier's output is digitised into int16 counts, so whatever a disturbance
adds saturates there. apply_to_recording (every user: train --augment, robust gan / eval, stream
--disturb) clips the disturbed signal at the recording's full scale, +-32767 counts of the
chain's ADC step (adc_full_scale; symmetric: the chain's int16 check refuses -32768) or the
smaller range a recording declares, and counts the clipped samples per condition (Clipping). The
simulators' own rails (lc, saturated) sit inside that range or are cut by it. DISTURBANCES[name]
.effect says what each condition does to the raw signal (docs/robustness.md prints it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import EdgekitError
from .causal import INT16_MAX, adc_lsb_for
from .features import FeatureConfig, Frames, extract
from .grids import Grid, resolve
from .recording import Recording, Trial

GridLike = Grid | dict | str


# ------------------------------------------------------------------------------ helpers


def _check_signal(x: np.ndarray, grid: GridLike) -> np.ndarray:
    x = np.asarray(x)
    n = resolve(grid).n_channels
    if x.ndim != 2 or x.shape[0] != n:
        raise EdgekitError(f"signal: expected shape ({n}, n_samples), got {x.shape}")
    return x.astype(np.float32, copy=True)


def _scale(x: np.ndarray, grid: GridLike) -> float:
    return signal_scale(x, resolve(grid).channel_mask())


def signal_scale(x: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Median RMS of the channels that carry signal (1.0 if the signal is all zero)."""
    rms = np.sqrt(np.mean(np.square(x.astype(np.float64)), axis=1))
    if mask is not None:
        rms = rms[mask]
    rms = rms[rms > 0]
    return float(np.median(rms)) if rms.size else 1.0


def grid_positions(grid: GridLike) -> np.ndarray:
    """(n_channels, 2) float: (row, column) of each channel on the image."""
    return resolve(grid).positions()


def _pick_channels(
    explicit: Sequence[int] | None, count: int, grid: GridLike, rng: np.random.Generator, what: str
) -> np.ndarray:
    g = resolve(grid)
    if explicit is not None:
        ch = np.asarray(list(explicit), dtype=np.int64)
        if ch.size and (ch.min() < 0 or ch.max() >= g.n_channels):
            raise EdgekitError(
                f"{what}.channels: indices must be in 0..{g.n_channels - 1}, got {list(explicit)}"
            )
        return ch
    active = np.flatnonzero(g.channel_mask())
    if not 0 <= count <= active.size:
        raise EdgekitError(f"{what}.count: expected 0..{active.size}, got {count}")
    return np.sort(rng.choice(active, size=count, replace=False))


# ------------------------------------------------------------------------------ contact artifact


@dataclass
class ContactArtifactConfig:
    rate_hz: tuple[float, float] = (4.0, 5.0)  # strike rate range; intervals drawn from 1/rate
    region_channels: int | None = None  # strikes land on the last this-many channel
    # indices; None: 3/16 of the grid's (36 of 192)
    radius: tuple[float, float] = (2.5, 4.5)  # per-strike spread radius, electrode pitches
    amplitude: tuple[float, float] = (30.0, 60.0)  # peak, in units of the signal scale
    rise_ms: float = 1.0  # rise time constant: an impact is a ~1 ms step
    decay_ms: float = 20.0  # decay time constant (sets the low-pass character)


@dataclass
class Strike:
    start: int  # sample index
    centre: int  # channel index of the strike centre
    channels: np.ndarray  # channel indices touched by this strike
    gains: np.ndarray  # amplitude per touched channel (signal units, signed)


def ca_region(grid: GridLike, cfg: ContactArtifactConfig) -> np.ndarray:
    """The channel indices strikes land on: the last region_channels (default 3/16) of the grid."""
    n = resolve(grid).n_channels
    k = cfg.region_channels if cfg.region_channels is not None else max(1, round(n * 3 / 16))
    if not 1 <= k <= n:
        raise EdgekitError(f"ca.region_channels: expected 1..{n}, got {k}")
    return np.arange(n - k, n)


def contact_strikes(
    n: int,
    fs: float,
    grid: GridLike,
    cfg: ContactArtifactConfig,
    rng: np.random.Generator,
    scale: float = 1.0,
) -> list[Strike]:
    """Draw the strikes of a contact-artifact episode of n samples."""
    pos = grid_positions(grid)
    region = ca_region(grid, cfg)
    rpos = pos[region]
    strikes: list[Strike] = []
    t = rng.uniform(0.0, 1.0 / cfg.rate_hz[1])  # first strike somewhere in the first period
    while True:
        start = int(round(t * fs))
        if start >= n:
            break
        centre = int(rng.choice(region))
        radius = rng.uniform(*cfg.radius)
        d = np.linalg.norm(rpos - pos[centre], axis=1)
        near = d <= radius
        sigma = radius  # broad: the pressed skin drags every electrode of the patch
        amp = rng.uniform(*cfg.amplitude) * scale * rng.choice([-1.0, 1.0])
        gains = amp * np.exp(-0.5 * (d[near] / sigma) ** 2)
        strikes.append(Strike(start, centre, region[near], gains))
        t += 1.0 / rng.uniform(*cfg.rate_hz)
    return strikes


def strike_waveform(n: int, fs: float, rise_ms: float, decay_ms: float) -> np.ndarray:
    """Unit-peak transient: (1 - exp(-t/rise)) * exp(-t/decay), normalised to peak 1."""
    t = np.arange(n) / fs
    w = (1.0 - np.exp(-t / (rise_ms / 1e3))) * np.exp(-t / (decay_ms / 1e3))
    return w / max(w.max(), 1e-12)


def contact_artifact(
    x: np.ndarray, fs: float, grid: GridLike, cfg: ContactArtifactConfig, rng: np.random.Generator
) -> np.ndarray:
    out = _check_signal(x, grid)
    n = out.shape[1]
    scale = _scale(out, grid)
    # 10 decay constants long: the tail is < 5e-5 of the peak when it is cut.
    wave = strike_waveform(int(fs * 10 * cfg.decay_ms / 1e3), fs, cfg.rise_ms, cfg.decay_ms)
    for s in contact_strikes(n, fs, grid, cfg, rng, scale):
        m = min(wave.size, n - s.start)
        out[s.channels, s.start : s.start + m] += (s.gains[:, None] * wave[None, :m]).astype(
            np.float32
        )
    return out


# ------------------------------------------------------------------------------ loose contact


@dataclass
class LooseContactConfig:
    rows: tuple[int, ...] | None = None  # peeled rows within each block; None: the last
    # two (rows 6, 7 of an 8-row grid: ch % 8 on csl)
    grids: tuple[int, ...] | None = None  # which blocks (physical grids) peel; None: all
    coupling: float = 0.2  # remaining EMG gain on peeled channels
    mains_hz: float = 50.0
    hum: float = 5.0  # fundamental amplitude, signal-scale units
    harmonics: tuple[float, ...] = (1.0, 0.5, 0.3, 0.15)  # relative amplitudes of 1st..kth harmonic
    wander: float = 2.0  # baseline wander amplitude, signal-scale units
    wander_hz: tuple[float, float] = (0.1, 1.0)
    rail: float = 15.0  # amplifier rail, signal-scale units (above the hum peak)
    saturation_rate_hz: float = 0.3  # saturation episodes per second per channel
    saturation_ms: tuple[float, float] = (20.0, 100.0)


def peeled_channels(
    grid: GridLike, rows: Sequence[int] | None = None, grids: Sequence[int] | None = None
) -> np.ndarray:
    """Channels of the given rows (within each block; default its last two) of the given blocks
    (default all), sorted; pixels without an electrode are skipped."""
    g = resolve(grid)
    gi = g.index()
    blocks = g.blocks or ((0, 0, g.rows, g.cols),)
    picked = range(len(blocks)) if grids is None else grids
    out: list[int] = []
    for k in picked:
        if not 0 <= k < len(blocks):
            raise EdgekitError(
                f"lc.grids: block {k} does not exist; grid {g.name} has blocks 0..{len(blocks) - 1}"
            )
        r0, c0, h, w = blocks[k]
        rr = list(range(max(0, h - 2), h)) if rows is None else list(rows)
        if any(not 0 <= r < h for r in rr):
            raise EdgekitError(f"lc.rows: {rr} outside the block's rows 0..{h - 1}")
        sub = gi[r0 : r0 + h, c0 : c0 + w][rr]
        out += [int(c) for c in sub.ravel() if c >= 0]
    return np.sort(np.asarray(out, dtype=np.int64))


def loose_contact(
    x: np.ndarray, fs: float, grid: GridLike, cfg: LooseContactConfig, rng: np.random.Generator
) -> np.ndarray:
    out = _check_signal(x, grid)
    n = out.shape[1]
    scale = _scale(out, grid)
    ch = peeled_channels(grid, cfg.rows, cfg.grids)
    t = np.arange(n) / fs
    rail = cfg.rail * scale
    for c in ch:
        y = cfg.coupling * out[c].astype(np.float64)
        # Mains hum: the loose electrode's high impedance picks up 50 Hz and its harmonics.
        g = rng.uniform(0.7, 1.3)
        for k, rel in enumerate(cfg.harmonics, start=1):
            y += (
                g
                * cfg.hum
                * scale
                * rel
                * np.sin(2 * np.pi * cfg.mains_hz * k * t + rng.uniform(0, 2 * np.pi))
            )
        # Baseline wander: a few slow sinusoids (half-cell potential drift as the contact moves).
        for _ in range(3):
            y += (
                cfg.wander
                * scale
                / 3
                * np.sin(2 * np.pi * rng.uniform(*cfg.wander_hz) * t + rng.uniform(0, 2 * np.pi))
            )
        # Occasional saturation: a step large enough to drive the amplifier into its rail.
        n_ep = rng.poisson(cfg.saturation_rate_hz * n / fs)
        for _ in range(n_ep):
            a = int(rng.integers(0, n))
            b = min(n, a + int(rng.uniform(*cfg.saturation_ms) * fs / 1e3))
            y[a:b] += rng.choice([-1.0, 1.0]) * 3 * rail
        out[c] = np.clip(y, -rail, rail).astype(np.float32)
    return out


# ------------------------------------------------------------------------------ basics


@dataclass
class DeadChannelConfig:
    count: int = 4  # random channels among those carrying signal
    channels: tuple[int, ...] | None = None  # or exactly these
    residual: float = 0.0  # residual noise RMS, signal-scale units


def dead_channels(
    x: np.ndarray, fs: float, grid: GridLike, cfg: DeadChannelConfig, rng: np.random.Generator
) -> np.ndarray:
    out = _check_signal(x, grid)
    scale = _scale(out, grid)
    ch = _pick_channels(cfg.channels, cfg.count, grid, rng, "dead")
    out[ch] = 0.0
    if cfg.residual > 0:
        out[ch] = (rng.standard_normal((ch.size, out.shape[1])) * cfg.residual * scale).astype(
            np.float32
        )
    return out


@dataclass
class SaturatedChannelConfig:
    count: int = 4
    channels: tuple[int, ...] | None = None
    rail: float = 15.0  # amplifier rail, signal-scale units
    offset: float = 3.0  # DC offset, in rails (> 1: pinned at the rail)


def saturated_channels(
    x: np.ndarray, fs: float, grid: GridLike, cfg: SaturatedChannelConfig, rng: np.random.Generator
) -> np.ndarray:
    out = _check_signal(x, grid)
    scale = _scale(out, grid)
    ch = _pick_channels(cfg.channels, cfg.count, grid, rng, "saturated")
    rail = cfg.rail * scale
    sign = rng.choice([-1.0, 1.0], size=(ch.size, 1))
    out[ch] = np.clip(out[ch] + sign * cfg.offset * rail, -rail, rail).astype(np.float32)
    return out


@dataclass
class NoiseConfig:
    snr_db: float = 10.0  # per-channel signal-to-noise ratio


def broadband_noise(
    x: np.ndarray, fs: float, grid: GridLike, cfg: NoiseConfig, rng: np.random.Generator
) -> np.ndarray:
    out = _check_signal(x, grid)
    p = np.mean(np.square(out.astype(np.float64)), axis=1, keepdims=True)
    std = np.sqrt(p / 10 ** (cfg.snr_db / 10))  # zero-power (dead/masked) channels stay zero
    out += (rng.standard_normal(out.shape) * std).astype(np.float32)
    return out


# ------------------------------------------------------------------------------ registry


@dataclass(frozen=True)
class Disturbance:
    name: str
    description: str
    config: type
    fn: Callable[..., np.ndarray]
    effect: str = ""  # what it does to the raw signal, with the default config (for the docs)

    def apply(
        self,
        x: np.ndarray,
        fs: float,
        grid: GridLike,
        rng: np.random.Generator,
        cfg: Any | None = None,
    ) -> np.ndarray:
        return self.fn(x, fs, grid, cfg if cfg is not None else self.config(), rng)


DISTURBANCES: dict[str, Disturbance] = {
    "ca": Disturbance(
        "ca",
        "contact artifact: pen tapped at 4-5 Hz over the last ~36 electrodes",
        ContactArtifactConfig,
        contact_artifact,
        "Adds a strike every 0.2-0.25 s (4-5 Hz) to the electrodes of the last 3/16 of the "
        "channel indices (36 of 192): each strike has its own centre and a radius of 2.5-4.5 "
        "pitches, a peak of 30-60x the trial's median channel RMS decaying as a Gaussian of the "
        "distance, a 1 ms rise and a 20 ms decay. Peaks beyond the ADC's range are clipped at "
        "full scale, as the amplifier saturates.",
    ),
    "lc": Disturbance(
        "lc",
        "loose contact: last two rows of each grid peeled (hum, wander, clipping)",
        LooseContactConfig,
        loose_contact,
        "Replaces the last two rows of each physical grid (48 channels of csl/otb) by 0.2x their "
        "EMG plus 50 Hz hum with harmonics at 5x the median channel RMS, baseline wander (0.1-1 "
        "Hz, 2x) and saturation episodes (0.3 per second, 20-100 ms) that pin the channel at the "
        "amplifier's rail of 15x the median RMS, itself cut at the ADC's full scale.",
    ),
    "dead": Disturbance(
        "dead",
        "dead channels (zero)",
        DeadChannelConfig,
        dead_channels,
        "Sets 4 random channels carrying signal to zero.",
    ),
    "saturated": Disturbance(
        "saturated",
        "saturated channels (clipped at the rail)",
        SaturatedChannelConfig,
        saturated_channels,
        "Pins 4 random channels at the amplifier's rail (15x the median channel RMS, within the "
        "ADC's range), their EMG lost.",
    ),
    "noise": Disturbance(
        "noise",
        "white noise at a given SNR (dB)",
        NoiseConfig,
        broadband_noise,
        "Adds white Gaussian noise to every channel at 10 dB below its own power.",
    ),
}


def parse_disturbances(spec: str | Sequence[str]) -> list[Disturbance]:
    """ "ca,lc" (or ["ca", "lc"]) -> the registry entries, in order. Unknown names -> EdgekitError."""
    names = [s.strip().lower() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [s for s in names if s]
    if not names:
        raise EdgekitError(f"--disturb: no disturbance named; known: {', '.join(DISTURBANCES)}")
    unknown = [s for s in names if s not in DISTURBANCES]
    if unknown:
        raise EdgekitError(
            f"--disturb: unknown disturbance(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(DISTURBANCES)}"
        )
    return [DISTURBANCES[s] for s in names]


@dataclass
class Clipping:
    """How much of a disturbed condition the ADC's range cut (samples = channels x time)."""

    full_scale: float  # signal units: |sample| is clipped to this
    samples: int = 0  # of the disturbed trials
    changed: int = 0  # samples the disturbance changed
    clipped: int = 0  # samples beyond full scale, set to +-full scale
    trials: int = 0
    trials_clipped: int = 0  # trials with at least one clipped sample

    def count(self, clean: np.ndarray, raw: np.ndarray, out: np.ndarray) -> None:
        n_clip = int(np.count_nonzero(np.abs(raw) > self.full_scale))
        self.samples += int(out.size)
        self.changed += int(np.count_nonzero(out != clean))
        self.clipped += n_clip
        self.trials += 1
        self.trials_clipped += int(n_clip > 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "fraction": self.clipped / self.samples if self.samples else 0.0,
            "fraction_of_changed": self.clipped / self.changed if self.changed else 0.0,
        }


def adc_full_scale(rec: Recording, adc_lsb: float | None = None) -> float:
    """The largest |sample| the recording's ADC delivers, in signal units: 32767 counts of
    adc_lsb (the feature chain's ADC step; None: the step causal.adc_lsb_for infers from the
    clean recording, as training does), or the smaller range the recording declares in
    rec.extra["adc_full_scale"] (signal units)."""
    lsb = adc_lsb if adc_lsb is not None else adc_lsb_for([t.signal for t in rec.trials])
    full = INT16_MAX * float(lsb)
    declared = (rec.extra or {}).get("adc_full_scale")
    if declared is not None:
        if not (isinstance(declared, (int, float)) and declared > 0):
            raise EdgekitError(
                f"{rec.source}: adc_full_scale: expected a number > 0 (signal units), "
                f"got {declared!r}"
            )
        full = min(full, float(declared))
    return full


def apply_disturbances(
    x: np.ndarray,
    fs: float,
    grid: GridLike,
    spec: str | Sequence[str],
    rng: np.random.Generator,
    configs: dict[str, Any] | None = None,
    full_scale: float | None = None,
    clipping: Clipping | None = None,
) -> np.ndarray:
    """Apply the named disturbances in order (configs: name -> config overriding the defaults);
    with full_scale, clip the result at +-full_scale as the ADC does (counted into clipping)."""
    grid = resolve(grid)
    clean = _check_signal(x, grid)
    out = clean
    for d in parse_disturbances(spec):
        out = d.apply(out, fs, grid, rng, (configs or {}).get(d.name))
    if full_scale is None:
        return out
    cut = np.clip(out, -full_scale, full_scale).astype(np.float32)
    if clipping is not None:
        clipping.count(clean, out, cut)
    return cut


def apply_to_recording(
    rec: Recording,
    names: str | Sequence[str],
    seed: int,
    sessions: Sequence[int] | None = None,
    configs: dict[str, Any] | None = None,
    adc_lsb: float | None = None,
) -> Recording:
    """A new Recording whose trials (of `sessions`, default all) carry the named disturbances,
    clipped at the ADC's full scale (adc_full_scale(rec, adc_lsb)); extra["disturb"] says
    what was applied and how much was clipped (Clipping.to_dict()).

    Trials of other sessions are copied unchanged. Each trial gets its own generator derived from
    (seed, trial position), so the result does not depend on which sessions are selected.
    """
    ds = parse_disturbances(names)
    tag = "+".join(d.name for d in ds)
    clip = Clipping(adc_full_scale(rec, adc_lsb))
    trials: list[Trial] = []
    for i, tr in enumerate(rec.trials):
        if sessions is not None and tr.session not in sessions:
            trials.append(dataclasses.replace(tr, signal=tr.signal.copy()))
            continue
        rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
        sig = apply_disturbances(
            tr.signal, rec.fs, rec.grid, [d.name for d in ds], rng, configs, clip.full_scale, clip
        )
        trials.append(dataclasses.replace(tr, signal=sig, source=f"{tr.source} [disturb:{tag}]"))
    info = {
        "names": [d.name for d in ds],
        "seed": seed,
        "sessions": None if sessions is None else list(sessions),
        "clipping": clip.to_dict(),
    }
    return dataclasses.replace(
        rec,
        trials=trials,
        label_names=list(rec.label_names),
        source=f"{rec.source} [disturb:{tag} seed={seed}]",
        extra={**(rec.extra or {}), "disturb": info},
    )


# ------------------------------------------------------------------- disturbed training copies

_COPY_SEED_BASE = 17  # disturbed training copies: seed * 1000 + 17 + item index


def parse_conditions(conditions: Sequence[str] | str) -> list[str]:
    """Disturbance conditions, each a comma list of disturbances applied together ("ca,lc" is one
    condition with both; ["ca", "lc"] two conditions), normalised to "ca,lc" spelling. The same
    meaning as `synth --disturb` and the CLI's --disturb/--augment. Unknown names -> EdgekitError
    listing the known ones."""
    if isinstance(conditions, str):
        conditions = [conditions]
    out = [",".join(d.name for d in parse_disturbances(c)) for c in conditions if str(c).strip()]
    if not out:
        raise EdgekitError(
            f"--disturb/--augment: no disturbance named; known: {', '.join(DISTURBANCES)}"
        )
    return out


def disturbed_copies(
    rec: Recording,
    conditions: Sequence[str],
    fcfg: FeatureConfig,
    seed: int,
    sessions: Sequence[int] | None,
) -> list[tuple[str, Frames, dict[str, Any]]]:
    """One disturbed copy of the recording per condition (trials of `sessions` disturbed and
    clipped at the ADC's range, the others unchanged), as (condition, raw feature frames in the
    order extract(rec) gives, Clipping.to_dict()). `train --augment` and `robust gan` both use
    these (same seeds, so the same disturbed signals)."""
    fcfg = fcfg.for_recording(rec)  # the clean recording's ADC step, whatever the copy holds
    out = []
    for j, cond in enumerate(parse_conditions(conditions)):
        drec = apply_to_recording(
            rec,
            cond.split(","),
            seed=seed * 1000 + _COPY_SEED_BASE + j,
            sessions=sessions,
            adc_lsb=fcfg.adc_lsb,
        )
        out.append((cond, extract(drec, fcfg), drec.extra["disturb"]["clipping"]))
    return out
