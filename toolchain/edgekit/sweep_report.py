"""The sweep's report: per configuration mean ± std over seeds and folds, the Pareto fronts, the
recommendation with the reason each other configuration lost; sweep-<board>.json/.md/.png."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from . import runs

# Spread over seeds x folds is reported for these trial numbers.
SPREAD = (
    "float_acc",
    "float_f1",
    "int8_acc",
    "int8_f1",
    "device_acc",
    "exact_match_rate",
    "latency_ms",
    "instructions",
    "cycles",
    "features_cycles",
    "hop_cycles",
    "inference_ms",
    "features_ms",
)
# Without a hop to hold the per-hop cost against (no on-device feature chain, or trials recorded
# before per-hop costs) and no --budget-ms, the budget of the sweeps before it.
FALLBACK_BUDGET_MS = 50.0
# Properties of the architecture: the same in every trial of a configuration (the largest is kept).
FIXED = (
    "params",
    "macs",
    "model_bytes",
    "arena_bytes",
    "arena_used",
    "flash_need",
    "ram_need",
    "elf_flash_bytes",
    "elf_ram_bytes",
)


def _stats(values: list[float | None]) -> dict[str, Any] | None:
    v = np.array([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return None
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "n": int(v.size),
        "min": float(v.min()),
        "max": float(v.max()),
    }


def summarize(
    arch: str, width: float, trials: list[dict[str, Any]], budget_ms: float
) -> dict[str, Any]:
    ok = [t for t in trials if t["status"] == "ok"]
    failed = [t for t in trials if t["status"] != "ok"]
    row: dict[str, Any] = {
        "config": f"{arch} w{width:g}",
        "arch": arch,
        "width": width,
        "trials": len(trials),
        "ok": len(ok),
        "failed": len(failed),
        "errors": [{"trial": t["config"]["name"], "error": t["error"]} for t in failed],
    }
    for k in SPREAD:
        row[k] = _stats([t.get(k) for t in ok])
    for k in FIXED:
        vals = [t[k] for t in ok if t.get(k) is not None]
        row[k] = max(vals) if vals else None
    if ok:
        row["flash_budget"], row["ram_budget"] = ok[0]["flash_budget"], ok[0]["ram_budget"]
        row["fits"] = all(t["fits"] for t in ok)
        row["latency_how"] = ok[0]["latency_how"]
        lat = row["latency_ms"]["max"] if row["latency_ms"] else None
        row["within_budget"] = lat is not None and lat <= budget_ms
        row["no_cycles"] = sum(1 for t in ok if t.get("cycles") is None)
    else:
        row.update(flash_budget=None, ram_budget=None, fits=None, within_budget=None)
    return row


def pareto(rows: list[dict[str, Any]], cost: str) -> list[str]:
    """Configurations no other beats on int8 accuracy and `cost` at once (higher accuracy, lower
    cost; equal on both is not a beat)."""
    pts = [
        (r["config"], r["int8_acc"]["mean"], _cost(r, cost))
        for r in rows
        if r["int8_acc"] and _cost(r, cost) is not None
    ]
    front = []
    for name, acc, c in pts:
        if not any((a2 >= acc and c2 <= c) and (a2 > acc or c2 < c) for _, a2, c2 in pts):
            front.append(name)
    return front


def _cost(r: dict[str, Any], cost: str) -> float | None:
    v = r.get(cost)
    return v["mean"] if isinstance(v, dict) else v


def recommend(rows: list[dict[str, Any]], budget_ms: float, board: str) -> dict[str, Any]:
    """The most accurate (int8, mean over seeds and folds) configuration that fits the board and
    the latency budget; every other configuration with the reason it lost."""
    ok = [r for r in rows if r["ok"]]
    cands = [r for r in ok if r["fits"] and r["within_budget"]]
    best = max(cands, key=lambda r: (r["int8_acc"]["mean"], -r["latency_ms"]["mean"]), default=None)
    why: dict[str, str] = {}
    for r in rows:
        if r is best:
            continue
        if not r["trials"]:
            why[r["config"]] = "no trial finished yet"
        elif not r["ok"]:
            why[r["config"]] = f"every trial failed: {r['errors'][0]['error'].splitlines()[0]}"
        elif not r["fits"]:
            parts = []
            if r["flash_need"] > r["flash_budget"]:
                parts.append(f"flash {r['flash_need']:,} > {r['flash_budget']:,} B")
            if r["ram_need"] > r["ram_budget"]:
                parts.append(f"RAM {r['ram_need']:,} > {r['ram_budget']:,} B")
            why[r["config"]] = f"does not fit {board}: " + ", ".join(parts)
        elif not r["within_budget"]:
            why[r["config"]] = (
                f"too slow: {r['latency_ms']['max']:.1f} ms per hop > {budget_ms:.3g} ms at "
                f"{board}'s clock"
            )
        elif best is not None:
            d = best["int8_acc"]["mean"] - r["int8_acc"]["mean"]
            spread = max(best["int8_acc"]["std"], r["int8_acc"]["std"])
            why[r["config"]] = (
                f"less accurate: int8 {r['int8_acc']['mean']:.2%} vs "
                f"{best['int8_acc']['mean']:.2%} ({100 * d:+.2f} pt"
                + (
                    f", within the seed/fold spread of ±{100 * spread:.2f} pt)"
                    if d <= spread
                    else ")"
                )
            )
            if d == 0:
                why[r["config"]] = (
                    f"as accurate ({r['int8_acc']['mean']:.2%}) but slower: "
                    f"{r['latency_ms']['mean']:.1f} ms vs {best['latency_ms']['mean']:.1f} ms"
                )
        if r["failed"] and r["ok"]:
            why[r["config"]] = (
                why.get(r["config"], "") + f" ({r['failed']} of {r['trials']} trials failed)"
            )
    if best is None:
        return {
            "config": None,
            "reason": f"no configuration fits {board} and runs a hop within {budget_ms:.3g} ms",
            "others": why,
        }
    reason = (
        f"most accurate int8 model ({best['int8_acc']['mean']:.2%} ± {best['int8_acc']['std']:.2%} "
        f"over {best['int8_acc']['n']} seed x fold trials) that fits {board} "
        f"(flash {best['flash_need']:,} of {best['flash_budget']:,} B, RAM {best['ram_need']:,} of "
        f"{best['ram_budget']:,} B) and spends {best['latency_ms']['mean']:.1f} ms per hop, "
        f"within {budget_ms:.3g} ms"
    )
    return {
        "config": best["config"],
        "arch": best["arch"],
        "width": best["width"],
        "reason": reason,
        "others": why,
    }


def budget_of(cfg: Any, trials: list[dict[str, Any]]) -> tuple[float, str]:
    """The per-hop budget and where it comes from: --budget-ms, else KEEP_UP_SHARE of the hop
    (the shortest, should trials differ), else FALLBACK_BUDGET_MS."""
    from .bench.cycles import KEEP_UP_SHARE

    if cfg.budget_ms is not None:
        return cfg.budget_ms, f"--budget-ms {cfg.budget_ms:g}"
    hops = sorted({t["hop_ms"] for t in trials if t.get("hop_ms")})
    if hops:
        return KEEP_UP_SHARE * hops[0], f"{KEEP_UP_SHARE:.0%} of the {hops[0]:.1f} ms hop"
    return FALLBACK_BUDGET_MS, (
        f"{FALLBACK_BUDGET_MS:g} ms: no hop known (no on-device feature chain, or trials "
        "recorded before per-hop costs: `edgekit sweep ... --rescore`); --budget-ms sets it"
    )


def build_report(
    cfg: Any, board: Any, trials: list[dict[str, Any]], folds: list[dict[str, Any]]
) -> dict[str, Any]:
    budget_ms, budget_how = budget_of(cfg, trials)
    rows = []
    for arch in cfg.archs:
        for width in cfg.widths:
            mine = [
                t for t in trials if t["config"]["arch"] == arch and t["config"]["width"] == width
            ]
            rows.append(summarize(arch, width, mine, budget_ms))
    fronts = {
        "latency": pareto(rows, "latency_ms"),
        "flash": pareto(rows, "flash_need"),
        "ram": pareto(rows, "ram_need"),
    }
    for r in rows:
        r["pareto"] = [k for k, v in fronts.items() if r["config"] in v]
    rep = {
        "board": {
            "name": board.name,
            "clock_hz": board.clock_hz,
            "flash_bytes": board.flash_bytes,
            "ram_bytes": board.ram_bytes,
            "shared_code_ram": board.shared_code_ram,
        },
        "config": asdict(cfg),
        "folds": folds,
        "budget_ms": budget_ms,
        "budget_how": budget_how,
        "hop_ms": next((t["hop_ms"] for t in trials if t.get("hop_ms")), None),
        "configs": rows,
        "pareto": fronts,
        "recommendation": recommend(rows, budget_ms, board.name),
        "trials": [
            {
                "name": t["config"]["name"],
                "status": t["status"],
                "dir": t["config"]["dir"],
                "wall_s": t.get("wall_s"),
                **(
                    {"error": t["error"]}
                    if t["status"] != "ok"
                    else {
                        k: t.get(k)
                        for k in (
                            "int8_acc",
                            "float_acc",
                            "latency_ms",
                            "cycles",
                            "hop_cycles",
                            "fits",
                        )
                    }
                ),
            }
            for t in trials
        ],
        "trial_wall_s": round(sum(t.get("wall_s") or 0 for t in trials), 1),
    }
    return rep


def _ms(s: dict | None) -> str:
    return "n/a" if s is None else f"{s['mean']:.2f} ± {s['std']:.2f}"


def _pct(s: dict | None) -> str:
    return "n/a" if s is None else f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}"


def _b(v: Any) -> str:
    return "n/a" if v is None else f"{v:,}"


def _mean(s: dict | None, scale: float = 1.0, fmt: str = ",.0f") -> str:
    return "n/a" if s is None else format(s["mean"] / scale, fmt)


def _hop_table(rep: dict[str, Any]) -> list[str]:
    """What a hop costs each configuration at the board's clock: inference, features, the two
    together, in estimated cycles and in ms, against the budget."""
    from .bench.cycles import NOTE, WHAT

    b, hop = rep["board"], rep.get("hop_ms")
    mhz = f"{b['clock_hz'] / 1e6:g} MHz"
    out = [
        "",
        f"Per hop on {b['name']} at {mhz} (features + inference; budget {rep['budget_ms']:.3g} "
        f"ms = {rep['budget_how']}; {WHAT}, mean over trials):",
        "",
        "| config | instructions / inference | est. cycles: inference | features | per hop "
        f"| ms at {mhz}: inference | features | per hop | share of the hop | within budget |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rep["configs"]:
        share = (
            f"{r['latency_ms']['mean'] / hop:.0%}" if hop and r["latency_ms"] is not None else "n/a"
        )
        ok = r.get("within_budget")
        out.append(
            f"| {r['config']} | {_mean(r['instructions'])} | {_mean(r['cycles'])} "
            f"| {_mean(r['features_cycles'])} | {_mean(r['hop_cycles'])} "
            f"| {_mean(r['inference_ms'], fmt='.2f')} | {_mean(r['features_ms'], fmt='.2f')} "
            f"| {_mean(r['latency_ms'], fmt='.2f')} | {share} "
            f"| {'n/a' if ok is None else ('yes' if ok else 'NO')} |"
        )
    out += ["", f"Cycles: {NOTE}."]
    stale = sum(r.get("no_cycles") or 0 for r in rep["configs"])
    if stale:
        out += [
            "",
            f"{stale} trials have no cycle estimate (benched before cycle estimates): their "
            "per-hop figure is the inference alone at one cycle per QEMU instruction. "
            "`edgekit sweep <the same options> --rescore` re-benches them and adds the feature "
            "chain's cost, training nothing.",
        ]
    return out


def markdown(rep: dict[str, Any]) -> str:
    b, rec = rep["board"], rep["recommendation"]
    c = rep["config"]
    lines = [
        f"# edgekit sweep: {b['name']} ({b['clock_hz'] / 1e6:g} MHz, flash {b['flash_bytes']:,} B, "
        f"RAM {b['ram_bytes']:,} B{', shared' if b['shared_code_ram'] else ''}), budget "
        f"{rep['budget_ms']:.3g} ms per hop",
        "",
        f"{len(rep['trials'])}"
        + (
            f" of {rep['trials_planned']} trials finished"
            if rep.get("trials_planned", len(rep["trials"])) != len(rep["trials"])
            else " trials"
        )
        + f": {len(c['archs'])} arch x {len(c['widths'])} widths x "
        f"{c['seeds']} seeds x {len(rep['folds'])} folds ({', '.join(f['name'] for f in rep['folds'])}); "
        f"float epochs {c['epochs'] or 'default'}, QAT epochs {c['qat_epochs']}, "
        f"{c['samples']} bench samples per trial; accuracies on the whole held-out part, mean ± std "
        "over seeds x folds, in %.",
        "",
        "| config | trials ok | float acc | float F1 | int8 acc | int8 F1 | params | MACs | int8 model B "
        "| flash need / budget B | RAM need / budget B | arena B | per hop ms | exact | fits | Pareto |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rep["configs"]:
        exact = "n/a" if not r["exact_match_rate"] else f"{100 * r['exact_match_rate']['min']:.0f}%"
        lines.append(
            f"| {r['config']}{' **(recommended)**' if r['config'] == rec['config'] else ''} "
            f"| {r['ok']}/{r['trials']} | {_pct(r['float_acc'])} | {_pct(r['float_f1'])} "
            f"| {_pct(r['int8_acc'])} | {_pct(r['int8_f1'])} | {_b(r['params'])} | {_b(r['macs'])} "
            f"| {_b(r['model_bytes'])} | {_b(r['flash_need'])} / {_b(r['flash_budget'])} "
            f"| {_b(r['ram_need'])} / {_b(r['ram_budget'])} | {_b(r['arena_bytes'])} "
            f"| {_ms(r['latency_ms'])} | {exact} "
            f"| {'n/a' if r['fits'] is None else ('yes' if r['fits'] else 'no')} "
            f"| {', '.join(r['pareto']) or '-'} |"
        )
    lines += _hop_table(rep)
    lines += ["", f"**Recommendation:** {rec['config'] or 'none'}: {rec['reason']}.", ""]
    for name, why in rec["others"].items():
        lines.append(f"- {name}: {why}")
    hows = {}
    for r in rep["configs"]:
        if r.get("latency_how"):
            hows.setdefault(r["latency_how"], []).append(r["config"])
    if hows:
        how = "; ".join(
            h + ("" if len(hows) == 1 else f" ({', '.join(names)})") for h, names in hows.items()
        )
        lines += [
            "",
            f"Latency: {how}. Exact = the lowest device-vs-host int8 exact-match rate of the "
            "configuration's trials. Flash/RAM need: the export's fit check (model + arena + the "
            "board's runtime estimate).",
        ]
    failed = [t for t in rep["trials"] if t["status"] != "ok"]
    if failed:
        lines += ["", "Failed trials:", ""]
        lines += [f"- {t['name']}: {t['error'].splitlines()[0]}" for t in failed]
    return "\n".join(lines) + "\n"


def plot(path: Path, rep: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b = rep["board"]
    rows = [r for r in rep["configs"] if r["int8_acc"]]
    panels = [
        ("latency_ms", "per hop at the board's clock (ms)", 1, rep["budget_ms"], "budget", "ms"),
        ("flash_need", "flash need (KB)", 1024, b["flash_bytes"], "flash", "KB"),
        ("ram_need", "RAM need (KB)", 1024, b["ram_bytes"], "RAM", "KB"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, (key, label, unit, limit, name, uname) in zip(axes, panels, strict=True):
        front = rep["pareto"]["latency" if key == "latency_ms" else key.split("_")[0]]
        for r in rows:
            x = _cost(r, key)
            if x is None:
                continue
            x /= unit
            xerr = r[key]["std"] / unit if isinstance(r[key], dict) else None
            on = r["config"] in front
            ax.errorbar(
                x,
                100 * r["int8_acc"]["mean"],
                yerr=100 * r["int8_acc"]["std"],
                xerr=xerr,
                fmt="o" if on else "s",
                color="C1" if on else "C0",
                capsize=3,
                mfc="C1" if on else "none",
            )
            ax.annotate(
                r["config"],
                (x, 100 * r["int8_acc"]["mean"]),
                fontsize=7,
                textcoords="offset points",
                xytext=(4, 4),
            )
        pts = sorted(
            (_cost(r, key) / unit, 100 * r["int8_acc"]["mean"])
            for r in rows
            if r["config"] in front
        )
        if pts:
            ax.plot(*zip(*pts, strict=True), color="C1", lw=1, alpha=0.6, label="Pareto front")
        ax.axvline(
            limit / unit,
            color="C3",
            ls="--",
            lw=1,
            label=f"{b['name']} {name}: {limit / unit:,.0f} {uname}",
        )
        ax.set_xlabel(label)
        ax.set_ylabel("int8 accuracy (%), mean ± std")
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3)
    fig.suptitle(
        f"edgekit sweep on {b['name']}: recommended {rep['recommendation']['config']}", fontsize=10
    )
    fig.tight_layout()
    with runs.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def write_report(out: Path, rep: dict[str, Any], board: Any) -> dict[str, str]:
    """sweep-<board>.json/.md/.png: one report per board of the sweep."""
    files = {kind: str(out / f"sweep-{board.name}.{kind}") for kind in ("json", "md", "png")}
    runs.write_text(Path(files["md"]), markdown(rep))
    plot(Path(files["png"]), rep)
    runs.write_json(Path(files["json"]), {**rep, "files": files, "provenance": runs.provenance()})
    return files


def summary(result: dict[str, Any]) -> str:
    parts = [board_summary(rep) for rep in result["boards"].values()]
    parts.append(f"{result['trials_run_this_call']} trials run in {result['wall_s_this_call']} s")
    return "\n\n".join(parts)


def board_summary(rep: dict[str, Any]) -> str:
    b, rec = rep["board"], rep["recommendation"]
    rows = [
        f"{b['name']} ({b['clock_hz'] / 1e6:g} MHz, budget {rep['budget_ms']:.3g} ms per hop = "
        f"{rep['budget_how']}):",
        f"{'config':16s} {'ok':>5s} {'int8 acc %':>14s} {'per hop ms':>14s} {'flash B':>10s} {'RAM B':>9s} fits",
    ]
    for r in rep["configs"]:
        rows.append(
            f"{r['config']:16s} {r['ok']:>2d}/{r['trials']:<2d} {_pct(r['int8_acc']):>14s} "
            f"{_ms(r['latency_ms']):>14s} {_b(r['flash_need']):>10s} {_b(r['ram_need']):>9s} "
            f"{'n/a' if r['fits'] is None else ('yes' if r['fits'] else 'no')}"
        )
    rows.append(f"recommended: {rec['config'] or 'none'}: {rec['reason']}")
    rows += [f"  {k}: {v}" for k, v in rec["others"].items()]
    stale = sum(r.get("no_cycles") or 0 for r in rep["configs"])
    if stale:
        rows.append(
            f"note: {stale} trials have no cycle estimate (their figure is the inference alone "
            "at 1 cycle per QEMU instruction): `--rescore` re-benches them, training nothing"
        )
    rows.append(f"wrote {rep['files']['md']}, {rep['files']['png']}, {rep['files']['json']}")
    return "\n".join(rows)
