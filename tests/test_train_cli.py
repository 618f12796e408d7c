"""edgekit train / ingest / profile / boards through the real CLI on data written in the CSL layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgekit import checkpoint
from edgekit.cli import main
from edgekit.errors import EdgekitError
from edgekit.nn import build_model
from edgekit.train import TrainOptions

REPO = Path(__file__).resolve().parents[1]


def run_cli(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    rec = json.loads(out) if code == 0 and "--json" in argv else None
    return code, rec, err


def test_train_writes_checkpoint_frames_and_report(tmp_path, capsys, small_csl):
    run = tmp_path / "run"
    code, rec, _ = run_cli(
        capsys,
        "train",
        "--data",
        str(small_csl),
        "--epochs",
        "3",
        "--run",
        str(run),
        "--json",
        "--no-progress",
    )
    assert code == 0
    assert rec["split"]["kind"] == "session" and rec["split"]["frames"]["test"] > 0
    for key in ("cnn", "lda"):
        assert 0.0 <= rec[key]["accuracy"] <= 1.0 and 0.0 <= rec[key]["macro_f1"] <= 1.0
    cm = np.array(rec["cnn"]["confusion"])
    assert cm.shape == (4, 4) and cm.sum() == rec["split"]["frames"]["test"]
    for name in ("float.pt", "frames.npz", "train.json", "confusion.png"):
        assert (run / name).is_file(), name
    ck = checkpoint.load(run / "float.pt", checkpoint.FLOAT_FORMAT)
    assert ck.arch == "mbv2" and ck.width == 0.2 and ck.num_classes == 4
    assert len(ck.norm_mean) == 192 and len(ck.norm_std) == 192
    assert sum(ck.channel_mask) == 192 - 24  # the bipolar gap channels are masked
    assert ck.features["window_ms"] == 150.0
    # the stored model reproduces the reported accuracy on the stored test frames
    z = np.load(run / "frames.npz")
    with torch.no_grad():
        pred = ck.build()(torch.from_numpy(z["x_test"])).argmax(1).numpy()
    assert np.isclose((pred == z["y_test"]).mean(), rec["cnn"]["accuracy"])
    assert not set(z["trial_test"]) & set(z["trial_train"])  # no trial in two splits


def test_train_learns_the_small_dataset(tmp_path, capsys, small_csl):
    # 240 causal training frames: a small batch gives the optimiser enough steps in 25 epochs
    code, rec, _ = run_cli(
        capsys,
        "train",
        "--data",
        str(small_csl),
        "--epochs",
        "25",
        "--batch-size",
        "32",
        "--split",
        "trial",
        "--run",
        str(tmp_path / "r"),
        "--json",
        "--no-progress",
    )
    assert code == 0
    assert rec["cnn"]["accuracy"] > 0.5 and rec["lda"]["accuracy"] > 0.5  # chance is 0.25


def test_kfold_recreates_model_per_fold(tmp_path, capsys, tiny_csl):
    code, rec, _ = run_cli(
        capsys,
        "train",
        "--data",
        str(tiny_csl),
        "--epochs",
        "1",
        "--split",
        "kfold",
        "--folds",
        "3",
        "--run",
        str(tmp_path / "k"),
        "--json",
        "--no-progress",
    )
    assert code == 0
    assert [f["fold"] for f in rec["kfold"]["folds"]] == [1, 2, 3]


def test_seed_arch_trains(tmp_path, capsys, tiny_csl):
    code, rec, _ = run_cli(
        capsys,
        "train",
        "--arch",
        "mbv2-seed",
        "--data",
        str(tiny_csl),
        "--epochs",
        "1",
        "--run",
        str(tmp_path / "s"),
        "--json",
        "--no-progress",
    )
    assert code == 0 and rec["params"] == sum(
        p.numel() for p in build_model("mbv2-seed", 0.2, 4).parameters()
    )


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--data", "/nonexistent/dataset"], "/nonexistent/dataset"),
        (["--format", "edf"], "csl"),
        (["--width", "0"], "--width"),
        (["--width", "-1"], "--width"),
        (["--split", "frame"], "session"),
    ],
)
def test_bad_train_input_is_a_clear_error_and_leaves_no_run(
    tmp_path, capsys, tiny_csl, argv, needle
):
    run = tmp_path / "bad"
    args = ["train", "--data", str(tiny_csl), "--epochs", "1", "--run", str(run), "--no-progress"]
    code, _, err = run_cli(capsys, *(args + argv))
    assert code == 2
    assert "error" in err and needle in err
    assert not run.exists()


def test_recipe_sets_defaults_and_flags_override(tmp_path):
    opts = TrainOptions.from_recipe(REPO / "models" / "mbv2-seed-w0.2.toml", epochs=3)
    assert opts.arch == "mbv2-seed" and opts.width == 0.2 and opts.epochs == 3 and opts.lr == 2e-3
    bad = tmp_path / "bad.toml"
    bad.write_text('arch = "mbv2"\n[train]\nepochz = 3\n')
    with pytest.raises(EdgekitError, match="epochz"):
        TrainOptions.from_recipe(bad)


def test_ingest_seed_checkpoint(tmp_path, capsys, tiny_csl):
    sd = build_model("mbv2-seed", 0.2, 4).state_dict()
    ckpt = tmp_path / "seed.pth"
    torch.save({"net": {f"module.{k}": v for k, v in sd.items()}, "acc": 50.0, "epoch": 3}, ckpt)
    run = tmp_path / "ing"
    code, rec, _ = run_cli(
        capsys, "ingest", str(ckpt), "--data", str(tiny_csl), "--run", str(run), "--json"
    )
    assert code == 0 and rec["arch"] == "mbv2-seed" and rec["width"] == 0.2
    ck = checkpoint.load(run / "float.pt")
    assert torch.equal(ck.state_dict["linear.weight"], sd["linear.weight"])
    assert (run / "frames.npz").is_file()


def test_ingest_mismatching_state_dict_lists_keys(tmp_path, capsys, tiny_csl):
    sd = build_model("mbv2-seed", 0.2, 4).state_dict()
    sd.pop("bn2.weight")
    sd["head.weight"] = torch.zeros(3)
    ckpt = tmp_path / "broken.pth"
    torch.save(sd, ckpt)
    run = tmp_path / "ing"
    code, _, err = run_cli(capsys, "ingest", str(ckpt), "--data", str(tiny_csl), "--run", str(run))
    assert code == 2 and "bn2.weight" in err and "head.weight" in err
    assert not run.exists()


def test_ingest_wrong_class_count(tmp_path, capsys, tiny_csl):
    ckpt = tmp_path / "seed8.pth"
    torch.save(build_model("mbv2-seed", 0.2, 8).state_dict(), ckpt)
    code, _, err = run_cli(
        capsys, "ingest", str(ckpt), "--data", str(tiny_csl), "--run", str(tmp_path / "x")
    )
    assert code == 2 and "8 classes" in err


def test_ingest_width_that_does_not_fit_the_tensors(tmp_path, capsys, tiny_csl):
    ckpt = tmp_path / "seed.pth"
    torch.save(build_model("mbv2-seed", 0.2, 4).state_dict(), ckpt)
    code, _, err = run_cli(
        capsys,
        "ingest",
        str(ckpt),
        "--data",
        str(tiny_csl),
        "--width",
        "0.5",
        "--run",
        str(tmp_path / "x"),
    )
    assert code == 2 and "--width 0.5" in err and "mbv2-seed w0.2" in err
    assert not (tmp_path / "x").exists()


def test_profile_boards_version(capsys):
    code, rec, _ = run_cli(capsys, "profile", "--arch", "mbv2-seed", "--json")
    assert code == 0 and rec["params"] == 808_504
    code, rec, _ = run_cli(capsys, "boards", "--json")
    assert {b["name"] for b in rec["boards"]} >= {"spresense", "mps2-an386", "stm32f405"}
    assert main(["--version"]) == 0 and "edgekit" in capsys.readouterr().out
