"""The on-device feature chain's cost per hop (firmware/dsp) on an emulated Cortex-M4F.

    PYTHONPATH=toolchain .venv/bin/python benchmarks/bench_features.py \
        runs/mbv2-w0.2/export/model_meta.h [--board stm32f405] [--json FILE]

A thin front to edgekit.bench.feature_cost (what `edgekit stream` and `edgekit sweep` use):
firmware/dsp/tools/ek_features_bench.c built against the export's model_meta.h (its grid,
band-pass, hop and window) with the board's port flags (a Cortex-M4F: hard float), run in QEMU
with the m4cycles plugin on every ek_features_push_block call; the figure is a hop that makes a
frame, samples pushed EK_FEAT_BLOCK_MAX at a time as the firmware's stream pushes them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgekit.bench.feature_cost import feature_cost
from edgekit.boards import get_board
from edgekit.errors import EdgekitError


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("meta", type=Path, help="an export's model_meta.h")
    ap.add_argument("--board", default="stm32f405", help="a Cortex-M4(F) board (default stm32f405)")
    ap.add_argument("--json", type=Path, default=None, help="also write the record here")
    a = ap.parse_args()
    board = get_board(a.board)
    try:
        r = feature_cost(a.meta, board)
    except EdgekitError as e:
        raise SystemExit(f"bench_features: {e}") from None
    r = {**r, "meta": str(a.meta), "clock_hz": board.clock_hz}
    hop_s = r["hop_samples"] / r["fs"]
    share = r["median_cycles"] / (board.clock_hz * hop_s)
    print(
        f"{a.meta}: {r['channels']} channels, {r['hop_samples']} samples per hop, pushed "
        f"{r['block']} at a time: {r['median_instructions']:,.0f} instructions, "
        f"{r['median_cycles']:,.0f} estimated cycles per hop ({share:.1%} of the "
        f"{1e3 * hop_s:.1f} ms hop at {board.clock_hz / 1e6:g} MHz)"
    )
    if a.json:
        a.json.write_text(json.dumps(r, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
