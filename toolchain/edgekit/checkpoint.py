"""The float / QAT checkpoint record: everything a later stage needs, nothing it must recompute.

A checkpoint is a torch.save()d dict:
    format        "edgekit-float/1" or "edgekit-qat/1"
    arch, width   e.g. "mbv2", 0.2
    num_classes, label_names
    features      FeatureConfig as a dict (window_ms, hop_ms, kind, band_hz, ...)
    norm_mean, norm_std   per-channel normalisation (one float per channel), fitted on the train split
    channel_mask  one bool per channel, False for channels that carry no signal (zeroed in the image)
    layout        the data format's name ("csl", "otb", ...)
    grid          the electrode grid (data/grids.Grid.to_dict()): image size, the channel at each
                  pixel, masked channels, blocks. Checkpoints written before grids were recorded
                  lack it: their `layout` ("csl" / "otb") then names the fixed 8 x 24 geometry.
    state_dict    the network's weights
    source        where the model came from (training data, an ingested file, ...)
    extra         stage-specific data (e.g. QAT observer ranges)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import runs
from .data.grids import LEGACY_LAYOUTS, Grid, resolve
from .errors import EdgekitError

FLOAT_FORMAT = "edgekit-float/1"
QAT_FORMAT = "edgekit-qat/1"


@dataclass
class ModelRecord:
    arch: str
    width: float
    num_classes: int
    label_names: list[str]
    features: dict[str, Any]
    norm_mean: list[float]
    norm_std: list[float]
    channel_mask: list[bool]
    layout: str
    state_dict: dict[str, torch.Tensor]
    source: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    format: str = FLOAT_FORMAT
    grid: dict[str, Any] | None = None  # None: the legacy geometry of `layout`

    def __post_init__(self) -> None:
        if self.grid is None and self.layout not in LEGACY_LAYOUTS:
            return  # a model from outside (bench --tflite): no electrode grid to speak of
        g = self.geometry()
        self.grid = g.to_dict()
        if (
            len(self.norm_mean) != g.n_channels
            or len(self.norm_std) != g.n_channels
            or len(self.channel_mask) != g.n_channels
        ):
            raise EdgekitError(
                f"checkpoint: norm_mean/norm_std/channel_mask have "
                f"{len(self.norm_mean)}/{len(self.norm_std)}/{len(self.channel_mask)} "
                f"values, grid {g.name} has {g.n_channels} channels"
            )

    def geometry(self) -> Grid:
        """The electrode grid the model's input image is laid out on."""
        return resolve(self.grid if self.grid is not None else self.layout, "checkpoint grid")

    def build(self) -> torch.nn.Module:
        """The network with these weights loaded, in eval mode."""
        from .nn import build_model, load_state_dict_checked

        model = build_model(self.arch, self.width, self.num_classes, self.geometry().shape)
        load_state_dict_checked(model, self.state_dict, what=f"{self.arch} w{self.width:g}")
        return model.eval()

    def meta(self) -> dict[str, Any]:
        """Everything but the weights (for reports)."""
        d = asdict(self)
        d.pop("state_dict")
        return d


_REQUIRED = (
    "arch",
    "width",
    "num_classes",
    "label_names",
    "features",
    "norm_mean",
    "norm_std",
    "channel_mask",
    "layout",
    "state_dict",
)


def save(path: Path, rec: ModelRecord) -> None:
    d = asdict(rec)
    d["state_dict"] = {k: v.detach().cpu() for k, v in rec.state_dict.items()}
    with runs.atomic_path(path) as tmp:
        torch.save(d, tmp)


def load(path: Path, expect_format: str | None = None) -> ModelRecord:
    path = Path(path)
    if not path.exists():
        raise EdgekitError(f"{path}: checkpoint not found")
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise EdgekitError(f"{path}: not a readable PyTorch checkpoint ({e})") from None
    if not isinstance(d, dict) or "format" not in d:
        raise EdgekitError(f"{path}: not an edgekit checkpoint (no 'format' field)")
    if expect_format and d["format"] != expect_format:
        raise EdgekitError(f"{path}: field 'format' is {d['format']!r}, expected {expect_format!r}")
    missing = [k for k in _REQUIRED if k not in d]
    if missing:
        raise EdgekitError(f"{path}: checkpoint lacks fields {missing}")
    known = set(ModelRecord.__dataclass_fields__)
    return ModelRecord(**{k: v for k, v in d.items() if k in known})
