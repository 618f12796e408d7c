"""Wall time of `quantize` and `export` at width 0.2 for mbv2 and mbv2-seed.

    PYTHONPATH=toolchain python benchmarks/bench_quantize_export.py RUN_DIR [--qat-epochs N] [--board B]

RUN_DIR must hold frames.npz (from `edgekit train`); for each arch the float model is taken from
RUN_DIR/<arch>-w0.2/float.pt if present, else from RUN_DIR/float.pt when its arch matches,
else that arch is skipped. Work happens in RUN_DIR/bench-qe/<arch>/ (copies), never in RUN_DIR.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from edgekit import checkpoint, quantize, runs
from edgekit.boards import get_board
from edgekit.cli import QAT_EPOCHS
from edgekit.export import run_export


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--qat-epochs", type=int, default=QAT_EPOCHS)
    ap.add_argument("--board", default="mps2-an386")
    args = ap.parse_args(argv)
    src = runs.Run(args.run_dir)
    if not src.frames.exists():
        print(
            f"{src.frames}: not found (run `edgekit train --run {args.run_dir}` first)",
            file=sys.stderr,
        )
        return 2
    board = get_board(args.board)
    rows = []
    for arch in ("mbv2", "mbv2-seed"):
        cands = [args.run_dir / f"{arch}-w0.2" / "float.pt", src.float_ckpt]
        ckpt = next(
            (
                p
                for p in cands
                if p.exists()
                and checkpoint.load(p).arch == arch
                and checkpoint.load(p).width == 0.2
            ),
            None,
        )
        if ckpt is None:
            rows.append((arch, None, None, None, "no float.pt for this arch at w0.2"))
            continue
        work = runs.Run(args.run_dir / "bench-qe" / arch)
        if work.root.exists():
            shutil.rmtree(work.root)
        work.root.mkdir(parents=True)
        shutil.copy(ckpt, work.float_ckpt)
        shutil.copy(src.frames, work.frames)
        t = time.time()
        quantize.run_quantize(work, epochs=args.qat_epochs, seed=0, progress=False)
        tq = time.time() - t
        t = time.time()
        rep = run_export(work, board, seed=0, progress=False)
        te = time.time() - t
        a = rep["accuracy"]
        rows.append(
            (
                arch,
                tq,
                te,
                rep["model_bytes"],
                f"int8 {a['int8_host']:.4f} agree {a['qat_int8_agreement']:.4f} "
                f"ops {','.join(rep['ops'])}",
            )
        )
    print(
        f"{'arch':10s} {'quantize s':>10s} {'export s':>9s} {'tflite B':>9s}  notes "
        f"(QAT epochs {args.qat_epochs}, board {args.board})"
    )
    for arch, tq, te, nb, note in rows:
        f = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
        print(f"{arch:10s} {f(tq, '10.1f')} {f(te, '9.1f')} {f(nb, '9,d')}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
