"""bench.json, bench.md and bench.png for one board, written together (all or nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import runs
from .record import MAX_CONFUSION


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _num(v: Any, fmt: str = ",.0f") -> str:
    return "n/a" if v is None else format(v, fmt)


def _exact_line(rec: dict[str, Any]) -> str:
    if rec["exact_matches"] is None:  # a plain EEMBC device: no raw int8 outputs to compare
        return "exact int8 match not checked (plain EEMBC device)"
    return f"exact int8 match {rec['exact_matches']}/{rec['samples']} ({_pct(rec['exact_match_rate'])})"


def summary(rec: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lat, dev = rec["latency"], rec["device"]
    lines = [
        f"bench {rec['model']['hash']} on {rec['board']} ({rec['where']}, {dev['runtime']}): "
        f"{rec['samples']} samples",
        _exact_line(rec) + f", top-1 agreement {_pct(rec['top1_agreement'])}",
        f"accuracy device {_pct(rec['device_accuracy'])}, host int8 {_pct(rec['host_accuracy'])}",
        f"latency median {lat['median_ticks']:,.0f} {lat['tick_unit']} ticks = {lat['median_us']:,.1f} µs "
        f"(p90 {lat['p90_us']:,.1f}, max {lat['max_us']:,.1f} µs)",
        f"arena used {_num(rec['arena_used'])} of {_num(rec['arena_bytes'])} bytes; "
        f"flash {_num(rec['flash_bytes'])} bytes, RAM {_num(rec['ram_bytes'])} bytes",
    ]
    if rec.get("qemu"):
        q = rec["qemu"]
        mpi = q.get("macs_per_instruction")
        lines.append(
            f"QEMU: {q['instructions_per_inference']:,.0f} instructions per inference"
            + (f", {mpi:.3f} MACs per instruction" if mpi else "")
        )
        lines.append(f"note: {lat['note']}")
    for key in ("exact_unchecked_reason", "model_unchecked_reason"):
        if rec.get(key):
            lines.append(f"note: {rec[key]}")
    if rec["exact_match_rate"] is not None and rec["exact_match_rate"] < 1.0:
        lines.append(
            "WARNING: the device output differs from the host reference on "
            f"{rec['samples'] - rec['exact_matches']} samples (max |diff| "
            f"{rec['max_abs_diff']}); the runtime is not bit-exact with tflite_micro"
        )
    if rec.get("profile"):
        pr = rec["profile"]
        top = max(pr["layers"], key=lambda r: r["ticks"])
        lines.append(
            f"profile ({pr['ops']} ops, sample {pr['sample']}): per-op ticks sum "
            f"{pr['sum_ticks']:,} vs whole inference {pr['whole_ticks']:,}; largest op "
            f"{top['op']} {top['name']} {100 * top['share']:.1f}%"
        )
    if rec.get("diff"):
        from .layers import diff_summary

        lines.append(diff_summary(rec["diff"]) + f" (sample {rec['diff']['sample']})")
    if rec["link"]["resets"] or rec["link"]["timeouts"]:
        lines.append(
            f"link: {rec['link']['resets']} resets, {rec['link']['timeouts']} timeouts "
            "recovered by re-synchronising"
        )
    return "\n".join(lines)


def markdown(rec: dict[str, Any]) -> str:
    lat, dev = rec["latency"], rec["device"]
    rows = [
        ("board", f"{rec['board']} ({rec['where']})"),
        ("runtime", dev["runtime"]),
        ("model hash", f"`{rec['model']['hash']}`"),
        ("samples", str(rec["samples"])),
        ("exact int8 output match", _exact_line(rec).removeprefix("exact int8 match ")),
        ("max abs int8 difference", _num(rec["max_abs_diff"], "d")),
        ("top-1 agreement with host", _pct(rec["top1_agreement"])),
        ("device accuracy", _pct(rec["device_accuracy"])),
        ("host int8 accuracy (same samples)", _pct(rec["host_accuracy"])),
        (
            f"latency median / p90 / max ({lat['tick_unit']} ticks)",
            f"{lat['median_ticks']:,.0f} / {lat['p90_ticks']:,.0f} / {lat['max_ticks']:,.0f}",
        ),
        (
            "latency median / p90 / max (µs)",
            f"{lat['median_us']:,.1f} / {lat['p90_us']:,.1f} / {lat['max_us']:,.1f}",
        ),
        ("tick", f"{lat['tick_unit']} at {lat['tick_hz']:,} Hz"),
        (
            "arena used / compiled (bytes)",
            f"{_num(rec['arena_used'])} / {_num(rec['arena_bytes'])}",
        ),
        ("flash / RAM (bytes)", f"{_num(rec['flash_bytes'])} / {_num(rec['ram_bytes'])}"),
        ("MACs per inference", _num(rec["macs"])),
        ("MACs per tick", _num(rec["macs_per_tick"], ".3f")),
    ]
    for lap in rec["lap_us"]:
        rows.append(
            (
                f"infer {lap['n']} {lap['warmup']} on sample {lap['sample']} (m-lap-us)",
                f"{lap['us_per_inference']:,.1f} µs/inference"
                + (
                    f", {lap['ticks_per_inference']:,.0f} ticks"
                    if lap.get("ticks_per_inference")
                    else ""
                )
                + ("" if lap.get("output_matches_ek_run") in (None, True) else ", OUTPUT DIFFERS"),
            )
        )
    if rec.get("qemu"):
        q = rec["qemu"]
        rows.append(("QEMU instructions per inference", _num(q["instructions_per_inference"])))
        rows.append(("MACs per instruction", _num(q.get("macs_per_instruction"), ".4f")))
    out = [f"# edgekit bench: {rec['board']}", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    out += ["", f"Timing: {lat['note']}.", ""]
    out += [
        f"Note: {rec[k]}."
        for k in ("exact_unchecked_reason", "model_unchecked_reason")
        if rec.get(k)
    ] + ([""] if rec.get("exact_unchecked_reason") else [])
    out += _per_op_markdown(rec)
    names = rec["model"]["label_names"]
    cm = np.asarray(rec["confusion"])
    if len(names) > MAX_CONFUSION:
        return "\n".join(out + [f"({len(names)} outputs: no confusion matrix)"]) + "\n"
    out += [
        "Confusion (rows: true label, columns: device prediction):",
        "",
        "| | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    out += [
        f"| {names[i]} | " + " | ".join(str(v) for v in cm[i]) + " |" for i in range(len(names))
    ]
    return "\n".join(out) + "\n"


def _per_op_markdown(rec: dict[str, Any]) -> list[str]:
    from .layers import diff_summary, profile_markdown

    out: list[str] = []
    if rec.get("profile"):
        out += [f"## Per-op profile (sample {rec['profile']['sample']})", ""]
        out += profile_markdown(rec["profile"], rec["latency"]["tick_unit"]) + [""]
    if rec.get("diff"):
        d = rec["diff"]
        out += [
            f"## Per-layer diff vs tflite_micro (sample {d['sample']})",
            "",
            diff_summary(d) + ".",
            "",
            "| # | op | tensor | shape | bytes | differing | max abs diff |",
            "|---|---|---|---|---|---|---|",
        ]
        out += [
            f"| {r['op']} | {r['name']} | {r['tensor']} | {'×'.join(map(str, r['shape']))} | "
            f"{r['bytes']} | {r['differing']} | {'n/a' if r['max_abs_diff'] is None else r['max_abs_diff']} |"
            for r in d["layers"]
        ]
        out.append("")
    return out


def plot(rec: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lat = rec["latency"]
    ticks = np.asarray(rec["per_sample"]["ticks"], dtype=float)
    cm = np.asarray(rec["confusion"])
    names = rec["model"]["label_names"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.5))
    a.hist(ticks * 1e6 / lat["tick_hz"], bins=min(40, max(5, len(set(ticks.tolist())))))
    a.set_xlabel("latency (µs" + (", QEMU virtual time)" if rec.get("qemu") else ")"))
    a.set_ylabel("samples")
    a.set_title(f"{rec['board']}: median {lat['median_us']:,.1f} µs")
    if len(names) > MAX_CONFUSION:  # a user's --tflite model with many outputs
        b.axis("off")
        b.text(0.5, 0.5, f"{len(names)} outputs: no confusion matrix", ha="center")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return
    b.imshow(cm, cmap="Blues")
    b.set_xticks(range(len(names)), names, rotation=45, ha="right")
    b.set_yticks(range(len(names)), names)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                b.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8)
    b.set_xlabel("device prediction")
    b.set_ylabel("true label")
    b.set_title(f"device accuracy {_pct(rec['device_accuracy'])}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_bench(run: runs.Run, board: str, rec: dict[str, Any]) -> dict[str, str]:
    """Write the three files into run.bench_dir(board) as one atomic directory swap."""
    final = run.bench_dir(board)
    rep = dict(rec)
    rep["provenance"] = runs.provenance()
    with runs.atomic_dir(final) as tmp:
        runs.write_json(tmp / "bench.json", rep)
        runs.write_text(tmp / "bench.md", markdown(rec))
        plot(rec, tmp / "bench.png")
        if rec.get("profile"):
            from .layers import plot_profile

            plot_profile(
                rec["profile"],
                f"{rec['board']}: per-op cost, model {rec['model']['hash']}",
                tmp / "bench_profile.png",
            )
    files = {k: str(final / f"bench.{k}") for k in ("json", "md", "png")}
    if rec.get("profile"):
        files["profile_png"] = str(final / "bench_profile.png")
    return files


def runtime_comparison(recs: list[dict[str, Any]]) -> str:
    """One markdown table: the same model benched with each runtime on one board. Arena figures
    are the device's own (ek-info: what the runtime's planner used on the target), not a host
    interpreter's."""
    head = (
        "| runtime | kernels | exact | instructions / inference | ticks / inference | "
        "arena used / compiled (device, B) | flash B | RAM B |"
    )
    out = [head, "|---|---|---|---|---|---|---|---|"]
    for r in recs:
        build = r.get("build") or {}
        kernels = (build.get("tflm") or {}).get(
            "kernels", "edgekit-rt" if r["device"]["runtime"] == "edgekit-rt" else "n/a"
        )
        ins = (r.get("qemu") or {}).get("instructions_per_inference")
        out.append(
            f"| {r['device']['runtime']} | {kernels} | {_exact_line(r).removeprefix('exact int8 match ')} "
            f"| {_num(ins)} | {_num(r['latency']['median_ticks'])} "
            f"| {_num(r['arena_used'])} / {_num(r['arena_bytes'])} "
            f"| {_num(r['flash_bytes'])} | {_num(r['ram_bytes'])} |"
        )
    return "\n".join(out)


def write_runtime_comparison(
    run: runs.Run, board: str, recs: list[dict[str, Any]]
) -> dict[str, Any]:
    """bench/<board>-runtimes/runtimes.{json,md}: the side-by-side table of several bench runs."""
    table = runtime_comparison(recs)
    keep = (
        "board",
        "where",
        "samples",
        "exact_matches",
        "exact_match_rate",
        "device_accuracy",
        "arena_used",
        "arena_bytes",
        "flash_bytes",
        "ram_bytes",
        "files",
    )
    rows = []
    for r in recs:
        row = {k: r.get(k) for k in keep}
        row.update(
            runtime=r["device"]["runtime"],
            median_ticks=r["latency"]["median_ticks"],
            instructions_per_inference=(r.get("qemu") or {}).get("instructions_per_inference"),
            tflm=(r.get("build") or {}).get("tflm"),
        )
        rows.append(row)
    rep = {"stage": "bench-runtimes", "board": board, "runtimes": rows, "table": table}
    final = run.root / "bench" / f"{board}-runtimes"
    with runs.atomic_dir(final) as tmp:
        runs.write_json(tmp / "runtimes.json", {**rep, "provenance": runs.provenance()})
        runs.write_text(
            tmp / "runtimes.md",
            f"# {board}: runtimes side by side\n\n{table}\n\n"
            "Arena: the device's own figures (ek-info), not the host interpreter's.\n",
        )
    rep["files"] = {"json": str(final / "runtimes.json"), "md": str(final / "runtimes.md")}
    return rep
