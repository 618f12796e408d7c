"""Conditional WGAN-GP: shapes, a training step, the gradient penalty, checkpoints, quality."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgekit.errors import EdgekitError
from edgekit.robust.gan import (
    Critic,
    GanConfig,
    Generator,
    critic_step,
    generator_step,
    gradient_penalty,
    load_gan,
    quality,
    sample,
    save_gan,
    save_grid_png,
    train_gan,
)

SMALL = GanConfig(g_width=16, d_width=8, batch_size=32, log_every=10)


def toy_frames(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes with distinct spatial signatures; class 2 has a 'peeled' row 6 far off scale."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(3):
        x = rng.normal(0, 0.3, (n_per_class, 1, 8, 24)).astype(np.float32)
        if c == 0:
            x[:, 0, 2, :] += 2.0
        elif c == 1:
            x[:, 0, :, 20] -= 2.0
        else:
            x[:, 0, 6, :] += 8.0 + rng.normal(0, 1.0, (n_per_class, 1)).astype(np.float32)
        xs.append(x)
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs), np.concatenate(ys).astype(np.int64)


def test_shapes():
    cfg = GanConfig()  # the full-size default networks
    G, D = Generator(5, cfg), Critic(5, cfg)
    z = torch.randn(7, 100)
    lab = torch.arange(7) % 5
    out = G(z, lab)
    assert out.shape == (7, 1, 8, 24)
    assert out.abs().max() <= 1.0  # tanh range
    assert D(out, lab).shape == (7,)
    assert G.scale.shape == (1, 1, 8, 24)


def test_one_step_changes_weights():
    torch.manual_seed(0)
    G, D = Generator(3, SMALL), Critic(3, SMALL)
    g0 = {k: v.clone() for k, v in G.state_dict().items()}
    d0 = {k: v.clone() for k, v in D.state_dict().items()}
    opt_g = torch.optim.Adam(G.parameters(), lr=SMALL.lr, betas=SMALL.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=SMALL.lr, betas=SMALL.betas)
    x, y = toy_frames(8, 0)
    real = torch.from_numpy(np.clip(x / 10, -1, 1))
    rec = critic_step(G, D, opt_d, real, torch.from_numpy(y), SMALL)
    assert all(np.isfinite(v) for v in rec.values())
    assert any(not torch.equal(d0[k], v) for k, v in D.state_dict().items())
    # The critic step must not move the generator's weights (only BN running stats).
    assert all(
        torch.equal(g0[k], v)
        for k, v in G.state_dict().items()
        if "running" not in k and "num_batches" not in k
    )
    g_loss = generator_step(G, D, opt_g, torch.from_numpy(y), SMALL)
    assert np.isfinite(g_loss)
    assert torch.equal(d0["net.0.weight"], d0["net.0.weight"])
    assert not torch.equal(g0["net.0.weight"], G.state_dict()["net.0.weight"])


def test_gradient_penalty_finite_positive():
    torch.manual_seed(1)
    D = Critic(4, SMALL)
    real, fake = torch.randn(16, 1, 8, 24), torch.randn(16, 1, 8, 24)
    gp = gradient_penalty(D, real, fake, torch.arange(16) % 4)
    assert torch.isfinite(gp) and gp.item() > 0
    gp.backward()  # differentiable (create_graph=True)
    assert D.net[0].weight.grad is not None and torch.isfinite(D.net[0].weight.grad).all()


def test_train_sample_save_load(tmp_path):
    x, y = toy_frames(16, 2)
    cfg = GanConfig(**{**SMALL.__dict__, "steps": 3, "log_every": 1})
    logs = []
    G, hist = train_gan(x, y, 3, cfg, seed=0, progress=lambda s, r: logs.append(s))
    assert hist["step"] == [0.0, 1.0, 2.0] and logs == [0, 1, 2]
    assert all(np.isfinite(hist[k]).all() for k in hist)
    assert all(g > 0 for g in hist["gp"])
    # The scale maps tanh units back to normalised units: the far-off row is reachable.
    assert G.scale[0, 0, 6].min() > 7.0 and G.scale[0, 0, 0, :20].max() < 2.0
    labels = np.repeat(np.arange(3), 10)
    a, b = sample(G, labels, seed=5), sample(G, labels, seed=5)
    assert a.shape == (30, 1, 8, 24) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, sample(G, labels, seed=6))
    assert np.all(np.abs(a) <= G.scale.numpy()[0] + 1e-5)
    # Same seed, same generator.
    G_again, _ = train_gan(x, y, 3, cfg, seed=0)
    assert np.array_equal(sample(G_again, labels, seed=5), a)

    xr, yr = toy_frames(10, 3)
    q = quality(a, labels, xr, yr, 3)
    assert set(q) >= {"mean_dist", "std_dist", "spectral_dist", "tstr_accuracy", "per_class"}
    assert all(np.isfinite(q[k]) for k in ("mean_dist", "std_dist", "spectral_dist"))
    # The real frames against themselves: zero distances, perfect TSTR accuracy.
    q0 = quality(xr, yr, xr, yr, 3)
    assert q0["mean_dist"] == 0 and q0["spectral_dist"] == 0 and q0["tstr_accuracy"] == 1.0
    assert q["mean_dist"] > 0.1

    path = tmp_path / "gan.pt"
    save_gan(path, G, cfg, label_names=["a", "b", "c"])
    G2, meta = load_gan(path, num_classes=3)
    assert meta["label_names"] == ["a", "b", "c"] and meta["num_classes"] == 3
    assert np.array_equal(sample(G2, labels, seed=5), a)

    png = tmp_path / "grid.png"
    save_grid_png(png, xr, yr, a, labels, ["a", "b", "c"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow
def test_gan_learns_class_signatures():
    """A short run learns the classes: an LDA trained on generated frames classifies held-out
    real frames well above chance, and the off-scale row of class 2 is reproduced."""
    torch.set_num_threads(1)
    x, y = toy_frames(64, 2)
    cfg = GanConfig(**{**SMALL.__dict__, "steps": 150, "lr": 5e-4})
    G, hist = train_gan(x, y, 3, cfg, seed=0)
    labels = np.repeat(np.arange(3), 40)
    a = sample(G, labels, seed=1)
    xr, yr = toy_frames(30, 3)
    q = quality(a, labels, xr, yr, 3)
    assert q["tstr_accuracy"] > 0.8, q
    c2 = a[labels == 2, 0]
    assert c2[:, 6].mean() > c2[:, :6].mean() + 4.0


def test_class_count_mismatch(tmp_path):
    G = Generator(3, SMALL)
    path = tmp_path / "g.pt"
    save_gan(path, G, SMALL)
    with pytest.raises(EdgekitError) as e:
        load_gan(path, num_classes=5)
    msg = str(e.value)
    assert str(path) in msg and "3" in msg and "5" in msg
    with pytest.raises(EdgekitError):
        load_gan(tmp_path / "missing.pt")


def test_bad_input():
    with pytest.raises(EdgekitError):
        train_gan(np.zeros((4, 8, 24), np.float32), np.zeros(4, np.int64), 2, SMALL)
    with pytest.raises(EdgekitError):
        train_gan(np.zeros((4, 1, 8, 24), np.float32), np.array([0, 1, 2, 3]), 2, SMALL)
