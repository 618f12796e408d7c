"""DeviceLink and run_bench against the real firmware (host port) behind a pty.

Garbage, cut lines, overlong commands, a hung device, a device reset mid-bench and a device that
runs another model: each must end either in a correct result or in an error that says what to do.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from edgekit import runs
from edgekit.bench import protocol, run_bench
from edgekit.bench.link import DeviceError, DeviceLink, DeviceReset, LinkTimeout
from edgekit.bench.qemu import run_qemu
from edgekit.errors import EdgekitError
from edgekit.export.from_tflite import export_tflite

import rt_models
from bench_util import HOST_BOARD, PtyDevice, build_for, make_run


@pytest.fixture(scope="module")
def host_run(tmp_path_factory: pytest.TempPathFactory, tiny_tflite: bytes) -> tuple[runs.Run, Path]:
    run = make_run(tmp_path_factory.mktemp("bench") / "run", tiny_tflite)
    info = build_for(run, HOST_BOARD)
    return run, Path(info["elf"])


@pytest.fixture()
def device(host_run):
    dev = PtyDevice(host_run[1])
    yield dev
    dev.close()


@pytest.fixture()
def link(device):
    with DeviceLink(device.path, timeout=5.0) as ln:
        ln.sync()  # opening the port flushed the boot banner, as on a board already running
        ln.stats.resyncs = 0
        yield ln


def test_commands_and_replies(link: DeviceLink, host_run) -> None:
    run, _ = host_run
    assert link.expect("name", "name").value == "edgekit-host"
    info = protocol.parse_ek_info(link.expect("ek-info", "ek_info"))
    assert (
        info.hash == (run.export_dir / "model_meta.h").read_text().split('EK_MODEL_HASH "')[1][:16]
    )
    assert (info.inputs, info.tick_unit) == (192, "us")
    with pytest.raises(DeviceError, match="unknown command: frobnicate"):
        link.command("frobnicate")
    assert link.expect("name", "name").value == "edgekit-host"  # still in step after an e-[...]


def test_resync_after_garbage_and_cut_line(link: DeviceLink) -> None:
    # junk without a '%' leaves the firmware holding half a command: sync() must end it
    link.write(b"\x00\xfe\x7fjunk ek-ru")
    link.sync()
    assert link.expect("profile", "model").value
    # a reply cut mid-line (read half of it, as when a port is opened mid-transmission):
    # the next command would otherwise take the stale m-ready as its own
    link.write(protocol.frame("name"))
    time.sleep(0.2)
    assert len(link._ser.read(5)) == 5
    link.sync()
    assert link.expect("name", "name").value == "edgekit-host"
    assert link.stats.resyncs == 2


def test_chunked_db_load_matches_the_reference(link: DeviceLink, host_run) -> None:
    run, _ = host_run
    ref = runs.load_npz(run.export_dir / "reference.npz")
    x, y = ref["x_int8"][3], ref["y_int8"][3]
    link.expect("db load 192", "load_expecting")
    chunks = protocol.cmds_db_data(x, max_command=100)  # as a runner with short lines would
    assert len(chunks) == 4 and all(len(c) <= 100 for c in chunks)
    replies = [link.command(c) for c in chunks]
    assert [r.kind for r in replies[-1]] == ["load_done"] and not any(replies[:-1])
    out = link.command("infer 2 1")
    assert [r.kind for r in out].count("lap_us") == 2 and out[-1].kind == "results"
    assert np.array_equal(protocol.parse_ek_out(link.expect("ek-out", "ek_out"), len(y)), y)
    assert protocol.parse_ek_ticks(link.expect("ek-ticks", "ek_ticks"))[1] == 2


def test_overlong_command_is_rejected_and_link_stays_in_step(link: DeviceLink) -> None:
    link.write(b"db " + b"00" * 1500 + b"%")
    replies = link.read_until_ready(5.0, "long")
    assert [r.value for r in replies if r.is_error] == ["command too long"]
    assert link.expect("name", "name").value == "edgekit-host"


def test_hung_device_times_out_with_advice(device: PtyDevice, link: DeviceLink) -> None:
    device.pause()
    t = time.monotonic()
    with pytest.raises(LinkTimeout) as e:
        link.command("name", timeout=0.5)
    assert time.monotonic() - t < 2.0
    msg = str(e.value)
    assert "no m-ready after 'name' within 0.5 s" in msg
    assert "check the port" in msg and "baud rate" in msg and "firmware is flashed" in msg
    device.resume()
    link.sync()  # the late reply is drained, the link is usable again
    assert link.expect("name", "name").value == "edgekit-host"


def test_reset_mid_command_is_detected(device: PtyDevice, link: DeviceLink) -> None:
    device.restart()  # the new firmware prints m-boot before it reads our command
    with pytest.raises(DeviceReset, match="device reset"):
        link.command("name")
    link.wait_ready(5.0)
    link.sync()
    assert link.expect("name", "name").value == "edgekit-host"
    assert link.stats.resets == 1


def test_run_bench_exact_over_pty(device: PtyDevice, host_run) -> None:
    run, _ = host_run
    rec = run_bench(run, HOST_BOARD, device.path, samples=25, progress=False, latency_samples=2)
    assert rec["exact_match_rate"] == 1.0 and rec["max_abs_diff"] == 0
    assert rec["top1_agreement"] == 1.0
    assert rec["device_accuracy"] == rec["host_accuracy"] < 1.0  # labels were perturbed
    assert rec["samples"] == 25 and rec["device"]["tick_unit"] == "us"
    assert rec["arena_used"] > 0 and rec["latency"]["median_us"] > 0
    assert all(lap["output_matches_ek_run"] for lap in rec["lap_us"]) and len(rec["lap_us"]) == 2
    assert "qemu" not in rec
    on_disk = json.loads((run.bench_dir("host") / "bench.json").read_text())
    assert on_disk["exact_matches"] == 25 and np.array(on_disk["confusion"]).sum() == 25
    assert (run.bench_dir("host") / "bench.png").stat().st_size > 1000
    assert (
        "| exact int8 output match | 25/25 (100.00%) |"
        in (run.bench_dir("host") / "bench.md").read_text()
    )
    assert "exact int8 match 25/25" in rec["summary"]


def test_run_bench_db_path(device: PtyDevice, host_run) -> None:
    run, _ = host_run
    rec = run_bench(
        run,
        HOST_BOARD,
        device.path,
        samples=10,
        progress=False,
        mode="db",
        latency_samples=1,
        write=False,
    )
    assert rec["exact_match_rate"] == 1.0 and rec["mode"] == "db"


def test_run_bench_redoes_a_sample_after_a_reset(device: PtyDevice, host_run) -> None:
    run, _ = host_run
    rec = run_bench(
        run,
        HOST_BOARD,
        device.path,
        samples=12,
        progress=False,
        latency_samples=0,
        write=False,
        on_sample=lambda j: device.restart() if j in (3, 7) else None,
    )
    assert rec["link"]["resets"] == 2
    assert [r["why"] for r in rec["link"]["retried"]] == ["reset", "reset"]
    assert rec["exact_match_rate"] == 1.0 and rec["samples"] == 12


def test_boot_loop_gives_up_with_advice(device: PtyDevice, host_run) -> None:
    run, _ = host_run
    with pytest.raises(EdgekitError, match="reset 3 times.*power supply"):
        run_bench(
            run,
            HOST_BOARD,
            device.path,
            samples=10,
            progress=False,
            write=False,
            max_resets=2,
            on_sample=lambda j: device.restart() if j >= 2 else None,
        )


def test_hash_mismatch_names_both_models_and_the_fix(
    device: PtyDevice, host_run, tmp_path: Path
) -> None:
    run, _ = host_run
    other = runs.Run(tmp_path / "other")
    shutil.copytree(run.export_dir, other.export_dir)
    tfl = other.export_dir / "model_int8.tflite"
    tfl.write_bytes(tfl.read_bytes() + b"\0")  # a different model file -> another hash
    ex = json.loads((other.export_dir / "export.json").read_text())
    ex["model_hash"] = runs.model_hash(tfl.read_bytes())  # exported as such
    (other.export_dir / "export.json").write_text(json.dumps(ex))
    with pytest.raises(EdgekitError) as e:
        run_bench(other, HOST_BOARD, device.path, samples=5, progress=False)
    msg = str(e.value)
    dev_hash = (run.export_dir / "model_meta.h").read_text().split('EK_MODEL_HASH "')[1][:16]
    assert f"device runs model {dev_hash}, this run exported " in msg
    assert f"flash the firmware from {other.firmware_dir('host')}" in msg
    assert not other.bench_dir("host").exists()  # nothing half-written


def test_no_port_and_no_device(tmp_path: Path, host_run) -> None:
    run, _ = host_run
    with pytest.raises(EdgekitError, match="--port: board host is real hardware"):
        run_bench(run, HOST_BOARD, None, samples=5, progress=False)
    with pytest.raises(EdgekitError, match="cannot open"):
        run_bench(run, HOST_BOARD, str(tmp_path / "ttyNOPE"), samples=5, progress=False)
    with pytest.raises(EdgekitError, match="reference.npz: no host reference"):
        run_bench(runs.Run(tmp_path / "empty"), HOST_BOARD, "loop://", samples=5, progress=False)


def test_silent_port_gives_advice() -> None:
    with DeviceLink("loop://") as ln:  # loop:// echoes our own bytes: never an m-ready
        t = time.monotonic()
        with pytest.raises(EdgekitError, match="cannot get in step.*check the port \\(loop://\\)"):
            ln.sync(attempts=2, timeout=0.3)
        assert time.monotonic() - t < 6.0


def test_qemu_missing_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bench_util import mps2

    elf = tmp_path / "fw.elf"
    elf.write_bytes(b"\x7fELF")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        EdgekitError, match="qemu-system-arm not found.*Debian package qemu-system-arm"
    ):
        with run_qemu(mps2(), elf):
            pass


def test_run_bench_sends_an_input_beyond_one_command_by_db_load(tmp_path: Path) -> None:
    """A 1,200-byte input (2,400 hex digits) cannot travel in one 1024-byte ek-run command: the
    harness loads it in db chunks (issue 24), and the output is still tflite_micro's, byte for
    byte. The real export of a foreign .tflite, the real host firmware behind a pty."""
    spec = rt_models.ModelSpec(
        "in1200",
        "convhead",
        1503,
        dict(h=20, w=20, cin=3, cout=4, k=3, s=2, units=6, wstd=0.3, range=(-1.0, 1.0)),
    )
    run = runs.Run(tmp_path / "run")
    export_tflite(run, HOST_BOARD, rt_models.build(spec, rt_models.cache_dir()), n=6, seed=1)
    dev = PtyDevice(build_for(run, HOST_BOARD)["elf"])
    try:
        rec = run_bench(run, HOST_BOARD, dev.path, samples=6, progress=False, write=False)
        with pytest.raises(EdgekitError, match="input of 1,200 bytes does not fit one command"):
            run_bench(run, HOST_BOARD, dev.path, samples=1, progress=False, mode="ek-run")
    finally:
        dev.close()
    assert (
        rec["input"] == {"bytes": 1200, "command": "db", "link": "serial"} and rec["mode"] == "db"
    )
    assert rec["exact_match_rate"] == 1.0 and rec["samples"] == 6
    assert all(lap["output_matches_ek_run"] for lap in rec["lap_us"])
