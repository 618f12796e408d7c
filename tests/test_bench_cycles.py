"""Estimated Cortex-M4 cycles (the m4cycles QEMU plugin) in the bench, the stream's per-hop
verdict and the feature chain's cost per hop: real firmware in real QEMU where it runs; the
verdict's arithmetic on hops as the device reports them."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edgekit import runs
from edgekit.bench import run_bench
from edgekit.bench.cycles import KEEP_UP_SHARE
from edgekit.bench.run import current_firmware
from edgekit.bench.stream import FEATURES, INFERENCE, add_hop_cycles, hop_cost, verdict_line
from edgekit.boards import get_board

from bench_util import make_run, mps2

needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None
    or shutil.which("arm-none-eabi-gcc") is None
    or shutil.which("gcc") is None,
    reason="needs qemu-system-arm, gcc-arm-none-eabi and a host gcc (for the plugin)",
)
HOP_S = 102 / 2048


def _call(function: str, cycles: int) -> SimpleNamespace:
    return SimpleNamespace(function=function, counts=SimpleNamespace(cycles=cycles))


def test_each_hop_gets_the_features_since_the_last_inference_and_its_inference() -> None:
    hops = [{"ft": 9, "it": 40}, {"ft": 3, "it": 40}]
    calls = [_call(FEATURES, 100)] * 3 + [_call(INFERENCE, 1000)]  # the window's first fill
    calls += [_call(FEATURES, 100), _call(FEATURES, 20), _call(INFERENCE, 1001)]
    assert add_hop_cycles(hops, calls) is None
    assert [(h["features_cycles"], h["inference_cycles"]) for h in hops] == [
        (300, 1000),
        (120, 1001),
    ]
    assert "saw 1 inferences" in add_hop_cycles(hops, calls[:4])


def _hops(features: int, inference: int, n: int = 5) -> list[dict]:
    hops = [
        {"ft": 1, "it": 1, "features_cycles": features, "inference_cycles": inference}
        for _ in range(n)
    ]
    hops[0]["features_cycles"] = 3 * features  # the first hop fills the window: not judged
    return hops


def test_the_verdict_is_every_hop_after_the_first_within_90_percent_of_the_hop() -> None:
    budget = 156e6 * HOP_S  # cycles in a 49.8 ms hop at 156 MHz
    ok = hop_cost(_hops(1_200_000, 5_000_000), 168_000_000, 156e6, HOP_S, "qemu:x", "")
    v = ok["verdict"]
    assert v["keeps_up"] and v["total"] == 6_200_000
    assert v["share_of_hop"] == pytest.approx(6.2e6 / budget) and v["limit_share"] == 0.9
    assert v["median_ms"] == pytest.approx(6.2e6 / 156e6 * 1e3)
    assert ok["cycles"]["first_hop_features"] == 3_600_000
    rec = {"cost": ok}
    assert verdict_line(rec).startswith("keeps up at 156 MHz? YES: features 1.20 M + inference")
    # just over the limit: 90.1% of the hop
    over = int(0.901 * budget) - 1_200_000
    no = hop_cost(_hops(1_200_000, over), 168_000_000, 156e6, HOP_S, "qemu:x", "")
    assert not no["verdict"]["keeps_up"]
    assert "? NO:" in verdict_line({"cost": no}) and "the limit is 90%" in verdict_line(
        {"cost": no}
    )
    # at a slower clock the same cycles do not fit
    slow = hop_cost(_hops(1_200_000, 5_000_000), 168_000_000, 100e6, HOP_S, "qemu:x", "")
    assert not slow["verdict"]["keeps_up"]
    # no estimate: no verdict, and why
    none = hop_cost(_hops(1, 1), 168_000_000, 156e6, HOP_S, "qemu:x", "m4cycles: no gcc")
    assert none["verdict"] is None and "no gcc" in verdict_line({"cost": none})
    # a real board: its own timer decides (ticks at 156 MHz here)
    real = [{"ft": 1_000_000, "it": 7_000_000} for _ in range(3)]
    r = hop_cost(real, 156_000_000, 156e6, HOP_S, "/dev/ttyUSB0", None)
    assert r["verdict"]["keeps_up"] == (8e6 <= KEEP_UP_SHARE * budget)
    assert "by the device's timer" in verdict_line({"cost": r})


@pytest.fixture(scope="module")
def cycles_run(tmp_path_factory: pytest.TempPathFactory, tiny_tflite: bytes) -> runs.Run:
    return make_run(tmp_path_factory.mktemp("bench-cycles") / "run", tiny_tflite, n=12)


@pytest.mark.slow
@needs_qemu
def test_bench_reports_estimated_cycles_per_inference_and_per_op(cycles_run: runs.Run) -> None:
    board = mps2()
    rec = run_bench(
        cycles_run,
        board,
        None,
        samples=4,
        progress=False,
        build_fn=current_firmware(cycles_run, board),
        latency_samples=1,
        latency_n=2,
        profile=True,
    )
    assert rec["exact_match_rate"] == 1.0
    c = rec["cycles_estimate"]
    ins = rec["qemu"]["instructions_per_inference"]
    assert c["what"] == "estimated Cortex-M4 cycles (TRM timing, zero wait states)"
    assert c["median"] >= ins > 0 and c["median"] >= c["instructions"]
    # the plugin counts the instructions SysTick does (x40), to within the two timer reads
    assert abs(c["instructions"] - ins) <= 2 * 40 + 80
    assert c["ms_at_clock"]["median"] == pytest.approx(c["median"] / 25e6 * 1e3)
    assert len(rec["per_sample"]["cycles_estimate"]) == 4
    assert np.all(rec["per_sample"]["cycles_estimate"] >= rec["per_sample"]["ticks"] * 40 - 80)
    prof = rec["profile"]
    per_op = [r["cycles_estimate"] for r in prof["layers"]]
    assert all(v > 0 for v in per_op) and sum(per_op) == prof["sum_cycles_estimate"]
    # the ops one at a time cost about the whole inference (each call's own entry and return)
    assert prof["sum_cycles_estimate"] == pytest.approx(prof["whole_cycles_estimate"], rel=0.02)
    assert prof["whole_cycles_estimate"] == pytest.approx(c["median"], rel=0.01)
    assert "estimated Cortex-M4 cycles (TRM timing, zero wait states)" in rec["summary"]
    assert f"an estimated {c['ms_at_clock']['median']:,.2f} ms" in rec["summary"]
    md = (cycles_run.bench_dir("mps2-an386") / "bench.md").read_text()
    assert "estimated latency at 25 MHz" in md and "est. M4 cycles" in md


@pytest.mark.slow
@needs_qemu
def test_without_a_host_compiler_the_bench_runs_and_says_why(
    cycles_run: runs.Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = mps2()
    current_firmware(cycles_run, board)()  # built with the usual tools, before they go
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))  # no plugin built yet
    monkeypatch.setenv("CC", "no-such-compiler")
    rec = run_bench(
        cycles_run, board, None, samples=2, progress=False, latency_samples=0, write=False
    )
    assert rec["exact_match_rate"] == 1.0 and "cycles_estimate" not in rec
    assert "no host C compiler" in rec["cycles_estimate_unavailable"]
    assert "no cycle estimate: m4cycles: no host C compiler" in rec["summary"]


@pytest.mark.slow
@needs_qemu
def test_the_feature_chain_costs_per_hop_as_the_board_builds_it(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgekit.bench.feature_cost import feature_cost

    from stream_util import causal_export

    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))
    meta = causal_export(tmp_path_factory.getbasetemp()) / "export" / "model_meta.h"
    hard = feature_cost(meta, get_board("stm32f405"))
    assert hard["measured_as"] == "stm32f405" and "-mfloat-abi=hard" in hard["flags"]
    assert hard["block"] == 8 and hard["hop_samples"] == 102 and hard["channels"] == 192
    assert hard["median_cycles"] >= hard["median_instructions"] > 0
    # the Spresense (no QEMU model, a Cortex-M4F) is measured as the stm32f405 builds it: cached
    spr = feature_cost(meta, get_board("spresense"))
    assert spr["measured_as"] == "stm32f405" and spr["board"] == "spresense"
    assert spr["median_cycles"] == hard["median_cycles"]
    assert len(list((tmp_path / "cache" / "feature-cost").glob("*.json"))) == 1
    soft = feature_cost(meta, get_board("mps2-an386"))  # no FPU: float in library calls
    assert "-mfloat-abi=soft" in soft["flags"] and soft["median_cycles"] > 5 * hard["median_cycles"]


def test_streaming_a_board_qemu_lacks_names_the_same_core_in_qemu(capsys, tmp_path) -> None:
    from edgekit.cli import main

    assert main(["stream", "--board", "spresense", "--run", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--port /dev/ttyUSB0" in err
    assert "edgekit stream --board stm32f405 --clock-mhz 156" in err
    assert main(["stream", "--board", "stm32f405", "--clock-mhz", "0", "--run", str(tmp_path)]) == 2
    assert "--clock-mhz: expected a clock in MHz > 0" in capsys.readouterr().err
