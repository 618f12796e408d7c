"""The architecture registry: each network registers, in one place, how to build it, how QAT lowers
it to folded int8 units, and what its classifier head is (timm style: register(Arch(...)) next to
the model's definition; every stage looks the name up here instead of branching on it).

The QAT lowering is a plan in plain names, not quantize's modules, so nn/ stays below quantize/:
each block lists its conv (+BN) (+fused activation) units by state-dict key and its residual
shortcut; quantize turns the plan into its fake-quant network, export folds BN along it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import EdgekitError


@dataclass(frozen=True)
class Unit:
    """One conv, the BatchNorm folded into it (None: no BN) and its fused activation."""

    conv: str  # state-dict key of the nn.Conv2d
    bn: str | None  # state-dict key of the nn.BatchNorm2d that follows it
    act: str | None  # "relu" | "relu6" | None


@dataclass(frozen=True)
class Block:
    """Units in sequence; shortcut None (no residual ADD), "identity" (add the block input) or a
    Unit (a 1x1 conv+BN projection of the block input)."""

    name: str
    units: list[Unit]
    shortcut: str | Unit | None = None


@dataclass(frozen=True)
class Head:
    """How the feature map reaches the classifier."""

    pool: str  # "mean": global average (its own int8 tensor); "flatten"
    classifier: str  # state-dict key of the final nn.Linear
    dropout: str | None = None  # key of the nn.Dropout before it (active in QAT fine-tuning)


@dataclass(frozen=True)
class Arch:
    name: str
    build: Callable[[float, int, tuple[int, int]], nn.Module]  # (width, classes, (H, W))
    lowering: Callable[[nn.Module], list[Block]]  # QAT: the model's folded units
    head: Head
    # (width, classes) from a bare state dict's tensor shapes, for `edgekit ingest` (None: the
    # architecture's checkpoints are only read as edgekit checkpoints)
    infer_config: Callable[[dict[str, torch.Tensor]], tuple[float, int]] | None = field(
        default=None
    )


ARCHS: dict[str, Arch] = {}  # name -> Arch, filled by register() as the modules load


def register(arch: Arch) -> Arch:
    if arch.name in ARCHS:
        raise ValueError(f"architecture {arch.name!r} registered twice")
    ARCHS[arch.name] = arch
    return arch


def arch_names() -> list[str]:
    """The registered architecture names, in registration order (the CLI's --arch choices)."""
    return list(ARCHS)


def get_arch(name: str) -> Arch:
    if name not in ARCHS:
        raise EdgekitError(f"--arch: unknown architecture {name!r}; known: {', '.join(ARCHS)}")
    return ARCHS[name]


def conv_bn_pairs(model: nn.Module, arch: str) -> list[tuple[str, str]]:
    """(conv key, BN key) of every conv whose BatchNorm QAT folds into it."""
    pairs = []
    for blk in get_arch(arch).lowering(model):
        units = list(blk.units) + ([blk.shortcut] if isinstance(blk.shortcut, Unit) else [])
        pairs += [(u.conv, u.bn) for u in units if u.bn is not None]
    return pairs
