"""Synthetic HD-sEMG, written to disk in a layout a real loader reads.

`grid` chooses the electrodes:
  "csl" (default)   the CSL-HDEMG array (8 x 24, bipolar, every 8th channel across the gap), written
                    as subject<S>/session<M>/gest<G>.mat and read by the CSL loader;
  electrode codes   one or more OT Bioelettronica grids side by side, e.g. "GR10MM0808" (8 x 8, 64
                    channels), "GR08MM1305" (13 x 5, 64 channels, one corner empty),
                    "GR10MM0808+GR10MM0808" (8 x 16): monopolar channels in the electrode table's
                    export order (electrodes.py), written as OTBiolab+ exports
                    session<M>/SSS-GGG-RRR.mat (otb_write.py) and read by the OTB loader.

Model (per subject, deterministic by seed):
  * a forearm as a cylinder, 24 electrode pitches around, with the grid's electrodes at their
    pixels (row along the forearm, row 0 proximal; column around it): the CSL array wraps all the
    way round; narrower grids cover part of it. n_sources muscle sources at random angular
    (column, wrapping around) and axial (row) positions, each with its own spatial spread; under a
    grid narrower than the forearm they lie beneath its columns (+-2 pitches), so every gesture
    is seen;
  * each gesture activates the sources with its own weights; gestures come in related groups
    that share a fraction `overlap` of their pattern (so related gestures are confusable);
  * per trial: every active source emits band-limited (20-450 Hz) stochastic activity under an
    onset / plateau / offset envelope; the overall force varies from trial to trial
    (log-normal, `force_var`) and each source's share jitters (`pattern_jitter`);
  * per session: the electrode array sits rotated around the forearm by a fraction of a column
    (normal, `shift_std` columns) and shifted slightly along it; electrode gains change
    (`gain_var`); the powerline hum (50 Hz + harmonics) has new per-channel amplitudes/phases;
  * sensor noise on every channel; csl: bipolar channels are differences of neighbouring
    electrodes along a column; every 8th channel (the bipolar pair across the gap between columns)
    is meaningless: noise, drift and hum only; OTB grids: monopolar electrodes;
  * default difficulty: on the cross-session split (sessions 1-2 -> 3) mbv2 w0.2 reached 97.7%
    and LDA 70.4% (`edgekit train --width 0.2`), so int8 losses stay visible; the knobs
    `shift_std`, `overlap`, `force_var`, `pattern_jitter`, `noise_uv`, `hum_uv`, `gain_var` set it;
  * optionally, disturbed sessions (`disturb`, `disturb_sessions`): the simulators of
    data/disturb.py applied to every raw trial of those sessions before it is stored, e.g. a test
    session recorded with a loose contact;
  * samples are stored as int16 ADC counts (`uv_per_count` microvolts per count) to keep the
    dataset small, or as float32 (`store_dtype`); the loader accepts any real numeric type.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from scipy import signal as sps

from .. import runs
from ..errors import EdgekitError
from .causal import INT16_MAX
from .csl import label_name
from .disturb import apply_disturbances, parse_disturbances
from .formats import load_recording
from .grids import Grid, csl, side_by_side
from .recording import GRID_COLS, GRID_ROWS, N_CHANNELS, Recording

CIRCUMFERENCE = 24  # electrode pitches around the forearm (the CSL array closes the circle)

GENERATOR_VERSION = 1  # bump when the generated signals change, so cached datasets are rebuilt
CONFIG_FILE = "synth.json"


@dataclass
class SynthConfig:
    n_classes: int = 8  # including idle (gest0)
    subjects: int = 1
    sessions: int = 3
    trials_per_gesture: int = 8
    idle_trials: int = 8
    trial_seconds: float = 1.25
    fs: float = 2048.0
    n_sources: int = 12
    group_size: int = 2  # related gestures per group (share `overlap` of their pattern)
    overlap: float = 0.65  # 0 = unrelated patterns, 1 = identical within a group
    shift_std: float = 0.3  # session rotation around the forearm, in columns (std)
    axial_shift_std: float = 0.05  # session shift along the forearm, in rows (std)
    force_var: float = 0.4  # log-normal sigma of the per-trial force
    pattern_jitter: float = 0.25  # log-normal sigma of each source's per-trial share
    gain_var: float = 0.05  # log-normal sigma of per-session electrode gains
    signal_uv: float = 250.0  # source amplitude at full activation (microvolts)
    idle_level: float = 0.06  # resting tone relative to full activation
    noise_uv: float = 6.0  # sensor noise RMS (microvolts)
    hum_uv: float = 2.0  # powerline RMS per channel (microvolts, before random spread)
    hum_hz: float = 50.0
    onset_s: float = 0.08  # mean activity onset after trial start (s)
    ramp_s: float = 0.10  # envelope rise / fall time (s)
    store_dtype: str = "int16"  # "int16" (ADC counts) | "float32"
    uv_per_count: float = 0.1
    seed: int = 0
    disturb: str = ""  # e.g. "lc" or "ca,lc" (applied together); "" = clean
    disturb_sessions: tuple[int, ...] = ()  # sessions that get `disturb`; () = all
    grid: str = "csl"  # "csl" or OTB electrode codes joined by "+" (see module doc)

    def __post_init__(self) -> None:
        if self.n_classes < 2:
            raise EdgekitError(
                f"synth: n_classes must be >= 2 (idle + a gesture), got {self.n_classes}"
            )
        for name in (
            "subjects",
            "sessions",
            "trials_per_gesture",
            "idle_trials",
            "n_sources",
            "group_size",
        ):
            if getattr(self, name) < 1:
                raise EdgekitError(f"synth: {name} must be >= 1, got {getattr(self, name)}")
        if self.trial_seconds <= 0 or self.fs <= 2 * 450.0:
            raise EdgekitError(
                f"synth: need trial_seconds > 0 and fs > 900 Hz, got "
                f"{self.trial_seconds} s / {self.fs} Hz"
            )
        if not 0.0 <= self.overlap <= 1.0:
            raise EdgekitError(f"synth: overlap must be in [0, 1], got {self.overlap}")
        self.disturb_sessions = tuple(int(v) for v in self.disturb_sessions)
        if self.disturb:
            parse_disturbances(self.disturb)
            bad = [v for v in self.disturb_sessions if not 1 <= v <= self.sessions]
            if bad:
                raise EdgekitError(
                    f"synth: disturb_sessions {bad} are not sessions 1..{self.sessions}"
                )
        elif self.disturb_sessions:
            raise EdgekitError(
                "synth: disturb_sessions given without disturb (which disturbances?)"
            )
        self.geometry()  # an unknown electrode code fails here, naming the known ones
        if self.store_dtype not in ("int16", "float32"):
            raise EdgekitError(
                f"synth: store_dtype must be 'int16' or 'float32', got {self.store_dtype!r}"
            )

    @classmethod
    def tiny(cls, seed: int = 0) -> SynthConfig:
        """A seconds-to-generate dataset for tests."""
        return cls(
            n_classes=4,
            sessions=2,
            trials_per_gesture=3,
            idle_trials=3,
            trial_seconds=0.5,
            n_sources=6,
            seed=seed,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SynthConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise EdgekitError(f"synth: unknown config fields {unknown}; known: {sorted(known)}")
        return cls(**d)

    def geometry(self) -> Grid:
        """The electrode grid this config generates."""
        if self.grid == "csl":
            return csl()
        from .electrodes import grid_for

        codes = [c.strip() for c in self.grid.split("+") if c.strip()]
        if not codes:
            raise EdgekitError(
                "synth.grid: expected 'csl' or electrode codes joined by '+', got ''"
            )
        grids = [grid_for(c, "synth.grid") for c in codes]
        return grids[0] if len(grids) == 1 else side_by_side(grids, "+".join(codes))

    @property
    def format(self) -> str:
        """The loader that reads what this config writes."""
        return "csl" if self.grid == "csl" else "otb"

    def digest(self) -> str:
        d = asdict(self)
        if not self.disturb:  # clean data keeps the digest (and cache) it always had
            del d["disturb"], d["disturb_sessions"]
        if self.grid == "csl":
            del d["grid"]
        blob = json.dumps({"v": GENERATOR_VERSION, **d}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class _Anatomy:
    theta: np.ndarray  # (S,) angular position in columns [0, 24)
    z: np.ndarray  # (S,) axial position in rows
    s_theta: np.ndarray  # (S,) angular spread (columns)
    s_z: np.ndarray  # (S,) axial spread (rows)
    amp: np.ndarray  # (S,) source strength
    patterns: np.ndarray  # (n_classes, S) activation per class; row 0 = idle tone pattern


def _rng(cfg: SynthConfig, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([cfg.seed, *key]))


def _anatomy(cfg: SynthConfig, subject: int, grid: Grid) -> _Anatomy:
    r = _rng(cfg, 1, subject)
    S = cfg.n_sources
    # Sources spread around the forearm (stratified so they do not all bunch up), or under a grid
    # that covers only part of it.
    lo, span = (0.0, CIRCUMFERENCE) if grid.cols >= CIRCUMFERENCE else (-2.0, grid.cols + 4.0)
    theta = (np.arange(S) + r.uniform(0, 1, S)) * (span / S) + r.uniform(0, span)
    theta = np.mod(np.mod(theta, span) + lo, max(CIRCUMFERENCE, grid.cols))
    z = r.uniform(-1.0, grid.rows, S)
    s_theta = r.uniform(1.2, 2.8, S)
    s_z = r.uniform(2.0, 4.5, S)
    amp = r.uniform(0.6, 1.4, S)
    n_g = cfg.n_classes - 1
    n_groups = int(np.ceil(n_g / cfg.group_size))

    def sparse_pattern(k: int) -> np.ndarray:
        p = np.zeros(S)
        idx = r.choice(S, size=min(k, S), replace=False)
        p[idx] = r.uniform(0.4, 1.0, len(idx))
        return p

    base = [sparse_pattern(3) for _ in range(n_groups)]
    patterns = np.zeros((cfg.n_classes, S))
    patterns[0] = r.uniform(0.2, 1.0, S)  # idle: weak tone everywhere (scaled by idle_level)
    for g in range(n_g):
        own = sparse_pattern(3)
        p = (
            cfg.overlap * base[g // cfg.group_size] / base[g // cfg.group_size].max()
            + (1 - cfg.overlap) * own / own.max()
        )
        patterns[g + 1] = p / p.max()
    return _Anatomy(theta, z, s_theta, s_z, amp, patterns)


def _electrode_fields(an: _Anatomy, rot: float, axial: float) -> np.ndarray:
    """(8, 24, S) monopolar gain of each source at each electrode for an array rotated by rot cols."""
    rows = np.arange(GRID_ROWS)[:, None, None] + axial
    cols = np.arange(GRID_COLS)[None, :, None] + rot
    d_theta = (
        np.mod(cols - an.theta + GRID_COLS / 2, GRID_COLS) - GRID_COLS / 2
    )  # wraps around the arm
    d_z = rows - an.z
    return an.amp * np.exp(-0.5 * (d_theta / an.s_theta) ** 2 - 0.5 * (d_z / an.s_z) ** 2)


def _bipolar_mixing(an: _Anatomy, rot: float, axial: float) -> np.ndarray:
    """(192, S) mixing matrix of the bipolar channels; gap channels (row 7) get zero."""
    f = _electrode_fields(an, rot, axial)  # (8, 24, S)
    bip = np.zeros_like(f)
    bip[: GRID_ROWS - 1] = f[:-1] - f[1:]  # neighbouring electrodes along a column
    # channel ch = 8 * column + row  ->  (row, col) -> transpose to (col, row) then flatten
    return bip.transpose(1, 0, 2).reshape(N_CHANNELS, -1) * 2.5  # bipolar pickup is small; rescale


def _monopolar_mixing(an: _Anatomy, grid: Grid, rot: float, axial: float) -> np.ndarray:
    """(n_channels, S) gain of each source at each electrode of an OTB grid (monopolar)."""
    pos = grid.positions()
    circ = max(CIRCUMFERENCE, grid.cols)
    rows = pos[:, 0:1] + axial
    d_theta = np.mod(pos[:, 1:2] + rot - an.theta + circ / 2, circ) - circ / 2
    return an.amp * np.exp(-0.5 * (d_theta / an.s_theta) ** 2 - 0.5 * ((rows - an.z) / an.s_z) ** 2)


def _envelope(cfg: SynthConfig, n: int, r: np.random.Generator) -> np.ndarray:
    fs, T = cfg.fs, n / cfg.fs
    ramp = max(cfg.ramp_s * r.uniform(0.7, 1.3), 1.0 / fs)
    on = float(np.clip(cfg.onset_s * r.uniform(0.5, 1.5), 0.0, T / 3))
    off = float(np.clip(T - cfg.onset_s * r.uniform(0.5, 1.5), T * 2 / 3, T))
    t = np.arange(n) / fs
    rise = np.clip((t - on) / ramp, 0, 1)
    fall = np.clip((off - t) / ramp, 0, 1)
    env = 0.5 - 0.5 * np.cos(np.pi * np.minimum(rise, fall))
    # Slow force fluctuation during the plateau (a few % at ~1-2 Hz).
    env *= 1.0 + 0.05 * np.sin(2 * np.pi * r.uniform(0.8, 2.0) * t + r.uniform(0, 2 * np.pi))
    return env


def _session_state(
    cfg: SynthConfig, an: _Anatomy, subject: int, session: int, grid: Grid
) -> dict[str, np.ndarray]:
    r = _rng(cfg, 2, subject, session)
    rot = r.normal(0.0, cfg.shift_std)
    axial = r.normal(0.0, cfg.axial_shift_std)
    n_ch = grid.n_channels
    fields = (
        _bipolar_mixing(an, rot, axial)
        if cfg.grid == "csl"
        else _monopolar_mixing(an, grid, rot, axial)
    )
    mix = fields * np.exp(r.normal(0, cfg.gain_var, n_ch))[:, None]
    hum_amp = (
        cfg.hum_uv
        * np.sqrt(2)
        * np.exp(r.normal(0, 0.5, (3, n_ch)))
        * np.array([[1.0], [0.4], [0.2]])
    )
    hum_phase = r.uniform(0, 2 * np.pi, (3, n_ch))
    return {"mix": mix, "hum_amp": hum_amp, "hum_phase": hum_phase, "rot": np.array(rot)}


def _trial(
    cfg: SynthConfig,
    an: _Anatomy,
    st: dict[str, np.ndarray],
    cls: int,
    r: np.random.Generator,
    sos: np.ndarray,
) -> np.ndarray:
    n = int(round(cfg.trial_seconds * cfg.fs))
    S = cfg.n_sources
    src = sps.sosfilt(sos, r.standard_normal((S, n + 512)), axis=1)[:, 512:]  # drop filter start-up
    src /= src.std(axis=1, keepdims=True) + 1e-12
    if cls == 0:
        act = cfg.idle_level * an.patterns[0] * np.exp(r.normal(0, cfg.pattern_jitter, S))
    else:
        force = np.exp(r.normal(0, cfg.force_var))
        act = force * an.patterns[cls] * np.exp(r.normal(0, cfg.pattern_jitter, S))
        src *= _envelope(cfg, n, r)
        act += cfg.idle_level * an.patterns[0]  # resting tone under the gesture
    # Hum as a sum of sin/cos bases (a per-channel phase is a per-channel sin/cos mix), so the
    # muscles and the hum are one matrix product.
    t = np.arange(n) / cfg.fs + r.uniform(0, 1.0)  # random hum phase at the trial start
    w = 2 * np.pi * cfg.hum_hz * np.arange(1, 4)[:, None] * t
    basis = np.concatenate([src, np.sin(w), np.cos(w)])
    amp, ph = st["hum_amp"], st["hum_phase"]
    coef = np.concatenate(
        [cfg.signal_uv * st["mix"] * act, (amp * np.cos(ph)).T, (amp * np.sin(ph)).T], axis=1
    )
    x = (coef @ basis).astype(np.float32)
    x += r.standard_normal(x.shape, dtype=np.float32) * np.float32(cfg.noise_uv)
    if cfg.grid != "csl":
        return x
    gap = np.arange(GRID_ROWS - 1, N_CHANNELS, GRID_ROWS)
    # Across-the-gap channels: meaningless large noise plus a slow random drift.
    drift = np.cumsum(r.standard_normal((len(gap), n), dtype=np.float32), axis=1)
    drift -= drift.mean(axis=1, keepdims=True)
    x[gap] += 3 * cfg.noise_uv * r.standard_normal((len(gap), n), dtype=np.float32) + 0.5 * drift
    return x


def disturbed(cfg: SynthConfig, session: int) -> bool:
    return bool(cfg.disturb) and (not cfg.disturb_sessions or session in cfg.disturb_sessions)


def _full_scale(cfg: SynthConfig) -> float | None:
    """The ADC's range in microvolts (+-32767 counts) when samples are stored as counts: a
    disturbance saturates there, as on an amplifier."""
    return INT16_MAX * cfg.uv_per_count if cfg.store_dtype == "int16" else None


def _store(cfg: SynthConfig, x: np.ndarray) -> np.ndarray:
    if cfg.store_dtype == "float32":
        return x.astype(np.float32)
    return np.clip(np.round(x / cfg.uv_per_count), -INT16_MAX, INT16_MAX).astype(np.int16)


def _write(out: Path, cfg: SynthConfig) -> None:
    from threadpoolctl import threadpool_limits

    # Small matrix products: BLAS threads only add contention.
    with threadpool_limits(limits=1):
        _write_files(out, cfg)


def _trials(cfg: SynthConfig, grid: Grid):
    """(subject, session, class, repetition index, signal in microvolts) of every trial, in order."""
    sos = sps.butter(4, [20.0, 450.0], btype="bandpass", fs=cfg.fs, output="sos")
    for subject in range(1, cfg.subjects + 1):
        an = _anatomy(cfg, subject, grid)
        for session in range(1, cfg.sessions + 1):
            st = _session_state(cfg, an, subject, session, grid)
            for cls in range(cfg.n_classes):
                r = _rng(cfg, 3, subject, session, cls)
                n_trials = cfg.idle_trials if cls == 0 else cfg.trials_per_gesture
                for i in range(n_trials):
                    x = _trial(cfg, an, st, cls, r, sos)
                    if disturbed(cfg, session):
                        x = apply_disturbances(
                            x,
                            cfg.fs,
                            grid,
                            cfg.disturb,
                            _rng(cfg, 5, subject, session, cls, i),
                            full_scale=_full_scale(cfg),
                        )
                    yield subject, session, cls, i, n_trials, x


def _write_files(out: Path, cfg: SynthConfig) -> None:
    grid = cfg.geometry()
    cell = None
    for subject, session, cls, i, n_trials, x in _trials(cfg, grid):
        d = out / f"subject{subject}" / f"session{session}"
        if cfg.grid != "csl":  # one OTBiolab+ export per trial: SSS-GGG-RRR.mat
            from .otb_write import write_otb_mat

            emg = _store(cfg, x).astype(np.float64)
            if cfg.store_dtype == "int16":
                emg *= cfg.uv_per_count
            write_otb_mat(
                d / f"{subject:03d}-{cls:03d}-{i + 1:03d}.mat",
                emg,
                cfg.fs,
                cfg.grid.split("+"),
                seed=i,
            )
            continue
        if i == 0:
            d.mkdir(parents=True, exist_ok=True)
            cell = np.empty((n_trials, 1), dtype=object)  # MATLAB cell array, one trial per row
        cell[i, 0] = _store(cfg, x)
        if i == n_trials - 1:
            scipy.io.savemat(str(d / f"gest{cls}.mat"), {"gestures": cell}, do_compression=False)
    meta = {
        "generator": "edgekit.data.synth",
        "version": GENERATOR_VERSION,
        "config": asdict(cfg),
        "format": cfg.format,
        "grid_name": grid.name,
        "label_names": [label_name(c) for c in range(cfg.n_classes)],
        "units": f"{cfg.uv_per_count} uV per count" if cfg.store_dtype == "int16" else "uV",
    }
    (out / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def generate(out_dir: Path, cfg: SynthConfig | None = None) -> Path:
    """Write the dataset to out_dir (atomically). An existing non-synthetic folder is not replaced."""
    cfg = cfg or SynthConfig()
    out_dir = Path(out_dir)
    if out_dir.exists() and (
        not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / CONFIG_FILE).exists())
    ):
        raise EdgekitError(
            f"{out_dir}: exists and is not an edgekit synthetic dataset; "
            "choose an empty or new folder"
        )
    with runs.atomic_dir(out_dir) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it private; a dataset folder is ordinary data
        _write(tmp, cfg)
    return out_dir


def load_synthetic(cfg: SynthConfig | None = None) -> Recording:
    """The (cached) synthetic dataset of cfg, read back by the loader of its format."""
    cfg = cfg or SynthConfig()
    return load_recording(default_dataset(cfg), cfg.format)


def default_dataset(cfg: SynthConfig | None = None) -> Path:
    """The dataset for cfg under runs.cache_dir(), generated once (atomic), then reused."""
    cfg = cfg or SynthConfig()
    path = runs.cache_dir() / f"synth-{cfg.digest()}"
    if (path / CONFIG_FILE).is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tmp.chmod(0o755)
        _write(tmp, cfg)
        try:
            os.rename(tmp, path)
        except OSError:
            if not (path / CONFIG_FILE).is_file():  # not a concurrent build that won the race
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return path
