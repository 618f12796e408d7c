"""The causal feature chain: defined once, run by training (the default) and by the firmware.

From raw int16 ADC samples to the model's int8 input frame, in float32, in this exact order of
operations (firmware/dsp/ek_features.c performs the same IEEE float32 operations one by one, built
with -ffp-contract=off so no multiply-add is fused; both therefore give bit-identical frames):

  x   = float32(raw) * adc_lsb                                   signal units
  per biquad section s (Direct Form II transposed; b0 b1 b2 a1 a2 from scipy's Butterworth sos,
  rounded to float32):
        y      = b0*x + z0
        z0     = (b1*x - a1*y) + z1
        z1     = b2*x - a2*y
        x      = y
  acc = acc + x*x                                                per channel, over one hop
  every hop (hop samples):  part[k] = acc; acc = 0
  once n_blocks hops are in: sum = ((part[k-nb+1] + part[k-nb+2]) + ...) + part[k]   (oldest first)
        rms  = sqrt(sum / float32(n_blocks * hop))               the window ends at the frame
        v    = (rms - mean[c]) / std[c]; masked channels 0        stored normalisation
        q    = clamp(round_half_away(v / in_scale) + zero_point, -128, 127)   (quantspec.quantize_input)

The window is a whole number of hops, so a device keeps n_blocks partial sums per channel instead
of a window of samples. Filter state starts at zero when a stream (or a training trial) starts; a
trial's first `warmup_hops` frames are not used for training, so the band-pass's start transient
(a DC offset steps into the high-pass at t = 0) is not learned as a gesture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import EdgekitError
from ..quantspec import quantize_input

INT16_MAX = 32767


@dataclass(frozen=True)
class ChainSpec:
    """Every constant of the chain that the firmware needs (model_meta.h's feature section)."""

    fs: float
    sos: np.ndarray  # (sections, 5) float32: b0 b1 b2 a1 a2 (a0 = 1)
    hop: int  # samples per hop
    n_blocks: int  # hops per window
    adc_lsb: float  # signal units per int16 count (a float32 value)
    warmup_hops: int  # frames at a stream / trial start that training does not use

    @property
    def window(self) -> int:
        return self.hop * self.n_blocks

    def describe(self) -> dict:
        return {
            "fs": self.fs,
            "hop": self.hop,
            "window": self.window,
            "n_blocks": self.n_blocks,
            "hop_ms": 1000.0 * self.hop / self.fs,
            "window_ms": 1000.0 * self.window / self.fs,
            "sections": int(len(self.sos)),
            "adc_lsb": self.adc_lsb,
            "warmup_hops": self.warmup_hops,
        }


def sos_float32(sos_list: list[np.ndarray]) -> np.ndarray:
    """scipy sos arrays (b0 b1 b2 a0 a1 a2, a0 = 1) -> (sections, 5) float32 b0 b1 b2 a1 a2."""
    sos = np.concatenate(sos_list, axis=0)
    if not np.allclose(sos[:, 3], 1.0):
        raise EdgekitError("features: biquad sections must have a0 = 1")
    return np.ascontiguousarray(sos[:, [0, 1, 2, 4, 5]], dtype=np.float32)


def make_spec(
    fs: float,
    sos_list: list[np.ndarray],
    window_ms: float,
    hop_ms: float,
    adc_lsb: float,
    warmup_ms: float,
) -> ChainSpec:
    hop = max(1, int(round(hop_ms * fs / 1000.0)))
    n_blocks = max(1, int(round(window_ms / hop_ms)))
    warm = int(math.ceil(warmup_ms * fs / 1000.0 / hop)) if warmup_ms > 0 else 0
    if not (adc_lsb > 0 and math.isfinite(adc_lsb)):
        raise EdgekitError(f"features.adc_lsb: expected a finite value > 0, got {adc_lsb}")
    return ChainSpec(
        float(fs), sos_float32(sos_list), hop, n_blocks, float(np.float32(adc_lsb)), warm
    )


def adc_lsb_for(signals: list[np.ndarray], step: float | None = None) -> float:
    """The ADC step the chain assumes when the config gives none: the recording's own ADC step
    `step` (signal units per count) when every sample is a whole number of steps in int16 range
    (then the device gets the file's counts as they are); 1.0 when every sample is an integer in
    int16 range (the data are ADC counts, as CSL and the synthetic set store them); else the
    power of two that puts the largest |sample| at or below a quarter of int16 range."""
    peak, integral, on_step = 0.0, True, step is not None and step > 0
    for s in signals:
        a = np.asarray(s)
        a = a[np.isfinite(a)]  # NaN/Inf: extract() rejects the trial with its name
        if a.size:
            peak = max(peak, float(np.max(np.abs(a))))
            integral = integral and bool(np.all(a == np.round(a)))
            if on_step:
                k = a.astype(np.float64) / step
                on_step = bool(np.all(np.abs(k - np.round(k)) <= 1e-3))
    if on_step and peak / step <= INT16_MAX + 0.5:
        return float(np.float32(step))
    if integral and peak <= INT16_MAX:
        return 1.0
    if peak == 0:
        return 1.0
    return float(2.0 ** math.ceil(math.log2(peak / (INT16_MAX / 4.0))))


def to_counts(signal: np.ndarray, adc_lsb: float, where: str) -> np.ndarray:
    """Signal units -> int16 counts (what the amplifier would have sent); refuses clipping."""
    q = np.round(np.asarray(signal, np.float64) / adc_lsb)
    if np.abs(q).max(initial=0) > INT16_MAX:
        raise EdgekitError(
            f"{where}: samples reach {np.abs(q).max():.0f} counts at adc_lsb "
            f"{adc_lsb:g}; expected at most {INT16_MAX} (int16)"
        )
    return q.astype(np.int16)


class CausalChain:
    """The filter + RMS part of the chain over V independent signals (channels, or trials x
    channels), fed block by block. State is bounded: 2 floats per section per signal, one
    accumulator and n_blocks partial sums per signal."""

    def __init__(self, spec: ChainSpec, n_signals: int):
        self.spec = spec
        self.v = int(n_signals)
        self.reset()

    def reset(self) -> None:
        s = self.spec
        self.z = np.zeros((len(s.sos), 2, self.v), np.float32)
        self.acc = np.zeros(self.v, np.float32)
        self.part = np.zeros((s.n_blocks, self.v), np.float32)
        self.in_hop = 0  # samples into the current hop
        self.hops = 0  # completed hops since reset

    def push(self, counts: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """counts: (V, n) int16. Returns, for each frame completed by this block (one per hop
        once n_blocks hops are in), (rms, y): the RMS over the window ending there and the
        filtered value of its last sample (the 'raw' feature kind), (V,) float32 each."""
        counts = np.asarray(counts)
        if counts.ndim != 2 or counts.shape[0] != self.v:
            raise EdgekitError(f"causal chain: expected ({self.v}, n) samples, got {counts.shape}")
        s = self.spec
        lsb = np.float32(s.adc_lsb)
        coef = [tuple(np.float32(c) for c in row) for row in s.sos]
        z, acc = self.z, self.acc
        inv = np.float32(s.window)
        xs = counts.astype(np.float32) * lsb  # exact: |count| < 2^24 times a float32
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for i in range(counts.shape[1]):
            x = xs[:, i]
            for k, (b0, b1, b2, a1, a2) in enumerate(coef):
                y = b0 * x + z[k, 0]
                z[k, 0] = (b1 * x - a1 * y) + z[k, 1]
                z[k, 1] = b2 * x - a2 * y
                x = y
            acc = acc + x * x
            self.in_hop += 1
            if self.in_hop == s.hop:
                self.part[self.hops % s.n_blocks] = acc
                acc = np.zeros(self.v, np.float32)
                self.in_hop = 0
                self.hops += 1
                if self.hops >= s.n_blocks:
                    tot = np.zeros(self.v, np.float32)
                    for j in range(s.n_blocks):
                        tot = tot + self.part[(self.hops + j) % s.n_blocks]
                    out.append((np.sqrt(tot / inv), x.copy()))
        self.acc = acc
        return out


def frame_ends(spec: ChainSpec, n_samples: int, warmup: bool = True) -> np.ndarray:
    """Exclusive end sample of each frame a chain started at sample 0 emits over n_samples."""
    first = spec.n_blocks + (spec.warmup_hops if warmup else 0)
    return np.arange(first, n_samples // spec.hop + 1) * spec.hop


def trial_features(counts: np.ndarray, spec: ChainSpec, kind: str) -> np.ndarray:
    """(C, n) int16 trial -> (frames, C) float32 features of the frames after warm-up."""
    frames = [
        rms if kind == "rms" else y for rms, y in CausalChain(spec, counts.shape[0]).push(counts)
    ]
    f = np.stack(frames) if frames else np.zeros((0, counts.shape[0]), np.float32)
    return f[spec.warmup_hops :]


def batch_features(trials: list[np.ndarray], spec: ChainSpec, kind: str) -> list[np.ndarray]:
    """trial_features of many (C, n) int16 trials, trials of equal length filtered together
    (one chain over trials x channels signals: the same per-signal arithmetic, fewer Python
    steps)."""
    out: list[np.ndarray | None] = [None] * len(trials)
    by_len: dict[tuple[int, int], list[int]] = {}
    for i, t in enumerate(trials):
        by_len.setdefault(t.shape, []).append(i)
    for (c, _n), idx in by_len.items():
        f = trial_features(np.concatenate([trials[i] for i in idx], axis=0), spec, kind)
        for j, i in enumerate(idx):
            out[i] = np.ascontiguousarray(f[:, j * c : (j + 1) * c])
    return out  # type: ignore[return-value]


def quantize_frame(
    rms: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    mask: np.ndarray,
    pixels: np.ndarray,
    scale: float,
    zero_point: int,
) -> np.ndarray:
    """(N, C) RMS -> (N, H*W) int8 model input: normalise, zero masked channels, place on the
    grid (pixel -> channel, -1 = no electrode: 0), quantize as quantspec.quantize_input does."""
    v = (np.asarray(rms, np.float32) - mean.astype(np.float32)) / std.astype(np.float32)
    v[:, ~np.asarray(mask, bool)] = 0.0
    pad = np.concatenate([v, np.zeros((len(v), 1), np.float32)], axis=1)
    img = pad[:, np.asarray(pixels, np.int64)]
    n = len(img)
    return quantize_input(img.reshape(n, 1, 1, -1), scale, zero_point).reshape(n, -1)
