"""Export: QAT network -> ONNX -> int8 .tflite (onnx2tf) -> host reference -> C array, fit check.

Everything is built in a temp directory and renamed to <run>/export only when every check passed
(including the fit check for the board), so a failed export leaves the previous one untouched.
Firmware rendering is not done here (firmware.py does it afterwards).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import checkpoint, runs
from ..artifacts import Frames, load_frames, load_qat
from ..boards import Board
from ..errors import EdgekitError
from ..metrics import accuracy, logits_of
from ..nn.fold import apply_folded
from ..nn.profile import profile_model
from ..progress import progress_bar
from ..quantspec import (
    act_qparams,
    calibration_indices,
    dequantize,
    quantize_input,
    round_half_away,
    weight_scales,
)
from . import carray, fit, reference, rt_host, tflite
from .onnx import INPUT_NAME, export_onnx

__all__ = ["run_export", "calibration_check", "input_check"]


def _int8_weights(info: tflite.TfliteInfo, tensor: int, kind: str) -> np.ndarray:
    """TFLite weight tensor as (out_channels, -1) int8 rows."""
    t = info.tensors[tensor]
    w = np.frombuffer(info.tensor_data(tensor), dtype=np.int8).reshape(t.shape)
    if kind == "depthwise":  # [1, kh, kw, out]
        return w.reshape(-1, w.shape[-1]).T
    return w.reshape(w.shape[0], -1)


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
    ranges = rec.extra["act_ranges"]
    folded = rec.extra["folded"]
    res = input_check(info, x_cal)
    kinds = {"conv": "CONV_2D", "depthwise": "DEPTHWISE_CONV_2D", "fc": "FULLY_CONNECTED"}
    producer = {o: i for i, op in enumerate(info.ops) for o in op.outputs}
    used: set[int] = set()
    matched: dict[str, int] = {}
    rows = []
    w_mismatch = 0
    for layer in rec.extra["layers"]:
        kind = layer["kind"]
        if kind in kinds:
            w = folded[layer["key"]]["weight"]
            sq = weight_scales(w).numpy()
            q_qat = torch.clamp(
                round_half_away(w / weight_scales(w).reshape(-1, *([1] * (w.dim() - 1)))), -127, 127
            )
            q_qat = np.sort(q_qat.reshape(w.shape[0], -1).numpy().astype(np.int8), axis=1)
            best, best_d = None, np.inf
            for i, op in enumerate(info.ops):
                if op.op != kinds[kind] or i in used:
                    continue
                st = np.array(info.tensors[op.inputs[1]].scales)
                if st.shape != sq.shape:
                    continue
                d = float(np.max(np.abs(st - sq) / np.maximum(sq, 1e-30)))
                if d < best_d:
                    best, best_d = i, d
            if best is None:
                rows.append({"layer": layer["key"], "matched": False})
                continue
            used.add(best)
            matched[layer["key"]] = best
            q_tfl = np.sort(_int8_weights(info, info.ops[best].inputs[1], kind), axis=1)
            if q_tfl.shape == q_qat.shape:
                w_mismatch += int(np.count_nonzero(q_tfl != q_qat))
            else:
                w_mismatch += int(q_qat.size)
            op_i = best
        elif kind == "add":
            proj = matched.get(layer["projection"])
            op_i = next(
                (
                    i
                    for i, op in enumerate(info.ops)
                    if op.op == "ADD"
                    and proj is not None
                    and any(producer.get(t) == proj for t in op.inputs)
                ),
                None,
            )
            best_d = 0.0
        elif kind == "mean":
            op_i = next((i for i, op in enumerate(info.ops) if op.op == "MEAN"), None)
            best_d = 0.0
        else:
            continue
        if op_i is None:
            rows.append({"layer": layer["key"], "matched": False})
            continue
        t = info.tensors[info.ops[op_i].outputs[0]]
        r = ranges[layer["out_q"]]
        rows.append(
            {
                "layer": layer["key"],
                "op": info.ops[op_i].op,
                "matched": True,
                "weight_scale_rel_diff": best_d,
                "qat_scale": r["scale"],
                "tflite_scale": t.scales[0],
                "scale_rel_diff": abs(t.scales[0] - r["scale"]) / max(r["scale"], 1e-30),
                "qat_zero_point": r["zero_point"],
                "tflite_zero_point": t.zero_points[0],
                "zero_point_diff": abs(t.zero_points[0] - r["zero_point"]),
            }
        )
    ok = [r for r in rows if r.get("matched")]
    rel = [r["scale_rel_diff"] for r in ok]
    worst = max(ok, key=lambda r: r["scale_rel_diff"]) if ok else None
    res.update(
        {
            "layers_compared": len(ok),
            "layers_unmatched": [r["layer"] for r in rows if not r.get("matched")],
            "act_scale_rel_diff_max": max(rel) if rel else None,
            "act_scale_rel_diff_median": float(np.median(rel)) if rel else None,
            "act_zero_point_diff_max": max(r["zero_point_diff"] for r in ok) if ok else None,
            "worst_layer": worst["layer"] if worst else None,
            "weight_scale_rel_diff_max": max(
                (r["weight_scale_rel_diff"] for r in ok), default=None
            ),
            "weight_int8_mismatches": w_mismatch,
            "layers": rows,
        }
    )
    return res


@dataclass
class _Source:
    """The model being exported, as the shared export path needs it."""

    rec: checkpoint.ModelRecord  # labels, features, normalisation for model_meta.h
    kind: str  # "qat" or "onnx-ptq"
    x_cal: np.ndarray  # calibration frames (NCHW, normalised)
    write_onnx: Callable[[Path], dict[str, Any]]  # writes model.onnx, returns its checks
    test_logits: np.ndarray  # on the test frames: what int8 is compared with
    float_acc: float | None
    macs: int | None
    params: int


def _qat_source(run: runs.Run, fr: Frames) -> _Source:
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
    return _Source(
        rec,
        "qat",
        fr.x_train[q.calibration],
        lambda path: export_onnx(folded_model, path, fr.x_test[:32]),
        q.test_logits,
        float_acc,
        prof.total_macs,
        prof.total_params,
    )


def _onnx_source(run: runs.Run, fr: Frames, rec: checkpoint.ModelRecord, seed: int) -> _Source:
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

    def write_onnx(path: Path) -> dict[str, Any]:
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

    params = int(sum(np.prod(t.dims) for t in onnx.load(str(src)).graph.initializer))
    logits = predict(fr.x_test)
    idx = calibration_indices(len(fr.x_train), seed)
    return _Source(
        rec,
        "onnx-ptq",
        fr.x_train[idx],
        write_onnx,
        logits,
        accuracy(logits.argmax(1), fr.y_test),
        None,
        params,
    )


def size_arena(
    data: bytes, x_int8: np.ndarray, y_int8: np.ndarray, tflm_need: int, runtime: str, what: str
) -> dict[str, Any]:
    """EK_ARENA_SIZE from the runtime the board runs: edgekit-rt's own planner (host build, with
    its outputs checked byte for byte against tflite_micro's y_int8), or TFLM's recorded need +
    margin. Without a host C compiler edgekit-rt falls back to TFLM's figure (said in the report)."""
    rep: dict[str, Any] = {"tflm_need_host": tflm_need, "sized_for": runtime}
    size = reference.arena_with_margin(tflm_need)
    if runtime == "edgekit-rt":
        try:
            rep.update(rt_host.size_and_check(data, x_int8, y_int8, what))
            size = rt_host.arena_size(rep["ekrt_need_host"])
        except rt_host.NoHostCompiler as e:
            rep["note"] = f"{e}; sized from TFLM's need instead (larger than edgekit-rt's)"
    rep["ek_arena_size"] = size
    # TFLM's own figure too, so the same export also renders for --runtime tflm (EK_ARENA_SIZE_TFLM)
    rep["tflm_arena_size"] = reference.arena_with_margin(tflm_need)
    return rep


def run_export(
    run: runs.Run, board: Board, seed: int, progress: bool = True, runtime: str | None = None
) -> dict[str, Any]:
    """runtime: the firmware runtime the arena is sized for (default: the board's)."""
    t0 = time.time()
    frec = (
        checkpoint.load(run.float_ckpt, checkpoint.FLOAT_FORMAT)
        if run.float_ckpt.exists()
        else None
    )
    if frec is not None and frec.arch == "onnx" and not run.qat_ckpt.exists():
        run.require(run.frames, "frames", "re-run `edgekit ingest` (it writes frames.npz)")
        fr = load_frames(run.frames, frec.num_classes, frec.geometry())
        src = _onnx_source(run, fr, frec, seed)
    else:
        run.require(run.qat_ckpt, "QAT model", "run `edgekit quantize` first")
        run.require(run.frames, "frames", "run `edgekit train` first (it writes frames.npz)")
        qrec = checkpoint.load(run.qat_ckpt)
        fr = load_frames(run.frames, qrec.num_classes, qrec.geometry())
        src = _qat_source(run, fr)
    rec, x_cal = src.rec, src.x_cal
    grid = rec.geometry()
    torch.manual_seed(seed)
    steps = progress_bar(range(6), "export", progress)
    step = iter(steps)

    with runs.atomic_dir(run.export_dir) as tmp:
        next(step)
        if src.kind == "onnx-ptq":
            tflite.check_onnx_ops(run.root / rec.extra.get("onnx", "float.onnx"))
        onnx_rep = src.write_onnx(tmp / "model.onnx")
        next(step)
        calib_nhwc = np.ascontiguousarray(np.transpose(x_cal, (0, 2, 3, 1))).astype(np.float32)
        conv = tflite.convert(
            tmp / "model.onnx", calib_nhwc, tmp / "model_int8.tflite", tmp / "onnx2tf.log"
        )
        conv["log"] = str(run.export_dir / "onnx2tf.log")
        data = (tmp / "model_int8.tflite").read_bytes()
        info = tflite.inspect_tflite(data, str(run.export_dir / "model_int8.tflite"))
        tflite.validate_tflm_int8(
            info, str(run.export_dir / "model_int8.tflite"), (1, *grid.shape, 1)
        )
        cal = calibration_check(info, rec, x_cal) if src.kind == "qat" else input_check(info, x_cal)
        next(step)
        in_s, in_zp = info.input.scales[0], info.input.zero_points[0]
        out_s, out_zp = info.output.scales[0], info.output.zero_points[0]
        x_int8 = quantize_input(fr.x_test, in_s, in_zp)
        arena_need = reference.find_arena(data, x_int8[:1])
        next(step)
        y_int8 = reference.run_reference(data, x_int8, reference.arena_with_margin(arena_need))
        arena_rep = size_arena(
            data,
            x_int8,
            y_int8,
            arena_need,
            runtime or board.runtime,
            str(run.export_dir / "model_int8.tflite"),
        )
        arena_size = arena_rep["ek_arena_size"]
        int8_pred = y_int8.argmax(1)
        # logits: dequantized int8 output vs the model it came from (QAT simulation or float ONNX)
        ref_logits = src.test_logits
        ref_pred = ref_logits.argmax(1)
        deq = dequantize(y_int8, out_s, out_zp)
        next(step)
        fit_rep = fit.check_fit(board, len(data), arena_size)
        resolver = tflite.resolver_ops(info)
        carray.write_all(
            tmp,
            rec,
            data,
            {"shape": info.input.shape, "scale": in_s, "zero_point": in_zp},
            {"shape": info.output.shape, "scale": out_s, "zero_point": out_zp},
            arena_size,
            resolver,
            arena_rep.get("tflm_arena_size"),
        )
        runs.save_npz(
            tmp / "reference.npz",
            x_int8=x_int8,
            y_int8=y_int8,
            labels=fr.y_test.astype(np.int64),
            label_names=np.array(rec.label_names, dtype=str),
        )
        next(step)
        steps.close()
        qat = src.kind == "qat"
        acc = {
            "float": src.float_acc,
            "qat": accuracy(ref_pred, fr.y_test) if qat else None,
            "int8_host": accuracy(int8_pred, fr.y_test),
            "qat_int8_agreement": float((ref_pred == int8_pred).mean()) if qat else None,
            "float_int8_agreement": None if qat else float((ref_pred == int8_pred).mean()),
            "quantize_report": rec.extra.get("accuracy"),
            "n_test": int(len(fr.y_test)),
            "int8_vs_reference_logit_max_abs_diff": float(np.abs(deq - ref_logits).max()),
            "int8_output_step": out_s,
        }
        names = [
            "model.onnx",
            "model_int8.tflite",
            "onnx2tf.log",
            "model_data.cc",
            "model_data.h",
            "model_data.c",
            "model_meta.h",
            "reference.npz",
        ]
        artifacts = {
            n: {"path": str(run.export_dir / n), "bytes": (tmp / n).stat().st_size} for n in names
        }
        report: dict[str, Any] = {
            "stage": "export",
            "arch": rec.arch,
            "width": rec.width,
            "board": board.name,
            "quantization": (
                "QAT, fine-tuned weights"
                if rec.extra.get("selected", "qat") == "qat"
                else "QAT stage kept the calibration-only (PTQ) weights: fine-tuning "
                "was not better on validation (quantize.json)"
            )
            if qat
            else "post-training (ingested ONNX: no QAT possible)",
            "seed": seed,
            "params": src.params,
            "macs": src.macs,
            "model_hash": runs.model_hash(data),
            "model_bytes": len(data),
            "ops": info.op_names,
            "op_counts": info.op_counts(),
            "resolver_ops": resolver,
            "grid": grid.to_dict(),
            "input": {"shape": info.input.shape, "scale": in_s, "zero_point": in_zp},
            "output": {"shape": info.output.shape, "scale": out_s, "zero_point": out_zp},
            "arena": arena_rep,
            "fit": fit_rep,
            "accuracy": acc,
            "onnx": onnx_rep,
            "onnx2tf": conv,
            "calibration_check": cal,
            "artifacts": artifacts,
            "wall_s": round(time.time() - t0, 1),
        }
        report["table"] = table(report)
        runs.write_json(tmp / "export.json", {**report, "provenance": runs.provenance()})
    report["artifacts"]["export.json"] = {
        "path": str(run.export_dir / "export.json"),
        "bytes": (run.export_dir / "export.json").stat().st_size,
    }
    return report


def _pct(v: float | None) -> str:
    return "   n/a" if v is None else f"{100 * v:6.2f}%"


def table(r: dict[str, Any]) -> str:
    a, f, c = r["accuracy"], r["fit"], r["calibration_check"]
    macs = "n/a" if r["macs"] is None else f"{r['macs']:,}"
    rows = [
        f"export {r['arch']} w{r['width']:g} for {r['board']}: {r['params']:,} params, "
        f"{macs} MACs, model {r['model_bytes']:,} B, hash {r['model_hash']}",
        f"quantization: {r['quantization']}",
        f"ops: {', '.join(f'{k} x{v}' for k, v in r['op_counts'].items())}",
        "",
        f"{'artifact':20s} {'bytes':>10s}  path",
    ]
    for name, d in r["artifacts"].items():
        rows.append(f"{name:20s} {d['bytes']:>10,d}  {d['path']}")
    rows += [
        "",
        f"{'memory':8s} {'need':>10s} {'budget':>10s} {'free':>10s}",
        f"{'flash':8s} {f['flash']['need']:>10,d} {f['flash']['budget']:>10,d} "
        f"{f['flash']['free']:>10,d}" + ("  (shared with RAM)" if f["shared_code_ram"] else ""),
        f"{'RAM':8s} {f['ram']['need']:>10,d} {f['ram']['budget']:>10,d} {f['ram']['free']:>10,d}"
        f"  (arena {r['arena']['ek_arena_size']:,} for {r['arena'].get('sized_for', 'tflm')}; "
        f"TFLM host need {r['arena']['tflm_need_host']:,}"
        + (
            f", edgekit-rt host need {r['arena']['ekrt_need_host']:,}"
            if r["arena"].get("ekrt_need_host")
            else ""
        )
        + ")",
        "",
        f"test accuracy (n={a['n_test']}): float {_pct(a['float'])}  QAT {_pct(a['qat'])}  "
        f"int8 host (tflite_micro) {_pct(a['int8_host'])}",
    ]
    if a["qat_int8_agreement"] is not None:
        rows.append(
            f"QAT vs int8 top-1 agreement {_pct(a['qat_int8_agreement'])};  ONNX vs PyTorch "
            f"max abs diff {r['onnx']['ort_max_abs_diff']:.2e}"
        )
    else:
        rows.append(f"float ONNX vs int8 top-1 agreement {_pct(a['float_int8_agreement'])}")
    rows.append(
        f"calibration: input scale {c['input_tflite']['scale']:.6g} zp "
        f"{c['input_tflite']['zero_point']} (expected {c['input_expected']['scale']:.6g} / "
        f"{c['input_expected']['zero_point']})"
    )
    if "layers_compared" in c:
        rows[-1] += (
            f"; activation scales vs QAT: max rel diff {c['act_scale_rel_diff_max'] or 0:.2e} "
            f"over {c['layers_compared']} tensors, int8 weight mismatches "
            f"{c['weight_int8_mismatches']}"
        )
    return "\n".join(rows)
