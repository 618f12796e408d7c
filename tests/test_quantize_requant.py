"""The simulation's integer requantization is TFLite's MultiplyByQuantizedMultiplier, bit for bit."""

import math

import numpy as np
import torch

from edgekit.quantspec import quantize_multiplier, requantize


def reference_mbqm(x: int, q: int, shift: int) -> int:
    """TFLite's gemmlowp-style fixed point in plain Python integers (the double-rounding form)."""
    left, right = max(shift, 0), max(-shift, 0)
    ab = (x * (1 << left)) * q
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    high = (
        int((ab + nudge) / (1 << 31))
        if abs(ab + nudge) < 2**52
        else (abs(ab + nudge) >> 31) * (1 if ab + nudge >= 0 else -1)
    )
    mask = (1 << right) - 1
    rem, thr = high & mask, (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if rem > thr else 0)


def test_quantize_multiplier_represents_the_scale():
    for real in (0.5, 0.75, 1e-3, 3.14159e-4, 0.999999, 2.5):
        q, shift = quantize_multiplier(real)
        assert (1 << 30) <= q < (1 << 31)
        assert math.isclose(q * 2.0 ** (shift - 31), real, rel_tol=1e-9)
    assert quantize_multiplier(1 - 2.0**-33) == (1 << 30, 1)  # rounds to 2^31: halved, shift + 1
    assert quantize_multiplier(0.0) == (0, 0)


def test_requantize_matches_fixed_point_reference_and_differs_from_single_rounding():
    rng = np.random.default_rng(0)
    # small and int32-wide accumulators, ties of the final shift, both signs
    acc = np.concatenate(
        [
            rng.integers(-200_000, 200_000, size=4000),
            rng.integers(-(2**31) + 1, 2**31 - 1, size=1000),
            np.arange(-4096, 4097, 64),
            [0, 1, -1, 2**31 - 1, -(2**31) + 1],
        ]
    )
    reals = [1.7e-4, 3.3e-3, 0.021, 0.5, 0.999]
    mq = [quantize_multiplier(r) for r in reals]
    got = requantize(
        torch.tensor(acc).view(1, 1, -1).repeat(1, len(reals), 1),
        torch.tensor([a for a, _ in mq]),
        torch.tensor([b for _, b in mq]),
    )
    double_vs_single = 0
    for c, (q, sh) in enumerate(mq):
        ref = [reference_mbqm(int(a), q, sh) for a in acc]
        assert got[0, c].tolist() == ref
        single = np.sign(acc * reals[c]) * np.floor(np.abs(acc * reals[c]) + 0.5)
        double_vs_single += int(np.sum(np.array(ref) != single))
    assert double_vs_single > 0  # the case the emulation exists for does occur
