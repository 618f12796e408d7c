"""edgekit as an installed tool: a wheel built from the repository carries the firmware sources,
ports, boards and model recipes, and the whole path (boards -> train -> quantize -> export ->
bench in QEMU) runs from a directory outside the checkout.

The wheel goes into a fresh virtual environment without its dependencies; the dependencies come
from the pinned set already installed for the tests (a .pth line naming the test venv's
site-packages: directories named there are only appended to sys.path, so the checkout's
editable install is invisible and `import edgekit` is the wheel's). Installing torch and
tensorflow a second time would add minutes and test pip, not edgekit. That every requirement
the wheel declares is met by the pinned set is checked from the wheel's own metadata.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# the installed tool must not see the checkout (the tests may run with PYTHONPATH=toolchain)
CLEAN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm"),
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc"),
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    src = tmp_path_factory.mktemp("src") / "edgekit"
    # build from a copy: a build must not depend on (or leave) files in the checkout
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".venv", "runs", "build"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + [str(src), "-w", str(out)],
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("edgekit-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory) -> Path:
    env_dir = tmp_path_factory.mktemp("venv") / "v"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        env=CLEAN_ENV,
    )
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        env=CLEAN_ENV,
    ).stdout.strip()
    Path(purelib, "pinned-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir / "bin"


def test_wheel_carries_firmware_boards_and_recipes(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for want in (
        "edgekit/_assets/boards/mps2-an386.toml",
        "edgekit/_assets/models/mbv2-w0.2.toml",
        "edgekit/_assets/firmware/app/ek_app.h",
        "edgekit/_assets/firmware/runtime/sources.txt",
        "edgekit/_assets/firmware/runtime/ekrt.c",
        "edgekit/_assets/firmware/dsp/ek_features.c",
        "edgekit/_assets/firmware/ports/mps2-an386/port.mk",
    ):
        assert want in names, want
    # every file the runtime's one source list names is in the wheel
    listed = (REPO / "firmware" / "runtime" / "sources.txt").read_text().split("\n")
    for src in (s.strip() for s in listed if s.strip() and not s.startswith("#")):
        assert f"edgekit/_assets/firmware/runtime/{src}" in names, src


def test_requirements_met_by_the_pinned_set(wheel: Path):
    """Every Requires-Dist of the wheel is installed here (the pinned set) in a version it allows."""
    from importlib import metadata

    from packaging.requirements import Requirement

    (meta,) = [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA")]
    text = zipfile.ZipFile(wheel).read(meta).decode()
    reqs = [
        Requirement(line.split(":", 1)[1])
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    assert {"torch", "tensorflow", "onnx2tf", "tflite_micro"} <= {r.name for r in reqs}
    unmet = [
        str(r)
        for r in reqs
        if r.marker is None and not r.specifier.contains(metadata.version(r.name), prereleases=True)
    ]
    assert unmet == []


def _edgekit(bin_dir: Path, cwd: Path, *argv: str) -> dict:
    proc = subprocess.run(
        [str(bin_dir / "edgekit"), *argv, "--json"],
        cwd=cwd,
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_installed_edgekit_runs_the_whole_path_outside_the_checkout(
    installed: Path, tmp_path: Path, tiny_csl: Path
):
    where = subprocess.run(
        [str(installed / "python"), "-c", "import edgekit.assets as a; print(a.ROOT)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env=CLEAN_ENV,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed.parent), where  # the wheel's copy, not REPO

    boards = _edgekit(installed, tmp_path, "boards")  # (takes no --no-progress)
    assert {"mps2-an386", "spresense", "stm32f405"} <= {b["name"] for b in boards["boards"]}

    run = "runs/w"
    _edgekit(
        installed,
        tmp_path,
        "train",
        "--data",
        str(tiny_csl),
        "--epochs",
        "1",
        "--run",
        run,
        "--no-progress",
    )
    _edgekit(installed, tmp_path, "quantize", "--run", run, "--qat-epochs", "0", "--no-progress")
    _edgekit(
        installed,
        tmp_path,
        "export",
        "--run",
        run,
        "--board",
        "mps2-an386",
        "--build",
        "--no-progress",
    )
    rec = _edgekit(
        installed,
        tmp_path,
        "bench",
        "--run",
        run,
        "--board",
        "mps2-an386",
        "--samples",
        "4",
        "--no-progress",
    )
    assert rec["exact_match_rate"] == 1.0 and rec["samples"] == 4
    assert (tmp_path / run / "firmware" / "mps2-an386" / "build.json").is_file()
