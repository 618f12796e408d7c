"""Helpers for tests/test_bench_*.py: a run directory holding a tiny real int8 model, the real
firmware built for the host port, and a pty that the firmware process sits behind (as a board
sits behind /dev/ttyUSB0), so DeviceLink talks to it through pyserial exactly as to hardware."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import threading
import tty
from pathlib import Path

import numpy as np

from edgekit import firmware, runs
from edgekit.boards import Board, get_board

from firmware_util import LABELS, tflm_outputs, write_export

HOST_BOARD = Board(
    name="host",
    description="POSIX build of the firmware (tests)",
    cpu="host",
    clock_hz=0,
    flash_bytes=1 << 30,
    ram_bytes=1 << 30,
    runtime="edgekit-rt",
    port="host",
    timer="CLOCK_MONOTONIC",
    baud=115200,
    serial="pty",
    runtime_flash_bytes=0,
    runtime_ram_bytes=0,
)


def make_run(root: Path, tflite: bytes, n: int = 40, seed: int = 0) -> runs.Run:
    """An exported run: model files as edgekit export writes them + reference.npz from tflite_micro."""
    run = runs.Run(root)
    facts = write_export(run.export_dir, tflite)
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(n, 8, 24, 1)).astype(np.int8)
    y = tflm_outputs(tflite, x)
    # labels: the host's prediction, a quarter of them changed, so accuracies are not trivially 1
    labels = y.argmax(1).astype(np.int64)
    flip = rng.random(n) < 0.25
    labels[flip] = rng.integers(0, facts["n_out"], flip.sum())
    runs.save_npz(
        run.export_dir / "reference.npz",
        x_int8=x,
        y_int8=y,
        labels=labels,
        label_names=np.array(LABELS[: facts["n_out"]]),
    )
    runs.write_json(run.export_dir / "export.json", export_report(tflite, "host"))
    return run


def export_report(tflite: bytes, board: str, arena: int = 64 * 1024) -> dict:
    """The fields of export.json the bench reads (artifacts.load_export), as the export writes them."""
    from edgekit.export.tflite import inspect_tflite

    info = inspect_tflite(tflite)
    i, o = info.input, info.output
    return {
        "stage": "export",
        "board": board,
        "model_hash": runs.model_hash(tflite),
        "model_bytes": len(tflite),
        "input": {"shape": i.shape, "scale": i.scales[0], "zero_point": i.zero_points[0]},
        "output": {"shape": o.shape, "scale": o.scales[0], "zero_point": o.zero_points[0]},
        "arena": {"ek_arena_size": arena},
    }


def build_for(run: runs.Run, board: Board) -> dict:
    return firmware.build(firmware.render(run, board), board)


def mps2() -> Board:
    return get_board("mps2-an386")


class PtyDevice:
    """The host firmware on the master side of a pty; `path` is the slave, opened by pyserial.
    The test keeps the master open, so killing and restarting the firmware is a board reset
    (the port stays, the new process prints its boot banner)."""

    def __init__(self, exe: str | Path):
        self.exe = str(exe)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe], stdin=self.master, stdout=self.master, stderr=subprocess.DEVNULL
        )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        self.kill()
        self.start()

    def pause(self) -> None:  # a hung board: alive, silent
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.resume()
        self.kill()
        os.close(self.master)
        os.close(self.slave)


class FailingPeer:
    """A board behind a TCP serial server (a socket:// URL) that stops answering mid-run: the real
    host firmware, whose link is cut after it has answered `after` commands starting with `cmd`.
    hang_up: the connection closes (the emulator exited, a cable was pulled); else it stays open
    and silent (the board hung). Bytes pass through unchanged until then."""

    def __init__(self, exe: str | Path, after: int, cmd: str = "ek-run", hang_up: bool = False):
        self.exe, self.after, self.cmd, self.hang_up = str(exe), after, cmd.encode(), hang_up
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.proc: subprocess.Popen | None = None
        self.silent: socket.socket | None = None
        self.cut = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        client, _ = self.server.accept()
        self.proc = subprocess.Popen(
            [self.exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        fw_out = self.proc.stdout.fileno()  # type: ignore[union-attr]
        pending, seen = b"", 0
        while not self.cut.is_set():
            ready, _, _ = select.select([client, fw_out], [], [], 0.1)
            if fw_out in ready:
                data = os.read(fw_out, 65536)
                if not data:
                    break
                client.sendall(data)
            if client in ready:
                data = client.recv(65536)
                if not data:
                    break
                pending += data
                while b"%" in pending:  # forward whole commands, counting the watched one
                    head, pending = pending.split(b"%", 1)
                    if head.strip().startswith(self.cmd):
                        seen += 1
                        if seen > self.after:
                            self._cut(client)
                            return
                    self.proc.stdin.write(head + b"%")  # type: ignore[union-attr]
                    self.proc.stdin.flush()  # type: ignore[union-attr]
        self._cut(client)

    def _cut(self, client: socket.socket) -> None:
        self.cut.set()
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        if self.hang_up:
            client.close()
        else:  # silent: keep the connection open, answer nothing
            self.silent = client

    def close(self) -> None:
        self.cut.set()
        self.thread.join(timeout=5)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.silent is not None:
            self.silent.close()
        self.server.close()
