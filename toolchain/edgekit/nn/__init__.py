"""Networks: the MobileNetV2 family and a per-layer profiler."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import EdgekitError
from .mobilenetv2 import (INPUT_SHAPE, SEED_INPUT_HW, MobileNetV2, SeedMobileNetV2, infer_seed_config,
                          stride_plan)

ARCHS = {"mbv2": MobileNetV2, "mbv2-seed": SeedMobileNetV2}


def arch_names() -> list[str]:
    """The architectures build_model knows (what --arch accepts)."""
    return sorted(ARCHS)

__all__ = ["ARCHS", "INPUT_SHAPE", "arch_names", "build_model", "load_state_dict_checked", "infer_seed_config",
           "stride_plan"]


def build_model(arch: str, width: float, num_classes: int,
                input_hw: tuple[int, int] = INPUT_SHAPE[1:]) -> nn.Module:
    """A fresh network for (N, 1, H, W) input (the data's electrode grid; default 8 x 24)."""
    if arch not in ARCHS:
        raise EdgekitError(f"--arch: unknown architecture {arch!r}; known: {', '.join(ARCHS)}")
    h, w = (int(v) for v in input_hw)
    if arch == "mbv2-seed" and (h, w) != SEED_INPUT_HW:
        raise EdgekitError(f"--arch mbv2-seed: the seed network only takes an 8 x 24 image (its "
                           f"Linear(3840, classes) reads the flattened 1280 x 1 x 3 map that 8 x 24 "
                           f"gives); this data's grid is {h} x {w}. Use --arch mbv2, which adapts "
                           f"its strides to the grid")
    try:
        if arch == "mbv2":
            return MobileNetV2(width=width, num_classes=num_classes, input_hw=(h, w))
        return ARCHS[arch](width=width, num_classes=num_classes)
    except ValueError as e:
        raise EdgekitError(f"--width: {e}") from None


def load_state_dict_checked(model: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """load_state_dict, but a mismatch lists missing/unexpected keys and shape mismatches."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {', '.join(missing[:12])}"
                         + (" ..." if len(missing) > 12 else ""))
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:12])}"
                         + (" ..." if len(unexpected) > 12 else ""))
        if shapes:
            parts.append(f"shape mismatches ({len(shapes)}): " + "; ".join(shapes[:8]))
        raise EdgekitError(f"state dict does not fit {what}: " + " | ".join(parts))
    model.load_state_dict(state)
