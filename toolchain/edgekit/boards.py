"""Boards: one TOML per board (cpu, clock, memory budgets, serial, port, runtime, QEMU machine,
timeouts): everything that differs per board. boards/README.md documents every field.

Boards come from the repository's boards/ and from every directory in $EDGEKIT_BOARDS_DIR
(os.pathsep-separated); a board there replaces a repository board of the same name. A board
directory may hold ports of its own under ports/<port>/, found before firmware/ports/<port>/.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .assets import BOARDS_DIR, FIRMWARE_DIR
from .errors import EdgekitError

BOARDS_DIR_ENV = "EDGEKIT_BOARDS_DIR"

QEMU_BINARY = "qemu-system-arm"


@dataclass(frozen=True)
class Timeouts:
    """[timeouts] of a board TOML (and [qemu] boot_s) as given; None where the TOML gives none
    (the defaults, and why they are what they are, are in bench/timeouts.py)."""

    boot_s: float | None = None
    qemu_boot_s: float | None = None
    command_s: float | None = None
    first_inference_s: float | None = None
    reboot_s: float | None = None


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    cpu: str
    clock_hz: int
    flash_bytes: int
    ram_bytes: int
    runtime: str
    port: str
    timer: str
    baud: int
    serial: str
    runtime_flash_bytes: int
    runtime_ram_bytes: int
    qemu_machine: str | None = None
    fqbn: str | None = None  # Arduino boards: [arduino] fqbn, the builders' board name
    heap_reserve_bytes: int = 0  # [estimate]: memory left free for the OS heap (stacks, drivers)
    shared_code_ram: bool = False
    path: Path | None = None
    qemu_binary: str = QEMU_BINARY  # [qemu] binary
    timeouts: Timeouts = field(default_factory=Timeouts)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def emulated(self) -> bool:
        return self.qemu_machine is not None


def _field(d: dict[str, Any], key: str, typ: type, path: Path) -> Any:
    if key not in d:
        raise EdgekitError(f"{path}: missing field '{key}'")
    if not isinstance(d[key], typ):
        raise EdgekitError(f"{path}: field '{key}' should be {typ.__name__}, got {d[key]!r}")
    return d[key]


def _seconds(d: dict[str, Any], key: str, path: Path, where: str) -> float | None:
    if key not in d:
        return None
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
        raise EdgekitError(
            f"{path}: field '{where}.{key}' should be a number of seconds > 0, got {v!r}"
        )
    return float(v)


def _timeouts(d: dict[str, Any], path: Path) -> Timeouts:
    t = d.get("timeouts", {})
    if not isinstance(t, dict):
        raise EdgekitError(f"{path}: [timeouts] should be a table, got {t!r}")
    known = {"boot_s", "command_s", "first_inference_s", "reboot_s"}
    unknown = sorted(set(t) - known)
    if unknown:
        raise EdgekitError(
            f"{path}: unknown field(s) {', '.join(unknown)} in [timeouts]; "
            f"expected {', '.join(sorted(known))} (boards/README.md)"
        )
    return Timeouts(
        boot_s=_seconds(t, "boot_s", path, "timeouts"),
        qemu_boot_s=_seconds(d.get("qemu", {}), "boot_s", path, "qemu"),
        command_s=_seconds(t, "command_s", path, "timeouts"),
        first_inference_s=_seconds(t, "first_inference_s", path, "timeouts"),
        reboot_s=_seconds(t, "reboot_s", path, "timeouts"),
    )


def load_board_file(path: Path) -> Board:
    try:
        d = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise EdgekitError(f"{path}: cannot read board file ({e})") from None
    serial = _field(d, "serial", dict, path)
    est = _field(d, "estimate", dict, path)
    return Board(
        name=_field(d, "name", str, path),
        description=_field(d, "description", str, path),
        cpu=_field(d, "cpu", str, path),
        clock_hz=_field(d, "clock_hz", int, path),
        flash_bytes=_field(d, "flash_bytes", int, path),
        ram_bytes=_field(d, "ram_bytes", int, path),
        runtime=_field(d, "runtime", str, path),
        port=_field(d, "port", str, path),
        timer=d.get("timer", ""),
        baud=_field(serial, "baud", int, path),
        serial=serial.get("interface", ""),
        runtime_flash_bytes=_field(est, "runtime_flash_bytes", int, path),
        runtime_ram_bytes=_field(est, "runtime_ram_bytes", int, path),
        qemu_machine=d.get("qemu", {}).get("machine"),
        fqbn=d.get("arduino", {}).get("fqbn"),
        heap_reserve_bytes=int(est.get("heap_reserve_bytes", 0)),
        shared_code_ram=bool(d.get("shared_code_ram", False)),
        path=path,
        qemu_binary=d.get("qemu", {}).get("binary", QEMU_BINARY),
        timeouts=_timeouts(d, path),
        raw=d,
    )


def board_dirs() -> list[Path]:
    """edgekit's boards/ (the checkout's, or the installed package's), then each directory in $EDGEKIT_BOARDS_DIR."""
    extra = [
        Path(p).expanduser() for p in os.environ.get(BOARDS_DIR_ENV, "").split(os.pathsep) if p
    ]
    for p in extra:
        if not p.is_dir():
            raise EdgekitError(
                f"{BOARDS_DIR_ENV}={os.environ[BOARDS_DIR_ENV]}: {p} is not a "
                "directory (it should hold <board>.toml files)"
            )
    return [BOARDS_DIR, *extra]


def all_boards(boards_dir: Path | None = None) -> dict[str, Board]:
    """Every board by name; a later directory's board replaces an earlier one of the same name."""
    boards = {}
    for d in [boards_dir] if boards_dir is not None else board_dirs():
        for p in sorted(Path(d).glob("*.toml")):
            b = load_board_file(p)
            boards[b.name] = b
    return boards


def get_board(name: str, boards_dir: Path | None = None) -> Board:
    boards = all_boards(boards_dir)
    if name not in boards:
        where = (
            boards_dir
            if boards_dir is not None
            else " and ".join(str(d) for d in board_dirs())
            + f"; ${BOARDS_DIR_ENV} adds directories"
        )
        raise EdgekitError(
            f"--board: unknown board {name!r}; known boards: {', '.join(boards)} (files in {where})"
        )
    return boards[name]


def port_search_path(board: Board, firmware_root: Path = FIRMWARE_DIR) -> list[Path]:
    """Where a board's port folder (and the shared folders a port names) are looked up: ports/
    beside the board's TOML (a board directory's own ports), then firmware/ports/."""
    dirs = [board.path.parent / "ports"] if board.path is not None else []
    return [d for d in dirs if d.is_dir()] + [Path(firmware_root) / "ports"]
