"""`edgekit stream --calibrate` end to end in QEMU (mps2-an386, soft-float Cortex-M4): the board
collects the labelled hops, solves its head in integers and decides with it; the head (every
byte), outputs, classes and votes equal the host's mirror, and the calibration's cost comes back
in instructions and bytes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import calib_util as cu
import firmware_util as fu

pytestmark = [pytest.mark.slow, fu.needs_qemu]

REPO = Path(__file__).resolve().parents[1]


def test_calibrated_stream_in_qemu(tmp_path_factory, tiny_csl):
    run = cu.head_export(tmp_path_factory.getbasetemp())
    env = {**os.environ, "PYTHONPATH": str(REPO / "toolchain")}
    argv = [sys.executable, "-m", "edgekit.cli", "stream", "--board", "mps2-an386", "--run"]
    argv += [str(run), "--recording", str(tiny_csl), "--session", "2", "--calibrate", "0.6"]
    out = subprocess.run(
        argv + ["--vote", "3", "--json", "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rep = json.loads(out.stdout)
    e = rep["exact"]
    assert e["frames"] and e["calibration_hops"] and e["head_crc"] and e["head_bytes"], e
    assert e["outputs"] == e["base_outputs"] == e["classes"] == e["votes"] == 1.0
    assert rep["errors"] == [] and rep["device"] == "qemu:mps2-an386"
    c = rep["cost"]
    # the board's ek_calib_t fits the estimate export made of it (fit counts EK_CALIB_BYTES)
    meta = (run / "export" / "model_meta.h").read_text()
    est = int(re.search(r"#define EK_CALIB_BYTES (\d+)", meta)[1])
    assert c["tick_hz"] == 25_000_000 and 0 < c["ram_bytes"] <= est, (c["ram_bytes"], est)
    for part in ("collect_per_hop", "solve", "head_per_hop"):
        assert c[part]["median_instructions"] > 0, part
    files = rep["files"]
    assert Path(files["json"]).is_file() and "--calibrate" in Path(files["md"]).read_text()
    # a bad calibration request stops before the board with the reason
    bad = subprocess.run(
        argv[:-1] + ["0.05", "--no-progress"], capture_output=True, text=True, env=env, timeout=300
    )
    assert bad.returncode == 2 and "the head needs at least 3 per gesture" in bad.stderr
    clash = subprocess.run(
        argv + ["--block", "50"], capture_output=True, text=True, env=env, timeout=300
    )
    assert clash.returncode == 2 and "--block cannot be used with it" in clash.stderr
