"""The whole path through the real CLI: CSL-layout data -> train -> quantize -> export (onnx2tf,
tflite_micro) -> firmware -> QEMU bench, checked byte for byte against the host reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgekit.artifacts import load_export
from edgekit.boards import get_board
from edgekit.cli import main
from edgekit.export.fit import fit_report
from edgekit.export.stage import calib_bytes
from edgekit.export.tflite import inspect_tflite

pytestmark = pytest.mark.slow


def cli(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main([*argv, "--no-progress"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and "--json" in argv else None), err


@pytest.fixture(scope="module")
def mbv2_run(tmp_path_factory, small_csl) -> Path:
    run = tmp_path_factory.mktemp("e2e") / "mbv2"
    assert (
        main(
            ["train", "--data", str(small_csl), "--epochs", "4", "--run", str(run), "--no-progress"]
        )
        == 0
    )
    assert main(["quantize", "--run", str(run), "--qat-epochs", "1", "--no-progress"]) == 0
    assert (
        main(["export", "--board", "mps2-an386", "--run", str(run), "--build", "--no-progress"])
        == 0
    )
    return run


def test_export_artifacts_and_report(mbv2_run: Path):
    ex = json.loads((mbv2_run / "export" / "export.json").read_text())
    for name in (
        "model.onnx",
        "model_int8.tflite",
        "model_data.cc",
        "model_data.h",
        "model_meta.h",
        "reference.npz",
    ):
        assert (mbv2_run / "export" / name).stat().st_size > 0, name
    assert "firmware" not in ex  # the build keeps its own record, beside the firmware
    built = json.loads((mbv2_run / "firmware" / "mps2-an386" / "build.json").read_text())
    assert built["flash_bytes"] > (mbv2_run / "export" / "model_int8.tflite").stat().st_size
    assert built["fits"] and built["model_hash"] == ex["model_hash"]
    assert built["toolchain"]["cc"].startswith("arm-none-eabi-gcc")
    assert (mbv2_run / "firmware" / "mps2-an386" / "Makefile").is_file()


@pytest.mark.parametrize("board", ["mps2-an386", "stm32f405"])
def test_bench_in_qemu_matches_host_reference_exactly(mbv2_run: Path, capsys, board: str):
    code, rec, err = cli(
        capsys, "bench", "--board", board, "--run", str(mbv2_run), "--samples", "40", "--json"
    )
    assert code == 0, err
    assert rec["samples"] == 40 and rec["exact_match_rate"] == 1.0
    assert rec["device_accuracy"] == rec["host_accuracy"]
    assert rec["top1_agreement"] == 1.0
    ref = np.load(mbv2_run / "export" / "reference.npz")
    assert (
        rec["model"]["hash"]
        == json.loads((mbv2_run / "export" / "export.json").read_text())["model_hash"]
    )
    assert len(ref["y_int8"]) >= 40
    assert rec["latency"]["median_ticks"] > 0
    assert (mbv2_run / "bench" / board / "bench.png").stat().st_size > 0
    # the export's fit estimate (what the sweep and `export` judge a board by) covers the linked
    # firmware, and by little: the board's [estimate] is measured, not a guess
    ex = load_export(mbv2_run / "export" / "export.json")
    info = inspect_tflite((mbv2_run / "export" / "model_int8.tflite").read_bytes())
    fit = fit_report(get_board(board), ex.model_bytes, ex.ek_arena_size, calib_bytes(info))
    assert fit["calibration"]["room"]  # so the firmware carries the calibration buffers
    assert rec["flash_bytes"] <= fit["flash"]["need"] <= rec["flash_bytes"] + 4096
    assert rec["ram_bytes"] <= fit["ram"]["need"] <= rec["ram_bytes"] + 4096


def test_seed_model_fit_error_then_bigger_board(tmp_path, capsys, tiny_csl):
    """mbv2-seed w0.2 (808,504 int8 weights) does not fit the Spresense main core's default
    768 KB; export says so with the numbers, writes nothing, and fits the 1536 KB setting."""
    run = tmp_path / "seed"
    assert (
        main(
            [
                "train",
                "--arch",
                "mbv2-seed",
                "--data",
                str(tiny_csl),
                "--epochs",
                "1",
                "--run",
                str(run),
                "--no-progress",
            ]
        )
        == 0
    )
    assert main(["quantize", "--run", str(run), "--qat-epochs", "1", "--no-progress"]) == 0
    capsys.readouterr()
    code, _, err = cli(capsys, "export", "--board", "spresense", "--run", str(run))
    assert code == 2
    assert "does not fit" in err and "786,432" in err and "spresense-1536k" in err
    assert not (run / "export").exists() and not (run / "firmware").exists()
    code, rec, err = cli(
        capsys, "export", "--board", "spresense-1536k", "--run", str(run), "--json"
    )
    assert code == 0, err
    assert rec["fit"]["fits"] and (run / "firmware" / "spresense-1536k").is_dir()


def test_bench_without_export_and_unknown_board(tmp_path, capsys):
    code, _, err = cli(capsys, "bench", "--board", "mps2-an386", "--run", str(tmp_path / "none"))
    assert code == 2 and "edgekit export" in err
    code, _, err = cli(capsys, "export", "--board", "arduino-uno", "--run", str(tmp_path / "none"))
    assert code == 2 and "spresense" in err and "stm32f405" in err


def test_ingested_onnx_is_quantized_post_training_at_export(tmp_path, capsys, tiny_csl):
    """An ONNX model cannot be fine-tuned here: quantize says so, export quantizes it post-training."""
    import torch

    from edgekit import checkpoint

    trained = tmp_path / "t"
    assert (
        main(
            [
                "train",
                "--data",
                str(tiny_csl),
                "--epochs",
                "2",
                "--run",
                str(trained),
                "--no-progress",
            ]
        )
        == 0
    )
    capsys.readouterr()
    model = checkpoint.load(trained / "float.pt").build()
    onnx_path = tmp_path / "user.onnx"
    torch.onnx.export(
        model,
        (torch.zeros(1, 1, 8, 24),),
        str(onnx_path),
        dynamo=False,
        opset_version=17,
        input_names=["emg"],
        output_names=["out"],
        dynamic_axes={"emg": {0: "batch"}},
    )
    run = tmp_path / "onnx-run"
    # ingest draws no progress bars, so it takes no --no-progress (cli() adds it)
    code = main(["ingest", str(onnx_path), "--data", str(tiny_csl), "--run", str(run), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "post-training" in json.loads(out)["note"]
    code, _, err = cli(capsys, "quantize", "--run", str(run))
    assert code == 2 and "post-training" in err
    code, rec, err = cli(capsys, "export", "--board", "mps2-an386", "--run", str(run), "--json")
    assert code == 0, err
    assert rec["quantization"].startswith("post-training")
    assert rec["accuracy"]["qat"] is None and rec["accuracy"]["float_int8_agreement"] > 0.8
    assert (run / "export" / "model_meta.h").is_file()
