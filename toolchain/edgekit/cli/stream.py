"""`edgekit stream`: a held-out recording replayed through the board as raw samples."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import options
from .command import Command, Result


class Stream(Command):
    name = "stream"
    help = (
        "replay a held-out recording through the board as raw samples "
        "(on-device features, a decision every hop)"
    )

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        options.output(p)
        options.run(p)
        options.board(p, options.BOARD_HELP, required=True)
        options.port(p)
        options.baud(p)
        g = p.add_mutually_exclusive_group()
        g.add_argument(
            "--session",
            type=int,
            default=None,
            help="session of the run's data to replay (default: the last, the test session)",
        )
        g.add_argument(
            "--recording", metavar="FILE", default=None, help="a recording file or directory"
        )
        options.dataset_format(
            p, "--recording's dataset format: %(choices)s (default csl)", default="csl"
        )
        p.add_argument(
            "--realtime",
            action="store_true",
            help="pace blocks at the sampling rate; the board reports when it falls behind",
        )
        p.add_argument("--vote", type=int, default=5, help="majority vote over the last K windows")
        p.add_argument(
            "--block", type=int, default=None, help="samples per block (default: one hop)"
        )
        p.add_argument(
            "--max-trials", type=int, default=None, help="replay only the first N trials"
        )
        p.add_argument(
            "--calibrate",
            type=float,
            default=None,
            metavar="S",
            help="calibrate on the board first: the first S seconds of each gesture, labelled "
            "by the host, then the rest of the session decided by the solved head (checked "
            "against the host bit for bit)",
        )
        p.add_argument(
            "--calibrate-method",
            choices=("out-lda", "ncm"),
            default="out-lda",
            help="with --calibrate: the head the board solves: out-lda (discriminant analysis "
            "of the model's outputs; default) or ncm (nearest class mean of the penultimate "
            "features)",
        )
        p.add_argument(
            "--clock-mhz",
            type=float,
            default=156.0,
            help="target clock for the per-hop budget (QEMU instructions as the cycle proxy)",
        )

    def run(self, args: argparse.Namespace) -> Result:
        from ..bench.run import current_firmware
        from ..bench.stream import run_stream
        from ..boards import get_board

        board = get_board(args.board)
        run = options.run_for(args)
        if args.calibrate is not None:
            return self._calibrated(args, board, run)
        rep = run_stream(
            run,
            board,
            args.port,
            session=args.session,
            recording=Path(args.recording) if args.recording else None,
            fmt=args.format,
            realtime=args.realtime,
            vote=args.vote,
            block=args.block,
            max_trials=args.max_trials,
            clock_hz=args.clock_mhz * 1e6,
            baud=args.baud,
            build_fn=current_firmware(run, board) if args.port is None else None,
            progress=args.progress,
        )
        return rep, rep["summary"]

    def _calibrated(self, args: argparse.Namespace, board, run) -> Result:
        from ..bench.calib_stream import run_calibrated_stream
        from ..bench.run import current_firmware
        from ..errors import EdgekitError

        clash = [
            f"--{k.replace('_', '-')}"
            for k in ("block", "max_trials", "realtime")
            if getattr(args, k) not in (None, False)
        ]
        if clash:
            raise EdgekitError(
                f"--calibrate: {', '.join(clash)} cannot be used with it (the calibrated stream "
                "sends one hop per block, the whole session, as fast as the board answers)"
            )
        rep = run_calibrated_stream(
            run,
            board,
            args.calibrate,
            args.port,
            session=args.session,
            recording=Path(args.recording) if args.recording else None,
            fmt=args.format,
            vote=args.vote,
            method=args.calibrate_method,
            clock_hz=args.clock_mhz * 1e6,
            baud=args.baud,
            build_fn=current_firmware(run, board) if args.port is None else None,
            progress=args.progress,
        )
        return rep, rep["summary"]
