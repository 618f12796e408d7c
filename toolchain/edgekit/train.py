"""Float training of the MobileNetV2 family, honestly evaluated, with an LDA baseline.

Data -> features -> split (by trial or session, never by frame) -> normalisation fitted on the
train split only -> AdamW + cosine schedule + label smoothing, model selection by early stopping on
the validation split; the test split is touched once, at the end.
"""

from __future__ import annotations

import copy
import json
import time
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import checkpoint, runs
from .data import Recording, load_recording
from .data.disturb import disturbed_copies, parse_conditions
from .data.features import FeatureConfig, Frames, Normalizer, extract, to_images
from .data.grids import Grid
from .data.splits import Split, check_no_leak, kfold_splits, make_split
from .data.synth import SynthConfig, default_dataset
from .errors import EdgekitError
from .metrics import predict, scores
from .nn import build_model
from .nn.profile import profile_model
from .progress import progress_bar
from .seeding import deterministic, fixed_threads, numerics

SPLITS = ("session", "trial", "kfold", "subject")


@dataclass
class TrainOptions:
    arch: str = "mbv2"
    width: float = 0.2
    data: Path | None = None  # None: the generated default dataset
    format: str = "csl"
    split: str = "session"
    test_session: int | None = None  # session split: which session is the test set (default last)
    subject: int | None = None  # session/trial split: use only this subject's trials
    test_subject: int | None = None  # subject split: which subject is the test set (default last)
    folds: int = 5  # kfold split
    epochs: int = 40
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    patience: int = 10
    seed: int = 0
    window_ms: float = 150.0
    hop_ms: float = 50.0
    band: tuple[float, float] | None = None  # band-pass edges, Hz; None: the default at the rate
    feature: str = "rms"
    filter: str = "causal"  # "causal" (what the device runs) | "zero-phase" (offline)
    # disturbed copies of the training frames, one per condition (a condition = disturbances
    # applied together: ("ca", "lc") two copies, ("ca,lc",) one copy with both)
    augment: tuple[str, ...] | None = None

    @classmethod
    def from_recipe(cls, path: Path, **overrides: Any) -> TrainOptions:
        """Defaults < recipe TOML ([train] table or top level) < explicit overrides (not None)."""
        try:
            d = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise EdgekitError(f"{path}: cannot read recipe ({e})") from None
        train = d.pop("train", {})
        d = {**d, **train}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise EdgekitError(f"{path}: unknown recipe fields {unknown}; known: {sorted(known)}")
        merged = {**d, **{k: v for k, v in overrides.items() if v is not None}}
        if merged.get("data") is not None:
            merged["data"] = Path(merged["data"])
        return cls(**merged)

    def __post_init__(self) -> None:
        if self.augment is not None:  # a recipe may give one condition as a string
            self.augment = tuple(parse_conditions(self.augment))

    def feature_config(self) -> FeatureConfig:
        return FeatureConfig(
            window_ms=self.window_ms,
            hop_ms=self.hop_ms,
            kind=self.feature,
            filter=self.filter,
            band_hz=self.band,
        )


@dataclass
class Prepared:
    """A dataset cut into a split and normalised: what training and ingest need."""

    label_names: list[str]
    layout: str
    grid: Grid
    features: FeatureConfig
    norm: Normalizer
    mask: np.ndarray
    frames: Frames
    split: Split
    images: np.ndarray  # (N, 1, grid rows, grid cols) float32, normalised
    source: dict[str, Any] = field(default_factory=dict)
    # --augment: disturbed copies of the training frames (images, labels), appended by fit()
    augment: tuple[np.ndarray, np.ndarray] | None = None
    clipping: dict[str, Any] = field(default_factory=dict)  # --augment: condition -> Clipping

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        idx = getattr(self.split, name)
        return self.images[idx], self.frames.y[idx]

    def save_frames(self, path: Path) -> None:
        arrays = {}
        for name in ("train", "val", "test"):
            x, y = self.part(name)
            arrays[f"x_{name}"], arrays[f"y_{name}"] = x.astype(np.float32), y.astype(np.int64)
            arrays[f"raw_{name}"] = self.frames.x[getattr(self.split, name)].astype(np.float32)
            arrays[f"trial_{name}"] = self.frames.trial_key[getattr(self.split, name)]
            arrays[f"session_{name}"] = self.frames.session[getattr(self.split, name)]
        arrays["label_names"] = np.array(self.label_names)
        arrays["grid"] = np.array(json.dumps(self.grid.to_dict()))
        runs.save_npz(path, **arrays)


def prepare(opts: TrainOptions, split: Split | None = None) -> Prepared:
    fcfg = opts.feature_config()
    if opts.data is None:
        cfg = SynthConfig()
        root = default_dataset(cfg)
        rec = load_recording(root, cfg.format)
        source = {"kind": "synthetic", "root": str(root), "config": asdict(cfg)}
    else:
        rec = load_recording(Path(opts.data), opts.format)
        source = {"kind": opts.format, "root": str(opts.data)}
    source["fs"] = rec.fs
    source["grid"] = rec.grid.name
    fcfg = fcfg.for_recording(rec)  # fixes the ADC step the device will be given
    frames = extract(rec, fcfg)
    if split is None:
        if opts.split not in SPLITS:
            raise EdgekitError(f"--split: unknown split {opts.split!r}; known: {', '.join(SPLITS)}")
        if opts.split == "kfold":
            split = kfold_splits(frames, opts.folds, opts.seed)[0]
        else:
            split = make_split(
                frames,
                opts.split,
                seed=opts.seed,
                test_session=opts.test_session,
                subject=opts.subject,
                test_subject=opts.test_subject,
            )
    check_no_leak(split, frames)
    mask = rec.grid.channel_mask()
    norm = Normalizer.fit(frames.x[split.train], mask)
    images = to_images(norm.apply(frames.x), rec.grid)
    aug, clipping = (
        augmented_train(rec, opts.augment, fcfg, norm, frames, split, opts.seed)
        if opts.augment
        else (None, {})
    )
    if aug is not None:
        source["augment"] = list(opts.augment)
    return Prepared(
        rec.label_names,
        rec.layout,
        rec.grid,
        fcfg,
        norm,
        mask,
        frames,
        split,
        images,
        source,
        aug,
        clipping,
    )


def augmented_train(
    rec: Recording,
    conditions: Sequence[str],
    fcfg: FeatureConfig,
    norm: Normalizer,
    frames: Frames,
    split: Split,
    seed: int,
) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """Plain augmentation (the baseline the GAN must beat): one disturbed copy of the training
    frames per condition (["ca", "lc"] -> a CA copy and an LC copy; ["ca,lc"] -> one copy with
    both), and per condition what the ADC's range clipped. Only the training sessions are
    disturbed (raw samples, before the feature chain); the same trials give the same frame
    order, so the split's train indices pick the disturbed twins of the training frames. The
    disturbed signals are the ones `edgekit robust gan` trains its generator on (same seeds)."""
    sessions = sorted(int(s) for s in np.unique(frames.session[split.train]))
    xs, ys, clipping = [], [], {}
    for item, f, clip in disturbed_copies(rec, conditions, fcfg, seed, sessions):
        if len(f) != len(frames) or not np.array_equal(f.trial_key, frames.trial_key):
            raise EdgekitError(
                f"--augment {item}: disturbed frames do not line up with the clean ones"
            )
        xs.append(to_images(norm.apply(f.x[split.train]), rec.grid))
        ys.append(f.y[split.train])
        clipping[item] = clip
    images = np.concatenate(xs).astype(np.float32)
    return (images, np.concatenate(ys).astype(np.int64)), clipping


def lda_baseline(p: Prepared) -> dict[str, Any]:
    """Linear discriminant analysis on the same (normalised, masked) per-channel features."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    x = p.norm.apply(p.frames.x)[:, p.mask]
    tr, te = p.split.train, p.split.test
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(x[tr], p.frames.y[tr])
    return scores(p.frames.y[te], lda.predict(x[te]), len(p.label_names))


# ----------------------------------------------------------------------------- training


def fit(
    model: nn.Module, p: Prepared, opts: TrainOptions, progress: bool = True, desc: str = "train"
) -> dict[str, Any]:
    """Train in place; keep the weights of the best validation epoch. Returns the history.
    Deterministic for a given opts.seed (dropout from a seeded torch generator, the epoch
    shuffles from a seeded numpy generator; see seeding.py)."""
    with deterministic(opts.seed):
        return _fit(model, p, opts, progress, desc)


def fresh_model(opts: TrainOptions, num_classes: int, grid: Grid, fold: int = 0) -> nn.Module:
    """The untrained network, its initial weights drawn from opts.seed (and the fold)."""
    with deterministic(opts.seed + 1000 * fold):
        return build_model(opts.arch, opts.width, num_classes, grid.shape)


def _fit(
    model: nn.Module, p: Prepared, opts: TrainOptions, progress: bool, desc: str
) -> dict[str, Any]:
    rng = np.random.default_rng(opts.seed)
    xtr, ytr = p.part("train")
    xva, yva = p.part("val")
    if len(xtr) == 0 or len(xva) == 0:
        raise EdgekitError(
            f"split {p.split.kind}: empty train or validation part "
            f"({len(xtr)} / {len(xva)} frames); use more trials or another --split"
        )
    n_aug = 0
    if p.augment is not None:  # --augment: disturbed twins of the training frames
        n_aug = len(p.augment[1])
        xtr, ytr = np.concatenate([xtr, p.augment[0]]), np.concatenate([ytr, p.augment[1]])
    opt = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    steps = max(1, opts.epochs * int(np.ceil(len(xtr) / opts.batch_size)))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=opts.label_smoothing)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    best = (-1.0, 0, copy.deepcopy(model.state_dict()))
    history = []
    bar = progress_bar(range(opts.epochs), desc=desc, enabled=progress)
    for epoch in bar:
        model.train()
        order = rng.permutation(len(xtr))
        total = 0.0
        for i in range(0, len(order), opts.batch_size):
            idx = torch.from_numpy(order[i : i + opts.batch_size])
            if len(idx) < 2:  # BatchNorm needs more than one sample
                continue
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        val_acc = float((predict(model, xva) == yva).mean())
        history.append({"epoch": epoch + 1, "loss": total / len(xtr), "val_acc": val_acc})
        bar.set_postfix(loss=f"{total / len(xtr):.3f}", val=f"{val_acc:.3f}")
        if val_acc > best[0]:
            best = (val_acc, epoch + 1, copy.deepcopy(model.state_dict()))
        elif epoch + 1 - best[1] >= opts.patience:
            break
    model.load_state_dict(best[2])
    return {
        "best_val_acc": best[0],
        "best_epoch": best[1],
        "epochs_run": len(history),
        "train_frames": int(len(xtr)),
        "augmented_frames": n_aug,
        "history": history,
    }


def model_record(
    model: nn.Module,
    opts: TrainOptions,
    p: Prepared,
    source: dict[str, Any],
    arch: str | None = None,
    width: float | None = None,
) -> checkpoint.ModelRecord:
    return checkpoint.ModelRecord(
        arch=arch or opts.arch,
        width=width if width is not None else opts.width,
        num_classes=len(p.label_names),
        label_names=list(p.label_names),
        features=p.features.to_dict(),
        norm_mean=p.norm.mean.tolist(),
        norm_std=p.norm.std.tolist(),
        channel_mask=[bool(m) for m in p.mask],
        layout=p.layout,
        grid=p.grid.to_dict(),
        state_dict=model.state_dict(),
        source=source,
    )


def split_record(p: Prepared) -> dict[str, Any]:
    return {
        "kind": p.split.kind,
        "description": p.split.description,
        "frames": {k: int(len(getattr(p.split, k))) for k in ("train", "val", "test")},
        "trials": {
            k: int(len(np.unique(p.frames.trial_key[getattr(p.split, k)])))
            for k in ("train", "val", "test")
        },
    }


def train_model(
    p: Prepared, opts: TrainOptions, progress: bool
) -> tuple[nn.Module, dict[str, Any], list[dict[str, Any]]]:
    """The trained network, its fit history and (kfold) each fold's test accuracies."""
    n = len(p.label_names)
    if opts.split != "kfold":
        model = fresh_model(opts, n, p.grid)
        return model, fit(model, p, opts, progress), []
    # Every fold gets fresh weights and a fresh optimizer; the run keeps fold 1's model.
    folds: list[dict[str, Any]] = []
    all_splits = kfold_splits(p.frames, opts.folds, opts.seed)
    for k, sp in enumerate(all_splits):
        pk = prepare(opts, split=sp) if k else p
        m = fresh_model(opts, n, p.grid, fold=k)
        fit(m, pk, opts, progress, desc=f"fold {k + 1}/{len(all_splits)}")
        xte, yte = pk.part("test")
        folds.append(
            {
                "fold": k + 1,
                "cnn": scores(yte, predict(m, xte), n)["accuracy"],
                "lda": lda_baseline(pk)["accuracy"],
            }
        )
        if k == 0:
            model = m
    return model, {"folds": folds}, folds


def run_train(run: runs.Run, opts: TrainOptions, progress: bool = True) -> dict[str, Any]:
    t0 = time.perf_counter()
    p = prepare(opts)
    n = len(p.label_names)
    # validate arch/width against the grid before any work is written
    build_model(opts.arch, opts.width, n, p.grid.shape)
    with fixed_threads():  # the test predictions too: the thread count picks kernels (seeding.py)
        model, fit_info, folds = train_model(p, opts, progress)
        xte, yte = p.part("test")
        cnn = scores(yte, predict(model, xte), n)
    lda = lda_baseline(p)
    prof = profile_model(model)
    rec = model_record(model, opts, p, {"kind": "trained", "data": p.source})
    run.root.mkdir(parents=True, exist_ok=True)
    checkpoint.save(run.float_ckpt, rec)
    p.save_frames(run.frames)
    report: dict[str, Any] = {
        "arch": opts.arch,
        "width": opts.width,
        "classes": p.label_names,
        "data": p.source,
        "grid": p.grid.to_dict(),
        "features": p.features.to_dict(),
        "split": split_record(p),
        "cnn": cnn,
        "lda": lda,
        "training": fit_info,
        "options": asdict(opts),
        "params": prof.total_params,
        "macs": prof.total_macs,
        "stride_plan": getattr(model, "plan", None),  # how mbv2 downsamples this grid
        "layers": [asdict(layer) for layer in prof.layers],
        "numerics": numerics(),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    if p.clipping:  # --augment: the ADC's range cut this share of each disturbed copy
        report["augment_clipping"] = p.clipping
    if folds:
        report["kfold"] = {
            "folds": folds,
            "cnn_mean": float(np.mean([f["cnn"] for f in folds])),
            "lda_mean": float(np.mean([f["lda"] for f in folds])),
        }
    plot_confusion(
        run.root / "confusion.png",
        np.array(cnn["confusion"]),
        p.label_names,
        f"{opts.arch} w{opts.width:g} — test accuracy {cnn['accuracy']:.3f}",
    )
    run.write_report("train", report)
    return report


def plot_confusion(path: Path, cm: np.ndarray, labels: list[str], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(labels), 0.8 + 0.6 * len(labels)))
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(
            j,
            i,
            str(v),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if v > cm.max() / 2 else "black",
        )
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with runs.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def summary(report: dict[str, Any]) -> str:
    s = report["split"]
    lines = [
        f"{report['arch']} w{report['width']:g}: {report['params']:,} params, "
        f"{report['macs']:,} MACs",
        *([f"strides: {report['stride_plan']}"] if report.get("stride_plan") else []),
        f"split {s['kind']}: {s['description']} "
        f"(frames train/val/test {s['frames']['train']}/{s['frames']['val']}/{s['frames']['test']})",
        f"CNN test accuracy {report['cnn']['accuracy']:.4f}  macro-F1 {report['cnn']['macro_f1']:.4f}",
        f"LDA test accuracy {report['lda']['accuracy']:.4f}  macro-F1 {report['lda']['macro_f1']:.4f}",
    ]
    if "kfold" in report:
        k = report["kfold"]
        lines.append(
            f"{len(k['folds'])}-fold over trials: CNN mean {k['cnn_mean']:.4f}, "
            f"LDA mean {k['lda_mean']:.4f}"
        )
    lines.append(f"wall time {report['wall_s']} s")
    return "\n".join(lines)
