"""Disturbed and saturated raw samples through the board's feature chain and model.

On the host build under AddressSanitizer + UBSan: blocks pinned at the int16 rails (+32767 and
-32768, the full-scale square waves and steps a saturated amplifier delivers) give the same int8
frames, outputs and votes as the host reference chain. In QEMU (slow): `edgekit stream --disturb
ca` replays trials whose contact artifact the simulator clips at full scale, and the board agrees
with the host on every hop."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgekit import firmware
from edgekit.bench import stream as st
from edgekit.cli import main
from edgekit.data import load_recording
from edgekit.data.causal import INT16_MAX
from edgekit.data.synth import SynthConfig, generate
from edgekit.runs import Run

import firmware_util as fu
import stream_util as su

needs_gcc = pytest.mark.skipif(
    shutil.which("gcc") is None or shutil.which("make") is None, reason="needs gcc and make"
)


def saturated_counts(n_ch: int, n: int) -> np.ndarray:
    """Thirds of the channels: full-scale square waves (+32767 / -32768, 5 samples each),
    pinned at a rail with a rail-to-rail step half-way, and ordinary EMG-like counts."""
    x = su.emg_counts(n_ch, n, seed=11).astype(np.int32)
    third = n_ch // 3
    sq = np.where((np.arange(n) // 5) % 2 == 0, INT16_MAX, -INT16_MAX - 1)
    x[:third] = sq
    x[third : 2 * third] = np.where(np.arange(n) < n // 2, -INT16_MAX - 1, INT16_MAX)
    return x.astype(np.int16)


@needs_gcc
def test_saturated_samples_exact_with_host_under_sanitizers(tmp_path_factory):
    run = Run(su.causal_export(tmp_path_factory.getbasetemp()))
    board = fu.host_board()
    fw = firmware.render(run, board)
    elf = firmware.build(fw, board, make_vars={"SANITIZE": "1"})["elf"]
    meta = st.read_meta(run.export_dir / "model_meta.h")
    counts = saturated_counts(meta.n_channels, 2400)
    link = fu.Link.spawn([elf])
    link.read_until_ready()
    assert link.cmd("ek-stream-start 3 1")[-1] == "m-ready"
    hops, pos = [], 0
    for seq, n in enumerate((7, 500, 1, 892, 1000)):  # blocks that straddle hops
        link.write(st.encode_block(seq, counts[:, pos : pos + n]))
        pos += n
        h, summary, errs = st.parse_block_reply(link.read_until_ready(60))
        assert errs == [] and summary["seq"] == seq
        hops += h
    frames = st.host_frames(meta, counts)
    dev_in = np.array([np.frombuffer(h["in"], np.int8) for h in hops])
    assert len(hops) == len(frames) > 0 and np.array_equal(dev_in, frames)
    assert (frames == 127).any()  # the saturated channels drive the input quantizer to its top
    ref_out = fu.tflm_outputs((run.export_dir / "model_int8.tflite").read_bytes(), frames)
    assert np.array_equal(np.array([np.frombuffer(h["out"], np.int8) for h in hops]), ref_out)
    cls = st.argmax_first(ref_out)
    assert [h["vote"] for h in hops] == st.majority_votes(cls, 3).tolist()
    assert link.cmd("name") == ["m-name-dut-[edgekit-host]", "m-ready"]  # still answering
    rc, err = link.close()
    assert rc == 0, err


def test_stream_refuses_unknown_condition(capsys, tmp_path):
    code = main(["stream", "--board", "mps2-an386", "--run", str(tmp_path), "--disturb", "ca,pen"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--disturb" in err and "'pen'" in err and "known: ca, lc" in err
    argv = ["stream", "--board", "mps2-an386", "--run", str(tmp_path), "--disturb", "ca"]
    assert main([*argv, "--disturb", "lc"]) == 2
    err = capsys.readouterr().err
    assert "one condition per stream, got 2 (ca and lc)" in err and "(ca,lc)" in err


# ------------------------------------------------------------------------------ QEMU


def hot_recording(base: Path) -> Path:
    """A short recording at twice the default ADC gain (0.05 uV per count): the contact
    artifact's strikes on gesture trials exceed int16 range, the clean signal does not."""
    cfg = SynthConfig(
        n_classes=5,
        sessions=1,
        trials_per_gesture=2,
        idle_trials=1,
        trial_seconds=0.5,
        seed=3,
        uv_per_count=0.05,
    )
    return generate(base / "synth-hot", cfg)


@pytest.mark.slow
@fu.needs_qemu
def test_stream_disturb_ca_exact_in_qemu(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    run = su.causal_export(base, adc_lsb=1.0, norm_scale=20.0)
    data = hot_recording(base)
    # the trials the replay sends, disturbed as the CLI does: pick enough to include clipping
    rec, info = st.disturb_recording(load_recording(data, "csl"), "ca", 5, 1.0, None)
    assert info["clipping"]["clipped"] > 0
    n_trials = next(
        m
        for m in range(1, len(rec.trials) + 1)
        if (np.abs(st.replay_of(rec, None, 1.0, 192, m).counts) == INT16_MAX).any()
    )
    args = ["--disturb", "ca", "--seed", "5", "--vote", "3", "--block", "300"]
    rep = su.stream_in_qemu(run, data, *args, "--max-trials", str(n_trials))
    assert rep["disturb"]["condition"] == "ca" and rep["disturb"]["seed"] == 5
    assert rep["disturb"]["clipping"] == info["clipping"]
    assert "[disturb:ca seed=5]" in rep["source"]
    assert rep["exact"]["frames"] == 1.0 and rep["exact"]["max_lsb_diff"] == 0
    assert rep["exact"]["outputs"] == 1.0
    assert rep["agreement_with_host"] == {"class": 1.0, "vote": 1.0}
    assert rep["errors"] == []
    assert "clipped at the ADC's full scale" in rep["summary"]
