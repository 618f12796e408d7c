"""Your own rig end to end through the real CLI: an 8-channel armband at 200 Hz as continuous CSV
tables with a label column, a 64-channel 8x8 grid at 2048 Hz as EDF+ files with annotations, and
a 32-channel 4x8 grid at 4 kHz as BDF+ files (Biosemi-style labels, 24-bit samples) -> train ->
quantize -> export (onnx2tf, tflite_micro) -> firmware -> QEMU mps2-an386 bench, exact int8 match;
and `edgekit stream` of the armband's held-out session: raw 200 Hz samples in, the board's frames
and decisions equal to the host chain. Tiny data and few epochs: the accuracies say nothing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgekit.cli import main

from rig_util import gesture_session, write_edf, write_table

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
        reason="needs qemu-system-arm and arm-none-eabi-gcc",
    ),
]

NAMES = ["rest", "fist", "open", "pinch"]
GESTURES = "[gestures]\n" + "".join(f"{n} = {i}\n" for i, n in enumerate(NAMES))
# name: (rows, cols, rate, format, extra train options)
LAYOUTS = {
    "armband-csv": (1, 8, 200, "table", ["--band", "15,85"]),
    "grid64-edf": (8, 8, 2048, "edf", []),
    "grid32-bdf": (4, 8, 4000, "bdf", []),
}


def write_dataset(root: Path, layout: str) -> Path:
    """Two sessions of 3 repetitions x 4 gestures, 0.75 s each, in the layout's format."""
    rows, cols, fs, fmt, _ = LAYOUTS[layout]
    n = rows * cols
    root.mkdir(parents=True)
    for k in (1, 2):
        s = gesture_session(n, fs, 4, 3, 0.75, seed=11, session=k)
        ann = [(a / fs, (b - a) / fs, NAMES[g]) for a, b, g in s.segments]
        if fmt == "table":
            head = ["time_s", *[f"emg{i + 1}" for i in range(n)]]
            t = np.arange(s.signal.shape[1])[:, None] / fs
            write_table(
                root / f"session{k}.csv",
                np.hstack([t, s.signal.T]),
                [*head, "gesture"],
                [NAMES[g] for g in s.labels()],
                n + 1,
                fmt="%.7g",
            )
        elif fmt == "edf":
            write_edf(
                root / f"s{k}.edf", s.signal, fs, [f"EMG {i + 1}" for i in range(n)], "uV", ann
            )
        else:
            sig = np.vstack([s.signal, np.zeros((1, s.signal.shape[1]), np.float32)])
            labels = [f"A{i + 1}" for i in range(n)] + ["Status"]
            write_edf(root / f"s{k}.bdf", sig, fs, labels, "uV", ann, bdf=True)
    common = f"grid = [{rows}, {cols}]\n"
    if fmt == "table":
        text = (
            f'sampling_rate_hz = {fs}\n{common}unit = "uV"\nemg_columns = [2, {n + 1}]\n'
            f'label_column = "gesture"\n'
        )
    elif fmt == "edf":
        text = common
    else:
        text = f'{common}channels = "A\\\\d+"\nsampling_rate_hz = {fs}\n'
    (root / "recording.toml").write_text(text + GESTURES)
    return root


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def rig_run(request, tmp_path_factory) -> tuple[str, Path]:
    layout = request.param
    base = tmp_path_factory.mktemp(layout)
    data = write_dataset(base / "data", layout)
    _, _, _, fmt, extra = LAYOUTS[layout]
    run = base / "run"
    for argv in (
        ["train", "--data", str(data), "--format", fmt, "--epochs", "3", *extra],
        ["quantize", "--qat-epochs", "1"],
        ["export", "--board", "mps2-an386", "--build"],
    ):
        assert main([*argv, "--run", str(run), "--no-progress"]) == 0, argv
    return layout, run


def test_rate_grid_and_band_reach_model_meta(rig_run: tuple[str, Path]) -> None:
    layout, run = rig_run
    rows, cols, fs, fmt, extra = LAYOUTS[layout]
    train = json.loads((run / "train.json").read_text())
    assert train["data"]["fs"] == fs and train["data"]["kind"] == fmt
    assert (train["grid"]["rows"], train["grid"]["cols"]) == (rows, cols)
    assert train["classes"] == NAMES
    # the loader hands over the gestures as written: a linear model separates them (the CNN,
    # 3 epochs on ~90 frames, is not meant to; its accuracy says nothing)
    assert train["lda"]["accuracy"] >= 0.9
    band = [15.0, 85.0] if extra else [20.0, min(450.0, 0.45 * fs)]
    assert train["features"]["band_hz"] == band
    assert f"{rows} x {cols} input" in train["stride_plan"]
    meta = (run / "export" / "model_meta.h").read_text()
    hop = round(50 * fs / 1000)  # 50 ms in whole samples
    assert f"#define EK_FS_HZ {float(fs)!r}f" in meta
    assert f"#define EK_FEAT_HOP {hop}\n" in meta and "#define EK_FEAT_BLOCKS 3\n" in meta
    assert "#define EK_FEAT_CHANNELS EK_GRID_CHANNELS" in meta
    assert f"#define EK_GRID_CHANNELS {rows * cols}\n" in meta
    assert re.search(rf"// band-pass {band[0]:g}-{band[1]:g} Hz \(4 biquads\)", meta)


def test_bench_in_qemu_matches_host_reference_exactly(rig_run: tuple[str, Path], capsys) -> None:
    _, run = rig_run
    capsys.readouterr()
    argv = ["bench", "--board", "mps2-an386", "--run", str(run), "--samples", "24", "--json"]
    code = main([*argv, "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rec = json.loads(out)
    assert rec["samples"] == 24 and rec["exact_match_rate"] == 1.0
    assert rec["device_accuracy"] == rec["host_accuracy"]


@pytest.mark.parametrize("rig_run", ["armband-csv"], indirect=True)
def test_stream_200_hz_armband_in_qemu(rig_run: tuple[str, Path], capsys) -> None:
    _, run = rig_run
    capsys.readouterr()
    argv = ["stream", "--board", "mps2-an386", "--run", str(run), "--vote", "3", "--json"]
    code = main([*argv, "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rep = json.loads(out)
    # the held-out session (2) of the run's own data: 12 trials of 0.75 s = 9 s at 200 Hz,
    # one hop = 10 samples, the first frame after 3 hops
    assert rep["hops"] == 9 * 200 // 10 - 2
    assert rep["exact"]["frames"] == 1.0 and rep["exact"]["max_lsb_diff"] == 0
    assert rep["exact"]["outputs"] == 1.0
    assert rep["agreement_with_host"] == {"class": 1.0, "vote": 1.0}
    assert rep["errors"] == []
