"""Per-session calibration on the PC: a new classifier head from the first seconds of each gesture.

The electrodes sit a little differently every session. `edgekit calibrate` takes the first S
seconds of every gesture of one session (data/calibration.py), computes the network's penultimate
features on them (float: the float model; int8: the exported .tflite in tflite_micro), fits only
the head from them, and scores the rest of the session before and after, float and int8. The
backbone and all its int8 tensors stay as they were: the calibrated run's .tflite differs from the
original only in the head's weights, bias and their scales (export/head.py writes them in place).

Methods (on the penultimate features): "ncm", the nearest class mean (what the board computes,
in the same integers: the int8 head is export/head.solve_ncm, bit for bit the board's);
"lda", shrinkage LDA (Ledoit-Wolf); "lsq", a ridge least-squares fit to one-hot targets. The
last two are float fits, quantised per class for the int8 model.

The calibrated run (--out) holds float.pt with the float head, export/ with the int8 head (its
C array, model_meta.h and reference.npz written anew), train.json, and calibrate.json (the
report). It has no qat.pt: it is not re-exported, its export/ is the deployable model.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import checkpoint, runs
from .data import causal
from .data.calibration import (
    SessionCut,
    check_compatible,
    cut_session,
    gesture_trials,
    session_trials,
)
from .data.features import FeatureConfig, Normalizer, to_images
from .errors import EdgekitError
from .export import head as hd
from .export.tflite import inspect_tflite
from .nn import get_arch
from .quantspec import dequantize, quantize_input

METHODS = ("out-lda", "ncm", "lda", "lsq")
BOARD_METHOD = "out-lda"  # the board's default (ek-calib-start; it also solves ncm)


@dataclass
class SessionFrames:
    """A session's frames (per trial, as training makes them) and where each one's window lies."""

    images: np.ndarray  # (N, 1, H, W) float32, normalised as the model was trained
    labels: np.ndarray  # (N,)
    trial: np.ndarray  # (N,) index into the cut's trials
    end: np.ndarray  # (N,) exclusive end sample of the frame's window in its trial
    window: int  # samples per window

    def split(self, cut: SessionCut) -> tuple[np.ndarray, np.ndarray]:
        """(calibration, rest) masks: the window ends within its trial's calibration samples,
        or starts at or after them (a window across the cut is in neither)."""
        k = cut.cal_samples[self.trial]
        return self.end <= k, self.end - self.window >= k


def session_frames(mrec: checkpoint.ModelRecord, trials: list, fs: float) -> SessionFrames:
    """Causal frames of every trial of the session (the training chain: from each trial's start,
    warm-up frames dropped)."""
    known = set(FeatureConfig.__dataclass_fields__)
    fc = FeatureConfig.from_dict({k: v for k, v in mrec.features.items() if k in known})
    if fc.filter != "causal" or fc.kind != "rms":
        raise EdgekitError(
            f"checkpoint features: filter {fc.filter}, kind {fc.kind}; calibration runs on "
            "the causal RMS chain the board computes (train with --filter causal)"
        )
    spec = fc.chain_spec(fs, "checkpoint.features")
    norm = Normalizer(mrec.norm_mean, mrec.norm_std, np.asarray(mrec.channel_mask, bool))
    counts = [causal.to_counts(t.signal, spec.adc_lsb, t.source) for t in trials]
    feats = causal.batch_features(counts, spec, "rms")
    ys, tr, ends = [], [], []
    for i, (t, c, f) in enumerate(zip(trials, counts, feats, strict=True)):
        ys.append(np.full(len(f), t.label))
        tr.append(np.full(len(f), i))
        ends.append(causal.frame_ends(spec, c.shape[1]))
    images = to_images(norm.apply(np.concatenate(feats)), mrec.geometry())
    cat = np.concatenate
    return SessionFrames(images, cat(ys), cat(tr), cat(ends), spec.window)


def float_features(mrec: checkpoint.ModelRecord, images: np.ndarray) -> tuple[np.ndarray, ...]:
    """The float model's penultimate features (its classifier's input) and logits."""
    import torch

    model = mrec.build()
    fc = model.get_submodule(get_arch(mrec.arch).head.classifier)
    got: list[torch.Tensor] = []
    hook = fc.register_forward_hook(lambda m, i, o: got.append(i[0].detach()))
    with torch.no_grad():
        logits = [model(torch.from_numpy(images[i : i + 256])) for i in range(0, len(images), 256)]
    hook.remove()
    return torch.cat(got).numpy(), torch.cat(logits).numpy()


def out_lda(z: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The board's out-lda in float64 on outputs z: (A, cst), class c scoring A[c].z + cst[c]
    (pooled within-class covariance + 1e-3 of its mean variance on the diagonal)."""
    z = np.asarray(z, np.float64)
    mu = np.stack([z[y == c].mean(axis=0) for c in range(n_classes)])
    d = z - mu[y]
    cov = d.T @ d / (len(z) - n_classes)
    cov += np.eye(n_classes) * np.trace(cov) / n_classes * 1e-3
    a = np.linalg.solve(cov, mu.T).T
    return a, -0.5 * (a * mu).sum(axis=1)


def fit_head(
    method: str, x: np.ndarray, y: np.ndarray, n_classes: int, old: tuple | None = None
) -> tuple[np.ndarray, ...]:
    """A float head (W (C, F), b (C,)) on features x of classes y; out-lda fits on the model's
    logits x and composes with the model's head `old` (W, b)."""
    if method == "out-lda":
        a, cst = out_lda(x, y, n_classes)
        return a @ old[0], a @ old[1] + cst
    x = np.asarray(x, np.float64)
    means = np.stack([x[y == c].mean(axis=0) for c in range(n_classes)])
    if method == "ncm":
        return means, -0.5 * (means * means).sum(axis=1)
    if method == "lda":
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto", priors=None)
        lda.fit(x, y)
        if n_classes == 2:  # sklearn keeps one row for two classes
            return np.stack([-lda.coef_[0], lda.coef_[0]]) / 2, np.array(
                [-lda.intercept_[0], lda.intercept_[0]]
            ) / 2
        return lda.coef_, lda.intercept_
    if method == "lsq":
        xa = np.hstack([x, np.ones((len(x), 1))])
        reg = np.eye(xa.shape[1]) * len(x)
        reg[-1, -1] = 0.0  # the bias is not shrunk
        sol = np.linalg.solve(xa.T @ xa + reg, xa.T @ np.eye(n_classes)[y])
        return sol[:-1].T, sol[-1]
    raise EdgekitError(f"--method: unknown method {method!r}; known: {', '.join(METHODS)}")


def _need_hops(y: np.ndarray, n_classes: int, labels: list[str], seconds: float) -> None:
    n = np.bincount(y, minlength=n_classes)
    bad = [c for c in range(n_classes) if n[c] < hd.MIN_HOPS]
    if bad:
        c = bad[0]
        raise EdgekitError(
            f"--seconds-per-gesture {seconds:g}: gesture {c} ({labels[c]}) gives {n[c]} "
            f"calibration frames, a head needs at least {hd.MIN_HOPS} per gesture; calibrate "
            "for longer"
        )


def int8_head(
    method: str, feats: np.ndarray, y: np.ndarray, hi: hd.HeadInfo, labels: list[str]
) -> hd.IntHead:
    """The int8 head from int8 calibration features (the model's outputs for out-lda): the
    board's solves for out-lda and ncm, else the float fit on the dequantized features,
    quantised per class."""
    if method == "out-lda":
        return hd.solve_out_lda(*hd.out_stats(feats, y, hi), hi, labels)
    if method == "ncm":
        return hd.solve_ncm(*hd.class_sums(feats, y, hi.n_out), hi, labels)
    x = dequantize(feats, hi.in_scale, hi.in_zp)
    w, b = fit_head(method, x, y, hi.n_out)
    return hd.int_head(*hd.quantize_float_head(w, b, hi, x @ w.T + b), hi)


def _acc(pred: np.ndarray, y: np.ndarray) -> float:
    return float((np.asarray(pred) == y).mean()) if len(y) else float("nan")


@dataclass
class Prepared:
    """What calibrating one session needs, whatever the seconds and the method."""

    run: runs.Run
    mrec: checkpoint.ModelRecord
    tflite: bytes
    hi: hd.HeadInfo
    rec: Any  # the Recording
    where: str
    frames: SessionFrames
    x_int8: np.ndarray  # the frames as the int8 model's inputs
    f_float: np.ndarray  # penultimate features: float model
    logits: np.ndarray  # float model's logits
    f_int8: np.ndarray  # penultimate features: int8 model (tflite_micro)
    o_int8: np.ndarray  # int8 model's outputs
    session: int | None


def prepare(
    run: runs.Run, session: int | None = None, recording: Path | None = None, fmt: str = "csl"
) -> Prepared:
    """The session's frames and both models' penultimate features and outputs on them."""
    mrec = checkpoint.load(run.float_ckpt, checkpoint.FLOAT_FORMAT)
    tfl_path = run.require(
        run.export_dir / "model_int8.tflite", "exported model", "run `edgekit export` first"
    )
    tfl = tfl_path.read_bytes()
    info = inspect_tflite(tfl, str(tfl_path))
    hi, why = hd.find_head(info)
    if hi is None:
        raise EdgekitError(f"{tfl_path}: {why}; calibration replaces a FULLY_CONNECTED head")
    rec, where = _recording(run, mrec, recording, fmt)
    s, trials = session_trials(rec, session, where)
    gesture_trials(rec, s, trials, mrec.num_classes, where)
    sf = session_frames(mrec, trials, rec.fs)
    xf, logits = float_features(mrec, sf.images)
    x8 = quantize_input(sf.images, info.input.scales[0], info.input.zero_points[0])
    f8, o8 = hd.penultimate(tfl, hi, info, x8)
    return Prepared(run, mrec, tfl, hi, rec, where, sf, x8, xf, logits, f8, o8, s)


@dataclass
class Calibrated:
    """One calibration: the cut, the float head, the int8 head and the accuracies."""

    cut: SessionCut
    cal: np.ndarray
    rest: np.ndarray
    head_float: tuple[np.ndarray, np.ndarray]
    head_int8: hd.IntHead
    accuracy: dict[str, float]


def evaluate(p: Prepared, seconds: float, method: str = BOARD_METHOD) -> Calibrated:
    """Fit the head on the first `seconds` of each gesture; score the rest, before and after
    (int8 after: export/head.run_head, TFLM's arithmetic on the int8 features)."""
    if method not in METHODS:
        raise EdgekitError(f"--method: unknown method {method!r}; known: {', '.join(METHODS)}")
    m = p.mrec
    cut = cut_session(p.rec, p.session, seconds, m.num_classes, p.where)
    cal, rest = p.frames.split(cut)
    y = p.frames.labels
    _need_hops(y[cal], m.num_classes, m.label_names, seconds)
    lda = method == "out-lda"  # fits on the model's outputs, then runs after its head
    key = get_arch(m.arch).head.classifier
    old = (
        m.state_dict[f"{key}.weight"].double().numpy(),
        m.state_dict[f"{key}.bias"].double().numpy(),
    )
    w, b = fit_head(method, (p.logits if lda else p.f_float)[cal], y[cal], m.num_classes, old)
    x8 = p.o_int8 if lda else p.f_int8
    h8 = int8_head(method, x8[cal], y[cal], p.hi, m.label_names)
    yr = y[rest]
    acc = {
        "float_before": _acc(p.logits[rest].argmax(1), yr),
        "float_after": _acc((p.f_float[rest] @ w.T + b).argmax(1), yr),
        "int8_before": _acc(_argmax(p.o_int8[rest]), yr),
        "int8_after": _acc(_argmax(hd.run_head(h8, p.hi, x8[rest])), yr),
    }
    return Calibrated(cut, cal, rest, (w, b), h8, acc)


def _argmax(out: np.ndarray) -> np.ndarray:
    return np.argmax(np.asarray(out).astype(np.int16), axis=1)  # ties: lowest index, as the board


def calibrate(
    run: runs.Run,
    seconds: float,
    *,
    session: int | None = None,
    recording: Path | None = None,
    fmt: str = "csl",
    method: str = BOARD_METHOD,
    out: Path | None = None,
) -> dict[str, Any]:
    """Calibrate the run's head on one session; write the calibrated run to `out` if given. The
    int8 accuracy after is the calibrated .tflite's in tflite_micro (checked against the
    integer mirror the board shares)."""
    p = prepare(run, session, recording, fmt)
    c = evaluate(p, seconds, method)
    h = export_head(p, c) if method == "out-lda" else c.head_int8
    patched = hd.write_head(p.tflite, p.hi, h.weights, h.bias, h.w_scale)
    info = inspect_tflite(patched, "calibrated model")
    _, after8 = hd.penultimate(patched, p.hi, info, p.x_int8[c.rest])
    mirror = hd.run_head(h, p.hi, p.f_int8[c.rest])
    if not np.array_equal(after8, mirror):
        raise EdgekitError(
            "calibrate: the calibrated .tflite in tflite_micro differs from the integer head "
            f"({int((after8 != mirror).any(axis=1).sum())} of {len(after8)} frames)"
        )
    y = p.frames.labels
    rep = {
        "stage": "calibrate",
        "run": str(run.root),
        "source": c.cut.source,
        "session": c.cut.session,
        "seconds_per_gesture": seconds,
        "method": method,
        "frames": {"calibration": int(c.cal.sum()), "rest": int(c.rest.sum())},
        "calibration_frames_per_class": np.bincount(y[c.cal], minlength=p.hi.n_out).tolist(),
        # int8_after: the board's arithmetic; int8_after_export: the calibrated .tflite (the
        # same for ncm, lda and lsq; out-lda's export folds its C x C head into the model's)
        "accuracy": {**c.accuracy, "int8_after_export": _acc(_argmax(after8), y[c.rest])},
        "model_hash_before": runs.model_hash(p.tflite),
        "model_hash_after": runs.model_hash(patched),
    }
    rep["summary"] = summary(rep)
    if out is not None:
        rep["out"] = str(write_calibrated(run, Path(out), p.mrec, c.head_float, patched, rep))
    return rep


def export_head(p: Prepared, c: Calibrated) -> hd.IntHead:
    """out-lda's C x C head folded into the model's C x F head: one FULLY_CONNECTED on the
    features, quantised per class (what the calibrated .tflite holds)."""
    info = inspect_tflite(p.tflite, "model")
    hi, h = p.hi, c.head_int8
    wq = np.frombuffer(info.tensor_data(hi.weights), np.int8).reshape(hi.n_out, hi.n_in)
    bq = np.frombuffer(info.tensor_data(hi.bias), "<i4").astype(np.float64)
    sw = np.broadcast_to(np.asarray(info.tensors[hi.weights].scales, np.float64), (hi.n_out,))
    a = h.weights.astype(np.float64) * float(h.w_scale[0])  # on z in output steps
    cst = h.bias.astype(np.float64) * float(h.w_scale[0])
    g = a * (sw / hi.out_scale)[None, :]  # per real feature unit
    w = g @ wq.astype(np.float64)
    b = g @ (bq * hi.in_scale) + cst
    x = dequantize(p.f_int8[c.cal], hi.in_scale, hi.in_zp).astype(np.float64)
    return hd.int_head(*hd.quantize_float_head(w, b, hi, x @ w.T + b), hi)


def _recording(run: runs.Run, mrec: checkpoint.ModelRecord, recording: Path | None, fmt: str):
    """--recording (checked against the model's grid and rate), else the run's own data."""
    from .data import load_recording

    fs = _model_fs(mrec)
    if recording is not None:
        rec = load_recording(Path(recording), fmt)
        where = str(recording)
    else:
        tr = runs.read_json(
            run.require(run.report_path("train"), "training report", "give --recording FILE")
        )
        data = tr.get("data") or {}
        if not data.get("root"):
            raise EdgekitError(
                f"{run.report_path('train')}: field data.root missing; give --recording FILE"
            )
        kind = data["kind"] if data.get("kind") in ("csl", "otb") else "csl"  # synthetic: csl
        rec = load_recording(Path(data["root"]), kind)
        where = str(data["root"])
    check_compatible(rec, fs, mrec.geometry().to_dict(), where)
    return rec, where


def _model_fs(mrec: checkpoint.ModelRecord) -> float:
    from .export.carray import sample_rate

    fs = sample_rate(mrec)
    if fs <= 0:
        raise EdgekitError("checkpoint: no sampling rate recorded; calibration needs it")
    return fs


def write_calibrated(
    run: runs.Run,
    out: Path,
    mrec: checkpoint.ModelRecord,
    head_f: tuple[np.ndarray, np.ndarray],
    patched: bytes,
    rep: dict[str, Any],
) -> Path:
    """The calibrated run: float.pt with the float head, export/ with the int8 head."""
    import torch

    key = get_arch(mrec.arch).head.classifier
    sd = dict(mrec.state_dict)
    sd[f"{key}.weight"] = torch.tensor(head_f[0], dtype=torch.float32)
    sd[f"{key}.bias"] = torch.tensor(head_f[1], dtype=torch.float32)
    new = replace(mrec, state_dict=sd, extra={**mrec.extra, "calibrated": _brief(rep)})
    out = Path(out)
    if out.resolve() == run.root.resolve():
        raise EdgekitError(f"--out {out}: is the run itself; give a new directory")
    with runs.atomic_dir(out) as tmp:
        checkpoint.save(tmp / "float.pt", new)
        shutil.copy2(run.report_path("train"), tmp / "train.json")
        _write_export(run, tmp / "export", new, patched, rep)
        runs.write_json(tmp / "calibrate.json", {**rep, "provenance": runs.provenance()})
    return out


def _brief(rep: dict[str, Any]) -> dict[str, Any]:
    keys = ("run", "source", "session", "seconds_per_gesture", "method", "accuracy")
    return {k: rep[k] for k in keys}


def _write_export(
    run: runs.Run, dest: Path, mrec: checkpoint.ModelRecord, data: bytes, rep: dict[str, Any]
) -> None:
    """export/ of the calibrated run: the .tflite with the new head and what is written from it
    (C arrays, model_meta.h, reference.npz on the original reference inputs, export.json)."""
    from .artifacts import load_export
    from .export import carray, reference

    ex = load_export(run.export_dir / "export.json")
    d = ex.raw
    ref = runs.load_npz(run.export_dir / "reference.npz")
    dest.mkdir()
    (dest / "model_int8.tflite").write_bytes(data)
    room = bool(d.get("fit", {}).get("calibration", {}).get("room", True))
    carray.write_all(
        dest, mrec, data, d["input"], d["output"], ex.ek_arena_size, d["resolver_ops"],
        d.get("arena", {}).get("tflm_arena_size"), room,
    )  # fmt: skip
    y = reference.run_reference(data, ref["x_int8"], reference.host_arena(ex))
    runs.save_npz(
        dest / "reference.npz",
        x_int8=ref["x_int8"],
        y_int8=y,
        labels=ref["labels"],
        label_names=ref["label_names"],
    )
    acc = dict(d.get("accuracy") or {})
    acc["int8_host"] = float((np.argmax(y.astype(np.int16), 1) == ref["labels"]).mean())
    runs.write_json(
        dest / "export.json",
        {
            **d,
            "model_hash": runs.model_hash(data),
            "accuracy": acc,
            "calibrated": {"from": str(run.root), **_brief(rep)},
            "provenance": runs.provenance(),
        },
    )


def summary(rep: dict[str, Any]) -> str:
    a = rep["accuracy"]
    return (
        f"calibrate {rep['source']} ({rep['method']}, {rep['seconds_per_gesture']:g} s per "
        f"gesture: {rep['frames']['calibration']} calibration frames, {rep['frames']['rest']} "
        f"scored): float {a['float_before']:.2%} -> {a['float_after']:.2%}, int8 "
        f"{a['int8_before']:.2%} -> {a['int8_after']:.2%} (the calibrated .tflite "
        f"{a['int8_after_export']:.2%})"
    )
