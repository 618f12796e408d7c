"""firmware/dsp (the on-device feature chain) against data/causal.py (the reference training
uses): bit-identical RMS values and int8 frames on random, synthetic-EMG and edge-case signals,
for the CSL grid (192 channels) and a small grid with an empty pixel, in a host build under
AddressSanitizer + UndefinedBehaviorSanitizer. The same C runs under QEMU in test_stream_qemu.py."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit.data import causal
from edgekit.data.features import FeatureConfig
from edgekit.data.grids import Grid, column_major, csl
from edgekit.export import carray

import firmware_util as fu

REPO = Path(__file__).resolve().parents[1]
DSP = REPO / "firmware" / "dsp"
FS = 2048.0

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def chain_meta(
    grid: Grid, seed: int, scale: float = 0.05, zp: int = -3, adc_lsb: float = 0.5, **feat
) -> tuple[str, dict]:
    """A model_meta.h holding the input quantization, the normalisation, the grid and the feature
    section written by export's own generator (carray.grid_defines, carray.feature_chain_lines)."""
    from edgekit.checkpoint import ModelRecord

    rng = np.random.default_rng(seed)
    n = grid.n_channels
    mean = rng.uniform(5, 40, n).astype(np.float32)
    std = rng.uniform(3, 30, n).astype(np.float32)
    fc = FeatureConfig(adc_lsb=adc_lsb, **feat)
    rec = ModelRecord(
        arch="t",
        width=1.0,
        num_classes=2,
        label_names=["a", "b"],
        features={**fc.to_dict(), "fs_hz": FS},
        norm_mean=mean.tolist(),
        norm_std=std.tolist(),
        channel_mask=list(grid.channel_mask()),
        layout="csl",
        state_dict={},
        grid=grid.to_dict(),
    )
    size = grid.rows * grid.cols
    lines = [
        "#ifndef EK_MODEL_META_H_",
        "#define EK_MODEL_META_H_",
        f"#define EK_INPUT_SIZE {size}",
        f"#define EK_INPUT_SCALE {carray._c_float(np.float32(scale))}",
        f"#define EK_INPUT_ZERO_POINT {zp}",
        "#define EK_NORM_MEAN {" + ", ".join(carray._c_float(v) for v in mean) + "}",
        "#define EK_NORM_STD {" + ", ".join(carray._c_float(v) for v in std) + "}",
        *carray.grid_defines(grid),
        *carray.feature_chain_lines(rec, size),
        "#endif",
        "",
    ]
    return "\n".join(lines), {
        "mean": mean,
        "std": std,
        "mask": grid.channel_mask(),
        "pixels": np.array(grid.pixels),
        "scale": float(np.float32(scale)),
        "zp": zp,
        "spec": fc.chain_spec(FS),
    }


def build_tool(tmp: Path, meta: str, sanitize: bool = True) -> Path:
    (tmp / "model_meta.h").write_text(meta)
    return fu.build_host_c(
        tmp / "ek_features_run",
        "-pedantic",
        "-ffp-contract=off",
        f"-I{DSP}",
        f"-I{tmp}",
        str(DSP / "ek_features.c"),
        str(DSP / "tools" / "ek_features_run.c"),
        "-lm",
        sanitize=sanitize,
    )


def run_c(exe: Path, counts: np.ndarray, split: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """counts (C, n) int16 -> (frames int8 (F, H*W), rms float32 (F, C)) from the C chain, the
    samples pushed in blocks of `split` (0: pseudo-random block sizes 1..8)."""
    data = np.ascontiguousarray(counts.T.astype("<i2")).tobytes()
    out = subprocess.run(
        [str(exe), str(split)], input=data, capture_output=True, check=True
    ).stdout.decode()
    fr, rm = [], []
    for ln in out.splitlines():
        a, b = ln.split()
        fr.append(np.frombuffer(bytes.fromhex(a), np.int8))
        rm.append(np.frombuffer(bytes.fromhex(b), ">u4").astype("<u4").view(np.float32))
    return np.array(fr), np.array(rm)


def run_py(m: dict, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    chain = causal.CausalChain(m["spec"], counts.shape[0])
    out = chain.push(counts[:, :1000]) + chain.push(counts[:, 1000:])  # blocks join seamlessly
    rms = np.stack([r for r, _ in out])
    q = causal.quantize_frame(rms, m["mean"], m["std"], m["mask"], m["pixels"], m["scale"], m["zp"])
    return q, rms


def synth_emg(n_ch: int, n: int, seed: int) -> np.ndarray:
    """Band-limited bursts with DC offsets and hum, as int16 counts at adc_lsb 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    env = np.clip(np.sin(2 * np.pi * 1.5 * t + rng.uniform(0, 6, (n_ch, 1))), 0, None)
    x = rng.normal(0, 1, (n_ch, n)).cumsum(axis=1) * 0.2
    x = np.diff(np.concatenate([np.zeros((n_ch, 1)), x], axis=1), axis=1) * 300 * env
    x += rng.uniform(-2000, 2000, (n_ch, 1)) + 30 * np.sin(2 * np.pi * 50 * t)
    return causal.to_counts(x, 0.5, "synthetic")


@pytest.mark.parametrize(
    "grid", [csl(), column_major(4, 4, empty=[(3, 3)], name="4x4-1")], ids=["csl-192", "4x4-15ch"]
)
def test_c_chain_equals_python(tmp_path: Path, grid: Grid):
    meta, m = chain_meta(grid, seed=1)
    exe = build_tool(tmp_path, meta)
    rng = np.random.default_rng(2)
    n_ch = grid.n_channels
    signals = {
        "random": rng.integers(-32768, 32768, (n_ch, 3000)).astype(np.int16),
        "synthetic": synth_emg(n_ch, 4000, 3),
        "steps": np.repeat(rng.integers(-20000, 20000, (n_ch, 12)), 250, axis=1).astype(np.int16),
        "zeros": np.zeros((n_ch, 700), np.int16),
    }
    total = 0
    for (name, counts), split in itertools.product(signals.items(), (1, 8, 0)):
        q_c, r_c = run_c(exe, counts, split)  # sample by sample, in blocks, in random blocks
        q_p, r_p = run_py(m, counts)
        assert q_c.shape == q_p.shape and len(q_c) == counts.shape[1] // m["spec"].hop - 2, name
        assert np.array_equal(r_c.view(np.uint32), r_p.view(np.uint32)), (name, split)
        assert np.array_equal(q_c, q_p), (name, split)
        total += q_c.size
        if name == "synthetic":  # the quantized frames are not all saturated or all zero point
            assert len(np.unique(q_c)) > 20
    assert total > 0


def test_meta_without_device_chain():
    """A model trained on zero-phase features gets EK_FEAT_CHAIN 0 and the reason."""
    from edgekit.checkpoint import ModelRecord

    rec = ModelRecord(
        arch="t",
        width=1.0,
        num_classes=2,
        label_names=["a", "b"],
        features={**FeatureConfig(filter="zero-phase").to_dict(), "fs_hz": FS},
        norm_mean=[0.0] * 192,
        norm_std=[1.0] * 192,
        channel_mask=[True] * 192,
        layout="csl",
        state_dict={},
    )
    lines = carray.feature_chain_lines(rec, 192)
    assert "#define EK_FEAT_CHAIN 0" in lines and any("zero-phase" in ln for ln in lines)
