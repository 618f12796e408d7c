"""Quantization-aware training that simulates what the int8 TFLite model computes.

Why our own fake-quant layers and not torch.ao.quantization: torch 2.13 still ships
torch.ao.quantization, but every entry point is marked deprecated ("will be removed", migrate to
torchao), and its observers / fusion rules model PyTorch's backends (fbgemm/qnnpack), not the TFLite
converter. What we must reproduce is narrow and known, so we lower each architecture explicitly
(each architecture registers its plan of conv/BN/activation units in nn/, see nn/registry.py) into
a small network of folded units (the int8 arithmetic itself is quantspec.py's):

- BatchNorm folded into the preceding conv (BN frozen; the folded weight/bias are trained).
- Weights: per-output-channel symmetric int8, scale = max|w| / 127, values in [-127, 127], rounding
  half away from zero (TFLite's quantizer). Conv, depthwise conv and fully-connected alike (the
  converter writes per-channel FC weights too).
- Bias: int32 with scale s_in * s_w[c] (TFLite's bias rule).
- Activations: per-tensor asymmetric int8 whose range is the global min/max over the calibration
  frames of the *float* activations, widened to include 0, with TF's zero-point nudging
  (scale = (max-min)/255, zp = round(-128 - min/scale)). This is the estimator the TFLite calibrator
  uses, and the ranges are recomputed the same way (float pass, global min/max, same frames) after
  every fine-tuning epoch, so the final QAT ranges are the ones onnx2tf's calibration will find.
- ReLU / ReLU6 are fused: the range is observed after the clamp (TFLite quantizes the fused output).
- Residual ADD: its output is quantized; the converter gives the main-branch projection conv that
  feeds the ADD the ADD's own output parameters (observed: CONV_2D output scale/zp == ADD output
  scale/zp), so the projection output is fake-quantized with the ADD's quantizer too.
- Global mean (MEAN) and the logits (FULLY_CONNECTED) have their own ranges; reshape/flatten/pad
  keep their input's parameters.
Gradients use the straight-through estimator (clipped to the range for activations).

Fine-tuning loss: distillation from the float model (KL divergence to its softened outputs), not
the labels. QAT's job is to recover the float model's function under quantization; refitting the
labels of the training sessions made the quantized model drift from the float one and lose up to
0.8 pt on an unseen session (mbv2-seed w0.2: QAT 96.67% vs PTQ 97.49% with label loss).

Reported on the same test split: float, PTQ (calibration only) and QAT accuracy. Selection uses the
validation split only: the best fine-tuned epoch (validation accuracy, ties broken by agreement
with the float model) replaces the PTQ state only if a paired McNemar test on validation says it is
better (z >= SELECT_Z); otherwise qat.pt holds the PTQ weights and ranges, and the report says so.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import artifacts, checkpoint, runs
from .errors import EdgekitError
from .metrics import accuracy, logits_of
from .nn import get_arch
from .nn.fold import apply_folded, identity_bn_state
from .nn.registry import Unit
from .progress import progress_bar
from .quantspec import (
    act_qparams,
    calibration_indices,
    integer_params,
    quantize_multiplier,
    requantize,
    round_half_away,
    weight_scales,
)
from .seeding import deterministic

# The fine-tuned model replaces the PTQ one only when validation says it is better beyond noise
# (one-sided 5% McNemar test). On the default data the validation trials are 99%+ accurate, and
# picking QAT on a 2-in-736 margin cost 0.8 pt on the unseen session (mbv2-seed w0.2).
SELECT_Z = 1.645
DISTILL_T = 2.0  # distillation temperature: softened float outputs carry the class similarities

# ------------------------------------------------------------------------ fake quantization


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return round_half_away(x)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return g


def fake_quant_weight(w: torch.Tensor) -> torch.Tensor:
    s = weight_scales(w).reshape(-1, *([1] * (w.dim() - 1)))
    return torch.clamp(_RoundSTE.apply(w / s), -127, 127) * s


def fake_quant_bias(b: torch.Tensor, s_in: float | None, w: torch.Tensor) -> torch.Tensor:
    if s_in is None:
        return b
    s = weight_scales(w) * s_in
    return _RoundSTE.apply(b / s) * s


def exact_output(
    acc: torch.Tensor, s_in: float, w_scales: torch.Tensor, q: ActQ, act: str | None
) -> torch.Tensor:
    """Integer accumulators -> int8 output exactly as TFLite's per-channel kernels compute it,
    returned dequantized (the simulation's currency)."""
    s_out, zp = q.qparams()
    mq = [
        quantize_multiplier(float(np.float32(s_in)) * float(ws) / float(np.float32(s_out)))
        for ws in w_scales.tolist()
    ]
    out = requantize(acc, torch.tensor([a for a, _ in mq]), torch.tensor([b for _, b in mq])) + zp
    lo, hi = -128, 127
    if act in ("relu", "relu6"):
        lo = max(lo, zp)
    if act == "relu6":
        hi = min(hi, zp + int(round_half_away(torch.tensor(6.0 / s_out)).item()))
    return ((out.clamp(lo, hi) - zp).double() * s_out).float()


class ActQ(nn.Module):
    """One int8 activation tensor: a global min/max observer and a fake quantizer.

    mode "float": identity; "observe": identity, widens [lo, hi]; "quant": fake-quantize.
    """

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.register_buffer("lo", torch.tensor(float("inf")))
        self.register_buffer("hi", torch.tensor(float("-inf")))
        self.mode = "float"

    def reset(self) -> None:
        self.lo.fill_(float("inf"))
        self.hi.fill_(float("-inf"))

    def qparams(self) -> tuple[float, int]:
        if not torch.isfinite(self.lo) or not torch.isfinite(self.hi):
            raise EdgekitError(f"quantize: activation {self.name} was never calibrated")
        return act_qparams(self.lo.item(), self.hi.item())

    @property
    def scale(self) -> float | None:
        """The input scale for the next layer's int32 bias; None while observing ("float" mode
        keeps biases on their int32 grid, so it equals the exported float graph)."""
        if self.mode == "observe" or not torch.isfinite(self.lo):
            return None
        return self.qparams()[0]

    def forward(self, x: torch.Tensor, observe: bool = True) -> torch.Tensor:
        if self.mode == "observe":
            if observe:
                self.lo.fill_(min(self.lo.item(), x.detach().min().item()))
                self.hi.fill_(max(self.hi.item(), x.detach().max().item()))
            return x
        if self.mode != "quant":
            return x
        scale, zp = self.qparams()
        q = torch.clamp(_RoundSTE.apply(x / scale) + zp, -128, 127)
        return (q - zp) * scale


# ---------------------------------------------------------------------------- folded units


def fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor]:
    w = conv.weight.detach().clone()
    b = conv.bias.detach().clone() if conv.bias is not None else torch.zeros(w.shape[0])
    if bn is None:
        return w, b
    inv = bn.weight.detach() / torch.sqrt(bn.running_var.detach() + bn.eps)
    return w * inv.reshape(-1, 1, 1, 1), bn.bias.detach() + (b - bn.running_mean.detach()) * inv


class QConv(nn.Module):
    """conv (+ folded BN) (+ fused ReLU / ReLU6) with int8 weights and int32 bias."""

    def __init__(
        self,
        conv: nn.Conv2d,
        bn: nn.BatchNorm2d | None,
        act: str | None,
        conv_key: str,
        bn_key: str | None,
    ):
        super().__init__()
        w, b = fold_bn(conv, bn)
        self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(b)
        self.stride, self.padding, self.groups = conv.stride, conv.padding, conv.groups
        self.act = act
        self.conv_key, self.bn_key = conv_key, bn_key

    def forward(self, x: torch.Tensor, s_in: float | None) -> torch.Tensor:
        w = fake_quant_weight(self.weight)
        b = fake_quant_bias(self.bias, s_in, self.weight)
        y = F.conv2d(x, w, b, self.stride, self.padding, 1, self.groups)
        if self.act == "relu6":
            y = torch.clamp(y, 0.0, 6.0)
        elif self.act == "relu":
            y = torch.relu(y)
        return y

    def exact(self, x: torch.Tensor, s_in: float, q: ActQ) -> torch.Tensor:
        """Inference only: int32 accumulation and TFLite requantization into q's parameters."""
        w_int, b_int, sw = integer_params(self.weight, self.bias, s_in)
        acc = torch.round(
            F.conv2d(x.double() / s_in, w_int, b_int, self.stride, self.padding, 1, self.groups)
        ).long()
        return exact_output(acc, s_in, sw, q, self.act)


class QLinear(nn.Module):
    def __init__(self, lin: nn.Linear, key: str):
        super().__init__()
        self.weight = nn.Parameter(lin.weight.detach().clone())
        self.bias = nn.Parameter(lin.bias.detach().clone())
        self.key = key

    def forward(self, x: torch.Tensor, s_in: float | None) -> torch.Tensor:
        return F.linear(
            x, fake_quant_weight(self.weight), fake_quant_bias(self.bias, s_in, self.weight)
        )

    def exact(self, x: torch.Tensor, s_in: float, q: ActQ) -> torch.Tensor:
        w_int, b_int, sw = integer_params(self.weight, self.bias, s_in)
        acc = torch.round(F.linear(x.double() / s_in, w_int, b_int)).long()
        return exact_output(acc, s_in, sw, q, None)


def unit_then_quant(
    unit: QConv | QLinear, x: torch.Tensor, s_in: float | None, q: ActQ, observe: bool = True
) -> torch.Tensor:
    """A weight layer and its output quantizer. Training and calibration use float fake
    quantization (gradients flow through it); inference (no grad, quantizing, input scale known)
    uses integer accumulators and TFLite's fixed-point requantization."""
    if q.mode == "quant" and s_in is not None and not torch.is_grad_enabled():
        return unit.exact(x, s_in, q)
    return q(unit(x, s_in), observe=observe)


class QBlock(nn.Module):
    """Units in sequence, each with its output quantizer; optional residual ADD.

    shortcut: None (no add), "identity" (add the block input), or a QConv (1x1 conv+BN shortcut).
    With an add, the last unit (the projection) is quantized with the ADD's quantizer.
    """

    def __init__(self, units: list[QConv], name: str, shortcut: str | QConv | None):
        super().__init__()
        self.units = nn.ModuleList(units)
        self.shortcut_kind = (
            "identity"
            if shortcut == "identity"
            else ("conv" if isinstance(shortcut, QConv) else None)
        )
        self.shortcut = shortcut if isinstance(shortcut, QConv) else None
        n_q = len(units) if self.shortcut_kind is None else len(units) - 1
        self.qs = nn.ModuleList(ActQ(f"{name}.unit{i}") for i in range(n_q))
        self.sc_q = ActQ(f"{name}.shortcut") if self.shortcut is not None else None
        self.add_q = ActQ(f"{name}.add") if self.shortcut_kind is not None else None

    def forward(self, x: torch.Tensor, s_in: float | None) -> tuple[torch.Tensor, float | None]:
        inp, s_inp = x, s_in
        for i, unit in enumerate(self.units):
            if i < len(self.qs):
                x = unit_then_quant(unit, x, s_in, self.qs[i])
                s_in = self.qs[i].scale
        if self.add_q is None:
            return x, s_in
        # the projection output shares the ADD's parameters
        x = unit_then_quant(self.units[-1], x, s_in, self.add_q, observe=False)
        if self.shortcut is not None:
            r = unit_then_quant(self.shortcut, inp, s_inp, self.sc_q)
        else:
            r = inp
        y = self.add_q(x + r)
        return y, self.add_q.scale


class QNet(nn.Module):
    """The int8 simulation of one network: input quantizer, blocks, pooling/flatten, classifier."""

    def __init__(self, arch: str, blocks: list[QBlock], fc: QLinear, dropout: float, pool: str):
        super().__init__()
        self.arch = arch
        self.in_q = ActQ("input")
        self.blocks = nn.ModuleList(blocks)
        # global mean: its own int8 tensor (TFLite MEAN); flatten keeps its input's parameters
        self.pool_q = ActQ("mean") if pool == "mean" else None
        self.dropout = nn.Dropout(dropout)
        self.fc = fc
        self.out_q = ActQ("logits")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.in_q(x)
        s = self.in_q.scale
        for blk in self.blocks:
            x, s = blk(x, s)
        if self.pool_q is not None:
            x = self.pool_q(x.mean(dim=(2, 3)))
            s = self.pool_q.scale
        else:
            x = x.flatten(1)  # reshape keeps its input's quantization parameters
        return unit_then_quant(self.fc, self.dropout(x), s, self.out_q)

    def quantizers(self) -> list[ActQ]:
        return [m for m in self.modules() if isinstance(m, ActQ)]

    def set_mode(self, mode: str) -> None:
        for q in self.quantizers():
            q.mode = mode

    def convs(self) -> list[QConv]:
        return [m for m in self.modules() if isinstance(m, QConv)]


def lower(model: nn.Module, arch: str) -> QNet:
    """Module surgery: the float network as folded int8 units, along the architecture's registered
    lowering plan and classifier head."""
    model = model.eval()
    spec = get_arch(arch)

    def qconv(u: Unit) -> QConv:
        return QConv(
            model.get_submodule(u.conv),
            model.get_submodule(u.bn) if u.bn else None,
            u.act,
            u.conv,
            u.bn,
        )

    blocks = [
        QBlock(
            [qconv(u) for u in b.units],
            b.name,
            qconv(b.shortcut) if isinstance(b.shortcut, Unit) else b.shortcut,
        )
        for b in spec.lowering(model)
    ]
    head = spec.head
    dropout = model.get_submodule(head.dropout).p if head.dropout else 0.0
    return QNet(
        arch,
        blocks,
        QLinear(model.get_submodule(head.classifier), head.classifier),
        dropout,
        head.pool,
    )


# ------------------------------------------------------------------ folded weights <-> record


def folded_tensors(qnet: QNet) -> dict[str, dict[str, torch.Tensor]]:
    """Weights on the int8 grid and biases on the int32 grid, keyed by the float conv/linear name.

    Call with quantizers in "quant" mode so biases use the final input scales.
    """
    out: dict[str, dict[str, torch.Tensor]] = {}
    with torch.no_grad():

        def visit(unit: QConv | QLinear, s_in: float | None) -> None:
            key = unit.conv_key if isinstance(unit, QConv) else unit.key
            if s_in is None:
                raise EdgekitError(f"folded_tensors: no input scale for {key}; calibrate first")
            w_int, b_int, sw = integer_params(unit.weight, unit.bias, s_in)
            view = (-1,) + (1,) * (w_int.dim() - 1)
            out[key] = {
                "weight": (w_int * sw.view(view)).float(),
                "bias": (b_int * (sw * s_in)).float(),
            }

        s = qnet.in_q.scale
        for blk in qnet.blocks:
            s_blk = s
            for i, u in enumerate(blk.units):
                visit(u, s)
                if i < len(blk.qs):
                    s = blk.qs[i].scale
            if blk.shortcut is not None:
                visit(blk.shortcut, s_blk)
            if blk.add_q is not None:
                s = blk.add_q.scale
        if qnet.pool_q is not None:
            s = qnet.pool_q.scale
        visit(qnet.fc, s)
    return out


def layer_map(qnet: QNet) -> list[dict[str, Any]]:
    """Each weight layer with the quantizer of its output, and each ADD (for export's checks)."""
    rows: list[dict[str, Any]] = []

    def conv_kind(u: QConv) -> str:
        return "depthwise" if u.groups > 1 and u.groups == u.weight.shape[0] else "conv"

    for blk in qnet.blocks:
        for i, u in enumerate(blk.units):
            out_q = blk.qs[i].name if i < len(blk.qs) else blk.add_q.name  # type: ignore[union-attr]
            rows.append({"key": u.conv_key, "kind": conv_kind(u), "out_q": out_q})
        if blk.shortcut is not None:
            rows.append({"key": blk.shortcut.conv_key, "kind": "conv", "out_q": blk.sc_q.name})  # type: ignore[union-attr]
        if blk.add_q is not None:
            rows.append(
                {
                    "key": blk.add_q.name,
                    "kind": "add",
                    "out_q": blk.add_q.name,
                    "projection": blk.units[-1].conv_key,
                }
            )
    if qnet.pool_q is not None:
        rows.append({"key": "mean", "kind": "mean", "out_q": qnet.pool_q.name})
    rows.append({"key": qnet.fc.key, "kind": "fc", "out_q": qnet.out_q.name})
    return rows


def load_qnet(rec: checkpoint.ModelRecord) -> QNet:
    """The QAT int8 simulation from a qat.pt record (folded weights + calibrated ranges)."""
    try:
        folded, ranges = rec.extra["folded"], rec.extra["act_ranges"]
    except KeyError as e:
        raise EdgekitError(
            f"qat checkpoint: field extra[{e.args[0]!r}] missing; re-run `edgekit quantize`"
        ) from None
    qnet = lower(rec.build(), rec.arch)
    with torch.no_grad():
        for u in [*qnet.convs(), qnet.fc]:
            key = u.conv_key if isinstance(u, QConv) else u.key
            u.weight.copy_(folded[key]["weight"])
            u.bias.copy_(folded[key]["bias"])
        for q in qnet.quantizers():
            if q.name not in ranges:
                raise EdgekitError(f"qat checkpoint: no calibrated range for {q.name!r}")
            q.lo.fill_(ranges[q.name]["min"])
            q.hi.fill_(ranges[q.name]["max"])
    qnet.set_mode("quant")
    return qnet.eval()


# --------------------------------------------------------------------------- data & eval


def mcnemar_z(pred_a: np.ndarray, pred_b: np.ndarray, y: np.ndarray) -> float:
    """Paired evidence that b beats a: (b right & a wrong - a right & b wrong) / sqrt(discordant)."""
    ok_a, ok_b = pred_a == y, pred_b == y
    wins, losses = int((ok_b & ~ok_a).sum()), int((ok_a & ~ok_b).sum())
    return (wins - losses) / math.sqrt(wins + losses) if wins + losses else 0.0


@torch.no_grad()
def calibrate(qnet: QNet, x: np.ndarray) -> None:
    """TFLite's calibrator: float activations, global min/max over all calibration frames."""
    qnet.eval()
    for q in qnet.quantizers():
        q.reset()
    qnet.set_mode("observe")
    for i in range(0, len(x), 256):
        qnet(torch.from_numpy(x[i : i + 256]))
    qnet.set_mode("quant")


def act_ranges(qnet: QNet) -> dict[str, dict[str, float]]:
    out = {}
    for q in qnet.quantizers():
        s, zp = q.qparams()
        out[q.name] = {"min": q.lo.item(), "max": q.hi.item(), "scale": s, "zero_point": zp}
    return out


# ---------------------------------------------------------------------------------- stage


def run_quantize(
    run: runs.Run, epochs: int, seed: int, lr: float | None = None, progress: bool = True
) -> dict[str, Any]:
    """Float -> PTQ -> QAT; writes run.qat_ckpt ("edgekit-qat/1") and quantize.json.
    Deterministic for a given seed (seeding.deterministic: dropout, shuffles, calibration picks)."""
    with deterministic(seed):
        return _run_quantize(run, epochs, seed, 3e-4 if lr is None else lr, progress)


def _run_quantize(
    run: runs.Run, epochs: int, seed: int, lr: float, progress: bool
) -> dict[str, Any]:
    """The phases in order: load, baselines (float, PTQ), fine-tune, select, self-check, save."""
    t0 = time.time()
    rec, fr = _load(run, epochs)
    base = _baselines(rec, fr, seed)
    history, best = _fine_tune(base, fr, epochs, lr, seed, progress)
    sel = _select(base, best, fr)
    folded, ranges, diff = _self_check(base, rec.arch)
    report = {
        "arch": rec.arch,
        "width": rec.width,
        "epochs": epochs,
        "lr": lr,
        "seed": seed,
        "loss": f"distillation from the float model, T={DISTILL_T:g}",
        "calibration_frames": int(len(base.calib_idx)),
        **_scores(base, best, sel, fr),
        "history": history,
        "folded_vs_qat_float_max_abs_diff": diff,
        "activation_ranges": ranges,
        "n_test": int(len(fr.y_test)),
        "wall_s": round(time.time() - t0, 1),
    }
    _save(run, rec, base, sel, folded, ranges, report, seed)
    return report


@dataclass
class _Baselines:
    """The float model and its post-training quantization (calibrated, not fine-tuned)."""

    model: nn.Module
    qnet: QNet  # the PTQ state now; fine-tuned, then set to the kept state, by the later phases
    calib_idx: np.ndarray
    x_cal: np.ndarray
    float_val: float
    float_test: float
    float_test_logits: np.ndarray
    float_val_pred: np.ndarray
    ptq_test: float
    ptq_pred: np.ndarray  # on the validation frames
    ptq_score: tuple[float, float]  # (validation accuracy, agreement with float): _val_score
    ptq_state: dict[str, Any]


# one fine-tuned epoch: (its score, epoch, state, validation predictions)
_Best = tuple[tuple[float, float], int, dict[str, Any], np.ndarray]


@dataclass
class _Selected:
    """The kept weights: "qat" (the best fine-tuned epoch, better on validation) or "ptq"."""

    name: str
    qat_val: float | None
    qat_test: float | None
    z: float | None  # McNemar z of the best epoch vs PTQ on validation
    test_logits: np.ndarray  # of the kept weights


def _val_score(
    net: nn.Module, fr: artifacts.Frames, float_val_pred: np.ndarray
) -> tuple[np.ndarray, tuple[float, float]]:
    """Validation predictions and the selection score: (accuracy, agreement with float)."""
    pred = logits_of(net, fr.x_val).argmax(1)
    return pred, (accuracy(pred, fr.y_val), accuracy(pred, float_val_pred))


def _load(run: runs.Run, epochs: int) -> tuple[checkpoint.ModelRecord, artifacts.Frames]:
    run.require(run.float_ckpt, "float model", "run `edgekit train` (or `edgekit ingest`) first")
    run.require(run.frames, "frames", "run `edgekit train` first (it writes frames.npz)")
    if epochs < 0:
        raise EdgekitError(f"--epochs: must be >= 0, got {epochs}")
    rec = checkpoint.load(run.float_ckpt, checkpoint.FLOAT_FORMAT)
    if rec.arch == "onnx":
        raise EdgekitError(
            f"{run.float_ckpt}: this run's model is an ingested ONNX file, which can "
            "only be quantized post-training, at export: run `edgekit export "
            f"--run {run.root} --board B` (no QAT)"
        )
    return rec, artifacts.load_frames(run.frames, rec.num_classes, rec.geometry())


def _baselines(rec: checkpoint.ModelRecord, fr: artifacts.Frames, seed: int) -> _Baselines:
    """The float model's scores, then post-training quantization: lower, calibrate, score."""
    model = rec.build()
    float_val_pred = logits_of(model, fr.x_val).argmax(1)
    float_test_logits = logits_of(model, fr.x_test)
    calib_idx = calibration_indices(len(fr.x_train), seed)
    qnet = lower(model, rec.arch)
    calibrate(qnet, fr.x_train[calib_idx])
    qnet.eval()
    ptq_pred, ptq_score = _val_score(qnet, fr, float_val_pred)
    return _Baselines(
        model=model,
        qnet=qnet,
        calib_idx=calib_idx,
        x_cal=fr.x_train[calib_idx],
        float_val=accuracy(float_val_pred, fr.y_val),
        float_test=accuracy(float_test_logits.argmax(1), fr.y_test),
        float_test_logits=float_test_logits,
        float_val_pred=float_val_pred,
        ptq_test=accuracy(logits_of(qnet, fr.x_test).argmax(1), fr.y_test),
        ptq_pred=ptq_pred,
        ptq_score=ptq_score,
        ptq_state=copy.deepcopy(qnet.state_dict()),
    )


def _fine_tune(
    base: _Baselines, fr: artifacts.Frames, epochs: int, lr: float, seed: int, progress: bool
) -> tuple[list[dict[str, Any]], _Best | None]:
    """Fake-quant fine-tuning by distillation from the float model; after each epoch the ranges
    are recalibrated and the epoch scored on validation. Returns the history and the best epoch."""
    qnet = base.qnet
    history = [
        {"epoch": 0, "val_accuracy": base.ptq_score[0], "val_float_agreement": base.ptq_score[1]}
    ]
    best: _Best | None = None
    if epochs == 0:
        return history, best
    opt = torch.optim.AdamW([p for p in qnet.parameters()], lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    gen = torch.Generator().manual_seed(seed)
    xt = torch.from_numpy(fr.x_train)
    teacher = torch.from_numpy(logits_of(base.model, fr.x_train) / DISTILL_T)
    for ep in progress_bar(range(1, epochs + 1), "qat", progress):
        loss = _distill_epoch(qnet, opt, xt, teacher, gen)
        sched.step()
        calibrate(qnet, base.x_cal)  # ranges TFLite would compute for the new weights
        pred, score = _val_score(qnet, fr, base.float_val_pred)
        history.append(
            {
                "epoch": ep,
                "val_accuracy": score[0],
                "val_float_agreement": score[1],
                "train_loss": loss,
            }
        )
        if best is None or score > best[0]:
            best = (score, ep, copy.deepcopy(qnet.state_dict()), pred)
    return history, best


def _distill_epoch(
    qnet: QNet,
    opt: torch.optim.Optimizer,
    xt: torch.Tensor,
    teacher: torch.Tensor,
    gen: torch.Generator,
    bs: int = 64,
) -> float:
    """One epoch of KL divergence to the float model's softened outputs; the mean loss."""
    qnet.train()
    qnet.set_mode("quant")
    perm = torch.randperm(len(xt), generator=gen)
    loss_sum = 0.0
    for i in range(0, len(perm), bs):
        idx = perm[i : i + bs]
        if len(idx) < 2:
            continue
        student = F.log_softmax(qnet(xt[idx]) / DISTILL_T, dim=1)
        target = F.log_softmax(teacher[idx], dim=1)
        loss = F.kl_div(student, target, log_target=True, reduction="batchmean") * DISTILL_T**2
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(idx)
    return loss_sum / len(perm)


def _select(base: _Baselines, best: _Best | None, fr: artifacts.Frames) -> _Selected:
    """The best fine-tuned epoch replaces the PTQ state only if McNemar on validation says it is
    better (z >= SELECT_Z); qnet is left holding the kept state, in quant mode."""
    qnet = base.qnet
    qnet.eval()
    qnet.set_mode("quant")
    qat_val = qat_test = z = None
    if best is not None:
        qnet.load_state_dict(best[2])
        qat_val = best[0][0]
        qat_test = accuracy(logits_of(qnet, fr.x_test).argmax(1), fr.y_test)
        z = mcnemar_z(base.ptq_pred, best[3], fr.y_val)
    name = "qat" if z is not None and z >= SELECT_Z else "ptq"
    if name == "ptq":
        qnet.load_state_dict(base.ptq_state)
    return _Selected(name, qat_val, qat_test, z, logits_of(qnet, fr.x_test))


def _self_check(
    base: _Baselines, arch: str
) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, dict[str, float]], float]:
    """The kept state's folded weights and ranges, and how far the exported float graph (BN
    removed, folded weights) is from the QAT network run in float: they must compute the same."""
    qnet = base.qnet
    folded = folded_tensors(qnet)
    ranges = act_ranges(qnet)
    check_model = apply_folded(base.model, arch, folded)
    x = base.x_cal[:64]
    qnet.set_mode("float")  # int8-grid weights, int32-grid biases, float activations
    diff = float(np.abs(logits_of(check_model, x) - logits_of(qnet, x)).max())
    qnet.set_mode("quant")
    return folded, ranges, diff


def _scores(
    base: _Baselines, best: _Best | None, sel: _Selected, fr: artifacts.Frames
) -> dict[str, Any]:
    """The report's accuracy, selection and agreement fields."""
    sel_pred = sel.test_logits.argmax(1)
    return {
        "accuracy": {
            "float": {"test": base.float_test, "val": base.float_val},
            "ptq": {"test": base.ptq_test, "val": base.ptq_score[0]},
            "qat": {"test": sel.qat_test, "val": sel.qat_val},
            "selected": {
                "test": accuracy(sel_pred, fr.y_test),
                "val": sel.qat_val if sel.name == "qat" else base.ptq_score[0],
            },
        },
        "selected": sel.name,
        "selection": {
            "best_qat_epoch": None if best is None else best[1],
            "mcnemar_z_vs_ptq_val": sel.z,
            "threshold_z": SELECT_Z,
        },
        "selected_float_agreement_test": float(
            (sel_pred == base.float_test_logits.argmax(1)).mean()
        ),
    }


def _save(
    run: runs.Run,
    rec: checkpoint.ModelRecord,
    base: _Baselines,
    sel: _Selected,
    folded: dict[str, dict[str, torch.Tensor]],
    ranges: dict[str, dict[str, float]],
    report: dict[str, Any],
    seed: int,
) -> None:
    """qat.pt (the float record's metadata, the folded weights and ranges, what export compares
    the converted model with) and quantize.json."""
    qrec = dataclasses.replace(
        rec,
        state_dict=identity_bn_state(base.model, rec.arch, folded),
        source={**rec.source, "float_ckpt": str(run.float_ckpt)},
        extra={
            "folded": folded,
            "act_ranges": ranges,
            "layers": layer_map(base.qnet),
            "calibration": {
                "split": "train",
                "seed": seed,
                "indices": [int(i) for i in base.calib_idx],
            },
            # what export compares the converted int8 model with (artifacts.QatRecord)
            "test_logits": torch.from_numpy(sel.test_logits.astype(np.float32)),
            "accuracy": report["accuracy"],
            "selected": sel.name,
            "scheme": "int8 per-channel symmetric weights, per-tensor asymmetric activations, "
            "BN folded, ReLU/ReLU6 fused (TFLite int8 spec)",
        },
        format=checkpoint.QAT_FORMAT,
    )
    checkpoint.save(run.qat_ckpt, qrec)
    run.write_report("quantize", report)


def summary(report: dict[str, Any]) -> str:
    a, sel = report["accuracy"], report["selection"]
    qat = (
        "QAT -"
        if a["qat"]["test"] is None
        else f"QAT {a['qat']['test']:.4f} (epoch {sel['best_qat_epoch']})"
    )
    why = (
        ""
        if sel["mcnemar_z_vs_ptq_val"] is None
        else f" (McNemar z on val {sel['mcnemar_z_vs_ptq_val']:+.2f}, needs >= {sel['threshold_z']})"
    )
    return "\n".join(
        [
            f"{report['arch']} w{report['width']:g}: QAT {report['epochs']} epochs, "
            f"{report['calibration_frames']} calibration frames",
            f"test accuracy  float {a['float']['test']:.4f}  PTQ {a['ptq']['test']:.4f}  {qat}  "
            f"(n={report['n_test']})",
            f"kept: {report['selected'].upper()} weights{why}, test {a['selected']['test']:.4f}",
            f"wall time {report['wall_s']} s",
        ]
    )
