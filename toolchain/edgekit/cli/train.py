"""`edgekit train`: a float network (+ the LDA baseline) on the data."""

from __future__ import annotations

import argparse

from . import options
from .command import Command, Result


class Train(Command):
    name = "train"
    help = "train a float MobileNetV2 (+ LDA baseline)"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        options.output(p)
        options.run(p)
        options.seed(p)
        options.data(p)
        options.training(p)

    def run(self, args: argparse.Namespace) -> Result:
        from ..train import run_train, summary

        options.check_width(args.width)
        rep = run_train(options.run_for(args), options.train_options(args), progress=args.progress)
        return rep, summary(rep)
