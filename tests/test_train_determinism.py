"""Same seed, same machine -> the same trained weights (and a different seed -> different ones)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from edgekit import checkpoint, runs
from edgekit.train import TrainOptions, run_train


def _train(root: Path, data: Path, seed: int) -> tuple[dict[str, torch.Tensor], dict]:
    opts = TrainOptions(data=data, format="csl", epochs=1, seed=seed, augment="lc")
    run = runs.Run(root)
    run_train(run, opts, progress=False)
    rec = checkpoint.load(run.float_ckpt)
    return rec.state_dict, json.loads(run.report_path("train").read_text())


def test_same_seed_gives_identical_weights(tmp_path: Path, tiny_csl: Path) -> None:
    torch.manual_seed(123)  # the caller's RNG state must not leak into training
    a, ra = _train(tmp_path / "a", tiny_csl, seed=5)
    torch.rand(7)  # nor what ran in between
    b, rb = _train(tmp_path / "b", tiny_csl, seed=5)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert ra["cnn"] == rb["cnn"] and ra["training"]["history"] == rb["training"]["history"]
    c, _ = _train(tmp_path / "c", tiny_csl, seed=6)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())
    assert not torch.are_deterministic_algorithms_enabled()  # the setting is restored
