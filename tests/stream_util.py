"""A tiny int8 model exported with a causal feature chain (for the streaming and calibration
tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

import firmware_util as fu

FS = 2048.0
REPO = Path(__file__).resolve().parents[1]


def causal_export(
    base: Path,
    adc_lsb: float = 0.5,
    hop_ms: float = 50.0,
    norm_scale: float = 1.0,
    *,
    name: str = "tiny",
    make: Callable[[int], bytes] = fu.make_tiny_tflite,
    calib_room: bool = True,
) -> Path:
    """A run directory whose export/ holds a test model (make(0), cached in base as
    <name>-s0.tflite) with a causal chain in model_meta.h; calib_room: export's room for
    on-device calibration."""
    from edgekit.checkpoint import ModelRecord
    from edgekit.data.features import FeatureConfig
    from edgekit.export import carray
    from edgekit.export.tflite import inspect_tflite, resolver_ops

    root = base / f"{name}-causal-{adc_lsb:g}-{hop_ms:g}-{norm_scale:g}-{int(calib_room)}"
    if (root / "export" / "model_meta.h").exists():
        return root
    model = base / f"{name}-s0.tflite"
    if not model.exists():
        model.write_bytes(make(0))
    tfl = model.read_bytes()
    info = inspect_tflite(tfl, f"{name} test model")
    n_out = int(info.output.shape[-1])
    rng = np.random.default_rng(5)
    fc = FeatureConfig(adc_lsb=adc_lsb, hop_ms=hop_ms, window_ms=3 * hop_ms)
    mask = np.ones(192, bool)
    mask[7::8] = False
    rec = ModelRecord(
        arch="tiny-test",
        width=1.0,
        num_classes=n_out,
        label_names=list(fu.LABELS[:n_out]),
        features={**fc.to_dict(), "fs_hz": FS},
        norm_mean=(norm_scale * rng.uniform(5, 40, 192)).astype(np.float32).tolist(),
        norm_std=(norm_scale * rng.uniform(3, 30, 192)).astype(np.float32).tolist(),
        channel_mask=mask.tolist(),
        layout="csl",
        state_dict={},
    )
    q = {
        "scale": info.input.scales[0],
        "zero_point": info.input.zero_points[0],
        "shape": info.input.shape,
    }
    o = {
        "scale": info.output.scales[0],
        "zero_point": info.output.zero_points[0],
        "shape": info.output.shape,
    }
    tmp = base / f".tmp-{name}-causal-{os.getpid()}"
    (tmp / "export").mkdir(parents=True, exist_ok=True)
    (tmp / "export" / "model_int8.tflite").write_bytes(tfl)
    carray.write_all(
        tmp / "export", rec, tfl, q, o, 64 * 1024, resolver_ops(info), calib_room=calib_room
    )
    tmp.rename(root)
    return root


def emg_counts(n_ch: int, n: int, seed: int, lsb: float = 0.5) -> np.ndarray:
    """Bursts of broadband activity with DC offsets and hum, as int16 counts."""
    from edgekit.data import causal

    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    env = 0.1 + np.clip(np.sin(2 * np.pi * 1.3 * t + rng.uniform(0, 6, (n_ch, 1))), 0, None)
    x = rng.normal(0, 60, (n_ch, n)) * env
    x += rng.uniform(-2000, 2000, (n_ch, 1)) + 30 * np.sin(2 * np.pi * 50 * t)
    return causal.to_counts(x, lsb, "synthetic")


def stream_cli(
    run: Path, recording: Path, *args: str, timeout: float = 1200
) -> subprocess.CompletedProcess:
    """`edgekit stream --board mps2-an386 --run RUN --recording RECORDING ARGS` as a user runs it
    (its own process, the toolchain on PYTHONPATH)."""
    argv = [sys.executable, "-m", "edgekit.cli", "stream", "--board", "mps2-an386"]
    argv += ["--run", str(run), "--recording", str(recording), *args, "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "toolchain")}
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)


def stream_in_qemu(run: Path, recording: Path, *args: str) -> dict:
    """stream_cli's run with --json, which must succeed: its report."""
    out = stream_cli(run, recording, *args, "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)
