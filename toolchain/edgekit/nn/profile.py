"""Parameters and multiply-accumulates per layer (what the MCU will actually compute)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .mobilenetv2 import INPUT_SHAPE


@dataclass
class LayerProfile:
    name: str
    op: str
    params: int
    macs: int
    output_shape: list[int]


@dataclass
class ModelProfile:
    layers: list[LayerProfile] = field(default_factory=list)
    total_params: int = 0
    total_macs: int = 0

    def table(self) -> str:
        rows = [f"{'layer':40s} {'op':14s} {'output':>14s} {'params':>10s} {'MACs':>12s}"]
        for layer in self.layers:
            shape = "x".join(str(s) for s in layer.output_shape)
            rows.append(
                f"{layer.name:40s} {layer.op:14s} {shape:>14s} {layer.params:>10,d} {layer.macs:>12,d}"
            )
        rows.append(
            f"{'total':40s} {'':14s} {'':>14s} {self.total_params:>10,d} {self.total_macs:>12,d}"
        )
        return "\n".join(rows)


def profile_model(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> ModelProfile:
    """Run one forward pass and count MACs of every conv and linear layer (BN is folded on device).
    input_shape (C, H, W) defaults to the grid the model was built for (8 x 24 if it does not say)."""
    if input_shape is None:
        input_shape = (1, *getattr(model, "input_hw", INPUT_SHAPE[1:]))
    prof = ModelProfile(total_params=sum(p.numel() for p in model.parameters()))
    hooks = []

    def hook(name: str):
        def fn(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            if isinstance(mod, nn.Conv2d):
                kh, kw = mod.kernel_size
                macs = out.numel() * (mod.in_channels // mod.groups) * kh * kw
                op = "depthwise" if mod.groups == mod.in_channels and mod.groups > 1 else "conv"
            else:
                macs = out.numel() * mod.in_features
                op = "linear"
            params = sum(p.numel() for p in mod.parameters())
            prof.layers.append(LayerProfile(name, op, params, int(macs), list(out.shape[1:])))

        return fn

    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            hooks.append(mod.register_forward_hook(hook(name)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    prof.total_macs = sum(layer.macs for layer in prof.layers)
    return prof
