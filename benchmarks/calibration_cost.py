"""What on-device calibration costs on the emulated Cortex-M4: estimated cycles and instructions
(QEMU mps2-an386 with the m4cycles TCG plugin, firmware/runtime/tools/qemu_cycles) of each
collected hop, the solve and each hop decided by the solved head, and the RAM it keeps.

    PYTHONPATH=toolchain .venv/bin/python benchmarks/calibration_cost.py RUN \\
        [--seconds 2] [--method out-lda|ncm] [--hops-after 20] [--json FILE]

RUN needs an export with model_meta.h's head section (the mps2-an386 firmware is built if it is
not current). The run streams the calibration part of its held-out session (the last session,
or --session) and --hops-after hops after the solve, as `edgekit stream --calibrate` does; the
plugin brackets ek_calib_hop (per hop) and the solve function. The cycle model and what it
leaves out are in docs/runtime-cycles.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _m4cycles():
    path = REPO / "firmware/runtime/tools/qemu_cycles/m4cycles.py"
    spec = importlib.util.spec_from_file_location("m4cycles", path)
    mod = sys.modules["m4cycles"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _short(p, meta, hops_after: int):
    """The calibration part of the replay and hops_after hops after it."""
    from edgekit.bench.calib_stream import CalibReplay, hop_plan, host_frames

    rp = p.rp
    n = min(rp.counts.shape[1], rp.cal_end + (hops_after + meta.spec.n_blocks) * meta.spec.hop)
    short = CalibReplay(rp.counts[:, :n], rp.labels[:n], rp.cal_end, rp.source, rp.seconds)
    plan = hop_plan(meta, short, len(host_frames(meta, short.counts)))
    return dataclasses.replace(p, rp=short, plan=plan)


def measure(run_dir: Path, seconds: float, method: str, session, hops_after: int) -> dict:
    from edgekit.bench import qemu, timeouts
    from edgekit.bench.calib_stream import _on_device, expect_for, prepare
    from edgekit.bench.link import DeviceLink
    from edgekit.bench.session import Session
    from edgekit.boards import get_board
    from edgekit.firmware import up_to_date_build
    from edgekit.runs import Run

    m4 = _m4cycles()
    run, board = Run(run_dir), get_board("mps2-an386")
    p = prepare(run, seconds, session, None, "csl", 5, "export it first", method)
    meta = p.meta
    p = _short(p, meta, hops_after)
    elf = Path(up_to_date_build(run, board)["elf"])
    solver = "ek_calib_solve_lda" if method == "out-lda" else "ek_calib_solve_ncm"
    markers = m4.call_markers(elf, ["ek_calib_hop", solver])
    with tempfile.TemporaryDirectory(prefix="calib-cost-") as tmp:
        hits, fifo, log = Path(tmp) / "hits.txt", Path(tmp) / "rx.fifo", Path(tmp) / "qemu.log"
        os.mkfifo(fifo)
        port = qemu._free_port()
        cmd = qemu.qemu_command(board.qemu_machine, elf, port) + m4.plugin_args(
            m4.build_plugin(elf.parent), markers, hits
        )
        with open(log, "wb") as lf:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf)
        try:
            if not qemu._wait_listening(proc, port, 30.0):
                raise SystemExit(f"QEMU did not start: {log.read_text()[-2000:]}")
            expect = expect_for(run, board, p)
            with DeviceLink(
                f"socket://127.0.0.1:{port}", board.baud, timeout=60.0, rx_fifo=str(fifo)
            ) as link:
                s = Session(link, expect, timeouts.for_board(board))
                s.start(timeouts.boot_timeout(board, True))
                dev = _on_device(s, "qemu:mps2-an386", meta, p, 5, False)
        finally:
            qemu._stop(proc)
        prof = m4.read_profile(hits, markers)
    return _summary(prof, p, dev, solver)


def _summary(prof, p, dev: dict, solver: str) -> dict:
    lab, before, _ = p.plan
    hop_calls = prof.calls("ek_calib_hop")
    if len(hop_calls) != len(dev["hops"]):
        raise SystemExit(f"{len(hop_calls)} ek_calib_hop calls for {len(dev['hops'])} hops")

    def stat(calls) -> dict:
        cyc = np.array([c.counts.cycles for c in calls])
        ins = np.array([c.counts.instructions for c in calls])
        return {"calls": len(calls), "median_cycles": float(np.median(cyc)),
                "median_instructions": float(np.median(ins))}  # fmt: skip

    (solve,) = prof.calls(solver)
    return {
        "method": p.method,
        "collect_per_hop": stat([c for c, lb in zip(hop_calls, lab, strict=True) if lb >= 0]),
        "solve": stat([solve]),
        "head_per_hop": stat(hop_calls[before:]),
        "ram_bytes": int(dev["calib_start"].split("-bytes[")[1].split("]")[0]),
        "classes": p.meta.n_out,
        "features": p.hi.n_in,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--method", default="out-lda", choices=("out-lda", "ncm"))
    ap.add_argument("--session", type=int, default=None)
    ap.add_argument("--hops-after", type=int, default=20)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    r = measure(a.run, a.seconds, a.method, a.session, a.hops_after)
    print(
        f"{r['method']}: {r['classes']} classes, {r['features']} features; RAM {r['ram_bytes']:,} B"
    )
    for k in ("collect_per_hop", "solve", "head_per_hop"):
        v = r[k]
        print(
            f"  {k:16s} {v['median_cycles']:>12,.0f} cycles  {v['median_instructions']:>12,.0f} "
            f"instructions  (median of {v['calls']})"
        )
    if a.json:  # one entry per method: both methods' runs share the file
        allm = json.loads(a.json.read_text()) if a.json.exists() else {}
        allm[r["method"]] = {**r, "run": str(a.run), "seconds": a.seconds}
        a.json.write_text(json.dumps(allm, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
