"""benchmarks/zoo_models.py builds a zoo model with the project's tools (Keras +
TFLiteConverter here), caches it by recipe hash, and benchmarks/bench_zoo.py runs it on
edgekit-rt in QEMU byte-exact with tflite_micro, with an estimated cycle count; a model with an
operator edgekit-rt lacks is reported as such, not a crash. No anchor needed."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
        reason="needs qemu-system-arm and arm-none-eabi-gcc",
    ),
]

SMALL = "dw3x3_24x24x8_mult2"  # one DEPTHWISE_CONV_2D, depth multiplier 2
MISSING = "maxpool2x2_48x48x8"  # MAX_POOL_2D: not in edgekit-rt


def test_zoo_model_builds_runs_exact_and_reports_a_missing_op(tmp_path, capsys):
    import bench_zoo
    import zoo_models

    cache = tmp_path / "cache"
    (r,) = zoo_models.select(SMALL)
    path = zoo_models.build(r, cache)
    assert path.parent == cache and path.name == f"{SMALL}-{zoo_models.key(r)}.tflite"
    mtime = path.stat().st_mtime_ns
    assert zoo_models.build(r, cache) == path and path.stat().st_mtime_ns == mtime  # cached

    out = tmp_path / "zoo.json"
    code = bench_zoo.main(
        ["--only", f"{SMALL},{MISSING}", "--cache", str(cache), "--json", str(out)]
    )
    assert code == 0
    small, missing = json.loads(out.read_text())["models"]
    rt = small["edgekit_rt"]
    assert small["macs"] == 24 * 24 * 16 * 9 and small["ops"] == {"DEPTHWISE_CONV_2D": 1}
    assert rt["status"] == "ok" and rt["exact"] is True
    assert rt["cycles"] > rt["instructions_plugin"] > 0
    assert abs(rt["instructions"] - rt["instructions_plugin"]) <= 80
    assert rt["cycles_per_mac"] == pytest.approx(rt["cycles"] / small["macs"])
    assert missing["edgekit_rt"]["status"] == "unsupported"
    assert "MAX_POOL_2D" in missing["edgekit_rt"]["error"]

    capsys.readouterr()
    assert bench_zoo.main(["--markdown", str(out)]) == 0
    table = capsys.readouterr().out
    assert f"| {SMALL} | 82,944 | {rt['instructions']:,} | {rt['cycles']:,} |" in table
    assert f"| {MISSING} | 0 | unsupported: MAX_POOL_2D |" in table
