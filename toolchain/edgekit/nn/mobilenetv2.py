"""The MobileNetV2 family for HD-sEMG images (1 channel, H x W = the electrode grid).

`mbv2`      standard channel width multiplier (channels rounded to multiples of 8), ReLU6, global
            average pooling, for any grid. The stride plan is chosen from the input size so the
            map never collapses below 2 pixels along a side that has them (see stride_plan): the
            stem stays at stride 1, and the stages where ImageNet's MobileNetV2 downsamples after
            its first two (3rd, 4th, 6th) take stride 2 in turn only while each side stays >= 2
            afterwards (a 3x3 / pad 1 / stride 2 conv maps n to ceil(n / 2)). 8 x 24 -> 2 x 6 (two
            stride-2 stages, the network edgekit always had), 8 x 8 -> 2 x 2, 13 x 5 -> 4 x 2,
            8 x 16 -> 2 x 4, 16 x 16 -> 2 x 2 (three), 4 x 4 -> 2 x 2. A side of 1 (an armband's
            1 x 8) does not stop it: stride 2 maps 1 to 1, the kernel's centre row on the image
            row as at stride 1, so 1 x 8 -> 1 x 2 and 1 x 16 -> 1 x 2 (stride 2 on both sides:
            TFLite's depthwise conv has no stride along one side only, which onnx2tf would turn
            into a grouped conv). A side of 2 would collapse to 1, so 2 x 4 keeps 2 x 4.
            describe_plan() says which for a given grid. Strides hold no weights: the parameters
            depend only on width and classes.
`mbv2-seed` the seed project's CIFAR-style network, reproduced layer for layer (state-dict keys
            included) so its checkpoints load: `width` scales only the expansion factor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import EdgekitError
from .registry import Arch, Block, Head, Unit, register

INPUT_SHAPE = (1, 8, 24)  # C, H, W: the default grid (CSL-HDEMG, three 8x8 OTB grids)
SEED_INPUT_HW = (8, 24)  # the only input the seed network's Linear(3840, ...) accepts
MIN_MAP = 2  # mbv2 never downsamples a side below this


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round channels to a multiple of `divisor`, never down by more than 10% (as in MobileNetV2)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNAct(nn.Sequential):
    """conv -> BN -> ReLU6 (or no activation): the unit QAT folds into one int8 conv."""

    def __init__(
        self, cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1, act: bool = True
    ):
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act:
            layers.append(nn.ReLU6(inplace=False))
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNAct(cin, hidden, 1))
        layers += [
            ConvBNAct(hidden, hidden, 3, stride, groups=hidden),
            ConvBNAct(hidden, cout, 1, act=False),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_res else out


# (expansion t, channels c, repeats n); the first stride of each stage comes from stride_plan.
MBV2_STAGES = [(1, 16, 1), (6, 24, 2), (6, 32, 3), (6, 64, 4), (6, 96, 3), (6, 160, 3), (6, 320, 1)]
STRIDE_CANDIDATES = (2, 3, 5)  # stage indices that may downsample, in order


def stride_plan(input_hw: tuple[int, int]) -> tuple[list[int], tuple[int, int]]:
    """(first stride of each MBV2_STAGES stage, final map size) for an H x W input: the
    candidate stages take stride 2 while every side stays >= MIN_MAP or is 1 (which stays 1)."""
    h, w = (int(v) for v in input_hw)
    if h < 1 or w < 1:
        raise ValueError(f"mbv2: input size must be at least 1 x 1, got {h} x {w}")
    strides = [1] * len(MBV2_STAGES)
    for i in STRIDE_CANDIDATES:
        nh, nw = -(-h // 2), -(-w // 2)
        if (nh, nw) == (h, w) or any(n < MIN_MAP for n, o in ((nh, h), (nw, w)) if o > 1):
            break
        strides[i], h, w = 2, nh, nw
    return strides, (h, w)


def describe_plan(input_hw: tuple[int, int]) -> str:
    """One line saying how mbv2 downsamples this grid (train's and profile's reports)."""
    strides, (fh, fw) = stride_plan(input_hw)
    h, w = (int(v) for v in input_hw)
    stages = [str(i + 1) for i, s in enumerate(strides) if s != 1]
    if not stages:
        why = "a side would drop below 2" if max(h, w) > 1 else "a single pixel"
        return f"{h} x {w} input, no downsampling ({why})"
    one = " (a side of 1 stays 1 under stride 2)" if min(h, w) == 1 else ""
    return f"{h} x {w} input -> {fh} x {fw} map: stride 2 at stage {', '.join(stages)}{one}"


class MobileNetV2(nn.Module):
    def __init__(
        self,
        width: float = 1.0,
        num_classes: int = 8,
        in_ch: int = 1,
        dropout: float = 0.2,
        input_hw: tuple[int, int] = INPUT_SHAPE[1:],
    ):
        super().__init__()
        check_width(width, "mbv2")
        self.input_hw = tuple(int(v) for v in input_hw)
        strides, self.map_hw = stride_plan(self.input_hw)
        self.plan = describe_plan(self.input_hw)
        cin = make_divisible(32 * width)
        last = make_divisible(1280 * max(1.0, width))
        feats: list[nn.Module] = [ConvBNAct(in_ch, cin, 3, stride=1)]
        for (t, c, n), s in zip(MBV2_STAGES, strides, strict=True):
            cout = make_divisible(c * width)
            for i in range(n):
                feats.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        feats.append(ConvBNAct(cin, last, 1))
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = x.mean(dim=(2, 3))
        return self.classifier(x)


# ------------------------------------------------------------------------- seed network


SEED_STAGES = [
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


def seed_expansion(t: int, width: float) -> int:
    return t if t == 1 else int(t * width)


class SeedBlock(nn.Module):
    """expand + depthwise + pointwise; 1x1 conv+BN shortcut on stride-1 blocks that change width."""

    def __init__(self, cin: int, cout: int, expansion: int, stride: int):
        super().__init__()
        self.stride = stride
        planes = expansion * cin
        self.conv1 = nn.Conv2d(cin, planes, 1, 1, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, groups=planes, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, 1, 0, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride == 1 and cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out + self.shortcut(x) if self.stride == 1 else out


class SeedMobileNetV2(nn.Module):
    def __init__(self, width: float = 1.0, num_classes: int = 8, in_ch: int = 1):
        super().__init__()
        check_width(width, "mbv2-seed")
        if int(6 * width) < 1:
            raise ValueError(
                f"mbv2-seed: width {width:g} gives expansion int(6*width) = 0; "
                "the seed network needs width >= 1/6 (e.g. 0.2)"
            )
        self.width = width
        self.conv1 = nn.Conv2d(in_ch, 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        blocks: list[nn.Module] = []
        cin = 32
        for t, c, n, s in SEED_STAGES:
            for stride in [s] + [1] * (n - 1):
                blocks.append(SeedBlock(cin, c, seed_expansion(t, width), stride))
                cin = c
        self.layers = nn.Sequential(*blocks)
        self.conv2 = nn.Conv2d(320, 1280, 1, 1, 0, bias=False)
        self.bn2 = nn.BatchNorm2d(1280)
        self.linear = nn.Linear(1280 * 1 * 3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = F.relu(self.bn2(self.conv2(out)))
        return self.linear(out.flatten(1))


def infer_seed_config(state_dict: dict[str, torch.Tensor]) -> tuple[float, int]:
    """(width, num_classes) of a seed checkpoint from its tensor shapes.

    Only the expansion e = int(6*width) is stored in the shapes; we report the smallest multiple
    of 0.1 that gives it (e=1 -> 0.2, e=3 -> 0.5, e=6 -> 1.0), the widths the seed used.
    """
    w = state_dict.get("layers.1.conv1.weight")
    lin = state_dict.get("linear.weight")
    if w is None or lin is None:
        raise ValueError("not a mbv2-seed state dict: no 'layers.1.conv1.weight' / 'linear.weight'")
    expansion = w.shape[0] // w.shape[1]
    width = next(k / 10 for k in range(1, 100) if int(6 * k / 10) == expansion)
    return width, int(lin.shape[0])


def check_width(width: float, arch: str) -> None:
    if not (0 < width <= 1.5):
        raise ValueError(f"{arch}: width multiplier must be in (0, 1.5], got {width:g}")


# ------------------------------------------------------------------------- registration


def _build_mbv2(width: float, num_classes: int, input_hw: tuple[int, int]) -> nn.Module:
    return MobileNetV2(width=width, num_classes=num_classes, input_hw=input_hw)


def _lower_mbv2(model: nn.Module) -> list[Block]:
    """Every ConvBNAct is one unit (ReLU6 fused when it has one); an InvertedResidual is a block,
    with the identity ADD when it uses the residual."""

    def cba(seq: nn.Sequential, key: str) -> Unit:
        return Unit(f"{key}.0", f"{key}.1", "relu6" if len(seq) > 2 else None)

    blocks = []
    for i, f in enumerate(model.features):
        key = f"features.{i}"
        if isinstance(f, InvertedResidual):
            blocks.append(
                Block(
                    key,
                    [cba(s, f"{key}.conv.{j}") for j, s in enumerate(f.conv)],
                    "identity" if f.use_res else None,
                )
            )
        else:
            blocks.append(Block(key, [cba(f, key)]))
    return blocks


def _build_seed(width: float, num_classes: int, input_hw: tuple[int, int]) -> nn.Module:
    h, w = input_hw
    if (h, w) != SEED_INPUT_HW:
        raise EdgekitError(
            f"--arch mbv2-seed: the seed network only takes an 8 x 24 image (its "
            f"Linear(3840, classes) reads the flattened 1280 x 1 x 3 map that 8 x 24 "
            f"gives); this data's grid is {h} x {w}. Use --arch mbv2, which adapts "
            f"its strides to the grid"
        )
    return SeedMobileNetV2(width=width, num_classes=num_classes)


def _lower_seed(model: nn.Module) -> list[Block]:
    """conv/bn attributes with functional ReLU; stride-1 blocks add the identity or a 1x1
    conv+BN shortcut."""
    blocks = [Block("stem", [Unit("conv1", "bn1", "relu")])]
    for i, b in enumerate(model.layers):
        k = f"layers.{i}"
        units = [
            Unit(f"{k}.conv1", f"{k}.bn1", "relu"),
            Unit(f"{k}.conv2", f"{k}.bn2", "relu"),
            Unit(f"{k}.conv3", f"{k}.bn3", None),
        ]
        shortcut: str | Unit | None = None
        if b.stride == 1:
            shortcut = (
                Unit(f"{k}.shortcut.0", f"{k}.shortcut.1", None) if len(b.shortcut) else "identity"
            )
        blocks.append(Block(k, units, shortcut))
    blocks.append(Block("head", [Unit("conv2", "bn2", "relu")]))
    return blocks


register(
    Arch(
        "mbv2",
        _build_mbv2,
        _lower_mbv2,
        Head(pool="mean", classifier="classifier.1", dropout="classifier.0"),
    )
)
register(
    Arch(
        "mbv2-seed",
        _build_seed,
        _lower_seed,
        Head(pool="flatten", classifier="linear"),
        infer_config=infer_seed_config,
    )
)
