"""Per-channel feature frames from recordings, normalisation, and the grid image.

Per trial: band-pass (Butterworth; optional powerline notch at notch_hz and its harmonics inside
the band), then frames every hop_ms. The band is band_hz, or by default 20 Hz to 450 Hz capped at
0.45 x the sampling rate (20-90 Hz at 200 Hz, 20-450 Hz from 1000 Hz up): a Butterworth edge must
stay clear of Nyquist, so a high edge above 0.45 x fs is refused, not moved. Window and hop stay in
ms and become whole samples at the data's rate. filter "causal" (default) runs the chain a device runs
(causal.py: float32 biquads from zero state on the int16 counts, window = n_blocks whole hops,
the first warmup_ms of frames dropped); "zero-phase" is the older offline chain (per-trial mean
removed, sosfiltfilt in float64), kept for comparison. Frames:
  kind "rms": RMS of each channel over the window_ms window ending at the frame (default);
  kind "raw": the band-passed sample value of each channel at that same instant (the seed's
              per-instant frames, subsampled by the hop).
A frame never spans two trials, so splits by trial stay clean.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from scipy import signal as sps

from ..errors import EdgekitError
from .grids import Grid, resolve
from .recording import Recording

KINDS = ("rms", "raw")
FILTERS = ("causal", "zero-phase")
DEFAULT_BAND_HZ = (20.0, 450.0)  # the band when band_hz is None, its high edge capped as below
MAX_HIGH_EDGE = 0.45  # the band's high edge is at most this fraction of the sampling rate


@dataclass
class FeatureConfig:
    window_ms: float = 150.0
    hop_ms: float = 50.0
    kind: str = "rms"
    band_hz: tuple[float, float] | None = None  # None: DEFAULT_BAND_HZ, high edge <= 0.45 fs
    notch_hz: float | None = None
    filter_order: int = 4
    filter: str = "causal"
    adc_lsb: float | None = None  # signal units per int16 count; None: causal.adc_lsb_for(data)
    warmup_ms: float = 100.0  # causal: frames whose window starts this soon are dropped

    def __post_init__(self) -> None:
        if self.band_hz is not None:
            if len(self.band_hz) != 2:
                raise EdgekitError(
                    f"features.band_hz: expected [low, high] in Hz, got {self.band_hz}"
                )
            self.band_hz = (float(self.band_hz[0]), float(self.band_hz[1]))
        if self.filter not in FILTERS:
            raise EdgekitError(
                f"features.filter: unknown filter {self.filter!r}; known: {', '.join(FILTERS)}"
            )
        if self.kind not in KINDS:
            raise EdgekitError(
                f"features.kind: unknown feature kind {self.kind!r}; known: {', '.join(KINDS)}"
            )
        if not (self.window_ms > 0 and self.hop_ms > 0):
            raise EdgekitError(
                f"features: window_ms and hop_ms must be > 0, got {self.window_ms} / {self.hop_ms}"
            )
        if self.band_hz is not None and not 0 < self.band_hz[0] < self.band_hz[1]:
            raise EdgekitError(f"features.band_hz: expected 0 < low < high, got {self.band_hz}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["band_hz"] = None if self.band_hz is None else list(self.band_hz)
        return d

    def band(self, fs: float, where: str = "features") -> tuple[float, float]:
        """The band-pass edges at sample rate fs: band_hz, or the default for that rate; a high
        edge above MAX_HIGH_EDGE x fs (or a default band that leaves no room) is an error."""
        top = MAX_HIGH_EDGE * fs
        lo, hi = self.band_hz or (DEFAULT_BAND_HZ[0], min(DEFAULT_BAND_HZ[1], top))
        if hi > top or not 0 < lo < hi:
            given = "--band / features.band_hz" if self.band_hz else "the default band"
            raise EdgekitError(
                f"{where}: {given} {lo:g}-{hi:g} Hz cannot be served at {fs:g} Hz: the high "
                f"edge must be at most {MAX_HIGH_EDGE:g} x the sampling rate ({top:g} Hz; "
                f"Nyquist {fs / 2:g} Hz) and above the low edge; give --band LOW,HIGH within it"
            )
        return lo, hi

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise EdgekitError(f"features: unknown fields {unknown}; known: {sorted(known)}")
        if "filter" not in d:  # records written before the causal chain were zero-phase
            d = {**d, "filter": "zero-phase"}
        return cls(**d)

    def for_recording(self, rec: Recording) -> FeatureConfig:
        """This config with what it left open fixed from the recording: the band at its rate
        and (causal) the ADC step, so the record says what the device must run."""
        d = {**asdict(self), "band_hz": self.band(rec.fs, rec.source)}
        if self.filter == "causal" and self.adc_lsb is None:
            from .causal import adc_lsb_for

            d["adc_lsb"] = adc_lsb_for([t.signal for t in rec.trials], rec.adc_step)
        return FeatureConfig(**d)

    def chain_spec(self, fs: float, where: str = "features"):
        """The causal chain's constants at sample rate fs (see causal.py)."""
        from .causal import make_spec

        if self.adc_lsb is None:
            raise EdgekitError(f"{where}: features.adc_lsb is not set (for_recording() fixes it)")
        return make_spec(
            fs, _filters(self, fs, where), self.window_ms, self.hop_ms, self.adc_lsb, self.warmup_ms
        )

    def samples(self, fs: float) -> tuple[int, int]:
        """(window, hop) in samples at fs (causal: the window is a whole number of hops)."""
        hop = max(1, int(round(self.hop_ms * fs / 1000.0)))
        if self.filter == "causal":
            return hop * max(1, int(round(self.window_ms / self.hop_ms))), hop
        return max(1, int(round(self.window_ms * fs / 1000.0))), hop


@dataclass
class Frames:
    x: np.ndarray  # float32 (N, n_channels) per-channel values
    y: np.ndarray  # int64 (N,)
    trial_key: np.ndarray  # int64 (N,), unique per (subject, session, label, trial)
    session: np.ndarray  # int64 (N,)
    subject: np.ndarray  # int64 (N,)

    def __len__(self) -> int:
        return len(self.y)


def trial_key(subject: int, session: int, label: int, trial: int) -> int:
    """A readable unique key: SSSS EEE LLL TTTTT (subject, session, label, trial)."""
    return ((int(subject) * 1000 + int(session)) * 1000 + int(label)) * 100000 + int(trial)


def _filters(cfg: FeatureConfig, fs: float, where: str) -> list[np.ndarray]:
    lo, hi = cfg.band(fs, where)
    nyq = fs / 2.0
    sos = [sps.butter(cfg.filter_order, [lo, hi], btype="bandpass", fs=fs, output="sos")]
    if cfg.notch_hz:
        f0 = float(cfg.notch_hz)
        k = 1
        while k * f0 < min(hi, nyq):
            b, a = sps.iirnotch(k * f0, Q=30.0, fs=fs)
            sos.append(sps.tf2sos(b, a))
            k += 1
    return sos


def extract(rec: Recording, cfg: FeatureConfig | None = None) -> Frames:
    """Frames of every trial of the recording (band-passed per trial)."""
    cfg = (cfg or FeatureConfig()).for_recording(rec)
    win, hop = cfg.samples(rec.fs)
    sos_list = _filters(cfg, rec.fs, rec.source)
    spec = cfg.chain_spec(rec.fs, rec.source) if cfg.filter == "causal" else None
    if not rec.trials:
        raise EdgekitError(f"{rec.source}: the recording has no trials")
    n_ch = rec.grid.n_channels
    xs, ys, keys, sess, subj = [], [], [], [], []
    pending: list[tuple[int, np.ndarray]] = []  # causal: (index into xs, int16 counts)
    seen: dict[int, str] = {}
    for t in rec.trials:
        where = f"{t.source}: trial {t.trial} (label {t.label}, session {t.session})"
        s = np.asarray(t.signal)
        if s.ndim != 2 or s.shape[0] != n_ch:
            raise EdgekitError(
                f"{where}: expected {n_ch} channels x samples (grid "
                f"{rec.grid.name or rec.layout}), got shape {s.shape}"
            )
        n = s.shape[1]
        if n < win:
            raise EdgekitError(
                f"{where}: {n} samples ({1000.0 * n / rec.fs:.1f} ms) is shorter than one "
                f"feature window of {win} samples ({cfg.window_ms:g} ms)"
            )
        if not np.isfinite(s).all():
            raise EdgekitError(f"{where}: contains NaN/Inf samples; expected finite values")
        key = trial_key(t.subject, t.session, t.label, t.trial)
        if key in seen:
            raise EdgekitError(
                f"{where}: same (subject, session, label, trial) as a trial of {seen[key]}"
            )
        seen[key] = t.source
        if spec is not None:
            from .causal import frame_ends, to_counts

            pending.append((len(xs), to_counts(s, spec.adc_lsb, where)))
            m = len(frame_ends(spec, n))
            if m == 0:
                raise EdgekitError(
                    f"{where}: {n} samples ({1000.0 * n / rec.fs:.1f} ms) leave no frame "
                    f"after the {cfg.warmup_ms:g} ms warm-up and one "
                    f"{cfg.window_ms:g} ms window"
                )
            xs.append(None)
        else:
            f = _zero_phase(s, sos_list, cfg, win, hop)
            xs.append(f.astype(np.float32))
            m = len(f)
        ys.append(np.full(m, t.label, np.int64))
        keys.append(np.full(m, key, np.int64))
        sess.append(np.full(m, t.session, np.int64))
        subj.append(np.full(m, t.subject, np.int64))
    if pending:
        from .causal import batch_features

        for (i, _), f in zip(
            pending, batch_features([c for _, c in pending], spec, cfg.kind), strict=True
        ):
            xs[i] = f
    return Frames(
        x=np.concatenate(xs),
        y=np.concatenate(ys),
        trial_key=np.concatenate(keys),
        session=np.concatenate(sess),
        subject=np.concatenate(subj),
    )


def _zero_phase(
    s: np.ndarray, sos_list: list[np.ndarray], cfg: FeatureConfig, win: int, hop: int
) -> np.ndarray:
    """The offline chain: per-trial mean removed, sosfiltfilt in float64."""
    n = s.shape[1]
    z = s.astype(np.float64)
    z = z - z.mean(axis=1, keepdims=True)  # (not causal: the mean is the whole trial's)
    for sos in sos_list:
        # Zero-phase; short trials get a shorter pad than scipy's default would require.
        z = sps.sosfiltfilt(sos, z, axis=1, padlen=min(n - 1, 3 * (2 * len(sos) + 1)))
    ends = np.arange(win, n + 1, hop)  # exclusive end of each window
    if cfg.kind == "rms":
        cs = np.concatenate([np.zeros((len(z), 1)), np.cumsum(z * z, axis=1)], axis=1)
        f = np.sqrt(np.maximum(cs[:, ends] - cs[:, ends - win], 0.0) / win).T
    else:
        f = z[:, ends - 1].T
    return f


@dataclass
class Normalizer:
    mean: np.ndarray  # (n_channels,) float32
    std: np.ndarray  # (n_channels,) float32
    mask: np.ndarray | None = None  # (n_channels,) bool; None = every channel carries signal

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, np.float32).reshape(-1)
        self.std = np.asarray(self.std, np.float32).reshape(-1)
        if self.mean.size == 0 or self.mean.shape != self.std.shape:
            raise EdgekitError(
                f"normalizer: expected one mean and one std per channel, got "
                f"{self.mean.shape} / {self.std.shape}"
            )
        if self.mask is not None:
            self.mask = np.asarray(self.mask, bool).reshape(-1)
            if self.mask.shape != self.mean.shape:
                raise EdgekitError(
                    f"normalizer: channel mask has {self.mask.size} entries for "
                    f"{self.mean.size} channels"
                )

    @classmethod
    def fit(cls, x_train: np.ndarray, mask: np.ndarray | None = None) -> Normalizer:
        """Per-channel mean/std of the training frames only; masked channels get mean 0, std 1."""
        x = np.asarray(x_train, np.float64)
        if x.ndim != 2 or len(x) == 0 or (mask is not None and x.shape[1] != len(mask)):
            n = "n_channels" if mask is None else len(mask)
            raise EdgekitError(f"normalizer: expected training frames (N>0, {n}), got {x.shape}")
        m = np.ones(x.shape[1], bool) if mask is None else np.asarray(mask, bool)
        mean, std = x.mean(axis=0), x.std(axis=0)
        std = np.where(std > 0, std, 1.0)  # a dead (constant) channel: no scaling
        mean = np.where(m, mean, 0.0)
        std = np.where(m, std, 1.0)
        return cls(mean.astype(np.float32), std.astype(np.float32), m.copy())

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(N, n_channels) -> normalised float32; masked channels set to 0."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.mean.size:
            raise EdgekitError(f"normalizer: expected frames (N, {self.mean.size}), got {x.shape}")
        out = ((np.asarray(x, np.float32) - self.mean) / self.std).astype(np.float32)
        if self.mask is not None:
            out[:, ~self.mask] = 0.0
        return out


def to_images(x: np.ndarray, grid: Grid | dict | str) -> np.ndarray:
    """(N, n_channels) per-channel values -> (N, 1, rows, cols) float32 images on the grid (a Grid,
    its dict, or a legacy layout name); pixels without an electrode are 0."""
    return np.ascontiguousarray(resolve(grid).to_images(x), dtype=np.float32)
