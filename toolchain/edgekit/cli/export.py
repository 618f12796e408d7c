"""`edgekit export`: ONNX -> int8 .tflite -> C array, then the firmware project for a board."""

from __future__ import annotations

import argparse
from typing import Any

from . import options
from .command import Command, Result
from .values import KNOWN_RUNTIMES


class Export(Command):
    name = "export"
    help = "ONNX -> int8 .tflite -> C array -> firmware project for a board"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        options.output(p)
        options.run(p)
        options.seed(p)
        options.board(p, options.BOARD_HELP, required=True)
        p.add_argument(
            "--runtime",
            choices=KNOWN_RUNTIMES,
            metavar="RUNTIME",
            default=None,
            help="firmware runtime: %(choices)s (default: the board's)",
        )
        p.add_argument("--build", action="store_true", help="also compile the firmware")
        p.add_argument(
            "--allow-check-failures",
            action="store_true",
            help="export even if the converted int8 model fails its self-check against the QAT "
            "model (int8 weights, matched layers); export.json records the failures",
        )

    def run(self, args: argparse.Namespace) -> Result:
        from .. import firmware
        from ..boards import get_board
        from ..export import run_export

        board = get_board(args.board)
        firmware.check_runtime(board, args.runtime)  # before the slow conversion
        run = options.run_for(args)
        run.require(
            run.float_ckpt,
            "float model",
            "run `edgekit train` (or `edgekit ingest`) and `edgekit quantize` first",
        )
        rep = run_export(
            run,
            board,
            seed=args.seed,
            progress=args.progress,
            runtime=args.runtime,
            allow_check_failures=args.allow_check_failures,
        )
        fw_dir = firmware.render(run, board, runtime=args.runtime)
        # printed with the export report; on disk each stage keeps its own record (export.json,
        # firmware/<board>/firmware.json and build.json)
        rep = {**rep, "firmware": {"dir": str(fw_dir), "runtime": args.runtime or board.runtime}}
        text = rep.get("table", "") + f"\nfirmware project: {fw_dir}"
        if args.build:
            info = firmware.build(fw_dir, board)
            rep["firmware"]["build"] = info
            text += "\n" + _build_summary(info, board)
        return rep, text


def _build_summary(info: dict[str, Any], board) -> str:
    flash, ram = info.get("flash_bytes"), info.get("ram_bytes")
    return (
        f"firmware {info.get('elf')}: flash {flash:,} / {board.flash_bytes:,} bytes, "
        f"RAM {ram:,} / {board.ram_bytes:,} bytes"
    )
