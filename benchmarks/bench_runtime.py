"""edgekit-rt instructions and estimated Cortex-M4 cycles per inference and per op on the
emulated Cortex-M4 (QEMU mps2-an386, -icount shift=0), optionally side by side with TFLM
(reference kernels and CMSIS-NN) measured by an external anchor runner on the same inputs.

    PYTHONPATH=toolchain .venv/bin/python benchmarks/bench_runtime.py MODEL.tflite [...] \
        [--anchor /path/to/run-anchor] [--records 2] [--seed 0] [--no-cycles] [--json]

edgekit-rt runs in firmware/runtime/tools/semihost/ekrt_semi.elf (built here, -Os with the
kernel files at -O2, as the mps2-an386 port builds it); every op is timed inside the real
invoke (ekrt_invoke_ops one op at a time). SysTick ticks x 40 = instructions (+-40 per
measurement). Cycles are the m4cycles plugin's estimate (firmware/runtime/tools/qemu_cycles,
docs/runtime-cycles.md: the Cortex-M4 TRM timing table, zero wait states). The outputs are
checked byte for byte against the tflite_micro interpreter.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "firmware" / "runtime" / "tools" / "semihost"))
import ekrt_semi  # noqa: E402

# tflite_micro's default arena (10 x the model's size) is too small for a small model with
# large activations (one layer at 96 x 96)
HOST_ARENA = 32 << 20


def host_interpreter(model: Path):
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(model.read_bytes(), arena_size=HOST_ARENA)


def tflm_output_records(model: Path, records: np.ndarray) -> list[bytes]:
    """The tflite_micro interpreter's output bytes, one entry per input record."""
    interp = host_interpreter(model)
    shape = tuple(interp.get_input_details(0)["shape"])
    out = []
    for r in records:
        interp.set_input(r.reshape(shape), 0)
        interp.invoke()
        out.append(np.array(interp.get_output(0)).tobytes())
    return out


def tflm_outputs(model: Path, records: np.ndarray) -> bytes:
    return b"".join(tflm_output_records(model, records))


def input_records(model: Path, n: int, seed: int) -> np.ndarray:
    d = host_interpreter(model).get_input_details(0)
    if np.dtype(d["dtype"]) != np.int8:
        raise SystemExit(f"{model}: input type {np.dtype(d['dtype'])}; this benchmark feeds int8")
    size = int(np.prod(d["shape"]))
    return np.random.default_rng(seed).integers(-128, 128, size=(n, size), dtype=np.int8)


def run_anchor(anchor: Path, model: Path, inputs: Path) -> dict:
    proc = subprocess.run(
        [str(anchor), str(model), "--inputs", str(inputs), "--variant", "both", "--json"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"anchor failed on {model}: {proc.stderr.strip()[-1000:]}")
    return {r["variant"]: r for r in json.loads(proc.stdout)["results"]}


def fmt(v: float | int | None, spec: str = ",") -> str:
    return "-" if v is None else format(v, spec)


def table(model: Path, res: ekrt_semi.Result, exact: bool, anchor: dict | None) -> str:
    k = ekrt_semi.INSTR_PER_TICK
    ref = anchor.get("reference") if anchor else None
    cm = anchor.get("cmsis-nn") if anchor else None
    lines = [f"## {model.name}", ""]
    head = "| # | op | MACs | edgekit-rt instr | instr/MAC | est. cycles | cycles/MAC |"
    sep = "|---:|---|---:|---:|---:|---:|---:|"
    if anchor:
        head += " TFLM reference | TFLM CMSIS-NN | rt / CMSIS-NN |"
        sep += "---:|---:|---:|"
    lines += [head, sep]
    for op in res.ops:
        instr = op.ticks * k
        cyc = op.cycles.cycles if op.cycles else None
        row = (
            f"| {op.index} | {op.name} | {fmt(op.macs or None)} | {instr:,} | "
            f"{fmt(instr / op.macs if op.macs else None, '.2f')} | {fmt(cyc)} | "
            f"{fmt(cyc / op.macs if op.macs and cyc else None, '.2f')} |"
        )
        if anchor:
            r = ref["ops"][op.index]["instructions"] if ref else None
            c = cm["ops"][op.index]["instructions"] if cm else None
            row += f" {fmt(r)} | {fmt(c)} | {fmt(instr / c if c else None, '.2f')} |"
        lines.append(row)
    total_macs = sum(o.macs for o in res.ops)
    instr = res.ticks * k
    cyc = res.cycles.cycles if res.cycles else None
    row = (
        f"| | **total** | {total_macs:,} | **{instr:,}** | {instr / max(total_macs, 1):.2f} | "
        f"**{fmt(cyc)}** | {fmt(cyc / total_macs if cyc and total_macs else None, '.2f')} |"
    )
    if anchor:
        row += (
            f" {fmt(ref['instructions'] if ref else None)} | "
            f"{fmt(cm['instructions'] if cm else None)} | "
            f"{fmt(instr / cm['instructions'] if cm else None, '.3f')} |"
        )
    lines.append(row)
    arena = f"arena: edgekit-rt {res.arena:,} B"
    if anchor:
        arena += "".join(f", TFLM {v} {anchor[v]['arena_used_bytes']:,} B" for v in anchor)
    lines += ["", arena, f"outputs byte-exact with tflite_micro: {'yes' if exact else 'NO'}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--anchor", type=Path, help="TFLM anchor runner (run-anchor) to compare with")
    ap.add_argument("--records", type=int, default=2, help="random inputs per model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-cycles", dest="cycles", action="store_false", help="skip m4cycles")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out = []
    with tempfile.TemporaryDirectory(prefix="bench-rt-") as tmp:
        t = Path(tmp)
        elf = ekrt_semi.build(t / "build")
        jobs, recs = [], []
        for i, m in enumerate(args.models):
            r = input_records(m, args.records, args.seed)
            (t / f"in{i}.bin").write_bytes(r.tobytes())
            recs.append(r)
            jobs.append(ekrt_semi.Job(m.resolve(), t / f"in{i}.bin", t / f"out{i}.bin", True))
        results = ekrt_semi.run(elf, jobs, cycles=args.cycles)
        for i, (m, res) in enumerate(zip(args.models, results, strict=True)):
            if not res.ok:
                print(f"{m}: edgekit-rt error: {res.error}", file=sys.stderr)
                return 1
            exact = (t / f"out{i}.bin").read_bytes() == tflm_outputs(m, recs[i])
            try:
                anchor = run_anchor(args.anchor, m, t / f"in{i}.bin") if args.anchor else None
            except RuntimeError as e:
                raise SystemExit(str(e)) from None
            out.append(
                {
                    "model": str(m),
                    "instructions": res.ticks * ekrt_semi.INSTR_PER_TICK,
                    "cycles_estimate": res.cycles.as_dict() if res.cycles else None,
                    "arena": res.arena,
                    "exact": exact,
                    "ops": [
                        {
                            "index": o.index,
                            "op": o.name,
                            "macs": o.macs,
                            "instructions": o.ticks * ekrt_semi.INSTR_PER_TICK,
                            "cycles_estimate": o.cycles.cycles if o.cycles else None,
                        }
                        for o in res.ops
                    ],
                    "anchor": anchor
                    and {
                        v: {"instructions": a["instructions"], "arena": a["arena_used_bytes"]}
                        for v, a in anchor.items()
                    },
                }
            )
            if not args.json:
                print(table(m, res, exact, anchor))
    if args.json:
        print(json.dumps(out, indent=1))
    return 0 if all(o["exact"] for o in out) else 1


if __name__ == "__main__":
    sys.exit(main())
