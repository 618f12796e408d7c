"""The real firmware (app + edgekit-rt + board port) built with arm-none-eabi-gcc and booted in
QEMU: mps2-an386 (Cortex-M4, soft float) and netduinoplus2 (STM32F405, hard float). Outputs must
equal the tflite_micro reference byte for byte."""

from __future__ import annotations

import re

import pytest

from edgekit import firmware
from edgekit.boards import get_board
from edgekit.runs import Run

import firmware_util as fu

pytestmark = [pytest.mark.slow, fu.needs_qemu]

BOARDS = {"mps2-an386": ("mps2-an386", 25_000_000), "stm32f405": ("stm32f4", 168_000_000)}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Run:
    return Run(fu.tiny_export(tmp_path_factory.getbasetemp()))


@pytest.mark.parametrize("board_name", sorted(BOARDS))
def test_firmware_in_qemu(tiny_run, board_name):
    port, hz = BOARDS[board_name]
    board = get_board(board_name)
    info = firmware.build(firmware.render(tiny_run, board), board)
    assert info["fits"] and info["runtime"] == "edgekit-rt"
    assert 10_000 < info["flash_bytes"] < board.flash_bytes
    assert 65_536 < info["ram_bytes"] < board.ram_bytes  # the 64 KB arena + stack + state

    tflite = (tiny_run.export_dir / "model_int8.tflite").read_bytes()
    x = fu.random_inputs(4, seed=11)
    ref = fu.tflm_outputs(tflite, x)
    link = fu.Link.spawn(fu.qemu_argv(board.qemu_machine, info["elf"]))
    try:
        assert link.read_until_ready(30) == ["m-boot-[edgekit]", "m-ready"]
        assert link.cmd("name") == [f"m-name-dut-[edgekit-{port}]", "m-ready"]
        r = link.cmd("ek-info")[0]
        assert re.fullmatch(
            rf"m-ek-info-runtime\[edgekit-rt\]-hash\[{info['model_hash']}\]"
            rf"-arena\[65536\]-used\[\d+\]-in\[192\]-out\[5\]-tick\[systick\]"
            rf"-hz\[{hz}\]",
            r,
        ), r
        ticks = []
        for xi, ri in zip(x, ref, strict=True):
            r = link.cmd("ek-run " + xi.tobytes().hex(), timeout=30)[0]
            m = re.fullmatch(r"m-ek-run-\[([0-9a-f]+)\]-ticks\[(\d+)\]", r)
            assert m and m.group(1) == ri.tobytes().hex(), (r, ri.tobytes().hex())
            ticks.append(int(m.group(2)))
        assert min(ticks) > 1000  # a real inference, not an empty loop
        # 1 KB commands pass the polled UART without loss: exactly 1024 bytes is accepted,
        # 1025 is refused, and the loaded input gives the exact reference output.
        assert link.cmd("db load 192")[0] == "m-load-expecting-[192]"
        cmd = ("db " + x[0].tobytes().hex()).ljust(1024)
        assert link.cmd(cmd) == ["m-load-done", "m-ready"]
        assert link.cmd(cmd + " ") == ["e-[command too long]", "m-ready"]
        r = link.cmd("infer 2 1", timeout=60)
        assert r[0] == "m-warmup-start-[1]" and r[5] == "m-infer-done", r
        assert link.cmd("ek-out")[0] == f"m-ek-out-[{ref[0].tobytes().hex()}]"
        assert re.fullmatch(r"m-ek-ticks-\[\d+\]-n\[2\]", link.cmd("ek-ticks")[0])
        assert link.cmd("name") == [f"m-name-dut-[edgekit-{port}]", "m-ready"]
    finally:
        link.proc.kill()
        link.proc.wait()
