"""Conditional WGAN-GP that generates disturbed 1 x H x W feature frames per class (RoHDE, NER 2023).

The frame size is the data's electrode grid (default 8 x 24).
Generator: z (latent_dim = 100) concatenated with a learned class embedding -> (C, 1, 1) ->
transposed convolutions with batch norm + ReLU. 8 x 24 (the network of the published results, kept
so its checkpoints load): (2, 3) -> (4, 6) -> (8, 12) -> (1, 8, 24), tanh. Any other H x W:
(ceil(H/4), ceil(W/4)) -> x2 -> x2 -> a 3x3 transposed conv to one channel, cropped to H x W, tanh.
Critic: the frame plus a class label map (an embedding of H*W values reshaped to an H x W plane) as
two input channels -> convolutions with instance norm + LeakyReLU(0.2) -> one score (no sigmoid);
its two downsampling convs are 4 x 4 / stride 2 along every side of at least 2 pixels (8 x 24 ->
4 x 12 -> 2 x 6; 13 x 5 -> 6 x 2 -> 3 x 1), 1 x 1 / stride 1 along a side of 1.
Training: Wasserstein loss with gradient penalty (lambda = 10), 5 critic steps per generator step,
Adam(lr 1e-4, betas (0, 0.9)) for both.

Scaling between tanh range and the normalised feature scale: frames are normalised features
(z-scores of the clean training split); disturbed frames reach far beyond +-1 (a loose row or a
tapped column is many standard deviations off). Before training each pixel is divided by a fixed
per-pixel scale s = max(quantile_q(|x|) over the training frames, 1.0) (q = 0.999) and clipped to
+-1, so the generator's tanh output g in (-1, 1) maps back to frames as g * s. s is stored in the
generator (buffer `scale`) and in the checkpoint, so sample() always returns normalised units.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import runs
from ..errors import EdgekitError

GAN_FORMAT = "edgekit-gan/1"
FRAME_SHAPE = (1, 8, 24)  # the default frame (C, H, W)
LEGACY_HW = (8, 24)  # the generator layout of the published GAN results


def _down(n: int) -> tuple[int, int, int, int]:
    """(kernel, stride, padding, output) of one critic downsampling along a side of n pixels."""
    return (4, 2, 1, n // 2) if n >= 2 else (1, 1, 0, n)


@dataclass
class GanConfig:
    latent_dim: int = 100
    embed_dim: int = 16  # generator's class embedding size
    g_width: int = 64  # generator channels at the last hidden layer (x4, x2, x1)
    d_width: int = 32  # critic channels at the first layer (x1, x2, x4)
    steps: int = 2000  # generator steps
    batch_size: int = 64
    n_critic: int = 5
    gp_lambda: float = 10.0
    lr: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.9)
    scale_quantile: float = 0.999
    log_every: int = 50

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GanConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise EdgekitError(f"gan config: unknown fields {unknown}; known: {sorted(known)}")
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)


class Generator(nn.Module):
    def __init__(
        self, num_classes: int, cfg: GanConfig, frame_hw: tuple[int, int] = LEGACY_HW
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.latent_dim = cfg.latent_dim
        self.frame_hw = (int(frame_hw[0]), int(frame_hw[1]))
        h, wd = self.frame_hw
        w = cfg.g_width
        self.embed = nn.Embedding(num_classes, cfg.embed_dim)
        if self.frame_hw == LEGACY_HW:
            first, last = (2, 3), nn.ConvTranspose2d(w, 1, (3, 4), (1, 2), (1, 1))  # 8x12 -> 8x24
        else:
            first, last = (-(-h // 4), -(-wd // 4)), nn.ConvTranspose2d(w, 1, 3, 1, 1)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(cfg.latent_dim + cfg.embed_dim, 4 * w, first, bias=False),  # 2x3
            nn.BatchNorm2d(4 * w),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False),  # 4x6
            nn.BatchNorm2d(2 * w),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False),  # 8x12
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
            last,  # 8x24
            nn.Tanh(),
        )
        # Per-pixel scale from tanh units back to normalised feature units (see module doc).
        self.register_buffer("scale", torch.ones(1, 1, h, wd))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Frames in tanh units (-1, 1); multiply by .scale for normalised units."""
        h = torch.cat([z, self.embed(labels)], dim=1)[:, :, None, None]
        return self.net(h)[:, :, : self.frame_hw[0], : self.frame_hw[1]]


class Critic(nn.Module):
    def __init__(
        self, num_classes: int, cfg: GanConfig, frame_hw: tuple[int, int] = LEGACY_HW
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.frame_hw = (int(frame_hw[0]), int(frame_hw[1]))
        h, wd = self.frame_hw
        w = cfg.d_width
        (kh1, sh1, ph1, h1), (kw1, sw1, pw1, w1) = _down(h), _down(wd)
        (kh2, sh2, ph2, h2), (kw2, sw2, pw2, w2) = _down(h1), _down(w1)
        self.label_map = nn.Embedding(num_classes, h * wd)
        self.net = nn.Sequential(
            nn.Conv2d(2, w, 3, 1, 1),  # 8x24
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(w, 2 * w, (kh1, kw1), (sh1, sw1), (ph1, pw1)),  # 4x12
            nn.InstanceNorm2d(2 * w, affine=True),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * w, 4 * w, (kh2, kw2), (sh2, sw2), (ph2, pw2)),  # 2x6
            nn.InstanceNorm2d(4 * w, affine=True),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(),
            nn.Linear(4 * w * h2 * w2, 1),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        plane = self.label_map(labels).view(-1, 1, *self.frame_hw)
        return self.net(torch.cat([x, plane], dim=1)).view(-1)


def gradient_penalty(
    critic: Critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    labels: torch.Tensor,
    gen: torch.Generator | None = None,
) -> torch.Tensor:
    """E[(||grad_x D(x_hat)||_2 - 1)^2] at random interpolates x_hat of real and fake frames."""
    eps = torch.rand(real.size(0), 1, 1, 1, generator=gen)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    score = critic(x_hat, labels)
    (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def critic_step(
    G: Generator,
    D: Critic,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    labels: torch.Tensor,
    cfg: GanConfig,
    gen: torch.Generator | None = None,
) -> dict[str, float]:
    """One critic update: minimise D(fake) - D(real) + lambda * GP. real is in tanh units."""
    z = torch.randn(real.size(0), cfg.latent_dim, generator=gen)
    with torch.no_grad():
        fake = G(z, labels)
    d_real, d_fake = D(real, labels).mean(), D(fake, labels).mean()
    gp = gradient_penalty(D, real, fake, labels, gen)
    d_loss = d_fake - d_real + cfg.gp_lambda * gp
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    return {"d_loss": d_loss.item(), "gp": gp.item(), "w_dist": (d_real - d_fake).item()}


def generator_step(
    G: Generator,
    D: Critic,
    opt_g: torch.optim.Optimizer,
    labels: torch.Tensor,
    cfg: GanConfig,
    gen: torch.Generator | None = None,
) -> float:
    """One generator update: minimise -D(G(z, y)). Only G's parameters move (opt_g holds them)."""
    z = torch.randn(labels.numel(), cfg.latent_dim, generator=gen)
    g_loss = -D(G(z, labels), labels).mean()
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    return g_loss.item()


def fit_scale(x: np.ndarray, q: float) -> np.ndarray:
    """Per-pixel scale (1, H, W): max(quantile_q |x|, 1)."""
    return np.maximum(np.quantile(np.abs(x), q, axis=0), 1.0).astype(np.float32)


def _check_frames(x: np.ndarray, y: np.ndarray, num_classes: int) -> None:
    if x.ndim != 4 or x.shape[1] != 1 or min(x.shape[2:]) < 1:
        raise EdgekitError(f"gan: frames must have shape (N, 1, H, W), got {tuple(x.shape)}")
    if y.shape != (len(x),):
        raise EdgekitError(f"gan: labels must have shape ({len(x)},), got {tuple(y.shape)}")
    if len(x) < 2:
        raise EdgekitError(f"gan: need at least 2 frames, got {len(x)}")
    if y.min() < 0 or y.max() >= num_classes:
        raise EdgekitError(f"gan: labels must be in 0..{num_classes - 1}, got {y.min()}..{y.max()}")


def train_gan(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    cfg: GanConfig | None = None,
    seed: int = 0,
    progress: bool | Callable[[int, dict[str, float]], None] = False,
) -> tuple[Generator, dict[str, list[float]]]:
    """Train on normalised disturbed frames x (N, 1, H, W) with labels y. Returns the generator
    (eval mode, scale buffer set) and the loss history logged every cfg.log_every steps:
    step, d_loss, g_loss, gp, w_dist (critic's real - fake score: the Wasserstein estimate).

    progress: True for a tqdm bar on stderr, or a callable(step, record) called at each log point.
    """
    cfg = cfg or GanConfig()
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int64)
    _check_frames(x, y, num_classes)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)

    hw = (x.shape[2], x.shape[3])
    G, D = Generator(num_classes, cfg, hw), Critic(num_classes, cfg, hw)
    scale = fit_scale(x, cfg.scale_quantile)
    G.scale.copy_(torch.from_numpy(scale)[None])
    data = torch.from_numpy(np.clip(x / scale, -1.0, 1.0))
    labels = torch.from_numpy(y)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=cfg.betas)
    hist: dict[str, list[float]] = {k: [] for k in ("step", "d_loss", "g_loss", "gp", "w_dist")}
    bs = min(cfg.batch_size, len(x))

    steps: Any = range(cfg.steps)
    if progress is True:
        from ..progress import progress_bar

        steps = progress_bar(steps, "gan", total=cfg.steps)
    G.train()
    D.train()
    for step in steps:
        for _ in range(cfg.n_critic):
            idx = torch.from_numpy(rng.integers(0, len(x), bs))
            d_rec = critic_step(G, D, opt_d, data[idx], labels[idx], cfg, gen)
        lab = torch.from_numpy(rng.integers(0, num_classes, bs))
        g_loss = generator_step(G, D, opt_g, lab, cfg, gen)
        if step % cfg.log_every == 0 or step == cfg.steps - 1:
            rec = {"step": float(step), **d_rec, "g_loss": g_loss}
            for k, v in rec.items():
                hist[k].append(v)
            if callable(progress):
                progress(step, rec)
    return G.eval(), hist


def sample(
    generator: Generator, labels: np.ndarray | list[int], seed: int = 0, batch: int = 1024
) -> np.ndarray:
    """Generated frames (N, 1, H, W) float32 in normalised feature units, one per label."""
    labels = np.asarray(labels, np.int64).reshape(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= generator.num_classes):
        raise EdgekitError(f"gan sample: labels must be in 0..{generator.num_classes - 1}")
    gen = torch.Generator().manual_seed(seed)
    was_training = generator.training
    generator.eval()
    out = []
    with torch.no_grad():
        for i in range(0, labels.size, batch):
            lab = torch.from_numpy(labels[i : i + batch])
            z = torch.randn(lab.numel(), generator.latent_dim, generator=gen)
            out.append((generator(z, lab) * generator.scale).numpy())
    generator.train(was_training)
    return (
        np.concatenate(out).astype(np.float32)
        if out
        else np.zeros((0, 1, *generator.frame_hw), np.float32)
    )


# ------------------------------------------------------------------------------ checkpoints


def save_gan(
    path: Path,
    generator: Generator,
    cfg: GanConfig,
    label_names: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    d = {
        "format": GAN_FORMAT,
        "num_classes": generator.num_classes,
        "config": asdict(cfg),
        "frame_hw": list(generator.frame_hw),
        "label_names": list(label_names) if label_names is not None else None,
        "state_dict": {k: v.detach().cpu() for k, v in generator.state_dict().items()},
        "extra": extra or {},
    }
    with runs.atomic_path(Path(path)) as tmp:
        torch.save(d, tmp)


def load_gan(path: Path, num_classes: int | None = None) -> tuple[Generator, dict[str, Any]]:
    """Load a generator checkpoint; if num_classes is given it must match the checkpoint's."""
    path = Path(path)
    if not path.exists():
        raise EdgekitError(f"{path}: GAN checkpoint not found")
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise EdgekitError(f"{path}: not a readable PyTorch checkpoint ({e})") from None
    if not isinstance(d, dict) or d.get("format") != GAN_FORMAT:
        got = d.get("format") if isinstance(d, dict) else type(d).__name__
        raise EdgekitError(f"{path}: field 'format' is {got!r}, expected {GAN_FORMAT!r}")
    missing = [k for k in ("num_classes", "config", "state_dict") if k not in d]
    if missing:
        raise EdgekitError(f"{path}: GAN checkpoint lacks fields {missing}")
    if num_classes is not None and int(d["num_classes"]) != num_classes:
        raise EdgekitError(
            f"{path}: GAN checkpoint was trained for {d['num_classes']} classes, "
            f"but the data has {num_classes} classes"
        )
    cfg = GanConfig.from_dict(d["config"])
    G = Generator(int(d["num_classes"]), cfg, tuple(d.get("frame_hw", LEGACY_HW)))
    try:
        G.load_state_dict(d["state_dict"])
    except RuntimeError as e:
        raise EdgekitError(f"{path}: GAN weights do not fit the recorded config ({e})") from None
    meta = {k: v for k, v in d.items() if k != "state_dict"}
    meta["config"] = cfg
    return G.eval(), meta


# ------------------------------------------------------------------------------ quality


def spatial_spectrum(x: np.ndarray) -> np.ndarray:
    """Mean 2-D spatial power spectrum |FFT2|^2 over frames (H, W)."""
    return np.mean(np.abs(np.fft.fft2(x[:, 0].astype(np.float64))) ** 2, axis=0)


def quality(
    fake_x: np.ndarray, fake_y: np.ndarray, real_x: np.ndarray, real_y: np.ndarray, num_classes: int
) -> dict[str, Any]:
    """How close generated frames are to held-out real disturbed frames, beyond the losses.

    mean_dist / std_dist: per-pixel |mean| and |std| differences, averaged over pixels and classes
    (normalised units). spectral_dist: mean |log10 P_fake - log10 P_real| of the 2-D spatial power
    spectra, averaged over classes (0 = identical spatial structure). tstr_accuracy: an LDA trained
    on synthetic frames, tested on the real ones ("train on synthetic, test on real").
    """
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    per_class = []
    for c in range(num_classes):
        f, r = fake_x[fake_y == c], real_x[real_y == c]
        if len(f) < 2 or len(r) < 2:
            continue
        pf, pr = spatial_spectrum(f), spatial_spectrum(r)
        per_class.append(
            {
                "class": c,
                "mean_dist": float(np.abs(f.mean(0) - r.mean(0)).mean()),
                "std_dist": float(np.abs(f.std(0) - r.std(0)).mean()),
                "spectral_dist": float(np.abs(np.log10(pf + 1e-9) - np.log10(pr + 1e-9)).mean()),
            }
        )
    out: dict[str, Any] = {
        k: float(np.mean([p[k] for p in per_class])) if per_class else float("nan")
        for k in ("mean_dist", "std_dist", "spectral_dist")
    }
    out["per_class"] = per_class
    if len(np.unique(fake_y)) < 2 or len(real_y) == 0:
        out["tstr_accuracy"] = float("nan")  # a classifier needs two classes to train on
        return out
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
    lda.fit(fake_x.reshape(len(fake_x), -1), fake_y)
    out["tstr_accuracy"] = float((lda.predict(real_x.reshape(len(real_x), -1)) == real_y).mean())
    return out


def save_grid_png(
    path: Path,
    real_x: np.ndarray,
    real_y: np.ndarray,
    fake_x: np.ndarray,
    fake_y: np.ndarray,
    label_names: list[str] | None = None,
    per_class: int = 2,
) -> None:
    """PNG: one row per class, `per_class` real frames then `per_class` generated ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = sorted(set(np.asarray(real_y).tolist()) | set(np.asarray(fake_y).tolist()))
    both = np.concatenate([real_x, fake_x])
    vmax = float(np.quantile(np.abs(both), 0.99)) if both.size else 1.0
    fig, axes = plt.subplots(
        len(classes),
        2 * per_class,
        squeeze=False,
        figsize=(2.4 * 2 * per_class, 1.1 * len(classes) + 0.6),
    )
    for i, c in enumerate(classes):
        for j in range(2 * per_class):
            ax = axes[i, j]
            src, lab, kind = (real_x, real_y, "real") if j < per_class else (fake_x, fake_y, "gen")
            pool = np.flatnonzero(lab == c)
            # Evenly spaced picks, so a pool that concatenates several disturbances shows each.
            picks = pool[np.linspace(0, len(pool) - 1, min(per_class, len(pool))).astype(int)]
            k = j % per_class
            if k < len(picks):
                ax.imshow(src[picks[k], 0], cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(kind, fontsize=8)
            if j == 0:
                name = label_names[c] if label_names and c < len(label_names) else str(c)
                ax.set_ylabel(name, fontsize=8)
    fig.tight_layout()
    with runs.atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
