"""--runtime tflm against real TensorFlow Lite Micro trees (made by TFLM's create_tflm_tree.py), as
a user points TFLM_DIR at them: ../shared/tflm-trees/tflm-tree-{cmsis-nn,reference}.tar.xz.

Each tree is extracted once into the edgekit cache (keyed by the tarball's hash) and its objects
are compiled once into the cache firmware.build() uses (keyed by the tree's content, the port and
the build rules), so a second session only links. Compiling a tree's core + the model's kernels
is the slow part: it is printed (pytest -s) and kept in the bench record ('build_s').
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from edgekit import firmware, runs
from edgekit.bench.run import bench_on_board
from edgekit.cli import main

from bench_util import make_run, mps2

TREES_DIR = Path(
    os.environ.get(
        "EDGEKIT_TFLM_TREES", Path(__file__).resolve().parents[2] / "shared" / "tflm-trees"
    )
)
TREES = {"cmsis-nn": "tflm-tree-cmsis-nn.tar.xz", "reference": "tflm-tree-reference.tar.xz"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not TREES_DIR.is_dir(),
        reason=f"no TFLM trees at {TREES_DIR} (../shared/tflm-trees beside the "
        "repository, or $EDGEKIT_TFLM_TREES; CI has them)",
    ),
    pytest.mark.skipif(
        shutil.which("arm-none-eabi-g++") is None or shutil.which("qemu-system-arm") is None,
        reason="needs arm-none-eabi-g++ (libstdc++-arm-none-eabi-newlib) and "
        "qemu-system-arm (make sysdeps)",
    ),
]


def extracted_tree(kind: str) -> Path:
    """The tree's root, extracted once per tarball content into the edgekit cache."""
    tar = TREES_DIR / TREES[kind]
    key = hashlib.sha256(tar.read_bytes()).hexdigest()[:16]
    dest = runs.cache_dir() / "tflm-trees" / f"{kind}-{key}"
    if not dest.is_dir():
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        with tarfile.open(tar) as t:
            t.extractall(tmp, filter="data")
        tmp.rename(dest)
    roots = [
        p.parent.parent.parent.parent
        for p in dest.glob("*/tensorflow/lite/micro/micro_interpreter.h")
    ]
    assert len(roots) == 1, f"{tar}: expected one TFLM tree inside, found {roots}"
    return roots[0]


@pytest.fixture(scope="module")
def tflm_run(tmp_path_factory: pytest.TempPathFactory, tiny_tflite: bytes) -> runs.Run:
    return make_run(tmp_path_factory.mktemp("tflm") / "run", tiny_tflite, n=240)


@pytest.mark.parametrize("kind", sorted(TREES))
def test_tflm_tree_builds_with_release_flags_and_runs_exact(tflm_run: runs.Run, kind: str) -> None:
    tree = extracted_tree(kind)
    t0 = time.monotonic()
    rec = bench_on_board(
        tflm_run,
        mps2(),
        None,
        samples=200,
        baud=None,
        progress=False,
        runtime="tflm",
        make_vars={"TFLM_DIR": str(tree)},
    )
    print(
        f"\n[tflm {kind}] build {rec['build']['build_s']} s "
        f"({rec['build']['tflm']['objects_cached']} tree objects were cached), "
        f"bench {time.monotonic() - t0 - rec['build']['build_s']:.0f} s"
    )
    assert rec["samples"] == 200 and rec["exact_match_rate"] == 1.0 and rec["max_abs_diff"] == 0
    assert rec["device"]["runtime"] == "tflm"
    tflm = rec["build"]["tflm"]
    assert tflm["kernels"] == ("cmsis_nn" if kind == "cmsis-nn" else "reference")
    assert Path(tflm["build_dir"]).is_relative_to(runs.cache_dir())
    # release build: TF_LITE_STRIP_ERROR_STRINGS leaves TFLM's error messages out of the image
    strings = subprocess.run(
        ["arm-none-eabi-strings", rec["build"]["elf"]], capture_output=True, text=True, check=True
    ).stdout
    assert "Didn't find op for builtin opcode" not in strings
    assert "AllocateTensors failed" in strings  # edgekit's own message is still there
    assert Path(rec["files"]["json"]).parent.name == "mps2-an386-tflm"


def test_runtimes_side_by_side(tflm_run: runs.Run, capsys) -> None:
    tree = extracted_tree("cmsis-nn")
    code = main(
        [
            "bench",
            "--board",
            "mps2-an386",
            "--run",
            str(tflm_run.root),
            "--samples",
            "20",
            "--runtime",
            "edgekit-rt,tflm",
            "--tflm-dir",
            str(tree),
            "--json",
            "--no-progress",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    rep = json.loads(out)
    rows = {r["runtime"]: r for r in rep["runtimes"]}
    assert set(rows) == {"edgekit-rt", "tflm"}
    for r in rows.values():
        assert r["exact_match_rate"] == 1.0 and r["instructions_per_inference"] > 0
        assert r["arena_used"] > 0 and r["flash_bytes"] > 0
    md = Path(rep["files"]["md"]).read_text()
    assert "| edgekit-rt |" in md and "| tflm | cmsis_nn |" in md and "device" in md


def test_tflm_dir_that_is_not_a_tree(tflm_run: runs.Run, tmp_path: Path) -> None:
    from edgekit.errors import EdgekitError

    d = firmware.render(tflm_run, mps2(), runtime="tflm", dest=tmp_path / "fw")
    with pytest.raises(EdgekitError, match="not a TensorFlow Lite Micro tree"):
        firmware.build(d, mps2(), make_vars={"TFLM_DIR": str(tmp_path)})
