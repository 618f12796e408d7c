"""Put a built firmware image on a real board with the tool its users already have.

A board TOML lists its upload recipes as [[upload]] tables, in order of preference:

    [[upload]]
    tool = "st-flash"                      # the program that writes the image (found on PATH)
    image = "bin"                          # what it writes: elf, bin (objcopy of the ELF) or spk
    command = ["st-flash", "--reset", "write", "{image}", "0x08000000"]
    install = "Debian: apt-get install stlink-tools; an ST-LINK probe on the board's SWD pins"

The first recipe whose tool is on PATH runs. {image}, {elf}, {port}, {baud}, {fqbn}, {build}
(the image's folder) and an Arduino board's Tools menu choices ({UploadSpeed} ...) are filled in; a recipe naming {port} needs --port. A board with no recipe
that runs in QEMU needs no flashing. Before anything is written the image is checked: it exists,
it was built from the run's current export (model hash), and it fits the board's flash.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import firmware
from .boards import Board
from .errors import EdgekitError
from .runs import Run

UPLOAD_TIMEOUT_S = 300.0  # a 1.5 MB image at 115200 baud takes about two minutes
IMAGE_KINDS = ("elf", "bin", "spk")


@dataclass(frozen=True)
class Recipe:
    tool: str
    image: str
    command: list[str]
    install: str


def recipes(board: Board) -> list[Recipe]:
    where = board.path or board.name
    out = []
    for i, r in enumerate(board.raw.get("upload", [])):
        try:
            rec = Recipe(
                str(r["tool"]),
                str(r["image"]),
                [str(a) for a in r["command"]],
                str(r.get("install", "")),
            )
        except (KeyError, TypeError):
            raise EdgekitError(
                f"{where}: [[upload]] {i + 1}: expected tool, image and command (a list)"
            ) from None
        if rec.image not in IMAGE_KINDS:
            raise EdgekitError(
                f"{where}: [[upload]] {i + 1}: image {rec.image!r}; expected one of "
                + ", ".join(IMAGE_KINDS)
            )
        out.append(rec)
    return out


def _pick(board: Board, need_tool: bool) -> Recipe:
    rs = recipes(board)
    if not rs:
        if board.qemu_machine:
            raise EdgekitError(
                f"{board.name} runs in QEMU ({board.qemu_machine}): there is nothing to flash; "
                f"`edgekit bench --board {board.name}` starts the emulator with the image"
            )
        raise EdgekitError(
            f"{board.path or board.name}: no [[upload]] recipe: edgekit does not know how to "
            f"write this board; flash the image with your own tool"
        )
    for r in rs:
        if shutil.which(r.tool):
            return r
    if not need_tool:
        return rs[0]  # a dry run shows the preferred recipe (and says its tool is missing)
    raise EdgekitError(
        f"{board.name}: no upload tool found on PATH; install one of: "
        + "; ".join(f"{r.tool} ({r.install})" if r.install else r.tool for r in rs)
    )


def _image(fw_dir: Path, built: dict[str, Any], kind: str, board: Board) -> Path:
    """The file the recipe writes, made from the build's ELF where needed (bin)."""
    elf = Path(built["elf"]) if built.get("elf") else None
    if elf is None or not elf.is_file():
        raise EdgekitError(
            f"{fw_dir / firmware.BUILD_RECORD}: field elf: the build left no ELF "
            f"({built.get('elf')}); run `edgekit export --board {board.name} --build` again"
        )
    if kind == "elf":
        return elf
    if kind == "spk":
        spk = elf.with_suffix(".spk")
        if not spk.is_file():
            raise EdgekitError(
                f"{spk}: no .spk beside the ELF (the board package's mkspk makes it during the "
                f"build); run `edgekit export --board {board.name} --build` again"
            )
        return spk
    objcopy = shutil.which("arm-none-eabi-objcopy")
    if objcopy is None:
        raise EdgekitError(
            "arm-none-eabi-objcopy not found: making the .bin image needs it "
            "(Debian: apt-get install binutils-arm-none-eabi)"
        )
    out = elf.with_suffix(".bin")
    tmp = out.with_suffix(".bin.tmp")
    firmware.run_tool([objcopy, "-O", "binary", elf, tmp], 60.0, f"{elf}: objcopy")
    tmp.replace(out)
    return out


def _check(fw_dir: Path, built: dict[str, Any], model_hash: str | None, board: Board) -> None:
    if model_hash and built.get("model_hash") != model_hash:
        raise EdgekitError(
            f"{fw_dir / firmware.BUILD_RECORD}: field model_hash: the image holds model "
            f"{built.get('model_hash')}, the run's export is {model_hash}; run `edgekit export "
            f"--board {board.name} --build` again"
        )
    if built.get("fits") is False:
        raise EdgekitError(
            f"{fw_dir / firmware.BUILD_RECORD}: the image needs {built.get('flash_bytes')} B of "
            f"flash and {built.get('ram_bytes')} B of RAM; {board.name} has "
            f"{board.flash_bytes} / {board.ram_bytes} B: it does not fit"
        )


def plan(
    fw_dir: Path, board: Board, port: str | None, model_hash: str | None, dry_run: bool = False
) -> dict[str, Any]:
    """The exact command that would write this build to the board, after checking the image.
    A dry run does not need the upload tool installed (the plan says whether it is)."""
    built = firmware.read_build_record(fw_dir)
    if built is None:
        raise EdgekitError(
            f"{fw_dir}: no firmware build here; run `edgekit export --board {board.name} --build`"
        )
    _check(fw_dir, built, model_hash, board)
    r = _pick(board, need_tool=not dry_run)
    image = _image(fw_dir, built, r.image, board)
    needs_port = any("{port}" in a for a in r.command)
    if needs_port and not port and not dry_run:
        raise EdgekitError(
            f"--port: {board.name}'s upload with {r.tool} needs the board's serial port "
            f"(e.g. --port /dev/ttyUSB0); plug the board in and name its port"
        )
    values = {
        **(firmware.fqbn_options(board.fqbn) if board.fqbn else {}),
        "image": str(image),
        "elf": str(built["elf"]),
        "build": str(image.parent),
        "port": port or "PORT",
        "baud": str(board.baud),
        "fqbn": board.fqbn or "",
    }
    try:
        cmd = [a.format(**values) for a in r.command]
    except KeyError as e:
        raise EdgekitError(
            f"{board.path or board.name}: [[upload]] {r.tool}: command uses {{{e.args[0]}}}; "
            f"known: {', '.join(values)}"
        ) from None
    return {
        "board": board.name,
        "tool": r.tool,
        "tool_found": shutil.which(r.tool) is not None,
        "install": r.install,
        "image": str(image),
        "image_bytes": image.stat().st_size,
        "command": cmd,
    }


def flash(info: dict[str, Any], port: str | None) -> None:
    """Run the planned command; a missing port or a failing tool is an EdgekitError."""
    if port and port.startswith("/dev/") and not Path(port).exists():
        raise EdgekitError(
            f"--port {port}: no such device; plug the board in (and check the cable)"
        )
    firmware.run_tool(info["command"], UPLOAD_TIMEOUT_S, f"{info['board']}: {info['tool']}")


def flash_run(
    run: Run, board: Board, port: str | None, runtime: str | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """`edgekit flash`: the run's firmware for `board`, built from its current export if needed,
    checked, then written with the board's upload recipe (only planned with dry_run)."""
    built = firmware.up_to_date_build(run, board, runtime)
    info = plan(Path(built["record"]).parent, board, port, firmware.export_model_hash(run), dry_run)
    info["dry_run"] = dry_run
    if not dry_run:
        flash(info, port)
    return info
