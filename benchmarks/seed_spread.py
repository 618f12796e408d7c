"""Accuracy as mean +- std over training seeds (float, LDA, and the quantize stage's int8 simulation).

    PYTHONPATH=toolchain python benchmarks/seed_spread.py OUT_DIR [--seeds 0 1 2] [--qat-epochs N]
        [-- extra `edgekit train` arguments, e.g. --data DIR --format otb --width 0.2]

For each seed S: `edgekit train --seed S --run OUT_DIR/seed-S ...`, then `edgekit quantize --seed S
--epochs N` (N = 0: post-training quantization only, the fast default). A run directory that
already has its report is reused, so an interrupted sweep resumes. Prints one row per seed and
mean +- sample std (ddof 1) over seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from edgekit.cli import main as edgekit


def _run(argv: list[str]) -> None:
    code = edgekit([*argv, "--no-progress"])
    if code != 0:
        raise SystemExit(f"edgekit {' '.join(argv)} failed with exit status {code}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--qat-epochs", type=int, default=0)
    args = ap.parse_args(argv)
    rows = []
    for s in args.seeds:
        run = args.out / f"seed-{s}"
        if not (run / "train.json").is_file():
            _run(["train", "--seed", str(s), "--run", str(run), *extra])
        if not (run / "quantize.json").is_file():
            _run(["quantize", "--seed", str(s), "--epochs", str(args.qat_epochs), "--run", str(run)])
        t = json.loads((run / "train.json").read_text())
        q = json.loads((run / "quantize.json").read_text())
        rows.append((s, t["cnn"]["accuracy"], t["lda"]["accuracy"],
                     q["accuracy"]["selected"]["test"], t["training"].get("best_epoch")))
    print(f"{'seed':>4s} {'float':>8s} {'LDA':>8s} {'int8 sim':>9s} {'best epoch':>10s}")
    for s, f, l, q, e in rows:
        print(f"{s:>4d} {100 * f:7.2f}% {100 * l:7.2f}% {100 * q:8.2f}% {e!s:>10s}")
    a = np.array([r[1:4] for r in rows]) * 100
    sd = a.std(axis=0, ddof=1) if len(rows) > 1 else np.zeros(3)
    print("mean +- std over seeds " + ", ".join(
        f"{k} {m:.2f} +- {d:.2f}%" for k, m, d in zip(("float", "LDA", "int8 sim"), a.mean(0), sd)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
