"""The sweep picks by what a board spends per hop: features + inference in estimated Cortex-M4
cycles at its clock, against 90% of the hop by default (--budget-ms overrides); the report's
per-hop table; and --rescore, which measures finished trials again without training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgekit import runs
from edgekit.boards import get_board
from edgekit.sweep import TRIAL_FILE, SweepConfig, _same_trial, hop_metrics, rescore_trial
from edgekit.sweep_report import budget_of, build_report, markdown, recommend, summarize

HOP_MS = 1e3 * 102 / 2048  # the default chain: 102 samples at 2048 Hz = 49.8 ms
CLOCK = 156_000_000


def _bench(cycles: float | None, instr: float = 9e6) -> dict:
    be = {"qemu": {"instructions_per_inference": instr}, "latency": {}}
    if cycles is not None:
        be["cycles_estimate"] = {"median": cycles}
    else:
        be["cycles_estimate_unavailable"] = "m4cycles: no host C compiler (gcc)"
    return be


def _features(cycles: float) -> dict:
    return {"median_cycles": cycles, "measured_as": "stm32f405", "flags": "-mfloat-abi=hard"}


def test_a_hop_costs_features_plus_inference_in_estimated_cycles_at_the_clock() -> None:
    m = hop_metrics(_bench(11.2e6), _features(1.2e6), CLOCK, "spresense", "mps2-an386", False)
    assert m["cycles"] == 11.2e6 and m["features_cycles"] == 1.2e6 and m["hop_cycles"] == 12.4e6
    assert m["inference_ms"] == pytest.approx(11.2e6 / CLOCK * 1e3)
    assert m["features_ms"] == pytest.approx(1.2e6 / CLOCK * 1e3)
    assert m["latency_ms"] == pytest.approx(12.4e6 / CLOCK * 1e3)  # what the budget is held to
    assert "estimated Cortex-M4 cycles on QEMU mps2-an386" in m["latency_how"]
    assert "stm32f405 builds them (hard float)" in m["latency_how"]
    # no on-device feature chain: a hop is its inference
    m = hop_metrics(_bench(11.2e6), None, CLOCK, "spresense", "mps2-an386", False)
    assert m["features_cycles"] == 0 and m["latency_ms"] == pytest.approx(11.2e6 / CLOCK * 1e3)
    # a bench without a cycle estimate: instructions at one cycle each, and the report says why
    m = hop_metrics(_bench(None), "no arm gcc", CLOCK, "spresense", "mps2-an386", False)
    assert m["cycles"] is None and m["latency_ms"] == pytest.approx(9e6 / CLOCK * 1e3)
    assert "no host C compiler" in m["latency_how"] and "no arm gcc" in m["latency_how"]


def _trial(width: float, acc: float, cycles: float | None, feat: float = 1.2e6) -> dict:
    m = hop_metrics(_bench(cycles), _features(feat), CLOCK, "spresense", "mps2-an386", False)
    return {
        "status": "ok",
        "config": {"name": f"w{width}", "arch": "mbv2", "width": width, "dir": "d"},
        "int8_acc": acc,
        "hop_ms": HOP_MS,
        "ram_need": 100_000,
        "ram_budget": 786_432,
        "flash_need": 100_000,
        "flash_budget": 786_432,
        "fits": True,
        **m,
    }


def _cfg(budget_ms: float | None = None) -> SweepConfig:
    return SweepConfig(boards=["spresense"], widths=[0.1, 0.2], budget_ms=budget_ms, samples=3)


def _report(trials: list[dict], budget_ms: float | None = None) -> dict:
    rep = build_report(_cfg(budget_ms), get_board("spresense"), trials, [{"name": "sess1"}])
    rep["trials_planned"] = len(trials)
    return rep


def test_the_budget_is_90_percent_of_the_hop_unless_given() -> None:
    trials = [_trial(0.1, 0.80, 5e6)]
    assert budget_of(_cfg(), trials) == (pytest.approx(0.9 * HOP_MS), "90% of the 49.8 ms hop")
    assert budget_of(_cfg(50.0), trials) == (50.0, "--budget-ms 50")
    old = [{k: v for k, v in trials[0].items() if k != "hop_ms"}]  # recorded before hops
    ms, how = budget_of(_cfg(), old)
    assert ms == 50.0 and "--rescore" in how


def test_the_recommendation_and_the_per_hop_table_count_features() -> None:
    # w0.2 is more accurate, but its inference (6.0 M cycles) + features (1.2 M) = 7.2 M cycles
    # = 46.2 ms per hop at 156 MHz: over 90% of the hop (44.8 ms), though its inference alone
    # (38.5 ms) would be within it. w0.1: 5.0 M + 1.2 M = 39.7 ms: within.
    trials = [_trial(0.1, 0.80, 5.0e6), _trial(0.2, 0.90, 6.0e6)]
    rep = _report(trials)
    rows = {r["config"]: r for r in rep["configs"]}
    assert rows["mbv2 w0.2"]["latency_ms"]["mean"] == pytest.approx(7.2e6 / CLOCK * 1e3)
    assert rows["mbv2 w0.2"]["inference_ms"]["mean"] < rep["budget_ms"]
    assert rows["mbv2 w0.2"]["within_budget"] is False
    rec = rep["recommendation"]
    assert rec["config"] == "mbv2 w0.1"
    assert rec["others"]["mbv2 w0.2"] == (
        "too slow: 46.2 ms per hop > 44.8 ms at spresense's clock"
    )
    assert "spends 39.7 ms per hop, within 44.8 ms" in rec["reason"]
    md = markdown({**rep, "files": {}})
    assert "budget 44.8 ms = 90% of the 49.8 ms hop" in md
    assert (
        "| mbv2 w0.1 | 9,000,000 | 5,000,000 | 1,200,000 | 6,200,000 | 32.05 | 7.69 | 39.74 | 80% | yes |"
        in md
    )
    assert (
        "| mbv2 w0.2 | 9,000,000 | 6,000,000 | 1,200,000 | 7,200,000 | 38.46 | 7.69 | 46.15 | 93% | NO |"
        in md
    )
    assert "estimated Cortex-M4 cycles (TRM timing, zero wait states)" in md
    assert "--rescore" not in md  # every trial has its cycles
    # --budget-ms overrides: now both fit, and the more accurate one wins
    rows50 = [summarize("mbv2", w, [t], 50.0) for w, t in ((0.1, trials[0]), (0.2, trials[1]))]
    assert recommend(rows50, 50.0, "spresense")["config"] == "mbv2 w0.2"


def test_trials_without_cycles_are_reported_with_how_to_rescore_them() -> None:
    rep = _report([_trial(0.1, 0.8, None), _trial(0.2, 0.9, 6.0e6)])
    md = markdown({**rep, "files": {}})
    assert "1 trials have no cycle estimate" in md and "--rescore" in md
    row = {r["config"]: r for r in rep["configs"]}["mbv2 w0.1"]
    assert row["cycles"] is None and row["no_cycles"] == 1
    assert "| mbv2 w0.1 | 9,000,000 | n/a | 1,200,000 | n/a |" in md


def test_a_copied_sweep_directory_is_the_same_sweep() -> None:
    """--report-only / --rescore on a copy of a sweep: the trials' dirs differ, nothing else."""
    a = {"name": "t", "dir": "/work/pool/sweep/trials/t", "samples": 50}
    assert _same_trial(a, {**a, "dir": "/tmp/copy/trials/t"}) is None
    assert _same_trial(a, {**a, "samples": 3}) == "samples"


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and gcc-arm-none-eabi",
)
def test_rescore_benches_again_only_what_lacks_cycles(tmp_path, tiny_tflite) -> None:
    """A trial finished before cycle estimates: --rescore re-benches it (no training: the run has
    no checkpoints at all) and rewrites its record with the per-hop numbers."""
    from edgekit.bench import run_bench
    from edgekit.bench.run import current_firmware

    from bench_util import make_run, mps2

    tdir = tmp_path / "trials" / "tiny"
    run = make_run(tdir / "run", tiny_tflite, n=8)
    board = mps2()
    old = run_bench(
        run,
        board,
        None,
        samples=3,
        progress=False,
        cycles=False,
        latency_samples=0,
        build_fn=current_firmware(run, board),
    )
    assert "cycles_estimate" not in old  # as benches were before cycle estimates
    trial = {
        "name": "tiny",
        "dir": str(tdir),
        "boards": ["mps2-an386"],
        "port": None,
        "bench_board": None,
        "samples": 3,
        "seed": 0,
        "fold": {"split": "session", "test_session": 1},
        "data": None,
        "format": "csl",
    }
    rec = {"config": trial, "status": "ok", "int8_acc": 0.5, "boards": {"mps2-an386": {}}}
    new = rescore_trial(trial, rec)
    assert new["rescored"]["benched_again"] == ["bench-mps2-an386"]
    m = new["boards"]["mps2-an386"]
    be = runs.read_json(run.bench_dir("mps2-an386") / "bench.json")
    assert m["cycles"] == be["cycles_estimate"]["median"] >= m["instructions"] > 0
    assert m["features_cycles"] == 0  # the tiny export has no on-device feature chain
    assert m["latency_ms"] == pytest.approx(m["cycles"] / 25e6 * 1e3)
    assert json.loads((tdir / TRIAL_FILE).read_text())["boards"] == new["boards"]
    again = rescore_trial(trial, new)  # now every bench has its cycles: nothing runs
    assert again["rescored"]["benched_again"] == [] and again["boards"] == new["boards"]
    assert not (Path(tdir) / "logs" / "train.log").exists()
