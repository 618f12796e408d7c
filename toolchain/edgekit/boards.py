"""Boards: one TOML per board under boards/ (cpu, clock, memory budgets, serial, port, runtime)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import EdgekitError

REPO_ROOT = Path(__file__).resolve().parents[2]
BOARDS_DIR = REPO_ROOT / "boards"
FIRMWARE_DIR = REPO_ROOT / "firmware"


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
    fqbn: str | None = None          # Arduino boards: [arduino] fqbn, the builders' board name
    heap_reserve_bytes: int = 0      # [estimate]: memory left free for the OS heap (stacks, drivers)
    shared_code_ram: bool = False
    path: Path | None = None
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
        raw=d,
    )


def all_boards(boards_dir: Path = BOARDS_DIR) -> dict[str, Board]:
    boards = {}
    for p in sorted(boards_dir.glob("*.toml")):
        b = load_board_file(p)
        boards[b.name] = b
    return boards


def get_board(name: str, boards_dir: Path = BOARDS_DIR) -> Board:
    boards = all_boards(boards_dir)
    if name not in boards:
        raise EdgekitError(f"--board: unknown board {name!r}; known boards: {', '.join(boards)} "
                           f"(files in {boards_dir})")
    return boards[name]
