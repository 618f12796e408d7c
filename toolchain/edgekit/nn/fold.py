"""BatchNorm folding on float networks, along the architecture's registered QAT lowering.

quantize trains the folded int8 weights; the exported float graph (and the float state dict kept
in qat.pt) must compute the same function, so both are derived here from the same plan.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..errors import EdgekitError
from .registry import conv_bn_pairs, get_arch

Folded = dict[str, dict[str, torch.Tensor]]  # float layer key -> {"weight", "bias"} on the int grid


def _set_submodule(root: nn.Module, key: str, mod: nn.Module) -> None:
    parent_key, _, name = key.rpartition(".")
    parent = root.get_submodule(parent_key) if parent_key else root
    setattr(parent, name, mod)


def apply_folded(model: nn.Module, arch: str, folded: Folded) -> nn.Module:
    """The float network with BN removed (Identity) and the folded int8-grid weights loaded."""
    model = copy.deepcopy(model).eval()
    for conv_key, bn_key in conv_bn_pairs(model, arch):
        f = folded.get(conv_key)
        if f is None:
            raise EdgekitError(f"qat checkpoint: extra['folded'] lacks {conv_key!r}")
        conv = model.get_submodule(conv_key)
        conv.weight = nn.Parameter(f["weight"].clone())
        conv.bias = nn.Parameter(f["bias"].clone())
        _set_submodule(model, bn_key, nn.Identity())
    lin_key = get_arch(arch).head.classifier
    lin = model.get_submodule(lin_key)
    lin.weight = nn.Parameter(folded[lin_key]["weight"].clone())
    lin.bias = nn.Parameter(folded[lin_key]["bias"].clone())
    return model


def identity_bn_state(model: nn.Module, arch: str, folded: Folded) -> dict[str, torch.Tensor]:
    """A state dict for the unmodified architecture that computes (up to BN's eps) the folded net:
    conv weight = folded weight, BN = identity scale with the folded bias as beta."""
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    for conv_key, bn_key in conv_bn_pairs(model, arch):
        bn = model.get_submodule(bn_key)
        sd[f"{conv_key}.weight"] = folded[conv_key]["weight"].clone()
        sd[f"{bn_key}.weight"] = torch.ones_like(bn.weight)
        sd[f"{bn_key}.bias"] = folded[conv_key]["bias"].clone()
        sd[f"{bn_key}.running_mean"] = torch.zeros_like(bn.running_mean)
        sd[f"{bn_key}.running_var"] = torch.full_like(bn.running_var, 1.0 - bn.eps)
    lin_key = get_arch(arch).head.classifier
    sd[f"{lin_key}.weight"] = folded[lin_key]["weight"].clone()
    sd[f"{lin_key}.bias"] = folded[lin_key]["bias"].clone()
    return sd
