"""`edgekit bench`: the exported model (or any int8 .tflite) on a board or in QEMU, against the
host reference."""

from __future__ import annotations

import argparse
import shutil
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
            "--flash",
            action="store_true",
            help="first write the run's firmware to the board on --port (as `edgekit flash`)",
        )
        p.add_argument(
            "--tflm-dir",
            default=None,
            help="TensorFlow Lite Micro tree for --runtime tflm (default: $TFLM_DIR)",
        )

    def run(self, args: argparse.Namespace) -> Result:
        from ..bench.run import bench_on_board, check_tflite
        from ..boards import get_board

        board = get_board(args.board)
        runtimes = args.runtime or [board.runtime]
        if args.tflite is not None:  # refused before the host reference runs it
            check_tflite(Path(args.tflite), board, runtimes)
        run = _run_to_bench(args)
        new_dir = args.tflite is not None and not run.root.exists()
        make_vars = {"TFLM_DIR": args.tflm_dir} if args.tflm_dir else None
        try:
            if args.tflite is not None:
                _export_tflite(args, run, board)
            if args.flash:
                _flash(args, run, board, runtimes)
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
                for rt in runtimes
            ]
        except BaseException:
            if new_dir:  # the --tflite run directory this command made: nothing half-written stays
                shutil.rmtree(run.root, ignore_errors=True)
            raise
        if len(recs) == 1:
            return recs[0], recs[0].get("summary", "")
        from ..bench.report import write_runtime_comparison

        rep = write_runtime_comparison(run, board.name, recs)
        return rep, "\n\n".join(r.get("summary", "") for r in recs) + "\n\n" + rep["table"]


def _run_to_bench(args: argparse.Namespace) -> runs.Run:
    """The run's export, or the run directory --tflite FILE is exported into."""
    if args.tflite is None:
        if args.inputs is not None:
            raise EdgekitError(
                "--inputs: only with --tflite FILE (a run's export has its own inputs)"
            )
        return options.run_for(args)
    model = Path(args.tflite)
    return runs.Run(Path(args.run) if args.run else runs.DEFAULT_RUNS_ROOT / f"tflite-{model.stem}")


def _export_tflite(args: argparse.Namespace, run: runs.Run, board) -> None:
    from ..export.from_tflite import export_tflite

    inputs = Path(args.inputs) if args.inputs else None
    export_tflite(run, board, Path(args.tflite), inputs, n=args.samples, seed=args.seed)


def _flash(args: argparse.Namespace, run: runs.Run, board, runtimes: list[str]) -> None:
    from ..flash import flash_run

    if args.port is None or len(runtimes) > 1:
        raise EdgekitError("--flash: needs --port (the board to write) and one runtime")
    flash_run(run, board, args.port, runtimes[0])
