"""`edgekit quantize`: quantization-aware training to int8; trains the float model first if the
run has none."""

from __future__ import annotations

import argparse
import sys

from .. import runs
from . import options
from .command import Command, Result


class Quantize(Command):
    name = "quantize"
    help = "quantization-aware training to int8 (trains first if needed)"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        options.output(p)
        options.run(p)
        options.seed(p)
        options.qat_epochs(
            p,
            f"QAT fine-tuning epochs (default {options.QAT_EPOCHS}; 0 = post-training "
            "quantization)",
        )
        options.data(p)
        options.training(p, "float training (only when the run has no float model yet)")

    def run(self, args: argparse.Namespace) -> Result:
        from ..quantize import run_quantize, summary

        options.check_width(args.width)
        run = options.run_for(args)
        pre = _ensure_float(run, args)
        rep = run_quantize(run, epochs=args.qat_epochs, seed=args.seed, progress=args.progress)
        return rep, pre + summary(rep)


def _ensure_float(run: runs.Run, args: argparse.Namespace) -> str:
    """quantize needs a float model: train one first if the run has none, saying so."""
    if run.float_ckpt.exists():
        unused = [
            f"--{k.replace('_', '-')}"
            for k in (*options.FLOAT_TRAINING, "recipe")
            if getattr(args, k) is not None
        ]
        if unused:
            print(
                f"edgekit: {run.float_ckpt} exists, so {' '.join(unused)} (float training) are not "
                f"used; QAT epochs are --qat-epochs",
                file=sys.stderr,
            )
        return ""
    from ..train import run_train, summary

    print(
        f"edgekit: no float model in {run.root}; training one first "
        f"(edgekit train --arch {args.arch} --width {args.width:g})",
        file=sys.stderr,
    )
    rep = run_train(run, options.train_options(args), progress=args.progress)
    return summary(rep) + "\n"
