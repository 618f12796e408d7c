"""The whole device path on an exported MobileNetV2: quantize -> export (onnx2tf, tflite_micro
reference) -> firmware for mps2-an386 -> QEMU -> run_bench, checked byte for byte."""

from __future__ import annotations

import shutil

import pytest

from edgekit import boards, firmware, quantize, runs
from edgekit.bench import run_bench
from edgekit.export import run_export

from train_util import make_run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
        reason="needs qemu-system-arm and gcc-arm-none-eabi (make sysdeps)",
    ),
]


def test_exported_mbv2_runs_exactly_in_qemu(tmp_path_factory: pytest.TempPathFactory) -> None:
    board = boards.get_board("mps2-an386")
    run = make_run(tmp_path_factory.mktemp("e2e"), n_per_class=40, epochs=2)
    quantize.run_quantize(run, epochs=1, seed=0, progress=False)
    ex = run_export(run, board, seed=0, progress=False)

    def build() -> dict:
        return firmware.build(firmware.render(run, board), board)

    rec = run_bench(
        run, board, None, samples=30, progress=False, build_fn=build, latency_samples=1, latency_n=3
    )
    assert rec["exact_match_rate"] == 1.0, rec["summary"]
    assert rec["device_accuracy"] == rec["host_accuracy"]
    assert rec["device"]["model_hash"] == ex["model_hash"] == rec["model"]["hash"]
    assert rec["macs"] == ex["macs"] > 0
    assert 0 < rec["arena_used"] <= rec["arena_bytes"]
    assert rec["flash_bytes"] > ex["model_bytes"]
    q = rec["qemu"]
    assert q["instructions_per_inference"] > rec["macs"]  # at least one instruction per MAC
    assert 0 < q["macs_per_instruction"] < 1
    assert rec["lap_us"][0]["output_matches_ek_run"]
    for f in ("bench.json", "bench.md", "bench.png"):
        assert (run.bench_dir(board.name) / f).stat().st_size > 0
    assert runs.read_json(run.bench_dir(board.name) / "bench.json")["exact_matches"] == 30
