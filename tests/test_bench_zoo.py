"""benchmarks/zoo_models.py builds a zoo model with the project's tools (Keras +
TFLiteConverter here), caches it by recipe hash, and benchmarks/bench_zoo.py runs it on
edgekit-rt in QEMU byte-exact with tflite_micro, with an estimated cycle count; a model with an
operator edgekit-rt lacks (TANH) is reported as such, not a crash. No anchor needed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import firmware_util as fu

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

pytestmark = [pytest.mark.slow, fu.needs_qemu]

SMALL = "dw3x3_24x24x8_mult2"  # one DEPTHWISE_CONV_2D, depth multiplier 2
POOL = "maxpool2x2_48x48x8"  # MAX_POOL_2D


def test_zoo_model_builds_runs_exact(tmp_path, capsys):
    import bench_zoo
    import zoo_models

    cache = tmp_path / "cache"
    (r,) = zoo_models.select(SMALL)
    path = zoo_models.build(r, cache)
    assert path.parent == cache and path.name == f"{SMALL}-{zoo_models.key(r)}.tflite"
    mtime = path.stat().st_mtime_ns
    assert zoo_models.build(r, cache) == path and path.stat().st_mtime_ns == mtime  # cached

    out = tmp_path / "zoo.json"
    code = bench_zoo.main(["--only", f"{SMALL},{POOL}", "--cache", str(cache), "--json", str(out)])
    assert code == 0
    small, pool = json.loads(out.read_text())["models"]
    rt = small["edgekit_rt"]
    assert small["macs"] == 24 * 24 * 16 * 9 and small["ops"] == {"DEPTHWISE_CONV_2D": 1}
    assert rt["status"] == "ok" and rt["exact"] is True
    assert rt["cycles"] > rt["instructions_plugin"] > 0
    assert abs(rt["instructions"] - rt["instructions_plugin"]) <= 80
    assert rt["cycles_per_mac"] == pytest.approx(rt["cycles"] / small["macs"])
    assert pool["ops"] == {"MAX_POOL_2D": 1}
    assert pool["edgekit_rt"]["status"] == "ok" and pool["edgekit_rt"]["exact"] is True

    capsys.readouterr()
    assert bench_zoo.main(["--markdown", str(out)]) == 0
    table = capsys.readouterr().out
    assert f"| {SMALL} | 82,944 | {rt['instructions']:,} | {rt['cycles']:,} |" in table
    assert f"| {POOL} | 0 | {pool['edgekit_rt']['instructions']:,} |" in table


def test_a_model_with_an_op_edgekit_rt_lacks_is_reported_not_a_crash(tmp_path, capsys):
    """A TANH model (edgekit-rt has no TANH) through the zoo's own runner and table."""
    import bench_zoo
    import numpy as np

    import ekrt_semi
    import rt_models

    model = rt_models.build(rt_models.tanh_spec(), tmp_path)
    elf = ekrt_semi.build(tmp_path / "build")
    x = np.zeros((1, 4 * 6 * 2), np.int8)  # the tanh spec's input
    (tmp_path / "in.bin").write_bytes(x.tobytes())
    (res,) = bench_zoo.run_rt(
        elf, [ekrt_semi.Job(model, tmp_path / "in.bin", tmp_path / "out.bin", True)], cycles=False
    )
    rec = bench_zoo.rt_record(res, False, 0)
    assert rec["status"] == "unsupported" and "TANH" in rec["error"], rec
    row = {"model": "tanh", "macs": 0, "edgekit_rt": rec}
    assert "| tanh | 0 | unsupported: TANH |" in bench_zoo.markdown([row])
