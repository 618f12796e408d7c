"""edgekit-rt on a model zoo (benchmarks/zoo_models.py) on the emulated Cortex-M4: MACs,
instructions, estimated Cortex-M4 cycles (the m4cycles plugin), cycles per MAC, arena, and
byte-exactness with the tflite_micro interpreter; optionally side by side with TFLM reference
and TFLM + CMSIS-NN from the anchor (an external instrument, given by path).

    PYTHONPATH=toolchain .venv/bin/python benchmarks/bench_zoo.py [--only A,B] [--cache DIR] \
        [--anchor ../shared/anchors/tflm/run-anchor] [--records 2] [--seed 0] [--json OUT.json]
    PYTHONPATH=toolchain .venv/bin/python benchmarks/bench_zoo.py --markdown OUT.json [--by-op M]

Instructions are QEMU's (-icount shift=0: SysTick x 40, as bench_runtime.py counts them);
cycles are the plugin's estimate from the Cortex-M4 TRM timing table, zero wait states
(docs/runtime-cycles.md). A model edgekit-rt cannot run (an operator it lacks) is reported as
such in the table. --markdown prints the table from a JSON file written by --json (--by-op
MODEL: that model's ops summed by kind, against CMSIS-NN).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_runtime  # noqa: E402  (puts the semihost runner and m4cycles on the path)
import m4cycles  # noqa: E402
import zoo_models  # noqa: E402

import ekrt_semi  # noqa: E402

VARIANTS = ("reference", "cmsis-nn")


def macs_and_ops(model: Path) -> tuple[int, dict[str, int]]:
    from edgekit.export.from_tflite import tflite_macs
    from edgekit.export.tflite import inspect_tflite

    info = inspect_tflite(model.read_bytes(), str(model))
    return tflite_macs(info), info.op_counts()


def run_rt(elf: Path, jobs: list[ekrt_semi.Job], cycles: bool) -> list[ekrt_semi.Result]:
    """All models in one QEMU boot; if one brings the boot down, each alone."""
    try:
        return ekrt_semi.run(elf, jobs, timeout=3600, cycles=cycles)
    except RuntimeError:
        out = []
        for j in jobs:
            try:
                out += ekrt_semi.run(elf, [j], timeout=3600, cycles=cycles)
            except RuntimeError as e:
                out.append(ekrt_semi.Result(ok=False, error=str(e).splitlines()[0]))
        return out


def rt_record(res: ekrt_semi.Result, exact: bool, macs: int) -> dict:
    if not res.ok:
        status = "unsupported" if "not supported" in res.error else "error"
        return {"status": status, "error": res.error}
    instr = res.ticks * ekrt_semi.INSTR_PER_TICK
    rec = {"status": "ok", "instructions": instr, "arena": res.arena, "exact": exact}
    rec["instructions_per_mac"] = instr / macs if macs else None
    if res.cycles is not None:
        rec |= {
            "cycles": res.cycles.cycles,
            "cycles_per_mac": res.cycles.cycles / macs if macs else None,
            "instructions_plugin": res.cycles.instructions,
            "by_class": res.cycles.by_class(),
            "events": res.cycles.events(),
        }
    rec["ops"] = [
        {
            "index": o.index,
            "op": o.name,
            "macs": o.macs,
            "instructions": o.ticks * ekrt_semi.INSTR_PER_TICK,
            "cycles": o.cycles.cycles if o.cycles else None,
        }
        for o in res.ops
    ]
    return rec


def tflm_record(anchor: Path, model: Path, inputs: Path, want: list[str], plugin) -> dict:
    try:
        got = bench_runtime.run_anchor(anchor, model, inputs)
    except RuntimeError as e:
        return {v: {"status": "error", "error": str(e)} for v in VARIANTS}
    out = {}
    for v in VARIANTS:
        a = got[v]
        out[v] = {
            "status": "ok",
            "instructions": a["instructions"],
            "arena": a["arena_used_bytes"],
            "exact": a["outputs_hex"] == want,
            "ops": a["ops"],
        }
        if plugin is not None:
            from anchor_cycles import measure

            c = measure(anchor, v, model, inputs, plugin)
            out[v]["cycles"] = c and c["cycles"]
            out[v]["cycles_detail"] = c
    return out


def bench(args: argparse.Namespace) -> list[dict]:
    recipes = zoo_models.select(args.only)
    models = {}
    for r in recipes:
        print(f"model {r.name} ...", file=sys.stderr, flush=True)
        models[r.name] = zoo_models.build(r, args.cache)
    records = []
    with tempfile.TemporaryDirectory(prefix="bench-zoo-") as tmp:
        t = Path(tmp)
        elf = ekrt_semi.build(t / "build")
        plugin = m4cycles.build_plugin(t / "build") if args.cycles else None
        jobs, recs = [], []
        for i, r in enumerate(recipes):
            x = bench_runtime.input_records(models[r.name], args.records, args.seed)
            (t / f"in{i}.bin").write_bytes(x.tobytes())
            recs.append(x)
            jobs.append(ekrt_semi.Job(models[r.name], t / f"in{i}.bin", t / f"out{i}.bin", True))
        print(f"edgekit-rt: {len(jobs)} models in QEMU ...", file=sys.stderr, flush=True)
        results = run_rt(elf, jobs, args.cycles)
        for i, (r, res) in enumerate(zip(recipes, results, strict=True)):
            m = models[r.name]
            macs, ops = macs_and_ops(m)
            want = bench_runtime.tflm_output_records(m, recs[i])
            exact = res.ok and (t / f"out{i}.bin").read_bytes() == b"".join(want)
            rec = {"model": r.name, "group": r.group, "note": r.note, "file": m.name}
            rec |= {"macs": macs, "ops": ops, "tflite_bytes": m.stat().st_size}
            rec["edgekit_rt"] = rt_record(res, exact, macs)
            if args.anchor:
                print(f"anchor: {r.name} ...", file=sys.stderr, flush=True)
                hexes = [w.hex() for w in want]
                rec["tflm"] = tflm_record(args.anchor, m, t / f"in{i}.bin", hexes, plugin)
            records.append(rec)
    return records


# --- the table -----------------------------------------------------------------------------


def _n(v, spec: str = ",") -> str:
    return "-" if v is None else format(v, spec)


def _ratio(a, b) -> str:
    return "-" if not a or not b else f"{a / b:.2f}"


def markdown(records: list[dict]) -> str:
    head = (
        "| model | MACs | edgekit-rt instr | est. cycles | cycles / MAC | arena B | exact |"
        " TFLM ref instr | ref cycles | CMSIS-NN instr | CMSIS-NN cycles | CMSIS-NN arena B |"
        " rt / CMSIS-NN instr | rt / CMSIS-NN cycles |"
    )
    lines = [head, "|---|" + "---:|" * 5 + ":---:|" + "---:|" * 8]
    for r in records:
        rt, tf = r["edgekit_rt"], r.get("tflm") or {}
        ref, cm = tf.get("reference", {}), tf.get("cmsis-nn", {})
        if rt["status"] == "ok":
            cells = [
                _n(rt["instructions"]),
                _n(rt.get("cycles")),
                _n(rt.get("cycles_per_mac"), ".2f"),
            ]
            cells += [_n(rt["arena"]), "yes" if rt["exact"] else "**NO**"]
        else:
            why = rt["error"].split(": ")[-1] if rt["status"] == "unsupported" else rt["error"]
            op = rt["error"].split("(")[1].split(")")[0] if "(" in rt["error"] else ""
            cells = [f"{rt['status']}: {op or why}", "-", "-", "-", "-"]
        cells += [_n(ref.get("instructions")), _n(ref.get("cycles"))]
        cells += [_n(cm.get("instructions")), _n(cm.get("cycles")), _n(cm.get("arena"))]
        cells += [_ratio(rt.get("instructions"), cm.get("instructions"))]
        cells += [_ratio(rt.get("cycles"), cm.get("cycles"))]
        lines.append(f"| {r['model']} | {_n(r['macs'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def by_op_markdown(rec: dict) -> str:
    """One model's ops summed by kind: edgekit-rt against TFLM + CMSIS-NN."""
    cm = (rec.get("tflm") or {}).get("cmsis-nn") or {}
    cm_ops = {o["index"]: o for o in cm.get("ops") or []}
    cm_cyc = {o["index"]: o for o in (cm.get("cycles_detail") or {}).get("ops") or []}
    rows: dict[str, list[int]] = {}
    for o in rec["edgekit_rt"].get("ops", []):
        a = rows.setdefault(o["op"], [0] * 6)
        a[0] += 1
        a[1] += o["macs"]
        a[2] += o["instructions"]
        a[3] += o["cycles"] or 0
        a[4] += cm_ops.get(o["index"], {}).get("instructions", 0)
        a[5] += cm_cyc.get(o["index"], {}).get("cycles", 0)
    lines = [
        f"{rec['model']}, per op kind:",
        "",
        "| op | count | MACs | edgekit-rt instr | est. cycles | CMSIS-NN instr | CMSIS-NN cycles |"
        " rt / CMSIS-NN instr | rt / CMSIS-NN cycles |",
        "|---|" + "---:|" * 8,
    ]
    for op, (n, macs, ri, rc, ci, cc) in rows.items():
        lines.append(
            f"| {op} | {n} | {_n(macs or None)} | {ri:,} | {rc:,} | {_n(ci or None)} | "
            f"{_n(cc or None)} | {_ratio(ri, ci)} | {_ratio(rc, cc)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated zoo model names (default: all)")
    ap.add_argument("--cache", type=Path, default=zoo_models.default_cache())
    ap.add_argument("--anchor", type=Path, help="TFLM anchor runner (run-anchor) to compare with")
    ap.add_argument("--records", type=int, default=2, help="random inputs per model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-cycles", dest="cycles", action="store_false", help="skip m4cycles")
    ap.add_argument("--json", type=Path, help="write the records to this file")
    ap.add_argument("--markdown", type=Path, help="print the table of a --json file and exit")
    ap.add_argument("--by-op", metavar="MODEL", help="with --markdown: one model's op kinds")
    args = ap.parse_args(argv)
    if args.markdown:
        models = json.loads(args.markdown.read_text())["models"]
        if args.by_op:
            rec = next((m for m in models if m["model"] == args.by_op), None)
            if rec is None or rec["edgekit_rt"]["status"] != "ok":
                raise SystemExit(f"{args.markdown}: no edgekit-rt result for {args.by_op}")
            print(by_op_markdown(rec), end="")
        else:
            print(markdown(models), end="")
        return 0
    records = bench(args)
    if args.json:
        meta = {"records": args.records, "seed": args.seed, "cache": str(args.cache)}
        meta["anchor"] = str(args.anchor or "")
        args.json.write_text(json.dumps({"meta": meta, "models": records}, indent=1) + "\n")
    print(markdown(records), end="")
    ok = all(r["edgekit_rt"]["status"] != "ok" or r["edgekit_rt"]["exact"] for r in records)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
