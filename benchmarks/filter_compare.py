"""Causal vs zero-phase band-pass, paired by seed: the float CNN's test accuracy on the default data.

For each seed, `edgekit train` runs twice with everything equal but `--filter` (causal: the chain
the board runs on raw samples, the default; zero-phase: offline sosfiltfilt, which sees the
future). Prints one row per seed, the paired difference, and mean +- std over the seeds. Runs
that already have a train.json are reused, so an interrupted comparison picks up where it stopped.

    python benchmarks/filter_compare.py [--seeds 3] [--width 0.2] [--out runs/filter-compare]

The two chains do not score the same windows: the causal one drops each trial's first window
(its filters start from zero state, like a stream), so its test set is a little smaller; the table
shows both counts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

FILTERS = ("causal", "zero-phase")


def train(run: Path, seed: int, width: float, filt: str, epochs: int | None) -> dict:
    report = run / "train.json"
    if not report.exists():
        cmd = [
            sys.executable,
            "-m",
            "edgekit.cli",
            "train",
            "--width",
            f"{width:g}",
            "--seed",
            str(seed),
            "--filter",
            filt,
            "--run",
            str(run),
            "--json",
            "--no-progress",
        ]
        if epochs is not None:
            cmd += ["--epochs", str(epochs)]
        print("$ edgekit " + " ".join(cmd[3:]), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads(report.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--width", type=float, default=0.2)
    ap.add_argument("--epochs", type=int, default=None, help="default: train's")
    ap.add_argument("--out", default="runs/filter-compare")
    a = ap.parse_args()

    rows = []
    for seed in range(a.seeds):
        rec = {
            f: train(Path(a.out) / f"{f}-seed{seed}", seed, a.width, f, a.epochs) for f in FILTERS
        }
        rows.append(
            {f: (r["cnn"]["accuracy"], r["cnn"]["n"], r["lda"]["accuracy"]) for f, r in rec.items()}
        )

    print(
        f"mbv2 w{a.width:g}, default data, session split; float CNN test accuracy (LDA beside it)\n"
    )
    print("| seed | causal | zero-phase | causal - zero-phase |")
    print("|---|---|---|---|")
    for seed, r in enumerate(rows):
        (ca, cn, cl), (za, zn, zl) = r["causal"], r["zero-phase"]
        print(
            f"| {seed} | {ca:.2%} (n {cn}; LDA {cl:.2%}) | {za:.2%} (n {zn}; LDA {zl:.2%}) "
            f"| {100 * (ca - za):+.2f} pt |"
        )

    def spread(v: list[float]) -> str:
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        return f"{100 * statistics.mean(v):.2f} +- {100 * sd:.2f}"

    ca = [r["causal"][0] for r in rows]
    za = [r["zero-phase"][0] for r in rows]
    print(
        f"| mean +- std | {spread(ca)} % | {spread(za)} % | "
        f"{spread([c - z for c, z in zip(ca, za, strict=True)])} pt |"
    )


if __name__ == "__main__":
    main()
