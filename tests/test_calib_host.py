"""On-device calibration (ek-calib-*, firmware/app/ek_calib.c) on the host build of the firmware,
plain and under AddressSanitizer + UBSan: `stream --calibrate`'s whole conversation (the board
collects the labelled hops, solves its head, decides with it) equals the host's integer mirror
bit for bit (head, outputs, classes, votes); bad input gets an e-[...] line, the previous head
stays and the board keeps answering."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from edgekit import firmware
from edgekit.bench import stream as st
from edgekit.bench.calib_stream import run_calibrated_stream
from edgekit.export import head as hd
from edgekit.export.tflite import inspect_tflite
from edgekit.runs import Run

import calib_util as cu
import firmware_util as fu
import stream_util as su

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None or shutil.which("make") is None, reason="needs gcc and make"
)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    return Run(cu.head_export(tmp_path_factory.getbasetemp()))


def _build(run: Run, asan: bool) -> str:
    board = fu.host_board()
    fw = firmware.render(run, board)
    return firmware.build(fw, board, make_vars={"SANITIZE": "1"} if asan else None)["elf"]


@pytest.fixture(scope="module", params=["plain", pytest.param("asan", marks=pytest.mark.slow)])
def elf(run, request) -> str:
    return _build(run, request.param == "asan")


@pytest.mark.parametrize("method", ["out-lda", "ncm"])
def test_calibrated_stream_equals_host(run, elf, tiny_csl, method):
    bridge = cu.SocketBridge([elf])
    try:
        rep = run_calibrated_stream(
            run, fu.host_board(), 0.6, bridge.url, session=2, recording=tiny_csl, vote=3,
            method=method, progress=False, write=False,
        )  # fmt: skip
    finally:
        code, err = bridge.close()
    assert code == 0 and "ERROR" not in err and "runtime error" not in err, err[-2000:]
    e = rep["exact"]
    assert e["frames"] and e["calibration_hops"] and e["head_crc"] and e["head_bytes"], e
    assert e["outputs"] == e["base_outputs"] == e["classes"] == e["votes"] == 1.0
    assert rep["errors"] == []
    assert min(rep["calibration_hops_per_class"]) >= hd.MIN_HOPS
    assert 0 < rep["hops_before_solve"] < rep["hops"] and rep["scored_hops"] > 20
    assert rep["cost"]["ram_bytes"] <= hd.calib_bytes(_hi(run))


def _hi(run: Run) -> hd.HeadInfo:
    return hd.find_head(inspect_tflite((run.export_dir / "model_int8.tflite").read_bytes()))[0]


class Board:
    """The host build over pipes, with the host's view of the model next to it."""

    def __init__(self, run: Run, elf: str):
        self.link = fu.Link.spawn([elf])
        self.link.read_until_ready()
        self.meta = st.read_meta(run.export_dir / "model_meta.h")
        self.model = (run.export_dir / "model_int8.tflite").read_bytes()
        self.info = inspect_tflite(self.model)
        self.hi = _hi(run)
        self.counts = su.emg_counts(192, 102 * 300, seed=11)
        self.seq = 0

    def hops(self, n: int) -> list[dict]:
        """n blocks of one hop each (the first two complete no hop)."""
        out = []
        for _ in range(n):
            pos = (self.seq * 102) % (self.counts.shape[1] - 102)
            self.link.write(st.encode_block(self.seq, self.counts[:, pos : pos + 102]))
            h, summary, errs = st.parse_block_reply(self.link.read_until_ready(30))
            assert errs == [] and summary is not None
            out += h
            self.seq += 1
        return out

    def feats(self, hops: list[dict]) -> np.ndarray:
        x = np.array([np.frombuffer(h["in"], np.int8) for h in hops]).reshape(-1, 8, 24, 1)
        return hd.penultimate(self.model, self.hi, self.info, x)


def _err(lines: list[str]) -> str:
    assert lines[-1] == "m-ready" and len(lines) == 2 and lines[0].startswith("e-["), lines
    return lines[0]


def test_calibration_commands_and_bad_input(run, elf):
    b = Board(run, elf)
    link = b.link
    assert "no calibration started" in _err(link.cmd("ek-calib-label 1"))
    assert "no calibration started" in _err(link.cmd("ek-calib-solve"))
    assert "no solved head" in _err(link.cmd("ek-calib-head"))
    assert "usage ek-calib-label L|none, L a class 0..3" in _err(link.cmd("ek-calib-label 4"))
    assert "usage" in _err(link.cmd("ek-calib-label x"))
    assert "usage ek-calib-start [out-lda|ncm]" in _err(link.cmd("ek-calib-start lda"))
    start = link.cmd("ek-calib-start ncm")[0]
    assert start.startswith(
        "m-ek-calib-start-method[ncm]-classes[4]-features[12]-min[3]-max[257]-bytes["
    )
    assert link.cmd("ek-stream-start 1 1")[0].startswith("m-ek-stream-ch[192]")
    # a calibration missing a gesture: refused, the model's own head keeps deciding
    lab: list[int] = []
    hops: list[dict] = []
    for c in (0, 1, 0):
        assert link.cmd(f"ek-calib-label {c}") == [f"m-ek-calib-label-[{c}]", "m-ready"]
        h = b.hops(6)
        hops += h
        lab += [c] * len(h)
    assert link.cmd("ek-calib-label none") == ["m-ek-calib-label-[none]", "m-ready"]
    assert [h["cal"] for h in hops] == lab
    e = _err(link.cmd("ek-calib-solve"))
    assert "class 2 (open) has 0 hops, the head needs at least 3; the previous head stays" in e
    h = b.hops(1)[0]
    assert h["base"] is None and h["cal"] is None
    assert np.array_equal(np.frombuffer(h["out"], np.int8), b.feats([h])[1][0])
    # the missing gestures, then a solve: the host's head, bit for bit
    for c in (2, 3):
        link.cmd(f"ek-calib-label {c}")
        h = b.hops(4)
        hops += h
        lab += [c] * len(h)
    link.cmd("ek-calib-label none")
    feats, _ = b.feats(hops)
    head = hd.solve_ncm(*hd.class_sums(feats, np.array(lab), 4), b.hi)
    solve = link.cmd("ek-calib-solve")[0]
    assert f"-crc[{hd.head_crc(head)}]" in solve and "-hops[10,6,4,4]-dropped[0]" in solve
    dump = link.cmd("ek-calib-head")[0]
    assert dump.endswith(hd.head_bytes(head).hex() + "]") and "-at[0]-of[88]-" in dump
    assert "offset past the end" in _err(link.cmd("ek-calib-head 89"))
    after = b.hops(3)
    f, base = b.feats(after)
    assert [np.frombuffer(h["base"], np.int8).tolist() for h in after] == base.tolist()
    want = hd.run_head(head, b.hi, f)
    assert [np.frombuffer(h["out"], np.int8).tolist() for h in after] == want.tolist()
    # a new calibration that fails keeps the solved head deciding
    link.cmd("ek-calib-start ncm")
    link.cmd("ek-calib-label 1")
    b.hops(4)
    assert "class 0 (idle) has 0 hops" in _err(link.cmd("ek-calib-solve"))
    assert link.cmd("ek-calib-head")[0] == dump
    h = b.hops(1)[0]
    assert np.array_equal(
        np.frombuffer(h["out"], np.int8), hd.run_head(head, b.hi, b.feats([h])[0])[0]
    )
    # reset: the model's own head again
    assert link.cmd("ek-calib-reset") == ["m-ek-calib-reset", "m-ready"]
    h = b.hops(1)[0]
    assert h["base"] is None and np.array_equal(
        np.frombuffer(h["out"], np.int8), b.feats([h])[1][0]
    )
    code, err = link.close()
    assert code == 0 and "runtime error" not in err, err[-2000:]


def test_out_lda_solve_equals_host(run, elf):
    """out-lda: the C x C head on the model's outputs, solved in double on the board; the host's
    Python floats give the same head, and its outputs after the model's are the board's."""
    b = Board(run, elf)
    link = b.link
    link.cmd("ek-stream-start 1 1")
    assert link.cmd("ek-calib-start")[0].startswith("m-ek-calib-start-method[out-lda]-classes[4]")
    hops, lab = [], []
    for c in (0, 1, 2, 3, 1):
        link.cmd(f"ek-calib-label {c}")
        h = b.hops(5)
        hops += h
        lab += [c] * len(h)
    link.cmd("ek-calib-label none")
    _, base = b.feats(hops)
    head = hd.solve_out_lda(*hd.out_stats(base, np.array(lab), b.hi), b.hi)
    assert f"-crc[{hd.head_crc(head)}]" in link.cmd("ek-calib-solve")[0]
    assert link.cmd("ek-calib-head")[0].endswith(hd.head_bytes(head).hex() + "]")
    after = b.hops(4)
    _, base = b.feats(after)
    assert [np.frombuffer(h["base"], np.int8).tolist() for h in after] == base.tolist()
    want = hd.run_head(head, b.hi, base)
    assert [np.frombuffer(h["out"], np.int8).tolist() for h in after] == want.tolist()
    # outputs that never vary cannot be discriminated: refused, the head stays
    link.cmd("ek-calib-start")
    b.counts[:] = 0  # silence from a fresh stream: the same frame, the same outputs, every hop
    link.cmd("ek-stream-start 1 1")  # the filters start again; calibration is the board's
    b.seq = 0
    for c in range(4):
        link.cmd(f"ek-calib-label {c}")
        b.hops(6)
    e = _err(link.cmd("ek-calib-solve"))
    assert "the model's outputs do not vary over the calibration; the previous head stays" in e
    assert link.cmd("ek-calib-head")[0].endswith(hd.head_bytes(head).hex() + "]")
    code, err = link.close()
    assert code == 0 and "runtime error" not in err, err[-2000:]


def test_a_class_past_the_hop_limit_is_dropped(run, elf):
    b = Board(run, elf)
    b.link.cmd("ek-stream-start 1 1")
    b.link.cmd("ek-calib-start")
    b.link.cmd("ek-calib-label 0")
    b.hops(hd.MAX_HOPS + 4)  # + 2 blocks before the first hop: 2 hops too many
    for c in (1, 2, 3):
        b.link.cmd(f"ek-calib-label {c}")
        b.hops(3)
    assert "-hops[257,3,3,3]-dropped[2]-" in b.link.cmd("ek-calib-solve")[0]
    assert b.link.close()[0] == 0


@pytest.mark.slow  # two more firmware builds
def test_no_room_and_no_head_answer_why(tmp_path):
    """A build without room for the buffers (the export's board had none), and a model whose
    last op cannot be replaced: every ek-calib command says why; streaming goes on."""
    cases = [
        (Run(cu.head_export(tmp_path, calib_room=False)), "no room for the calibration buffers"),
        (Run(su.causal_export(tmp_path)), "no FULLY_CONNECTED head on the op before it"),
    ]
    for run, why in cases:
        meta_h = (run.export_dir / "model_meta.h").read_text()
        b = Board.__new__(Board)
        b.link = fu.Link.spawn([_build(run, asan=False)])
        b.link.read_until_ready()
        b.counts, b.seq = su.emg_counts(192, 102 * 10, seed=2), 0
        for cmd in ("ek-calib-start", "ek-calib-label 1", "ek-calib-solve", "ek-calib-reset"):
            e = _err(b.link.cmd(cmd))
            assert why in e and e.endswith("; the head is unchanged]"), e
        if "no room" in why:
            need = int(meta_h.split("#define EK_CALIB_BYTES ")[1].split()[0])
            assert f"the buffers need {need} bytes, this build allows 0" in e
        b.link.cmd("ek-stream-start 1 0")
        assert len(b.hops(5)) == 3
        assert b.link.close()[0] == 0
