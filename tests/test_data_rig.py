"""Your own rig: recording.toml + plain tables (CSV with and without header, TSV, NPY) and EDF+ /
BDF files (written byte by byte from the specification in rig_util.py, read with MNE), for the
three layouts of the e2e tests (an 8-channel 200 Hz armband, a 64-channel 8x8 grid at 2048 Hz, a
32-channel 4x8 grid at 4 kHz); the band-pass at any rate; mbv2 on thin grids; every bad input a
clear error naming the file and the field."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from edgekit import checkpoint
from edgekit.cli import main
from edgekit.data import causal, load_recording
from edgekit.data.features import FeatureConfig, extract, to_images
from edgekit.errors import EdgekitError
from edgekit.export import carray
from edgekit.nn import build_model, describe_plan, stride_plan

from rig_util import gesture_session, write_edf, write_table

# name: (rows, cols, sampling rate)
LAYOUTS = {"armband": (1, 8, 200), "grid64": (8, 8, 2048), "grid32": (4, 8, 4000)}
NAMES = ["rest", "fist", "open", "pinch"]
GESTURES = "[gestures]\n" + "".join(f"{n} = {i}\n" for i, n in enumerate(NAMES))


def toml(root: Path, text: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "recording.toml").write_text(text)


def sessions(layout: str, n: int = 2, reps: int = 2, seconds: float = 0.5):
    rows, cols, fs = LAYOUTS[layout]
    return [gesture_session(rows * cols, fs, 4, reps, seconds, 3, s + 1) for s in range(n)]


def check_trials(rec, ss, fs: float, scale: float = 1.0, rtol: float = 1e-5) -> None:
    """The recording holds every segment of every session, in order, with its samples."""
    assert rec.fs == fs and rec.label_names == NAMES
    by_key = {(t.session, t.label, t.trial): t for t in rec.trials}
    assert len(rec.trials) == sum(len(s.segments) for s in ss)
    for k, s in enumerate(ss):
        count = [0] * 4
        for a, b, g in s.segments:
            t = by_key[(k + 1, g, count[g])]
            count[g] += 1
            np.testing.assert_allclose(t.signal, s.signal[:, a:b] * scale, rtol=rtol, atol=1e-3)


# ------------------------------------------------------------------------------ tables


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_continuous_csv_with_header_and_label_column(tmp_path: Path, layout: str) -> None:
    rows, cols, fs = LAYOUTS[layout]
    n = rows * cols
    toml(
        tmp_path,
        f'sampling_rate_hz = {fs}\ngrid = [{rows}, {cols}]\nunit = "mV"\n'
        f'label_column = "gesture"\n{GESTURES}',
    )
    ss = sessions(layout)
    header = ["gesture", *[f"ch{i}" for i in range(n)]]
    for k, s in enumerate(ss):  # in millivolts, scaled back to microvolts by the loader
        write_table(
            tmp_path / f"session{k + 1}" / "rec.csv",
            s.signal.T / 1000.0,
            header,
            [NAMES[g] for g in s.labels()],
            0,
            fmt="%.9g",
        )
    rec = load_recording(tmp_path, "table")
    check_trials(rec, ss, fs)
    assert rec.grid.shape == (rows, cols) and rec.grid.n_channels == n and rec.layout == "table"
    assert rec.extra["channels"]["names"][:2] == ["ch0", "ch1"]
    assert re.search(r"session1/rec\.csv \[0\.000-0\.500 s\]$", rec.trials[0].source)
    fc = FeatureConfig().for_recording(rec)
    assert fc.band_hz == (20.0, min(450.0, 0.45 * fs))
    win, hop = fc.samples(fs)
    assert hop == round(50 * fs / 1000) and win == 3 * hop  # ms -> whole samples at the rate
    assert len(extract(rec, fc)) > 0


def test_files_csv_without_header_with_a_manifest_and_extra_columns(tmp_path: Path) -> None:
    """Each file one trial (manifest.csv), EMG in columns 2-9 after a time column."""
    toml(
        tmp_path,
        f'sampling_rate_hz = 200\ngrid = [1, 8]\nunit = "uV"\nemg_columns = [2, 9]\n{GESTURES}',
    )
    (ss,) = sessions("armband", 1)
    lines = ["file,subject,session,gesture"]
    for i, (a, b, g) in enumerate(ss.segments):
        t = np.arange(a, b)[:, None] / 200.0
        write_table(tmp_path / f"t{i}.csv", np.hstack([t, ss.signal[:, a:b].T, t]), fmt="%.9g")
        lines.append(f"t{i}.csv,1,{1 + i % 2},{g}")
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    rec = load_recording(tmp_path, "table")
    assert len(rec.trials) == len(ss.segments) and rec.label_names == NAMES
    first = next(t for t in rec.trials if t.source.endswith("t0.csv"))
    np.testing.assert_allclose(first.signal, ss.signal[:, :100], rtol=1e-6, atol=1e-4)
    assert rec.extra["channels"]["names"][0] == "column 2"


def test_tsv_named_sss_ggg_rrr(tmp_path: Path) -> None:
    toml(tmp_path, 'sampling_rate_hz = 200\ngrid = [2, 4]\nunit = "V"\n')
    sig = np.random.default_rng(0).normal(0, 1e-4, (100, 8))
    write_table(tmp_path / "session2" / "001-003-002.tsv", sig, fmt="%.9g")
    (t,) = load_recording(tmp_path, "table").trials
    assert (t.subject, t.session, t.trial) == (1, 2, 0)
    np.testing.assert_allclose(t.signal, sig.T * 1e6, rtol=1e-5)


def test_npy_counts_reach_the_device_as_they_are(tmp_path: Path) -> None:
    """unit = "counts": microvolts = counts x adc_lsb, and the feature chain's ADC step is
    adc_lsb, so the counts the device is fed are the file's counts."""
    toml(
        tmp_path,
        'sampling_rate_hz = 4000\ngrid = [4, 8]\nunit = "counts"\nadc_lsb = 0.195\n'
        f"label_column = 1\n{GESTURES}",
    )
    (ss,) = sessions("grid32", 1)
    counts = np.round(ss.signal / 0.195).astype(np.int16)
    write_table(tmp_path / "a.npy", counts.T, label=ss.labels(), label_at=0)
    rec = load_recording(tmp_path, "table")
    assert rec.adc_step == 0.195
    fc = FeatureConfig().for_recording(rec)
    assert fc.adc_lsb == float(np.float32(0.195))
    a, b, g = ss.segments[1]
    t = next(t for t in rec.trials if t.label == g and t.trial == 0)
    np.testing.assert_array_equal(causal.to_counts(t.signal, fc.adc_lsb, "t"), counts[:, a:b])


def test_grid_channel_order_empty_and_masked_pixels(tmp_path: Path) -> None:
    toml(
        tmp_path,
        'sampling_rate_hz = 1000\ngrid = [2, 3]\nunit = "uV"\nempty = [[0, 0]]\n'
        "channel_order = [[1, 2], [1, 1], [1, 0], [0, 2], [0, 1]]\nmasked = [4]\n"
        'name = "my-2x3"\n',
    )
    write_table(tmp_path / "001-000-001.csv", np.ones((300, 5)) * np.arange(1, 6), fmt="%g")
    rec = load_recording(tmp_path, "table")
    g = rec.grid
    assert (g.name, g.n_channels, g.masked) == ("my-2x3", 5, (4,))
    assert g.index().tolist() == [[-1, 4, 3], [2, 1, 0]]
    img = to_images(np.arange(1, 6, dtype=np.float32)[None], g)[0, 0]
    assert img.tolist() == [[0, 5, 4], [3, 2, 1]]


@pytest.mark.parametrize("rows, cols, fs", [(2, 2, 10000), (16, 16, 2048), (1, 4, 200)])
def test_extreme_rates_and_channel_counts(tmp_path: Path, rows: int, cols: int, fs: int) -> None:
    """4 channels at 10 kHz, 256 channels, 4 channels at 200 Hz: loaded, framed and given a
    feature chain whose hop and window are whole samples of 50 / 150 ms."""
    toml(tmp_path, f'sampling_rate_hz = {fs}\ngrid = [{rows}, {cols}]\nunit = "uV"\n')
    for k in (1, 2):
        sig = gesture_session(rows * cols, fs, 1, 1, 0.6, 9, k).signal
        write_table(tmp_path / f"session{k}" / "001-000-001.npy", sig.T)
    rec = load_recording(tmp_path, "table")
    assert rec.grid.n_channels == rows * cols and rec.fs == fs
    fc = FeatureConfig().for_recording(rec)
    spec = fc.chain_spec(fs)
    assert spec.hop == round(fs / 20) and spec.window == 3 * spec.hop
    assert len(spec.sos) == 4 and fc.band_hz == (20.0, min(450.0, 0.45 * fs))
    assert extract(rec, fc).x.shape[1] == rows * cols


# ------------------------------------------------------------------------------ EDF / BDF


def annotations(s, fs: float) -> list[tuple[float, float, str]]:
    return [(a / fs, (b - a) / fs, NAMES[g]) for a, b, g in s.segments]


def test_edf_plus_annotations_channels_typed_emg(tmp_path: Path) -> None:
    """EMG typed by the "EMG " label prefix (an ECG channel beside them is not picked), the
    gestures from EDF+ annotations, a non-gesture annotation ignored."""
    toml(tmp_path, f'grid = [8, 8]\nignore_annotations = ["Recording starts"]\n{GESTURES}')
    ss = sessions("grid64", reps=1)
    back = []
    for k, s in enumerate(ss):
        extra = np.zeros((1, s.signal.shape[1]), np.float32)
        ann = [(0.0, 0.0, "Recording starts"), *annotations(s, 2048)]
        q = write_edf(
            tmp_path / f"s{k + 1}.edf",
            np.vstack([s.signal, extra]),
            2048,
            [f"EMG {i + 1}" for i in range(64)] + ["ECG"],
            annotations=ann,
        )
        back.append(type(s)(q[:64].astype(np.float32), s.segments))
    rec = load_recording(tmp_path, "edf")
    check_trials(rec, back, 2048.0, rtol=1e-6)
    assert rec.grid.shape == (8, 8) and rec.extra["channels"]["names"][:2] == ["1", "2"]


def test_bdf_by_name_pattern_with_status_channel(tmp_path: Path) -> None:
    """Biosemi-style labels (A1..A32 and a Status channel), 24-bit samples, BDF+ annotations;
    the manifest sets subject and session of each continuous file."""
    toml(tmp_path, f'grid = [4, 8]\nchannels = "A\\\\d+"\nsampling_rate_hz = 4000\n{GESTURES}')
    ss = sessions("grid32")
    back, lines = [], ["file,subject,session"]
    for k, s in enumerate(ss):
        status = np.zeros((1, s.signal.shape[1]), np.float32)
        q = write_edf(
            tmp_path / f"run{k}.bdf",
            np.vstack([s.signal, status]),
            4000,
            [f"A{i + 1}" for i in range(32)] + ["Status"],
            annotations=annotations(s, 4000),
            bdf=True,
        )
        back.append(type(s)(q[:32].astype(np.float32), s.segments))
        lines.append(f"run{k}.bdf,7,{k + 1}")
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    rec = load_recording(tmp_path, "bdf")
    check_trials(rec, back, 4000.0, rtol=1e-6)
    assert {t.subject for t in rec.trials} == {7}
    assert rec.extra["channels"]["names"][-1] == "A32"


def test_edf_files_labelled_by_the_manifest(tmp_path: Path) -> None:
    toml(tmp_path, f'grid = [1, 8]\nchannels = "EMG\\\\d"\n{GESTURES}')
    (s,) = sessions("armband", 1, reps=1)
    lines = ["file,subject,session,gesture"]
    for i, (a, b, g) in enumerate(s.segments):
        write_edf(tmp_path / f"g{i}.edf", s.signal[:, a:b], 200, [f"EMG{j}" for j in range(8)])
        lines.append(f"g{i}.edf,1,1,{g}")
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    rec = load_recording(tmp_path, "edf")
    assert sorted(t.label for t in rec.trials) == [0, 1, 2, 3] and rec.fs == 200.0


# ------------------------------------------------------------------------------ bad input


def _armband_csv(root: Path, text: str | None = None, n: int = 60, cols: int = 8) -> Path:
    toml(root, text or 'sampling_rate_hz = 200\ngrid = [1, 8]\nunit = "uV"\n')
    sig = np.random.default_rng(1).normal(0, 10, (n, cols))
    write_table(root / "001-001-001.csv", sig, [f"ch{i}" for i in range(cols)])
    return root / "001-001-001.csv"


@pytest.mark.parametrize(
    "text, match",
    [
        ('grid = [1, 8]\nunit = "uV"\n', r"recording\.toml: field 'sampling_rate_hz' missing"),
        ("sampling_rate_hz = 200\ngrid = [1, 8]\n", r"recording\.toml: field 'unit' missing"),
        (
            'sampling_rate_hz = 200\ngrid = [1, 8]\nunit = "counts"\n',
            r"recording\.toml: field 'adc_lsb' missing; unit = \"counts\"",
        ),
        (
            'sampling_rate = 200\ngrid = [1, 8]\nunit = "uV"\n',
            r"recording\.toml: unknown field\(s\) \['sampling_rate'\] for table data",
        ),
        (
            'sampling_rate_hz = 200\ngrid = [1, 8]\nunit = "furlongs"\n',
            r"recording\.toml: field 'unit' is 'furlongs'; expected one of uV, mV, V, counts",
        ),
        (
            'sampling_rate_hz = 200\ngrid = [8]\nunit = "uV"\n',
            r"recording\.toml: field 'grid' is \[8\]; expected \[rows, cols\]",
        ),
        (
            'sampling_rate_hz = 200\ngrid = [1, 8]\nunit = "uV"\nmasked = [8]\n',
            r"recording\.toml: field 'masked': channel\(s\) \[8\] outside 0\.\.7",
        ),
    ],
)
def test_bad_recording_toml(tmp_path: Path, text: str, match: str) -> None:
    _armband_csv(tmp_path, text)
    with pytest.raises(EdgekitError, match=match):
        load_recording(tmp_path, "table")


def test_missing_recording_toml(tmp_path: Path) -> None:
    write_table(tmp_path / "001-001-001.csv", np.zeros((10, 8)))
    with pytest.raises(EdgekitError, match=r"recording\.toml: not found; .*sampling_rate_hz, grid"):
        load_recording(tmp_path, "table")


def test_grid_that_does_not_match_the_columns(tmp_path: Path) -> None:
    _armband_csv(tmp_path, cols=9)
    with pytest.raises(
        EdgekitError,
        match=r"001-001-001\.csv: 9 EMG columns \(of 9\) but .*recording\.toml field 'grid' = "
        r"\[1, 8\] has 8 channels; set 'emg_columns'",
    ):
        load_recording(tmp_path, "table")


@pytest.mark.parametrize(
    "line, cell, match",
    [
        (
            3,
            "nan",
            r"001-001-001\.csv: 1 NaN/Inf cell\(s\), the first at line 3, column 2 \('ch1'\)",
        ),
        (4, "abc", r"001-001-001\.csv: line 4, column 2 \('ch1'\): 'abc' is not a number"),
        (5, "", r"001-001-001\.csv: line 5, column 2 \('ch1'\): '' is not a number"),
        (6, "1,2", r"001-001-001\.csv: line 6 has 9 cells; expected 8 like line 1"),
    ],
)
def test_bad_cells(tmp_path: Path, line: int, cell: str, match: str) -> None:
    path = _armband_csv(tmp_path)
    lines = path.read_text().splitlines()
    row = lines[line - 1].split(",")
    row[1] = cell
    lines[line - 1] = ",".join(row)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(EdgekitError, match=match):
        load_recording(tmp_path, "table")


def test_label_column_missing_from_header(tmp_path: Path) -> None:
    _armband_csv(
        tmp_path,
        'sampling_rate_hz = 200\ngrid = [1, 7]\nunit = "uV"\nlabel_column = "gesture"\n',
    )
    with pytest.raises(
        EdgekitError,
        match=r"recording\.toml: field 'label_column' = 'gesture' but .*001-001-001\.csv has "
        r"first row \['ch0'",
    ):
        load_recording(tmp_path, "table")


def test_label_naming_an_unknown_gesture(tmp_path: Path) -> None:
    toml(tmp_path, 'sampling_rate_hz = 200\ngrid = [1, 2]\nunit = "uV"\nlabel_column = 3\n')
    write_table(tmp_path / "a.csv", np.zeros((40, 2)), label=["fist"] * 40, label_at=2)
    with pytest.raises(
        EdgekitError,
        match=r"a\.csv: line 1, label column: gesture 'fist' is not in .*recording\.toml field "
        r"'gestures' \(known: none\); add `fist = <class number>` under \[gestures\]",
    ):
        load_recording(tmp_path, "table")


def test_sampling_rate_that_differs_between_files(tmp_path: Path) -> None:
    toml(tmp_path, f'grid = [1, 8]\nchannels = "EMG\\\\d"\n{GESTURES}')
    sig = np.zeros((8, 400), np.float32)
    lab = [f"EMG{j}" for j in range(8)]
    write_edf(tmp_path / "a.edf", sig, 200, lab, annotations=[(0.0, 1.0, "fist")])
    write_edf(tmp_path / "b.edf", sig, 400, lab, annotations=[(0.0, 1.0, "fist")])
    with pytest.raises(
        EdgekitError, match=r"b\.edf: sampling rate 400 Hz but .*a\.edf has 200 Hz; expected one"
    ):
        load_recording(tmp_path, "edf")


def test_sampling_rate_that_differs_from_recording_toml(tmp_path: Path) -> None:
    toml(tmp_path, f'grid = [1, 8]\nsampling_rate_hz = 250\nchannels = "EMG\\\\d"\n{GESTURES}')
    write_edf(tmp_path / "a.edf", np.zeros((8, 400)), 200, [f"EMG{j}" for j in range(8)])
    with pytest.raises(
        EdgekitError,
        match=r"a\.edf: sampling rate 200 Hz in the file header but .*recording\.toml field "
        r"'sampling_rate_hz' is 250",
    ):
        load_recording(tmp_path, "edf")


def test_annotation_naming_a_gesture_the_mapping_lacks(tmp_path: Path) -> None:
    toml(tmp_path, f'grid = [1, 8]\nchannels = "EMG\\\\d"\n{GESTURES}')
    ann = [(0.0, 0.5, "fist"), (0.5, 0.5, "wave")]
    write_edf(
        tmp_path / "a.edf", np.zeros((8, 400)), 200, [f"EMG{j}" for j in range(8)], annotations=ann
    )
    with pytest.raises(
        EdgekitError,
        match=r"a\.edf: annotation 'wave' at 0\.500 s: gesture 'wave' is not in .*recording\.toml "
        r"field 'gestures' \(known: rest = 0, .*\); add `wave = <class number>` under \[gestures\] "
        r"or list it in 'ignore_annotations'",
    ):
        load_recording(tmp_path, "edf")


def test_edf_whose_channels_match_no_pattern(tmp_path: Path) -> None:
    toml(tmp_path, f'grid = [1, 8]\nchannels = "EMG\\\\d+"\n{GESTURES}')
    write_edf(tmp_path / "a.edf", np.zeros((9, 400)), 200, [f"Fp{j}" for j in range(9)])
    with pytest.raises(
        EdgekitError,
        match=r"a\.edf: .*recording\.toml field 'channels' = 'EMG\\\\d\+' matches none of its 9 "
        r"channel labels \('Fp0', 'Fp1'",
    ):
        load_recording(tmp_path, "edf")
    toml(tmp_path, f"grid = [1, 8]\n{GESTURES}")  # no pattern: EMG by type, and none is
    with pytest.raises(EdgekitError, match=r"a\.edf: no channel is typed EMG .*'Fp0'"):
        load_recording(tmp_path, "edf")


def test_edf_annotation_past_the_end_and_overlapping(tmp_path: Path) -> None:
    toml(tmp_path, f'grid = [1, 8]\nchannels = "EMG\\\\d"\n{GESTURES}')
    lab = [f"EMG{j}" for j in range(8)]
    write_edf(tmp_path / "a.edf", np.zeros((8, 400)), 200, lab, annotations=[(1.5, 1.0, "fist")])
    with pytest.raises(
        EdgekitError,
        match=r"a\.edf: annotations reach past the end of the recording \(2\.000 s; MNE: Limited 1",
    ):
        load_recording(tmp_path, "edf")
    ann = [(0.0, 1.0, "fist"), (0.5, 1.0, "open")]
    write_edf(tmp_path / "a.edf", np.zeros((8, 400)), 200, lab, annotations=ann)
    with pytest.raises(EdgekitError, match=r"annotation 'open' at 0\.500 s: overlaps"):
        load_recording(tmp_path, "edf")


def test_edf_units_from_the_header_or_recording_toml(tmp_path: Path) -> None:
    """A header unit edgekit knows wins; a channel without one takes recording.toml's unit, and
    a recording.toml unit that contradicts the header is refused."""
    lab = [f"EMG{j}" for j in range(8)]
    sig = np.random.default_rng(2).normal(0, 1, (8, 400))
    head = f'grid = [1, 8]\nchannels = "EMG\\\\d"\n{GESTURES}'
    ann = [(0.0, 2.0, "fist")]
    q = write_edf(tmp_path / "a.edf", sig, 200, lab, unit="mV", annotations=ann)
    toml(tmp_path, head)
    (t,) = load_recording(tmp_path, "edf").trials
    np.testing.assert_allclose(t.signal, q * 1000, rtol=1e-6)
    toml(tmp_path, 'unit = "uV"\n' + head)
    with pytest.raises(
        EdgekitError, match=r"a\.edf: channel 'EMG0' has physical dimension 'mV' but .*'uV'"
    ):
        load_recording(tmp_path, "edf")
    q = write_edf(tmp_path / "a.edf", sig, 200, lab, unit="", annotations=ann)
    toml(tmp_path, head)
    with pytest.raises(
        EdgekitError,
        match=r"a\.edf: channel 'EMG0' has no physical dimension, not uV, mV or V; set 'unit'",
    ):
        load_recording(tmp_path, "edf")
    toml(tmp_path, 'unit = "mV"\n' + head)
    (t,) = load_recording(tmp_path, "edf").trials
    np.testing.assert_allclose(t.signal, q * 1000, rtol=1e-6)


def test_a_bad_dataset_leaves_no_run_behind(tmp_path: Path) -> None:
    _armband_csv(tmp_path / "data", cols=9)
    run = tmp_path / "run"
    code = main(["train", "--data", str(tmp_path / "data"), "--format", "table", "--run", str(run)])
    assert code != 0 and not run.exists()


# ------------------------------------------------------------------------------ rates and grids


def test_band_at_any_rate_and_what_the_chain_cannot_serve() -> None:
    assert FeatureConfig().band(200.0) == (20.0, 90.0)
    assert FeatureConfig().band(10000.0) == (20.0, 450.0)
    assert FeatureConfig(band_hz=(10, 90)).band(200.0) == (10.0, 90.0)
    with pytest.raises(
        EdgekitError,
        match=r"--band / features\.band_hz 20-100 Hz cannot be "
        r"served at 200 Hz: the high edge must be at most 0\.45 x .*\(90 Hz",
    ):
        FeatureConfig(band_hz=(20, 100)).band(200.0)
    with pytest.raises(EdgekitError, match=r"the default band 20-18 Hz cannot be served at 40 Hz"):
        FeatureConfig().band(40.0)


def test_model_meta_feature_chain_at_200_hz_and_a_band_above_it() -> None:
    """The on-device chain's constants come from the record at the data's rate; a record whose
    band the rate cannot serve stops the export with the reason."""
    model = build_model("mbv2", 0.2, 4, (1, 8))

    def record(band):
        return checkpoint.ModelRecord(
            arch="mbv2",
            width=0.2,
            num_classes=4,
            label_names=NAMES,
            features={"band_hz": band, "adc_lsb": 0.0625, "filter": "causal"},
            norm_mean=[0.0] * 8,
            norm_std=[1.0] * 8,
            channel_mask=[True] * 8,
            layout="table",
            grid=build_grid().to_dict(),
            state_dict=model.state_dict(),
            source={"data": {"fs": 200.0}},
        )

    text = "\n".join(carray.feature_chain_lines(record([20.0, 90.0]), 8))
    assert "#define EK_FEAT_HOP 10" in text and "#define EK_FEAT_BLOCKS 3" in text
    assert "band-pass 20-90 Hz (4 biquads)" in text
    fc = FeatureConfig(band_hz=(20, 90), adc_lsb=0.0625)
    want = fc.chain_spec(200.0).sos.ravel()
    got = re.search(r"EK_FEAT_SOS \{([^}]*)\}", text).group(1).split(",")
    assert np.array_equal(np.array([float(v.strip().rstrip("f")) for v in got], np.float32), want)
    with pytest.raises(EdgekitError, match=r"checkpoint\.features: .*20-120 Hz cannot be served"):
        carray.feature_chain_lines(record([20.0, 120.0]), 8)


def build_grid():
    from edgekit.data.grids import column_major

    return column_major(1, 8, name="1x8")


@pytest.mark.parametrize(
    "hw, final, says",
    [
        ((1, 8), (1, 2), "stride 2 at stage 3, 4 (a side of 1 stays 1 under stride 2)"),
        ((1, 16), (1, 2), "stride 2 at stage 3, 4, 6 (a side of 1"),
        ((2, 4), (2, 4), "no downsampling (a side would drop below 2)"),
        ((4, 4), (2, 2), "stride 2 at stage 3"),
        ((4, 8), (2, 4), "stride 2 at stage 3"),
    ],
)
def test_mbv2_serves_thin_grids_and_says_how(hw, final, says) -> None:
    strides, out = stride_plan(hw)
    assert out == final and all(s in (1, 2) for s in strides)  # square strides only (TFLite)
    assert says in describe_plan(hw)
    m = build_model("mbv2", 0.2, 4, hw).eval()
    x = torch.zeros(2, 1, *hw)
    assert m(x).shape == (2, 4) and m.features(x).shape[2:] == final


# ------------------------------------------------------------------------------ docs/data.md


def doc_tomls() -> list[str]:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "data.md").read_text()
    return re.findall(r"```toml\n(.*?)```", doc, re.S)


def test_docs_table_example_loads(tmp_path: Path) -> None:
    """docs/data.md's armband recording.toml, as written, on files of the form it shows."""
    text = next(t for t in doc_tomls() if "my-armband" in t)
    toml(tmp_path, text)
    names = ["rest", "fist", "open", "pinch", "wrist_flexion", "wrist_extension"]
    for k in (1, 2):
        s = gesture_session(8, 200, 6, 2, 0.5, 4, k)
        counts = np.round(s.signal / 0.25)
        t = np.arange(counts.shape[1])[:, None] / 200
        head = ["time_s", *[f"emg{i + 1}" for i in range(8)], "gesture"]
        lab = [names[g] for g in s.labels()]
        write_table(tmp_path / f"session{k}.csv", np.hstack([t, counts.T]), head, lab, 9, "%.6g")
    rec = load_recording(tmp_path, "table")
    assert rec.grid.name == "armband-8" and rec.grid.shape == (1, 8) and rec.adc_step == 0.25
    assert rec.label_names == names and len(rec.trials) == 24
    assert FeatureConfig().for_recording(rec).adc_lsb == 0.25  # the counts reach the device


def test_docs_bdf_example_loads(tmp_path: Path) -> None:
    """docs/data.md's Biosemi recording.toml, as written, on a BDF+ file with A1..B32, EXG1..8
    and Status channels."""
    text = next(t for t in doc_tomls() if "my-biosemi" in t)
    toml(tmp_path, text)
    names = ["rest", "index_flexion", "middle_flexion", "hand_close", "hand_open"]
    s = gesture_session(64, 2048, 5, 1, 0.3, 6)
    labels = [f"{b}{i + 1}" for b in "AB" for i in range(32)] + [f"EXG{i + 1}" for i in range(8)]
    sig = np.vstack([s.signal, np.zeros((9, s.signal.shape[1]), np.float32)])
    ann = [(0.0, 0.0, "Recording starts")]
    ann += [(a / 2048, (b - a) / 2048, names[g]) for a, b, g in s.segments]
    q = write_edf(tmp_path / "p01.bdf", sig, 2048, [*labels, "Status"], annotations=ann, bdf=True)
    rec = load_recording(tmp_path, "bdf")
    assert rec.grid.name == "biosemi-8x8" and rec.grid.masked == (49,)
    assert rec.extra["channels"]["names"][49] == "B18" and rec.label_names == names
    t = next(t for t in rec.trials if t.label == 3)
    a, b, _ = s.segments[3]
    np.testing.assert_allclose(t.signal, q[:64, a:b], rtol=1e-6, atol=1e-3)
