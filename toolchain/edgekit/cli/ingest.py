"""`edgekit ingest`: a seed checkpoint, an edgekit checkpoint or an ONNX model into a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import runs
from ..errors import EdgekitError
from . import options
from .command import Command, Result


class Ingest(Command):
    name = "ingest"
    help = "import a seed checkpoint, an edgekit checkpoint or an ONNX model"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        options.output(p, progress=False)
        p.add_argument("model", help="a .pt/.pth/.ckpt state dict, an edgekit float.pt, or a .onnx")
        options.run(p, "run directory to write into (required)", arch=False)
        options.width(p, "seed width (default: inferred)", default=None)
        options.seed(p)
        options.data(p)

    def run(self, args: argparse.Namespace) -> Result:
        from ..ingest import run_ingest

        options.check_width(args.width)
        if args.run is None:
            raise EdgekitError(
                "--run: ingest needs a run directory to write into (e.g. --run runs/seed)"
            )
        # the width is the checkpoint's (inferred unless given), not a training setting
        opts = options.train_options(
            argparse.Namespace(**{**vars(args), "width": None, "arch": None})
        )
        rep = run_ingest(runs.Run(Path(args.run)), Path(args.model), opts, width=args.width)
        acc = rep.get("cnn", {}).get("accuracy")
        text = f"ingested {rep['file']} as {rep.get('arch', 'onnx')} into {args.run}"
        if acc is not None:
            text += f"; float test accuracy on this data {acc:.4f}"
        if rep.get("note"):
            text += f"\nnote: {rep['note']}"
        return rep, text
