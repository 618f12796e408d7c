"""`edgekit bench`: the exported model (or any int8 .tflite) on a board or in QEMU, against the
host reference."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import runs
from ..errors import EdgekitError
from . import options
from .command import Command, Result
from .values import runtime_list


class Bench(Command):
    name = "bench"
    help = "run the exported model on a board (or QEMU) against the host reference"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        options.output(p)
        options.run(p)
        options.seed(p)
        options.board(p, options.BOARD_HELP, required=True)
        options.port(p)
        options.baud(p)
        options.samples(p, 200)
        p.add_argument(
            "--profile",
            action="store_true",
            help="per-op ticks (ek-profile) of one inference: table + bar chart in the report",
        )
        p.add_argument(
            "--diff",
            action="store_true",
            help="compare every layer's output with tflite_micro; name the first that differs",
        )
        p.add_argument(
            "--tflite",
            metavar="FILE",
            default=None,
            help="bench any int8 .tflite instead of a run's export (host reference computed "
            "now; --samples random inputs, seeded by --seed, unless --inputs)",
        )
        p.add_argument(
            "--inputs",
            metavar="NPY",
            default=None,
            help="with --tflite: int8 inputs, shape (N, *input shape without batch)",
        )
        p.add_argument(
            "--runtime",
            default=None,
            type=runtime_list,
            metavar="RUNTIME[,RUNTIME]",
            help="edgekit-rt, tflm, or both side by side: edgekit-rt,tflm (default: the board's)",
        )
        p.add_argument(
            "--tflm-dir",
            default=None,
            help="TensorFlow Lite Micro tree for --runtime tflm (default: $TFLM_DIR)",
        )

    def run(self, args: argparse.Namespace) -> Result:
        from ..bench.run import bench_on_board
        from ..boards import get_board

        board = get_board(args.board)
        run = _run_to_bench(args, board)
        make_vars = {"TFLM_DIR": args.tflm_dir} if args.tflm_dir else None
        recs = [
            bench_on_board(
                run,
                board,
                args.port,
                args.samples,
                args.baud,
                args.progress,
                runtime=rt,
                make_vars=make_vars,
                profile=args.profile,
                diff=args.diff,
            )
            for rt in args.runtime or [board.runtime]
        ]
        if len(recs) == 1:
            return recs[0], recs[0].get("summary", "")
        from ..bench.report import write_runtime_comparison

        rep = write_runtime_comparison(run, board.name, recs)
        return rep, "\n\n".join(r.get("summary", "") for r in recs) + "\n\n" + rep["table"]


def _run_to_bench(args: argparse.Namespace, board) -> runs.Run:
    """The run's export, or --tflite FILE exported into a run directory of its own."""
    if args.tflite is None:
        if args.inputs is not None:
            raise EdgekitError(
                "--inputs: only with --tflite FILE (a run's export has its own inputs)"
            )
        return options.run_for(args)
    from ..export.from_tflite import export_tflite

    model = Path(args.tflite)
    run = runs.Run(Path(args.run) if args.run else runs.DEFAULT_RUNS_ROOT / f"tflite-{model.stem}")
    export_tflite(
        run,
        board,
        model,
        Path(args.inputs) if args.inputs else None,
        n=args.samples,
        seed=args.seed,
    )
    return run
