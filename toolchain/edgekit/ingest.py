"""Import an existing model as the float model of a run.

Accepted: a seed-style PyTorch checkpoint (a `mbv2-seed` state dict, bare or under 'net' /
'state_dict', width and classes inferred from tensor shapes), an edgekit float checkpoint, or an
ONNX file. The run also gets the data split (frames.npz) so quantize/export/bench can follow.
An ONNX model has no trainable PyTorch graph here: it can only be quantized post-training, at
export (onnx2tf calibration), not with QAT.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import checkpoint, runs
from .data.features import Normalizer
from .errors import EdgekitError
from .metrics import predict, scores
from .nn import Arch, arch_names, build_model, get_arch, load_state_dict_checked
from .train import Prepared, TrainOptions, model_record, prepare, split_record

ONNX_NAME = "float.onnx"


def _strip_prefix(sd: dict[str, Any]) -> dict[str, Any]:
    """DataParallel checkpoints prefix every key with 'module.'."""
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module.") :]: v for k, v in sd.items()}
    return sd


def _infer_arch(path: Path, sd: dict[str, Any]) -> tuple[Arch, float, int]:
    """(architecture, width, classes) of a bare state dict: the first registered architecture
    that can read its configuration from the tensor shapes (today mbv2-seed, the seed's format)."""
    why = []
    for name in arch_names():
        spec = get_arch(name)
        if spec.infer_config is None:
            continue
        try:
            return (spec, *spec.infer_config(sd))
        except ValueError as e:
            why.append(str(e))
    raise EdgekitError(f"{path}: {'; '.join(why)}")


def _load_torch(path: Path) -> dict[str, Any]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise EdgekitError(
            f"{path}: not a readable PyTorch checkpoint or ONNX file ({e})"
        ) from None
    if not isinstance(obj, dict):
        raise EdgekitError(
            f"{path}: expected a state dict (a dict of tensors), got {type(obj).__name__}"
        )
    return obj


def _with_norm(p: Prepared, rec: checkpoint.ModelRecord) -> Prepared:
    """Re-normalise the frames with the statistics the ingested model was trained with."""
    g = rec.geometry()
    if g.to_dict() != p.grid.to_dict():
        raise EdgekitError(
            f"checkpoint grid {g.name} ({g.rows}x{g.cols}, {g.n_channels} channels) "
            f"is not the data's grid {p.grid.name} ({p.grid.rows}x{p.grid.cols}, "
            f"{p.grid.n_channels} channels); ingest it with the data it was trained on"
        )
    norm = Normalizer(
        np.asarray(rec.norm_mean, np.float32), np.asarray(rec.norm_std, np.float32), p.mask
    )
    from .data.features import to_images

    p.norm = norm
    p.images = to_images(norm.apply(p.frames.x), p.grid)
    return p


def run_ingest(
    run: runs.Run, path: Path, opts: TrainOptions, width: float | None = None
) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise EdgekitError(f"{path}: file not found")
    if path.suffix.lower() == ".onnx":
        return _ingest_onnx(run, path, opts)
    obj = _load_torch(path)
    if str(obj.get("format", "")).startswith("edgekit-"):
        rec = checkpoint.load(path, checkpoint.FLOAT_FORMAT)
        from .data.features import FeatureConfig

        fc = FeatureConfig.from_dict(rec.features)
        opts.window_ms, opts.hop_ms, opts.feature = fc.window_ms, fc.hop_ms, fc.kind
        p = _with_norm(prepare(opts), rec)
        model = rec.build()
        kind = "edgekit"
    else:
        sd = _strip_prefix(obj.get("net", obj.get("state_dict", obj)))
        if not all(isinstance(v, torch.Tensor) for v in sd.values()):
            raise EdgekitError(
                f"{path}: expected a state dict of tensors (seed checkpoint), "
                "found non-tensor values"
            )
        spec, w_inferred, n_cls = _infer_arch(path, sd)
        if width is not None and spec.infer_config(
            build_model(spec.name, width, n_cls).state_dict()
        ) != (w_inferred, n_cls):
            raise EdgekitError(
                f"{path}: --width {width:g} gives other tensor shapes than the "
                f"checkpoint's (they read as {spec.name} w{w_inferred:g})"
            )
        w = width if width is not None else w_inferred
        p = prepare(opts)
        model = build_model(spec.name, w, n_cls, p.grid.shape)
        load_state_dict_checked(model, sd, what=f"{path} as {spec.name} w{w:g}")
        if len(p.label_names) != n_cls:
            raise EdgekitError(
                f"{path}: checkpoint has {n_cls} classes ({spec.head.classifier}"
                f".weight), the data has {len(p.label_names)}: {p.label_names}"
            )
        rec = model_record(
            model, opts, p, {"kind": "seed-checkpoint", "file": str(path)}, arch=spec.name, width=w
        )
        kind = "seed"
    xte, yte = p.part("test")
    acc = scores(yte, predict(model.eval(), xte), len(p.label_names))
    rec.source = {**rec.source, "ingested": str(path), "data": p.source}
    run.root.mkdir(parents=True, exist_ok=True)
    checkpoint.save(run.float_ckpt, rec)
    p.save_frames(run.frames)
    report = {
        "kind": kind,
        "file": str(path),
        "arch": rec.arch,
        "width": rec.width,
        "classes": rec.label_names,
        "split": split_record(p),
        "cnn": acc,
    }
    run.write_report("ingest", report)
    return report


def _ingest_onnx(run: runs.Run, path: Path, opts: TrainOptions) -> dict[str, Any]:
    import onnx

    try:
        m = onnx.load(str(path))
        onnx.checker.check_model(m)
    except Exception as e:
        raise EdgekitError(f"{path}: not a valid ONNX model ({e})") from None
    dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    p = prepare(opts)
    if dims[1:] != [1, *p.grid.shape]:
        raise EdgekitError(
            f"{path}: input '{m.graph.input[0].name}' has shape {dims}, expected "
            f"(N, 1, {p.grid.rows}, {p.grid.cols}) for the data's grid {p.grid.name}"
        )
    rec = model_record(
        torch.nn.Identity(), opts, p, {"kind": "onnx", "file": str(path)}, arch="onnx", width=0.0
    )
    rec.state_dict = {}
    rec.extra = {"onnx": ONNX_NAME}
    run.root.mkdir(parents=True, exist_ok=True)
    with runs.atomic_path(run.root / ONNX_NAME) as tmp:
        shutil.copyfile(path, tmp)
    checkpoint.save(run.float_ckpt, rec)
    p.save_frames(run.frames)
    report = {
        "kind": "onnx",
        "file": str(path),
        "classes": p.label_names,
        "split": split_record(p),
        "note": "ONNX models are quantized post-training at export (no QAT): "
        "run `edgekit export` directly",
    }
    run.write_report("ingest", report)
    return report
