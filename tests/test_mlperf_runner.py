"""MLPerf Tiny / EEMBC interoperability, both ways.

1. edgekit firmware (mps2-an386 in QEMU, on a pseudo-terminal) driven by a client that frames and
   parses exactly as the MLPerf Tiny runner does (mlcommons/tiny benchmark/runner: serial_device.py
   splits on '\\n' and drops '\\r'; device_under_test.py and script.py match the regular
   expressions copied below; db data goes in 31-byte chunks as DUT.load sends it).
2. edgekit's harness driving a device that speaks only the EEMBC framework's commands, with the
   replies internally_implemented.cpp prints (m-name-dut-[...], m-[Expecting N bytes],
   m-warmup-start-N, bare m-lap-us-N, m-results-[%0.3f,...], e-[Unknown command: ...]): the fake
   device below computes its outputs with the real tflite_micro interpreter.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import threading
import time
import tty
from pathlib import Path

import numpy as np
import pytest
import serial

from edgekit import firmware
from edgekit.bench import run_bench
from edgekit.boards import get_board
from edgekit.runs import Run

import firmware_util as fu
from bench_util import HOST_BOARD, make_run

# The runner's regular expressions, verbatim (device_under_test.py, script.py).
RX_NAME = r"^m-(name)-dut-\[([^]]+)]$"
RX_PROFILE = r"^m-(model|profile)-\[([^]]+)]$"
RX_RESULTS = r"^m-results-\[([^]]+)\]$"
RX_LAP = r"^m-lap-us-([0-9]+)$"
RUNNER_DB_BYTES = 31  # DUT._max_bytes without a power manager


class RunnerSerial:
    """serial_device.SerialDevice's behaviour: a reader thread that splits on '\\n' and drops
    '\\r' and NUL; a command is the text, then the '%' delimiter; a response is every line up to
    and including the first one containing 'm-ready'."""

    def __init__(self, path: str, baud: int = 115200, timeout: float = 30.0):
        self.port = serial.Serial(path, baud, timeout=0.1)
        self.lines: queue.Queue[str] = queue.Queue()
        self.timeout = timeout
        self.running = True
        self.thread = threading.Thread(target=self._read_loop, daemon=True)
        self.thread.start()

    def _read_loop(self) -> None:
        msg = ""
        while self.running:
            ch = self.port.read(1).decode(errors="replace")
            if ch and ch not in "\n\r\0":
                msg += ch
            elif ch == "\n":
                self.lines.put(msg)
                msg = ""

    def send_command(self, command: str) -> list[str]:
        self.port.write(command.encode())
        self.port.write(b"%")
        out = []
        while True:
            try:
                line = self.lines.get(timeout=self.timeout)
            except queue.Empty:
                raise AssertionError(f"no response to {command[:40]!r} (got {out})") from None
            if line:
                out.append(line)
            if "m-ready" in line:
                return out

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.port.close()


def runner_name(dev: RunnerSerial) -> str | None:
    for line in dev.send_command("name"):
        m = re.match(RX_NAME, line)
        if m:
            return m.group(2)
    return None


def runner_profile(dev: RunnerSerial) -> dict[str, str]:
    got = {}
    for line in dev.send_command("profile"):
        m = re.match(RX_PROFILE, line)
        if m:
            got[m.group(1)] = m.group(2)
    return got


def runner_load(dev: RunnerSerial, data: bytes) -> list[str]:
    dev.send_command(f"db load {len(data)}")
    res: list[str] = []
    for i in range(0, len(data), RUNNER_DB_BYTES):
        res = dev.send_command("db " + "".join(f"{d:02x}" for d in data[i : i + RUNNER_DB_BYTES]))
    return res


def runner_infer(dev: RunnerSerial, n: int, warmups: int) -> dict:
    """script._ScriptInferStep._gather_infer_results, re-stated."""
    result: dict = {}
    for res in dev.send_command(f"infer {n} {warmups}"):
        m = re.match(RX_RESULTS, res)
        if m:
            result["results"] = [float(x) for x in m.group(1).split(",") if x.strip()]
            continue
        m = re.match(RX_LAP, res)
        if m:
            result["end_time" if "start_time" in result else "start_time"] = int(m.group(1))
    if "start_time" in result and "end_time" in result:
        result["elapsed_time"] = result["end_time"] - result["start_time"]
    return result


def dequantize_3dp(y: np.ndarray, scale: float, zp: int) -> np.ndarray:
    return np.round((y.astype(np.float64) - zp) * scale, 3)


# ------------------------------------------------------------------ 1. runner -> edgekit firmware


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm (make sysdeps)",
)
def test_mlperf_runner_client_drives_the_firmware_in_qemu(tmp_path_factory) -> None:
    run = Run(fu.tiny_export(tmp_path_factory.getbasetemp()))
    board = get_board("mps2-an386")
    info = firmware.build(firmware.render(run, board), board)
    tflite = (run.export_dir / "model_int8.tflite").read_bytes()
    facts = fu.write_export(tmp_path_factory.mktemp("facts") / "export", tflite)
    x = fu.random_inputs(3, seed=5)
    ref = fu.tflm_outputs(tflite, x)

    qemu = subprocess.Popen(
        [
            "qemu-system-arm",
            "-M",
            board.qemu_machine,
            "-icount",
            "shift=0",
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "pty",
            "-kernel",
            info["elf"],
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    dev = None
    try:
        # "char device redirected to /dev/pts/N (label serial0)"
        m = None
        deadline = time.monotonic() + 15
        while m is None and time.monotonic() < deadline:
            m = re.search(r"redirected to (/dev/pts/\d+)", qemu.stdout.readline())
        assert m, "QEMU did not report its pty"
        dev = RunnerSerial(m.group(1))
        # the runner meets a board that booted long ago: let the boot banner pass first
        boot = [dev.lines.get(timeout=30)]
        while "m-ready" not in boot[-1]:
            boot.append(dev.lines.get(timeout=30))
        assert boot[0] == "m-boot-[edgekit]", boot
        assert runner_name(dev) == "edgekit-mps2-an386"
        prof = runner_profile(dev)
        assert prof["model"] == info["model_hash"] and prof["profile"].startswith("edgekit ")
        for xi, yi in zip(x, ref, strict=True):
            assert runner_load(dev, xi.tobytes())[-2:] == ["m-load-done", "m-ready"]
            r = runner_infer(dev, 4, 1)
            assert r["elapsed_time"] > 0, r  # the runner's "Incomplete time data" if not
            want = dequantize_3dp(yi, facts["out_scale"], facts["out_zp"])
            np.testing.assert_allclose(r["results"], want, atol=1.5e-3)
            assert int(np.argmax(r["results"])) == int(np.argmax(yi))
    finally:
        if dev is not None:
            dev.close()
        qemu.kill()
        qemu.wait()


# ------------------------------------------------------------------ 2. edgekit harness -> plain EEMBC


class FakeEembcDevice:
    """A device running the EEMBC framework's command loop (internally_implemented.cpp) over a
    real int8 model: replies in the framework's exact shapes, nothing edgekit-specific."""

    def __init__(self, tflite: bytes, model_name: str = "emg01"):
        from tflite_micro.python.tflite_micro import runtime

        self.interp = runtime.Interpreter.from_bytes(tflite)
        det = self.interp.get_output_details(0)
        self.scale, self.zp = (
            det["quantization_parameters"]["scales"][0],
            det["quantization_parameters"]["zero_points"][0],
        )
        self.model_name = model_name
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tty.setraw(self.master)
        self.path = os.ttyname(self.slave)
        self.buf = bytearray()
        self.size = 0
        self.results = "m-results-[]"
        self.commands: list[str] = []
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _say(self, text: str) -> None:
        os.write(self.master, text.encode() + b"\r\n")

    def _timestamp(self) -> None:
        self._say(f"m-lap-us-{time.monotonic_ns() // 1000}")

    def _loop(self) -> None:
        import select

        self._say("m-timestamp-mode-performance")
        self._timestamp()
        self._say("m-init-done")
        self._say("m-ready")
        cmd = b""
        while self.running:
            r, _, _ = select.select([self.master], [], [], 0.1)
            if not r:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            for b in data:
                if b == ord("%"):
                    self._command(cmd.decode(errors="replace"))
                    self._say("m-ready")
                    cmd = b""
                else:
                    cmd += bytes([b])

    def _command(self, cmd: str) -> None:
        self.commands.append(cmd)
        tok = [t for t in cmd.split(" ") if t]  # strtok(p, " ")
        head = tok[0] if tok else ""
        if head == "name":
            self._say("m-name-dut-[fake-eembc]")
        elif head == "timestamp":
            self._timestamp()
        elif head == "profile":
            self._say("m-profile-[ULPMark for tinyML Firmware V0.0.1]")
            self._say(f"m-model-[{self.model_name}]")
        elif head == "db" and len(tok) > 2 and tok[1] == "load":
            self.size, self.buf = int(tok[2]), bytearray()
            self._say(f"m-[Expecting {self.size} bytes]")
        elif head == "db" and len(tok) > 1:
            for i in range(0, len(tok[1]) // 2 * 2, 2):
                self.buf.append(int(tok[1][i : i + 2], 16))
                if len(self.buf) == self.size:
                    self._say("m-load-done")
                    break
        elif head == "infer":
            n = int(tok[1]) if len(tok) > 1 else 1
            w = int(tok[2]) if len(tok) > 2 else 10
            x = np.frombuffer(bytes(self.buf), dtype=np.int8).reshape(1, 8, 24, 1)
            self._say(f"m-warmup-start-{w}")
            for _ in range(w):
                self._invoke(x)
            self._say("m-warmup-done")
            self._say(f"m-infer-start-{n}")
            self._timestamp()
            for _ in range(n):
                y = self._invoke(x)
            self._timestamp()
            self._say("m-infer-done")
            self.results = (
                "m-results-[" + ",".join(f"{(int(v) - self.zp) * self.scale:0.3f}" for v in y) + "]"
            )
            self._say(self.results)
        elif head == "results":
            self._say(self.results)
        else:
            self._say(f"e-[Unknown command: {head}]")

    def _invoke(self, x: np.ndarray) -> np.ndarray:
        self.interp.set_input(x, 0)
        self.interp.invoke()
        return np.array(self.interp.get_output(0)).reshape(-1)

    def close(self) -> None:
        self.running = False
        self.thread.join()
        os.close(self.master)
        os.close(self.slave)


def test_harness_benches_a_plain_eembc_device(tmp_path: Path, tiny_tflite: bytes) -> None:
    run = make_run(tmp_path / "run", tiny_tflite, n=40)
    dev = FakeEembcDevice(tiny_tflite)
    try:
        rec = run_bench(
            run, HOST_BOARD, dev.path, samples=12, progress=False, latency_samples=2, latency_n=3
        )
    finally:
        dev.close()
    # it asked for the ek- extension, was told no, and used only EEMBC commands from then on
    assert "ek-info" in dev.commands
    assert not any(c.startswith("ek-") for c in dev.commands if c != "ek-info")
    assert rec["protocol"] == "eembc" and rec["exact_checked"] is False
    assert rec["exact_matches"] is None and "could not be checked" in rec["exact_unchecked_reason"]
    assert "emg01" in rec["model_unchecked_reason"]
    assert rec["device"]["name"] == "fake-eembc"
    # accuracy from m-results: the fake runs the same model, so it agrees with the host
    assert rec["top1_agreement"] == 1.0
    assert rec["device_accuracy"] == rec["host_accuracy"]
    assert rec["latency"]["median_us"] > 0 and len(rec["lap_us"]) == 2
    assert all(lap["us_per_inference"] > 0 for lap in rec["lap_us"])
    assert "exact int8 match not checked" in rec["summary"]
    assert "could not be checked" in Path(rec["files"]["md"]).read_text()


def test_harness_refuses_a_plain_device_with_another_model(
    tmp_path: Path, tiny_tflite: bytes
) -> None:
    from edgekit.errors import EdgekitError

    run = make_run(tmp_path / "run", tiny_tflite, n=10)
    # a plain device whose m-model-[...] is a model hash is held to it, like edgekit firmware
    dev = FakeEembcDevice(tiny_tflite, model_name="0123456789abcdef")
    try:
        with pytest.raises(EdgekitError, match="device runs model 0123456789abcdef"):
            run_bench(run, HOST_BOARD, dev.path, samples=4, progress=False, write=False)
    finally:
        dev.close()
