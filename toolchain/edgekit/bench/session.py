"""One conversation with a device, for the bench and the stream alike: open it (a port, or QEMU
booting the run's firmware), the handshake (sync, name, profile, ek-info), what the firmware can
do (Capabilities, read once), bounded retries, and the commands that move inputs and outputs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import runs
from ..boards import Board
from ..errors import EdgekitError
from ..firmware import read_build_record
from . import layers, protocol, timeouts
from .link import DeviceError, DeviceLink, DeviceReset, LinkError, LinkTimeout
from .protocol import EkInfo, ProtocolError

BuildFn = Callable[[], "Path | str | dict[str, Any]"]

# A sample that hits a reset, a timeout or a mangled reply is redone this many times: line noise
# and a rare brown-out pass within one or two; a deterministic failure still ends the bench.
RETRIES = 3
# More resets than this in one bench is a board problem (power, stack or arena overflow), not noise.
MAX_RESETS = 5
# The largest input `ek-run HEX%` carries: the firmware's command buffer (EK_CMD_MAX, the
# protocol's 1024 bytes) holds "ek-run " and two hex digits per byte.
INLINE_MAX = (protocol.MAX_COMMAND - len("ek-run ")) // 2
# The longest reply a model's outputs make: m-ek-run/m-ek-out carry 2 hex digits per output byte,
# m-results up to ~12 characters per output ("-1234.567,"); plus the reply's own words.
REPLY_CHARS_PER_OUTPUT = 16
REPLY_OVERHEAD = 256


@dataclass(frozen=True)
class Expect:
    """What the device must run: the model the host reference was computed from."""

    model_hash: str
    n_in: int  # input bytes
    n_out: int  # output bytes
    model: str  # the .tflite, for messages
    fw_hint: str  # where the firmware for this model is
    rebuild_hint: str = ""  # the command that rebuilds it


@dataclass(frozen=True)
class Capabilities:
    """What the firmware offers (README, Serial protocol), declared once after the handshake."""

    ek: bool  # edgekit's ek- commands: raw int8 outputs, ticks, the model hash
    inline_max: int  # the largest input `ek-run` carries in one command frame (0: no ek-run)
    load_max: int  # the largest `db load N`: the firmware's input buffer holds one model input
    rx_file: bool  # host bytes through a semihosting FIFO (ek-rx-file: the QEMU port)
    step_ops: bool  # ek-profile / ek-layer: a runtime that runs one op at a time (edgekit-rt)

    def input_command(self, n: int) -> str:
        """How an input of n bytes reaches the device: 'ek-run' when it fits one command frame,
        else 'db' (EEMBC's chunked load, as the MLPerf Tiny runner sends inputs)."""
        if n > self.load_max:
            raise EdgekitError(
                f"the model's input is {n:,} bytes; the device's input buffer takes "
                f"{self.load_max:,} (db load N)"
            )
        return "ek-run" if self.ek and n <= self.inline_max else "db"


def _looks_like_hash(v: str | None) -> bool:
    return v is not None and len(v) == 16 and all(c in "0123456789abcdef" for c in v)


class Session:
    """A device conversation with bounded retries: a command that hits a reset or a timeout is
    re-synchronised and redone, at most `retries` times each and `max_resets` resets in all."""

    def __init__(
        self,
        link: DeviceLink,
        expect: Expect,
        tmo: timeouts.BoardTimeouts,
        retries: int = RETRIES,
        max_resets: int = MAX_RESETS,
    ):
        self.link, self.expect, self.tmo = link, expect, tmo
        longest = REPLY_CHARS_PER_OUTPUT * expect.n_out + REPLY_OVERHEAD
        link.max_line = max(link.max_line, longest)
        self.retries, self.max_resets = retries, max_resets
        self.cmd_timeout = tmo.first_inference_s  # until one inference has been timed
        self.info: EkInfo | None = None
        self.name = ""
        self.profile = ""
        self.model_unchecked: str | None = None  # plain EEMBC device: what m-model-[...] said
        self.retried: list[dict[str, Any]] = []
        self.caps = Capabilities(False, 0, expect.n_in, False, False)

    # handshake ----------------------------------------------------------------------------

    def start(self, boot_timeout: float, rx_file: bool = True) -> Capabilities:
        """Boot banner (if any), sync, identify; then host bytes through the FIFO where the
        link has one and the firmware reads it (QEMU: its UART takes one byte per event)."""
        try:  # a board that resets on open (DTR) prints its banner now; silence is fine too
            self.link.wait_ready(boot_timeout)
        except LinkTimeout:
            pass
        self.link.sync()
        self.identify()
        if rx_file and self.caps.ek and self.link.use_rx_fifo():
            self.caps = Capabilities(**{**vars(self.caps), "rx_file": True})
        return self.caps

    def identify(self) -> None:
        """name, profile and ek-info: the device must run the expected model."""
        self.name = self.link.expect("name", "name").value
        replies = self.link.command("profile", check=False)
        self.profile = next((r.value for r in replies if r.kind == "profile"), "")
        prof_hash = next((r.value for r in replies if r.kind == "model"), None)
        try:
            self.info = protocol.parse_ek_info(self.link.expect("ek-info", "ek_info"))
        except DeviceError as e:
            if not e.device_message.lower().startswith("unknown command"):
                raise EdgekitError(
                    f"{self.link.url}: the firmware cannot run its model "
                    f"({e.device_message}); re-export and flash the firmware from "
                    f"{self.expect.fw_hint}"
                ) from None
            self.info = None  # MLPerf Tiny firmware without the ek- extensions
        self._check_model(self.info.hash if self.info else prof_hash)
        self.caps = self._capabilities()

    def _check_model(self, dev_hash: str | None) -> None:
        x = self.expect
        if self.info is None and not _looks_like_hash(dev_hash):
            # plain EEMBC firmware names its model (m-model-[ic01]) instead of hashing it: the
            # model cannot be identified, so the bench checks the output size and says so
            self.model_unchecked = dev_hash or "(none)"
            return
        if dev_hash != x.model_hash:
            raise EdgekitError(
                f"device runs model {dev_hash}, this run exported {x.model_hash} "
                f"({x.model}): flash the firmware from {x.fw_hint}"
                + (f" (rebuild it first: {x.rebuild_hint})" if x.rebuild_hint else "")
            )
        if self.info is not None and (self.info.inputs, self.info.outputs) != (x.n_in, x.n_out):
            raise EdgekitError(
                f"device model takes {self.info.inputs} input / {self.info.outputs} output "
                f"bytes, the reference has {x.n_in} / {x.n_out}: re-export and flash the "
                f"firmware from {x.fw_hint}"
            )

    def _capabilities(self) -> Capabilities:
        if self.info is None:
            return Capabilities(False, 0, self.expect.n_in, False, False)
        return Capabilities(
            ek=True,
            inline_max=INLINE_MAX,
            load_max=self.info.inputs,
            rx_file=self.link.via_rx_fifo,
            step_ops=self.info.runtime == "edgekit-rt",
        )

    # retries ------------------------------------------------------------------------------

    def retry(self, what: str, fn: Callable[[], Any]) -> Any:
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except DeviceReset as e:
                last, after_reset = e, True
                self.retried.append({"what": what, "why": "reset", "attempt": attempt})
                if self.link.stats.resets > self.max_resets:
                    raise EdgekitError(
                        f"the device reset {self.link.stats.resets} times during the "
                        f"bench (last during {what}); check its power supply and "
                        "cable, and for stack or arena overflow in the firmware"
                    ) from e
            except (LinkTimeout, ProtocolError, DeviceError) as e:
                # a well-formed command answered e-[...] or a mangled reply: noise on the line
                # is the likely cause, so redo it (a deterministic failure still ends below)
                last, after_reset = e, False
                self.retried.append({"what": what, "why": type(e).__name__, "attempt": attempt})
            except LinkError as e:  # the link itself is gone (unplugged, emulator exited)
                raise LinkError(f"{what}: {e}") from None
            try:
                self._recover(after_reset)
            except LinkError as e:
                raise LinkError(
                    f"{what}: the device stopped answering ({last}); then {e}"
                ) from None
        raise EdgekitError(f"{what}: failed {self.retries + 1} times; last error: {last}")

    def _recover(self, after_reset: bool) -> None:
        fifo = self.link.via_rx_fifo
        if after_reset:
            self.link.use_serial()  # the rebooted firmware reads its UART again
            try:
                self.link.wait_ready(self.tmo.reboot_s)  # the rebooted firmware's init
            except LinkTimeout:
                pass
        self.link.sync()
        if after_reset:
            self.identify()  # the same model must come back after a reset
            if fifo:
                self.link.use_rx_fifo()

    # inputs, inferences, outputs ------------------------------------------------------------

    def _timed(self, wall: float) -> None:
        self.cmd_timeout = timeouts.command_timeout(wall)

    def ek_run(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """One inference on an input that fits one command: (int8 output, ticks)."""
        t = time.monotonic()
        r = self.link.expect(protocol.cmd_ek_run(x), "ek_run", timeout=self.cmd_timeout)
        res = protocol.parse_ek_run(r, self.expect.n_out)
        self._timed(time.monotonic() - t)
        return res.output, res.ticks

    def db_load(self, x: np.ndarray) -> None:
        """The input into the device's buffer in `db HEX` chunks that fit the command frame."""
        data = np.ascontiguousarray(x, dtype=np.int8).tobytes()
        self.link.expect(protocol.cmd_db_load(len(data)), "load_expecting")
        chunks = protocol.cmds_db_data(data)
        for i, c in enumerate(chunks):
            replies = self.link.command(c)
            if i == len(chunks) - 1 and not any(r.kind == "load_done" for r in replies):
                raise ProtocolError(f"db: no m-load-done after {len(data)} bytes")

    def infer(self, n: int, warmup: int) -> tuple[float, list[float] | None]:
        """`infer N W` on the loaded input: (µs per inference from m-lap-us, m-results)."""
        t = time.monotonic()
        replies = self.link.command(
            protocol.cmd_infer(n, warmup),
            timeout=self.cmd_timeout * (n + warmup) + timeouts.TRANSFER_SLACK_S,
        )
        self._timed((time.monotonic() - t) / max(1, n + warmup))
        laps = [protocol.parse_lap_us(r) for r in replies if r.kind == "lap_us"]
        if len(laps) != 2:
            raise ProtocolError(f"infer {n} {warmup}: expected 2 m-lap-us lines, got {len(laps)}")
        res = [protocol.parse_results(r) for r in replies if r.kind == "results"]
        return (laps[1] - laps[0]) / n, (res[-1] if res else None)

    def out_and_ticks(self) -> tuple[np.ndarray, int, int]:
        """The last run's raw int8 output, its ticks and how many inferences they cover."""
        out = protocol.parse_ek_out(self.link.expect("ek-out", "ek_out"), self.expect.n_out)
        ticks, n = protocol.parse_ek_ticks(self.link.expect("ek-ticks", "ek_ticks"))
        return out, ticks, n

    def db_run(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """One inference on an input of any size: db load, infer 1 0, ek-out, ek-ticks."""
        self.db_load(x)
        self.infer(1, 0)
        out, ticks, n = self.out_and_ticks()
        return out, ticks // max(1, n)

    def plain_run(self, x: np.ndarray, n: int = 1, warmup: int = 0) -> tuple[np.ndarray, float]:
        """Plain EEMBC: db load + infer N W: (m-results vector, µs per inference)."""
        self.db_load(x)
        us, res = self.infer(n, warmup)
        if res is None:
            raise ProtocolError(f"infer {n} {warmup}: no m-results line")
        if len(res) != self.expect.n_out:
            raise EdgekitError(
                f"{self.link.url}: m-results has {len(res)} values, the exported "
                f"model has {self.expect.n_out} outputs: the device runs another model"
            )
        return np.asarray(res, dtype=np.float64), us

    def lap(self, x: np.ndarray, n: int, warmup: int) -> dict[str, Any]:
        """MLPerf-style timing on x: infer N W, (t1 - t0) / N from the m-lap-us lines (and the
        ticks and raw output of the same runs on edgekit firmware)."""
        if not self.caps.ek:
            _, us = self.plain_run(x, n, warmup)
            return {"us_per_inference": us, "ticks_per_inference": None, "output": None}
        self.db_load(x)
        us, _ = self.infer(n, warmup)
        out, ticks, tn = self.out_and_ticks()
        return {"us_per_inference": us, "ticks_per_inference": ticks / max(1, tn), "output": out}

    # per-op views (ek-profile, ek-layer) ------------------------------------------------------

    def ek_profile(self, x: np.ndarray) -> tuple[list[layers.OpProfile], layers.ProfileTotals]:
        """Per-op ticks of one inference on x (the firmware runs the ops one at a time)."""
        self.db_load(x)
        replies = self.link.command(
            "ek-profile",
            timeout=self.cmd_timeout * timeouts.PROFILE_INFERENCES + timeouts.PROFILE_SLACK_S,
        )
        ops = [
            layers.OpProfile(*protocol.parse_ek_profile_op(r))
            for r in replies
            if r.kind == "ek_profile_op"
        ]
        tot = [protocol.parse_ek_profile(r) for r in replies if r.kind == "ek_profile"]
        if (
            len(tot) != 1
            or tot[0][0] != len(ops)
            or [o.index for o in ops] != list(range(len(ops)))
        ):
            raise ProtocolError(
                f"ek-profile: expected ops 0..N-1 then one m-ek-profile-ops line, "
                f"got {len(ops)} op lines and {len(tot)} totals"
            )
        return ops, layers.ProfileTotals(*tot[0])

    def ek_layers(self, x: np.ndarray, n_ops: int) -> list[np.ndarray]:
        """Output tensor of every op on input x (ek-layer I OFF, chunk by chunk)."""
        self.db_load(x)
        return [self._ek_layer(i) for i in range(n_ops)]

    def _ek_layer(self, i: int) -> np.ndarray:
        parts: list[np.ndarray] = []
        off, total = 0, None
        while total is None or off < total:
            r = self.link.expect(
                protocol.cmd_ek_layer(i, off),
                "ek_layer",
                timeout=self.cmd_timeout + timeouts.TRANSFER_SLACK_S,
            )
            op, at, total, chunk = protocol.parse_ek_layer(r)
            if op != i or at != off:
                raise ProtocolError(f"ek-layer {i} {off}: device answered op {op} at {at}")
            if chunk.size == 0:
                break
            parts.append(chunk)
            off += chunk.size
        return np.concatenate(parts) if parts else np.zeros(0, np.int8)


# ------------------------------------------------------------------------ connection


def _elf_from(built: Path | str | dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    if isinstance(built, dict):
        if "elf" not in built:
            raise EdgekitError(f"firmware build returned no 'elf' path ({sorted(built)})")
        return Path(built["elf"]), built
    return Path(built), {}


def _built_elf(run: runs.Run, board: Board, fw_name: str) -> tuple[Path, dict[str, Any]]:
    """The ELF and build record build() left in <run>/firmware/<fw_name>/build.json."""
    fw_dir = run.firmware_dir(fw_name)
    rec = read_build_record(fw_dir)
    if rec is None or not rec.get("elf"):
        raise EdgekitError(
            f"{fw_dir}: no firmware build record ({fw_dir / 'build.json'}); build "
            f"it with `edgekit export --board {board.name} --build`"
        )
    return Path(rec["elf"]), rec


@contextlib.contextmanager
def open_device(
    run: runs.Run,
    board: Board,
    port: str | None,
    baud: int | None,
    build_fn: BuildFn | None,
    build_info: dict[str, Any],
    fw_name: str | None = None,
) -> Iterator[tuple[DeviceLink, str]]:
    """Yield (link, where) for a real port, or for QEMU booting the run's firmware (build_fn's,
    else the one built in <run>/firmware/<fw_name or board>/)."""
    baud = baud or board.baud
    command_s = timeouts.for_board(board).command_s
    if port is not None:
        hint = (
            f"for board {board.name}: --baud {board.baud} is its rate; a board that resets on "
            "open needs a few seconds"
        )
        with DeviceLink(port, baud, timeout=command_s, hint=hint) as link:
            yield link, port
        return
    if not board.emulated:
        raise EdgekitError(
            f"--port: board {board.name} is real hardware; give its serial port, "
            "e.g. --port /dev/ttyUSB0 (or any pyserial URL)"
        )
    from .qemu import run_qemu

    elf, info = _elf_from(build_fn()) if build_fn else _built_elf(run, board, fw_name or board.name)
    build_info.update(info)
    with run_qemu(board, elf) as q:
        fifo = str(q.rx_fifo) if q.rx_fifo else None
        try:
            with DeviceLink(
                q.url, baud, timeout=command_s, hint=f"QEMU {q.machine} running {elf}", rx_fifo=fifo
            ) as link:
                yield link, f"qemu:{q.machine}"
        except LinkError as e:
            log = q.log().strip()
            if log:
                raise LinkError(f"{e}\nQEMU output:\n{log}") from None
            raise
