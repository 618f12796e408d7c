"""`edgekit demo`: the whole path on the default data, ending in QEMU."""

from __future__ import annotations

import argparse

from . import options
from .command import Command, Result


class Demo(Command):
    name = "demo"
    help = "the whole path on the default data, ending in QEMU"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        options.output(p)
        options.run(p)
        options.seed(p)
        options.board(
            p, "board name (default mps2-an386, see `edgekit boards`)", default="mps2-an386"
        )
        options.qat_epochs(p, f"QAT fine-tuning epochs (default {options.QAT_EPOCHS})")
        options.samples(p, 200)
        options.data(p)
        options.training(p)

    def run(self, args: argparse.Namespace) -> Result:
        from ..demo import run_demo

        options.check_width(args.width)
        return run_demo(
            options.run_for(args),
            options.train_options(args),
            board=args.board,
            qat_epochs=args.qat_epochs,
            samples=args.samples,
            progress=args.progress,
        )
