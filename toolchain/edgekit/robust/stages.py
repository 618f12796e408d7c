"""The robustness stages behind `edgekit robust gan|finetune|eval` (and `train --augment`'s data).

They read only what earlier stages wrote into a run directory: float.pt (its source["data"] says
which recording the model was trained on, its features and normaliser say how frames are made) and
frames.npz (the split, as trial keys per frame). The recording is reloaded and disturbed *before*
feature extraction, as a bad electrode disturbs the raw signal; the clean frames re-extracted from
it must equal the ones in frames.npz, which proves the reload reproduces the training data.

    gan       disturbed frames of the training trials -> conditional WGAN-GP -> gan.pt, gan.json
              (losses + quality vs disturbed frames of the validation trials), gan.png
    finetune  float.pt + gan.pt -> a new run: float.pt fine-tuned on clean + generated frames,
              frames.npz copied, so quantize / export / bench work on it as on any run
    eval      clean, CA and LC versions of the test trials, float and int8 (host tflite_micro
              reference of export/model_int8.tflite), majority vote over 1/3/5/10 windows
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import checkpoint, runs
from ..data import FORMATS, Recording, load_recording
from ..data.disturb import apply_to_recording, disturbed_copies, parse_conditions
from ..data.features import FeatureConfig, Frames, Normalizer, extract, to_images, trial_key
from ..errors import EdgekitError
from ..progress import progress_bar

EVAL_SETS = ("clean", "ca", "lc")
GAN_FILE, GAN_REPORT, GAN_PNG = "gan.pt", "gan.json", "gan.png"
EVAL_JSON, EVAL_MD, EVAL_PNG = "robust_eval.json", "robust_eval.md", "robust_eval.png"
_EVAL_SEED_BASE = 90_001  # disturbed test sets: independent of the training draws


# ------------------------------------------------------------------------------ shared pieces


def load_source_recording(rec: checkpoint.ModelRecord, where: Path) -> Recording:
    """The recording the model was trained on, from its checkpoint's source["data"]."""
    data = rec.source.get("data") if isinstance(rec.source, dict) else None
    if not isinstance(data, dict) or "kind" not in data:
        raise EdgekitError(
            f"{where}: field 'source.data' is missing, so the checkpoint does not say "
            "which data it was trained on; re-train it with `edgekit train`"
        )
    kind = data["kind"]
    if kind == "synthetic":
        from ..data.synth import SynthConfig, load_synthetic

        cfg = SynthConfig.from_dict(data["config"]) if "config" in data else SynthConfig()
        return load_synthetic(cfg)
    if kind in FORMATS:
        root = Path(data.get("root", ""))
        if not root.exists():
            raise EdgekitError(
                f"{where}: the training data {root} (field 'source.data.root') is "
                "not there any more; the robust stages need the raw recording"
            )
        return load_recording(root, kind)
    raise EdgekitError(
        f"{where}: field 'source.data.kind' is {kind!r}; expected synthetic, {' or '.join(FORMATS)}"
    )


def _model(run: runs.Run) -> checkpoint.ModelRecord:
    run.require(run.float_ckpt, "float model", "run `edgekit train` first")
    rec = checkpoint.load(run.float_ckpt, checkpoint.FLOAT_FORMAT)
    if rec.arch == "onnx":
        raise EdgekitError(
            f"{run.float_ckpt}: an ingested ONNX model cannot be fine-tuned or "
            "evaluated in torch; ingest a PyTorch checkpoint instead"
        )
    return rec


def _split_frames(run: runs.Run, rec: checkpoint.ModelRecord) -> dict[str, np.ndarray]:
    run.require(run.frames, "frames", "run `edgekit train` first (it writes frames.npz)")
    z = runs.load_npz(run.frames)
    need = [f"{k}_{p}" for p in ("train", "val", "test") for k in ("x", "y", "trial")]
    missing = [k for k in need if k not in z]
    if missing:
        raise EdgekitError(f"{run.frames}: lacks arrays {missing}; re-run `edgekit train`")
    for p in ("train", "val", "test"):
        y = z[f"y_{p}"]
        if len(y) and (y.min() < 0 or y.max() >= rec.num_classes):
            raise EdgekitError(
                f"{run.frames}: 'y_{p}' has labels outside 0..{rec.num_classes - 1} "
                f"(the model in {run.float_ckpt} has {rec.num_classes} classes)"
            )
    return z


def _normalizer(rec: checkpoint.ModelRecord) -> Normalizer:
    return Normalizer(
        np.asarray(rec.norm_mean), np.asarray(rec.norm_std), np.asarray(rec.channel_mask, bool)
    )


def _images(f: Frames, rec: checkpoint.ModelRecord, idx: np.ndarray | None = None) -> np.ndarray:
    x = f.x if idx is None else f.x[idx]
    return to_images(_normalizer(rec).apply(x), rec.geometry())


def _recording_keys(rec: Recording) -> np.ndarray:
    return np.array(
        [trial_key(t.subject, t.session, t.label, t.trial) for t in rec.trials], np.int64
    )


def _check_reproduces(x_new: np.ndarray, x_saved: np.ndarray, run: runs.Run, part: str) -> None:
    """The reloaded data must give exactly the frames training used, else the dataset changed."""
    if x_new.shape != x_saved.shape or not np.allclose(x_new, x_saved, rtol=1e-4, atol=1e-4):
        raise EdgekitError(
            f"{run.frames}: the {part} frames re-extracted from the training data do "
            f"not match 'x_{part}' ({x_new.shape} vs {x_saved.shape}); the dataset "
            f"changed since `edgekit train`: re-train the run"
        )


def _finite(obj: Any) -> Any:
    """NaN/inf -> None, so reports stay valid JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


# ------------------------------------------------------------------------------ robust gan


def _disturbed_training(
    run: runs.Run, rec: checkpoint.ModelRecord, items: list[str], seed: int
) -> dict[str, Any]:
    """The GAN's conditioning data: per condition, a disturbed copy of the training sessions'
    raw trials (clipped at the ADC's range) through the run's feature chain, as normalised
    images of the training and validation trials, and what the ADC's range clipped."""
    z = _split_frames(run, rec)
    fcfg = FeatureConfig.from_dict(rec.features)
    data = load_source_recording(rec, run.float_ckpt)
    if list(data.label_names) != list(rec.label_names):
        raise EdgekitError(
            f"{run.float_ckpt}: the training data now has classes {data.label_names}, "
            f"the model {rec.label_names}; re-train the run"
        )
    clean = extract(data, fcfg)
    tr = np.isin(clean.trial_key, z["trial_train"])
    va = np.isin(clean.trial_key, z["trial_val"])
    _check_reproduces(_images(clean, rec, tr), z["x_train"], run, "train")
    sessions = sorted(int(s) for s in np.unique(clean.session[tr | va]))
    xs_tr, ys_tr, xs_va, ys_va, per_item, clipping = [], [], [], [], {}, {}
    for item, f, clip in disturbed_copies(data, items, fcfg, seed, sessions):
        xs_tr.append(_images(f, rec, tr))
        ys_tr.append(f.y[tr])
        xs_va.append(_images(f, rec, va))
        ys_va.append(f.y[va])
        per_item[item] = {"train": int(tr.sum()), "val": int(va.sum())}
        clipping[item] = clip
    return {
        "x_train": np.concatenate(xs_tr),
        "y_train": np.concatenate(ys_tr),
        "x_val": np.concatenate(xs_va),
        "y_val": np.concatenate(ys_va),
        "frames": per_item,
        "clipping": clipping,
    }


def run_gan(
    run: runs.Run,
    disturb: Sequence[str] = ("ca", "lc"),
    steps: int = 2000,
    seed: int = 0,
    progress: bool = True,
    gan_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train the conditional WGAN-GP on disturbed frames of the run's training trials.
    Writes gan.pt, gan.json and gan.png into the run directory."""
    from .finetune import mask_frames
    from .gan import GanConfig, quality, sample, save_gan, save_grid_png, train_gan

    t0 = time.perf_counter()
    items = parse_conditions(disturb)  # one disturbed copy per condition
    if steps < 1:
        raise EdgekitError(f"--steps: must be >= 1, got {steps}")
    cfg = GanConfig.from_dict({**(gan_config or {}), "steps": steps})
    rec = _model(run)
    d = _disturbed_training(run, rec, items, seed)
    x_tr, y_tr, x_va, y_va = d["x_train"], d["y_train"], d["x_val"], d["y_val"]

    G, hist = train_gan(x_tr, y_tr, rec.num_classes, cfg, seed=seed, progress=progress)
    rng = np.random.default_rng(seed + 1)
    n_fake = max(len(y_va), 64 * rec.num_classes)
    fake_y = rng.choice(y_tr, n_fake, replace=True)
    fake_x = mask_frames(sample(G, fake_y, seed=seed + 1), rec.channel_mask, rec.geometry())
    q = quality(fake_x, fake_y, x_va, y_va, rec.num_classes)
    # The level real data reaches: real disturbed training frames against the same held-out ones.
    q_real = quality(x_tr, y_tr, x_va, y_va, rec.num_classes)
    q_real.pop("per_class", None)

    gan_path = run.root / GAN_FILE
    extra = {
        "disturb": items,
        "seed": seed,
        "float_ckpt": str(run.float_ckpt),
        "train_frames": int(len(y_tr)),
    }
    save_gan(gan_path, G, cfg, rec.label_names, extra)
    save_grid_png(run.root / GAN_PNG, x_va, y_va, fake_x, fake_y, rec.label_names)
    last = {k: v[-1] for k, v in hist.items() if v}
    report = {
        "disturb": items,
        "steps": steps,
        "seed": seed,
        "config": dataclasses.asdict(cfg),
        "classes": rec.label_names,
        "frames": d["frames"],
        "clipping": d["clipping"],
        "disturbed_frames": {"train": int(len(y_tr)), "val_heldout": int(len(y_va))},
        "losses_last": last,
        "history": hist,
        "quality": q,
        "quality_real_reference": q_real,
        "files": {"gan": str(gan_path), "grid": str(run.root / GAN_PNG)},
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    report = _finite(report)
    run.write_report("gan", report)
    return report


def gan_summary(r: dict[str, Any]) -> str:
    q, qr = r["quality"], r["quality_real_reference"]

    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    lines = [
        f"conditional WGAN-GP on {r['disturbed_frames']['train']} disturbed training frames "
        f"({', '.join(r['disturb'])}), {r['steps']} generator steps; "
        f"last W-distance {f(r['losses_last'].get('w_dist'))}",
        "quality vs held-out disturbed validation frames (generated | real training frames):",
        f"  mean dist {f(q['mean_dist'])} | {f(qr['mean_dist'])}   std dist {f(q['std_dist'])} | "
        f"{f(qr['std_dist'])}   spectral dist {f(q['spectral_dist'])} | {f(qr['spectral_dist'])}",
        f"  LDA trained on it, tested on real: {f(q['tstr_accuracy'])} | {f(qr['tstr_accuracy'])}",
    ]
    if r.get("clipping"):
        lines.append(clipping_text(r["clipping"]))
    lines.append(f"wrote {r['files']['gan']}, {r['files']['grid']}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ robust finetune


def _check_finetune_args(run: runs.Run, out_run: runs.Run, mix: float, epochs: int) -> None:
    if out_run.root.resolve() == run.root.resolve():
        raise EdgekitError(
            f"--out: {out_run.root} is the source run; the robust model goes into a "
            "new run directory (e.g. --out runs/robust)"
        )
    if not 0.0 <= mix <= 1.0:
        raise EdgekitError(f"--mix: fraction of generated frames must be in [0, 1], got {mix}")
    if epochs < 1:
        raise EdgekitError(f"--epochs: must be >= 1, got {epochs}")
    stale = [p.name for p in (out_run.qat_ckpt, out_run.export_dir) if p.exists()]
    if stale:
        raise EdgekitError(
            f"--out: {out_run.root} already holds {', '.join(stale)} of an earlier "
            "model, which would no longer match; use a new --out directory"
        )


def _gan_for(run: runs.Run, rec: checkpoint.ModelRecord) -> tuple[Any, dict[str, Any], Path]:
    """The run's generator (gan.pt), checked against the model's classes."""
    from .gan import load_gan

    gan_path = run.require(
        run.root / GAN_FILE, "GAN checkpoint", f"run `edgekit robust gan --run {run.root}` first"
    )
    G, meta = load_gan(gan_path, rec.num_classes)
    if meta.get("label_names") and list(meta["label_names"]) != list(rec.label_names):
        raise EdgekitError(
            f"{gan_path}: field 'label_names' is {meta['label_names']}, but the model "
            f"has {rec.label_names}; re-run `edgekit robust gan --run {run.root}`"
        )
    return G, meta, gan_path


def _clean_accuracy(rec: checkpoint.ModelRecord, fr: Any) -> dict[str, float]:
    from ..metrics import accuracy, predict

    model = rec.build()
    return {
        "test": accuracy(predict(model, fr.x_test), fr.y_test),
        "val": accuracy(predict(model, fr.x_val), fr.y_val),
    }


def run_finetune(
    run: runs.Run,
    out_run: runs.Run,
    mix: float = 0.5,
    epochs: int = 5,
    seed: int = 0,
    progress: bool = True,
    lr: float | None = None,
) -> dict[str, Any]:
    """Fine-tune run's float model on clean training frames + GAN frames; write it as out_run."""
    from ..artifacts import load_frames
    from .finetune import (
        FinetuneConfig,
        finetune_with_gan,
        generate_like,
        mask_frames,
        mix_frames,
        n_generated,
    )

    t0 = time.perf_counter()
    _check_finetune_args(run, out_run, mix, epochs)
    rec = _model(run)
    run.require(run.frames, "frames", "run `edgekit train` first (it writes frames.npz)")
    fr = load_frames(run.frames, rec.num_classes)
    G, meta, gan_path = _gan_for(run, rec)
    cfg = FinetuneConfig(epochs=epochs, mix_ratio=mix, **({"lr": lr} if lr is not None else {}))
    before = _clean_accuracy(rec, fr)
    # Model selection on the validation trials: their clean frames plus generated disturbed frames
    # in the same ratio as training (no real disturbed frame is used).
    n_gen_val = n_generated(len(fr.y_val), mix)
    gx, gy = generate_like(G, fr.y_val, n_gen_val, seed + 1)
    gx = mask_frames(gx, rec.channel_mask, rec.geometry())
    x_sel, y_sel = mix_frames(fr.x_val, fr.y_val, gx, gy, mix, np.random.default_rng(seed + 1))
    new, hist = finetune_with_gan(rec, fr.x_train, fr.y_train, G, cfg, seed, x_sel, y_sel, progress)
    after = _clean_accuracy(new, fr)
    new.source = {
        **rec.source,
        "kind": "robust-finetune",
        "robust": True,
        "from_run": str(run.root),
        "from_ckpt": str(run.float_ckpt),
        "gan": str(gan_path),
        "gan_disturb": meta.get("extra", {}).get("disturb"),
        "mix_ratio": mix,
    }
    ft = new.extra.get("robust_finetune", {})
    report = {
        "from_run": str(run.root),
        "out_run": str(out_run.root),
        "gan": str(gan_path),
        "mix_ratio": mix,
        "epochs": epochs,
        "seed": seed,
        "lr": cfg.lr,
        "frames": {
            "clean": ft.get("n_clean"),
            "generated": ft.get("n_generated"),
            "selection_generated": n_gen_val,
        },
        "clean_accuracy": {
            "before": before,
            "after": after,
            "test_change_pp": round(100 * (after["test"] - before["test"]), 2),
        },
        "history": hist,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    out_run.root.mkdir(parents=True, exist_ok=True)
    checkpoint.save(out_run.float_ckpt, new)
    runs.write_bytes(out_run.frames, run.frames.read_bytes())
    out_run.write_report("robust_finetune", report)
    return report


def finetune_summary(r: dict[str, Any]) -> str:
    c = r["clean_accuracy"]
    return (
        f"fine-tuned {r['from_run']} on {r['frames']['clean']} clean + {r['frames']['generated']} "
        f"generated frames (mix {r['mix_ratio']:g}), {r['epochs']} epochs\n"
        f"clean test accuracy {c['before']['test']:.4f} -> {c['after']['test']:.4f} "
        f"({c['test_change_pp']:+.2f} pp)\n"
        f"wrote {r['out_run']}/float.pt; next: edgekit robust eval --run {r['from_run']} "
        f"--robust {r['out_run']}  (or edgekit quantize --run {r['out_run']})"
    )


# ------------------------------------------------------------------------------ robust eval


def _int8_predictor(run: runs.Run) -> tuple[Callable[[np.ndarray], np.ndarray] | None, str]:
    """Host tflite_micro reference of the run's exported int8 model, or (None, why not)."""
    from ..artifacts import load_export
    from ..export import reference
    from ..quantspec import quantize_input

    tfl, meta = run.export_dir / "model_int8.tflite", run.export_dir / "export.json"
    if not tfl.exists() or not meta.exists():
        return None, "not exported"
    if meta.stat().st_mtime < run.float_ckpt.stat().st_mtime:
        return None, "stale export (float.pt is newer): re-run quantize and export"
    info = load_export(meta)
    scale, zp = info.input_scale, info.input_zero_point
    arena = reference.host_arena(info)
    data = tfl.read_bytes()

    def predict(x: np.ndarray) -> np.ndarray:
        return reference.run_reference(data, quantize_input(x, scale, zp), arena).argmax(1)

    return predict, "ok"


def _sets_for(
    run: runs.Run,
    rec: checkpoint.ModelRecord,
    z: dict[str, np.ndarray],
    seed: int,
    cache: dict[Any, tuple[dict[str, Frames], dict[str, Any]]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Clean / CA / LC EvalSets of the run's test trials, normalised with the run's normaliser,
    and per disturbed set what the ADC's range clipped. The disturbances go into the raw test
    trials, clipped at the training data's ADC range, before the run's feature chain."""
    from .evaluate import EvalSet

    fcfg = FeatureConfig.from_dict(rec.features)
    test_keys = np.unique(z["trial_test"])
    key = (
        runs.to_json(rec.source.get("data"), indent=None),
        runs.to_json(fcfg.to_dict(), indent=None),
        test_keys.tobytes(),
    )
    if key not in cache:
        data = load_source_recording(rec, run.float_ckpt)
        keep = np.isin(_recording_keys(data), test_keys)
        test = dataclasses.replace(
            data, trials=[t for t, k in zip(data.trials, keep, strict=True) if k]
        )
        if not test.trials:
            raise EdgekitError(f"{run.frames}: none of the test trials are in the training data")
        fcfg = fcfg.for_recording(data)  # the ADC step of the whole recording, as in training
        recs = {"clean": test}
        for name in EVAL_SETS[1:]:
            recs[name] = apply_to_recording(
                test, name, seed + _EVAL_SEED_BASE, adc_lsb=fcfg.adc_lsb
            )
        cache[key] = (
            {name: extract(r, fcfg) for name, r in recs.items()},
            {name: r.extra["disturb"]["clipping"] for name, r in recs.items() if name != "clean"},
        )
    frames, clipping = cache[key]
    sets = {name: EvalSet(_images(f, rec), f.y, f.trial_key) for name, f in frames.items()}
    # test frames keep the original frame order, so the clean set must be frames.npz's x_test
    _check_reproduces(sets["clean"].x, z["x_test"], run, "test")
    return sets, clipping


def _eval_model(
    run: runs.Run,
    rec: checkpoint.ModelRecord,
    sets: dict[str, Any],
    timing: tuple[float, float],
    votes: Sequence[int],
) -> dict[str, Any]:
    """One model's row: float and (if exported) int8 accuracy per set and vote, and retention
    (disturbed accuracy as a fraction of the same model's clean accuracy)."""
    from ..metrics import predict
    from .evaluate import evaluate

    model = rec.build()
    res: dict[str, Any] = {
        "run": str(run.root),
        "source": rec.source.get("kind"),
        "float": evaluate(functools.partial(predict, model), sets, rec.num_classes, *timing, votes)[
            "accuracy"
        ],
    }
    predict8, status = _int8_predictor(run)
    res["int8_status"] = status
    res["int8"] = (
        evaluate(predict8, sets, rec.num_classes, *timing, votes)["accuracy"]
        if predict8 is not None
        else None
    )
    res["retention"] = {
        prec: {
            s: [a / c if c else None for a, c in zip(acc[s], acc["clean"], strict=True)]
            for s in EVAL_SETS
            if s != "clean"
        }
        for prec in ("float", "int8")
        if (acc := res[prec]) is not None
    }
    return res


def run_eval(
    runs_by_name: dict[str, runs.Run],
    seed: int = 0,
    progress: bool = True,
    out_dir: Path | None = None,
    votes: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Float and int8 accuracy of each model on clean, CA and LC test trials with majority voting.
    Writes robust_eval.json / .md / .png into out_dir (default: the first run's directory)."""
    from .evaluate import VOTES, vote_latency_ms

    t0 = time.perf_counter()
    if not runs_by_name:
        raise EdgekitError("robust eval: no run given (--run)")
    votes = list(votes or VOTES)
    cache: dict[Any, tuple[dict[str, Frames], dict[str, Any]]] = {}
    models: dict[str, Any] = {}
    ref_keys, ref_name, timing = None, "", None
    loaded = [(name, run, _model(run)) for name, run in runs_by_name.items()]
    for _name, run, rec in loaded:
        _split_frames(run, rec)  # every run checked before any slow work
    for name, run, rec in progress_bar(loaded, "robust eval", progress):
        z = _split_frames(run, rec)
        keys = np.unique(z["trial_test"])
        if ref_keys is None:
            ref_keys, ref_name = keys, name
        elif not np.array_equal(keys, ref_keys):
            raise EdgekitError(
                f"{run.frames}: the {name} model was tested on other trials than the "
                f"{ref_name} model; train both on the same data and --split"
            )
        fc = FeatureConfig.from_dict(rec.features)
        if timing is None:
            timing = (fc.window_ms, fc.hop_ms)
        elif timing != (fc.window_ms, fc.hop_ms):
            raise EdgekitError(
                f"{run.float_ckpt}: window/hop {fc.window_ms:g}/{fc.hop_ms:g} ms differ "
                f"from the {ref_name} model's {timing[0]:g}/{timing[1]:g} ms"
            )
        sets, clipping = _sets_for(run, rec, z, seed, cache)
        models[name] = {**_eval_model(run, rec, sets, timing, votes), "clipping": clipping}
        n = {s: int(len(v.y)) for s, v in sets.items()}
    result: dict[str, Any] = {
        "votes": votes,
        "latency_ms": [vote_latency_ms(timing[0], timing[1], k) for k in votes],
        "window_ms": timing[0],
        "hop_ms": timing[1],
        "sets": list(EVAL_SETS),
        "n": n,
        "test_trials": int(len(ref_keys)),
        "seed": seed,
        "disturb_seed": seed + _EVAL_SEED_BASE,
        "clipping": next(iter(models.values()))["clipping"],
        "models": models,
    }
    result["table"] = eval_table(result)
    out = Path(out_dir) if out_dir is not None else next(iter(runs_by_name.values())).root
    result["files"] = {
        k: str(out / f) for k, f in (("json", EVAL_JSON), ("md", EVAL_MD), ("png", EVAL_PNG))
    }
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    runs.write_json(out / EVAL_JSON, {**result, "provenance": runs.provenance()})
    runs.write_text(
        out / EVAL_MD, "# Robustness to bad electrode contacts\n\n" + result["table"] + "\n"
    )
    plot_eval(out / EVAL_PNG, result)
    return result


def eval_table(r: dict[str, Any]) -> str:
    """Markdown: one row per (model, precision, set), one column per vote length (+ latency)."""
    head = (
        "| model | precision | set | "
        + " | ".join(
            f"k={k} ({lat:g} ms)" for k, lat in zip(r["votes"], r["latency_ms"], strict=True)
        )
        + " |"
    )
    rows = [head, "|---|---|---|" + "---|" * len(r["votes"])]
    notes = []
    for name, m in r["models"].items():
        for prec in ("float", "int8"):
            acc = m[prec]
            if acc is None:
                notes.append(f"{name} int8: {m['int8_status']}")
                continue
            for s in r["sets"]:
                rows.append(
                    f"| {name} | {prec} | {s} | "
                    + " | ".join(f"{100 * a:.1f}%" for a in acc[s])
                    + " |"
                )
    # Retention: each model's disturbed accuracy as a share of its own clean accuracy, per vote.
    disturbed = [s for s in r["sets"] if s != "clean"]
    rows += [
        "",
        "| model | precision | "
        + " | ".join(f"{s.upper()} kept, k={'/'.join(map(str, r['votes']))}" for s in disturbed)
        + " |",
        "|---|---|" + "---|" * len(disturbed),
    ]
    for name, m in r["models"].items():
        for prec, ret in m.get("retention", {}).items():
            rows.append(
                f"| {name} | {prec} | "
                + " | ".join(
                    " / ".join("-" if v is None else f"{100 * v:.0f}%" for v in ret[s])
                    for s in disturbed
                )
                + " |"
            )
    text = "\n".join(rows)
    n = r.get("n", {})
    text += (
        f"\n\nTest trials: {r.get('test_trials')}, frames per set: {n.get('clean')}; "
        f"window {r['window_ms']:g} ms, hop {r['hop_ms']:g} ms; a vote over k windows "
        "decides from window + (k-1) * hop of signal."
    )
    if r.get("clipping"):
        text += "\n" + clipping_text(r["clipping"])
    if notes:
        text += "\n" + "\n".join(f"- {t}" for t in notes)
    return text


def clipping_text(clipping: dict[str, dict[str, Any]]) -> str:
    """One line: what the ADC's range clipped in each disturbed condition."""
    parts = [
        f"{name.upper()} {100 * c['fraction']:.3f}% of samples ({100 * c['fraction_of_changed']:.2f}% "
        f"of those it changed; {c['trials_clipped']} of {c['trials']} trials)"
        for name, c in clipping.items()
    ]
    return "Clipped at the ADC's full scale: " + ", ".join(parts) + "."


def plot_eval(path: Path, r: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(r["sets"]), figsize=(4.2 * len(r["sets"]), 3.4), sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, s in zip(axes, r["sets"], strict=True):
        for i, (name, m) in enumerate(r["models"].items()):
            for prec, style in (("float", "-o"), ("int8", "--s")):
                if m[prec] is not None:
                    ax.plot(
                        r["latency_ms"],
                        [100 * a for a in m[prec][s]],
                        style,
                        color=colors[i % len(colors)],
                        label=f"{name} {prec}",
                        ms=4,
                    )
        for k, lat in zip(r["votes"], r["latency_ms"], strict=True):
            ax.annotate(
                f"k={k}",
                (lat, 0),
                xytext=(0, 2),
                textcoords="offset points",
                fontsize=7,
                ha="center",
                va="bottom",
                xycoords=("data", "axes fraction"),
            )
        ax.set_ylim(0, 102)
        ax.set_title(s.upper() if s != "clean" else "clean")
        ax.set_xlabel("decision latency (ms)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with runs.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
