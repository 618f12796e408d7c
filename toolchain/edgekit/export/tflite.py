"""ONNX -> full-integer int8 .tflite with onnx2tf, and the checks that make it a TFLM model.

onnx2tf runs as a subprocess (`python -m onnx2tf`) in a temp dir: its Python API calls sys.exit()
on errors and TensorFlow keeps global state, and the subprocess's chatter goes to a log file.
Invocation (onnx2tf 1.28.8):

    python -m onnx2tf -i model.onnx -o <tmp>/tf -oiqt -qt per-channel -nuo
        -iqd int8 -oqd int8
        -cind input calib.npy "[[[[0.0]]]]" "[[[[1.0]]]]"
        -qnm "[[[[0.0]]]]" -qns "[[[[1.0]]]]"

-cind: calibration frames (N, H, W, 1) NHWC, already normalised (what the network eats); onnx2tf
feeds (calib - mean) / std to TFLiteConverter's representative_dataset, so mean 0 / std 1 keep them
unchanged (the CLI parses the strings with ast.literal_eval into float32 arrays). -qnm/-qns only
feed onnx2tf's built-in MS-COCO calibration (unused with -cind), but they are also what it prints as
`quant_norm_mean`; we set them to 0/1 so the log does not show ImageNet constants. The result is
checked, not trusted: see calibration_check().
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EdgekitError
from .onnx import INPUT_NAME

# TFLite builtin operator -> TFLM MicroMutableOpResolver method (ops TFLM implements as builtins).
TFLM_RESOLVER = {
    "ADD": "AddAdd",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEQUANTIZE": "AddDequantize",
    "FULLY_CONNECTED": "AddFullyConnected",
    "HARD_SWISH": "AddHardSwish",
    "LOGISTIC": "AddLogistic",
    "MAX_POOL_2D": "AddMaxPool2D",
    "MEAN": "AddMean",
    "MUL": "AddMul",
    "PAD": "AddPad",
    "PADV2": "AddPadV2",
    "QUANTIZE": "AddQuantize",
    "RELU": "AddRelu",
    "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape",
    "SHAPE": "AddShape",
    "SOFTMAX": "AddSoftmax",
    "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub",
    "TRANSPOSE": "AddTranspose",
    "EXPAND_DIMS": "AddExpandDims",
    "SUM": "AddSum",
    "TANH": "AddTanh",
}

# ONNX ops we know onnx2tf turns into the TFLM builtins above (checked before converting).
ONNX_SUPPORTED = {
    "Add",
    "AveragePool",
    "Clip",
    "Concat",
    "Constant",
    "Conv",
    "Flatten",
    "Gemm",
    "GlobalAveragePool",
    "HardSwish",
    "Identity",
    "MatMul",
    "MaxPool",
    "Mul",
    "Pad",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Sigmoid",
    "Softmax",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
}


def check_onnx_ops(onnx_path: Path) -> list[str]:
    import onnx

    try:
        m = onnx.load(str(onnx_path))
    except Exception as e:
        raise EdgekitError(f"{onnx_path}: not a readable ONNX model ({e})") from None
    ops = sorted({n.op_type for n in m.graph.node})
    bad = [o for o in ops if o not in ONNX_SUPPORTED]
    if bad:
        raise EdgekitError(
            f"{onnx_path}: ONNX ops {bad} have no int8 TFLite Micro builtin "
            f"equivalent; supported: {sorted(ONNX_SUPPORTED)}. Use an architecture "
            f"built from conv/add/relu/mean/linear (--arch mbv2 or mbv2-seed)"
        )
    return ops


def onnx2tf_command(onnx_path: Path, out_dir: Path, calib_npy: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "onnx2tf",
        "-i",
        str(onnx_path),
        "-o",
        str(out_dir),
        "-oiqt",
        "-qt",
        "per-channel",
        "-nuo",
        "-iqd",
        "int8",
        "-oqd",
        "int8",
        "-cind",
        INPUT_NAME,
        str(calib_npy),
        "[[[[0.0]]]]",
        "[[[[1.0]]]]",
        "-qnm",
        "[[[[0.0]]]]",
        "-qns",
        "[[[[1.0]]]]",
    ]


def convert(
    onnx_path: Path,
    calib_nhwc: np.ndarray,
    out_path: Path,
    log_path: Path,
    timeout_s: float = 900.0,
) -> dict[str, Any]:
    """Run onnx2tf; copy its *_full_integer_quant.tflite to out_path; log to log_path."""
    check_onnx_ops(onnx_path)
    if calib_nhwc.ndim != 4 or calib_nhwc.shape[3] != 1 or calib_nhwc.dtype != np.float32:
        raise EdgekitError(
            f"calibration data: expected float32 (N, H, W, 1), got "
            f"{calib_nhwc.dtype} {calib_nhwc.shape}"
        )
    with tempfile.TemporaryDirectory(prefix="edgekit-onnx2tf-") as td:
        tmp = Path(td)
        shutil.copy(onnx_path, tmp / "model.onnx")
        np.save(tmp / "calib.npy", calib_nhwc)
        cmd = onnx2tf_command(tmp / "model.onnx", tmp / "tf", tmp / "calib.npy")
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "1", "CUDA_VISIBLE_DEVICES": ""}
        with open(log_path, "wb") as log:
            log.write(("$ " + " ".join(cmd) + "\n").encode())
            log.flush()
            try:
                proc = subprocess.run(
                    cmd, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout_s
                )
            except subprocess.TimeoutExpired:
                raise EdgekitError(
                    f"onnx2tf did not finish in {timeout_s:.0f} s; see {log_path}"
                ) from None
        text = log_path.read_text(errors="replace")
        if "No module named 'psutil'" in text:
            raise EdgekitError(
                "onnx2tf 1.28.8 needs the Python package psutil, which is not "
                "installed: pip install psutil (see constraints.txt)"
            )
        out = tmp / "tf" / "model_full_integer_quant.tflite"
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join(text.strip().splitlines()[-8:])
            raise EdgekitError(
                f"onnx2tf failed (exit {proc.returncode}) converting {onnx_path}; "
                f"no full-integer model produced. Log: {log_path}\n{tail}"
            )
        shutil.copy(out, out_path)
    return {"command": cmd[1:], "log": str(log_path), "calibration_frames": int(len(calib_nhwc))}


# ----------------------------------------------------------------------- flatbuffer inspection


@dataclass
class TensorQ:
    name: str
    dtype: str
    shape: list[int]
    scales: list[float]
    zero_points: list[int]


@dataclass
class OpInfo:
    op: str
    inputs: list[int]
    outputs: list[int]


@dataclass
class TfliteInfo:
    ops: list[OpInfo]
    tensors: list[TensorQ]
    inputs: list[int]
    outputs: list[int]
    buffers: list[bytes] = field(default_factory=list, repr=False)
    tensor_buffer: list[int] = field(default_factory=list, repr=False)

    @property
    def op_names(self) -> list[str]:
        """Distinct ops in order of first use."""
        seen: list[str] = []
        for o in self.ops:
            if o.op not in seen:
                seen.append(o.op)
        return seen

    def op_counts(self) -> dict[str, int]:
        c: dict[str, int] = {}
        for o in self.ops:
            c[o.op] = c.get(o.op, 0) + 1
        return c

    def tensor_data(self, i: int) -> bytes:
        return self.buffers[self.tensor_buffer[i]]

    @property
    def input(self) -> TensorQ:
        return self.tensors[self.inputs[0]]

    @property
    def output(self) -> TensorQ:
        return self.tensors[self.outputs[0]]


def _schema() -> Any:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    return fb


def inspect_tflite(data: bytes, what: str = "model") -> TfliteInfo:
    """Parse a .tflite flatbuffer (the tflite_micro schema); EdgekitError if it is not one."""
    fb = _schema()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise EdgekitError(f"{what}: not a TFLite flatbuffer (no 'TFL3' identifier at byte 4)")
    try:
        m = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(data, 0))
        op_names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
        type_names = {v: k for k, v in vars(fb.TensorType).items() if not k.startswith("_")}
        if not m.subgraphs or len(m.subgraphs) != 1:
            raise EdgekitError(
                f"{what}: expected exactly one subgraph, found "
                f"{0 if not m.subgraphs else len(m.subgraphs)}"
            )
        sg = m.subgraphs[0]
        tensors = []
        for t in sg.tensors:
            q = t.quantization
            scales = [float(s) for s in q.scale] if q is not None and q.scale is not None else []
            zps = [int(z) for z in q.zeroPoint] if q is not None and q.zeroPoint is not None else []
            name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
            tensors.append(
                TensorQ(
                    name,
                    type_names.get(t.type, str(t.type)),
                    [int(s) for s in (t.shape if t.shape is not None else [])],
                    scales,
                    zps,
                )
            )
        ops = []
        for op in sg.operators or []:
            oc = m.operatorCodes[op.opcodeIndex]
            code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
            name = op_names.get(code, f"OP{code}")
            if name == "CUSTOM":
                cc = oc.customCode.decode() if isinstance(oc.customCode, bytes) else oc.customCode
                name = f"CUSTOM:{cc}"
            ops.append(OpInfo(name, [int(i) for i in op.inputs], [int(i) for i in op.outputs]))
        buffers = [bytes(b.data) if b.data is not None else b"" for b in m.buffers]
        return TfliteInfo(
            ops,
            tensors,
            [int(i) for i in sg.inputs],
            [int(i) for i in sg.outputs],
            buffers,
            [int(t.buffer) for t in sg.tensors],
        )
    except EdgekitError:
        raise
    except Exception as e:
        raise EdgekitError(f"{what}: corrupt TFLite flatbuffer ({type(e).__name__}: {e})") from None


def validate_tflm_int8(
    info: TfliteInfo, what: str = "model", input_shape: tuple[int, ...] | None = (1, 8, 24, 1)
) -> None:
    """Only TFLM builtin ops, int8 input and output, no uint8/float activations; input_shape
    (None: any) is what the HD-sEMG pipeline feeds."""
    bad_ops = [o for o in info.op_names if o not in TFLM_RESOLVER]
    if bad_ops:
        raise EdgekitError(
            f"{what}: ops {bad_ops} are not TFLite Micro builtins (Flex/custom ops "
            f"cannot run on the MCU); allowed: {sorted(TFLM_RESOLVER)}"
        )
    if len(info.inputs) != 1 or len(info.outputs) != 1:
        raise EdgekitError(
            f"{what}: expected 1 input and 1 output, got {len(info.inputs)} / {len(info.outputs)}"
        )
    for role, t in (("input", info.input), ("output", info.output)):
        if t.dtype != "INT8" or len(t.scales) != 1:
            raise EdgekitError(
                f"{what}: {role} tensor {t.name!r} is {t.dtype}"
                f"{'' if t.scales else ' without quantization'}, expected per-tensor "
                f"quantized INT8 (full-integer model)"
            )
    uint8 = [t.name for t in info.tensors if t.dtype == "UINT8"]
    if uint8:
        raise EdgekitError(f"{what}: uint8 tensors {uint8[:4]} (TFLM int8 kernels need int8)")
    act_float = {
        info.tensors[i].name
        for o in info.ops
        for i in o.outputs
        if info.tensors[i].dtype not in ("INT8", "INT32")
    }
    if act_float:
        raise EdgekitError(
            f"{what}: non-int8 activations {sorted(act_float)[:4]}; expected a full-integer model"
        )
    if input_shape is not None and info.input.shape != list(input_shape):
        raise EdgekitError(
            f"{what}: input shape {info.input.shape}, expected {list(input_shape)} (NHWC)"
        )


def resolver_ops(info: TfliteInfo) -> list[str]:
    return [TFLM_RESOLVER[o] for o in info.op_names]
