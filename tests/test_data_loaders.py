"""CSL-HDEMG and OT Bioelettronica loaders on .mat files written here with scipy in the real layouts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

import edgekit
from edgekit.data import FORMATS, channel_mask, grid_index, load_recording
from edgekit.data.features import FeatureConfig, Normalizer, extract, to_images
from edgekit.data.formats import register_format
from edgekit.errors import EdgekitError

FS = 2048


def cell(trials: list[np.ndarray]) -> np.ndarray:
    """A MATLAB cell array (n x 1) as scipy writes it: an object array."""
    c = np.empty((len(trials), 1), dtype=object)
    for i, t in enumerate(trials):
        c[i, 0] = t
    return c


def write_csl(
    root: Path, subject: int, session: int, gesture: int, trials: list[np.ndarray]
) -> Path:
    d = root / f"subject{subject}" / f"session{session}"
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"gest{gesture}.mat"
    scipy.io.savemat(p, {"gestures": cell(trials)})
    return p


def identity_signal(n: int = 1024, n_ch: int = 192) -> np.ndarray:
    """Channel ch carries a 100 Hz sine of amplitude ch + 1 (its RMS names its index)."""
    t = np.arange(n) / FS
    return (np.arange(1, n_ch + 1)[:, None] * np.sin(2 * np.pi * 100 * t)[None, :]).astype(
        np.float64
    )


# ----------------------------------------------------------------------------------- CSL


def test_csl_layout_subjects_sessions_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for sess in (1, 2):
        write_csl(tmp_path, 1, sess, 0, [rng.normal(size=(192, 600)) for _ in range(3)])
        write_csl(tmp_path, 1, sess, 3, [rng.normal(size=(192, 500 + i)) for i in range(2)])
        write_csl(tmp_path, 1, sess, 7, [rng.normal(size=(192, 700))])
    write_csl(tmp_path, 2, 1, 3, [rng.normal(size=(192, 400))])
    rec = load_recording(tmp_path, "csl")
    assert rec.layout == "csl" and rec.fs == 2048.0
    assert rec.label_names == ["idle", "gest3", "gest7"]  # any subset, contiguous ids
    assert len(rec.trials) == 2 * (3 + 2 + 1) + 1
    t = [t for t in rec.trials if t.session == 1 and t.subject == 1 and t.label == 1]
    assert [x.trial for x in t] == [0, 1] and [x.signal.shape[1] for x in t] == [500, 501]
    assert all(x.signal.dtype == np.float32 and x.signal.shape[0] == 192 for x in rec.trials)
    assert {x.subject for x in rec.trials} == {1, 2} and {x.session for x in rec.trials} == {1, 2}
    assert t[0].source.endswith("subject1/session1/gest3.mat")


def test_csl_grid_mapping_and_bipolar_mask(tmp_path: Path) -> None:
    write_csl(tmp_path, 1, 1, 0, [identity_signal()])
    rec = load_recording(tmp_path, "csl")
    fr = extract(rec, FeatureConfig(window_ms=100, hop_ms=50))
    img = to_images(fr.x, "csl")[0, 0]  # RMS = (ch + 1) / sqrt(2)
    ch = np.rint(img * np.sqrt(2)).astype(int) - 1
    # 1-based electrode 1 proximal, column 0; electrode 8 distal; electrode 9 next column.
    assert ch[0, 0] == 0 and ch[7, 0] == 7 and ch[0, 1] == 8 and ch[3, 23] == 8 * 23 + 3
    for r in range(8):
        for c in range(24):
            assert ch[r, c] == 8 * c + r  # row = ch % 8, column = ch // 8
    assert np.array_equal(grid_index("csl"), ch)
    mask = channel_mask("csl")
    assert mask.sum() == 168 and not mask[[7, 15, 191]].any() and mask[[0, 8, 190]].all()
    # The gap channels keep their pixel (row 7) but are zeroed after normalisation.
    norm = Normalizer.fit(fr.x, mask)
    im = to_images(norm.apply(fr.x), "csl")
    assert np.all(im[:, 0, 7, :] == 0) and np.any(im[:, 0, :7, :] != 0)
    assert norm.mean[7] == 0 and norm.std[7] == 1


def test_csl_single_numeric_trial_and_int16(tmp_path: Path) -> None:
    d = tmp_path / "subject1" / "session1"
    d.mkdir(parents=True)
    scipy.io.savemat(d / "gest0.mat", {"gestures": (identity_signal() * 10).astype(np.int16)})
    rec = load_recording(tmp_path / "subject1", "csl")
    assert len(rec.trials) == 1 and rec.trials[0].signal.dtype == np.float32


# ----------------------------------------------------------------------------------- OTB


def write_otb(
    path: Path,
    emg: np.ndarray,
    char_matrix: bool = False,
    fs: float = 2048.0,
    extra: dict | None = None,
    drop: str | None = None,
) -> Path:
    """An OT BioLab-style export: Data (samples x columns) with auxiliary columns interleaved."""
    n = emg.shape[1]
    cols, desc = [], []
    aux = {10: "AUX Acceleration X", 70: "Ramp", 130: "Buffer", 192: "AUX Load cell"}
    k = 0
    for j in range(192 + len(aux)):
        if j in aux:
            cols.append(np.linspace(0, 1, n))
            desc.append(aux[j])
        else:
            g, e = divmod(k, 64)
            cols.append(emg[k])
            desc.append(
                f"Multiple analog input ({g + 1}) - ELSCH064NM3 Grid {g + 1} - EMG channel {e + 1}"
            )
            k += 1
    data = np.stack(cols, axis=1)
    if char_matrix:
        description = np.array(desc)  # savemat writes a char matrix
    else:
        description = np.empty((len(desc), 1), dtype=object)  # a cell array of strings
        for i, s in enumerate(desc):
            description[i, 0] = s
    content = {"Data": data, "Description": description, "SamplingFrequency": np.array([[fs]])}
    content.update(extra or {})
    if drop:
        content.pop(drop)
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, content)
    return path


def test_otb_selects_emg_by_description_and_grid_order(tmp_path: Path) -> None:
    write_otb(tmp_path / "s01" / "001-001-001.mat", identity_signal())
    write_otb(tmp_path / "s01" / "001-001-002.mat", identity_signal(900), char_matrix=True)
    write_otb(tmp_path / "s01" / "session2" / "001-004-001.mat", identity_signal())
    rec = load_recording(tmp_path, "otb")
    assert rec.layout == "otb" and rec.fs == 2048.0 and rec.label_names == ["gest1", "gest4"]
    assert [(t.label, t.session, t.trial) for t in rec.trials] == [(0, 1, 0), (0, 1, 1), (1, 2, 0)]
    fr = extract(rec, FeatureConfig(window_ms=100, hop_ms=50))
    ch = np.rint(to_images(fr.x, "otb")[0, 0] * np.sqrt(2)).astype(int) - 1
    for g in range(3):  # grid g in columns 8g..8g+7, column-major inside a grid
        for k in range(64):
            assert ch[k % 8, 8 * g + k // 8] == 64 * g + k
    assert channel_mask("otb").all()


def test_otb_wrong_emg_count(tmp_path: Path) -> None:
    p = write_otb(tmp_path / "001-001-001.mat", identity_signal())
    m = scipy.io.loadmat(p)
    m2 = {
        "Data": m["Data"][:, :-3],
        "Description": m["Description"][:-3],
        "SamplingFrequency": 2048.0,
    }
    scipy.io.savemat(p, m2)
    with pytest.raises(
        EdgekitError, match=r"001-001-001\.mat.*Description.*expected 192 EMG columns.*found 189"
    ):
        load_recording(tmp_path, "otb")


@pytest.mark.parametrize("field", ["Data", "Description", "SamplingFrequency"])
def test_otb_missing_variable(tmp_path: Path, field: str) -> None:
    write_otb(tmp_path / "002-003-001.mat", identity_signal(), drop=field)
    with pytest.raises(EdgekitError, match=rf"002-003-001\.mat: missing variable.*'{field}'"):
        load_recording(tmp_path, "otb")


def test_otb_mixed_sampling_frequency(tmp_path: Path) -> None:
    write_otb(tmp_path / "001-001-001.mat", identity_signal())
    write_otb(tmp_path / "001-002-001.mat", identity_signal(), fs=1000.0)
    with pytest.raises(EdgekitError, match="SamplingFrequency"):
        load_recording(tmp_path, "otb")


# ------------------------------------------------------------------------------- bad input


def test_unknown_format_lists_known(tmp_path: Path) -> None:
    with pytest.raises(
        EdgekitError, match="unknown data format 'edf'; known formats: csl, otb, capgmyo, hyser$"
    ):
        load_recording(tmp_path, "edf")


def test_formats_register_where_defined() -> None:
    """Each loader registers itself in its own module; a fresh `import edgekit.data.formats`
    (the registry alone) already sees all of them, since the package imports every format."""
    assert list(FORMATS) == ["csl", "otb", "capgmyo", "hyser"]
    assert all(load.__module__ == f"edgekit.data.{name}" for name, load in FORMATS.items())
    with pytest.raises(ValueError, match="'csl' registered twice"):
        register_format("csl")(lambda root: None)
    code = "from edgekit.data.formats import FORMATS; print(','.join(FORMATS))"
    env = {**os.environ, "PYTHONPATH": str(Path(edgekit.__file__).parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "csl,otb,capgmyo,hyser"


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(EdgekitError, match="nowhere.*not found"):
        load_recording(tmp_path / "nowhere", "csl")


@pytest.mark.parametrize(
    "fmt,expected", [("csl", "subject<N>/session<M>/gest<G>.mat"), ("otb", "SSS-GGG-RRR.mat")]
)
def test_empty_directory(tmp_path: Path, fmt: str, expected: str) -> None:
    (tmp_path / "notes.txt").write_text("no data here")
    with pytest.raises(EdgekitError, match=f"no .* files found.*{expected}"):
        load_recording(tmp_path, fmt)


def test_unreadable_file(tmp_path: Path) -> None:
    d = tmp_path / "subject1" / "session1"
    d.mkdir(parents=True)
    (d / "gest0.mat").write_bytes(b"this is not a MATLAB file" * 10)
    with pytest.raises(EdgekitError, match=r"gest0\.mat: not a readable MATLAB \.mat file"):
        load_recording(tmp_path, "csl")


def test_csl_missing_gestures_variable(tmp_path: Path) -> None:
    d = tmp_path / "subject1" / "session1"
    d.mkdir(parents=True)
    scipy.io.savemat(d / "gest2.mat", {"emg": np.zeros((192, 10))})
    with pytest.raises(
        EdgekitError, match=r"gest2\.mat: missing variable.*'gestures'.*found \['emg'\]"
    ):
        load_recording(tmp_path, "csl")


def test_csl_wrong_channel_count(tmp_path: Path) -> None:
    write_csl(tmp_path, 1, 1, 1, [np.zeros((192, 50)), np.zeros((128, 50))])
    with pytest.raises(
        EdgekitError, match=r"gest1\.mat: gestures\{2\}: expected 192 channels.*\(128, 50\)"
    ):
        load_recording(tmp_path, "csl")


def test_csl_transposed_trial_hint(tmp_path: Path) -> None:
    write_csl(tmp_path, 1, 1, 1, [np.zeros((300, 192))])
    with pytest.raises(EdgekitError, match="transposed"):
        load_recording(tmp_path, "csl")


def test_nan_samples(tmp_path: Path) -> None:
    bad = np.zeros((192, 100))
    bad[5, 17] = np.nan
    write_csl(tmp_path, 1, 1, 4, [np.zeros((192, 100)), bad])
    with pytest.raises(EdgekitError, match=r"gest4\.mat: gestures\{2\}: 1 NaN/Inf samples"):
        load_recording(tmp_path, "csl")


def test_inf_samples_otb(tmp_path: Path) -> None:
    sig = identity_signal()
    sig[3, 3] = np.inf
    write_otb(tmp_path / "001-001-001.mat", sig)
    with pytest.raises(EdgekitError, match=r"001-001-001\.mat: .*NaN/Inf"):
        load_recording(tmp_path, "otb")


def test_trial_shorter_than_window(tmp_path: Path) -> None:
    write_csl(tmp_path, 1, 1, 0, [identity_signal(1024), identity_signal(200)])
    rec = load_recording(tmp_path, "csl")
    with pytest.raises(
        EdgekitError,
        match=r"gest0\.mat: trial 1 .*200 samples .* shorter than one feature "
        r"window of 306 samples \(150 ms\)",
    ):  # causal: 3 whole hops
        extract(rec, FeatureConfig())
