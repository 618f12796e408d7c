"""run_bench end to end on the emulated Cortex-M4 (QEMU mps2-an386): real firmware, real runtime,
real QEMU, checked byte for byte against tflite_micro."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit import firmware, runs
from edgekit.bench import run_bench
from edgekit.bench.qemu import run_qemu
from edgekit.errors import EdgekitError

import firmware_util as fu
from bench_util import make_run, mps2

pytestmark = [pytest.mark.slow, fu.needs_qemu]


@pytest.fixture(scope="module")
def qemu_run(tmp_path_factory: pytest.TempPathFactory, tiny_tflite: bytes) -> runs.Run:
    return make_run(tmp_path_factory.mktemp("bench-qemu") / "run", tiny_tflite, n=60)


def _build_fn(run: runs.Run):
    board = mps2()
    calls = []

    def build() -> dict:
        calls.append(1)
        return firmware.build(firmware.render(run, board), board)

    return build, calls


def test_bench_in_qemu_is_exact_and_deterministic(qemu_run: runs.Run) -> None:
    build, calls = _build_fn(qemu_run)
    rec = run_bench(
        qemu_run,
        mps2(),
        None,
        samples=20,
        progress=False,
        build_fn=build,
        latency_samples=2,
        latency_n=5,
    )
    assert calls == [1]
    assert rec["exact_match_rate"] == 1.0 and rec["max_abs_diff"] == 0
    assert rec["where"] == "qemu:mps2-an386" and rec["emulated"]
    assert rec["device"]["tick_unit"] == "systick" and rec["device"]["tick_hz"] == 25_000_000
    q = rec["qemu"]
    assert q["instructions_per_tick"] == 40.0
    assert q["instructions_per_inference"] == rec["latency"]["median_ticks"] * 40
    assert (
        "instruction-count proxy" in rec["latency"]["note"]
        and "not Cortex-M4 time" in rec["latency"]["note"]
    )
    assert rec["flash_bytes"] > 0 and rec["ram_bytes"] > 0 and rec["arena_used"] > 0
    # the MLPerf path (db load / infer N W / m-lap-us) computes the same output
    assert all(lap["output_matches_ek_run"] for lap in rec["lap_us"])
    assert all(lap["us_per_inference"] > 0 for lap in rec["lap_us"])
    # -icount shift=0: the same samples take the same instruction count in a second QEMU boot;
    # only the SysTick phase at the start (how long the UART poll loop waited) moves, by <= 1 tick
    again = run_bench(
        qemu_run, mps2(), None, samples=20, progress=False, latency_samples=0, write=False
    )  # no build_fn: the ELF built above is found
    diff = np.abs(again["per_sample"]["ticks"] - rec["per_sample"]["ticks"])
    assert diff.max() <= 1
    assert again["per_sample"]["ticks"].min() > 100  # a real inference, not a stub
    saved = json.loads((qemu_run.bench_dir("mps2-an386") / "bench.json").read_text())
    assert saved["qemu"]["machine"] == "mps2-an386"
    assert "QEMU" in rec["summary"] and "instructions per inference" in rec["summary"]


def test_qemu_is_killed_on_error(qemu_run: runs.Run, tmp_path: Path) -> None:
    other = runs.Run(tmp_path / "other")
    shutil.copytree(qemu_run.export_dir, other.export_dir)
    (other.export_dir / "model_int8.tflite").write_bytes(b"another model")
    ex = json.loads((other.export_dir / "export.json").read_text())
    ex["model_hash"] = runs.model_hash(b"another model")  # exported as such
    (other.export_dir / "export.json").write_text(json.dumps(ex))
    elf = next(qemu_run.firmware_dir("mps2-an386").rglob("*.elf"), None)
    if elf is None:
        elf = Path(firmware.build(firmware.render(qemu_run, mps2()), mps2())["elf"])
    with pytest.raises(EdgekitError, match="device runs model .* flash the firmware from"):
        run_bench(other, mps2(), None, samples=3, progress=False, build_fn=lambda: elf)
    with run_qemu(mps2(), elf) as inst:
        pid = inst.proc.pid
    assert inst.proc.poll() is not None
    ps = subprocess.run(
        ["ps", "-o", "pid=", "-C", "qemu-system-arm"], capture_output=True, text=True
    )
    assert str(pid) not in ps.stdout.split()


def test_crashing_firmware_reports_qemu_output(qemu_run: runs.Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.elf"
    bad.write_bytes(b"not an elf at all")  # QEMU loads it as a raw image; the core locks up
    with pytest.raises(EdgekitError, match="(?s)link lost.*QEMU output:.*Lockup"):
        run_bench(qemu_run, mps2(), None, samples=3, progress=False, build_fn=lambda: bad)
