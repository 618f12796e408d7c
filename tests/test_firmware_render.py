"""firmware.render()/build(): project layout per board and runtime, atomic replacement, and the
errors a user sees (missing export artifacts, bad runtime, tflm without a TFLM tree, Spresense
without the Arduino package)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from edgekit import firmware
from edgekit.boards import get_board
from edgekit.errors import EdgekitError
from edgekit.runs import Run

import firmware_util as fu


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Run:
    return Run(fu.tiny_export(tmp_path_factory.getbasetemp()))


def _copy_run(src: Run, dst) -> Run:
    shutil.copytree(src.export_dir, dst / "export")
    return Run(dst)


def test_missing_artifact_names_file_and_command(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path)
    (run.export_dir / "model_meta.h").unlink()
    with pytest.raises(EdgekitError) as e:
        firmware.render(run, get_board("mps2-an386"))
    assert "model_meta.h" in str(e.value) and "edgekit export --board mps2-an386" in str(e.value)
    assert not run.firmware_dir("mps2-an386").exists()
    # tflm needs the C++ array
    run2 = _copy_run(tiny_run, tmp_path / "b")
    (run2.export_dir / "model_data.cc").unlink()
    with pytest.raises(EdgekitError, match="model_data.cc"):
        firmware.render(run2, get_board("stm32f405"), runtime="tflm")
    with pytest.raises(EdgekitError, match="--runtime"):
        firmware.render(run2, get_board("stm32f405"), runtime="cmsis")


def test_render_layout_and_atomic_replace(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path)
    board = get_board("stm32f405")
    d = firmware.render(run, board)
    assert d == run.firmware_dir("stm32f405")
    for rel in (
        "Makefile",
        "app/ek_app.c",
        "app/build.mk",
        "runtime/runtime.mk",
        "runtime/ek_model.c",
        "port/ek_port_stm32f4.c",
        "port/cm_startup.c",
        "port/stm32f405.ld",
        "model/model_data.c",
        "model/model_meta.h",
    ):
        assert (d / rel).is_file(), rel
    assert not (d / "runtime" / "tools").exists()
    rec = json.loads((d / "firmware.json").read_text())
    assert rec["runtime"] == "edgekit-rt" and rec["port"] == "stm32f4"
    (d / "stale.txt").write_text("old")
    d2 = firmware.render(run, board, runtime="tflm")
    assert d2 == d and not (d / "stale.txt").exists()
    assert (d / "tflm/ek_model_tflm.cc").is_file() and (d / "model/model_data.cc").is_file()
    assert not (d / "runtime").exists()
    assert not list(d.parent.glob(".stm32f405*"))  # no temp dirs left behind


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_tflm_without_tree_is_a_clear_error(tiny_run, tmp_path, monkeypatch):
    monkeypatch.delenv("TFLM_DIR", raising=False)
    run = _copy_run(tiny_run, tmp_path)
    board = get_board("mps2-an386")
    d = firmware.render(run, board, runtime="tflm")
    with pytest.raises(EdgekitError, match="TFLM_DIR"):
        firmware.build(d, board)
    # the Makefile says the same when run by hand
    p = subprocess.run(["make", "-C", str(d)], capture_output=True, text=True)
    assert p.returncode != 0 and "RUNTIME=tflm needs TFLM_DIR" in p.stderr
    p = subprocess.run(
        ["make", "-C", str(d), f"TFLM_DIR={tmp_path}"], capture_output=True, text=True
    )
    assert p.returncode != 0 and "micro_interpreter.h" in p.stderr


def test_spresense_sketch(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path)
    board = get_board("spresense")
    d = firmware.render(run, board)
    sk = d / "edgekit"
    assert (sk / "edgekit.ino").is_file()
    for name in (
        "ek_app.c",
        "ek_port_spresense.cpp",
        "ek_model.c",
        "ekrt.c",
        "model_data.c",
        "model_meta.h",
        "ek_config.h",
    ):
        assert (sk / "src" / name).is_file(), name
    assert "EK_RUNTIME_TFLM" not in (sk / "src/ek_config.h").read_text()
    # TFLM cannot compile under the board package's -std=gnu++11: refused, the sketch kept
    with pytest.raises(EdgekitError, match=r"gnu\+\+11"):
        firmware.render(run, board, runtime="tflm")
    assert (sk / "src" / "ekrt.c").is_file()
    if shutil.which("arduino-cli") is None and firmware.arduino_kit(board) is None:
        with pytest.raises(EdgekitError, match="arduino-cli"):
            firmware.build(d, board)


def test_sources_hash_tracks_the_firmware_tree(tiny_run, tmp_path):
    """A project rendered from other firmware sources (an older edgekit) is re-rendered before a
    bench builds it, even for the same model: the hash covers app, dsp, runtime and port."""
    board = get_board("mps2-an386")
    root = tmp_path / "fw"
    shutil.copytree(firmware.FIRMWARE_DIR, root, ignore=shutil.ignore_patterns("build"))
    before = firmware.sources_hash(board, firmware_root=root)
    assert before == firmware.sources_hash(board)
    with open(root / "app" / "ek_app.c", "a") as f:
        f.write("/* changed */\n")
    changed = firmware.sources_hash(board, firmware_root=root)
    assert changed != before
    (root / "ports" / "mps2-an386" / "build").mkdir()  # build output does not count
    (root / "ports" / "mps2-an386" / "build" / "x.o").write_bytes(b"obj")
    assert firmware.sources_hash(board, firmware_root=root) == changed
    run = _copy_run(tiny_run, tmp_path / "r")
    rec = json.loads((firmware.render(run, board) / "firmware.json").read_text())
    assert rec["sources_hash"] == before
