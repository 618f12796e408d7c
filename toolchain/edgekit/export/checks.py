"""The export's self-check: did onnx2tf calibrate on our frames, and does the converted int8 model
hold what the QAT simulation computed (int8 weights, activation scales and zero points)?

input_check stops the export by itself (the wrong input range means the wrong data was used);
the per-layer comparison is recorded in full, and `failures` names what stops the export (int8
weights that differ, QAT layers with no op in the .tflite); export decides what to do with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import checkpoint
from ..errors import EdgekitError
from ..quantspec import act_qparams, round_half_away, weight_scales
from . import tflite

# QAT layer kind -> the TFLite op that holds its weights
WEIGHT_OPS = {"conv": "CONV_2D", "depthwise": "DEPTHWISE_CONV_2D", "fc": "FULLY_CONNECTED"}


def input_check(info: tflite.TfliteInfo, x_cal: np.ndarray) -> dict[str, Any]:
    """The int8 input scale/zero-point must be what TFLite's rule gives for our frames' range."""
    s_exp, zp_exp = act_qparams(float(x_cal.min()), float(x_cal.max()))
    inp = info.input
    res: dict[str, Any] = {
        "calibration_frames": int(len(x_cal)),
        "calibration_range": [float(x_cal.min()), float(x_cal.max())],
        "input_expected": {"scale": s_exp, "zero_point": zp_exp},
        "input_tflite": {"scale": inp.scales[0], "zero_point": inp.zero_points[0]},
        "input_scale_rel_diff": abs(inp.scales[0] - s_exp) / s_exp,
        "input_zero_point_diff": abs(inp.zero_points[0] - zp_exp),
    }
    # the input range is the evidence that our frames (mean 0 / std 1, not ImageNet) were used
    if res["input_scale_rel_diff"] > 1e-3 or res["input_zero_point_diff"] > 1:
        raise EdgekitError(
            f"onnx2tf calibration: input scale/zero-point {inp.scales[0]:.6g}/{inp.zero_points[0]} "
            f"do not match the calibration frames' range ({s_exp:.6g}/{zp_exp}); onnx2tf did not "
            f"calibrate on our data (check -cind mean/std handling)"
        )
    return res


def calibration_check(
    info: tflite.TfliteInfo, rec: checkpoint.ModelRecord, x_cal: np.ndarray
) -> dict[str, Any]:
    """Did onnx2tf calibrate on our frames, and do its parameters equal the QAT simulation's?

    - input scale/zero-point vs the range of the calibration frames (TFLite's rule);
    - per weight layer (matched by per-channel scale vectors): int8 weights equal to QAT's, and the
      output tensor's scale/zero-point vs the QAT observer of that output; ADD and MEAN outputs too.
    """
    folded, ranges = rec.extra["folded"], rec.extra["act_ranges"]
    res = input_check(info, x_cal)
    producer = {o: i for i, op in enumerate(info.ops) for o in op.outputs}
    used: set[int] = set()  # weight ops already matched to a layer
    matched: dict[str, int] = {}  # layer key -> its op
    rows = []
    for layer in rec.extra["layers"]:
        kind, mismatches = layer["kind"], None
        if kind in WEIGHT_OPS:
            op_i, scale_d, mismatches = _match_weights(
                info, kind, folded[layer["key"]]["weight"], used
            )
            if op_i is not None:
                used.add(op_i)
                matched[layer["key"]] = op_i
        elif kind == "add":
            op_i, scale_d = _add_after(info, matched.get(layer["projection"]), producer), 0.0
        elif kind == "mean":
            op_i, scale_d = next((i for i, op in enumerate(info.ops) if op.op == "MEAN"), None), 0.0
        else:
            continue
        if op_i is None:
            rows.append({"layer": layer["key"], "matched": False})
        else:
            rows.append(_layer_row(info, layer, op_i, scale_d, ranges[layer["out_q"]], mismatches))
    res.update(_summary(rows))
    return res


def _qat_int8(w: torch.Tensor) -> np.ndarray:
    """QAT's int8 weights by TFLite's rule, as (out_channels, -1) rows, each sorted."""
    q = torch.clamp(
        round_half_away(w / weight_scales(w).reshape(-1, *([1] * (w.dim() - 1)))), -127, 127
    )
    return np.sort(q.reshape(w.shape[0], -1).numpy().astype(np.int8), axis=1)


def _int8_weights(info: tflite.TfliteInfo, tensor: int, kind: str) -> np.ndarray:
    """TFLite weight tensor as (out_channels, -1) int8 rows."""
    t = info.tensors[tensor]
    w = np.frombuffer(info.tensor_data(tensor), dtype=np.int8).reshape(t.shape)
    if kind == "depthwise":  # [1, kh, kw, out]
        return w.reshape(-1, w.shape[-1]).T
    return w.reshape(w.shape[0], -1)


def _match_weights(
    info: tflite.TfliteInfo, kind: str, w: torch.Tensor, used: set[int]
) -> tuple[int | None, float, int | None]:
    """The unused op of the layer's kind whose per-channel weight scales are nearest QAT's, that
    distance (max relative difference), and how many of its int8 weights differ from QAT's
    (compared per output channel as sorted values; all of them if the shapes differ)."""
    sq = weight_scales(w).numpy()
    best, best_d = None, np.inf
    for i, op in enumerate(info.ops):
        if op.op != WEIGHT_OPS[kind] or i in used:
            continue
        st = np.array(info.tensors[op.inputs[1]].scales)
        if st.shape != sq.shape:
            continue
        d = float(np.max(np.abs(st - sq) / np.maximum(sq, 1e-30)))
        if d < best_d:
            best, best_d = i, d
    if best is None:
        return None, best_d, None
    q_qat = _qat_int8(w)
    q_tfl = np.sort(_int8_weights(info, info.ops[best].inputs[1], kind), axis=1)
    if q_tfl.shape != q_qat.shape:
        return best, best_d, int(q_qat.size)
    return best, best_d, int(np.count_nonzero(q_tfl != q_qat))


def _add_after(
    info: tflite.TfliteInfo, projection_op: int | None, producer: dict[int, int]
) -> int | None:
    """The ADD op fed by the block's projection conv."""
    if projection_op is None:
        return None
    return next(
        (
            i
            for i, op in enumerate(info.ops)
            if op.op == "ADD" and any(producer.get(t) == projection_op for t in op.inputs)
        ),
        None,
    )


def _layer_row(
    info: tflite.TfliteInfo,
    layer: dict[str, Any],
    op_i: int,
    weight_scale_d: float,
    r: dict[str, Any],
    weight_mismatches: int | None,
) -> dict[str, Any]:
    """One matched layer: its op's output scale/zero point vs the QAT observer `r` of that output."""
    t = info.tensors[info.ops[op_i].outputs[0]]
    row = {
        "layer": layer["key"],
        "op": info.ops[op_i].op,
        "matched": True,
        "weight_scale_rel_diff": weight_scale_d,
        "qat_scale": r["scale"],
        "tflite_scale": t.scales[0],
        "scale_rel_diff": abs(t.scales[0] - r["scale"]) / max(r["scale"], 1e-30),
        "qat_zero_point": r["zero_point"],
        "tflite_zero_point": t.zero_points[0],
        "zero_point_diff": abs(t.zero_points[0] - r["zero_point"]),
    }
    if weight_mismatches is not None:
        row["weight_int8_mismatches"] = weight_mismatches
    return row


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if r.get("matched")]
    rel = [r["scale_rel_diff"] for r in ok]
    worst = max(ok, key=lambda r: r["scale_rel_diff"]) if ok else None
    return {
        "layers_compared": len(ok),
        "layers_unmatched": [r["layer"] for r in rows if not r.get("matched")],
        "act_scale_rel_diff_max": max(rel) if rel else None,
        "act_scale_rel_diff_median": float(np.median(rel)) if rel else None,
        "act_zero_point_diff_max": max(r["zero_point_diff"] for r in ok) if ok else None,
        "worst_layer": worst["layer"] if worst else None,
        "weight_scale_rel_diff_max": max((r["weight_scale_rel_diff"] for r in ok), default=None),
        "weight_int8_mismatches": sum(r.get("weight_int8_mismatches", 0) for r in ok),
        "layers": rows,
    }


def failures(check: dict[str, Any]) -> dict[str, Any]:
    """What in a calibration_check stops the export, or {}: int8 weights that differ from QAT's
    (how many, in which layers) and QAT layers with no op in the .tflite."""
    out: dict[str, Any] = {}
    if check.get("weight_int8_mismatches"):
        out["weight_int8_mismatches"] = check["weight_int8_mismatches"]
        out["layers_with_weight_mismatches"] = [
            r["layer"] for r in check["layers"] if r.get("weight_int8_mismatches")
        ]
    if check.get("layers_unmatched"):
        out["layers_unmatched"] = list(check["layers_unmatched"])
    return out


def describe(fail: dict[str, Any]) -> str:
    """failures() in words: what mismatched, how many, where."""
    parts = []
    n = fail.get("weight_int8_mismatches", 0)
    if n:
        where = fail["layers_with_weight_mismatches"]
        parts.append(
            f"{n:,} int8 weight{'s' if n != 1 else ''} differ{'' if n != 1 else 's'} from "
            f"the QAT model's in {len(where)} layer{'s' if len(where) != 1 else ''} "
            f"({', '.join(where)})"
        )
    un = fail.get("layers_unmatched", [])
    if un:
        parts.append(
            f"{len(un)} QAT layer{'s' if len(un) != 1 else ''} matched no op of the .tflite "
            f"({', '.join(un)})"
        )
    return "; ".join(parts)
