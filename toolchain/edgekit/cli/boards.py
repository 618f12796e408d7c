"""`edgekit boards`: the boards of boards/*.toml and their budgets."""

from __future__ import annotations

import argparse

from . import options
from .command import Command, Result


class Boards(Command):
    name = "boards"
    help = "list the boards and their budgets"
    runs_torch = False

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        options.output(p, progress=False)

    def run(self, args: argparse.Namespace) -> Result:
        from dataclasses import asdict

        from ..boards import all_boards

        boards = all_boards()
        rows = [
            f"{'board':12s} {'cpu':11s} {'clock':>8s} {'flash':>9s} {'RAM':>9s}  "
            f"{'runtime':10s} serial"
        ]
        for b in boards.values():
            rows.append(
                f"{b.name:12s} {b.cpu:11s} {b.clock_hz / 1e6:>5.0f}MHz "
                f"{b.flash_bytes // 1024:>6d} KB {b.ram_bytes // 1024:>6d} KB  "
                f"{b.runtime:10s} {b.serial} @ {b.baud}"
                + ("  (QEMU " + b.qemu_machine + ")" if b.qemu_machine else "")
            )
        rep = {
            "boards": [
                {k: v for k, v in asdict(b).items() if k not in ("raw", "path")}
                for b in boards.values()
            ]
        }
        return rep, "\n".join(rows)
