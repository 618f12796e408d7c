"""Per-session calibration over a sweep's trials: accuracy on the rest of each held-out session
before and after calibrating on its first S seconds per gesture, on the host and on the board.

    PYTHONPATH=toolchain .venv/bin/python benchmarks/calibration_table.py \\
        /work/pool/sweep/trials/mbv2-w*-seed*-sess*/run --seconds 1,2,5 \\
        --json docs/results/calibration.json [--board mps2-an386 --board-runs TRIAL:S:METHOD,... --scratch DIR]
    PYTHONPATH=toolchain .venv/bin/python benchmarks/calibration_table.py \\
        --json docs/results/calibration.json --write-doc docs/calibration.md

Each run is a trial directory of `edgekit sweep` (held-out session K = its test session). Per run
and S, three measurements (the JSON keeps every one; a rerun skips those already in it):
  host    `edgekit calibrate`'s numbers (calibrate.evaluate, the board's method "ncm"): per-trial
          frames as training makes them, float and int8 (int8 after: TFLM's arithmetic);
  stream  the calibrated stream as `edgekit stream --calibrate S` lays it out, decided by the
          host's mirror of the board (bench/calib_stream.prepare): per hop, k=1 and k=5;
  board   the same stream on the board (QEMU mps2-an386) for the runs in --board-runs: the run
          is copied to --scratch (the sweep's runs are read-only), its model_meta.h rewritten with
          the head section, the firmware built; the report says whether head, outputs, classes and
          votes equal the host's (they must: `stream` then equals `board` on every run).
--write-doc renders the doc's tables (`<!-- table:calibration -->`: docs/results/calibration.json).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np

VOTE = 5


def trial_name(run: Path) -> str:
    return run.parent.name if run.name == "run" else run.name


def parse_name(name: str) -> dict:
    m = re.match(r"(\w+)-w([\d.]+)-seed(\d+)-sess(\d+)", name)
    return {"width": float(m[2]), "seed": int(m[3]), "session": int(m[4])} if m else {}


def held_out_session(run: Path) -> int | None:
    d = json.loads((run / "train.json").read_text())
    m = re.search(r"test session (\d+)", d.get("split", {}).get("description", ""))
    return int(m.group(1)) if m else None


def host_part(run: Path, secs: list[float], methods: list[str], done) -> list[dict]:
    from edgekit.calibrate import evaluate, prepare
    from edgekit.runs import Run

    todo = [(s, m) for s in secs for m in methods if not done(trial_name(run), s, "host", m)]
    if not todo:
        return []
    p = prepare(Run(run), held_out_session(run))
    out = []
    for s, m in todo:
        c = evaluate(p, s, m)
        rest = int(c.rest.sum())
        out.append({"part": "host", "method": m, "seconds": s, **c.accuracy, "rest_frames": rest})
    return out


def stream_part(run: Path, secs: list[float], methods: list[str], done) -> list[dict]:
    from edgekit.bench.calib_stream import METHODS, host_accuracy, prepare
    from edgekit.runs import Run

    out = []
    for s in secs:
        for m in sorted(methods):  # the same hops for both methods: features computed once
            if m not in METHODS or done(trial_name(run), s, "stream", m):
                continue
            p = prepare(Run(run), s, held_out_session(run), None, "csl", VOTE, "export", m)
            out.append({"part": "stream", "method": m, "seconds": s, **host_accuracy(p, VOTE)})
    return out


def board_part(run: Path, s: float, method: str, board_name: str, scratch: Path) -> dict:
    """The calibrated stream on the board, on a copy of the run with the head section."""
    from edgekit import checkpoint, runs
    from edgekit.bench.calib_stream import run_calibrated_stream
    from edgekit.bench.run import current_firmware
    from edgekit.boards import get_board
    from edgekit.export import carray

    dst = scratch / trial_name(run)
    if not dst.exists():
        tmp = scratch / f".{trial_name(run)}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "export").mkdir(parents=True)
        for f in ("float.pt", "train.json"):
            shutil.copy2(run / f, tmp / f)
        for f in ("model_int8.tflite", "export.json", "reference.npz"):
            shutil.copy2(run / "export" / f, tmp / "export" / f)
        d = runs.read_json(tmp / "export" / "export.json")
        data = (tmp / "export" / "model_int8.tflite").read_bytes()
        carray.write_all(
            tmp / "export", checkpoint.load(tmp / "float.pt"), data, d["input"], d["output"],
            d["arena"]["ek_arena_size"], d["resolver_ops"], d["arena"].get("tflm_arena_size"),
        )  # fmt: skip
        tmp.rename(dst)
    board = get_board(board_name)
    r = runs.Run(dst)
    rep = run_calibrated_stream(
        r, board, s, session=held_out_session(run), vote=VOTE, method=method,
        build_fn=current_firmware(r, board), progress=False,
    )  # fmt: skip
    a = rep["accuracy"]
    return {
        "part": "board",
        "method": method,
        "seconds": s,
        "board": board_name,
        "before_k1": a["board_before_k1"],
        "after_k1": a["board_after_k1"],
        f"before_k{VOTE}": a[f"board_before_k{VOTE}"],
        f"after_k{VOTE}": a[f"board_after_k{VOTE}"],
        "exact": rep["exact"],
        "errors": len(rep["errors"]),
        "cost": rep["cost"],
        "scored_hops": rep["scored_hops"],
    }


def measure(a: argparse.Namespace) -> None:
    rows = json.loads(a.json.read_text()) if a.json.exists() else []
    secs = [float(s) for s in a.seconds.split(",")]
    methods = a.methods.split(",")
    board_runs = {tuple(x.split(":")) for x in a.board_runs.split(",") if x}  # TRIAL may be *

    def done(name: str, s: float, part: str, m: str) -> bool:
        return any(
            (r["trial"], r["seconds"], r["part"], r["method"]) == (name, s, part, m) for r in rows
        )

    def save(new: list[dict], name: str) -> None:
        for r in new:
            rows.append({"trial": name, **parse_name(name), **r})
            print(json.dumps(rows[-1]), flush=True)
        a.json.write_text(json.dumps(rows, indent=1) + "\n")

    for run in a.runs:
        name = trial_name(run)
        if not (run / "export" / "model_int8.tflite").exists():
            print(f"{name}: no export yet, skipped", flush=True)
            continue
        save(host_part(run, secs, methods, done), name)
        save(stream_part(run, secs, methods, done), name)
        for s in secs:
            for m in methods:
                on_board = {(name, f"{s:g}", m), ("*", f"{s:g}", m)} & board_runs
                if on_board and not done(name, s, "board", m):
                    save([board_part(run, s, m, a.board, a.scratch)], name)


def _stat(v: list[float]) -> str:
    x = 100 * np.array(v)
    return f"{x.mean():.2f} ± {x.std():.2f} ({x.min():.2f})"


def tables(rows: list[dict]) -> str:
    """Markdown: per method, width and S, mean ± std (worst) over the trials, before / after."""
    out = []
    for m in [x for x in ("out-lda", "ncm", "lda", "lsq") if any(r["method"] == x for r in rows)]:
        out += [f"#### {m}", ""]
        for w in sorted({r["width"] for r in rows}):
            sel = [r for r in rows if r["width"] == w and r["method"] == m]
            n = len({r["trial"] for r in sel})
            out += [
                f"mbv2 w{w:g}, {n} trials (seeds x held-out sessions); accuracy on the rest of "
                "the session, %, mean ± std (worst trial)",
                "",
                "| S per gesture | host float before | host float after | host int8 before | "
                "host int8 after | stream k=1 before | stream k=1 after | "
                f"stream k={VOTE} before | stream k={VOTE} after |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for s in sorted({r["seconds"] for r in sel}):
                h = [r for r in sel if r["seconds"] == s and r["part"] == "host"]
                st = [r for r in sel if r["seconds"] == s and r["part"] == "stream"]
                cells = [_stat([r[k] for r in h]) if h else "-" for k in _HOST]
                cells += [_stat([r[k] for r in st]) if st else "-" for k in _STREAM]
                out.append(f"| {s:g} s | " + " | ".join(cells) + " |")
            out.append("")
    return "\n".join(out + _board_table(rows))


def _board_table(rows: list[dict]) -> list[str]:
    """The board's rows, mean ± std (worst) over the trials streamed per width, method and S."""
    brd = [r for r in rows if r["part"] == "board"]
    if not brd:
        return []
    out = [
        "#### On the board",
        "",
        "QEMU mps2-an386, each trial's whole held-out session streamed with `--calibrate S`; "
        "accuracy %, mean ± std (worst trial); exact = trials whose solved head (its bytes) and "
        "every output, class and vote equal the host's mirror; costs: median instructions "
        "(QEMU -icount, 40 per SysTick tick), the largest over the trials.",
        "",
        "| width | method | S | trials | k=1 before | k=1 after | "
        f"k={VOTE} before | k={VOTE} after | exact | solve | per hop: collect / head | RAM (B) |",
        "|---|---|---|---:|---|---|---|---|---|---:|---:|---:|",
    ]
    for key in sorted({(r["width"], r["method"], r["seconds"]) for r in brd}):
        sel = [r for r in brd if (r["width"], r["method"], r["seconds"]) == key]
        ok = sum(
            r["exact"]["head_bytes"] and r["exact"]["outputs"] == r["exact"]["classes"]
            == r["exact"]["votes"] == 1.0 for r in sel
        )  # fmt: skip
        out.append(
            f"| {key[0]:g} | {key[1]} | {key[2]:g} s | {len(sel)} | "
            + " | ".join(
                _stat([r[k] for r in sel])
                for k in ("before_k1", "after_k1", f"before_k{VOTE}", f"after_k{VOTE}")
            )
            + f" | {ok}/{len(sel)} | {_most(sel, 'solve'):,.0f} | "
            f"{_most(sel, 'collect_per_hop'):,.0f} / "
            f"{_most(sel, 'head_per_hop'):,.0f} | "
            f"{max(r['cost']['ram_bytes'] for r in sel):,} |"
        )
    return out + [""]


def _most(rows: list[dict], part: str) -> float:
    return max(r["cost"][part].get("median_instructions", 0) for r in rows)


_HOST = ("float_before", "float_after", "int8_before", "int8_after")
_STREAM = ("before_k1", "after_k1", f"before_k{VOTE}", f"after_k{VOTE}")


def write_doc(doc: Path) -> None:
    """The doc's tables from docs/results (benchmarks/docs_tables.py renders every result table)."""
    import docs_tables

    doc.write_text(docs_tables.render(doc.read_text(), doc))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="*", type=Path)
    ap.add_argument("--seconds", default="1,2,5")
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--methods", default="out-lda,ncm,lda,lsq", help="host; stream: board's")
    ap.add_argument(
        "--board-runs",
        default="",
        help="TRIAL:S:METHOD,... streamed on the board (TRIAL * for every run given)",
    )
    ap.add_argument("--scratch", type=Path, default=Path("runs/calibration-table"))
    ap.add_argument("--write-doc", type=Path, default=None)
    a = ap.parse_args(argv)
    if a.runs:
        a.scratch.mkdir(parents=True, exist_ok=True)
        measure(a)
    if a.write_doc:
        write_doc(a.write_doc)
    elif not a.runs:
        print(tables(json.loads(a.json.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
