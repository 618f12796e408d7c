"""DeviceLink: one serial conversation with a board (any pyserial URL), esptool style.

Explicit framing (commands end '%', replies are lines, every command ends with m-ready), a deadline
on every read, resynchronisation after garbage or a cut line, detection of an unexpected reset
(m-boot mid-command), and errors that say what to check next.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import serial

from ..errors import EdgekitError
from . import protocol
from .protocol import Reply
from .timeouts import (
    COMMAND_S,
    DRAIN_LIMIT_S,
    DRAIN_QUIET_S,
    READ_SLICE_S,
    SYNC_SETTLE_LIMIT_S,
    SYNC_SETTLE_QUIET_S,
)

# A reply longer than max_line is noise: drop it (bounded buffer). A session raises the bound to
# fit its model's longest reply (the output in hex, or as m-results numbers).
MAX_LINE = 8192
# sync(): a board that is mid-boot or mid-reply gets this many tries to answer '%' and name%,
# each within the link's command timeout (the board's [timeouts] command_s). Both replies are one
# short line, milliseconds when in step; but QEMU on a loaded host (a sweep runs trials side by
# side) answered after more than 3 s, and a reply that comes after its deadline is drained as
# stale by the next attempt, so a short deadline failed every attempt.
SYNC_ATTEMPTS = 3


class LinkError(EdgekitError):
    """The link failed (closed, timed out, out of step)."""


class LinkTimeout(LinkError):
    pass


class DeviceReset(LinkError):
    """The device printed m-boot while we waited for a reply: it reset under us."""

    def __init__(self, msg: str, replies: list[Reply]):
        super().__init__(msg)
        self.replies = replies


class DeviceError(EdgekitError):
    """The device answered a command with e-[...]."""

    def __init__(self, cmd: str, message: str):
        super().__init__(f"device rejected '{_short(cmd)}': {message}")
        self.cmd = cmd
        self.device_message = message


def _short(cmd: str, n: int = 40) -> str:
    return cmd if len(cmd) <= n else cmd[:n] + f"...({len(cmd)} chars)"


@dataclass
class LinkStats:
    resyncs: int = 0
    resets: int = 0
    timeouts: int = 0
    garbage_lines: int = 0
    dropped_bytes: int = 0


@dataclass
class DeviceLink:
    """A line-oriented conversation over pyserial. Use as a context manager (closes the port)."""

    url: str
    baud: int = 115200
    timeout: float = COMMAND_S  # default seconds to wait for a command's m-ready (board TOML)
    hint: str = ""  # board-specific advice appended to timeout errors
    stats: LinkStats = field(default_factory=LinkStats)
    on_line: Callable[[str], None] | None = None  # transcript hook (debugging)
    rx_fifo: str | None = None  # QEMU: a FIFO the firmware can read our bytes from (use_rx_fifo)
    max_line: int = MAX_LINE  # longest reply line kept (bytes)

    def __post_init__(self) -> None:
        self._rx_fd: int | None = None
        self._buf = bytearray()
        self._recent: collections.deque[str] = collections.deque(maxlen=6)
        try:
            self._ser = serial.serial_for_url(
                self.url, baudrate=self.baud, timeout=READ_SLICE_S, write_timeout=self.timeout
            )
        except (serial.SerialException, ValueError, OSError) as e:
            raise LinkError(
                f"--port {self.url}: cannot open ({e}); check the device path or URL "
                "(e.g. /dev/ttyUSB0, socket://host:port), that the board is plugged "
                "in and that no other program (a serial monitor) holds the port"
            ) from None

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        if self._rx_fd is not None:
            os.close(self._rx_fd)
            self._rx_fd = None
        try:
            self._ser.close()
        except Exception:  # closing a dead link must not hide the real error
            pass

    def __enter__(self) -> DeviceLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _advice(self) -> str:
        seen = (
            "; last lines received: " + " | ".join(repr(s) for s in self._recent)
            if self._recent
            else "; nothing was received"
        )
        return (
            f"check the port ({self.url}), the baud rate ({self.baud}), that the board is "
            f"powered and out of reset, and that the edgekit firmware is flashed"
            f"{'; ' + self.hint if self.hint else ''}{seen}"
        )

    def _read_some(self) -> bytes:
        try:
            n = self._ser.in_waiting
            return self._ser.read(max(1, n))
        except (serial.SerialException, OSError) as e:
            raise LinkError(
                f"--port {self.url}: link lost ({e}); the board was unplugged or the "
                f"emulator exited. {self._advice()}"
            ) from None

    def use_rx_fifo(self) -> bool:
        """Send our bytes through the FIFO from now on if the firmware can read it (the QEMU
        port, by semihosting: the emulated UART moves one byte per emulator event, ~10 KB/s).
        False, and nothing changes, where the link has no FIFO or the port answers that it
        reads the serial line only."""
        if self.rx_fifo is None or self._rx_fd is not None:
            return self._rx_fd is not None
        # O_RDWR: opening a FIFO for writing alone would block until the firmware opens it
        fd = os.open(self.rx_fifo, os.O_RDWR)
        replies = self.command(f"ek-rx-file {self.rx_fifo}", check=False)
        if not any(r.kind == "ek_rx_file" and r.value == "ok" for r in replies):
            os.close(fd)
            return False
        self._rx_fd = fd
        return True

    def use_serial(self) -> None:
        """Send on the serial line again (the firmware reset: it reads its UART, not the FIFO)."""
        if self._rx_fd is not None:
            os.close(self._rx_fd)
            self._rx_fd = None

    @property
    def via_rx_fifo(self) -> bool:
        return self._rx_fd is not None

    def write(self, data: bytes) -> None:
        if self._rx_fd is not None:
            view = memoryview(data)
            while view:  # a blocking FIFO: the firmware drains it as it works
                view = view[os.write(self._rx_fd, view) :]
            return
        try:
            self._ser.write(data)
            self._ser.flush()
        except serial.SerialTimeoutException:
            raise LinkTimeout(
                f"--port {self.url}: write timed out after {self.timeout:g} s "
                f"(flow control?); {self._advice()}"
            ) from None
        except (serial.SerialException, OSError) as e:
            raise LinkError(f"--port {self.url}: write failed ({e}); {self._advice()}") from None

    def readline(self, timeout: float) -> str | None:
        """The next complete line (without \\r\\n), or None if none completes within timeout.
        A partial line stays buffered; an overlong one is dropped."""
        deadline = time.monotonic() + timeout
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                raw = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                line = raw.decode("ascii", errors="replace").rstrip("\r")
                self._recent.append(line[:80])
                if self.on_line:
                    self.on_line(line)
                return line
            if len(self._buf) > self.max_line:
                self.stats.dropped_bytes += len(self._buf)
                self._buf.clear()
            if time.monotonic() >= deadline:
                return None
            self._buf += self._read_some()

    def drain(self, quiet: float = DRAIN_QUIET_S, limit: float = DRAIN_LIMIT_S) -> int:
        """Discard input until the line has been quiet for `quiet` s (at most `limit` s)."""
        n = len(self._buf)
        self._buf.clear()
        end = time.monotonic() + limit
        last = time.monotonic()
        while time.monotonic() < end and time.monotonic() - last < quiet:
            chunk = self._read_some()
            if chunk:
                n += len(chunk)
                last = time.monotonic()
        self.stats.dropped_bytes += n
        return n

    # ------------------------------------------------------------------ protocol

    def read_until_ready(self, timeout: float, what: str, allow_boot: bool = False) -> list[Reply]:
        """Collect reply lines until m-ready. Raises DeviceReset on an m-boot (unless allow_boot)
        and LinkTimeout when m-ready does not come within `timeout` s."""
        deadline = time.monotonic() + timeout
        got: list[Reply] = []
        while True:
            line = self.readline(max(0.0, deadline - time.monotonic()))
            if line is None:
                self.stats.timeouts += 1
                partial = (
                    f" (a partial line {bytes(self._buf[:60])!r} is pending)" if self._buf else ""
                )
                raise LinkTimeout(
                    f"no m-ready after '{what}' within {timeout:g} s{partial}: {self._advice()}"
                )
            if not line.strip():
                continue
            r = protocol.parse_line(line)
            if r.kind == "garbage":
                self.stats.garbage_lines += 1
                continue
            if r.kind == "boot" and not allow_boot:
                self.stats.resets += 1
                raise DeviceReset(
                    f"the device reset (printed {r.text!r}) while answering "
                    f"'{what}'; check power, the reset line (DTR/RTS) and stack/arena "
                    "overflows if this repeats",
                    got + [r],
                )
            if r.kind == "ready":
                return got
            got.append(r)

    def command(self, cmd: str, timeout: float | None = None, check: bool = True) -> list[Reply]:
        """Send `cmd%` and return the reply lines before m-ready. With check, an e-[...] reply
        raises DeviceError (after m-ready has been read, so the link stays in step)."""
        self.write(protocol.frame(cmd))
        replies = self.read_until_ready(self.timeout if timeout is None else timeout, _short(cmd))
        if check:
            for r in replies:
                if r.is_error:
                    raise DeviceError(cmd, r.value)
        return replies

    def expect(self, cmd: str, kind: str, timeout: float | None = None) -> Reply:
        """Send `cmd` and return its (last) reply of `kind`; a missing one is a ProtocolError."""
        replies = self.command(cmd, timeout)
        found = [r for r in replies if r.kind == kind]
        if not found:
            raise protocol.ProtocolError(
                f"'{_short(cmd)}': expected an m-{kind.replace('_', '-')} reply, got "
                f"{[r.text for r in replies]!r}; is this edgekit (or MLPerf Tiny) firmware?"
            )
        return found[-1]

    def wait_ready(self, timeout: float) -> list[Reply]:
        """After a (re)boot: read until the firmware's first m-ready (m-boot allowed)."""
        return self.read_until_ready(timeout, "boot", allow_boot=True)

    def sync(self, attempts: int = SYNC_ATTEMPTS, timeout: float | None = None) -> None:
        """Get back in step: drop pending input, end whatever partial command the device holds
        with a bare '%', wait for its m-ready, then prove alignment with name% -> m-name.
        timeout: per reply, default the link's command timeout."""
        timeout = self.timeout if timeout is None else timeout
        last: Exception | None = None
        for _ in range(attempts):
            self.stats.resyncs += 1
            self.drain()
            try:
                self.write(b"\r\n%")
                self.read_until_ready(timeout, "%", allow_boot=True)
                self.drain(quiet=SYNC_SETTLE_QUIET_S, limit=SYNC_SETTLE_LIMIT_S)
                self.write(protocol.frame("name"))
                replies = self.read_until_ready(timeout, "name", allow_boot=True)
                if any(r.kind == "name" for r in replies):
                    return
                last = LinkError(f"name% answered {[r.text for r in replies]!r}")
            except (LinkTimeout, LinkError) as e:
                last = e
        raise LinkError(
            f"--port {self.url}: cannot get in step with the device after {attempts} "
            f"attempts ({last}); {self._advice()}"
        )
