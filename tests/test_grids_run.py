"""The electrode grid as a property of the run: networks, checkpoints, frames, disturbances, the
GAN and the synthetic data on grids other than 8x24 (and old 8x24 records still load)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgekit import artifacts, checkpoint, runs
from edgekit.data import load_recording
from edgekit.data.disturb import (
    ContactArtifactConfig,
    apply_disturbances,
    ca_region,
    peeled_channels,
)
from edgekit.data.electrodes import grid_for
from edgekit.data.features import extract, to_images
from edgekit.data.grids import csl, otb_3x8x8, resolve, side_by_side
from edgekit.data.synth import SynthConfig, generate
from edgekit.errors import EdgekitError
from edgekit.export import carray
from edgekit.nn import build_model, stride_plan
from edgekit.robust.gan import Critic, GanConfig, Generator, load_gan, sample, save_gan

import rt_models

G135 = grid_for("GR08MM1305")  # 13 x 5, 64 channels, corner (0, 0) empty
G88 = grid_for("GR10MM0808")  # 8 x 8, 64 channels


# ---------------------------------------------------------------------------------- networks


@pytest.mark.parametrize(
    "hw, final",
    [
        ((8, 24), (2, 6)),
        ((8, 8), (2, 2)),
        ((13, 5), (4, 2)),
        ((8, 16), (2, 4)),
        ((16, 16), (2, 2)),
        ((4, 4), (2, 2)),
    ],
)
def test_mbv2_stride_plan_never_collapses_below_2x2(hw, final) -> None:
    strides, out = stride_plan(hw)
    assert out == final and min(out) >= 2
    m = build_model("mbv2", 0.2, 5, hw).eval()
    x = torch.zeros(2, 1, *hw)
    assert m(x).shape == (2, 5)
    assert m.features(x).shape[2:] == final


def test_mbv2_8x24_is_the_network_it_always_was() -> None:
    strides, _ = stride_plan((8, 24))
    assert strides == [1, 1, 2, 2, 1, 1, 1]
    m = build_model("mbv2", 0.2, 8)
    assert sum(p.numel() for p in m.parameters()) == 200_440  # README's table
    # strides hold no weights: the same state dict loads on any grid
    build_model("mbv2", 0.2, 8, (13, 5)).load_state_dict(m.state_dict())


def test_mbv2_seed_refuses_other_grids_clearly() -> None:
    build_model("mbv2-seed", 0.2, 4, (8, 24))
    with pytest.raises(EdgekitError, match=r"8 x 24.*Linear\(3840.*13 x 5.*--arch mbv2"):
        build_model("mbv2-seed", 0.2, 4, (13, 5))


# ------------------------------------------------------------------------ records and frames


def _record(grid, **kw) -> checkpoint.ModelRecord:
    n = grid.n_channels if grid is not None else 192
    hw = grid.shape if grid is not None else (8, 24)
    model = build_model("mbv2", 0.2, 3, hw)
    return checkpoint.ModelRecord(
        arch="mbv2",
        width=0.2,
        num_classes=3,
        label_names=["a", "b", "c"],
        features={"window_ms": 150.0, "hop_ms": 50.0, "kind": "rms"},
        norm_mean=[0.0] * n,
        norm_std=[1.0] * n,
        channel_mask=[True] * n,
        layout=kw.pop("layout", "otb"),
        grid=None if grid is None else grid.to_dict(),
        state_dict=model.state_dict(),
        **kw,
    )


def test_checkpoint_round_trips_the_grid_and_builds_for_it(tmp_path: Path) -> None:
    checkpoint.save(tmp_path / "m.pt", _record(G135))
    rec = checkpoint.load(tmp_path / "m.pt")
    assert rec.geometry() == G135
    assert rec.build()(torch.zeros(1, 1, 13, 5)).shape == (1, 3)


def test_old_checkpoint_without_grid_maps_layout_to_8x24(tmp_path: Path) -> None:
    d = dataclasses.asdict(_record(None, layout="csl"))
    del d["grid"]  # as written before grids were recorded
    torch.save(d, tmp_path / "old.pt")
    rec = checkpoint.load(tmp_path / "old.pt")
    assert rec.geometry() == csl() and rec.grid == csl().to_dict()
    d["layout"] = "otb"
    torch.save(d, tmp_path / "old_otb.pt")
    assert checkpoint.load(tmp_path / "old_otb.pt").geometry() == otb_3x8x8()


def test_checkpoint_with_wrong_channel_count_is_clear() -> None:
    with pytest.raises(EdgekitError, match="grid GR08MM1305 has 64 channels"):
        dataclasses.replace(_record(G135), norm_mean=[0.0] * 192)


def _frames(path: Path, hw: tuple[int, int], grid=None) -> None:
    x = np.zeros((4, 1, *hw), np.float32)
    y = np.arange(4) % 3
    extra = {} if grid is None else {"grid": np.array(json.dumps(grid.to_dict()))}
    runs.save_npz(
        path,
        x_train=x,
        y_train=y,
        x_val=x,
        y_val=y,
        x_test=x,
        y_test=y,
        label_names=np.array(["a", "b", "c"]),
        **extra,
    )


def test_frames_carry_the_grid_and_old_frames_load(tmp_path: Path) -> None:
    _frames(tmp_path / "new.npz", (13, 5), G135)
    assert artifacts.load_frames(tmp_path / "new.npz").grid == G135
    assert artifacts.load_frames(tmp_path / "new.npz", 3, G135).x_train.shape == (4, 1, 13, 5)
    with pytest.raises(EdgekitError, match="field 'grid' is GR08MM1305 13x5.*GR10MM0808 8x8"):
        artifacts.load_frames(tmp_path / "new.npz", 3, G88)
    _frames(tmp_path / "old.npz", (8, 24))  # no grid: the legacy 8 x 24
    assert artifacts.load_frames(tmp_path / "old.npz").grid is None
    with pytest.raises(EdgekitError, match=r"expected \(N, 1, 13, 5\)"):
        artifacts.load_frames(tmp_path / "old.npz", 3, G135)


def test_model_meta_h_describes_the_grid() -> None:
    rec = _record(G135)
    # a real .tflite: the header's calibration section reads the model's head
    model = rt_models.build(rt_models.tanh_spec(), rt_models.cache_dir()).read_bytes()
    text = carray.model_meta_h(
        rec,
        model,
        {"shape": [1, 13, 5, 1], "scale": 0.1, "zero_point": 0},
        {"shape": [1, 3], "scale": 0.1, "zero_point": 0},
        1024,
        ["CONV_2D"],
    )
    assert "#define EK_INPUT_H 13" in text and "#define EK_INPUT_W 5" in text
    assert "// Electrode grid GR08MM1305: 13 x 5 pixels, 64 channels, 0 masked" in text
    assert "#define EK_GRID_CHANNELS 64" in text and "#define EK_GRID_PIXELS {-1, " in text
    masked = carray.grid_defines(csl())
    active = next(ln for ln in masked if ln.startswith("#define EK_GRID_CHANNEL_ACTIVE"))
    assert active.count("0") - active.count("10") == 24  # csl: every 8th channel masked


# ------------------------------------------------------------------------------ disturbances


def test_disturbances_follow_the_grid() -> None:
    # 8 x 24 layouts: unchanged (rows 6-7 of the three 8x8 blocks, the last 36 channel indices)
    assert len(peeled_channels("csl")) == 48
    assert ca_region("otb", ContactArtifactConfig()).tolist() == list(range(156, 192))
    # 13 x 5: the last two rows of the one grid; CA over the last 12 of 64 channels
    gi = G135.index()
    assert sorted(peeled_channels(G135).tolist()) == sorted(gi[11:13].ravel().tolist())
    assert len(ca_region(G135, ContactArtifactConfig())) == 12
    # two 8x8 grids side by side: each grid peels its own last two rows
    g2 = side_by_side([G88, G88])
    assert len(peeled_channels(g2)) == 32 and len(peeled_channels(g2, grids=(1,))) == 16
    x = np.random.default_rng(0).normal(size=(64, 2048)).astype(np.float32)
    out = apply_disturbances(x, 2048.0, G135, "ca,lc", np.random.default_rng(1))
    touched = np.flatnonzero(np.abs(out - x).max(axis=1) > 0)
    assert set(peeled_channels(G135).tolist()) <= set(touched.tolist())
    assert set(touched.tolist()) <= set(peeled_channels(G135).tolist()) | set(
        ca_region(G135, ContactArtifactConfig()).tolist()
    )
    with pytest.raises(EdgekitError, match=r"expected shape \(64, n_samples\)"):
        apply_disturbances(
            np.zeros((192, 100), np.float32), 2048.0, G135, "lc", np.random.default_rng(0)
        )


# ----------------------------------------------------------------------------------- the GAN


@pytest.mark.parametrize("hw", [(13, 5), (8, 8), (8, 24)])
def test_gan_generator_and_critic_follow_the_frame_size(hw, tmp_path: Path) -> None:
    cfg = GanConfig(g_width=8, d_width=8)
    torch.manual_seed(0)
    G, D = Generator(3, cfg, hw), Critic(3, cfg, hw)
    y = torch.tensor([0, 1, 2])
    fake = G(torch.randn(3, cfg.latent_dim), y)
    assert fake.shape == (3, 1, *hw)
    assert D(fake, y).shape == (3,)
    save_gan(tmp_path / "g.pt", G, cfg)
    G2, _ = load_gan(tmp_path / "g.pt", 3)
    assert G2.frame_hw == hw
    assert np.array_equal(sample(G.eval(), [0, 1], seed=4), sample(G2, [0, 1], seed=4))


# ------------------------------------------------------------------------------ synthetic data


def test_synthetic_otb_grid_loads_with_its_geometry(tmp_path: Path) -> None:
    cfg = dataclasses.replace(SynthConfig.tiny(seed=1), grid="GR08MM1305")
    assert cfg.format == "otb" and cfg.digest() != SynthConfig.tiny(seed=1).digest()
    rec = load_recording(generate(tmp_path / "d", cfg), "otb")
    assert rec.grid == G135 and rec.trials[0].signal.shape[0] == 64
    assert len(rec.trials) == 2 * (3 + 3 * 3) and rec.label_names[0] == "idle"
    f = extract(rec)
    im = to_images(f.x, rec.grid)
    assert im.shape[1:] == (1, 13, 5) and np.all(im[:, 0, 0, 0] == 0)  # the empty corner
    # idle and gesture trials differ in level: the sources are under the grid
    rms = {c: f.x[f.y == c].mean() for c in range(4)}
    assert min(rms[c] for c in (1, 2, 3)) > 1.5 * rms[0]


def test_synthetic_grid_bad_code_is_clear() -> None:
    with pytest.raises(EdgekitError, match="unknown OT Bioelettronica electrode code 'GR99'"):
        SynthConfig(grid="GR99")


def test_resolve_accepts_grid_dict_and_layout() -> None:
    assert resolve(G88) is G88
    assert resolve(G88.to_dict()) == G88
    assert resolve("csl") == csl()
    with pytest.raises(EdgekitError, match="unknown layout 'capgmyo'"):
        resolve("capgmyo")
