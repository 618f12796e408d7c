"""`edgekit profile`: parameters and MACs per layer of an architecture."""

from __future__ import annotations

import argparse

from . import options
from .command import Command, Result


class Profile(Command):
    name = "profile"
    help = "parameters and MACs per layer"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        options.output(p, progress=False)
        options.arch_width(p)
        p.add_argument("--classes", type=int, default=8)
        p.add_argument("--rows", type=int, default=8, help="input grid rows (default 8)")
        p.add_argument("--cols", type=int, default=24, help="input grid columns (default 24)")

    def run(self, args: argparse.Namespace) -> Result:
        from dataclasses import asdict

        from ..nn import build_model
        from ..nn.profile import profile_model

        options.check_width(args.width)
        model = build_model(args.arch, args.width, args.classes, (args.rows, args.cols))
        prof = profile_model(model)
        rep = {
            "arch": args.arch,
            "width": args.width,
            "classes": args.classes,
            "params": prof.total_params,
            "macs": prof.total_macs,
            "layers": [asdict(layer) for layer in prof.layers],
        }
        return rep, prof.table()
