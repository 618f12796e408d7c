"""Which head serves per-session calibration best, on the host: for each run (its held-out session,
or --session), S seconds per gesture, each method: accuracy on the rest of the session before and
after, float and int8 (int8 after: TFLM's FULLY_CONNECTED arithmetic on the int8 features).

    PYTHONPATH=toolchain .venv/bin/python benchmarks/calibration_methods.py RUN... \\
        [--seconds 1,2,5] [--methods ncm,lda,lsq] [--json out.json]

Prints one row per run x S x method, then the mean +- std and the worst case per S x method.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def held_out_session(run: Path) -> int | None:
    """The session the run was tested on (train.json's split), None for the default (the last)."""
    import re

    d = json.loads((run / "train.json").read_text())
    m = re.search(r"test session (\d+)", d.get("split", {}).get("description", ""))
    return int(m.group(1)) if m else None


def main(argv: list[str] | None = None) -> int:
    from edgekit.calibrate import METHODS, evaluate, prepare
    from edgekit.runs import Run

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--seconds", default="1,2,5")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    secs = [float(s) for s in a.seconds.split(",")]
    methods = a.methods.split(",")
    rows = []
    for r in a.runs:
        p = prepare(Run(r), held_out_session(r))
        for s in secs:
            for m in methods:
                acc = evaluate(p, s, m).accuracy
                rows.append({"run": str(r), "session": p.session, "seconds": s, "method": m, **acc})
                print(
                    f"{r.parent.name or r.name:28s} s{p.session} {s:g}s {m:4s} "
                    + " ".join(f"{k} {v:.4f}" for k, v in acc.items()),
                    flush=True,
                )
    print(
        "\nS    method  float before -> after        int8 before -> after       (mean +- std, worst)"
    )
    for s in secs:
        for m in methods:
            sel = [x for x in rows if x["seconds"] == s and x["method"] == m]
            parts = []
            for k in ("float_before", "float_after", "int8_before", "int8_after"):
                v = 100 * np.array([x[k] for x in sel])
                parts.append(f"{v.mean():6.2f} +- {v.std():4.2f} ({v.min():6.2f})")
            print(f"{s:<4g} {m:6s}  " + "  ".join(parts))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
