"""The main job: default data -> train -> quantize -> export -> build -> bench in QEMU, one table."""

from __future__ import annotations

import sys
import time
from typing import Any

from . import runs
from .boards import get_board
from .train import TrainOptions


def _say(msg: str) -> None:
    print(f"edgekit demo: {msg}", file=sys.stderr, flush=True)


def run_demo(
    run: runs.Run,
    opts: TrainOptions,
    board: str = "mps2-an386",
    *,
    qat_epochs: int,
    samples: int = 200,
    progress: bool = True,
) -> tuple[dict[str, Any], str]:
    from .bench.run import bench_on_board
    from .export import run_export
    from .quantize import run_quantize
    from .train import run_train

    t0 = time.perf_counter()
    b = get_board(board)
    times: dict[str, float] = {}

    def timed(name: str, fn, *a, **kw):
        _say(f"{name} ...")
        t = time.perf_counter()
        out = fn(*a, **kw)
        times[name] = round(time.perf_counter() - t, 1)
        return out

    tr = timed("train", run_train, run, opts, progress=progress)
    q = timed("quantize", run_quantize, run, epochs=qat_epochs, seed=opts.seed, progress=progress)
    ex = timed("export", run_export, run, b, seed=opts.seed, progress=progress)
    # the bench renders and builds the firmware (firmware/<board>/, with its build.json)
    be = timed("bench", bench_on_board, run, b, None, samples, None, progress)
    rec = {
        "run": str(run.root),
        "board": b.name,
        "arch": opts.arch,
        "width": opts.width,
        "float_acc": tr["cnn"]["accuracy"],
        "lda_acc": tr["lda"]["accuracy"],
        "qat_acc": q["accuracy"]["qat"]["test"],
        "ptq_acc": q["accuracy"]["ptq"]["test"],
        "quantized_kept": q["selected"],
        "qat_int8_agreement": ex["accuracy"].get("qat_int8_agreement"),
        "int8_host_acc": ex.get("accuracy", {}).get("int8_host"),
        "device_acc": be.get("device_accuracy"),
        "device_samples": be.get("samples"),
        "host_acc_same_samples": be.get("host_accuracy"),
        "exact_match": be.get("exact_match_rate"),
        "top1_agreement": be.get("top1_agreement"),
        "latency": be.get("latency"),
        "flash_bytes": be.get("flash_bytes"),
        "ram_bytes": be.get("ram_bytes"),
        "instructions_per_tick": (be.get("qemu") or {}).get("instructions_per_tick"),
        "arena_used": be.get("arena_used"),
        "stage_seconds": times,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    run.write_report("demo", rec)
    return rec, demo_table(rec)


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def demo_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    """The demo's record as (what, value) rows: the summary it prints and the README's table."""
    lat = r.get("latency") or {}
    return [
        ("model", f"{r['arch']} w{r['width']:g} on {r['board']}"),
        ("float accuracy (LDA baseline)", f"{_pct(r['float_acc'])} ({_pct(r['lda_acc'])})"),
        (
            "PTQ / QAT accuracy",
            f"{_pct(r['ptq_acc'])} / {_pct(r['qat_acc'])} "
            f"(kept: {r['quantized_kept'].upper()}, see quantize.json)",
        ),
        (
            "int8 host (tflite_micro)",
            f"{_pct(r['int8_host_acc'])} (agreement with the "
            f"PyTorch int8 simulation {_pct(r['qat_int8_agreement'])})",
        ),
        (
            f"device accuracy ({r.get('device_samples')} samples)",
            f"{_pct(r['device_acc'])} (host int8 on the same samples {_pct(r.get('host_acc_same_samples'))})",
        ),
        ("exact int8 match vs host", _pct(r["exact_match"])),
        (
            "latency median / p90",
            f"{lat.get('median_us', 0):,.0f} / {lat.get('p90_us', 0):,.0f} µs, "
            f"{lat.get('median_ticks', 0):,.0f} {lat.get('tick_unit', 'ticks')} ticks"
            + (
                f" (QEMU: instruction-count proxy, 1 tick = "
                f"{r['instructions_per_tick']:g} instructions)"
                if r.get("instructions_per_tick")
                else ""
            ),
        ),
        (
            "flash / RAM (ELF)",
            f"{r.get('flash_bytes') or 0:,} / {r.get('ram_bytes') or 0:,} bytes "
            f"(edgekit-rt arena used {r.get('arena_used') or 0:,})",
        ),
        ("run", r["run"]),
        (
            "wall time",
            f"{r['wall_s']} s  " + ", ".join(f"{k} {v}s" for k, v in r["stage_seconds"].items()),
        ),
    ]


def demo_table(r: dict[str, Any]) -> str:
    rows = demo_rows(r)
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)
