"""Boot a firmware ELF in qemu-system-arm with its UART on a local TCP port (a socket:// URL).

`-icount shift=0` makes every guest instruction take 1 ns of virtual time, so SysTick readings are
deterministic instruction counts (mps2-an386: 25 MHz SysTick -> 1 tick = 40 instructions).
`server=on,wait=on` holds the guest until the harness connects, so the boot banner is never lost.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..boards import QEMU_BINARY, Board
from ..errors import EdgekitError
from .timeouts import QEMU_LISTEN_POLL_S, QEMU_NO_PROC_WAIT_S, QEMU_START_S, QEMU_STOP_S

QEMU = QEMU_BINARY  # the default; a board TOML may name another ([qemu] binary)
# The free port we probed can be taken by another process before QEMU binds it: try again.
PORT_ATTEMPTS = 3


def qemu_binary(name: str = QEMU) -> str:
    exe = shutil.which(name)
    if exe is None:
        pkg = (
            "the Debian package qemu-system-arm (sudo apt-get install qemu-system-arm)"
            if name == QEMU
            else f"the package that provides {name} (the board's [qemu] binary)"
        )
        raise EdgekitError(
            f"{name} not found on PATH: install {pkg}, or bench a real board with --port"
        )
    return exe


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_command(machine: str, elf: Path, port: int, exe: str = QEMU) -> list[str]:
    # semihosting lets a port read host->board bytes from a FIFO (ek-rx-file: DeviceLink.rx_fifo)
    return [
        exe,
        "-M",
        machine,
        "-icount",
        "shift=0",
        "-nographic",
        "-monitor",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        "-serial",
        f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
        "-kernel",
        str(elf),
    ]


@dataclass
class QemuInstance:
    url: str  # socket://127.0.0.1:PORT for DeviceLink
    machine: str
    elf: Path
    proc: subprocess.Popen
    log_path: Path
    rx_fifo: Path | None = None  # a FIFO the firmware may read host->board bytes from

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None


def _wait_listening(proc: subprocess.Popen, port: int, timeout: float) -> bool:
    """True once QEMU accepts on the port; False if it exited first. Probing by connecting would
    take QEMU's single client slot, so look for the listening socket in /proc instead."""
    deadline = time.monotonic() + timeout
    hexport = f":{port:04X}"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
                f = line.split()
                if f[1].endswith(hexport) and f[3] == "0A":  # 0A = LISTEN
                    return True
        except OSError:  # no /proc (not Linux): just give QEMU a moment
            time.sleep(QEMU_NO_PROC_WAIT_S)
            return proc.poll() is None
        time.sleep(QEMU_LISTEN_POLL_S)
    return proc.poll() is None


@contextlib.contextmanager
def run_qemu(
    board: Board, elf: Path, start_timeout: float = QEMU_START_S
) -> Iterator[QemuInstance]:
    """Start QEMU for `board` running `elf`; yield its serial URL; always kill QEMU afterwards."""
    if not board.emulated:
        raise EdgekitError(
            f"board {board.name} has no [qemu] machine in {board.path}; "
            "bench it on hardware with --port"
        )
    elf = Path(elf)
    if not elf.is_file():
        raise EdgekitError(
            f"{elf}: firmware ELF not found; build it with "
            f"`edgekit export --board {board.name} --build`"
        )
    exe = qemu_binary(board.qemu_binary)
    assert board.qemu_machine is not None
    with tempfile.TemporaryDirectory(prefix="edgekit-qemu-") as tmp:
        log_path = Path(tmp) / "qemu.log"
        rx_fifo = Path(tmp) / "rx.fifo"
        os.mkfifo(rx_fifo)
        inst: QemuInstance | None = None
        try:
            for _attempt in range(PORT_ATTEMPTS):
                port = _free_port()
                with open(log_path, "wb") as log:
                    proc = subprocess.Popen(
                        qemu_command(board.qemu_machine, elf, port, exe),
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=log,
                    )
                inst = QemuInstance(
                    f"socket://127.0.0.1:{port}", board.qemu_machine, elf, proc, log_path, rx_fifo
                )
                if _wait_listening(proc, port, start_timeout):
                    break
                text = inst.log()
                _stop(proc)
                if "Address already in use" not in text:
                    raise EdgekitError(
                        f"{board.qemu_binary} -M {board.qemu_machine} failed to "
                        f"start on {elf}: "
                        f"{text.strip() or 'no output'}"
                    )
            else:
                raise EdgekitError(
                    f"{board.qemu_binary}: could not bind a local TCP port for the serial line"
                )
            yield inst
        finally:
            if inst is not None:
                _stop(inst.proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=QEMU_STOP_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
