"""Putting the image on a board: the board's upload recipe, the checks on the image before
anything is written, the errors a user meets, and the Spresense sketch's header. No board is
attached here, so the uploads themselves are only planned (the exact command) or refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgekit import firmware, flash, runs
from edgekit.boards import get_board
from edgekit.errors import EdgekitError

from bench_util import build_for, make_run

needs_arm = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc"
)


@pytest.fixture(scope="module")
def stm32_build(tmp_path_factory, tiny_tflite) -> tuple[runs.Run, Path]:
    run = make_run(tmp_path_factory.mktemp("flash") / "run", tiny_tflite)
    built = build_for(run, get_board("stm32f405"))
    return run, Path(built["record"]).parent


def _hash(run: runs.Run) -> str:
    return firmware.read_build_record(run.firmware_dir("stm32f405"))["model_hash"]


@needs_arm
def test_dry_run_plans_the_first_recipe_with_a_real_bin_image(stm32_build, monkeypatch):
    run, fw_dir = stm32_build
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # whatever probes are installed here: none counts
    info = flash.plan(fw_dir, get_board("stm32f405"), None, _hash(run), dry_run=True)
    assert info["tool"] == "st-flash" and not info["tool_found"]
    assert "stlink-tools" in info["install"]
    image = Path(info["image"])
    assert image.suffix == ".bin" and image.is_file()
    assert info["command"] == ["st-flash", "--reset", "write", str(image), "0x08000000"]
    # the .bin is the ELF's loadable bytes: at least the model array, at most the flash
    built = firmware.read_build_record(fw_dir)
    assert 0 < info["image_bytes"] <= built["flash_bytes"]


@needs_arm
def test_missing_tool_says_what_to_install(stm32_build, monkeypatch):
    run, fw_dir = stm32_build
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EdgekitError, match="no upload tool found on PATH.*stlink-tools.*dfu-util"):
        flash.plan(fw_dir, get_board("stm32f405"), None, _hash(run))


@needs_arm
def test_an_image_of_another_model_is_refused(stm32_build):
    _, fw_dir = stm32_build
    with pytest.raises(EdgekitError, match="model_hash.*export --board stm32f405 --build"):
        flash.plan(fw_dir, get_board("stm32f405"), None, "0" * 16, dry_run=True)


def test_unbuilt_project_and_qemu_board(tmp_path):
    with pytest.raises(EdgekitError, match="no firmware build here"):
        flash.plan(tmp_path, get_board("stm32f405"), None, None, dry_run=True)
    (tmp_path / firmware.BUILD_RECORD).write_text('{"elf": "x.elf", "model_hash": "h"}')
    with pytest.raises(EdgekitError, match="runs in QEMU.*nothing to flash"):
        flash.plan(tmp_path, get_board("mps2-an386"), None, "h", dry_run=True)


def test_spresense_needs_a_port_and_its_spk(tmp_path, monkeypatch):
    board = get_board("spresense")
    elf = tmp_path / "build" / "edgekit.ino.elf"
    elf.parent.mkdir()
    elf.write_bytes(b"\x7fELF")
    runs.write_json(
        tmp_path / firmware.BUILD_RECORD, {"elf": str(elf), "model_hash": "h", "fits": True}
    )
    with pytest.raises(EdgekitError, match=r"no \.spk beside the ELF"):
        flash.plan(tmp_path, board, "/dev/ttyUSB0", "h", dry_run=True)
    spk = elf.with_suffix(".spk")
    spk.write_bytes(b"spk")
    info = flash.plan(tmp_path, board, "/dev/ttyUSB0", "h", dry_run=True)
    assert info["command"] == [
        "arduino-cli", "upload", "--fqbn", board.fqbn, "--port", "/dev/ttyUSB0",
        "--input-file", str(spk),
    ]  # fmt: skip
    # with only Sony's flash_writer installed, that recipe runs, at the fqbn's upload speed;
    # the board's port is required (the tool is only looked up, never run, here)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "flash_writer").symlink_to(shutil.which("true"))
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(EdgekitError, match="--port: .*flash_writer needs the board's serial port"):
        flash.plan(tmp_path, board, None, "h")
    info = flash.plan(tmp_path, board, "/dev/ttyUSB0", "h")
    assert info["command"][:6] == ["flash_writer", "-s", "-c", "/dev/ttyUSB0", "-b", "115200"]
    with pytest.raises(EdgekitError, match="--port /dev/ttyEDGEKIT0: no such device; plug"):
        flash.flash(info, "/dev/ttyEDGEKIT0")


def test_sketch_header_names_the_board_and_its_tools_menu():
    head = firmware.sketch_header(get_board("spresense-1536k"), "edgekit-rt")
    assert "Rendered by `edgekit export --board spresense-1536k`" in head
    assert " *   Tools > Memory: 1536 KB\n" in head
    assert " *   Tools > Core: MainCore\n" in head
    fqbn = get_board("spresense-1536k").fqbn
    assert f"arduino-cli compile --fqbn {fqbn} edgekit" in head
    assert "edgekit flash --board spresense-1536k" in head
    assert "Memory: 768 KB (Default)" in firmware.sketch_header(get_board("spresense"), "tflm")


@needs_arm
def test_cli_flash_dry_run(stm32_build, capsys, monkeypatch):
    import json

    from edgekit.cli import main

    run, _ = stm32_build
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    argv = ["flash", "--board", "stm32f405", "--run", str(run.root), "--dry-run", "--json"]
    assert main(argv) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["dry_run"] and rec["command"][:3] == ["st-flash", "--reset", "write"]
    assert main(["flash", "--board", "stm32f405", "--run", str(run.root)]) == 2
    assert "no upload tool found on PATH" in capsys.readouterr().err
