"""TFLite's int8 quantization arithmetic, defined once for every stage that must agree with it.

quantize simulates it, export checks onnx2tf's model against it, the causal feature chain and the
host reference quantize inputs with it, robust evaluates through it. References: TFLite's
quantization spec (per-channel symmetric int8 weights, per-tensor asymmetric int8 activations,
int32 bias at s_in * s_w), its calibrator's zero-point nudging, QuantizeMultiplier /
MultiplyByQuantizedMultiplier and the reference AffineQuantize.

The tensor functions take torch tensors but use only tensor methods (torch is imported inside
the one function that needs its namespace), so data/ and bench/ use the numpy ones without
loading torch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

CALIB_MAX = 512  # calibration frames from the training split (QAT observers and onnx2tf share them)


def calibration_indices(n_train: int, seed: int, n: int = CALIB_MAX) -> np.ndarray:
    """Which training frames calibrate (QAT observers and onnx2tf use the same ones)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.permutation(n_train)[: min(n, n_train)])


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """std::round semantics (TFLite's quantizer), not torch.round's half-to-even."""
    return x.sign() * (x.abs() + 0.5).floor()


def act_qparams(lo: float, hi: float) -> tuple[float, int]:
    """(scale, zero_point) TFLite derives from a calibrated float range (int8, narrow_range off)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-30:
        return 1.0, 0  # an all-zero tensor: any scale represents it exactly
    scale = (hi - lo) / 255.0
    zp_from_min = -128.0 - lo / scale
    if zp_from_min < -128:
        zp = -128
    elif zp_from_min > 127:
        zp = 127
    else:
        zp = int(np.sign(zp_from_min) * np.floor(abs(zp_from_min) + 0.5))
    return float(np.float32(scale)), zp


def weight_scales(w: torch.Tensor) -> torch.Tensor:
    """Per-output-channel symmetric scales max|w|/127 (dim 0 is the output channel)."""
    m = w.detach().abs().reshape(w.shape[0], -1).amax(1)
    return (m / 127.0).where(m > 0, m.new_ones(()))


def integer_params(
    w: torch.Tensor, b: torch.Tensor, s_in: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """int8 weights, int32 bias and per-channel weight scales, in double as TFLite rounds them
    (half away from zero). Inference and the saved folded tensors both use this, so a network
    rebuilt from qat.pt computes exactly what the in-memory one did."""
    sw = weight_scales(w).double()
    view = (-1,) + (1,) * (w.dim() - 1)
    w_int = round_half_away(w.detach().double() / sw.view(view)).clamp(-127, 127)
    b_int = round_half_away(b.detach().double() / (sw * s_in))
    return w_int, b_int, sw


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real = q * 2^(shift - 31) with q a 31-bit integer."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = round(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    return int(q_fixed), int(shift)


def requantize(acc: torch.Tensor, multiplier: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """TFLite's MultiplyByQuantizedMultiplier on int64 accumulators, per output channel (dim 1):
    a rounding doubling high multiply, then a rounding right shift. The two roundings differ from
    rounding the exact product in about 0.1% of values; emulating them keeps the simulation's ±1
    steps from compounding through the network."""
    import torch

    shape = (1, -1) + (1,) * (acc.dim() - 2)
    m, sh = multiplier.view(shape), shift.view(shape)
    x = acc * (1 << sh.clamp(min=0))
    right = (-sh).clamp(min=0)
    ab = x * m
    nudge = torch.where(ab >= 0, torch.full_like(ab, 1 << 30), torch.full_like(ab, 1 - (1 << 30)))
    high = torch.div(ab + nudge, 1 << 31, rounding_mode="trunc")
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (high < 0).long()
    return (high >> right) + ((high & mask) > threshold).long()


def quantize_input(x_nchw: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """(N, 1, H, W) float -> (N, H, W, 1) int8 exactly as the int8 model's input expects
    (TFLite's reference AffineQuantize: clamp(std::round(x / scale) + zero_point, -128, 127),
    x / scale in float32, rounding half away from zero, not numpy's half-to-even)."""
    x = np.ascontiguousarray(np.transpose(x_nchw.astype(np.float32), (0, 2, 3, 1)))
    v = x / np.float32(scale)  # float32 division, as in C++
    r = np.sign(v) * np.floor(np.abs(v).astype(np.float64) + 0.5)  # std::round, exact for float32
    return np.clip(r + zero_point, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.float32) - zero_point) * np.float32(scale)
