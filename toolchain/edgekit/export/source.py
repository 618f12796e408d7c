"""The model an export converts, from the run's artifacts: quantize's QAT record, or an ingested
ONNX model (post-training quantization only)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import checkpoint, runs
from ..artifacts import Frames, load_frames, load_qat
from ..metrics import accuracy, logits_of
from ..nn.fold import apply_folded
from ..nn.profile import profile_model
from ..quantspec import calibration_indices
from .onnx import INPUT_NAME, export_onnx


@dataclass
class Source:
    """The model being exported, as the shared export path needs it."""

    rec: checkpoint.ModelRecord  # labels, features, normalisation for model_meta.h
    kind: str  # "qat" or "onnx-ptq"
    x_cal: np.ndarray  # calibration frames (NCHW, normalised)
    write_onnx: Callable[[Path], dict[str, Any]]  # writes model.onnx, returns its checks
    test_logits: np.ndarray  # on the test frames: what int8 is compared with
    float_acc: float | None
    macs: int | None
    params: int


def load_source(run: runs.Run, seed: int) -> tuple[Source, Frames]:
    """The run's QAT model, or its ingested ONNX model when it has no QAT model; and the frames."""
    frec = (
        checkpoint.load(run.float_ckpt, checkpoint.FLOAT_FORMAT)
        if run.float_ckpt.exists()
        else None
    )
    if frec is not None and frec.arch == "onnx" and not run.qat_ckpt.exists():
        run.require(run.frames, "frames", "re-run `edgekit ingest` (it writes frames.npz)")
        fr = load_frames(run.frames, frec.num_classes, frec.geometry())
        return _onnx_source(run, fr, frec, seed), fr
    run.require(run.qat_ckpt, "QAT model", "run `edgekit quantize` first")
    run.require(run.frames, "frames", "run `edgekit train` first (it writes frames.npz)")
    qrec = checkpoint.load(run.qat_ckpt)
    fr = load_frames(run.frames, qrec.num_classes, qrec.geometry())
    return _qat_source(run, fr), fr


def _qat_source(run: runs.Run, fr: Frames) -> Source:
    """The QAT model, from quantize's record: its folded weights become the float graph that
    onnx2tf converts, and the int8 model is compared with the logits the QAT simulation gave."""
    q = load_qat(run.qat_ckpt, fr)
    rec = q.model
    float_acc = None
    if run.float_ckpt.exists():
        frec = checkpoint.load(run.float_ckpt, checkpoint.FLOAT_FORMAT)
        float_acc = accuracy(logits_of(frec.build(), fr.x_test).argmax(1), fr.y_test)
    folded_model = apply_folded(rec.build(), rec.arch, q.folded)
    prof = profile_model(folded_model)
    return Source(
        rec,
        "qat",
        fr.x_train[q.calibration],
        lambda path: export_onnx(folded_model, path, fr.x_test[:32]),
        q.test_logits,
        float_acc,
        prof.total_macs,
        prof.total_params,
    )


def _onnx_source(run: runs.Run, fr: Frames, rec: checkpoint.ModelRecord, seed: int) -> Source:
    """An ingested ONNX model: no PyTorch graph to fine-tune, so post-training quantization only."""
    import onnx
    import onnxruntime as ort

    src = run.root / rec.extra.get("onnx", "float.onnx")
    run.require(src, "ingested ONNX model", "re-run `edgekit ingest MODEL.onnx`")
    sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name

    def predict(x: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [sess.run(None, {name: x[i : i + 1].astype(np.float32)})[0] for i in range(len(x))]
        )

    params = int(sum(np.prod(t.dims) for t in onnx.load(str(src)).graph.initializer))
    logits = predict(fr.x_test)
    idx = calibration_indices(len(fr.x_train), seed)
    return Source(
        rec,
        "onnx-ptq",
        fr.x_train[idx],
        lambda path: _write_ingested_onnx(src, path),
        logits,
        accuracy(logits.argmax(1), fr.y_test),
        None,
        params,
    )


def _write_ingested_onnx(src: Path, path: Path) -> dict[str, Any]:
    """The ingested model as onnx2tf needs it: our input name, a static batch of 1."""
    import onnx

    m = onnx.load(str(src))
    # onnx2tf's calibration is keyed by input name, and TFLM wants a static batch of 1
    old = m.graph.input[0].name
    if old != INPUT_NAME:
        m.graph.input[0].name = INPUT_NAME
        for node in m.graph.node:
            for i, name_i in enumerate(node.input):
                if name_i == old:
                    node.input[i] = INPUT_NAME
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return {
        "path": str(path),
        "source": str(src),
        "ops": sorted({n.op_type for n in m.graph.node}),
        "ort_max_abs_diff": None,
        "note": "ingested ONNX: exported as given",
    }
