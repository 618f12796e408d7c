"""Networks: the architecture registry, the MobileNetV2 family and a per-layer profiler."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import EdgekitError
from .mobilenetv2 import INPUT_SHAPE, describe_plan, infer_seed_config, stride_plan
from .registry import ARCHS, Arch, arch_names, get_arch

__all__ = [
    "ARCHS",
    "INPUT_SHAPE",
    "Arch",
    "arch_names",
    "build_model",
    "describe_plan",
    "get_arch",
    "load_state_dict_checked",
    "infer_seed_config",
    "stride_plan",
]


def build_model(
    arch: str, width: float, num_classes: int, input_hw: tuple[int, int] = INPUT_SHAPE[1:]
) -> nn.Module:
    """A fresh network for (N, 1, H, W) input (the data's electrode grid; default 8 x 24)."""
    spec = get_arch(arch)
    h, w = (int(v) for v in input_hw)
    try:
        return spec.build(width, num_classes, (h, w))
    except ValueError as e:
        raise EdgekitError(f"--width: {e}") from None


def load_state_dict_checked(model: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """load_state_dict, but a mismatch lists missing/unexpected keys and shape mismatches."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(
                f"missing keys ({len(missing)}): {', '.join(missing[:12])}"
                + (" ..." if len(missing) > 12 else "")
            )
        if unexpected:
            parts.append(
                f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:12])}"
                + (" ..." if len(unexpected) > 12 else "")
            )
        if shapes:
            parts.append(f"shape mismatches ({len(shapes)}): " + "; ".join(shapes[:8]))
        raise EdgekitError(f"state dict does not fit {what}: " + " | ".join(parts))
    model.load_state_dict(state)
