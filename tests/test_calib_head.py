"""The head calibration replaces (export/head.py) and the session cut (data/calibration.py): a new
head written into a real .tflite changes only the head's bytes and runs in tflite_micro exactly as
the integer mirror the board shares; the solve's and the cut's bad inputs get clear errors."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from edgekit.data import load_recording
from edgekit.data.calibration import check_compatible, cut_session
from edgekit.data.synth import SynthConfig, generate
from edgekit.errors import EdgekitError
from edgekit.export import head as hd
from edgekit.export.tflite import inspect_tflite

import calib_util as cu
import firmware_util as fu


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> bytes:
    path = tmp_path_factory.getbasetemp() / "head-s0.tflite"
    if not path.exists():
        path.write_bytes(cu.make_head_tflite(0))
    return path.read_bytes()


def _head(model: bytes):
    info = inspect_tflite(model, "head model")
    hi, why = hd.find_head(info)
    assert hi is not None, why
    return info, hi


def test_find_head(model, tiny_tflite):
    info, hi = _head(model)
    assert (hi.op, hi.n_in, hi.n_out) == (len(info.ops) - 1, 12, 4)
    assert info.ops[hi.op - 1].op == "MEAN"
    # a FULLY_CONNECTED without a bias (the converter drops an all-zero one) is not replaceable
    hi2, why = hd.find_head(inspect_tflite(tiny_tflite, "tiny"))
    assert hi2 is None and "no bias" in why
    assert hd.calib_bytes(hi) == 3 * 4 * 12 + 36 * 16 + 12 * 4 + 64 and hd.calib_bytes(None) == 0


def test_solved_head_in_tflite_micro_equals_the_integer_mirror(model):
    """The .tflite with the solved head written in: every byte outside the head's weights, bias
    and their scales is the original's, and tflite_micro's outputs equal run_head's."""
    info, hi = _head(model)
    x = fu.random_inputs(60, seed=3).reshape(60, 8, 24, 1)
    feats, outs = hd.penultimate(model, hi, info, x)
    assert np.array_equal(outs, fu.tflm_outputs(model, x))
    y = np.arange(60) % hi.n_out
    head = hd.solve_ncm(*hd.class_sums(feats, y, hi.n_out), hi)
    patched = hd.write_head(model, hi, head.weights, head.bias, head.w_scale)
    assert len(patched) == len(model)
    diff = np.nonzero(np.frombuffer(patched, np.uint8) != np.frombuffer(model, np.uint8))[0]
    allowed = hi.n_out * hi.n_in + 4 * hi.n_out + 4 * hi.n_out + 4 * hi.n_out  # w, b, 2x scales
    assert 0 < len(diff) <= allowed
    info2 = inspect_tflite(patched, "patched")
    assert [t.scales for i, t in enumerate(info2.tensors) if i not in (hi.weights, hi.bias)] == [
        t.scales for i, t in enumerate(info.tensors) if i not in (hi.weights, hi.bias)
    ]
    assert np.array_equal(info2.tensor_data(hi.weights), head.weights.tobytes())
    got = fu.tflm_outputs(patched, x)
    assert np.array_equal(got, hd.run_head(head, hi, feats))
    assert len(np.unique(got.argmax(1))) > 1  # the head separates something
    # a float head quantised per class (lda / lsq on the PC) runs exactly as well
    w = np.random.default_rng(0).normal(size=(hi.n_out, hi.n_in))
    xf = (feats.astype(np.float64) - hi.in_zp) * hi.in_scale
    b = np.zeros(hi.n_out)
    ih = hd.int_head(*hd.quantize_float_head(w, b, hi, xf @ w.T), hi)
    p2 = hd.write_head(model, hi, ih.weights, ih.bias, ih.w_scale)
    assert np.array_equal(fu.tflm_outputs(p2, x), hd.run_head(ih, hi, feats))


def test_solve_bad_inputs_and_bytes(model):
    _, hi = _head(model)
    rng = np.random.default_rng(1)
    feats = rng.integers(-128, 128, (40, hi.n_in)).astype(np.int8)
    y = np.r_[np.zeros(20, int), np.ones(18, int), np.full(2, 2)]  # class 2: 2 hops, class 3: 0
    with pytest.raises(EdgekitError, match=r"class 2 \(open\) has 2 feature vectors.*at least 3"):
        hd.solve_ncm(*hd.class_sums(feats, y, hi.n_out), hi, list(fu.LABELS))
    zero = np.full((12, hi.n_in), hi.in_zp, np.int8)
    with pytest.raises(EdgekitError, match="zero point"):
        hd.solve_ncm(*hd.class_sums(zero, np.arange(12) % 4, 4), hi)
    # the board's 16-bit sums: hops of a class past MAX_HOPS are dropped
    many = np.full((hd.MAX_HOPS + 5, hi.n_in), 127, np.int8)
    sums, n = hd.class_sums(many, np.zeros(len(many), int), 4)
    assert n[0] == hd.MAX_HOPS and sums.max() == 255 * hd.MAX_HOPS <= 0xFFFF
    y = np.arange(40) % 4
    head = hd.solve_ncm(*hd.class_sums(feats, y, 4), hi)
    raw = hd.head_bytes(head)
    assert len(raw) == 4 * hi.n_in + 9 * 4 + 4
    assert hd.head_crc(head) == f"{zlib.crc32(raw):08x}"
    back = hd.head_from_bytes(raw, hi)
    assert hd.head_bytes(back) == raw


@pytest.fixture(scope="module")
def rec(tiny_csl):
    return load_recording(tiny_csl, "csl")


def test_cut_session(rec):
    cut = cut_session(rec, 2, 0.6, 4, "tiny")
    n = cut.trial_lengths()
    assert cut.session == 2 and len(cut.trials) == 12 and n[0] == 1024
    for c in range(4):  # 0.6 s = 1229 samples: trial 0 whole, 205 samples of trial 1
        k = [cut.cal_samples[i] for i, t in enumerate(cut.trials) if t.label == c]
        assert k == [1024, 205, 0]
    assert cut_session(rec, None, 0.1, 4, "tiny").session == 2  # default: the last session


@pytest.mark.parametrize(
    "args, message",
    [
        ((2, 0.0, 4), "expected a number of seconds > 0"),
        ((2, 1.5, 4), r"holds 1.50 s of gesture 0 \(idle\).*leaves none"),
        ((7, 1.0, 4), r"session 7 is not in the recording; sessions: \[1, 2\]"),
        ((2, 1.0, 5), r"no trial of gesture 4 \(4\).*every one of the model's 5 gestures"),
    ],
)
def test_cut_session_errors(rec, args, message):
    with pytest.raises(EdgekitError, match=message):
        cut_session(rec, *args, "tiny")


def test_recording_of_another_grid_or_rate(rec, tmp_path):
    grid = rec.grid.to_dict()
    with pytest.raises(EdgekitError, match=r"sampling rate 2048 Hz, the model was trained at 1000"):
        check_compatible(rec, 1000.0, grid, "rec")
    otb = generate(
        tmp_path / "otb",
        SynthConfig(
            n_classes=2,
            sessions=1,
            trials_per_gesture=1,
            idle_trials=1,
            trial_seconds=0.3,
            n_sources=4,
            grid="GR10MM0808",
        ),
    )
    other = load_recording(otb, "otb")
    with pytest.raises(EdgekitError, match=r"8x8, 64 channels\) differs from the model's"):
        check_compatible(other, 2048.0, grid, "otb")
