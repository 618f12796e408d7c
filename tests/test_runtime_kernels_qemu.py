"""edgekit-rt's Cortex-M4 DSP kernels vs TFLM, byte for byte, on the emulated CPU.

The same random single-op and small-block models as tests/test_runtime_kernels.py (host,
portable C path under sanitizers) run here in one QEMU mps2-an386 boot of
firmware/runtime/tools/semihost/ekrt_semi.elf (arm-none-eabi-gcc -mcpu=cortex-m4, so the
__ARM_FEATURE_DSP path: SXTB16/SXTAB16/SMLAD/SMLABB/SMMULR...), every model reading its
inputs and writing its outputs through semihosting; outputs must equal the tflite_micro
interpreter's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import firmware_util as fu
import rt_models
from runtime_util import EXPECTED_OPS, random_inputs, tflm_outputs

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "firmware" / "runtime" / "tools" / "semihost"))
import ekrt_semi  # noqa: E402

SPECS = rt_models.all_specs()

pytestmark = fu.needs_qemu


@pytest.fixture(scope="module")
def qemu_results(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("ekrt-qemu")
    elf = ekrt_semi.build(tmp / "build")
    models = rt_models.build_all(SPECS, rt_models.cache_dir())
    jobs, want = [], {}
    for spec in SPECS:
        m = models[spec.name]
        x = random_inputs(m, spec.seed)
        want[spec.name] = tflm_outputs(m, x)
        (tmp / f"{spec.name}.in").write_bytes(x.tobytes())
        jobs.append(
            ekrt_semi.Job(
                m, tmp / f"{spec.name}.in", tmp / f"{spec.name}.out", profile=spec.name == "mbv2"
            )
        )
    results = ekrt_semi.run(elf, jobs)
    return elf, tmp, dict(zip((s.name for s in SPECS), results, strict=True)), want, models


def test_dsp_instructions_in_the_image(qemu_results):
    elf = qemu_results[0]
    dis = subprocess.run(
        ["arm-none-eabi-objdump", "-d", str(elf)], capture_output=True, text=True, check=True
    ).stdout
    for insn in ("smlad", "sxtab16", "smlabb", "smmulr"):
        assert f"\t{insn}" in dis, f"{insn} missing: the DSP path was not compiled"


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_bit_exact_on_cortex_m4(spec: rt_models.ModelSpec, qemu_results):
    _, tmp, results, want, models = qemu_results
    res = results[spec.name]
    assert res.ok, f"{spec.name}: {res.error}"
    assert EXPECTED_OPS[spec.kind] <= set(rt_models.op_names(models[spec.name].read_bytes()))
    ref = want[spec.name]
    got = np.frombuffer((tmp / f"{spec.name}.out").read_bytes(), dtype=ref.dtype)
    assert res.records == len(ref) and got.size == ref.size
    got = got.reshape(ref.shape)
    bad = np.argwhere(got != ref)
    assert bad.size == 0, (
        f"{spec.name} ({spec.params}): {len(bad)} of {ref.size} differ; "
        f"first at {bad[0].tolist()}: ekrt {got[tuple(bad[0])]} vs tflm "
        f"{ref[tuple(bad[0])]}"
    )


def test_profile_covers_every_op(qemu_results):
    """The per-op profile (ekrt_invoke_ops op by op) lists every operator and its ticks sum
    to the whole invoke (each op timed once, plus the timing calls)."""
    _, _, results, _, models = qemu_results
    res = results["mbv2"]
    names = rt_models.op_names(models["mbv2"].read_bytes())
    assert [o.name for o in res.ops] == names
    assert sum(o.macs for o in res.ops) > 0
    total = sum(o.ticks for o in res.ops)
    assert total <= res.ticks <= total + 2 * len(res.ops) + 4


def test_models_over_one_mib_load_and_oversized_ones_say_so(qemu_results):
    """A model over 1 MiB (a w0.75 MobileNetV2 is 1.75 MB) loads into the image's model buffer
    in the code memory and runs byte-exact; a file over MODEL_MAX is refused by name."""
    elf, tmp = qemu_results[0], qemu_results[1]
    spec = rt_models.ModelSpec(
        "fc_big",
        "fc",
        390,
        dict(
            n=1024,
            units=1100,
            act=None,
            rank3=False,
            rows=1,
            wstd=0.05,
            range=(-1.0, 1.0),
            per_tensor=False,
        ),
    )
    model = rt_models.build(spec, rt_models.cache_dir())
    assert model.stat().st_size > (1 << 20)
    x = random_inputs(model, spec.seed)
    (tmp / "big.in").write_bytes(x.tobytes())
    huge = tmp / "huge.tflite"
    huge.write_bytes(bytes((3 << 20) + 1))
    big, over = ekrt_semi.run(
        elf,
        [
            ekrt_semi.Job(model, tmp / "big.in", tmp / "big.out"),
            ekrt_semi.Job(huge, tmp / "big.in", tmp / "huge.out"),
        ],
    )
    assert big.ok, big.error
    ref = tflm_outputs(model, x)
    assert (tmp / "big.out").read_bytes() == ref.tobytes()
    assert not over.ok and "larger than this image's MODEL_MAX" in over.error


def test_matrix_product_selfcheck_on_cortex_m4(tmp_path: Path):
    """ekrt_matcheck.elf (firmware/runtime/tools/ekrt_matcheck.c): the matrix product's every
    path on the DSP (the asm loops of the wide, narrow and vec paths included), each random
    case against the reference fully connected kernel; tile sizes are drawn, not left to a
    model's arena plan."""
    subprocess.run(
        ["make", "-s", "-C", str(ekrt_semi.HERE), f"BUILD={tmp_path}", "matcheck"],
        check=True,
        capture_output=True,
        text=True,
    )
    proc = subprocess.run(
        [
            "qemu-system-arm",
            "-M",
            "mps2-an386",
            "-nographic",
            "-semihosting-config",
            "enable=on,target=native",
            "-kernel",
            str(tmp_path / "ekrt_matcheck.elf"),
            "-append",
            "4000 7",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "matcheck ok 4000" in out, out[-2000:]
