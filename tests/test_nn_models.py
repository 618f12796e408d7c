"""The MobileNetV2 family: shapes, width rounding, the seed network's exact size, the profiler."""

import pytest
import torch

from edgekit.errors import EdgekitError
from edgekit.nn import build_model, infer_seed_config, load_state_dict_checked
from edgekit.nn.mobilenetv2 import make_divisible
from edgekit.nn.profile import profile_model


def test_seed_network_has_exactly_808504_parameters_at_width_0_2():
    model = build_model("mbv2-seed", 0.2, 8)
    assert sum(p.numel() for p in model.parameters()) == 808_504


def test_seed_state_dict_keys_follow_the_seed_layout():
    keys = set(build_model("mbv2-seed", 0.2, 8).state_dict())
    for k in (
        "conv1.weight",
        "bn1.running_mean",
        "layers.0.conv1.weight",
        "layers.0.bn3.bias",
        "layers.0.shortcut.0.weight",
        "layers.0.shortcut.1.running_var",
        "conv2.weight",
        "bn2.weight",
        "linear.weight",
        "linear.bias",
    ):
        assert k in keys, k
    assert tuple(build_model("mbv2-seed", 0.2, 8).state_dict()["linear.weight"].shape) == (8, 3840)


@pytest.mark.parametrize(
    "arch,width",
    [
        ("mbv2", 0.1),
        ("mbv2", 0.2),
        ("mbv2", 0.5),
        ("mbv2", 1.0),
        ("mbv2", 1.5),
        ("mbv2-seed", 0.2),
        ("mbv2-seed", 1.0),
    ],
)
def test_forward_shape_for_8x24_input(arch, width):
    model = build_model(arch, width, 5).eval()
    assert model(torch.randn(3, 1, 8, 24)).shape == (3, 5)


def test_width_multiplier_rounds_channels_to_multiples_of_8():
    model = build_model("mbv2", 0.35, 8)
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1:
            assert m.out_channels % 8 == 0
    assert make_divisible(32 * 0.2) == 8 and make_divisible(320 * 0.2) == 64


def test_wider_models_cost_more():
    p = [profile_model(build_model("mbv2", w, 8)) for w in (0.2, 0.5, 1.0)]
    assert p[0].total_macs < p[1].total_macs < p[2].total_macs
    assert p[0].total_params < p[1].total_params < p[2].total_params


def test_profile_counts_conv_macs():
    prof = profile_model(build_model("mbv2-seed", 0.2, 8))
    first = prof.layers[0]
    assert first.name == "conv1" and first.output_shape == [32, 8, 24]
    assert first.macs == 32 * 8 * 24 * 9  # 1 input channel, 3x3 kernel
    assert prof.layers[-1].op == "linear" and prof.layers[-1].macs == 3840 * 8


@pytest.mark.parametrize("width", [0.0, -0.5, 1.6])
def test_bad_width_is_a_clear_error(width):
    with pytest.raises(EdgekitError, match="width"):
        build_model("mbv2", width, 8)


def test_unknown_arch_lists_known_ones():
    with pytest.raises(EdgekitError, match="mbv2-seed"):
        build_model("resnet", 0.2, 8)


def test_seed_config_inferred_from_tensor_shapes():
    for w in (0.2, 0.5, 1.0):
        sd = build_model("mbv2-seed", w, 6).state_dict()
        assert infer_seed_config(sd) == (w, 6)


def test_mismatched_state_dict_lists_keys_and_shapes():
    model = build_model("mbv2-seed", 0.2, 8)
    sd = build_model("mbv2-seed", 0.5, 8).state_dict()
    sd.pop("conv1.weight")
    sd["extra.weight"] = torch.zeros(1)
    with pytest.raises(EdgekitError) as e:
        load_state_dict_checked(model, sd, "test")
    msg = str(e.value)
    assert "missing keys" in msg and "conv1.weight" in msg
    assert "unexpected keys" in msg and "extra.weight" in msg
    assert "shape mismatches" in msg and "layers.1.conv1.weight" in msg
