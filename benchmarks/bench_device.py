"""On-device cost of exported models on the emulated Cortex-M4 (QEMU mps2-an386).

For each run directory (already exported), build the firmware for mps2-an386, boot it in QEMU
with -icount shift=0, bench it against the host reference and print one table row:

    MACs | flash | arena used | QEMU ticks / inference | implied instructions (ticks * 40) |
    MACs per instruction | exact int8 match

Ticks are SysTick at 25 MHz under -icount shift=0: an instruction count in units of 40
instructions (+-1 tick of phase), not Cortex-M4 cycles.

    PYTHONPATH=toolchain .venv/bin/python benchmarks/bench_device.py runs/mbv2-w0.2 runs/mbv2-w0.5 \
        runs/mbv2-w1 runs/mbv2-seed-w0.2 [--samples 20]

Any int8 .tflite works too (exported into runs/tflite-<name>, host reference computed by
tflite_micro on --samples seeded random inputs, or on --inputs X.npy):

    PYTHONPATH=toolchain .venv/bin/python benchmarks/bench_device.py --tflite my_model.tflite
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edgekit import firmware, runs
from edgekit.bench import run_bench
from edgekit.boards import get_board
from edgekit.errors import EdgekitError


def model_macs(run: runs.Run, rec: dict[str, Any]) -> int | None:
    """MACs from the bench record (export.json), else counted on the float model's architecture."""
    if rec.get("macs"):
        return int(rec["macs"])
    if not run.float_ckpt.exists():
        return None
    from edgekit.checkpoint import load
    from edgekit.nn import build_model
    from edgekit.nn.profile import profile_model

    m = load(run.float_ckpt)
    return profile_model(build_model(m.arch, m.width, m.num_classes, m.geometry().shape)).total_macs


def bench_one(root: Path, samples: int, rebuild: bool, profile: bool = False) -> dict[str, Any]:
    board = get_board("mps2-an386")
    run = runs.Run(root)

    def build() -> dict[str, Any]:
        fw = run.firmware_dir(board.name)
        if rebuild or not (fw / "Makefile").exists():
            fw = firmware.render(run, board)
        return firmware.build(fw, board)

    rec = run_bench(
        run,
        board,
        None,
        samples=samples,
        progress=False,
        build_fn=build,
        latency_samples=1,
        latency_n=3,
        profile=profile,
    )
    macs = model_macs(run, rec)
    ticks = rec["latency"]["median_ticks"]
    instr = rec["qemu"]["instructions_per_inference"]
    return {
        "run": str(root),
        "macs": macs,
        "flash": rec["flash_bytes"],
        "ram": rec["ram_bytes"],
        "arena": rec["arena_used"],
        "ticks": ticks,
        "instr": instr,
        "macs_per_instr": (macs / instr) if macs and instr else None,
        "exact": rec["exact_match_rate"],
        "samples": rec["samples"],
        "profile": rec.get("profile"),
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'run':28s} {'MACs':>10s} {'flash B':>9s} {'arena B':>8s} {'ticks':>9s} "
        f"{'instr (x40)':>12s} {'MAC/instr':>9s} {'exact':>7s}"
    )
    out = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            out.append(f"{r['run']:28s} ERROR: {r['error']}")
            continue
        mpi = "n/a" if r["macs_per_instr"] is None else f"{r['macs_per_instr']:.3f}"
        macs = "n/a" if r["macs"] is None else f"{r['macs']:,}"
        out.append(
            f"{r['run'][-28:]:28s} {macs:>10s} {r['flash']:>9,} {r['arena']:>8,} "
            f"{r['ticks']:>9,.0f} {r['instr']:>12,.0f} {mpi:>9s} {100 * r['exact']:>6.1f}%"
        )
    out.append(
        "ticks: SysTick (25 MHz) under QEMU -icount shift=0 = 40 guest instructions each; an "
        "instruction-count proxy, not Cortex-M4 cycles."
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("runs", nargs="*", type=Path, help="exported run directories")
    ap.add_argument(
        "--tflite",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="an int8 .tflite to bench as well (repeatable)",
    )
    ap.add_argument(
        "--inputs",
        type=Path,
        default=None,
        metavar="NPY",
        help="int8 inputs for --tflite (default: seeded random)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true", help="also print each model's per-op table")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--rebuild", action="store_true", help="re-render the firmware project first")
    args = ap.parse_args(argv)
    if not args.runs and not args.tflite:
        ap.error("give run directories and/or --tflite FILE")
    rows = []
    roots = list(args.runs)
    fresh: set[Path] = set()
    for model in args.tflite:
        from edgekit.export.from_tflite import export_tflite

        root = runs.DEFAULT_RUNS_ROOT / f"tflite-{model.stem}"
        print(f"bench_device: exporting {model} into {root} ...", file=sys.stderr, flush=True)
        try:
            export_tflite(
                runs.Run(root),
                get_board("mps2-an386"),
                model,
                args.inputs,
                n=args.samples,
                seed=args.seed,
            )
            roots.append(root)
            fresh.add(root)  # a new export: its firmware project must be rendered again
        except EdgekitError as e:
            rows.append({"run": str(model), "error": str(e).splitlines()[0]})
    for root in roots:
        print(f"bench_device: {root} ...", file=sys.stderr, flush=True)
        try:
            rows.append(bench_one(root, args.samples, args.rebuild or root in fresh, args.profile))
        except EdgekitError as e:
            rows.append({"run": str(root), "error": str(e).splitlines()[0]})
    print(table(rows))
    for r in rows:
        if r.get("profile"):
            from edgekit.bench.layers import profile_markdown

            print(f"\n{r['run']}: per-op profile\n")
            print("\n".join(profile_markdown(r["profile"], "systick")))
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
