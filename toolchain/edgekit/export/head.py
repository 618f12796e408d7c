"""The classifier head: the int8 model's last FULLY_CONNECTED as calibration sees it.

What the board needs to calibrate (model_meta.h's head section), the two heads the board solves
(firmware/app/ek_calib_solve.c), mirrored here operation for operation so the host predicts the
board's head and every decision after it bit for bit, the head's bytes as ek-calib-head sends
them, a .tflite with another head written over the old one in place (same length, every other
byte the same), and the penultimate features tflite_micro computes.

out-lda (the board's default): linear discriminant analysis of the model's own int8 outputs z
(minus their zero point): class means m_c, pooled within-class covariance S plus 1e-3 of its mean
variance on the diagonal, a_c = S^-1 m_c by Gauss-Jordan in IEEE double; class c scores
a_c.z - a_c.m_c / 2, quantised to a C x C int8 head (largest |a| = 127) run after the model's.

ncm: the nearest class mean of the penultimate features, in integers: with x = features - zero
point and m_c the mean of class c's, class c scores x.m_c - |m_c|^2 / 2:
    mq[c,j] = round(256 * (sum[c,j] - n_c * (128 + zp)) / n_c)      sum of (feature + 128)
    w[c,j]  = round(127 * mq[c,j] / max|mq|)                          int8, one scale for all
    b[c]    = -round(sum_j w[c,j] * mq[c,j] / 512)
    w_scale = float32(out_scale / in_scale) * 2^-k                    (float32)
    mult, shift = QuantizeMultiplier(double(in_scale) * double(w_scale) / double(out_scale))
a C x F head in place of the model's; every division rounding half away from zero.

Both keep the model's output scale and pick k, the least k >= 0 with the largest own-class score
<= ((127 - out_zp) // 3) * 2^k, so the scores fill a third of the range above the zero point.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import EdgekitError
from ..quantspec import quantize_multiplier
from .tflite import TfliteInfo

MIN_HOPS = 3  # feature vectors per class a head needs (EK_CALIB_MIN_HOPS)
MAX_HOPS = 257  # per class: 257 * 255 sums still fit 16 bits (EK_CALIB_MAX_HOPS)
FC = "FULLY_CONNECTED"


@dataclass(frozen=True)
class HeadInfo:
    """The last op when it is a FULLY_CONNECTED on the previous op's output."""

    op: int  # its index (the features are op - 1's output)
    n_in: int  # features
    n_out: int  # classes
    in_scale: float
    in_zp: int
    out_scale: float
    out_zp: int
    weights: int  # tensor indices
    bias: int
    per_channel: bool  # the weight tensor has one scale per class


def find_head(info: TfliteInfo) -> tuple[HeadInfo | None, str]:
    """(the head, "") or (None, why the model has no head calibration can replace)."""
    if not info.ops or info.ops[-1].op != FC:
        return None, "the last op is not a FULLY_CONNECTED"
    op = info.ops[-1]
    prev = info.ops[-2] if len(info.ops) > 1 else None
    if prev is None or op.inputs[0] != prev.outputs[0] or op.outputs[0] != info.outputs[0]:
        return None, "the FULLY_CONNECTED does not read the previous op's output"
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return None, "the FULLY_CONNECTED has no bias"
    x, w, out = info.tensors[op.inputs[0]], info.tensors[op.inputs[1]], info.tensors[op.outputs[0]]
    if w.dtype != "INT8" or x.dtype != "INT8" or len(w.shape) != 2 or any(w.zero_points):
        return None, "the FULLY_CONNECTED is not int8 with symmetric weights"
    if int(np.prod(x.shape)) != w.shape[1]:
        return None, "the FULLY_CONNECTED runs on more than one feature vector"
    return (
        HeadInfo(
            len(info.ops) - 1,
            int(w.shape[1]),
            int(w.shape[0]),
            float(x.scales[0]),
            int(x.zero_points[0]),
            float(out.scales[0]),
            int(out.zero_points[0]),
            op.inputs[1],
            op.inputs[2],
            len(w.scales) > 1,
        ),
        "",
    )


def calib_bytes(hi: HeadInfo | None) -> int:
    """RAM the board's calibration state takes (ek_calib_t): the head (int8 weights; int32 bias
    and multiplier, int8 shift per class), ncm's 16-bit sums per class and feature, out-lda's
    output sums (int32), products (int64) and solve tableau and means (double), counts, the
    model's own output, a few words."""
    if hi is None:
        return 0
    c, f = hi.n_out, hi.n_in
    return c * max(f, c) + 2 * c * f + 36 * c * c + 12 * c + 64


def meta_lines(hi: HeadInfo | None, why: str, calib_room: bool) -> list[str]:
    """model_meta.h's head section. calib_room: the board has RAM for calibration_bytes (else
    the firmware builds without calibration and its ek-calib commands say so)."""
    head = ["", "// Classifier head: the last FULLY_CONNECTED (on-device calibration, ek_calib.c)"]
    if hi is None:
        return head + [f"// {why}: no on-device calibration", "#define EK_HEAD_FEATURES 0"]
    need = calib_bytes(hi)
    return head + [
        f"#define EK_HEAD_OP {hi.op}",
        f"#define EK_HEAD_FEATURES {hi.n_in}",
        f"#define EK_HEAD_IN_SCALE {_c_float(hi.in_scale)}",
        f"#define EK_HEAD_IN_ZERO_POINT {hi.in_zp}",
        f"#define EK_CALIB_MIN_HOPS {MIN_HOPS}",
        f"#define EK_CALIB_MAX_HOPS {MAX_HOPS}",
        f"#define EK_CALIB_BYTES {need}",
        "// the export's board has room for them (0: build without calibration)",
        f"#define EK_CALIB_RAM_DEFAULT {need if calib_room else 0}",
    ]


def _c_float(v: float) -> str:
    s = repr(float(np.float32(v)))
    return (s if ("e" in s or "." in s) else s + ".0") + "f"


# ------------------------------------------------------------------ the board's integer solve


@dataclass
class IntHead:
    """A head in the int8 model's terms: what ek_calib.c holds in RAM."""

    weights: np.ndarray  # (C, F) int8
    bias: np.ndarray  # (C,) int32
    mult: np.ndarray  # (C,) int32
    shift: np.ndarray  # (C,) int8
    w_scale: np.ndarray  # (C,) float32 weight scales (the board's head: one value for all)
    in_zp: int  # zero point of its input: the features' (ncm), the model's outputs' (out-lda)


def _rdiv(x: np.ndarray, d: np.ndarray | int) -> np.ndarray:
    """round(x / d) half away from zero, d > 0, in int64 (ek_calib.c's rdiv)."""
    x = np.asarray(x, np.int64)
    q = (2 * np.abs(x) + d) // (2 * np.asarray(d, np.int64))
    return np.where(x < 0, -q, q)


def class_sums(feats: np.ndarray, labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, ...]:
    """(sums of feature + 128 per class, hops per class) as the board accumulates them; hops of
    a class beyond MAX_HOPS are dropped, as the board drops them."""
    f = np.asarray(feats, np.int8).astype(np.int64) + 128
    sums = np.zeros((n_classes, f.shape[1]), np.int64)
    n = np.zeros(n_classes, np.int64)
    for i, c in enumerate(np.asarray(labels, np.int64)):
        if n[c] < MAX_HOPS:
            sums[c] += f[i]
            n[c] += 1
    return sums, n


def solve_ncm(
    sums: np.ndarray, n: np.ndarray, hi: HeadInfo, labels: list[str] | None = None
) -> IntHead:
    """The head ek-calib-solve computes for ncm from the same sums, bit for bit."""
    _need(n, hi.n_out, labels)
    a = np.asarray(sums, np.int64) - n[:, None] * (128 + hi.in_zp)
    mq = _rdiv(a * 256, n[:, None])
    mx = int(np.abs(mq).max())
    if mx == 0:
        raise EdgekitError("calibration: every class mean is at the features' zero point")
    w = _rdiv(mq * 127, mx)
    dot = _rdiv((w * mq).sum(axis=1), 512)
    lim = max(1, (127 - hi.out_zp) // 3)
    top, k = int(max(dot.max(), 0)), 0
    while top > (lim << k):
        k += 1
    scale = np.float32(hi.out_scale) / np.float32(hi.in_scale)
    for _ in range(k):
        scale = np.float32(scale * np.float32(0.5))
    real = float(np.float32(hi.in_scale)) * float(scale) / float(np.float32(hi.out_scale))
    qm, sh = quantize_multiplier(real)
    return IntHead(
        w.astype(np.int8),
        (-dot).astype(np.int32),
        np.full(hi.n_out, qm, np.int32),
        np.full(hi.n_out, sh, np.int8),
        np.full(hi.n_out, scale, np.float32),
        hi.in_zp,
    )


def out_stats(outs: np.ndarray, labels: np.ndarray, hi: HeadInfo) -> tuple[np.ndarray, ...]:
    """out-lda's statistics as the board collects them from the model's int8 outputs: per class
    the sum of z = output - zero point, over all hops the sums of z_j z_k, hops per class (hops
    of a class beyond MAX_HOPS dropped)."""
    c = hi.n_out
    zsum = np.zeros((c, c), np.int64)
    zz = np.zeros((c, c), np.int64)
    n = np.zeros(c, np.int64)
    for o, y in zip(np.asarray(outs, np.int64), np.asarray(labels, np.int64), strict=True):
        if n[y] < MAX_HOPS:
            z = o - hi.out_zp
            zsum[y] += z
            zz += np.outer(z, z)
            n[y] += 1
    return zsum, zz, n


def _rnd(x: float) -> int:
    """round half away from zero, as ek_calib_solve.c's rnd (C truncation of x + 0.5)."""
    return int(x + 0.5) if x >= 0.0 else -int(-x + 0.5)


def _lda_tableau(zsum, zz, n, c: int) -> tuple[list[list[float]], list[list[float]]]:
    """ek_calib_solve.c's lda_tableau in Python floats (IEEE double), the same order."""
    total = int(sum(int(v) for v in n))
    mu = [[float(int(zsum[i][j])) / float(int(n[i])) for j in range(c)] for i in range(c)]
    a = [[0.0] * (2 * c) for _ in range(c)]
    for j in range(c):
        for k in range(c):
            s = float(int(zz[j][k]))
            for i in range(c):
                s = s - (float(int(n[i])) * mu[i][j]) * mu[i][k]
            a[j][k] = s / float(total - c)
    tr = 0.0
    for j in range(c):
        tr = tr + a[j][j]
    if not tr > 0.0:
        raise EdgekitError("calibration: the model's outputs do not vary over the calibration")
    eps = tr / float(c) * 1e-3
    for j in range(c):
        a[j][j] = a[j][j] + eps
        for i in range(c):
            a[j][c + i] = mu[i][j]
    return a, mu


def _gauss_jordan(a: list[list[float]], c: int) -> None:
    for p in range(c):
        piv = a[p][p]
        if not piv > 0.0:
            raise EdgekitError("calibration: the model's outputs do not vary over the calibration")
        for col in range(2 * c):
            a[p][col] = a[p][col] / piv
        for r in range(c):
            if r == p:
                continue
            f = a[r][p]
            for col in range(2 * c):
                a[r][col] = a[r][col] - f * a[p][col]


def solve_out_lda(
    zsum: np.ndarray, zz: np.ndarray, n: np.ndarray, hi: HeadInfo, labels: list[str] | None = None
) -> IntHead:
    """The head ek-calib-solve computes for out-lda (ek_calib_solve.c), bit for bit: a C x C
    int8 head on the model's outputs."""
    c = hi.n_out
    _need(n, c, labels)
    a, mu = _lda_tableau(zsum, zz, n, c)
    _gauss_jordan(a, c)
    amax, cst = 0.0, []
    for i in range(c):
        s = 0.0
        for j in range(c):
            v = a[j][c + i]
            if abs(v) > amax:
                amax = abs(v)
            s = s + v * mu[i][j]
        cst.append(-0.5 * s)
    scale = amax / 127.0
    if not scale > 0.0:
        raise EdgekitError("calibration: the discriminants are all zero")
    top = 0.0
    for i in range(c):
        if -cst[i] / scale > top:
            top = -cst[i] / scale
    lim, k = float(max(1, (127 - hi.out_zp) // 3)), 0
    while top > lim:
        lim, k = lim * 2.0, k + 1
    w = np.array([[_rnd(a[j][c + i] / scale) for j in range(c)] for i in range(c)], np.int8)
    return IntHead(
        w,
        np.array([_rnd(v / scale) for v in cst], np.int32),
        np.full(c, 1 << 30, np.int32),
        np.full(c, 1 - k, np.int8),
        np.full(c, np.float32(scale), np.float32),
        hi.out_zp,
    )


def _need(n: np.ndarray, c: int, labels: list[str] | None) -> None:
    for i in range(c):
        if n[i] < MIN_HOPS:
            name = f" ({labels[i]})" if labels and i < len(labels) else ""
            raise EdgekitError(
                f"calibration: class {i}{name} has {int(n[i])} feature vectors, the head needs "
                f"at least {MIN_HOPS} per class"
            )


def run_head(head: IntHead, hi: HeadInfo, feats: np.ndarray) -> np.ndarray:
    """(N, n_in) int8 inputs (features for ncm, the model's outputs for out-lda) -> (N, C) int8
    outputs: TFLM's per-channel FULLY_CONNECTED."""
    import torch

    from ..quantspec import requantize

    x = np.asarray(feats, np.int64) - head.in_zp
    acc = x @ head.weights.astype(np.int64).T + head.bias.astype(np.int64)
    v = requantize(
        torch.from_numpy(acc),
        torch.from_numpy(head.mult.astype(np.int64)),
        torch.from_numpy(head.shift.astype(np.int64)),
    ).numpy()
    return np.clip(np.clip(v, -256, 255) + hi.out_zp, -128, 127).astype(np.int8)


def head_bytes(head: IntHead) -> bytes:
    """ek-calib-head's layout: weights, bias and multipliers (int32 LE), shifts, the weight
    scale (float32 LE; the board's head has one for every class)."""
    return (
        head.weights.astype(np.int8).tobytes()
        + head.bias.astype("<i4").tobytes()
        + head.mult.astype("<i4").tobytes()
        + head.shift.astype(np.int8).tobytes()
        + struct.pack("<f", float(head.w_scale[0]))
    )


def head_crc(head: IntHead) -> str:
    """CRC-32 of head_bytes, 8 hex digits (what ek-calib-solve answers)."""
    return f"{zlib.crc32(head_bytes(head)) & 0xFFFFFFFF:08x}"


def head_from_bytes(data: bytes, hi: HeadInfo, method: str = "ncm") -> IntHead:
    c = hi.n_out
    f = hi.n_in if method == "ncm" else c
    if len(data) != c * f + 9 * c + 4:
        raise EdgekitError(f"ek-calib-head: {len(data)} bytes, expected {c * f + 9 * c + 4}")
    o = c * f
    return IntHead(
        np.frombuffer(data[:o], np.int8).reshape(c, f).copy(),
        np.frombuffer(data[o : o + 4 * c], "<i4").astype(np.int32),
        np.frombuffer(data[o + 4 * c : o + 8 * c], "<i4").astype(np.int32),
        np.frombuffer(data[o + 8 * c : o + 9 * c], np.int8).copy(),
        np.full(c, struct.unpack("<f", data[-4:])[0], np.float32),
        hi.in_zp if method == "ncm" else hi.out_zp,
    )


# ------------------------------------------------------------------ a .tflite with a new head


def _vector(table, slot: int) -> tuple[int, int]:
    """(byte offset, length) of a table's vector field (vtable slot), (0, 0) when absent."""
    o = table._tab.Offset(slot)
    if o == 0:
        return 0, 0
    return table._tab.Vector(o), table._tab.VectorLen(o)


def write_head(data: bytes, hi: HeadInfo, weights: np.ndarray, bias: np.ndarray, w_scales) -> bytes:
    """The .tflite with the head's weights, bias and weight scales (one per class, or one for
    the tensor when the model quantised it per tensor: then all must be equal) overwritten in
    place, and the bias scales set to in_scale * w_scale as TFLite writes them. Same length;
    only those bytes differ."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    c, f = hi.n_out, hi.n_in
    sw = np.broadcast_to(np.asarray(w_scales, np.float32), (c,))
    m = fb.Model.GetRootAsModel(data, 0)
    sg = m.Subgraphs(0)
    out = bytearray(data)

    def put(tensor: int, payload: bytes, what: str) -> None:
        pos, n = _vector(m.Buffers(sg.Tensors(tensor).Buffer()), 4)
        if n != len(payload):
            raise EdgekitError(f"head: the {what} buffer holds {n} bytes, expected {len(payload)}")
        out[pos : pos + n] = payload

    def put_scales(tensor: int, scales: np.ndarray, what: str) -> None:
        pos, n = _vector(sg.Tensors(tensor).Quantization(), 8)
        if n == len(scales):
            out[pos : pos + 4 * n] = scales.astype("<f4").tobytes()
        elif n == 1 and np.all(scales == scales[0]):
            out[pos : pos + 4] = scales[:1].astype("<f4").tobytes()
        else:
            raise EdgekitError(f"head: the {what} has {n} scales, cannot hold {len(scales)}")

    put(hi.weights, np.asarray(weights, np.int8).reshape(c, f).tobytes(), "weights")
    put(hi.bias, np.asarray(bias, np.int32).astype("<i4").tobytes(), "bias")
    put_scales(hi.weights, sw, "weight tensor")
    put_scales(hi.bias, (np.float32(hi.in_scale) * sw).astype(np.float32), "bias tensor")
    return bytes(out)


def int_head(weights: np.ndarray, bias: np.ndarray, w_scales, hi: HeadInfo) -> IntHead:
    """The head with the multipliers TFLM computes from its scales (per class)."""
    sw = np.broadcast_to(np.asarray(w_scales, np.float32), (hi.n_out,))
    qs = [
        quantize_multiplier(
            float(np.float32(hi.in_scale)) * float(s) / float(np.float32(hi.out_scale))
        )
        for s in sw
    ]
    return IntHead(
        np.asarray(weights, np.int8),
        np.asarray(bias, np.int32),
        np.array([q for q, _ in qs], np.int32),
        np.array([e for _, e in qs], np.int8),
        sw.astype(np.float32).copy(),
        hi.in_zp,
    )


def quantize_float_head(w: np.ndarray, b: np.ndarray, hi: HeadInfo, scores: np.ndarray) -> tuple:
    """A float head (W, b) on the dequantized features -> (int8 weights, int32 bias, per-class
    weight scales) in TFLite's per-channel scheme, scaled first by one factor (argmax does not
    change) so that `scores` (the head's float scores on its calibration features) stay in the
    output's int8 range. For methods other than the board's; the board's is solve_ncm."""
    lim = max(1, (127 - hi.out_zp) // 3) * hi.out_scale
    alpha = lim / max(float(np.abs(scores).max()), 1e-12)
    w = np.asarray(w, np.float64) * alpha
    b = np.asarray(b, np.float64) * alpha
    sw = (np.abs(w).max(axis=1) / 127.0).astype(np.float32)
    sw = np.where(sw > 0, sw, np.float32(1e-8)).astype(np.float32)
    if not hi.per_channel:  # one scale for the tensor: the largest
        sw = np.full_like(sw, sw.max())
    wq = np.clip(np.sign(w) * np.floor(np.abs(w) / sw[:, None] + 0.5), -127, 127).astype(np.int8)
    bs = np.float64(np.float32(hi.in_scale)) * sw.astype(np.float64)
    bq = (np.sign(b) * np.floor(np.abs(b) / bs + 0.5)).astype(np.int32)
    return wq, bq, sw


# ------------------------------------------------------------------ features on the host


def penultimate(
    model: bytes, hi: HeadInfo, info: TfliteInfo, x_int8: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """tflite_micro on (N, ...) int8 inputs: the (N, F) int8 features (op hi.op - 1's output)
    and the (N, C) int8 outputs."""
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(
        model,
        arena_size=max(1 << 20, len(model) * 10),
        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors,
    )
    shape = [int(v) for v in it.get_input_details(0)["shape"]]
    t = info.ops[hi.op - 1].outputs[0]
    feats = np.zeros((len(x_int8), hi.n_in), np.int8)
    outs = np.zeros((len(x_int8), hi.n_out), np.int8)
    for i in range(len(x_int8)):
        it.set_input(np.ascontiguousarray(x_int8[i], np.int8).reshape(shape), 0)
        it.invoke()
        feats[i] = np.asarray(it.GetTensor(t, 0)["tensor_data"]).reshape(-1)
        outs[i] = np.asarray(it.get_output(0)).reshape(-1)
    return feats, outs
