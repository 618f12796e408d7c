"""End to end in QEMU (mps2-an386, soft-float Cortex-M4): `edgekit stream` replays a short
synthetic recording (real .mat files) as raw int16 blocks; the board's int8 frames, outputs and
votes equal the host reference chain exactly. This is also the QEMU run of firmware/dsp."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.data.synth import SynthConfig, generate

import firmware_util as fu
import stream_util as su

pytestmark = [pytest.mark.slow, fu.needs_qemu]


def test_stream_replay_in_qemu(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    run = su.causal_export(base, adc_lsb=1.0, norm_scale=20.0)
    data = generate(
        base / "synth-stream",
        SynthConfig(
            n_classes=5, sessions=1, trials_per_gesture=1, idle_trials=1, trial_seconds=0.5, seed=3
        ),
    )
    rep = su.stream_in_qemu(run, data, "--vote", "3", "--block", "250", "--max-trials", "2")
    assert rep["hops"] == 2 * 1024 // 102 - 2  # 2 trials of 0.5 s, 3 hops per window
    assert rep["exact"]["frames"] == 1.0 and rep["exact"]["max_lsb_diff"] == 0
    assert rep["exact"]["outputs"] == 1.0
    assert rep["agreement_with_host"] == {"class": 1.0, "vote": 1.0}
    assert rep["errors"] == []
    assert rep["link"].startswith("samples by semihosting FIFO")  # not QEMU's 1-byte UART
    c = rep["cost"]
    assert c["tick_hz"] == 25_000_000 and c["features"]["median_ticks"] > 0
    # each hop in estimated Cortex-M4 cycles (m4cycles): at least one cycle per instruction,
    # judged at the board's own clock (mps2-an386: 25 MHz) against 90% of the hop
    cyc, v = c["cycles"], c["verdict"]
    assert c["clock_hz"] == 25e6 and v["limit_share"] == 0.9
    for part in ("features", "inference"):
        assert cyc[part]["median"] >= c[part]["median_instructions"] > 0
    assert v["total"] == pytest.approx(v["features"] + v["inference"], rel=0.01)
    assert v["share_of_hop"] == pytest.approx(v["total"] / (25e6 * c["hop_ms"] / 1e3))
    assert v["keeps_up"] == (v["worst_share_of_hop"] <= 0.9)
    assert ("keeps up at 25 MHz? " + ("YES" if v["keeps_up"] else "NO")) in rep["summary"]
    assert "soft-float" in rep["fpu_note"]
    # the sweep's feature cost (the chain alone, built as the port builds it) is the stream's
    from edgekit.bench.feature_cost import feature_cost
    from edgekit.boards import get_board

    alone = feature_cost(run / "export" / "model_meta.h", get_board("mps2-an386"))
    assert alone["median_cycles"] == pytest.approx(cyc["features"]["median"], rel=0.03)
    for k in ("json", "md", "png"):
        assert Path(rep["files"][k]).stat().st_size > 0
