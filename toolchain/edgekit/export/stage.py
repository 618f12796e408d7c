"""The export stage: the run's QAT (or ingested ONNX) model -> model.onnx -> int8 .tflite (onnx2tf)
-> self-check -> host reference (tflite_micro) -> arena -> C array, model_meta.h, fit check.

Everything is built in a temp directory and renamed to <run>/export only when every check passed
(the self-check against the QAT model and the fit check for the board), so a failed export leaves
the previous one untouched. A failed self-check also writes what failed to <run>/export.failed.json
(removed by the next export that passes), unless allow_check_failures, which exports anyway and
records the failures in export.json. Firmware rendering is not done here (firmware.py does it
afterwards).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import runs
from ..artifacts import Frames
from ..boards import Board
from ..errors import EdgekitError
from ..metrics import accuracy
from ..progress import PhaseBar
from ..quantspec import dequantize, quantize_input
from . import carray, checks, fit, head, reference, rt_host, tflite
from .source import Source, load_source

PHASES = ("onnx", "convert", "check", "reference", "arena", "write")
FAILED_CHECK_REPORT = "export.failed.json"  # in the run directory, beside export/
TFLITE = "model_int8.tflite"
ARTIFACTS = (
    "model.onnx",
    TFLITE,
    "onnx2tf.log",
    "model_data.cc",
    "model_data.h",
    "model_data.c",
    "model_meta.h",
    "reference.npz",
)


@dataclass
class Converted:
    """The int8 model onnx2tf wrote, read back and validated for TFLM."""

    data: bytes
    info: tflite.TfliteInfo
    report: dict[str, Any]  # onnx2tf's conversion record ("onnx2tf" in export.json)


@dataclass
class Reference:
    """The host reference: int8 test inputs and tflite_micro's int8 outputs, and the arena."""

    x_int8: np.ndarray
    y_int8: np.ndarray
    tflm_need: int  # the arena tflite_micro needed on the host


def run_export(
    run: runs.Run,
    board: Board,
    seed: int,
    progress: bool = True,
    runtime: str | None = None,
    allow_check_failures: bool = False,
) -> dict[str, Any]:
    """runtime: the firmware runtime the arena is sized for (default: the board's).
    allow_check_failures: export even when the converted model fails the self-check."""
    t0 = time.time()
    src, fr = load_source(run, seed)
    torch.manual_seed(seed)
    with runs.atomic_dir(run.export_dir) as tmp, PhaseBar("export", PHASES, progress) as bar:
        with bar.phase("onnx"):
            onnx_rep = _write_onnx(run, src, tmp)
        with bar.phase("convert"):
            conv = _convert(run, src, tmp)
        with bar.phase("check"):
            check, self_check = _self_check(run, src, conv, allow_check_failures)
        with bar.phase("reference"):
            ref = _reference(conv, fr)
        with bar.phase("arena"):
            arena = size_arena(
                conv.data,
                ref.x_int8,
                ref.y_int8,
                ref.tflm_need,
                runtime or board.runtime,
                str(run.export_dir / TFLITE),
            )
        with bar.phase("write"):
            fit_rep = fit.check_fit(
                board, len(conv.data), arena["ek_arena_size"], calib_bytes(conv.info)
            )
            _write_artifacts(tmp, src, conv, ref, arena, fr, fit_rep["calibration"]["room"])
        report = _report(board, seed, src, conv, ref, arena, fit_rep, fr)
        report.update(onnx=onnx_rep, onnx2tf=conv.report, calibration_check=check)
        report.update(self_check=self_check, artifacts=_sizes(run, tmp, ARTIFACTS))
        report["wall_s"] = round(time.time() - t0, 1)
        report["table"] = table(report)
        runs.write_json(tmp / "export.json", {**report, "provenance": runs.provenance()})
    report["artifacts"].update(_sizes(run, run.export_dir, ["export.json"]))
    (run.root / FAILED_CHECK_REPORT).unlink(missing_ok=True)
    return report


def _write_onnx(run: runs.Run, src: Source, tmp: Path) -> dict[str, Any]:
    if src.kind == "onnx-ptq":
        tflite.check_onnx_ops(run.root / src.rec.extra.get("onnx", "float.onnx"))
    rep = src.write_onnx(tmp / "model.onnx")
    return {**rep, "path": str(run.export_dir / "model.onnx")}  # where it is once in place


def _convert(run: runs.Run, src: Source, tmp: Path) -> Converted:
    """onnx2tf with our calibration frames; the .tflite read back and checked for TFLM int8."""
    calib_nhwc = np.ascontiguousarray(np.transpose(src.x_cal, (0, 2, 3, 1))).astype(np.float32)
    conv = tflite.convert(tmp / "model.onnx", calib_nhwc, tmp / TFLITE, tmp / "onnx2tf.log")
    conv["log"] = str(run.export_dir / "onnx2tf.log")
    data = (tmp / TFLITE).read_bytes()
    where = str(run.export_dir / TFLITE)
    info = tflite.inspect_tflite(data, where)
    tflite.validate_tflm_int8(info, where, (1, *src.rec.geometry().shape, 1))
    return Converted(data, info, conv)


def _self_check(
    run: runs.Run, src: Source, conv: Converted, allow_failures: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The calibration check (input range; for a QAT model also every layer's int8 weights and
    output parameters), and its verdict. A failure stops the export unless allow_failures."""
    if src.kind == "qat":
        check = checks.calibration_check(conv.info, src.rec, src.x_cal)
    else:
        check = checks.input_check(conv.info, src.x_cal)
    fail = checks.failures(check)
    if not fail:
        return check, {"passed": True}
    verdict = {"passed": False, "failures": fail}
    if allow_failures:
        return check, {**verdict, "exported_anyway": "--allow-check-failures"}
    where = run.root / FAILED_CHECK_REPORT
    runs.write_json(
        where,
        {
            "stage": "export",
            "self_check": verdict,
            "model": str(run.qat_ckpt),
            "calibration_check": check,
            "provenance": runs.provenance(),
        },
    )
    raise EdgekitError(
        f"export self-check failed: the converted int8 model does not hold the QAT model of "
        f"{run.qat_ckpt}: {checks.describe(fail)}; nothing exported ({run.export_dir} is as it "
        f"was); report: {where}; --allow-check-failures exports anyway"
    )


def _reference(conv: Converted, fr: Frames) -> Reference:
    """The test frames as int8 inputs, run through tflite_micro in the arena it needs."""
    x_int8 = quantize_input(fr.x_test, conv.info.input.scales[0], conv.info.input.zero_points[0])
    need = reference.find_arena(conv.data, x_int8[:1])
    y_int8 = reference.run_reference(conv.data, x_int8, reference.arena_with_margin(need))
    return Reference(x_int8, y_int8, need)


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


def _io(t: tflite.TensorQ) -> dict[str, Any]:
    return {"shape": t.shape, "scale": t.scales[0], "zero_point": t.zero_points[0]}


def calib_bytes(info: tflite.TfliteInfo) -> int:
    """RAM on-device calibration needs for this model (0: it has no head to replace)."""
    return head.calib_bytes(head.find_head(info)[0])


def _write_artifacts(
    tmp: Path,
    src: Source,
    conv: Converted,
    ref: Reference,
    arena: dict[str, Any],
    fr: Frames,
    calib_room: bool,
) -> None:
    """The C array and model_meta.h, and reference.npz (what the bench compares the device with)."""
    carray.write_all(
        tmp,
        src.rec,
        conv.data,
        _io(conv.info.input),
        _io(conv.info.output),
        arena["ek_arena_size"],
        tflite.resolver_ops(conv.info),
        arena.get("tflm_arena_size"),
        calib_room,
    )
    runs.save_npz(
        tmp / "reference.npz",
        x_int8=ref.x_int8,
        y_int8=ref.y_int8,
        labels=fr.y_test.astype(np.int64),
        label_names=np.array(src.rec.label_names, dtype=str),
    )


def _sizes(run: runs.Run, where: Path, names: Any) -> dict[str, dict[str, Any]]:
    """artifact -> its final path (in <run>/export) and its size (read where it is now)."""
    return {
        n: {"path": str(run.export_dir / n), "bytes": (where / n).stat().st_size} for n in names
    }


def _accuracy(src: Source, ref: Reference, conv: Converted, fr: Frames) -> dict[str, Any]:
    """int8 on the host vs the model it came from (QAT simulation, or the float ONNX model)."""
    out = conv.info.output
    int8_pred = ref.y_int8.argmax(1)
    ref_pred = src.test_logits.argmax(1)
    deq = dequantize(ref.y_int8, out.scales[0], out.zero_points[0])
    qat = src.kind == "qat"
    return {
        "float": src.float_acc,
        "qat": accuracy(ref_pred, fr.y_test) if qat else None,
        "int8_host": accuracy(int8_pred, fr.y_test),
        "qat_int8_agreement": float((ref_pred == int8_pred).mean()) if qat else None,
        "float_int8_agreement": None if qat else float((ref_pred == int8_pred).mean()),
        "quantize_report": src.rec.extra.get("accuracy"),
        "n_test": int(len(fr.y_test)),
        "int8_vs_reference_logit_max_abs_diff": float(np.abs(deq - src.test_logits).max()),
        "int8_output_step": out.scales[0],
    }


def _quantization(src: Source) -> str:
    if src.kind != "qat":
        return "post-training (ingested ONNX: no QAT possible)"
    if src.rec.extra.get("selected", "qat") == "qat":
        return "QAT, fine-tuned weights"
    return (
        "QAT stage kept the calibration-only (PTQ) weights: fine-tuning was not better on "
        "validation (quantize.json)"
    )


def _report(
    board: Board,
    seed: int,
    src: Source,
    conv: Converted,
    ref: Reference,
    arena: dict[str, Any],
    fit_rep: dict[str, Any],
    fr: Frames,
) -> dict[str, Any]:
    """export.json's model fields; run_export adds the checks, artifacts and wall time."""
    rec, info = src.rec, conv.info
    return {
        "stage": "export",
        "arch": rec.arch,
        "width": rec.width,
        "board": board.name,
        "quantization": _quantization(src),
        "seed": seed,
        "params": src.params,
        "macs": src.macs,
        "model_hash": runs.model_hash(conv.data),
        "model_bytes": len(conv.data),
        "ops": info.op_names,
        "op_counts": info.op_counts(),
        "resolver_ops": tflite.resolver_ops(info),
        "grid": rec.geometry().to_dict(),
        "input": _io(info.input),
        "output": _io(info.output),
        "arena": arena,
        "fit": fit_rep,
        "accuracy": _accuracy(src, ref, conv, fr),
    }


def _pct(v: float | None) -> str:
    return "   n/a" if v is None else f"{100 * v:6.2f}%"


def table(r: dict[str, Any]) -> str:
    a, c = r["accuracy"], r["calibration_check"]
    macs = "n/a" if r["macs"] is None else f"{r['macs']:,}"
    rows = [
        f"export {r['arch']} w{r['width']:g} for {r['board']}: {r['params']:,} params, "
        f"{macs} MACs, model {r['model_bytes']:,} B, hash {r['model_hash']}",
        f"quantization: {r['quantization']}",
        f"ops: {', '.join(f'{k} x{v}' for k, v in r['op_counts'].items())}",
        "",
        f"{'artifact':20s} {'bytes':>10s}  path",
    ]
    rows += [f"{n:20s} {d['bytes']:>10,d}  {d['path']}" for n, d in r["artifacts"].items()]
    rows += ["", *_memory_rows(r), ""]
    rows.append(
        f"test accuracy (n={a['n_test']}): float {_pct(a['float'])}  QAT {_pct(a['qat'])}  "
        f"int8 host (tflite_micro) {_pct(a['int8_host'])}"
    )
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
    s = r.get("self_check", {"passed": True})
    if not s["passed"]:
        rows.append(
            f"SELF-CHECK FAILED, exported anyway ({s['exported_anyway']}): "
            f"{checks.describe(s['failures'])}"
        )
    return "\n".join(rows)


def _memory_rows(r: dict[str, Any]) -> list[str]:
    f, arena = r["fit"], r["arena"]
    ekrt = arena.get("ekrt_need_host")
    return [
        f"{'memory':8s} {'need':>10s} {'budget':>10s} {'free':>10s}",
        f"{'flash':8s} {f['flash']['need']:>10,d} {f['flash']['budget']:>10,d} "
        f"{f['flash']['free']:>10,d}" + ("  (shared with RAM)" if f["shared_code_ram"] else ""),
        f"{'RAM':8s} {f['ram']['need']:>10,d} {f['ram']['budget']:>10,d} {f['ram']['free']:>10,d}"
        f"  (arena {arena['ek_arena_size']:,} for {arena.get('sized_for', 'tflm')}; "
        f"TFLM host need {arena['tflm_need_host']:,}"
        + (f", edgekit-rt host need {ekrt:,}" if ekrt else "")
        + ")",
    ]
