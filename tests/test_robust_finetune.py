"""Fine-tuning a float ModelRecord on a clean + generated mix."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from edgekit.checkpoint import ModelRecord
from edgekit.errors import EdgekitError
from edgekit.nn import build_model
from edgekit.robust.finetune import FinetuneConfig, finetune, finetune_with_gan, mix_frames
from edgekit.robust.gan import GanConfig, Generator


def record(num_classes: int = 3) -> ModelRecord:
    torch.manual_seed(0)
    model = build_model("mbv2", 0.2, num_classes)
    return ModelRecord(
        arch="mbv2",
        width=0.2,
        num_classes=num_classes,
        label_names=[f"c{i}" for i in range(num_classes)],
        features={"window_ms": 150.0, "hop_ms": 50.0, "kind": "rms"},
        norm_mean=[0.0] * 192,
        norm_std=[1.0] * 192,
        channel_mask=[True] * 192,
        layout="otb",
        state_dict=model.state_dict(),
        source={"kind": "unit"},
    )


def frames(n: int, seed: int, disturbed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Class c lights up columns 8c..8c+7; 'disturbed' frames add a far-off row 6 (loose contact)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 0.5, (n, 1, 8, 24)).astype(np.float32)
    for c in range(3):
        x[y == c, 0, :, 8 * c : 8 * c + 8] += 3.0
    if disturbed:
        x[:, 0, 6:, :] = rng.normal(6.0, 2.0, (n, 2, 24))
    return x, y.astype(np.int64)


def test_mix_ratio_counts():
    rng = np.random.default_rng(0)
    xc, yc = frames(40, 0, False)
    xg, yg = frames(10, 1, True)
    x, y = mix_frames(xc, yc, xg, yg, 0.5, rng)
    assert len(x) == 80 and np.array_equal(x[:40], xc)  # 1:1, pool drawn with replacement
    x, _ = mix_frames(xc, yc, xg, yg, 0.2, rng)
    assert len(x) == 50
    x, _ = mix_frames(xc, yc, xg[:0], yg[:0], 0.0, rng)
    assert len(x) == 40
    x, y = mix_frames(xc, yc, xg, yg, 1.0, rng)  # the seed's recipe: generated only
    assert len(x) == 40 and all(any(np.array_equal(r, g) for g in xg) for r in x)
    with pytest.raises(EdgekitError, match="mix_ratio"):
        mix_frames(xc, yc, xg, yg, 1.5, rng)


def trained_record() -> ModelRecord:
    """A model trained on clean frames, as robust fine-tuning starts from (its BatchNorm
    statistics are the clean ones that fine-tuning keeps)."""
    rec = record()
    model = rec.build()
    x, y = frames(96, 5, False)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(6):
        for i in range(0, 96, 16):
            loss = torch.nn.functional.cross_entropy(
                model(torch.from_numpy(x[i : i + 16])), torch.from_numpy(y[i : i + 16])
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return dataclasses.replace(rec, state_dict=model.state_dict())


def test_finetune_on_mix_learns_disturbed_frames():
    torch.set_num_threads(1)
    rec = trained_record()
    xc, yc = frames(96, 0, False)
    xg, yg = frames(96, 1, True)  # stands in for GAN output
    xt, yt = frames(96, 2, True)  # held-out "real" disturbed frames
    m0 = rec.build()
    with torch.no_grad():
        acc0 = (m0(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean()
    new, hist = finetune(
        rec,
        xc,
        yc,
        xg,
        yg,
        FinetuneConfig(epochs=4, batch_size=16, lr=3e-3),
        seed=0,
        x_val=xt,
        y_val=yt,
    )
    assert len(hist["train_loss"]) == 4 and hist["train_loss"][-1] < hist["train_loss"][0]
    assert new.extra["robust_finetune"]["n_generated"] == 96
    assert new.meta()["label_names"] == rec.label_names and new.format == rec.format
    assert any(not torch.equal(rec.state_dict[k], v) for k, v in new.state_dict.items())
    # BatchNorm keeps the clean model's statistics (disturbed batches would skew them)
    stats = [k for k in rec.state_dict if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(rec.state_dict[k], new.state_dict[k]) for k in stats)
    m = new.build()
    with torch.no_grad():
        acc = (m(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean()
    # The best validation epoch is kept, and it classifies disturbed frames well.
    assert acc == max(hist["val_accuracy"]) and acc > 0.8 and acc > acc0 + 0.3, (acc0, hist)


def test_class_mismatch():
    rec = record(3)
    xc, yc = frames(8, 0, False)
    with pytest.raises(EdgekitError, match="GAN generates 4 classes"):
        finetune_with_gan(rec, xc, yc, Generator(4, GanConfig(g_width=8)), FinetuneConfig(epochs=1))
    with pytest.raises(EdgekitError, match="labels must be in 0..2"):
        finetune(rec, xc, yc + 5, xc, yc, FinetuneConfig(epochs=1))


def test_finetune_with_gan_runs():
    rec = record(3)
    xc, yc = frames(32, 0, False)
    G = Generator(3, GanConfig(g_width=8)).eval()
    new, hist = finetune_with_gan(
        rec, xc, yc, G, FinetuneConfig(epochs=1, batch_size=16, mix_ratio=0.25), seed=1
    )
    assert new.extra["robust_finetune"]["n_generated"] == round(32 * 0.25 / 0.75)
    assert len(hist["train_loss"]) == 1 and np.isfinite(hist["train_loss"][0])
