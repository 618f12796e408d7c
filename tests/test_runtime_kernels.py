"""edgekit-rt vs TFLM, byte for byte.

Random single-op int8 models (tests/rt_models.py: random shapes, strides, paddings, channel
counts, depth multipliers, weight and data ranges) run in the tflite_micro Python interpreter
(TFLM's reference kernels) and in firmware/runtime/tools/ekrt_run built with ASan+UBSan, on the
same random int8 inputs; outputs must be identical. Plus malformed / unsupported / too-small
arena cases, which must give an error (and never a sanitizer report).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit.export.rt_host import runtime_sources

import firmware_util as fu
import rt_models
from runtime_util import EXPECTED_OPS, RUNTIME, random_inputs, tflm_outputs

SAN_ENV = {
    "ASAN_OPTIONS": "exitcode=97:detect_leaks=1",
    "UBSAN_OPTIONS": "halt_on_error=1:exitcode=98:print_stacktrace=1",
}

SPECS = rt_models.all_specs()


def build_runtime_tool(exe: Path, tool: str) -> Path:
    """firmware/runtime/tools/<tool> and the runtime, under ASan + UBSan."""
    sources = [*map(str, runtime_sources()), str(RUNTIME / "tools" / tool)]
    return fu.build_host_c(exe, f"-I{RUNTIME}", *sources)


@pytest.fixture(scope="session")
def ekrt_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_runtime_tool(tmp_path_factory.mktemp("ekrt") / "ekrt_run", "ekrt_run.c")


@pytest.fixture(scope="session")
def models() -> dict[str, Path]:
    d = rt_models.cache_dir()
    return rt_models.build_all(SPECS + [rt_models.tanh_spec()], d)


def run_ekrt(
    exe: Path,
    model: Path | bytes,
    data: bytes,
    tmp: Path | None = None,
    extra: tuple[str, ...] = (),
) -> subprocess.CompletedProcess:
    if isinstance(model, bytes):
        assert tmp is not None
        path = tmp / "m.tflite"
        path.write_bytes(model)
        model = path
    env = dict(os.environ, **SAN_ENV)
    return subprocess.run(
        [str(exe), str(model), "--info", *extra],
        input=data,
        capture_output=True,
        timeout=60,
        env=env,
    )


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_bit_exact_vs_tflm(spec: rt_models.ModelSpec, models: dict[str, Path], ekrt_run: Path):
    model = models[spec.name]
    ops = set(rt_models.op_names(model.read_bytes()))
    assert EXPECTED_OPS[spec.kind] <= ops, f"{spec.name}: converter produced {ops}"
    if spec.float_io:
        assert {"QUANTIZE", "DEQUANTIZE"} <= ops
    counts = rt_models.weight_scale_counts(model.read_bytes())
    if spec.params.get("per_tensor"):
        assert counts and all(c == 1 for c in counts), counts
    elif spec.kind in ("conv", "dw", "fc"):
        assert any(c > 1 for c in counts) or spec.params.get("cout", 2) == 1, counts
    x = random_inputs(model, spec.seed)
    want = tflm_outputs(model, x)
    res = run_ekrt(ekrt_run, model, x.tobytes())
    assert res.returncode == 0, res.stderr.decode()
    got = np.frombuffer(res.stdout, dtype=want.dtype).reshape(want.shape)
    mismatch = np.argwhere(got != want)
    assert np.unique(want).size > 1, "degenerate model: constant output"
    assert mismatch.size == 0, (
        f"{spec.name} ({spec.params}): {len(mismatch)} of {want.size} values differ; first at "
        f"{mismatch[0].tolist()}: ekrt {got[tuple(mismatch[0])]} vs tflm {want[tuple(mismatch[0])]}"
    )


def test_matrix_product_selfcheck(tmp_path: Path):
    """firmware/runtime/tools/ekrt_matcheck.c under ASan+UBSan (the portable lanes): every path
    of the matrix product (wide, narrow, vec; every tile size, k tail, per-tensor and
    per-channel, mode R and G rows, activation ranges) against the reference fully connected
    kernel, random cases, the filter and columns each in an allocation of their exact size."""
    exe = build_runtime_tool(tmp_path / "matcheck", "ekrt_matcheck.c")
    res = subprocess.run(
        [str(exe), "4000", "7"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, **SAN_ENV),
    )
    assert res.returncode == 0 and "matcheck ok 4000" in res.stdout, res.stdout + res.stderr


def test_unsupported_op_named(models: dict[str, Path], ekrt_run: Path):
    model = models["tanh"]
    assert "TANH" in rt_models.op_names(model.read_bytes())
    res = run_ekrt(ekrt_run, model, b"")
    assert res.returncode == 1
    assert b"TANH" in res.stderr and b"not supported" in res.stderr


def test_arena_accounting(models: dict[str, Path], ekrt_run: Path, tmp_path: Path):
    """The reported arena use is exactly enough; one alignment block less fails at init."""
    model = models["mbv2"]
    x = random_inputs(model, 5)[:2].tobytes()
    res = run_ekrt(ekrt_run, model, x)
    assert res.returncode == 0, res.stderr
    info = dict(kv.split("=") for kv in res.stderr.decode().split())
    used = int(info["arena_used"])
    assert used == int(info["planned"]) + int(info["persistent"])
    ok = run_ekrt(ekrt_run, model, x, extra=("--arena", str(used)))
    assert ok.returncode == 0 and ok.stdout == res.stdout
    small = run_ekrt(ekrt_run, model, x, extra=("--arena", str(used - 16)))
    assert small.returncode == 1
    assert b"arena too small" in small.stderr
    tiny = run_ekrt(ekrt_run, model, x, extra=("--arena", "200"))
    assert tiny.returncode == 1 and b"arena too small" in tiny.stderr


def test_planner_reuses_memory(models: dict[str, Path], ekrt_run: Path):
    """Activations whose lifetimes do not overlap share memory: the plan is smaller than the
    sum of all activation tensors, and no smaller than the largest op's input + output."""
    sch = rt_models.schema()
    model = models["mbv2"]
    buf = model.read_bytes()
    m = sch.Model.GetRootAsModel(buf, 0)
    g = m.Subgraphs(0)
    sizes = []
    for i in range(g.TensorsLength()):
        t = g.Tensors(i)
        b = m.Buffers(t.Buffer())
        if b.DataLength() == 0 and t.Type() == sch.TensorType.INT8:
            sizes.append(int(np.prod(t.ShapeAsNumpy())))
    res = run_ekrt(ekrt_run, model, b"")
    planned = int(dict(kv.split("=") for kv in res.stderr.decode().split())["planned"])
    assert planned < sum(((s + 15) // 16) * 16 for s in sizes)
    assert planned >= max(sizes)


def _mutants(data: bytes, n: int, seed: int):
    rng = np.random.default_rng(seed)
    arr = np.frombuffer(data, dtype=np.uint8)
    for i in range(n):
        m = arr.copy()
        if i % 3 == 0:  # flip a few random bytes anywhere
            idx = rng.integers(0, len(m), size=int(rng.integers(1, 4)))
            m[idx] = rng.integers(0, 256, size=len(idx))
        elif i % 3 == 1:  # hit the metadata region (offsets, vtables) near the front/back
            region = np.r_[0 : min(512, len(m)), max(0, len(m) - 1024) : len(m)]
            idx = rng.choice(region, size=2)
            m[idx] ^= rng.integers(1, 256, size=2).astype(np.uint8)
        else:  # overwrite a 4-byte word with an extreme value
            pos = int(rng.integers(0, len(m) - 4))
            m[pos : pos + 4] = np.frombuffer(
                np.array(
                    [rng.choice([0, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 0x10000])], dtype="<u4"
                ).tobytes(),
                dtype=np.uint8,
            )
        yield m.tobytes()


def test_truncated_model_errors(models: dict[str, Path], ekrt_run: Path, tmp_path: Path):
    data = models["mbv2"].read_bytes()
    for cut in [
        0,
        4,
        8,
        15,
        16,
        64,
        200,
        len(data) // 3,
        len(data) // 2,
        len(data) - 100,
        len(data) - 1,
    ]:
        res = run_ekrt(ekrt_run, data[:cut], b"", tmp=tmp_path)
        assert res.returncode == 1, (cut, res.returncode, res.stderr[-2000:])
        assert b"ekrt_run: " in res.stderr
        assert b"Sanitizer" not in res.stderr and b"runtime error" not in res.stderr


def test_corrupt_model_never_crashes(models: dict[str, Path], ekrt_run: Path, tmp_path: Path):
    """Random corruptions either fail init with a message or run; never a sanitizer report."""
    model = models["mbv2"]
    data = model.read_bytes()
    x = random_inputs(model, 9)[:1].tobytes()
    outcomes = {0: 0, 1: 0}
    for m in _mutants(data, 150, seed=11):
        res = run_ekrt(ekrt_run, m, x, tmp=tmp_path)
        err = res.stderr.decode(errors="replace")
        assert res.returncode in (0, 1), (res.returncode, err[-3000:])
        assert "Sanitizer" not in err and "runtime error" not in err, err[-3000:]
        outcomes[res.returncode] += 1
    assert outcomes[1] > 10  # the corruption really hits the parser's checks


def test_not_a_tflite(ekrt_run: Path, tmp_path: Path):
    res = run_ekrt(ekrt_run, b"\x00" * 64, b"", tmp=tmp_path)
    assert res.returncode == 1 and b"TFL3" in res.stderr


def test_partial_input_record(models: dict[str, Path], ekrt_run: Path):
    res = run_ekrt(ekrt_run, models["mbv2"], b"\x01\x02\x03")
    assert res.returncode == 2 and b"partial input record" in res.stderr


def test_per_op_api(models: dict[str, Path], ekrt_run: Path):
    """ekrt_invoke_ops one op at a time gives exactly ekrt_invoke's outputs; ekrt_op_info
    lists every operator with its name, MACs and output, and a PAD folded into the following
    depthwise convolution reports no materialised output."""
    model = models["mbv2"]
    x = random_inputs(model, 3)[:4].tobytes()
    whole = run_ekrt(ekrt_run, model, x)
    step = run_ekrt(ekrt_run, model, x, extra=("--stepwise", "--layers"))
    assert whole.returncode == 0 and step.returncode == 0, step.stderr.decode()[-2000:]
    assert step.stdout == whole.stdout
    layers = [ln.split() for ln in step.stderr.decode().splitlines() if ln.startswith("layer ")]
    assert [ln[2] for ln in layers] == rt_models.op_names(model.read_bytes())
    fields = [dict(kv.split("=") for kv in ln[3:]) for ln in layers]
    pad = [f for ln, f in zip(layers, fields, strict=True) if ln[2] == "PAD"]
    assert pad and all(f["bytes"] == "0" for f in pad)
    others = [f for ln, f in zip(layers, fields, strict=True) if ln[2] != "PAD"]
    for f in others:
        dims = [int(d) for d in f["dims"].split("x")]
        assert int(f["bytes"]) == int(np.prod(dims)) > 0
    macs = {ln[2]: 0 for ln in layers}
    for ln, f in zip(layers, fields, strict=True):
        macs[ln[2]] += int(f["macs"])
    assert macs["CONV_2D"] > 0 and macs["DEPTHWISE_CONV_2D"] > 0 and macs["ADD"] == 0
