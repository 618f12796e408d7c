"""`edgekit synth`: the synthetic HD-sEMG dataset written to a folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import EdgekitError
from . import options
from .command import Command, Result


class Synth(Command):
    name = "synth"
    help = (
        "write the synthetic HD-sEMG dataset to a folder (CSL layout, "
        "or OTBiolab+ exports for --grid CODE)"
    )
    runs_torch = False

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        options.output(p, progress=False)
        options.out_dir(p, "directory to write the dataset into", required=True)
        p.add_argument(
            "--grid",
            default="csl",
            help="csl (8x24, default) or OT Bioelettronica electrode codes joined by '+', "
            "e.g. GR10MM0808 (8x8), GR08MM1305 (13x5), GR10MM0808+GR10MM0808 (8x16)",
        )
        options.seed(p)
        options.disturb(
            p,
            "disturb the raw trials: disturbances applied together, comma-separated "
            "(e.g. lc or ca,lc); one condition",
        )
        p.add_argument(
            "--disturb-sessions",
            metavar="N[,N]",
            default=None,
            help="sessions to disturb (default: all), e.g. 3 for a disturbed test session",
        )

    def run(self, args: argparse.Namespace) -> Result:
        from dataclasses import asdict

        from ..data.synth import SynthConfig, generate

        sessions = _sessions(args.disturb_sessions)
        cfg = SynthConfig(
            seed=args.seed,
            disturb=_one_condition(args.disturb),
            disturb_sessions=sessions,
            grid=args.grid,
        )
        out = generate(Path(args.out), cfg)
        g = cfg.geometry()
        return (
            {"out": str(out), "config": asdict(cfg), "format": cfg.format, "grid": g.to_dict()},
            f"wrote a synthetic dataset ({g.name}, {g.rows}x{g.cols}, {g.n_channels} channels) "
            f"to {out}; train on it with --data {out} --format {cfg.format}",
        )


def _sessions(arg: str | None) -> tuple[int, ...]:
    sessions = [s for s in (arg or "").split(",") if s.strip()]
    if not all(s.strip().isdigit() for s in sessions):
        raise EdgekitError(
            f"--disturb-sessions: expected session numbers like 3 or 2,3, got {arg!r}"
        )
    return tuple(int(s) for s in sessions)


def _one_condition(disturb: list[str] | None) -> str:
    if disturb and len(disturb) > 1:
        raise EdgekitError(
            f"--disturb: synth writes one disturbed condition, got {len(disturb)} "
            f"({' | '.join(disturb)}); disturbances applied together are "
            "separated by commas, e.g. --disturb ca,lc"
        )
    return disturb[0] if disturb else ""
