"""A new board needs only new files: a board TOML and a port folder in a directory named by
$EDGEKIT_BOARDS_DIR, no Python edit.

The board here is QEMU's mps2-an385, a Cortex-M3 (no DSP extension, so edgekit-rt takes its
portable kernels), with a port folder of its own: the mps2-an386 port's C file and linker script
copied, and a port.mk that compiles for -mcpu=cortex-m3. The tiny model is rendered, built and
benched on it in QEMU, byte-exact against tflite_micro.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from edgekit import boards, firmware, runs
from edgekit.bench import timeouts
from edgekit.bench.run import bench_on_board
from edgekit.errors import EdgekitError

from bench_util import make_run

REPO = Path(__file__).resolve().parents[1]
AN386 = REPO / "firmware" / "ports" / "mps2-an386"
NAME = "mps2-an385"

BOARD_TOML = f'''
name = "{NAME}"
description = "ARM MPS2 AN385 (Cortex-M3), emulated by QEMU (a board added from a test)"
cpu = "cortex-m3"
clock_hz = 25_000_000
flash_bytes = 4_194_304
ram_bytes = 4_194_304
runtime = "edgekit-rt"
port = "mps2-cm3"
timer = "SysTick"

[serial]
baud = 115200
interface = "CMSDK UART0 @ 0x40004000"

[qemu]
machine = "mps2-an385"
boot_s = 25

[timeouts]
command_s = 12

[estimate]
runtime_flash_bytes = 32_768
runtime_ram_bytes = 16_384
'''

needs_tools = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and gcc-arm-none-eabi (make sysdeps)",
)


def _port_mk() -> str:
    mk = (AN386 / "port.mk").read_text()
    for old, new in (
        ("-mcpu=cortex-m4", "-mcpu=cortex-m3"),
        ("edgekit-mps2-an386.elf", "edgekit-mps2-cm3.elf"),
        ("port/mps2-an386.ld", "port/mps2-cm3.ld"),
    ):
        assert old in mk, old
        mk = mk.replace(old, new)
    return mk


@pytest.fixture
def boards_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "boards"
    port = d / "ports" / "mps2-cm3"
    port.mkdir(parents=True)
    (d / f"{NAME}.toml").write_text(BOARD_TOML)
    shutil.copy2(AN386 / "ek_port_mps2.c", port / "ek_port_mps2.c")
    shutil.copy2(AN386 / "mps2-an386.ld", port / "mps2-cm3.ld")
    (port / "port.mk").write_text(_port_mk())
    (port / "port.toml").write_text('build = "make"\nshared = ["cortex-m"]\n')
    monkeypatch.setenv(boards.BOARDS_DIR_ENV, str(d))
    return d


def test_board_is_discovered_with_its_timeouts(boards_dir: Path) -> None:
    b = boards.get_board(NAME)
    assert b.path == boards_dir / f"{NAME}.toml" and b.qemu_machine == "mps2-an385"
    assert b.timeouts.qemu_boot_s == 25.0 and b.timeouts.command_s == 12.0
    assert b.timeouts.boot_s is None  # not given: the bench's named default
    assert timeouts.for_board(b).boot_s == timeouts.BOOT_S
    assert {"mps2-an386", "spresense", NAME} <= set(boards.all_boards())
    # nothing in the Python package knows this board or its port
    pkg = REPO / "toolchain" / "edgekit"
    hits = [p for p in pkg.rglob("*.py") if NAME in p.read_text() or "mps2-cm3" in p.read_text()]
    assert hits == []


def test_a_board_there_replaces_the_repository_one(boards_dir: Path) -> None:
    toml = (REPO / "boards" / "mps2-an386.toml").read_text() + "\n[timeouts]\nreboot_s = 42\n"
    (boards_dir / "slow-mps2.toml").write_text(toml)
    b = boards.get_board("mps2-an386")
    assert b.path == boards_dir / "slow-mps2.toml" and b.timeouts.reboot_s == 42.0
    repo_board = boards.get_board("mps2-an386", boards.BOARDS_DIR)
    assert timeouts.for_board(repo_board).reboot_s == timeouts.REBOOT_S


def test_bad_timeout_and_unknown_board_are_clear_errors(boards_dir: Path) -> None:
    (boards_dir / f"{NAME}.toml").write_text(
        BOARD_TOML.replace("command_s = 12", 'command_s = "soon"')
    )
    with pytest.raises(
        EdgekitError,
        match=r"mps2-an385.toml: field 'timeouts.command_s' should "
        r"be a number of seconds",
    ):
        boards.get_board(NAME)
    (boards_dir / f"{NAME}.toml").write_text(BOARD_TOML.replace("command_s = 12", "boot = 3"))
    with pytest.raises(EdgekitError, match=r"unknown field\(s\) boot in \[timeouts\]"):
        boards.get_board(NAME)
    (boards_dir / f"{NAME}.toml").write_text(BOARD_TOML)
    with pytest.raises(EdgekitError, match="EDGEKIT_BOARDS_DIR adds directories"):
        boards.get_board("no-such-board")


@pytest.mark.slow
@needs_tools
def test_new_board_renders_builds_and_benches_exactly(
    boards_dir: Path, tmp_path: Path, tiny_tflite: bytes
) -> None:
    board = boards.get_board(NAME)
    run = make_run(tmp_path / "run", tiny_tflite, n=20)
    rec = bench_on_board(run, board, None, samples=20, baud=None, progress=False)
    assert rec["where"] == "qemu:mps2-an385" and rec["exact_match_rate"] == 1.0
    assert rec["max_abs_diff"] == 0 and rec["device"]["tick_hz"] == 25_000_000

    fw = run.firmware_dir(NAME)
    assert (fw / "port" / "ek_port_mps2.c").is_file() and (fw / "port" / "cm_startup.c").is_file()
    assert not (fw / "port" / "port.toml").exists()
    assert "QEMU_MACHINE := mps2-an385" in (fw / "Makefile").read_text()
    built = json.loads((fw / "build.json").read_text())
    assert built["model_hash"] == runs.model_hash(tiny_tflite) == rec["model"]["hash"]
    assert built["elf"].endswith("edgekit-mps2-cm3.elf") and built["fits"]
    assert built["toolchain"]["cc"].startswith("arm-none-eabi-gcc")
    assert rec["flash_bytes"] == built["flash_bytes"] > len(tiny_tflite)
    # the port's own port.mk compiled it: an ARMv7-M (Cortex-M3) image; a Cortex-M4 build is
    # "7E-M", v7E-M
    attrs = subprocess.run(
        ["arm-none-eabi-readelf", "-A", built["elf"]], capture_output=True, text=True, check=True
    ).stdout
    assert 'Tag_CPU_name: "7-M"' in attrs and "Tag_CPU_arch: v7\n" in attrs


def test_port_without_port_toml_is_a_clear_error(
    boards_dir: Path, tmp_path: Path, tiny_tflite: bytes
) -> None:
    (boards_dir / "ports" / "mps2-cm3" / "port.toml").unlink()
    run = make_run(tmp_path / "run", tiny_tflite, n=2)
    with pytest.raises(EdgekitError, match=r"mps2-cm3/port.toml: missing"):
        firmware.render(run, boards.get_board(NAME))
    assert not run.firmware_dir(NAME).exists()
