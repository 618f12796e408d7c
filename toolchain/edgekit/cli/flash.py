"""`edgekit flash`: put the run's firmware on a real board with the board's own upload tool."""

from __future__ import annotations

import argparse
import shlex

from . import options
from .command import Command, Result
from .values import runtime_list


class Flash(Command):
    name = "flash"
    help = "write the run's built firmware to a board (its [[upload]] recipe); --dry-run shows it"
    runs_torch = False

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        options.output(p, progress=False)
        options.run(p)
        options.board(p, options.BOARD_HELP, required=True)
        options.port(p, "the board's serial port, for upload tools that need one")
        add_dry_run(p)
        p.add_argument(
            "--runtime",
            default=None,
            type=runtime_list,
            metavar="RUNTIME",
            help="edgekit-rt or tflm (default: the board's)",
        )

    def run(self, args: argparse.Namespace) -> Result:
        from ..boards import get_board
        from ..errors import EdgekitError
        from ..flash import flash_run

        if args.runtime and len(args.runtime) > 1:
            raise EdgekitError("--runtime: flash writes one image; name one runtime")
        board = get_board(args.board)
        runtime = args.runtime[0] if args.runtime else None
        info = flash_run(options.run_for(args), board, args.port, runtime, args.dry_run)
        return info, summary(info)


def add_dry_run(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="build and check the image, print the exact upload command, write nothing",
    )


def summary(info: dict) -> str:
    cmd = shlex.join(info["command"])
    head = f"{info['board']}: {info['image']} ({info['image_bytes']:,} bytes) with {info['tool']}"
    if not info["dry_run"]:
        return f"{head}: written\n  {cmd}"
    missing = (
        "" if info["tool_found"] else f"\n  ({info['tool']} is not installed: {info['install']})"
    )
    return f"{head} (dry run, nothing written):\n  {cmd}{missing}"
