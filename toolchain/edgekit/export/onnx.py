"""PyTorch -> ONNX (opset 17, TorchScript exporter), checked, simplified, compared with onnxruntime."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import EdgekitError

INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_onnx(model: nn.Module, path: Path, samples: np.ndarray) -> dict[str, Any]:
    """Write `model` (eval mode, batch 1, NCHW (1, 1, H, W)) to `path`; return checks and op list."""
    import onnx
    import onnxruntime as ort
    import onnxslim

    model = model.eval()
    dummy = torch.from_numpy(samples[:1].astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript exporter deprecation notice
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            do_constant_folding=True,
        )
    m = onnx.load(str(path))
    m = onnxslim.slim(m)
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(path))
    ops = sorted({n.op_type for n in m.graph.node})
    if "BatchNormalization" in ops:
        raise EdgekitError(f"{path}: BatchNormalization left in the ONNX graph; BN must be folded")

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = np.concatenate(
            [model(torch.from_numpy(samples[i : i + 1])).numpy() for i in range(len(samples))]
        )
    got = np.concatenate(
        [sess.run(None, {INPUT_NAME: samples[i : i + 1]})[0] for i in range(len(samples))]
    )
    diff = float(np.abs(ref - got).max())
    if not np.isfinite(diff) or diff > 1e-3 * max(1.0, float(np.abs(ref).max())):
        raise EdgekitError(
            f"{path}: onnxruntime output differs from PyTorch by {diff:g} "
            f"(expected < 1e-3 relative); the export is wrong"
        )
    return {
        "path": str(path),
        "ops": ops,
        "nodes": len(m.graph.node),
        "ort_max_abs_diff": diff,
        "ort_samples": int(len(samples)),
        "agreement_top1": float((ref.argmax(1) == got.argmax(1)).mean()),
    }
