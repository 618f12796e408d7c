"""Non-8x24 grids end to end through the real CLI: synthetic OTBiolab+ exports of one 64-channel
8x8 grid (GR10MM0808) and one 13x5 grid with its empty corner (GR08MM1305) -> train -> quantize ->
export (onnx2tf, tflite_micro) -> firmware -> QEMU mps2-an386 bench, exact int8 match."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from edgekit.cli import main
from edgekit.data.synth import SynthConfig, generate

pytestmark = pytest.mark.slow

GRIDS = {"GR10MM0808": (8, 8), "GR08MM1305": (13, 5)}


@pytest.fixture(scope="module", params=sorted(GRIDS))
def grid_run(request, tmp_path_factory) -> tuple[str, Path]:
    code = request.param
    root = tmp_path_factory.mktemp(code.lower())
    cfg = dataclasses.replace(SynthConfig.tiny(seed=3), grid=code)
    data = generate(root / "data", cfg)
    run = root / "run"
    for argv in (
        ["train", "--data", str(data), "--format", "otb", "--epochs", "2"],
        ["quantize", "--qat-epochs", "1"],
        ["export", "--board", "mps2-an386", "--build"],
    ):
        assert main([*argv, "--run", str(run), "--no-progress"]) == 0, argv
    return code, run


def test_grid_carried_through_every_artifact(grid_run: tuple[str, Path]) -> None:
    code, run = grid_run
    rows, cols = GRIDS[code]
    train = json.loads((run / "train.json").read_text())
    assert (train["grid"]["rows"], train["grid"]["cols"], train["grid"]["n_channels"]) == (
        rows,
        cols,
        64,
    )
    frames = np.load(run / "frames.npz")
    assert frames["x_train"].shape[1:] == (1, rows, cols)
    assert json.loads(str(frames["grid"])) == train["grid"]
    ex = json.loads((run / "export" / "export.json").read_text())
    assert ex["grid"] == train["grid"]
    assert ex["input"]["shape"] == [1, rows, cols, 1]
    meta = (run / "export" / "model_meta.h").read_text()
    assert f"#define EK_INPUT_H {rows}" in meta and f"#define EK_INPUT_W {cols}" in meta
    assert "#define EK_GRID_CHANNELS 64" in meta
    pixels = [int(v) for v in re.search(r"EK_GRID_PIXELS \{([^}]*)\}", meta).group(1).split(",")]
    assert pixels == train["grid"]["pixels"]
    assert pixels.count(-1) == rows * cols - 64  # 13x5: the empty corner; 8x8: none
    if code == "GR08MM1305":
        assert pixels[0] == -1
        # the pixel without an electrode is exactly 0 in every frame the model saw
        assert np.all(frames["x_train"][:, 0, 0, 0] == 0)


def test_bench_in_qemu_matches_host_reference_exactly(grid_run: tuple[str, Path], capsys) -> None:
    _, run = grid_run
    capsys.readouterr()
    code = main(
        [
            "bench",
            "--board",
            "mps2-an386",
            "--run",
            str(run),
            "--samples",
            "24",
            "--json",
            "--no-progress",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    rec = json.loads(out)
    assert rec["samples"] == 24 and rec["exact_match_rate"] == 1.0
    assert rec["device_accuracy"] == rec["host_accuracy"]


def test_robust_stages_on_the_grid(grid_run: tuple[str, Path], capsys) -> None:
    """GAN (frames of the grid's size), fine-tuning and clean/CA/LC evaluation, float and int8."""
    code, run = grid_run
    rows, cols = GRIDS[code]
    rob = run.parent / "robust"
    for argv in (
        ["robust", "gan", "--run", str(run), "--steps", "3"],
        ["robust", "finetune", "--run", str(run), "--out", str(rob), "--finetune-epochs", "1"],
        ["robust", "eval", "--run", str(run), "--robust", str(rob), "--json"],
    ):
        capsys.readouterr()
        assert main([*argv, "--no-progress"]) == 0, (argv, capsys.readouterr().err)
    ev = json.loads(capsys.readouterr().out)
    from edgekit.robust.gan import load_gan

    G, _ = load_gan(run / "gan.pt")
    assert G.frame_hw == (rows, cols)
    assert ev["sets"] == ["clean", "ca", "lc"]
    std = ev["models"]["standard"]
    assert set(std["float"]) == {"clean", "ca", "lc"} and std["int8"] is not None
