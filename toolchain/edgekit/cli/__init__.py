"""The edgekit command line: the only place that parses arguments. Thin: it calls the stages.

One module per command holds its options and its handler (a Command); the options several
commands take are declared once, in options.py. The parser is built by a loop over COMMANDS, and
main() reads what it needs from the command (cli/command.py), never its name.
"""

from __future__ import annotations

import argparse
import shutil
import sys

from .. import __version__, runs
from ..errors import EdgekitError
from . import (
    bench,
    boards,
    calibrate,
    demo,
    export,
    flash,
    ingest,
    options,
    profile,
    quantize,
    robust,
    stream,
    sweep,
    synth,
    train,
)
from .command import Command
from .options import DEFAULT_SEED, QAT_EPOCHS

__all__ = ["COMMANDS", "DEFAULT_SEED", "QAT_EPOCHS", "build_parser", "main", "parse_args"]

COMMANDS: tuple[Command, ...] = (
    train.Train(),
    quantize.Quantize(),
    export.Export(),
    bench.Bench(),
    flash.Flash(),
    stream.Stream(),
    calibrate.Calibrate(),
    demo.Demo(),
    ingest.Ingest(),
    profile.Profile(),
    boards.Boards(),
    robust.Robust(),
    sweep.Sweep(),
    synth.Synth(),
)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="edgekit",
        description="HD-sEMG gesture classifiers: train, quantize to int8, export for TFLite Micro, "
        "and check on the device against the host reference. The options mean the "
        "same in every command (README, Command-line options); `edgekit COMMAND "
        "--help` lists a command's own.",
    )
    ap.add_argument("--version", action="version", version=f"edgekit {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for cmd in COMMANDS:
        cmd.add_to(sub)
    return ap


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line as the commands see it: parsed, registry names checked, defaults resolved."""
    args = build_parser().parse_args(argv)
    options.resolve_defaults(args)
    return args


def _limit_threads() -> None:
    """One intra-op thread unless EDGEKIT_THREADS says otherwise: these networks are too small to
    gain from more, and on a busy 2-core machine torch's spinning pool was 7x slower (measured)."""
    import os

    n = int(os.environ.get("EDGEKIT_THREADS", "1"))
    import torch

    torch.set_num_threads(max(1, n))


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as e:  # --help / --version (0), or a usage error argparse has printed (2)
        return e.code if isinstance(e.code, int) else 2
    cmd: Command = args.cmd
    if cmd.runs_torch:
        _limit_threads()
    run_root = options.run_dir(args)
    existed = run_root is not None and run_root.exists()
    try:
        record, text = cmd.run(args)
    except KeyboardInterrupt:
        print("edgekit: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        # Bad input leaves nothing behind: a run directory this command created goes again.
        if run_root is not None and not existed and run_root.exists():
            shutil.rmtree(run_root, ignore_errors=True)
        if getattr(args, "debug", False):
            raise
        if isinstance(e, EdgekitError):
            print(f"edgekit: error: {e}", file=sys.stderr)
            return 2
        # a bug, not bad input: one line, the traceback with --debug
        print(
            f"edgekit: error: internal error ({type(e).__name__}: {e}); "
            "run again with --debug for the traceback and report it",
            file=sys.stderr,
        )
        return 1
    if getattr(args, "json", False):
        print(runs.to_json(record, indent=None))
    else:
        print(text)
    return 0
