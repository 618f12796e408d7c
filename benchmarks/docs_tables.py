"""Write the result tables of README.md and docs/*.md from the JSON that produced them.

    PYTHONPATH=toolchain .venv/bin/python benchmarks/docs_tables.py          # (make docs)
    PYTHONPATH=toolchain .venv/bin/python benchmarks/docs_tables.py --check  # exit 1 if stale

A table lives between `<!-- table:NAME -->` and `<!-- /table -->` in a Markdown file; NAME picks a
renderer below and the renderer reads its JSON from docs/results/ (written by the command each
renderer's docstring names). Nothing between the markers is edited by hand: the next run would
overwrite it, and tests/test_docs_tables.py fails while a table differs from its JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))
MARKED = re.compile(r"(<!-- table:([\w-]+)(?::([\w.-]+))? -->\n)(.*?)(<!-- /table -->)", re.S)


def _json(name: str) -> dict:
    path = RESULTS / name
    if not path.is_file():
        raise SystemExit(f"{path}: missing (the table's JSON; see benchmarks/docs_tables.py)")
    return json.loads(path.read_text())


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def demo() -> str:
    """docs/results/demo.json: `edgekit demo --json` (mbv2 w0.2, seed 0, mps2-an386)."""
    from edgekit.demo import demo_rows

    rows = [(k, v) for k, v in demo_rows(_json("demo.json")) if k not in ("run", "wall time")]
    return "| | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)


def _zoo_models() -> list[dict]:
    return _json("zoo.json")["models"]


def zoo() -> str:
    """docs/results/zoo.json: `benchmarks/bench_zoo.py --anchor <run-anchor> --json`."""
    import bench_zoo

    return bench_zoo.markdown(_zoo_models())


def zoo_short() -> str:
    """The zoo's whole models (no single layers): cycles per MAC and the ratios to CMSIS-NN."""
    lines = [
        "| model | MACs | edgekit-rt est. cycles / MAC | rt / CMSIS-NN cycles |"
        " rt / CMSIS-NN instructions | arena rt / CMSIS-NN B |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in _zoo_models():
        rt, cm = r["edgekit_rt"], (r.get("tflm") or {}).get("cmsis-nn") or {}
        if r.get("group") == "layer" or rt.get("status") != "ok":
            continue
        ratio = [f"{rt[k] / cm[k]:.2f}" if cm.get(k) else "-" for k in ("cycles", "instructions")]
        arena = f"{rt['arena']:,} / {cm['arena']:,}" if cm.get("arena") else f"{rt['arena']:,}"
        lines.append(
            f"| {r['model']} | {r['macs']:,} | {rt['cycles_per_mac']:.2f} | {ratio[0]} | "
            f"{ratio[1]} | {arena} |"
        )
    return "\n".join(lines) + "\n"


def zoo_ops(model: str) -> str:
    """One zoo model's ops summed by kind, against CMSIS-NN (`<!-- table:zoo-ops:MODEL -->`)."""
    import bench_zoo

    recs = [r for r in _zoo_models() if r["model"] == model]
    if not recs or recs[0]["edgekit_rt"].get("status") != "ok":
        raise SystemExit(f"{RESULTS / 'zoo.json'}: no edgekit-rt result for {model}")
    return bench_zoo.by_op_markdown(recs[0]).split("\n", 2)[2]


SPRESENSE_HZ = 156e6  # the Spresense main core's clock (boards/spresense.toml)
KEEP_UP = 0.9  # edgekit.bench.cycles.KEEP_UP_SHARE: a decision every hop with 10% to spare


def features() -> str:
    """docs/results/features.json: `benchmarks/bench_features.py <model_meta.h> --json FILE`."""
    d = _json("features.json")
    hop_s = d["hop_samples"] / d["fs"]
    lines = [
        "| channels | samples per hop (pushed per call) | instructions per hop | est. cycles per hop "
        "| share of the hop at 156 / 168 MHz |",
        "|---:|---:|---:|---:|---:|",
        f"| {d['channels']} | {d['hop_samples']} ({d['block']}) | {d['median_instructions']:,.0f} | "
        f"{d['median_cycles']:,.0f} | {d['median_cycles'] / (SPRESENSE_HZ * hop_s):.1%} / "
        f"{d['median_cycles'] / (168e6 * hop_s):.1%} |",
    ]
    return "\n".join(lines) + "\n"


def keep_up() -> str:
    """Does each mbv2 width decide every hop on the Spresense (156 MHz)? Inference from
    zoo.json (edgekit-rt, estimated cycles), the features from features.json."""
    f = _json("features.json")
    hop_s = f["hop_samples"] / f["fs"]
    budget = SPRESENSE_HZ * hop_s
    lines = [
        "| model | inference est. cycles | + features | share of the hop at 156 MHz | "
        f"keeps up (<= {KEEP_UP:.0%}) |",
        "|---|---:|---:|---:|---|",
    ]
    for m in _zoo_models():
        if not m["model"].startswith("ek_mbv2_w"):
            continue
        inf = m["edgekit_rt"]["cycles"]
        total = inf + f["median_cycles"]
        ok = "yes" if total <= KEEP_UP * budget else "no"
        lines.append(f"| {m['model']} | {inf:,.0f} | {total:,.0f} | {total / budget:.0%} | {ok} |")
    return "\n".join(lines) + "\n"


def stream() -> str:
    """docs/results/stream.json: `edgekit stream --board stm32f405 --clock-mhz 156 --json`."""
    r = _json("stream.json")
    a, ag, ex, lat, k = r["accuracy"], r["agreement_with_host"], r["exact"], r["latency"], r["vote"]
    v = r["cost"]["verdict"]
    clock = r["cost"]["clock_hz"] / 1e6
    src = re.sub(r"^\S*/", "", r["source"])  # the dataset's folder, not this machine's path
    rows = [
        ("replayed", f"{src}: {r['hops']:,} hops of {r['hop_ms']:.1f} ms, "
         f"{r['scored_hops']:,} scored"),
        ("exact with the host", f"frames {ex['frames']:.2%} ({ex['frame_elements_differing']} of "
         f"{ex['frame_elements']:,} elements differ), outputs {ex['outputs']:.2%}"),
        ("decisions agree with the host", f"k=1 {ag['class']:.2%}, k={k} {ag['vote']:.2%}"),
        ("accuracy (every scored hop)", f"k=1 {a['k1']:.2%} (host {a['host_k1']:.2%}), "
         f"k={k} {a[f'k{k}']:.2%}"),
        ("trial start to first correct decision", f"k={k}: median {lat['median_ms']:.0f} ms, "
         f"p90 {lat['p90_ms']:.0f} ms ({lat['never_decided']} of {lat['trials']} never)"),
        ("features per hop (est. cycles, median)", f"{v['features']:,.0f}"),
        ("inference per hop (est. cycles, median)", f"{v['inference']:,.0f}"),
        (f"total, share of the hop at {clock:g} MHz", f"{v['total']:,.0f}: median "
         f"{v['share_of_hop']:.0%}, worst {v['worst_share_of_hop']:.0%} ({v['worst_ms']:.1f} ms)"),
        (f"keeps up (every hop <= {v['limit_share']:.0%})", "yes" if v["keeps_up"] else "no"),
    ]  # fmt: skip
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows) + "\n"


def runtimes() -> str:
    """docs/results/runtimes.json: `edgekit bench --runtime edgekit-rt,tflm --json` (its table)."""
    return _json("runtimes.json")["table"].rstrip("\n") + "\n"


def calibration_cost() -> str:
    """docs/results/calibration-cost.json: `benchmarks/calibration_cost.py RUN --method M --json`
    once per method (mps2-an386, estimated Cortex-M4 cycles)."""
    rows = ["| method | head | RAM B | per collected hop | solve | per hop after (head) |"]
    rows.append("|---|---|---:|---:|---:|---:|")
    for m, r in _json("calibration-cost.json").items():
        cells = [
            f"{r[k]['median_cycles']:,.0f} cyc ({r[k]['median_instructions']:,.0f} instr)"
            for k in ("collect_per_hop", "solve", "head_per_hop")
        ]
        n_in = r["classes"] if m == "out-lda" else r["features"]
        head = f"{r['classes']} × {n_in}"
        rows.append(f"| {m} | {head} | {r['ram_bytes']:,} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def robustness(which: str) -> Callable[[], str]:
    """docs/results/robustness.json and robustness-stream.json (`benchmarks/robustness.py`)."""

    def table() -> str:
        import robustness as rb

        agg, stream = rb.results()
        if which == "stream":
            return rb.stream_markdown(stream)
        return rb.conditions_markdown(agg) if which == "conditions" else rb.accuracy_markdown(agg)

    return table


def calibration() -> str:
    """docs/results/calibration.json: `benchmarks/calibration_table.py RUNS --json`."""
    import calibration_table

    return calibration_table.tables(_json("calibration.json")).rstrip("\n") + "\n"


RENDERERS: dict[str, Callable[..., str]] = {
    "calibration": calibration,
    "robustness-conditions": robustness("conditions"),
    "robustness": robustness("accuracy"),
    "robustness-stream": robustness("stream"),
    "calibration-cost": calibration_cost,
    "demo": demo,
    "zoo": zoo,
    "zoo-short": zoo_short,
    "zoo-ops": zoo_ops,
    "features": features,
    "keep-up": keep_up,
    "stream": stream,
    "runtimes": runtimes,
}


def render(text: str, where: Path) -> str:
    def one(m: re.Match) -> str:
        name, arg = m.group(2), m.group(3)
        if name not in RENDERERS:
            raise SystemExit(f"{where}: unknown table {name!r}; known: {', '.join(RENDERERS)}")
        body = RENDERERS[name](arg) if arg else RENDERERS[name]()
        return m.group(1) + body + m.group(5)

    return MARKED.sub(one, text)


def targets() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a table is stale"
    )
    args = ap.parse_args(argv)
    stale = []
    for path in targets():
        old = path.read_text()
        new = render(old, path)
        if new != old:
            stale.append(path)
            if not args.check:
                path.write_text(new)
    for p in stale:
        print(f"{p.relative_to(REPO)}: {'stale' if args.check else 'written'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
