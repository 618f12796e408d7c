"""`edgekit stream`: a held-out recording replayed through the board as raw samples."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import EdgekitError
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
        options.session_source(p, "replay")
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
        options.disturb(
            p,
            "disturb the raw samples before they are sent (data/disturb.py, clipped at the "
            "ADC's range): one condition, e.g. ca, lc, or ca,lc together; seeded by --seed",
        )
        options.seed(p)
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
            default=None,
            help="the clock the per-hop cost is judged at, in estimated Cortex-M4 cycles under "
            "QEMU (default: the board's clock_hz; e.g. 156 for the Spresense's on the "
            "stm32f405's hard-float build)",
        )
        p.add_argument(
            "--no-cycles",
            dest="cycles",
            action="store_false",
            help="under QEMU, skip the cycle estimate (the m4cycles plugin about doubles "
            "QEMU's time): no keeps-up verdict then",
        )

    def run(self, args: argparse.Namespace) -> Result:
        from ..bench.run import current_firmware
        from ..bench.stream import run_stream
        from ..boards import get_board

        if args.disturb and len(args.disturb) > 1:
            raise EdgekitError(
                f"--disturb: one condition per stream, got {len(args.disturb)} "
                f"({' and '.join(args.disturb)}); disturbances applied together are "
                "separated by commas (ca,lc)"
            )
        board = get_board(args.board)
        if args.clock_mhz is not None and not args.clock_mhz > 0:
            raise EdgekitError(f"--clock-mhz: expected a clock in MHz > 0, got {args.clock_mhz:g}")
        if args.port is None and not board.emulated:
            raise EdgekitError(_real_board_hint(board))
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
            clock_hz=args.clock_mhz * 1e6 if args.clock_mhz else None,
            baud=args.baud,
            build_fn=current_firmware(run, board) if args.port is None else None,
            progress=args.progress,
            cycles=args.cycles,
            disturb=args.disturb[0] if args.disturb else None,
            seed=args.seed,
        )
        return rep, rep["summary"]

    def _calibrated(self, args: argparse.Namespace, board, run) -> Result:
        from ..bench.calib_stream import run_calibrated_stream
        from ..bench.run import current_firmware

        clash = [
            f"--{k.replace('_', '-')}"
            for k in ("block", "max_trials", "realtime", "disturb")
            if getattr(args, k)
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
            clock_hz=args.clock_mhz * 1e6 if args.clock_mhz else board.clock_hz,
            baud=args.baud,
            build_fn=current_firmware(run, board) if args.port is None else None,
            progress=args.progress,
        )
        return rep, rep["summary"]


def _real_board_hint(board) -> str:
    """A board QEMU lacks: its port, or the same core in QEMU at its clock (the Spresense's
    Cortex-M4F as the stm32f405, hard float, at 156 MHz)."""
    from ..bench.feature_cost import fpu_twin

    msg = (
        f"--port: board {board.name} is real hardware; give its serial port, e.g. "
        "--port /dev/ttyUSB0 (or any pyserial URL)"
    )
    try:
        twin = fpu_twin(board)
    except EdgekitError:
        return msg
    return (
        f"{msg}; or estimate it in QEMU on the same core ({board.cpu}): edgekit stream "
        f"--board {twin.name} --clock-mhz {board.clock_hz / 1e6:g}"
    )
