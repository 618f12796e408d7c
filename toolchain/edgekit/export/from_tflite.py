"""Export any int8 .tflite (not only one this toolchain trained) into a run directory, so the
usual firmware rendering and bench work on it (`edgekit bench --tflite FILE`).

Inputs are given (a .npy of int8 input tensors) or random (seeded); the host reference is the
tflite_micro interpreter on those inputs, computed here. There are no ground-truth labels: the
reference's labels are the host's own argmax, so "accuracy" in the bench equals top-1 agreement.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import runs
from ..boards import Board
from ..errors import EdgekitError
from . import calib_bytes, carray, fit, reference, size_arena, tflite

MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def tflite_macs(info: tflite.TfliteInfo) -> int:
    """Multiply-accumulates of one inference from the graph's shapes (conv, depthwise, dense)."""
    total = 0
    for op in info.ops:
        if op.op not in MAC_OPS:
            continue
        out = int(np.prod(info.tensors[op.outputs[0]].shape))
        w = info.tensors[op.inputs[1]].shape
        if op.op == "CONV_2D":  # [out_c, kh, kw, in_c]
            total += out * int(np.prod(w[1:]))
        elif op.op == "DEPTHWISE_CONV_2D":  # [1, kh, kw, out_c]
            total += out * int(w[1] * w[2])
        else:  # [units, in_features]
            total += out * int(w[-1])
    return total


def load_inputs(path: Path, shape: list[int]) -> np.ndarray:
    """(N, *shape[1:]) int8 from a .npy; a single input without the N axis is accepted too."""
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise EdgekitError(f"{path}: not a readable .npy file ({e})") from None
    want = tuple(shape[1:])
    if x.dtype != np.int8:
        raise EdgekitError(
            f"{path}: inputs are {x.dtype}, expected int8 (already quantized with "
            "the model's input scale and zero point)"
        )
    if x.shape == tuple(shape) or x.shape == want:
        x = x.reshape(1, *want)
    if x.ndim != len(want) + 1 or x.shape[1:] != want or len(x) == 0:
        raise EdgekitError(
            f"{path}: inputs have shape {x.shape}, expected (N, {', '.join(map(str, want))}) "
            f"for the model's input {shape}"
        )
    return np.ascontiguousarray(x)


def _record(n_out: int, arch: str) -> Any:
    """The model_meta.h facts a foreign model lacks: generic labels, no feature chain."""
    from ..checkpoint import ModelRecord

    return ModelRecord(
        arch=arch,
        width=0.0,
        num_classes=n_out,
        label_names=[f"out{i}" for i in range(n_out)],
        features={"kind": "none", "window_ms": 0.0, "hop_ms": 0.0},
        norm_mean=[0.0] * 192,
        norm_std=[1.0] * 192,
        channel_mask=[True] * 192,
        layout="none",
        state_dict={},
    )


def _bench_inputs(
    shape: tuple[int, ...], inputs: Path | None, n: int, seed: int
) -> tuple[np.ndarray, str]:
    """The given --inputs, or n random int8 inputs; and where they came from."""
    if inputs is not None:
        return load_inputs(Path(inputs), shape), str(inputs)
    if n <= 0:
        raise EdgekitError(f"--samples: must be >= 1, got {n}")
    x = np.random.default_rng(seed).integers(-128, 128, size=(n, *shape[1:])).astype(np.int8)
    return x, f"random int8, seed {seed}"


def export_tflite(
    run: runs.Run,
    board: Board,
    model_path: Path,
    inputs: Path | None = None,
    n: int = 20,
    seed: int = 0,
    runtime: str | None = None,
) -> dict[str, Any]:
    """Write <run>/export/ (model files, model_meta.h, reference.npz, export.json) for the given
    .tflite, atomically; the arena is sized for `runtime` (default: the board's)."""
    t0 = time.time()
    model_path = Path(model_path)
    if not model_path.is_file():
        raise EdgekitError(f"--tflite {model_path}: file not found")
    data = model_path.read_bytes()
    what = str(model_path)
    info = tflite.inspect_tflite(data, what)
    tflite.validate_tflm_int8(info, what, input_shape=None)
    in_t, out_t = info.input, info.output
    x, src = _bench_inputs(in_t.shape, inputs, n, seed)
    tflm_need = reference.find_arena(data, x[:1])
    y = reference.run_reference(data, x, reference.arena_with_margin(tflm_need))
    arena = size_arena(data, x, y, tflm_need, runtime or board.runtime, what)
    fit_rep = fit.check_fit(board, len(data), arena["ek_arena_size"], calib_bytes(info))
    n_out = int(y.shape[1])
    rec = _record(n_out, model_path.stem)
    resolver = tflite.resolver_ops(info)
    inp = {"shape": in_t.shape, "scale": in_t.scales[0], "zero_point": in_t.zero_points[0]}
    out = {"shape": out_t.shape, "scale": out_t.scales[0], "zero_point": out_t.zero_points[0]}
    report: dict[str, Any] = {
        "stage": "export",
        "source": "tflite",
        "tflite": str(model_path.resolve()),
        "board": board.name,
        "inputs": src,
        "samples": int(len(x)),
        "model_hash": runs.model_hash(data),
        "model_bytes": len(data),
        "macs": tflite_macs(info),
        "ops": info.op_names,
        "op_counts": info.op_counts(),
        "resolver_ops": resolver,
        "input": inp,
        "output": out,
        "arena": arena,
        "fit": fit_rep,
        "labels": "no ground truth: the host reference's argmax",
    }
    with runs.atomic_dir(run.export_dir) as tmp:
        (tmp / "model_int8.tflite").write_bytes(data)
        carray.write_all(
            tmp,
            rec,
            data,
            inp,
            out,
            arena["ek_arena_size"],
            resolver,
            arena.get("tflm_arena_size"),
            fit_rep["calibration"]["room"],
        )
        runs.save_npz(
            tmp / "reference.npz",
            x_int8=x,
            y_int8=y,
            labels=y.argmax(1).astype(np.int64),
            label_names=np.array(rec.label_names, dtype=str),
        )
        report["wall_s"] = round(time.time() - t0, 1)
        runs.write_json(tmp / "export.json", {**report, "provenance": runs.provenance()})
    return report
