"""`edgekit bench --tflite` on models whose inputs are 1 byte to 64 KB, in QEMU mps2-an386 (issue
24: a 55,303-byte command stopped the bench). Small random int8 models (tests/rt_models.py), the
real export, firmware, QEMU and tflite_micro: every output byte equals the host reference, and
latency is measured both ways (ek ticks per sample, m-lap-us over infer N W)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgekit.bench.session import INLINE_MAX
from edgekit.cli import main

import rt_models

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
        reason="needs qemu-system-arm and gcc-arm-none-eabi (make sysdeps)",
    ),
]


def _fc(name: str, seed: int, n: int, units: int) -> rt_models.ModelSpec:
    p = dict(n=n, units=units, act=None, rank3=False, rows=1, wstd=0.3, per_tensor=False)
    return rt_models.ModelSpec(name, "fc", seed, {**p, "range": (-2.0, 2.0)})


def _image(name: str, seed: int, h: int, w: int, c: int, s: int) -> rt_models.ModelSpec:
    p = dict(h=h, w=w, cin=c, cout=4, k=3, s=s, units=6, wstd=0.3, range=(-1.0, 1.0))
    return rt_models.ModelSpec(name, "convhead", seed, p)


# (input bytes, recipe): a dense layer on 1 and 640 inputs, small conv classifiers on images
SIZES = {
    1: _fc("in1", 1501, 1, 8),
    640: _fc("in640", 1502, 640, 8),
    1200: _image("in1200", 1503, 20, 20, 3, 2),
    27648: _image("in96x96x3", 1504, 96, 96, 3, 4),  # MobileNetV1-96's input
    65536: _image("in64k", 1505, 128, 128, 4, 4),
}


@pytest.mark.parametrize("n_in", list(SIZES))
def test_bench_tflite_any_input_size_is_exact(
    n_in: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = rt_models.build(SIZES[n_in], rt_models.cache_dir())
    capsys.readouterr()  # only the bench's own output is parsed below
    argv = ["bench", "--board", "mps2-an386", "--tflite", str(model), "--run", str(tmp_path / "r")]
    rc = main([*argv, "--samples", "3", "--seed", "2", "--json", "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    rec = json.loads(out)
    assert rec["device"]["inputs"] == n_in == rec["input"]["bytes"]
    # inline when the input fits one 1024-byte command, else EEMBC's chunked db load; in QEMU
    # the bytes go through the semihosting FIFO
    assert rec["input"]["command"] == ("ek-run" if n_in <= INLINE_MAX else "db") == rec["mode"]
    assert rec["input"]["link"] == "semihosting-fifo"
    assert rec["exact_match_rate"] == 1.0 and rec["max_abs_diff"] == 0 and rec["samples"] == 3
    lat = rec["latency"]
    assert lat["median_ticks"] > 0 and rec["instructions_per_inference"] == lat["median_ticks"] * 40
    assert len(rec["lap_us"]) == 3
    assert all(
        lap["output_matches_ek_run"] and lap["us_per_inference"] > 0 for lap in rec["lap_us"]
    )
    # the per-sample ticks and infer N W's agree to within the phase of the first tick
    ticks = [lap["ticks_per_inference"] for lap in rec["lap_us"]]
    assert max(abs(t - lat["median_ticks"]) for t in ticks) <= 0.05 * lat["median_ticks"] + 2
