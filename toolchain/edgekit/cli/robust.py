"""`edgekit robust`: robustness to bad electrode contacts in three steps: gan, finetune, eval."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import runs
from ..errors import EdgekitError
from . import options
from .command import Command, Result
from .values import positive_int

GAN_CONDITIONS = ["ca", "lc"]  # robust gan: one disturbed copy with CA, one with LC


class Gan(Command):
    name = "gan"
    help = "train a conditional WGAN-GP on disturbed training frames (gan.pt)"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        options.output(p)
        options.run(p)
        options.seed(p)
        options.disturb(
            p,
            "one disturbed copy of the training frames per --disturb: disturbances "
            "applied together, comma-separated (default: --disturb ca --disturb lc)",
        )
        p.add_argument("--steps", type=int, default=2000, help="generator steps (default 2000)")

    def run(self, args: argparse.Namespace) -> Result:
        from ..robust.stages import gan_summary, run_gan

        rep = run_gan(
            options.run_for(args),
            disturb=args.disturb or GAN_CONDITIONS,
            steps=args.steps,
            seed=args.seed,
            progress=args.progress,
        )
        return rep, gan_summary(rep)


class Finetune(Command):
    name = "finetune"
    help = "fine-tune on clean + generated disturbed frames into a new run"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        options.output(p)
        options.run(p)
        options.seed(p)
        options.out_dir(p, "directory of the new run that gets the robust model", required=True)
        p.add_argument(
            "--mix",
            type=float,
            default=0.5,
            help="fraction of generated frames in the training mix, 0 <= r <= 1 "
            "(default 0.5; 1 = generated frames only, the seed's recipe)",
        )
        p.add_argument(
            "--finetune-epochs",
            type=positive_int,
            default=5,
            help="fine-tuning epochs (default 5)",
        )
        options.lr(p, "learning rate (default 5e-4)")

    def run(self, args: argparse.Namespace) -> Result:
        from ..robust.stages import finetune_summary, run_finetune

        rep = run_finetune(
            options.run_for(args),
            runs.Run(Path(args.out)),
            mix=args.mix,
            epochs=args.finetune_epochs,
            seed=args.seed,
            progress=args.progress,
            lr=args.lr,
        )
        return rep, finetune_summary(rep)


class Eval(Command):
    name = "eval"
    help = "accuracy on clean/CA/LC test trials with voting, float and int8"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        options.output(p)
        options.run(p)
        options.seed(p)
        p.add_argument(
            "--robust", metavar="DIR", default=None, help="run of the robust (fine-tuned) model"
        )
        p.add_argument(
            "--augmented",
            metavar="DIR",
            default=None,
            help="run of a model trained with `edgekit train --augment`",
        )
        p.add_argument(
            "--model",
            metavar="NAME=DIR",
            action="append",
            help="one more row: any run, e.g. robust-gen-only=runs/rg (repeatable)",
        )
        options.out_dir(
            p,
            "directory for robust_eval.json/.md/.png (default: the --run directory)",
            default=None,
        )

    def run(self, args: argparse.Namespace) -> Result:
        from ..robust.stages import run_eval

        out = Path(args.out) if args.out else None
        rep = run_eval(_named_runs(args), seed=args.seed, progress=args.progress, out_dir=out)
        return rep, rep["table"] + f"\nwrote {rep['files']['md']}, {rep['files']['png']}"


def _named_runs(args: argparse.Namespace) -> dict[str, runs.Run]:
    """The table's rows: the --run as "standard", --robust, --augmented, then each --model."""
    named = {"standard": options.run_for(args)}
    for name in ("robust", "augmented"):
        if getattr(args, name) is not None:
            named[name] = runs.Run(Path(getattr(args, name)))
    for item in args.model or []:
        name, sep, where = item.partition("=")
        if not sep or not name or not where:
            raise EdgekitError(f"--model: expected NAME=DIR, got {item!r}")
        if name in named:
            raise EdgekitError(f"--model: the name {name!r} is already used by another row")
        named[name] = runs.Run(Path(where))
    return named


class Robust(Command):
    name = "robust"
    help = "robustness to bad electrode contacts: GAN, fine-tuning, evaluation"
    steps = (Gan(), Finetune(), Eval())
