"""`edgekit sweep`: every (arch, width, seed, fold) trained, quantized, exported and benched as a
Ray task; a Pareto report and the model that fits the board."""

from __future__ import annotations

import argparse

from . import options
from .command import Command, Result
from .values import arch_list, board_list


class Sweep(Command):
    name = "sweep"
    help = (
        "train/quantize/export/bench every (arch, width, seed, fold) as "
        "Ray tasks; Pareto report and the model that fits the board"
    )
    runs_torch = False  # the trials run the stages in processes of their own

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        options.output(p)
        which = p.add_mutually_exclusive_group(required=True)
        options.board(which, "the board to fit (see `edgekit boards`)")
        which.add_argument(
            "--boards",
            type=board_list,
            metavar="LIST",
            help="several boards, comma-separated: each trial trains and quantizes once and is "
            "measured for every board",
        )
        self._add_plan(p)
        options.data_dir(p, "dataset root (default: synthetic)")
        options.dataset_format(p, "dataset format: %(choices)s (default csl)", default="csl")
        options.out_dir(p, "sweep directory (default ./sweep)", default="sweep")
        options.port(p, "bench on the real board on this serial port")
        options.bench_board(
            p, "emulated board to measure on (default: the board if QEMU runs it, else mps2-an386)"
        )
        self._add_ray(p)

    @staticmethod
    def _add_plan(p: argparse.ArgumentParser) -> None:
        """What the trials are: widths, architectures, seeds, folds, and each trial's settings."""
        p.add_argument(
            "--widths", required=True, metavar="LIST", help="width multipliers, e.g. 0.1,0.2,0.5"
        )
        p.add_argument(
            "--archs",
            dest="arch",
            default=["mbv2"],
            metavar="LIST",
            type=arch_list,
            help="architectures, comma-separated: mbv2 (default), mbv2-seed or both",
        )
        p.add_argument(
            "--seeds", type=int, default=1, help="seeds 0..N-1 per configuration (default 1)"
        )
        p.add_argument(
            "--folds",
            default="sessions",
            help="sessions (leave-one-session-out per subject, default) | subjects "
            "(leave-one-subject-out) | K (the first K session folds)",
        )
        p.add_argument(
            "--budget-ms",
            type=float,
            default=50.0,
            help="latency budget per inference (default 50)",
        )
        options.epochs(p, "float training epochs (default: train's)")
        options.qat_epochs(p, f"QAT fine-tuning epochs (default {options.QAT_EPOCHS})")
        options.samples(p, 50, "bench samples per trial (default 50)")

    @staticmethod
    def _add_ray(p: argparse.ArgumentParser) -> None:
        """Where and how the trials run."""
        p.add_argument(
            "--cpus-per-trial", type=float, default=1.0, help="Ray CPUs per trial (default 1)"
        )
        p.add_argument(
            "--address",
            default=None,
            help="an existing Ray cluster: auto or ray://HOST:PORT (default: local Ray)",
        )
        p.add_argument(
            "--local-cpus",
            type=int,
            default=None,
            help="CPUs of the local Ray instance (default: all of this machine's)",
        )
        p.add_argument(
            "--retry-failed", action="store_true", help="re-run trials that failed before"
        )
        p.add_argument(
            "--report-only",
            action="store_true",
            help="write the report from the trials finished so far and run nothing (e.g. while "
            "the sweep runs elsewhere, or after stopping it)",
        )

    def run(self, args: argparse.Namespace) -> Result:
        from ..sweep import config_from_args, run_sweep
        from ..sweep_report import summary

        rep = run_sweep(
            config_from_args(args),
            address=args.address,
            local_cpus=args.local_cpus,
            progress=args.progress,
            report_only=args.report_only,
        )
        return rep, summary(rep)
