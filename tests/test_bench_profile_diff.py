"""bench --profile, --diff and --tflite, and the edgekit-rt arena step of export.

Fast tests: the per-layer comparison on real tflite_micro tensors (a layer corrupted on the host
side, and a reference computed from a different model, must be named as the first difference),
the new protocol replies, and edgekit-rt's host planner (arena figure, ops it lacks named).
Slow tests: a short-trained MobileNetV2 run exported and benched in QEMU with --profile and
--diff; `edgekit bench --tflite` on a random small model from tests/rt_models.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit.bench import layers, protocol
from edgekit.errors import EdgekitError
from edgekit.export import rt_host
from edgekit.export.tflite import inspect_tflite

import rt_models

QEMU_OK = (
    shutil.which("qemu-system-arm") is not None and shutil.which("arm-none-eabi-gcc") is not None
)
needs_qemu = pytest.mark.skipif(not QEMU_OK, reason="needs qemu-system-arm and gcc-arm-none-eabi")


def _model(name: str) -> bytes:
    spec = next(s for s in rt_models.misc_specs() + [rt_models.tanh_spec()] if s.name == name)
    return rt_models.build(spec, rt_models.cache_dir()).read_bytes()


@pytest.fixture(scope="module")
def mbv2() -> bytes:
    return _model("mbv2")


def _x(seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=(8, 24, 1)).astype(np.int8)


# ------------------------------------------------------------------ per-layer comparison


def test_host_layers_end_in_the_model_output(mbv2: bytes) -> None:
    from tflite_micro.python.tflite_micro import runtime

    info = inspect_tflite(mbv2)
    outs = layers.host_layer_outputs(mbv2, info, _x())
    assert len(outs) == len(info.ops) == 10
    assert [o.size for o in outs] == [
        int(np.prod(info.tensors[op.outputs[0]].shape)) for op in info.ops
    ]
    it = runtime.Interpreter.from_bytes(mbv2)
    it.set_input(_x()[None], 0)
    it.invoke()
    assert np.array_equal(outs[-1], np.array(it.get_output(0)).reshape(-1))
    assert len({o.tobytes() for o in outs}) == len(outs)  # every layer its own tensor


def test_diff_names_the_first_corrupted_layer(mbv2: bytes) -> None:
    info = inspect_tflite(mbv2)
    host = layers.host_layer_outputs(mbv2, info, _x())
    same = layers.compare_layers([h.copy() for h in host], host, info)
    assert same["identical"] and same["first_differing"] is None
    assert all(r["differing"] == 0 and r["max_abs_diff"] == 0 for r in same["layers"])
    dev = [h.copy() for h in host]
    dev[3][[5, 17, 40]] = (dev[3][[5, 17, 40]].astype(np.int16) + [1, -7, 3]).clip(-128, 127)
    dev[6][0] ^= 1  # a later layer differs too
    d = layers.compare_layers(dev, host, info)
    assert d["first_differing"] == 3 and d["first_differing_name"] == "CONV_2D"
    r = d["layers"][3]
    n_changed = int(np.count_nonzero(dev[3] != host[3]))
    assert r["differing"] == n_changed >= 1 and 1 <= r["max_abs_diff"] <= 7
    assert d["layers"][6]["differing"] == 1 and d["layers"][2]["differing"] == 0
    text = layers.diff_summary(d)
    assert "op 3 (CONV_2D" in text and f"{n_changed} of {host[3].size} bytes" in text


def test_diff_against_a_different_model_differs_at_layer_0(mbv2: bytes) -> None:
    other = _model("mbv2_b")  # same graph, other weights and ranges
    info = inspect_tflite(mbv2)
    assert [o.op for o in inspect_tflite(other).ops] == [o.op for o in info.ops]
    d = layers.compare_layers(
        layers.host_layer_outputs(other, info, _x()),
        layers.host_layer_outputs(mbv2, info, _x()),
        info,
    )
    assert d["first_differing"] == 0 and d["layers"][0]["max_abs_diff"] > 0
    with pytest.raises(EdgekitError, match="device gave 9 layers"):
        layers.compare_layers(
            layers.host_layer_outputs(mbv2, info, _x())[:9],
            layers.host_layer_outputs(mbv2, info, _x()),
            info,
        )


def test_profile_rows_check_the_device_against_the_model(mbv2: bytes) -> None:
    info = inspect_tflite(mbv2)
    ops = [layers.OpProfile(i, 0, op.op, 10 * i, 100 + i, 1) for i, op in enumerate(info.ops)]
    tot = layers.ProfileTotals(
        len(ops), sum(o.ticks for o in ops) + 5, sum(o.ticks for o in ops), True
    )
    rec = layers.profile_record(ops, tot, info, 40.0)
    assert rec["sum_minus_whole_ticks"] == 5 and rec["whole_instructions"] == tot.whole_ticks * 40
    assert abs(sum(r["share"] for r in rec["layers"]) - 1.0) < 1e-9
    assert rec["layers"][2]["instructions"] == 102 * 40
    assert rec["layers"][2]["macs_per_instruction"] == 20 / (102 * 40)
    md = "\n".join(layers.profile_markdown(rec, "systick"))
    assert "| 2 | DEPTHWISE_CONV_2D | 1×8×24×16 | 20 | 102 | 4,080 | 0.005 |" in md
    ops[4] = layers.OpProfile(4, 0, "CONV_2D", 0, 1, 1)  # device disagrees with the model
    with pytest.raises(EdgekitError, match="device op 4 is CONV_2D, the model's is ADD"):
        layers.profile_rows(ops, info, None)


def test_protocol_parses_profile_and_layer_replies() -> None:
    r = protocol.parse_line(
        "junkm-ek-profile-op[7]-code[4]-name[DEPTHWISE_CONV_2D]-macs[3456]-ticks[3820]-bytes[384]"
    )
    assert r.kind == "ek_profile_op" and r.garbage == "junk"
    assert protocol.parse_ek_profile_op(r) == (7, 4, "DEPTHWISE_CONV_2D", 3456, 3820, 384)
    t = protocol.parse_line("m-ek-profile-ops[10]-sum[94345]-whole[94323]-same[1]")
    assert protocol.parse_ek_profile(t) == (10, 94345, 94323, True)
    op, off, total, chunk = protocol.parse_ek_layer(
        protocol.parse_line("m-ek-layer-[9]-at[2]-of[5]-[80ff7f]")
    )
    assert (op, off, total, chunk.tolist()) == (9, 2, 5, [-128, -1, 127])
    with pytest.raises(protocol.ProtocolError, match="do not fit"):
        protocol.parse_ek_layer(protocol.parse_line("m-ek-layer-[9]-at[4]-of[5]-[80ff]"))
    assert (
        protocol.cmd_ek_layer(3) == "ek-layer 3"
        and protocol.cmd_ek_layer(3, 2048) == "ek-layer 3 2048"
    )


# ------------------------------------------------------------------ the firmware commands (host port)


def test_firmware_profile_and_layer_commands(mbv2: bytes, tmp_path: Path) -> None:
    from edgekit import firmware

    from bench_util import make_run
    from firmware_util import Link, host_board

    run = make_run(tmp_path / "run", mbv2, n=2)
    elf = firmware.build(firmware.render(run, host_board()), host_board())["elf"]
    info = inspect_tflite(mbv2)
    x = _x()
    host = layers.host_layer_outputs(mbv2, info, x)
    link = Link.spawn([elf])
    try:
        link.read_until_ready()
        assert (
            link.cmd("ek-profile")[0]
            == "e-[ek-profile: no complete input (db load N, then db HEX)]"
        )
        assert (
            link.cmd("ek-layer 0")[0] == "e-[ek-layer: no complete input (db load N, then db HEX)]"
        )
        link.cmd("db load 192")
        assert link.cmd("db " + x.tobytes().hex())[0] == "m-load-done"
        prof = [protocol.parse_line(ln) for ln in link.cmd("ek-profile")[:-1]]
        ops = [protocol.parse_ek_profile_op(r) for r in prof[:-1]]
        assert [o[2] for o in ops] == [o.op for o in info.ops]
        # a PAD folded into the following convolution has no tensor on the device
        folded = [i for i, o in enumerate(info.ops) if o.op == "PAD" and ops[i][5] == 0]
        assert folded, "this model's explicit PAD should be folded into its convolution"
        assert [o[5] for o in ops] == [0 if i in folded else h.size for i, h in enumerate(host)]
        fold = protocol.parse_ek_layer(protocol.parse_line(link.cmd(f"ek-layer {folded[0]}")[0]))
        assert (fold[2], fold[3].size) == (0, 0)
        n, s_ticks, whole, same = protocol.parse_ek_profile(prof[-1])
        assert n == 10 and same and s_ticks == sum(o[4] for o in ops)
        # op 1 (3,072 bytes) comes in two chunks; each equals tflite_micro's tensor
        r0 = protocol.parse_ek_layer(protocol.parse_line(link.cmd("ek-layer 1")[0]))
        r1 = protocol.parse_ek_layer(protocol.parse_line(link.cmd("ek-layer 1 2048")[0]))
        assert (r0[1], r0[2], r0[3].size, r1[1], r1[3].size) == (0, 3072, 2048, 2048, 1024)
        assert np.array_equal(np.concatenate([r0[3], r1[3]]), host[1])
        last = protocol.parse_ek_layer(protocol.parse_line(link.cmd("ek-layer 9")[0]))[3]
        out = protocol.parse_ek_out(protocol.parse_line(link.cmd("ek-out")[0]))
        assert np.array_equal(last, host[9]) and np.array_equal(out, host[9])
        assert (
            link.cmd("ek-layer 10")[0]
            == "e-[ek-layer: op 10 out of range (the model has ops 0..9)]"
        )
        assert (
            link.cmd("ek-layer 1 3073")[0]
            == "e-[ek-layer: offset past the end of the 3072-byte tensor]"
        )
        assert link.cmd("ek-layer -1")[0].startswith("e-[ek-layer: usage")
        assert link.cmd("ek-layer 1 2 3")[0].startswith("e-[ek-layer: usage")
    finally:
        rc, err = link.close()
    assert rc == 0, err


# ------------------------------------------------------------------ edgekit-rt's host planner


def test_host_planner_sizes_the_arena_and_checks_exactness(mbv2: bytes, tmp_path: Path) -> None:
    from edgekit.export import reference, size_arena

    x = np.random.default_rng(0).integers(-128, 128, size=(20, 8, 24, 1)).astype(np.int8)
    need = reference.find_arena(mbv2, x[:1])
    y = reference.run_reference(mbv2, x, reference.arena_with_margin(need))
    rep = size_arena(mbv2, x, y, need, "edgekit-rt", "mbv2.tflite")
    ek_need = rep["ekrt_need_host"]
    assert rep["exact"] and rep["checked_inputs"] == 20
    assert rep["ek_arena_size"] == -(-ek_need // 16) * 16 and ek_need < need
    # the figure is the planner's exact need: one 16-byte block less does not initialise
    exe = rt_host.ekrt_run_binary()
    (tmp_path / "m.tflite").write_bytes(mbv2)
    for arena, rc in ((ek_need, 0), (ek_need - 16, 1)):
        res = subprocess.run(
            [str(exe), str(tmp_path / "m.tflite"), "--arena", str(arena)], capture_output=True
        )
        assert res.returncode == rc and (rc == 0 or b"arena too small" in res.stderr)
    y_bad = y.copy()
    y_bad[4, 2] ^= 1
    with pytest.raises(
        EdgekitError, match="differs from tflite_micro on 1 of 20 inputs \\(first: input 4"
    ):
        size_arena(mbv2, x, y_bad, need, "edgekit-rt", "mbv2.tflite")
    assert size_arena(mbv2, x, y_bad, need, "tflm", "m")[
        "ek_arena_size"
    ] == reference.arena_with_margin(need)


def test_host_planner_names_ops_edgekit_rt_lacks() -> None:
    tanh = _model("tanh")
    x = np.zeros((1, *inspect_tflite(tanh).input.shape[1:]), np.int8)
    with pytest.raises(
        EdgekitError, match="edgekit-rt cannot run this model: .*TANH.*--runtime tflm"
    ):
        rt_host.run_ekrt(tanh, x, "tanh.tflite")


# ------------------------------------------------------------------ end to end in QEMU


@pytest.mark.slow
@needs_qemu
def test_short_trained_run_profile_and_diff_in_qemu(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from edgekit import boards, firmware, quantize
    from edgekit.bench import run_bench
    from edgekit.export import run_export

    from train_util import make_run

    board = boards.get_board("mps2-an386")
    run = make_run(tmp_path_factory.mktemp("prof") / "run", n_per_class=24, epochs=1)
    quantize.run_quantize(run, epochs=1, seed=0, progress=False)
    ex = run_export(run, board, seed=0, progress=False)
    assert ex["arena"]["sized_for"] == "edgekit-rt" and ex["arena"]["exact"]
    assert ex["arena"]["ek_arena_size"] < ex["arena"]["tflm_need_host"]

    rec = run_bench(
        run,
        board,
        None,
        samples=3,
        progress=False,
        build_fn=lambda: firmware.build(firmware.render(run, board), board),
        latency_samples=0,
        profile=True,
        diff=True,
    )
    assert rec["exact_match_rate"] == 1.0
    assert 0 < rec["arena_used"] <= rec["arena_bytes"] == ex["arena"]["ek_arena_size"]
    info = inspect_tflite((run.export_dir / "model_int8.tflite").read_bytes())
    prof = rec["profile"]
    assert [r["name"] for r in prof["layers"]] == [o.op for o in info.ops]
    assert sum(r["macs"] for r in prof["layers"]) == ex["macs"]  # device MACs = model MACs
    assert all(r["ticks"] >= 0 for r in prof["layers"]) and prof["op_by_op_output_matches_whole"]
    # the per-op sum is the whole inference plus one timer read per op (a few ticks each)
    assert 0 <= prof["sum_ticks"] - prof["whole_ticks"] <= 3 * prof["ops"]
    assert abs(prof["whole_ticks"] - rec["per_sample"]["ticks"][0]) <= 1
    assert prof["whole_instructions"] == prof["whole_ticks"] * 40
    assert rec["instructions_per_inference"] == rec["qemu"]["instructions_per_inference"]
    d = rec["diff"]
    assert d["identical"] and len(d["layers"]) == len(info.ops)
    big = max(d["layers"], key=lambda r: r["bytes"])
    assert big["bytes"] > 2048  # at least one layer came back in several chunks
    md = (run.bench_dir(board.name) / "bench.md").read_text()
    assert "## Per-op profile" in md and "## Per-layer diff vs tflite_micro" in md
    assert (run.bench_dir(board.name) / "bench_profile.png").stat().st_size > 0


@pytest.mark.slow
@needs_qemu
def test_cli_bench_tflite_random_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgekit.cli import main

    spec = next(s for s in rt_models.conv_specs() if s.name == "conv4")  # 3x3 stride 2, relu6
    model = rt_models.build(spec, rt_models.cache_dir())  # TensorFlow's chatter goes to stderr
    capsys.readouterr()  # and only the bench's own stdout is parsed below
    run_dir = tmp_path / "tfl"
    rc = main(
        [
            "bench",
            "--board",
            "mps2-an386",
            "--tflite",
            str(model),
            "--samples",
            "4",
            "--seed",
            "5",
            "--run",
            str(run_dir),
            "--json",
            "--no-progress",
            "--profile",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    rec = json.loads(out)
    assert rec["exact_match_rate"] == 1.0 and rec["samples"] == 4
    assert rec["instructions_per_inference"] == rec["latency"]["median_ticks"] * 40 > 0
    assert [r["name"] for r in rec["profile"]["layers"]] == ["CONV_2D"]
    ex = json.loads((run_dir / "export" / "export.json").read_text())
    assert ex["source"] == "tflite" and ex["inputs"] == "random int8, seed 5"
    assert ex["macs"] == rec["profile"]["layers"][0]["macs"] > 0
    # given inputs: a .npy of int8 tensors of the model's input shape
    ref = np.load(run_dir / "export" / "reference.npz")
    np.save(tmp_path / "x.npy", ref["x_int8"][:2])
    rc = main(
        [
            "bench",
            "--board",
            "mps2-an386",
            "--tflite",
            str(model),
            "--inputs",
            str(tmp_path / "x.npy"),
            "--samples",
            "2",
            "--run",
            str(run_dir),
            "--json",
            "--no-progress",
        ]
    )
    rec2 = json.loads(capsys.readouterr().out)
    assert rc == 0 and rec2["samples"] == 2 and rec2["exact_match_rate"] == 1.0
    np.save(tmp_path / "bad.npy", ref["x_int8"][:2].astype(np.float32))
    rc = main(
        [
            "bench",
            "--board",
            "mps2-an386",
            "--tflite",
            str(model),
            "--inputs",
            str(tmp_path / "bad.npy"),
            "--run",
            str(run_dir),
        ]
    )
    assert rc == 2 and "bad.npy: inputs are float32, expected int8" in capsys.readouterr().err
