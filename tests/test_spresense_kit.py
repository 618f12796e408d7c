"""The Spresense sketch compiled and linked the way the Arduino IDE does it: ../shared/spresense-kit
(build-sketch over Debian's arduino-builder, the v3.4.4 board package and SDK libraries).

`edgekit export --build` for spresense (mbv2 w0.2, 768 KB) and spresense-1536k (mbv2-seed w0.2,
which only fits there) must produce sketches that link, with the board TOML's FQBN (Memory=1536 for
the second), and the export's fit estimate of the image must agree with the linked image within 2%.
The models are trained for 1 epoch on the tiny synthetic set: size, not accuracy, matters here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgekit import firmware
from edgekit.boards import get_board
from edgekit.cli import main
from edgekit.errors import EdgekitError

needs_kit = pytest.mark.skipif(
    firmware.arduino_kit(get_board("spresense")) is None or shutil.which("arduino-builder") is None,
    reason="needs the Spresense build kit (../shared/spresense-kit beside the repository, or "
    "$EDGEKIT_SPRESENSE_KIT) and Debian's arduino-builder + arduino-ctags (make sysdeps)",
)


def _export(run: Path, arch: str, board: str, data: Path, capsys) -> dict:
    assert (
        main(
            [
                "train",
                "--arch",
                arch,
                "--width",
                "0.2",
                "--data",
                str(data),
                "--epochs",
                "1",
                "--run",
                str(run),
                "--no-progress",
            ]
        )
        == 0
    )
    assert main(["quantize", "--run", str(run), "--qat-epochs", "1", "--no-progress"]) == 0
    capsys.readouterr()
    code = main(
        ["export", "--board", board, "--run", str(run), "--build", "--json", "--no-progress"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.mark.slow
@needs_kit
@pytest.mark.parametrize(
    "arch,board,memory", [("mbv2", "spresense", 768), ("mbv2-seed", "spresense-1536k", 1536)]
)
def test_sketch_builds_with_the_kit_and_fit_agrees(tmp_path, tiny_csl, capsys, arch, board, memory):
    rec = _export(tmp_path / arch, arch, board, tiny_csl, capsys)
    b = rec["firmware"]["build"]
    assert b["tool"] == "build-sketch" and f"Memory={memory}," in b["fqbn"]
    assert Path(b["elf"]).is_file() and (Path(b["elf"]).with_suffix(".spk")).is_file()
    image, est = b["flash_bytes"], rec["fit"]["image_bytes_estimate"]
    print(
        f"\n[{board}] linked image {image:,} B, fit estimate {est:,} B "
        f"({100 * (est - image) / image:+.2f}%), built in {b['build_s']} s"
    )
    assert abs(est - image) <= 0.02 * image
    assert image + rec["fit"]["heap_reserve_bytes"] <= memory * 1024


def test_fqbn_comes_from_the_board_file() -> None:
    assert get_board("spresense").fqbn.startswith("SPRESENSE:spresense:spresense:")
    assert "Memory=768," in get_board("spresense").fqbn
    assert "Memory=1536," in get_board("spresense-1536k").fqbn


def test_tflm_on_spresense_is_refused_with_the_reason(tmp_path) -> None:
    from edgekit.runs import Run

    with pytest.raises(EdgekitError, match=r"gnu\+\+11.*C\+\+17.*--runtime edgekit-rt"):
        firmware.render(Run(tmp_path / "run"), get_board("spresense"), runtime="tflm")
