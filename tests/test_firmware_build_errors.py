"""firmware.build() when a tool fails: a clear EdgekitError naming the command, its exit code and
the tail of its output; no build.json left behind (not even an earlier build's); a hung compiler
killed with its make. The board and its port are files in a temporary $EDGEKIT_BOARDS_DIR: the
host port copied, with port.mk pointing CC or SIZE at small failing scripts."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from edgekit import boards, firmware
from edgekit.errors import EdgekitError
from edgekit.runs import Run

import firmware_util as fu

HOST_PORT = Path(__file__).resolve().parents[1] / "firmware" / "ports" / "host"

BOARD_TOML = """
name = "host-tools"
description = "the host port with the tools a test gives it"
cpu = "host"
clock_hz = 1
flash_bytes = 1_073_741_824
ram_bytes = 1_073_741_824
runtime = "edgekit-rt"
port = "host-tools"

[serial]
baud = 115200

[estimate]
runtime_flash_bytes = 0
runtime_ram_bytes = 0
"""

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or shutil.which("gcc") is None,
    reason="needs make and gcc (build-essential)",
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Run:
    return Run(fu.tiny_export(tmp_path_factory.getbasetemp()))


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def _project(tmp_path: Path, monkeypatch, run: Run, cc: str = "gcc", size: str = "size") -> Path:
    """Render the tiny model for a board whose port.mk names `cc` and `size`."""
    d = tmp_path / "boards"
    port = d / "ports" / "host-tools"
    port.mkdir(parents=True)
    (d / "host-tools.toml").write_text(BOARD_TOML)
    shutil.copy2(HOST_PORT / "ek_port_host.c", port)
    shutil.copy2(HOST_PORT / "port.toml", port)
    mk = (HOST_PORT / "port.mk").read_text()
    assert "CC     := gcc\n" in mk and "SIZE   := size\n" in mk
    (port / "port.mk").write_text(
        mk.replace("CC     := gcc\n", f"CC     := {cc}\n").replace(
            "SIZE   := size\n", f"SIZE   := {size}\n"
        )
    )
    monkeypatch.setenv(boards.BOARDS_DIR_ENV, str(d))
    return firmware.render(run, boards.get_board("host-tools"), dest=tmp_path / "fw")


def test_failing_compiler_names_command_exit_and_output(tiny_run, tmp_path, monkeypatch):
    cc = _script(
        tmp_path / "fakecc", 'echo "fakecc: error: this compiler refuses $*" >&2\nexit 3\n'
    )
    fw = _project(tmp_path, monkeypatch, tiny_run, cc=str(cc))
    with pytest.raises(EdgekitError) as e:
        firmware.build(fw, boards.get_board("host-tools"))
    msg = str(e.value)
    assert "firmware build: `make -C" in msg and "failed (exit 2)" in msg
    assert "fakecc: error: this compiler refuses" in msg  # the tail of its output
    assert "running it again continues" in msg
    assert not (fw / "build.json").exists()
    assert not list((fw / "build").rglob("*.o"))  # .DELETE_ON_ERROR: no half-written objects
    assert (fw / "firmware.json").is_file()  # the rendered project is intact


def test_missing_compiler_names_its_debian_packages(tiny_run, tmp_path, monkeypatch):
    fw = _project(tmp_path, monkeypatch, tiny_run, cc="/nonexistent/bin/no-such-cc")
    with pytest.raises(
        EdgekitError,
        match=r"/nonexistent/bin/no-such-cc not found on PATH: "
        r".*port/port.mk \(sudo apt-get install build-essential\)",
    ):
        firmware.build(fw, boards.get_board("host-tools"))


def test_hung_compiler_is_killed_at_the_timeout(tiny_run, tmp_path, monkeypatch):
    pid_file = tmp_path / "cc.pid"
    cc = _script(tmp_path / "slowcc", f"echo $$ > {pid_file}\nexec sleep 60\n")
    fw = _project(tmp_path, monkeypatch, tiny_run, cc=str(cc))
    t0 = time.monotonic()
    with pytest.raises(EdgekitError, match=r"`make -C .*` did not finish in 3 s and was killed"):
        firmware.build(fw, boards.get_board("host-tools"), timeout_s=3)
    assert time.monotonic() - t0 < 30  # not the compiler's 60 s
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the compiler make started outlived the timeout"
    assert not (fw / "build.json").exists()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_failing_size_tool_leaves_no_build_record(tiny_run, tmp_path, monkeypatch):
    fw = _project(tmp_path, monkeypatch, tiny_run)
    board = boards.get_board("host-tools")
    ok = firmware.build(fw, board)
    assert (fw / "build.json").is_file() and ok["flash_bytes"] > 0
    assert ok["toolchain"]["cc"].startswith("gcc") and ok["toolchain"]["make"].startswith(
        "GNU Make"
    )
    size = _script(
        tmp_path / "fakesize", 'echo "fakesize: $2: file format not recognized" >&2\nexit 4\n'
    )
    mk = fw / "port" / "port.mk"
    mk.write_text(mk.read_text().replace("SIZE   := size\n", f"SIZE   := {size}\n"))
    with pytest.raises(EdgekitError) as e:
        firmware.build(fw, board)
    msg = str(e.value)
    assert "measuring flash/RAM" in msg and f"`{size} -B" in msg and "failed (exit 4)" in msg
    assert "file format not recognized" in msg
    assert not (fw / "build.json").exists()  # the earlier build's record is gone too
    assert os.path.isfile(ok["elf"])
