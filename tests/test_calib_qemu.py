"""`edgekit stream --calibrate` end to end in QEMU (mps2-an386, soft-float Cortex-M4): the board
collects the labelled hops, solves its head in integers and decides with it; the head (every
byte), outputs, classes and votes equal the host's mirror, and the calibration's cost comes back
in instructions and bytes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import calib_util as cu
import firmware_util as fu
import stream_util as su

pytestmark = [pytest.mark.slow, fu.needs_qemu]


def test_calibrated_stream_in_qemu(tmp_path_factory, tiny_csl):
    run = cu.head_export(tmp_path_factory.getbasetemp())
    calib = ["--session", "2", "--calibrate", "0.6"]
    rep = su.stream_in_qemu(run, tiny_csl, *calib, "--vote", "3")
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
    bad = su.stream_cli(run, tiny_csl, *calib[:-1], "0.05", timeout=300)
    assert bad.returncode == 2 and "the head needs at least 3 per gesture" in bad.stderr
    clash = su.stream_cli(run, tiny_csl, *calib, "--block", "50", timeout=300)
    assert clash.returncode == 2 and "--block cannot be used with it" in clash.stderr
