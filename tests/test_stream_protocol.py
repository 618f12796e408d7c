"""The streaming commands (ek-stream-start, ek-stream-vote, ek-sblk) on the host build of the
firmware, plain and under AddressSanitizer + UBSan: frames, outputs and votes equal the host
reference chain (data/causal.py + tflite_micro), and every bad input gets an e-[...] line and a
clean continuation."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from edgekit import firmware
from edgekit.bench import stream as st
from edgekit.runs import Run

import firmware_util as fu
import stream_util as su

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None or shutil.which("make") is None, reason="needs gcc and make"
)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    return Run(su.causal_export(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="module", params=["plain", "asan"])
def elf(run, request) -> str:
    board = fu.host_board()
    fw = (
        firmware.render(run, board)
        if request.param == "plain" or not run.firmware_dir(board.name).exists()
        else run.firmware_dir(board.name)
    )
    mv = {"SANITIZE": "1"} if request.param == "asan" else None
    return firmware.build(fw, board, make_vars=mv)["elf"]


def _stream(link, counts: np.ndarray, sizes, seq0: int = 0) -> list[dict]:
    hops, pos, seq = [], 0, seq0
    for n in sizes:
        blk = counts[:, pos : pos + n]
        pos += n
        link.write(st.encode_block(seq, blk))
        h, summary, errs = st.parse_block_reply(link.read_until_ready(30))
        assert errs == [] and summary == {"seq": seq, "hops": len(h), "ticks": summary["ticks"]}
        hops += h
        seq += 1
    return hops


def test_stream_matches_host_reference(run, elf):
    meta = st.read_meta(run.export_dir / "model_meta.h")
    counts = su.emg_counts(meta.n_channels, 2600, seed=7)
    link = fu.Link.spawn([elf])
    link.read_until_ready()
    r = link.cmd("ek-stream-start 3 1")
    assert r == [
        f"m-ek-stream-ch[192]-hop[{meta.spec.hop}]-blocks[3]-vote[3]-max[65535]",
        "m-ready",
    ]
    sizes = [1, 37, 102, 500, 1, 959, 1000]  # blocks that split and straddle hops
    hops = _stream(link, counts, sizes)
    frames = st.host_frames(meta, counts)
    assert len(hops) == len(frames) == 2600 // meta.spec.hop - 2
    dev_in = np.array([np.frombuffer(h["in"], np.int8) for h in hops])
    assert np.array_equal(dev_in, frames)
    assert len(np.unique(frames)) > 10
    ref_out = fu.tflm_outputs((run.export_dir / "model_int8.tflite").read_bytes(), frames)
    dev_out = np.array([np.frombuffer(h["out"], np.int8) for h in hops])
    assert np.array_equal(dev_out, ref_out)
    cls = st.argmax_first(ref_out)
    assert [h["class"] for h in hops] == cls.tolist()
    assert [h["vote"] for h in hops] == st.majority_votes(cls, 3).tolist()
    assert [h["hop"] for h in hops] == list(range(len(hops)))
    assert all(h["ft"] >= 0 and h["it"] >= 0 for h in hops)
    # a new vote length restarts the vote history, not the filters
    assert link.cmd("ek-stream-vote 5") == ["m-ek-stream-vote-[5]", "m-ready"]
    more = su.emg_counts(meta.n_channels, 600, seed=8)
    h2 = _stream(link, more, [600], seq0=len(sizes))
    full = st.host_frames(meta, np.concatenate([counts, more], axis=1))
    assert np.array_equal(
        np.array([np.frombuffer(h["in"], np.int8) for h in h2]), full[len(frames) :]
    )
    c2 = st.argmax_first(
        fu.tflm_outputs((run.export_dir / "model_int8.tflite").read_bytes(), full[len(frames) :])
    )
    assert [h["vote"] for h in h2] == st.majority_votes(c2, 5).tolist()
    rc, err = link.close()
    assert rc == 0, err


def test_stream_bad_input(run, elf):
    meta = st.read_meta(run.export_dir / "model_meta.h")
    counts = su.emg_counts(meta.n_channels, 800, seed=9)
    link = fu.Link.spawn([elf])
    link.read_until_ready()
    # a block before any ek-stream-start: read to its end and refused
    link.write(st.encode_block(0, counts[:, :10]))
    r = link.read_until_ready()
    assert len(r) == 2 and r[0].startswith("e-[ek-sblk: no stream")
    for bad in (
        "ek-stream-start 0",
        "ek-stream-start 33",
        "ek-stream-start 1 2",
        "ek-stream-vote",
        "ek-stream-vote 99",
        "ek-sblk 1 2",
        "ek-sblk x 192 1",
    ):
        r = link.cmd(bad)
        assert len(r) == 2 and r[0].startswith("e-[") and r[1] == "m-ready", (bad, r)
    assert link.cmd("ek-stream-start 1 1")[-1] == "m-ready"
    # wrong channel count: the whole payload is consumed, the stream resets, the protocol goes on
    wrong = np.zeros((191, 20), np.int16)
    link.write(st.encode_block(0, wrong))
    r = link.read_until_ready()
    assert len(r) == 2 and "191 channels, the model expects 192" in r[0]
    assert link.cmd("name") == ["m-name-dut-[edgekit-host]", "m-ready"]
    # ek-rx-file (a FIFO instead of the link: the QEMU port only) is refused here, link unchanged
    assert link.cmd("ek-rx-file /tmp/x.fifo") == [
        "e-[ek-rx-file: this port reads the serial link only]",
        "m-ready",
    ]
    # too long a block (length field): consumed, refused
    link.write(b"ek-sblk 1 192 0%")
    r = link.read_until_ready()
    assert len(r) == 2 and "0 samples, expected 1..65535" in r[0]
    # a gap in the sequence numbers: said, the stream restarts from this block
    hops = _stream(link, counts[:, :400], [400], seq0=2)
    link.write(st.encode_block(9, counts[:, 400:800]))
    r = link.read_until_ready()
    assert (
        r[0] == "e-[ek-sblk: sequence gap: expected 3, got 9; stream reset, this block starts it]"
    )
    h, summary, _ = st.parse_block_reply(r)
    assert summary["seq"] == 9
    assert np.array_equal(
        np.array([np.frombuffer(x["in"], np.int8) for x in h]),
        st.host_frames(meta, counts[:, 400:800]),
    )
    assert len(hops) == len(st.host_frames(meta, counts[:, :400]))
    rc, err = link.close()
    assert rc == 0, err


def test_stream_realtime_overrun_accounting(run, elf):
    """REALTIME 1: the board keeps a lag = max(0, lag + processing ticks - the block's own time
    span) and reports an overrun (then forgets the lag) once it exceeds one hop. The host's ticks
    are microseconds of real time, so whether it ever falls behind depends on the machine; the
    check replays the rule on the ticks the board reported and needs the same e- lines, no more,
    no fewer, and the stream to go on."""
    meta = st.read_meta(run.export_dir / "model_meta.h")
    link = fu.Link.spawn([elf])
    link.read_until_ready()
    link.cmd("ek-stream-start 1 0 1")
    counts = su.emg_counts(meta.n_channels, 2048, seed=3)
    fs, hz = int(meta.spec.fs), 1_000_000
    lag, expected, got = 0, [], []
    sizes = [1, 5, 102, 2048] * 6
    for i, n in enumerate(sizes):
        link.write(st.encode_block(i, counts[:, :n]))
        h, summary, errs = st.parse_block_reply(link.read_until_ready(60))
        got += errs
        lag = max(0, lag + summary["ticks"] - n * hz // fs)
        if lag > meta.spec.hop * hz // fs:
            expected.append(i)
            lag = 0
    assert len(got) == len(expected)
    assert all(
        f"after block {i};" in e and "nothing dropped" in e
        for i, e in zip(expected, got, strict=True)
    )
    rc, err = link.close()
    assert rc == 0, err
