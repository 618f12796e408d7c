"""Repeatable training: the same seed gives the same weights on this machine, and on the other
x86-64 machines with AVX2 it was checked on, but not on every CPU (docs/models.md, measured on a
Xeon with AVX-512, AVX-VNNI and AMX).

`deterministic(seed)` is the block a training stage runs in:
  - torch's global generator (weight init, dropout) starts from `seed`, inside torch.random.fork_rng
    so the caller's generator state is left as it was;
  - torch.use_deterministic_algorithms(True): an op without a deterministic CPU kernel raises
    instead of silently varying;
  - TRAIN_THREADS intra-op threads: the thread count changes the order of floating-point sums and
    even which convolution kernel torch picks (oneDNN's or its own im2col + MKL gemm), so 1 and 2
    threads give different weights. EDGEKIT_THREADS sets the threads of everything else.
Each setting is restored afterwards. Everything else that draws random numbers in edgekit takes an
explicit seed (np.random.default_rng, torch.Generator: shuffles, splits, augmentation, calibration
picks, the synthetic data).

Across machines the processor's vector instructions pick the kernels: ATen's vectorised ops,
oneDNN's convolutions and MKL's matrix products each have AVX2 and AVX-512 versions that round
differently (capping any one of them from outside changes the trained weights; measured).
`pin_cpu_numerics()` caps all three at AVX2 with the environment variables they read. Each library
reads its variable once, lazily, at its first op (measured: setting them after `import torch`
still works), so edgekit sets them when the package is imported (edgekit/__init__.py), before
torch has run anything: the CLI, a script that imports edgekit, and the sweep's stage processes
all get them, whatever the calling environment said. A CPU without AVX2 + FMA (or not x86-64, or
not Linux, where the CPU flags are not read) is left alone. If torch ran ops before edgekit was
imported, ATen's choice is already made: training warns, and `numerics()` (in the train report)
says so. Another torch, numpy or scipy build can still change the last bits.
"""

from __future__ import annotations

import os
import platform
import warnings
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

# the variable each CPU math library reads to cap its instruction set, and the AVX2 value
AVX2_NUMERICS = {
    "ATEN_CPU_CAPABILITY": "avx2",  # ATen's vectorised CPU kernels (elementwise, BN, reductions)
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN convolutions
    "MKL_CBWR": "AVX2",  # MKL's conditional numerical reproducibility: its AVX2 code path
}
TRAIN_THREADS = 1


def cpu_has_avx2(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """AVX2 and FMA (what ATen's AVX2 kernels need), from the kernel's CPU flags, without torch."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open(cpuinfo) as f:
            flags = next(line.split(":", 1)[1].split() for line in f if line.startswith("flags"))
    except (OSError, StopIteration, IndexError):
        return False
    return "avx2" in flags and "fma" in flags


def pin_cpu_numerics(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Cap ATen, oneDNN and MKL at AVX2 if this CPU has it; whether they were capped."""
    if not cpu_has_avx2():
        return False
    environ.update(AVX2_NUMERICS)
    return True


def numerics() -> dict[str, Any]:
    """What decides this process's training numerics, for the report; `pinned` False says the
    weights may differ from another machine's."""
    import torch

    env = {k: os.environ.get(k) for k in AVX2_NUMERICS}
    aten = torch.backends.cpu.get_cpu_capability()  # fixes ATen's choice if nothing has yet
    return {
        "pinned": env == AVX2_NUMERICS and aten == "AVX2",
        "cpu_capability": aten,
        **env,
        "train_threads": TRAIN_THREADS,
        "torch": torch.__version__,
    }


def warn_unless_pinned() -> None:
    n = numerics()
    if n["pinned"] or not cpu_has_avx2():
        return
    warnings.warn(
        f"training numerics are not pinned to AVX2 (torch uses {n['cpu_capability']} kernels), "
        "so this seed's weights can differ from another machine's: import edgekit before torch "
        "runs anything, or set " + " ".join(f"{k}={v}" for k, v in AVX2_NUMERICS.items()),
        RuntimeWarning,
        stacklevel=2,
    )


@contextmanager
def fixed_threads(n: int = TRAIN_THREADS) -> Iterator[None]:
    """torch's intra-op threads set to `n` for the block (the count picks kernels and sum order)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def deterministic(seed: int) -> Iterator[None]:
    import torch

    warn_unless_pinned()
    before = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]), fixed_threads():
        torch.manual_seed(int(seed))
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(before)
