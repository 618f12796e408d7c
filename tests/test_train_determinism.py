"""Same seed -> the same trained weights: on one machine, and whatever instruction set the CPU
math libraries would pick on another (AVX2 vs AVX-512) or were capped to from outside."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import edgekit
from edgekit import checkpoint, runs
from edgekit.seeding import AVX2_NUMERICS, TRAIN_THREADS, cpu_has_avx2
from edgekit.train import TrainOptions, run_train


def _train(root: Path, data: Path, seed: int) -> tuple[dict[str, torch.Tensor], dict]:
    opts = TrainOptions(data=data, format="csl", epochs=1, seed=seed, augment="lc")
    run = runs.Run(root)
    run_train(run, opts, progress=False)
    rec = checkpoint.load(run.float_ckpt)
    return rec.state_dict, json.loads(run.report_path("train").read_text())


def test_same_seed_gives_identical_weights(tmp_path: Path, tiny_csl: Path) -> None:
    torch.manual_seed(123)  # the caller's RNG state must not leak into training
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # nor the caller's thread count (it picks kernels and sum order)
    try:
        a, ra = _train(tmp_path / "a", tiny_csl, seed=5)
    finally:
        torch.set_num_threads(threads)
    torch.rand(7)  # nor what ran in between
    b, rb = _train(tmp_path / "b", tiny_csl, seed=5)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert ra["cnn"] == rb["cnn"] and ra["training"]["history"] == rb["training"]["history"]
    c, _ = _train(tmp_path / "c", tiny_csl, seed=6)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())
    assert not torch.are_deterministic_algorithms_enabled()  # the setting is restored
    assert torch.get_num_threads() == threads  # and the thread count
    assert ra["numerics"]["train_threads"] == TRAIN_THREADS


# What another machine's libraries would do, set from outside: an AVX2-only machine's choice (on
# an AVX-512 machine these caps alone changed the weights), and an older instruction set's (which
# changes them here: each cap alone was measured to give other weights on this AVX2 machine).
OUTSIDE = {
    "this machine's own choice": {},
    "an AVX2-only machine": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "an older instruction set": {
        "ATEN_CPU_CAPABILITY": "default",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "MKL_CBWR": "COMPATIBLE",
    },
}
# torch runs an op before edgekit is imported: ATen's choice is made before edgekit can pin it
TORCH_FIRST = (
    "import sys, torch; torch.ones(8).add_(1)\n"
    "from edgekit.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _train_in_subprocess(
    run: Path, data: Path, env: dict[str, str], code: str | None = None
) -> tuple[dict[str, torch.Tensor], dict, str]:
    argv = ["train", "--data", str(data), "--format", "csl", "--epochs", "1", "--seed", "5"]
    argv += ["--run", str(run), "--json", "--no-progress"]
    base = {k: v for k, v in os.environ.items() if k not in AVX2_NUMERICS}
    env = {**base, **env, "PYTHONPATH": str(Path(edgekit.__file__).parents[1])}
    cmd = [sys.executable, *(["-c", code] if code else ["-m", "edgekit.cli"]), *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return checkpoint.load(run / "float.pt").state_dict, report, proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(not cpu_has_avx2(), reason="edgekit pins training numerics only on AVX2 CPUs")
def test_same_weights_whatever_instruction_set_the_environment_picks(
    tmp_path: Path, tiny_csl: Path
) -> None:
    got = {
        name: _train_in_subprocess(tmp_path / f"run{i}", tiny_csl, env)
        for i, (name, env) in enumerate(OUTSIDE.items())
    }
    ref, ref_report, _ = got["this machine's own choice"]
    for name, (sd, report, _) in got.items():
        assert sd.keys() == ref.keys()
        same = [k for k in sd if sd[k].dtype == ref[k].dtype and torch.equal(sd[k], ref[k])]
        assert len(same) == len(ref), f"{name}: {len(ref) - len(same)} of {len(ref)} tensors differ"
        assert report["cnn"] == ref_report["cnn"], name
    for name, (_, report, _) in got.items():
        assert report["numerics"]["pinned"], (name, report["numerics"])
        assert report["numerics"]["cpu_capability"] == "AVX2", name
    # The control: the outside caps do change the weights when edgekit cannot pin them (torch
    # ran before edgekit was imported); training says so instead of failing silently.
    sd, report, err = _train_in_subprocess(
        tmp_path / "late", tiny_csl, OUTSIDE["an older instruction set"], TORCH_FIRST
    )
    assert not report["numerics"]["pinned"] and report["numerics"]["cpu_capability"] == "DEFAULT"
    assert "training numerics are not pinned to AVX2" in err
    assert any(not torch.equal(sd[k], ref[k]) for k in ref if ref[k].is_floating_point())
