"""Classification metrics and batched prediction, shared by every stage that scores a model.

torch is imported inside the two functions that run a model, so reports (sweep) score saved
predictions without loading it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float((pred == y).mean()) if len(y) else 0.0


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def macro_f1(cm: np.ndarray) -> float:
    tp = np.diag(cm).astype(float)
    prec = np.divide(tp, cm.sum(0), out=np.zeros_like(tp), where=cm.sum(0) > 0)
    rec = np.divide(tp, cm.sum(1), out=np.zeros_like(tp), where=cm.sum(1) > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(tp), where=(prec + rec) > 0)
    present = cm.sum(1) > 0
    return float(f1[present].mean()) if present.any() else 0.0


def scores(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> dict[str, Any]:
    cm = confusion(y_true, y_pred, n)
    return {
        "accuracy": accuracy(y_pred, y_true),
        "macro_f1": macro_f1(cm),
        "confusion": cm.tolist(),
        "n": int(len(y_true)),
    }


def logits_of(
    model: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray, batch: int = 512
) -> np.ndarray:
    """The model's outputs for (N, 1, H, W) float32 frames, in batches, without gradients."""
    import torch

    with torch.no_grad():
        outs = [
            model(torch.from_numpy(np.ascontiguousarray(x[i : i + batch], np.float32))).numpy()
            for i in range(0, len(x), batch)
        ]
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def predict(model: torch.nn.Module, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """Class ids of a torch model (put in eval mode) for (N, 1, H, W) frames."""
    model.eval()
    logits = logits_of(model, x, batch)
    return logits.argmax(1) if len(logits) else np.zeros(0, dtype=np.int64)
