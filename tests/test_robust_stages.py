"""edgekit robust gan / finetune / eval and train --augment through the real CLI on tiny CSL data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgekit import checkpoint
from edgekit.cli import main
from edgekit.robust.gan import GanConfig, load_gan, save_gan, train_gan

SMALL_GAN = ["--steps", "3"]


def run_cli(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    rec = json.loads(out) if code == 0 and "--json" in argv else None
    return code, rec, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_csl) -> Path:
    """A standard run on the tiny dataset (1 epoch): float.pt + frames.npz."""
    run = tmp_path_factory.mktemp("robust") / "std"
    assert (
        main(
            ["train", "--data", str(tiny_csl), "--epochs", "1", "--run", str(run), "--no-progress"]
        )
        == 0
    )
    return run


@pytest.mark.slow
def test_gan_finetune_eval_pipeline(tmp_path, capsys, tiny_csl, trained):
    std = tmp_path / "std"
    shutil.copytree(trained, std)
    code, gan, err = run_cli(
        capsys, "robust", "gan", "--run", str(std), *SMALL_GAN, "--json", "--no-progress"
    )
    assert code == 0, err
    for name in ("gan.pt", "gan.json", "gan.png"):
        assert (std / name).is_file(), name
    assert gan["disturb"] == ["ca", "lc"]
    # one disturbed copy per disturbance of every training frame
    n_train = len(np.load(std / "frames.npz")["y_train"])
    assert gan["disturbed_frames"]["train"] == 2 * n_train
    assert gan["disturbed_frames"]["val_heldout"] > 0
    for k in ("mean_dist", "std_dist", "spectral_dist", "tstr_accuracy"):
        assert k in gan["quality"] and k in gan["quality_real_reference"]
    G, meta = load_gan(std / "gan.pt", num_classes=4)
    assert meta["label_names"] == checkpoint.load(std / "float.pt").label_names

    rob = tmp_path / "rob"
    code, ft, err = run_cli(
        capsys,
        "robust",
        "finetune",
        "--run",
        str(std),
        "--out",
        str(rob),
        "--finetune-epochs",
        "1",
        "--mix",
        "0.5",
        "--json",
        "--no-progress",
    )
    assert code == 0, err
    assert ft["frames"]["generated"] == ft["frames"]["clean"] == n_train  # mix 0.5 = 1:1
    for when in ("before", "after"):
        assert 0.0 <= ft["clean_accuracy"][when]["test"] <= 1.0
    rrec = checkpoint.load(rob / "float.pt", checkpoint.FLOAT_FORMAT)
    assert rrec.source["robust"] is True and rrec.source["from_run"] == str(std)
    assert rrec.source["data"]["root"] == str(tiny_csl)
    assert (rob / "frames.npz").read_bytes() == (std / "frames.npz").read_bytes()
    # the fine-tuned weights differ from the standard model's
    srec = checkpoint.load(std / "float.pt")
    assert any(
        not np.array_equal(srec.state_dict[k].numpy(), v.numpy())
        for k, v in rrec.state_dict.items()
        if v.dtype.is_floating_point
    )

    # the seed's recipe: generated frames only
    gen_only = tmp_path / "gen-only"
    code, ft1, err = run_cli(
        capsys,
        "robust",
        "finetune",
        "--run",
        str(std),
        "--out",
        str(gen_only),
        "--finetune-epochs",
        "1",
        "--mix",
        "1",
        "--json",
        "--no-progress",
    )
    assert code == 0, err
    assert ft1["frames"]["clean"] == 0 and ft1["frames"]["generated"] == n_train

    code, ev, err = run_cli(
        capsys,
        "robust",
        "eval",
        "--run",
        str(std),
        "--robust",
        str(rob),
        "--model",
        f"gen-only={gen_only}",
        "--json",
        "--no-progress",
    )
    assert code == 0, err
    assert ev["votes"] == [1, 3, 5, 10] and ev["latency_ms"] == [150, 250, 350, 600]
    assert ev["sets"] == ["clean", "ca", "lc"]
    assert list(ev["models"]) == ["standard", "robust", "gen-only"]
    for m in ev["models"].values():
        assert set(m["float"]) == {"clean", "ca", "lc"}
        assert all(len(a) == 4 and all(0.0 <= v <= 1.0 for v in a) for a in m["float"].values())
        assert m["int8"] is None and m["int8_status"] == "not exported"
    # the clean single-window accuracy is the model's accuracy on the stored test frames
    z = np.load(std / "frames.npz")
    from edgekit.metrics import accuracy, predict

    acc = accuracy(predict(srec.build(), z["x_test"]), z["y_test"])
    assert ev["models"]["standard"]["float"]["clean"][0] == pytest.approx(acc)
    table = (std / "robust_eval.md").read_text()
    assert "k=10 (600 ms)" in table and "| robust | float | lc |" in table
    assert "| gen-only | float | ca |" in table and "LC kept, k=1/3/5/10" in table
    assert table.count("| standard | float |") == 3 + 1  # 3 sets + 1 retention row
    assert "standard int8: not exported" in table
    assert (std / "robust_eval.png").stat().st_size > 1000
    assert json.loads((std / "robust_eval.json").read_text())["models"]["robust"]["run"] == str(rob)


def test_augment_adds_disturbed_training_frames(tmp_path, capsys, tiny_csl):
    base = ["train", "--data", str(tiny_csl), "--epochs", "1", "--json", "--no-progress"]
    code, plain, err = run_cli(capsys, *base, "--run", str(tmp_path / "plain"))
    assert code == 0, err
    # one copy per --augment: a CA copy and an LC copy
    code, aug, err = run_cli(
        capsys, *base, "--run", str(tmp_path / "aug"), "--augment", "ca", "--augment", "lc"
    )
    assert code == 0, err
    n = plain["split"]["frames"]["train"]
    assert plain["training"]["train_frames"] == n and plain["training"]["augmented_frames"] == 0
    assert aug["training"]["train_frames"] == 3 * n and aug["training"]["augmented_frames"] == 2 * n
    assert aug["split"] == plain["split"]  # same split, the test set is untouched
    assert aug["data"]["augment"] == ["ca", "lc"]  # one copy per condition
    # a comma list is one condition, as in `synth --disturb`: one copy with CA and LC together
    code, both, err = run_cli(capsys, *base, "--run", str(tmp_path / "both"), "--augment", "ca,lc")
    assert code == 0, err
    assert both["training"]["augmented_frames"] == n and both["data"]["augment"] == ["ca,lc"]
    z = np.load(tmp_path / "aug" / "frames.npz")  # frames.npz stays the clean split
    assert len(z["y_train"]) == n


def test_unknown_disturbance_lists_known_names(tmp_path, capsys, tiny_csl, trained):
    code, _, err = run_cli(
        capsys, "robust", "gan", "--run", str(trained), "--disturb", "ca,pen", "--no-progress"
    )
    assert code == 2
    assert "'pen'" in err and "known: ca, lc, dead, saturated, noise" in err
    assert not (trained / "gan.pt").exists()
    run = tmp_path / "aug"
    code, _, err = run_cli(
        capsys,
        "train",
        "--data",
        str(tiny_csl),
        "--epochs",
        "1",
        "--run",
        str(run),
        "--augment",
        "lc,wobble",
        "--no-progress",
    )
    assert code == 2 and "'wobble'" in err and "known:" in err
    assert not run.exists()  # nothing half-written


def test_finetune_without_gan_names_the_command(tmp_path, capsys, trained):
    code, _, err = run_cli(
        capsys,
        "robust",
        "finetune",
        "--run",
        str(trained),
        "--out",
        str(tmp_path / "rob"),
        "--no-progress",
    )
    assert code == 2
    assert "gan.pt" in err and f"edgekit robust gan --run {trained}" in err
    assert not (tmp_path / "rob").exists()


def test_gan_for_another_class_count(tmp_path, capsys, trained):
    std = tmp_path / "std"
    shutil.copytree(trained, std)
    rng = np.random.default_rng(0)
    cfg = GanConfig(steps=1, g_width=4, d_width=4, batch_size=8)
    G, _ = train_gan(
        rng.standard_normal((16, 1, 8, 24)).astype(np.float32), np.arange(16) % 3, 3, cfg
    )
    save_gan(std / "gan.pt", G, cfg)
    code, _, err = run_cli(
        capsys,
        "robust",
        "finetune",
        "--run",
        str(std),
        "--out",
        str(tmp_path / "rob"),
        "--finetune-epochs",
        "1",
        "--no-progress",
    )
    assert code == 2
    assert "gan.pt" in err and "3 classes" in err and "4 classes" in err
    assert not (tmp_path / "rob").exists()


def test_bad_finetune_and_eval_inputs(tmp_path, capsys, trained):
    code, _, err = run_cli(
        capsys, "robust", "finetune", "--run", str(trained), "--out", str(trained), "--no-progress"
    )
    assert code == 2 and "--out" in err
    code, _, err = run_cli(
        capsys,
        "robust",
        "finetune",
        "--run",
        str(trained),
        "--out",
        str(tmp_path / "r"),
        "--mix",
        "1.5",
        "--no-progress",
    )
    assert code == 2 and "--mix" in err
    code, _, err = run_cli(
        capsys,
        "robust",
        "eval",
        "--run",
        str(trained),
        "--robust",
        str(tmp_path / "missing"),
        "--no-progress",
    )
    assert code == 2 and "float.pt" in err and "edgekit train" in err
    for bad, why in (("nodir", "NAME=DIR"), ("standard=" + str(trained), "already used")):
        code, _, err = run_cli(
            capsys, "robust", "eval", "--run", str(trained), "--model", bad, "--no-progress"
        )
        assert code == 2 and "--model" in err and why in err


@pytest.mark.slow
def test_eval_int8_rows_use_the_exported_model(tmp_path, capsys, trained):
    """After quantize + export the table gains int8 rows from the host tflite_micro reference;
    its clean single-window accuracy is export's own int8 host accuracy on the same test frames."""
    std = tmp_path / "std"
    shutil.copytree(trained, std)
    assert main(["quantize", "--run", str(std), "--qat-epochs", "0", "--no-progress"]) == 0
    assert main(["export", "--run", str(std), "--board", "mps2-an386", "--no-progress"]) == 0
    capsys.readouterr()
    code, ev, err = run_cli(capsys, "robust", "eval", "--run", str(std), "--json", "--no-progress")
    assert code == 0, err
    m = ev["models"]["standard"]
    assert m["int8_status"] == "ok" and set(m["int8"]) == {"clean", "ca", "lc"}
    exp = json.loads((std / "export" / "export.json").read_text())
    assert m["int8"]["clean"][0] == pytest.approx(exp["accuracy"]["int8_host"])
    assert "| standard | int8 | lc |" in (std / "robust_eval.md").read_text()
