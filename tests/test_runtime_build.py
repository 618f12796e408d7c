"""edgekit-rt builds warning-free for host and Cortex-M4, uses no libc beyond mem*/str*, and
its ek_model.h glue (ek_model.c over a model_data.c C array) matches TFLM byte for byte."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import EdgekitError
from edgekit.export.rt_host import runtime_sources

import rt_models
from runtime_util import RUNTIME, tflm_outputs

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "firmware" / "app"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
# libc / libgcc symbols the runtime may use: memory helpers and compiler runtime only
ALLOWED_UNDEFINED = {
    "memcpy",
    "memmove",
    "memset",
    "memcmp",
    "strlen",
    "g_model_data",
    "g_model_data_len",
}


def _meta(path: Path, arena: int, in_size: int | None = None, out_size: int | None = None):
    lines = ["#ifndef MODEL_META_H", "#define MODEL_META_H", f"#define EK_ARENA_SIZE {arena}"]
    if in_size is not None:
        lines.append(f"#define EK_INPUT_SIZE {in_size}")
    if out_size is not None:
        lines.append(f"#define EK_OUTPUT_SIZE {out_size}")
    path.write_text("\n".join(lines + ["#endif", ""]))


def _model_c(path: Path, data: bytes):
    body = ",".join(str(b) for b in data)
    path.write_text(
        "#include <stddef.h>\n"
        f"_Alignas(16) const unsigned char g_model_data[] = {{{body}}};\n"
        f"const unsigned int g_model_data_len = {len(data)}u;\n"
    )


def test_host_strict_build(tmp_path: Path):
    _meta(tmp_path / "model_meta.h", 4096)
    srcs = [*map(str, runtime_sources()), str(RUNTIME / "ek_model.c")]
    for src in srcs:
        for extra in ([], ["-DEKRT_NO_OP_NAMES"]) if src.endswith("opnames.c") else ([],):
            res = subprocess.run(
                [
                    "gcc",
                    *STRICT,
                    "-pedantic",
                    "-O2",
                    *extra,
                    f"-I{RUNTIME}",
                    f"-I{APP}",
                    f"-I{tmp_path}",
                    "-c",
                    src,
                    "-o",
                    str(tmp_path / "x.o"),
                ],
                capture_output=True,
                text=True,
            )
            assert res.returncode == 0, res.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_one_source_list_for_make_and_python(tmp_path: Path):
    """runtime.mk (the firmware and semihost Makefiles) and rt_host (host runner, tests) read the
    same sources.txt; a copy without it fails in both with the file named."""
    probe = tmp_path / "probe.mk"
    probe.write_text(
        f"EKRT_DIR := {RUNTIME}\ninclude {RUNTIME}/runtime.mk\nall:\n\t@echo $(EKRT_SRCS)\n"
    )
    out = subprocess.run(
        ["make", "-s", "-f", str(probe)], check=True, capture_output=True, text=True
    ).stdout.split()
    assert [Path(s) for s in out] == runtime_sources()
    assert len(out) == len(list(RUNTIME.glob("ekrt*.c")))  # every ekrt_*.c is built
    bare = tmp_path / "runtime"
    bare.mkdir()
    shutil.copy2(RUNTIME / "runtime.mk", bare)
    probe.write_text(f"EKRT_DIR := {bare}\ninclude {bare}/runtime.mk\nall:\n\t@echo x\n")
    res = subprocess.run(["make", "-s", "-f", str(probe)], capture_output=True, text=True)
    assert res.returncode != 0 and f"{bare}/sources.txt lists no edgekit-rt sources" in res.stderr
    with pytest.raises(EdgekitError, match=r"runtime/sources.txt: cannot read"):
        runtime_sources(bare)
    (bare / "sources.txt").write_text("# nothing\n\n")
    with pytest.raises(EdgekitError, match="lists no edgekit-rt sources"):
        runtime_sources(bare)


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no arm-none-eabi-gcc")
def test_cortex_m4_build_and_symbols(tmp_path: Path):
    _meta(tmp_path / "model_meta.h", 4096)
    objs = []
    for src in [*runtime_sources(), RUNTIME / "ek_model.c"]:
        obj = tmp_path / (src.stem + ".o")
        res = subprocess.run(
            [
                "arm-none-eabi-gcc",
                "-mcpu=cortex-m4",
                "-mthumb",
                "-Os",
                *STRICT,
                f"-I{RUNTIME}",
                f"-I{APP}",
                f"-I{tmp_path}",
                "-c",
                str(src),
                "-o",
                str(obj),
            ],
            capture_output=True,
            text=True,
        )
        assert res.returncode == 0, res.stderr
        objs.append(obj)
    nm = subprocess.run(
        ["arm-none-eabi-nm", "-u", *map(str, objs)], check=True, capture_output=True, text=True
    ).stdout
    undefined = {ln.split()[-1] for ln in nm.splitlines() if ln.strip().startswith("U ")}
    runtime_defined = subprocess.run(
        ["arm-none-eabi-nm", "--defined-only", *map(str, objs)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    defined = {ln.split()[-1] for ln in runtime_defined.splitlines() if len(ln.split()) == 3}
    external = {s for s in undefined - defined if not s.startswith("__aeabi_")}
    assert external <= ALLOWED_UNDEFINED, f"runtime needs libc symbols: {external}"
    size = subprocess.run(
        ["arm-none-eabi-size", "-t", *map(str, objs)], capture_output=True, text=True
    ).stdout
    print(size.splitlines()[-1])


@pytest.fixture(scope="module")
def mbv2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = next(s for s in rt_models.all_specs() if s.name == "mbv2")
    return rt_models.build(spec, rt_models.cache_dir())


DRIVER = r"""
#include <stdio.h>
#include "ek_model.h"
int main(void) {
    char err[160];
    ek_model_info_t info;
    int8_t *in;
    if (ek_model_init(err, sizeof err) != 0) { fprintf(stderr, "init: %s\n", err); return 1; }
    ek_model_get_info(&info);
    fprintf(stderr, "runtime=%s in=%lu out=%lu arena=%lu used=%lu\n", info.runtime,
            (unsigned long)info.input_bytes, (unsigned long)info.output_bytes,
            (unsigned long)info.arena_bytes, (unsigned long)info.arena_used);
    in = ek_model_input();
    while (fread(in, 1, info.input_bytes, stdin) == info.input_bytes) {
        if (ek_model_invoke(err, sizeof err) != 0) { fprintf(stderr, "invoke: %s\n", err); return 1; }
        fwrite(ek_model_output(), 1, info.output_bytes, stdout);
    }
    return 0;
}
"""


SAN = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


@pytest.fixture(scope="module")
def runtime_objs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The runtime compiled once (ASan+UBSan); each glue variant only adds ek_model.c etc."""
    d = tmp_path_factory.mktemp("ekrt_objs")
    objs = []
    for src in runtime_sources():
        obj = d / (src.stem + ".o")
        subprocess.run(
            ["gcc", *STRICT, *SAN, f"-I{RUNTIME}", "-c", str(src), "-o", str(obj)],
            check=True,
            capture_output=True,
            text=True,
        )
        objs.append(obj)
    return objs


def _build_glue(
    tmp: Path, objs: list[Path], model: bytes, arena: int, in_size: int | None, out_size: int | None
) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    _meta(tmp / "model_meta.h", arena, in_size, out_size)
    _model_c(tmp / "model_data.c", model)
    (tmp / "main.c").write_text(DRIVER)
    exe = tmp / "glue"
    subprocess.run(
        [
            "gcc",
            *STRICT,
            *SAN,
            f"-I{RUNTIME}",
            f"-I{APP}",
            f"-I{tmp}",
            *map(str, objs),
            str(RUNTIME / "ek_model.c"),
            str(tmp / "model_data.c"),
            str(tmp / "main.c"),
            "-o",
            str(exe),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return exe


def test_ek_model_glue_matches_tflm(mbv2: Path, runtime_objs: list[Path], tmp_path: Path):
    data = mbv2.read_bytes()
    exe = _build_glue(tmp_path / "ok", runtime_objs, data, 16384, 192, 5)
    x = np.random.default_rng(3).integers(-128, 128, size=(16, 8, 24, 1)).astype(np.int8)
    res = subprocess.run([str(exe)], input=x.tobytes(), capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    info = dict(kv.split("=") for kv in res.stderr.decode().split())
    assert info["runtime"] == "edgekit-rt" and info["in"] == "192" and info["out"] == "5"
    assert info["arena"] == "16384" and 0 < int(info["used"]) < 16384
    want = tflm_outputs(mbv2, x)
    got = np.frombuffer(res.stdout, dtype=np.int8).reshape(want.shape)
    np.testing.assert_array_equal(got, want)


def test_ek_model_glue_errors(mbv2: Path, runtime_objs: list[Path], tmp_path: Path):
    data = mbv2.read_bytes()
    small = subprocess.run(
        [str(_build_glue(tmp_path / "small", runtime_objs, data, 1024, 192, 5))],
        capture_output=True,
        timeout=60,
    )
    assert small.returncode == 1 and b"arena too small" in small.stderr
    wrong = subprocess.run(
        [str(_build_glue(tmp_path / "wrong", runtime_objs, data, 16384, 191, 5))],
        capture_output=True,
        timeout=60,
    )
    assert wrong.returncode == 1 and b"EK_INPUT_SIZE" in wrong.stderr
    qdq = next(s for s in rt_models.all_specs() if s.name == "qdq")
    float_io = rt_models.build(qdq, rt_models.cache_dir()).read_bytes()
    fl = subprocess.run(
        [str(_build_glue(tmp_path / "float", runtime_objs, float_io, 16384, None, None))],
        capture_output=True,
        timeout=60,
    )
    assert fl.returncode == 1 and b"must be int8" in fl.stderr
