"""The EEMBC / MLPerf Tiny runner serial protocol (+ edgekit's ek-* extensions): pure functions.

Framing: a command is ASCII ending in '%' (at most MAX_COMMAND bytes before it); every reply is one
line ending "\\r\\n" that starts "m-" (message) or "e-[" (error); every command ends with "m-ready".
Nothing here touches a port, so all of it is unit-testable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import EdgekitError

MAX_COMMAND = 1024  # bytes before the '%' the firmware accepts

# Kinds of reply line, most specific first. Each pattern must match from the reply's start to the
# end of the line; a line may carry garbage before the reply (a partial line, a reset's noise).
# Where EEMBC's framework (internally_implemented.cpp, as in mlcommons/tiny) prints a different
# shape than edgekit firmware before 0.2 did, both are accepted: the EEMBC form first.
_PATTERNS: list[tuple[str, str]] = [
    ("ready", r"m-ready"),
    ("boot", r"m-boot-\[(?P<v>[^\]]*)\]"),
    ("lap_us", r"m-lap-us-(?P<v>\d+)"),  # EEMBC th_timestamp(): bare
    ("lap_us", r"m-lap-us-\[(?P<v>-?\d+)\]"),  # older edgekit firmware
    ("results", r"m-results-\[(?P<v>[^\]]*)\]"),
    ("ek_info", r"m-ek-info-(?P<v>(?:[a-z]+\[[^\]]*\]-?)+)"),
    ("ek_out", r"m-ek-out-\[(?P<v>[0-9a-fA-F]*)\]"),
    ("ek_run", r"m-ek-run-\[(?P<v>[0-9a-fA-F]*)\]-ticks\[(?P<t>\d+)\]"),
    ("ek_ticks", r"m-ek-ticks-\[(?P<v>\d+)\]-n\[(?P<t>\d+)\]"),
    ("ek_profile_op", r"m-ek-profile-op\[(?P<v>\d+)\]-(?P<t>(?:[a-z]+\[[^\]]*\]-?)+)"),
    ("ek_profile", r"m-ek-profile-(?P<v>ops\[\d+\](?:-[a-z]+\[[^\]]*\])+)"),
    ("ek_layer", r"m-ek-layer-\[(?P<v>\d+)\]-(?P<t>at\[\d+\]-of\[\d+\]-\[[0-9a-fA-F]*\])"),
    # before "error": these end in "e-[...]", which would otherwise read as an error reply
    ("ek_stream_vote", r"m-ek-stream-vote-\[(?P<v>\d+)\]"),
    ("ek_rx_file", r"m-ek-rx-file-\[(?P<v>[^\]]*)\]"),
    (
        "name",
        r"m-name-(?:[A-Za-z0-9_]+-)?\[(?P<v>[^\]]*)\]",
    ),  # EEMBC m-name-dut-[x]; older m-name-[x]
    ("profile", r"m-profile-\[(?P<v>[^\]]*)\]"),
    ("model", r"m-model-\[(?P<v>[^\]]*)\]"),
    ("load_expecting", r"m-\[Expecting (?P<v>\d+) bytes\]"),  # EEMBC db load
    ("load_expecting", r"m-load-expecting-\[(?P<v>\d+)\]"),  # edgekit db load
    ("load_done", r"m-load-done"),
    ("warmup_start", r"m-warmup-start-\[?(?P<v>\d+)\]?"),  # EEMBC prints the count bare
    ("warmup_done", r"m-warmup-done"),
    ("infer_start", r"m-infer-start-\[?(?P<v>\d+)\]?"),
    ("infer_done", r"m-infer-done"),
    ("error", r"e-\[(?P<v>.*)\]"),
    ("other", r"m-[A-Za-z0-9][^\s]*"),  # an m- line we do not interpret (other MLPerf firmware)
]
_COMPILED = [(k, re.compile(p + r"\Z")) for k, p in _PATTERNS]


class ProtocolError(EdgekitError):
    """A reply that does not follow the protocol (wrong shape, bad hex, wrong length)."""


@dataclass(frozen=True)
class Reply:
    kind: str  # one of the kinds in _PATTERNS, or "garbage" (no reply in the line)
    text: str  # the reply itself, from "m-"/"e-[" to the end of the line
    value: str = ""  # payload of the first [...] ("" when none)
    extra: str = ""  # second payload (ticks of ek-run, n of ek-ticks)
    garbage: str = ""  # bytes before the reply on the same line

    @property
    def is_error(self) -> bool:
        return self.kind == "error"


@dataclass(frozen=True)
class EkInfo:
    runtime: str
    hash: str
    arena: int
    used: int
    inputs: int
    outputs: int
    tick_unit: str
    tick_hz: int


@dataclass(frozen=True)
class EkRun:
    output: np.ndarray  # int8 (C,)
    ticks: int


def parse_line(line: str) -> Reply:
    """Parse one received line (without its line ending). Garbage before a reply is tolerated:
    the earliest position where a complete, known reply runs to the end of the line wins."""
    line = line.rstrip("\r\n")
    # every 'm-'/'e-[' position, overlapping ones included ("m-m-ready" after a cut line)
    # Known kinds first at every start, then the catch-all, so "xm-m-ready" is m-ready, not "other".
    starts = [i for i in range(len(line)) if line.startswith(("m-", "e-["), i)]
    for patterns in (_COMPILED[:-1], _COMPILED[-1:]):
        for i in starts:
            tail = line[i:]
            for kind, rx in patterns:
                m = rx.match(tail)
                if m:
                    gd = m.groupdict()
                    return Reply(kind, tail, gd.get("v") or "", gd.get("t") or "", line[:i])
    return Reply("garbage", "", garbage=line)


# ---------------------------------------------------------------- commands


def frame(cmd: str) -> bytes:
    """The bytes to send for one command: ASCII, no '%' inside, at most MAX_COMMAND bytes, then '%'."""
    if "%" in cmd:
        raise ValueError(f"command {cmd[:40]!r} contains '%', which ends a command")
    data = cmd.encode("ascii")
    if len(data) > MAX_COMMAND:
        raise ValueError(f"command of {len(data)} bytes exceeds the protocol's {MAX_COMMAND}")
    return data + b"%"


def hex_bytes(data: np.ndarray | bytes) -> str:
    """int8 tensor (any shape) or bytes -> lowercase hex pairs of the raw bytes, row-major."""
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data, dtype=np.int8).tobytes()
    return bytes(data).hex()


def cmd_ek_run(x: np.ndarray) -> str:
    return f"ek-run {hex_bytes(x)}"


def cmd_db_load(n: int) -> str:
    return f"db load {n}"


def cmds_db_data(x: np.ndarray | bytes, max_command: int = MAX_COMMAND) -> list[str]:
    """Split the input into `db HEX` commands that each fit the firmware's command limit
    (the MLPerf runner does the same: a 1024-byte line cannot carry large inputs)."""
    hx = hex_bytes(x)
    per = (max_command - len("db ")) // 2 * 2  # an even number of hex chars per chunk
    return [f"db {hx[i : i + per]}" for i in range(0, len(hx), per)] or ["db "]


def cmd_infer(n: int, warmup: int) -> str:
    return f"infer {n} {warmup}"


# ---------------------------------------------------------------- typed replies


def _need(r: Reply, kind: str) -> Reply:
    if r.kind != kind:
        raise ProtocolError(
            f"expected an m-{kind.replace('_', '-')} reply, got {r.text or r.garbage!r}"
        )
    return r


def decode_int8(hexstr: str, expected: int | None = None, what: str = "output") -> np.ndarray:
    if len(hexstr) % 2:
        raise ProtocolError(f"{what}: odd number of hex digits ({len(hexstr)}) in {hexstr[:40]!r}")
    try:
        arr = np.frombuffer(bytes.fromhex(hexstr), dtype=np.int8).copy()
    except ValueError:
        raise ProtocolError(f"{what}: not hex: {hexstr[:40]!r}") from None
    if expected is not None and arr.size != expected:
        raise ProtocolError(
            f"{what}: device sent {arr.size} bytes, the exported model has {expected}"
        )
    return arr


def parse_ek_run(r: Reply, expected: int | None = None) -> EkRun:
    _need(r, "ek_run")
    return EkRun(decode_int8(r.value, expected), int(r.extra))


def parse_ek_out(r: Reply, expected: int | None = None) -> np.ndarray:
    return decode_int8(_need(r, "ek_out").value, expected)


def parse_ek_ticks(r: Reply) -> tuple[int, int]:
    _need(r, "ek_ticks")
    return int(r.value), int(r.extra)


def parse_lap_us(r: Reply) -> int:
    return int(_need(r, "lap_us").value)


def parse_results(r: Reply) -> list[float]:
    _need(r, "results")
    try:
        return [float(v) for v in r.value.split(",") if v.strip()]
    except ValueError:
        raise ProtocolError(
            f"m-results: not a comma-separated list of numbers: {r.value[:60]!r}"
        ) from None


_FIELD = re.compile(r"([a-z]+)\[([^\]]*)\]")


def parse_ek_info(r: Reply) -> EkInfo:
    _need(r, "ek_info")
    f = dict(_FIELD.findall(r.value))
    need = ("runtime", "hash", "arena", "used", "in", "out", "tick", "hz")
    missing = [k for k in need if k not in f]
    if missing:
        raise ProtocolError(f"m-ek-info: missing field(s) {', '.join(missing)} in {r.text!r}")
    try:
        return EkInfo(
            f["runtime"],
            f["hash"],
            int(f["arena"]),
            int(f["used"]),
            int(f["in"]),
            int(f["out"]),
            f["tick"],
            int(f["hz"]),
        )
    except ValueError:
        raise ProtocolError(f"m-ek-info: a numeric field is not an integer in {r.text!r}") from None


# ---------------------------------------------------------------- per-op replies (ek-profile, ek-layer)


def cmd_ek_layer(op: int, offset: int = 0) -> str:
    return f"ek-layer {op}" + (f" {offset}" if offset else "")


def _fields(r: Reply, text: str, need: tuple[str, ...]) -> dict[str, str]:
    f = dict(_FIELD.findall(text))
    missing = [k for k in need if k not in f]
    if missing:
        raise ProtocolError(f"{r.text[:60]!r}: missing field(s) {', '.join(missing)}")
    return f


def parse_ek_profile_op(r: Reply) -> tuple[int, int, str, int, int, int]:
    """(op index, op code, name, MACs, ticks, output bytes) of one m-ek-profile-op line."""
    _need(r, "ek_profile_op")
    f = _fields(r, r.extra, ("code", "name", "macs", "ticks", "bytes"))
    try:
        return (
            int(r.value),
            int(f["code"]),
            f["name"],
            int(f["macs"]),
            int(f["ticks"]),
            int(f["bytes"]),
        )
    except ValueError:
        raise ProtocolError(
            f"m-ek-profile-op: a numeric field is not an integer in {r.text!r}"
        ) from None


def parse_ek_profile(r: Reply) -> tuple[int, int, int, bool]:
    """(ops, sum of per-op ticks, whole-inference ticks, op-by-op output == whole output)."""
    _need(r, "ek_profile")
    f = _fields(r, r.value, ("ops", "sum", "whole", "same"))
    try:
        return int(f["ops"]), int(f["sum"]), int(f["whole"]), f["same"] == "1"
    except ValueError:
        raise ProtocolError(
            f"m-ek-profile: a numeric field is not an integer in {r.text!r}"
        ) from None


def parse_ek_layer(r: Reply) -> tuple[int, int, int, np.ndarray]:
    """(op index, byte offset, tensor bytes, the chunk as int8) of one m-ek-layer reply."""
    _need(r, "ek_layer")
    m = re.fullmatch(r"at\[(\d+)\]-of\[(\d+)\]-\[([0-9a-fA-F]*)\]", r.extra)
    if m is None:
        raise ProtocolError(f"m-ek-layer: malformed reply {r.text[:60]!r}")
    off, total = int(m.group(1)), int(m.group(2))
    chunk = decode_int8(m.group(3), what=f"ek-layer {r.value}")
    if off + chunk.size > total or (chunk.size == 0 and off < total):
        raise ProtocolError(
            f"m-ek-layer: {chunk.size} bytes at {off} do not fit a {total}-byte tensor"
        )
    return int(r.value), off, total, chunk
