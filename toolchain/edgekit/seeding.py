"""Reproducible training: the same seed on the same machine gives the same numbers.

`deterministic(seed)` is the block a training stage runs in:
  - torch's global generator (weight init, dropout) starts from `seed`, inside torch.random.fork_rng
    so the caller's generator state is left as it was;
  - torch.use_deterministic_algorithms(True): an op without a deterministic CPU kernel raises
    instead of silently varying (restored to the previous setting afterwards).
Everything else that draws random numbers in edgekit takes an explicit seed (np.random.default_rng,
torch.Generator: shuffles, splits, augmentation, calibration picks, the synthetic data).

What can still differ: the number of intra-op threads changes the order of floating-point
reductions in convolutions and their gradients, so 1 thread and 2 threads give different (each
repeatable) weights; the CLI uses 1 thread unless EDGEKIT_THREADS says otherwise. Another CPU
(instruction set: AVX2 vs AVX-512 kernels in oneDNN/MKL), another torch or numpy/scipy build can
change the last bits of a result, and a few epochs amplify those bits into different weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def deterministic(seed: int) -> Iterator[None]:
    before = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(before)
