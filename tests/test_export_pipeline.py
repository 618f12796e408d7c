"""Export: real onnx2tf, real tflite_micro, C array round trip, fit check and bad inputs."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgekit import artifacts, boards, checkpoint, quantize, runs
from edgekit.cli import main
from edgekit.errors import EdgekitError
from edgekit.export import carray, checks, fit, reference, run_export, tflite

from train_util import make_run


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[runs.Run, dict]:
    run = make_run(tmp_path_factory.mktemp("xrun"), n_per_class=40, epochs=4)
    quantize.run_quantize(run, epochs=1, seed=0, progress=False)
    rep = run_export(run, boards.get_board("mps2-an386"), seed=0, progress=False)
    return run, rep


@pytest.mark.slow
def test_export_tflite_is_tflm_int8(exported: tuple[runs.Run, dict]) -> None:
    run, rep = exported
    data = (run.export_dir / "model_int8.tflite").read_bytes()
    info = tflite.inspect_tflite(data)
    tflite.validate_tflm_int8(info)
    assert set(info.op_names) <= set(tflite.TFLM_RESOLVER)
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MEAN", "ADD"} <= set(info.op_names)
    assert info.input.dtype == "INT8" and info.output.dtype == "INT8"
    w = info.tensors[info.ops[0].inputs[1]]
    assert len(w.scales) > 1  # per-channel weights
    c = rep["calibration_check"]
    assert c["input_zero_point_diff"] == 0 and c["input_scale_rel_diff"] < 1e-6
    assert c["weight_int8_mismatches"] == 0 and not c["layers_unmatched"]
    assert rep["self_check"] == {"passed": True}
    assert not (run.root / "export.failed.json").exists()
    assert c["act_scale_rel_diff_max"] < 1e-2
    assert rep["onnx"]["ort_max_abs_diff"] < 1e-3
    assert "BatchNormalization" not in rep["onnx"]["ops"]
    assert rep["onnx"]["path"] == str(run.export_dir / "model.onnx")
    assert (run.export_dir / "onnx2tf.log").stat().st_size > 0


@pytest.mark.slow
def test_export_reference_runs_in_tflite_micro(exported: tuple[runs.Run, dict]) -> None:
    run, rep = exported
    ref = runs.load_npz(run.export_dir / "reference.npz")
    fr = artifacts.load_frames(run.frames)
    assert ref["x_int8"].dtype == np.int8 and ref["x_int8"].shape == (len(fr.x_test), 8, 24, 1)
    assert ref["y_int8"].dtype == np.int8 and ref["y_int8"].shape == (len(fr.x_test), 4)
    assert (ref["labels"] == fr.y_test).all() and list(ref["label_names"]) == [
        "idle",
        "fist",
        "open",
        "point",
    ]
    data = (run.export_dir / "model_int8.tflite").read_bytes()
    y = reference.run_reference(
        data, ref["x_int8"][:5], reference.arena_with_margin(rep["arena"]["tflm_need_host"])
    )
    assert (y == ref["y_int8"][:5]).all()
    # the model runs in exactly the reported need
    assert reference.allocates(data, rep["arena"]["tflm_need_host"], ref["x_int8"][:1])
    a = rep["accuracy"]
    for k in ("float", "qat", "int8_host", "qat_int8_agreement"):
        assert 0.0 <= a[k] <= 1.0
    assert a["int8_host"] > 0.6 and a["qat_int8_agreement"] > 0.8
    assert "int8 host" in rep["table"]


@pytest.mark.slow
def test_export_c_array_and_meta(exported: tuple[runs.Run, dict]) -> None:
    run, rep = exported
    d = run.export_dir
    data = (d / "model_int8.tflite").read_bytes()
    cc = (d / "model_data.cc").read_text()
    assert "alignas(16) const unsigned char g_model_data[]" in cc
    assert "_Alignas(16)" in (d / "model_data.c").read_text()
    assert carray.parse_c_array(cc) == data
    assert carray.parse_c_array((d / "model_data.c").read_text()) == data
    assert "extern const unsigned int g_model_data_len;" in (d / "model_data.h").read_text()
    meta = (d / "model_meta.h").read_text()
    macros = dict(re.findall(r"#define (EK_\w+(?:\(X\))?) (.*)", meta))
    assert macros["EK_MODEL_HASH"] == f'"{runs.model_hash(data)}"'
    assert "// Model: mbv2 width 0.2, 4 classes" in meta
    assert macros["EK_INPUT_SIZE"] == "192" and macros["EK_OUTPUT_SIZE"] == "4"
    assert int(macros["EK_INPUT_ZERO_POINT"]) == rep["input"]["zero_point"]
    assert macros["EK_LABELS"] == '{"idle", "fist", "open", "point"}'
    # mps2-an386 runs edgekit-rt: the arena is its own planner's need (host build), not TFLM's
    assert rep["arena"]["sized_for"] == "edgekit-rt" and rep["arena"]["exact"]
    assert (
        int(macros["EK_ARENA_SIZE"])
        == rep["arena"]["ek_arena_size"]
        >= rep["arena"]["ekrt_need_host"]
    )
    ops = re.findall(r"X\((\w+)\)", macros["EK_OPS(X)"])
    assert ops == rep["resolver_ops"] and int(macros["EK_OP_COUNT"]) == len(ops)
    assert "AddConv2D" in ops and "AddDepthwiseConv2D" in ops
    assert macros["EK_FS_HZ"] == "2048.0f"
    assert len(macros["EK_NORM_MEAN"].split(",")) == 192
    assert set(required_macros()) <= set(macros)


def required_macros() -> list[str]:
    return [
        "EK_MODEL_HASH",
        "EK_INPUT_H",
        "EK_INPUT_W",
        "EK_INPUT_SIZE",
        "EK_INPUT_SCALE",
        "EK_INPUT_ZERO_POINT",
        "EK_OUTPUT_SIZE",
        "EK_OUTPUT_SCALE",
        "EK_OUTPUT_ZERO_POINT",
        "EK_LABELS",
        "EK_ARENA_SIZE",
        "EK_OP_COUNT",
        "EK_OPS(X)",
        "EK_FS_HZ",
        "EK_NORM_MEAN",
        "EK_NORM_STD",
    ]


# ------------------------------------------------------------------------------- self-check


def _qat_with_a_ghost_layer(run: runs.Run) -> str:
    """Make qat.pt describe a layer the converted model does not hold: a copy of the classifier
    with one int8 weight one step off (same per-channel scales), listed before the real one. The
    check matches the copy to the only FULLY_CONNECTED op (1 int8 weight differs), and the real
    classifier then finds no op left (1 layer unmatched). The exported graph is built from the
    folded weights of the network's own layers, so the .tflite itself is what a good export makes."""
    rec = checkpoint.load(run.qat_ckpt)
    layers = rec.extra["layers"]
    i, fc = next((i, lay) for i, lay in enumerate(layers) if lay["kind"] == "fc")
    w = rec.extra["folded"][fc["key"]]["weight"].clone()
    step = w[0].abs().max() / 127
    j = int(w[0].abs().argmin())
    w[0, j] += step  # |w| far below the channel's max: the scale does not change
    rec.extra["folded"]["ghost"] = {"weight": w, "bias": rec.extra["folded"][fc["key"]]["bias"]}
    layers.insert(i, {**fc, "key": "ghost"})
    checkpoint.save(run.qat_ckpt, rec)
    return fc["key"]


@pytest.mark.slow
def test_failed_self_check_stops_the_export_unless_allowed(
    exported: tuple[runs.Run, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The export is put in place only when the converted model holds the QAT model: a failed
    self-check is an error naming what differs and the report, and leaves the previous export as
    it was; --allow-check-failures exports anyway and export.json records the failures."""
    good, _ = exported
    run = runs.Run(tmp_path / "run")
    shutil.copytree(good.root, run.root)
    fc_key = _qat_with_a_ghost_layer(run)
    before = {p.name: p.read_bytes() for p in run.export_dir.iterdir()}
    argv = ["export", "--board", "mps2-an386", "--run", str(run.root), "--no-progress"]

    assert main(argv) == 2
    err = capsys.readouterr().err
    failed = run.root / "export.failed.json"
    assert err.startswith("edgekit: error: export self-check failed")
    assert "1 int8 weight differs from the QAT model's in 1 layer (ghost)" in err
    assert f"1 QAT layer matched no op of the .tflite ({fc_key})" in err
    assert f"report: {failed}" in err and "--allow-check-failures" in err
    assert {p.name: p.read_bytes() for p in run.export_dir.iterdir()} == before
    assert not (run.root / "firmware").exists()
    assert [p.name for p in run.root.iterdir() if p.name.startswith(".")] == []  # no temp dirs
    rec = json.loads(failed.read_text())
    assert rec["self_check"] == {
        "passed": False,
        "failures": {
            "weight_int8_mismatches": 1,
            "layers_with_weight_mismatches": ["ghost"],
            "layers_unmatched": [fc_key],
        },
    }
    assert rec["calibration_check"]["layers_unmatched"] == [fc_key]

    assert main([*argv, "--allow-check-failures", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    s = rep["self_check"]
    assert s["passed"] is False and s["exported_anyway"] == "--allow-check-failures"
    assert s["failures"]["weight_int8_mismatches"] == 1
    on_disk = json.loads((run.export_dir / "export.json").read_text())
    assert on_disk["self_check"] == s
    assert "SELF-CHECK FAILED, exported anyway" in on_disk["table"]
    assert not failed.exists()  # the failure report goes once an export is in place


def test_self_check_failures_in_words() -> None:
    rows = [
        {"layer": "a", "matched": True, "weight_int8_mismatches": 0},
        {"layer": "b", "matched": True, "weight_int8_mismatches": 3},
        {"layer": "c", "matched": True, "weight_int8_mismatches": 2},
        {"layer": "mean", "matched": True},
    ]
    check = {"weight_int8_mismatches": 5, "layers_unmatched": ["d", "e"], "layers": rows}
    fail = checks.failures(check)
    assert fail == {
        "weight_int8_mismatches": 5,
        "layers_with_weight_mismatches": ["b", "c"],
        "layers_unmatched": ["d", "e"],
    }
    assert checks.describe(fail) == (
        "5 int8 weights differ from the QAT model's in 2 layers (b, c); "
        "2 QAT layers matched no op of the .tflite (d, e)"
    )
    assert (
        checks.failures({"weight_int8_mismatches": 0, "layers_unmatched": [], "layers": rows}) == {}
    )
    assert checks.failures({"input_scale_rel_diff": 0.0}) == {}  # an ingested model: input only


# ------------------------------------------------------------------------------- bad input


def test_export_without_model_is_clear(tmp_path: Path) -> None:
    run = runs.Run(tmp_path)
    with pytest.raises(EdgekitError, match="QAT model"):
        run_export(run, boards.get_board("mps2-an386"), seed=0, progress=False)
    assert not run.export_dir.exists()


def test_unknown_board_is_clear() -> None:
    with pytest.raises(EdgekitError, match="unknown board"):
        boards.get_board("no-such-board")


def test_corrupt_tflite_is_clear() -> None:
    with pytest.raises(EdgekitError, match="not a TFLite flatbuffer"):
        tflite.inspect_tflite(b"\x00" * 64, "x.tflite")
    good_header = b"\x1c\x00\x00\x00TFL3" + b"\xff" * 40
    with pytest.raises(EdgekitError, match="x.tflite"):
        tflite.inspect_tflite(good_header, "x.tflite")


def test_float_tflite_is_rejected(tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 24, 1], tf.float32)])
    def f(x: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(x * 2.0 + 1.0, axis=[1, 2])

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    data = conv.convert()
    info = tflite.inspect_tflite(data, "float.tflite")
    with pytest.raises(EdgekitError, match="INT8"):
        tflite.validate_tflm_int8(info, "float.tflite")


def test_unsupported_onnx_op_is_clear(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Erf", ["input"], ["logits"])],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 24])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, 8, 24])],
    )
    p = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    out = tmp_path / "m.tflite"
    with pytest.raises(EdgekitError, match="Erf"):
        tflite.convert(p, np.zeros((4, 8, 24, 1), np.float32), out, tmp_path / "log.txt")
    assert not out.exists()


def test_check_fit_numbers() -> None:
    stm = boards.get_board("stm32f405")
    ok = fit.check_fit(stm, 300_000, 80_000)
    assert ok["fits"] and ok["flash"]["need"] == 300_000 + stm.runtime_flash_bytes
    # mbv2 width 1.0 int8 is ~2.3 MB: far over the 1 MB flash
    with pytest.raises(EdgekitError) as e:
        fit.check_fit(stm, 2_300_000, 150_000)
    msg = str(e.value)
    assert "flash" in msg and "1,048,576" in msg and "--width" in msg and "--board" in msg
    with pytest.raises(EdgekitError, match="RAM"):
        fit.check_fit(stm, 100_000, 400_000)
    spr = boards.get_board("spresense")
    assert spr.shared_code_ram
    r = fit.fit_report(spr, 400_000, 200_000)
    assert r["ram"]["need"] == (
        400_000 + 200_000 + spr.runtime_flash_bytes + spr.runtime_ram_bytes + spr.heap_reserve_bytes
    )
    with pytest.raises(EdgekitError, match="share"):
        fit.check_fit(spr, 400_000, 300_000)
    tiny = dataclasses.replace(boards.get_board("mps2-an386"), flash_bytes=1000)
    assert not fit.fit_report(tiny, 5000, 10)["fits"]
