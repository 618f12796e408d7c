"""`edgekit calibrate`: a new classifier head for today's electrodes, from the first seconds of
each gesture of a session; the backbone and its int8 tensors stay as they are."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import options
from .command import Command, Result

METHODS = ("out-lda", "ncm", "lda", "lsq")  # calibrate.METHODS (not imported: it loads torch)


class Calibrate(Command):
    name = "calibrate"
    help = "adapt the classifier head to one session from a few seconds per gesture"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        options.output(p, progress=False)
        options.run(p)
        options.session_source(p, "calibrate on")
        p.add_argument(
            "--seconds-per-gesture",
            type=float,
            required=True,
            metavar="S",
            help="the first S seconds of each gesture calibrate; the rest scores",
        )
        p.add_argument(
            "--method",
            choices=METHODS,
            default="out-lda",
            help="the head: out-lda (discriminant analysis of the model's outputs, folded into "
            "its head; the board's default), ncm (nearest class mean of the penultimate "
            "features; the board's other), lda (shrinkage LDA) or lsq (ridge least squares) "
            "on the penultimate features",
        )
        options.out_dir(p, "directory of the calibrated run (default <run>-calibrated)")

    def run(self, args: argparse.Namespace) -> Result:
        from ..calibrate import calibrate

        run = options.run_for(args)
        out = Path(args.out) if args.out else run.root.with_name(run.root.name + "-calibrated")
        rep = calibrate(
            run,
            args.seconds_per_gesture,
            session=args.session,
            recording=Path(args.recording) if args.recording else None,
            fmt=args.format,
            method=args.method,
            out=out,
        )
        return rep, rep["summary"] + f"\ncalibrated run: {rep['out']}"
