"""`edgekit calibrate` on a tiny run: a real (untrained) mbv2 float model and a real int8 .tflite
with a replaceable head, the tiny synthetic dataset's session 2. The calibrated run's .tflite
differs from the original only in the head's bytes and its reference is the new model's in
tflite_micro; bad input (too few seconds, a missing gesture, another grid, no export) stops with
the reason, exit status 2 and nothing written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from edgekit import checkpoint, runs
from edgekit.cli import main
from edgekit.data import load_recording
from edgekit.data.features import FeatureConfig, Normalizer, extract
from edgekit.data.synth import SynthConfig, generate
from edgekit.export import carray
from edgekit.export import head as hd
from edgekit.export.tflite import inspect_tflite, resolver_ops
from edgekit.nn import build_model

import calib_util as cu
import firmware_util as fu


def _float_record(rec, fc: FeatureConfig) -> checkpoint.ModelRecord:
    torch.manual_seed(0)
    model = build_model("mbv2", 0.1, 4, rec.grid.shape)
    norm = Normalizer.fit(extract(rec, fc).x, rec.grid.channel_mask())
    return checkpoint.ModelRecord(
        arch="mbv2",
        width=0.1,
        num_classes=4,
        label_names=rec.label_names,
        features={**fc.for_recording(rec).to_dict(), "fs_hz": rec.fs},
        norm_mean=norm.mean.tolist(),
        norm_std=norm.std.tolist(),
        channel_mask=norm.mask.tolist(),
        layout=rec.layout,
        state_dict=model.state_dict(),
        grid=rec.grid.to_dict(),
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_csl) -> Path:
    base = tmp_path_factory.mktemp("calib-cli")
    root = base / "run"
    rec = load_recording(tiny_csl, "csl")
    mrec = _float_record(rec, FeatureConfig())
    (root / "export").mkdir(parents=True)
    checkpoint.save(root / "float.pt", mrec)
    runs.write_json(root / "train.json", {"data": {"root": str(tiny_csl), "kind": "synthetic"}})
    tfl = cu.make_head_tflite(0)
    info = inspect_tflite(tfl)
    io = {
        "input": {"shape": info.input.shape, "scale": info.input.scales[0], "zero_point": 0},
        "output": {"shape": info.output.shape, "scale": info.output.scales[0], "zero_point": 0},
    }
    io["input"]["zero_point"] = info.input.zero_points[0]
    io["output"]["zero_point"] = info.output.zero_points[0]
    (root / "export" / "model_int8.tflite").write_bytes(tfl)
    carray.write_all(
        root / "export", mrec, tfl, io["input"], io["output"], 65536, resolver_ops(info)
    )
    x = fu.random_inputs(10, seed=4).reshape(10, 8, 24, 1)
    y = fu.tflm_outputs(tfl, x)
    runs.save_npz(
        root / "export" / "reference.npz",
        x_int8=x,
        y_int8=y,
        labels=y.argmax(1).astype(np.int64),
        label_names=np.array(mrec.label_names),
    )
    export = {
        "board": "mps2-an386",
        "model_hash": runs.model_hash(tfl),
        "model_bytes": len(tfl),
        "resolver_ops": resolver_ops(info),
        "arena": {"ek_arena_size": 65536, "tflm_need_host": 20000},
        "fit": {"calibration": {"bytes": 240, "room": True}},
        **io,
    }
    runs.write_json(root / "export" / "export.json", export)
    return root


def _cli(capsys, *args: str) -> tuple[int, dict | None, str]:
    code = main([*args, "--json"])
    cap = capsys.readouterr()
    return code, (json.loads(cap.out) if code == 0 else None), cap.err


def test_calibrate_writes_a_run_that_differs_only_in_the_head(run, tmp_path, capsys):
    out = tmp_path / "cal"
    code, rep, err = _cli(
        capsys, "calibrate", "--run", str(run), "--session", "2", "--seconds-per-gesture", "0.6",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert rep["session"] == 2 and rep["method"] == "out-lda" and rep["out"] == str(out)
    assert rep["frames"]["calibration"] >= 4 * hd.MIN_HOPS and rep["frames"]["rest"] >= 40
    assert min(rep["calibration_frames_per_class"]) >= hd.MIN_HOPS
    assert all(0.0 <= v <= 1.0 for v in rep["accuracy"].values())
    old = (run / "export" / "model_int8.tflite").read_bytes()
    new = (out / "export" / "model_int8.tflite").read_bytes()
    assert len(new) == len(old) and new != old
    hi = hd.find_head(inspect_tflite(old))[0]
    info_new = inspect_tflite(new)
    for i, t in enumerate(inspect_tflite(old).tensors):  # only the head's tensors changed
        if i not in (hi.weights, hi.bias):
            assert info_new.tensor_data(i) == inspect_tflite(old).tensor_data(i)
            assert info_new.tensors[i].scales == t.scales
    assert runs.model_hash(new) == rep["model_hash_after"]
    assert f'"{rep["model_hash_after"]}"' in (out / "export" / "model_meta.h").read_text()
    ref = np.load(out / "export" / "reference.npz")
    assert np.array_equal(ref["y_int8"], fu.tflm_outputs(new, ref["x_int8"]))
    ex = json.loads((out / "export" / "export.json").read_text())
    assert ex["model_hash"] == rep["model_hash_after"] and ex["calibrated"]["session"] == 2
    # float.pt: the classifier is the class-mean head, everything else as it was
    a = checkpoint.load(run / "float.pt").state_dict
    b = checkpoint.load(out / "float.pt").state_dict
    assert [k for k in a if not torch.equal(a[k], b[k])] == [
        "classifier.1.weight",
        "classifier.1.bias",
    ]
    assert json.loads((out / "calibrate.json").read_text())["accuracy"] == rep["accuracy"]
    # the other methods; ncm's export is the board's head itself
    for m in ("ncm", "lsq"):
        code, rep2, err = _cli(
            capsys, "calibrate", "--run", str(run), "--seconds-per-gesture", "0.6", "--method",
            m, "--out", str(tmp_path / m),
        )  # fmt: skip
        assert code == 0 and rep2["method"] == m, err
        a = rep2["accuracy"]
        assert m != "ncm" or a["int8_after"] == a["int8_after_export"]


def _recording(tmp_path: Path, **kw) -> Path:
    cfg = dict(n_classes=4, sessions=1, trials_per_gesture=2, idle_trials=2, trial_seconds=0.5)
    return generate(tmp_path / "rec", SynthConfig(**{**cfg, "n_sources": 4, **kw}))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--seconds-per-gesture", "0.12"], r"gives 0 calibration frames, a head needs at least 3"),
        (["--seconds-per-gesture", "2", "--session", "7"], r"session 7 is not in the recording"),
        (["--seconds-per-gesture", "2"], r"holds 1.50 s of gesture 0 \(idle\).*leaves none"),
        (
            ["--seconds-per-gesture", "0.5", "--recording", "GRID", "--format", "otb"],
            r"electrode grid GR10MM0808 \(8x8, 64 channels\) differs from the model's",
        ),
        (["--seconds-per-gesture", "0.5", "--recording", "CLASSES"], r"no trial of gesture 3"),
        (["--seconds-per-gesture", "0.5", "--out", "RUN"], r"is the run itself"),
    ],
)
def test_calibrate_bad_input(run, tmp_path, capsys, extra, message):
    subs = {
        "GRID": lambda: _recording(tmp_path, grid="GR10MM0808"),
        "CLASSES": lambda: _recording(tmp_path, n_classes=3),
        "RUN": lambda: run,
    }
    args = [str(subs[a]()) if a in subs else a for a in extra]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "cal")]
    code, _, err = _cli(capsys, "calibrate", "--run", str(run), *args)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert not (tmp_path / "cal").exists()


def test_calibrate_needs_an_export(tmp_path, capsys, run):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "float.pt").write_bytes((run / "float.pt").read_bytes())
    code, _, err = _cli(capsys, "calibrate", "--run", str(bare), "--seconds-per-gesture", "1")
    assert code == 2 and "run `edgekit export` first" in err
    assert not (tmp_path / "bare-calibrated").exists()
