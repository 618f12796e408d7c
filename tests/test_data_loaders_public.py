"""CapgMyo (.mat, scipy) and Hyser (WFDB, written with the wfdb package) in their published layouts,
and the CSL `gestures` cell shapes real files have."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import wfdb

from edgekit.data import load_recording
from edgekit.errors import EdgekitError


def labelled(n_ch: int, n: int, scale: float, seed: int = 0) -> np.ndarray:
    """(n_ch, n): channel c has mean scale * (c + 1) plus small noise; its mean names it."""
    rng = np.random.default_rng(seed)
    return scale * (np.arange(1, n_ch + 1)[:, None] + 0.01 * rng.normal(size=(n_ch, n)))


# ----------------------------------------------------------------------------------- CapgMyo


def write_capg(
    root: Path,
    db: str,
    subject: int,
    gesture: int,
    trial: int,
    n: int = 1000,
    data: np.ndarray | None = None,
) -> Path:
    d = root / f"{db}-preprocessed-{subject:03d}"
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{subject:03d}-{gesture:03d}-{trial:03d}.mat"
    x = labelled(128, n, 1 / 200).T if data is None else data  # samples x 128, within [-1, 1]
    scipy.io.savemat(
        p,
        {
            "data": x,
            "gesture": np.array([[gesture]], dtype=np.uint8),
            "subject": np.array([[subject]], dtype=np.uint8),
            "trial": np.array([[trial]], dtype=np.uint8),
        },
    )
    return p


def test_capgmyo_dba_layout_grid_and_scale(tmp_path: Path) -> None:
    for g in (1, 2, 8):
        for t in (1, 2):
            write_capg(tmp_path, "dba", 1, g, t)
    write_capg(tmp_path, "dba", 2, 1, 1)
    write_capg(tmp_path, "dba", 1, 100, 1)  # an extra recording, not a gesture
    rec = load_recording(tmp_path, "capgmyo")
    assert rec.fs == 1000.0 and rec.label_names == ["gest1", "gest2", "gest8"]
    assert len(rec.trials) == 7 and len(rec.extra["skipped"]) == 1
    t = rec.trials[0]
    assert t.signal.shape == (128, 1000) and (t.subject, t.session, t.trial) == (1, 1, 0)
    ch = np.rint(t.signal.mean(axis=1) / 2500 * 200).astype(int) - 1  # back to channel ids (uV)
    assert (ch == np.arange(128)).all()
    g = rec.grid
    assert g.shape == (8, 16) and g.n_channels == 128 and not g.masked
    assert g.index()[3, 5] == 5 * 8 + 3 and len(g.blocks) == 8 and g.blocks[1] == (0, 2, 8, 2)


def test_capgmyo_dbb_subject_pairs_are_sessions(tmp_path: Path) -> None:
    for s in (1, 2, 3, 4):
        write_capg(tmp_path, "dbb", s, 5, 1)
    rec = load_recording(tmp_path, "capgmyo")
    assert sorted((t.subject, t.session) for t in rec.trials) == [(1, 1), (1, 2), (2, 1), (2, 2)]


def test_capgmyo_field_disagrees_with_name(tmp_path: Path) -> None:
    p = write_capg(tmp_path, "dbc", 3, 4, 2)
    m = scipy.io.loadmat(p)
    scipy.io.savemat(p, {"data": m["data"], "gesture": 5, "subject": 3, "trial": 2})
    with pytest.raises(
        EdgekitError, match=r"003-004-002\.mat: field 'gesture' is 5 but the file name says 4"
    ):
        load_recording(tmp_path, "capgmyo")


def test_capgmyo_wrong_channel_count(tmp_path: Path) -> None:
    write_capg(tmp_path, "dba", 1, 1, 1, data=np.zeros((1000, 64)))
    with pytest.raises(
        EdgekitError,
        match=r"001-001-001\.mat: field 'data': expected samples x 128, got "
        r"shape \(1000, 64\)",
    ):
        load_recording(tmp_path, "capgmyo")


def test_capgmyo_missing_variable_and_empty_root(tmp_path: Path) -> None:
    d = tmp_path / "dba-preprocessed-001"
    d.mkdir()
    scipy.io.savemat(d / "001-001-001.mat", {"data": np.zeros((10, 128))})
    with pytest.raises(
        EdgekitError, match=r"missing variable\(s\) \['gesture', 'subject', 'trial'\]"
    ):
        load_recording(tmp_path, "capgmyo")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EdgekitError, match=r"empty: no CapgMyo files found.*SSS-GGG-TTT\.mat"):
        load_recording(tmp_path / "empty", "capgmyo")


# ----------------------------------------------------------------------------------- Hyser


_RECORDS: dict[tuple[int, int, int], tuple[str, bytes]] = {}


def wfdb_record(n_sig: int, n: int, fs: int, tmp: Path) -> tuple[str, bytes]:
    """A record 'tmpl' written by wfdb.wrsamp (format 16, mV, channel c ~ 0.01 * (c + 1) mV):
    its header text and signal bytes, cached because wfdb takes seconds for 256 channels."""
    key = (n_sig, n, fs)
    if key not in _RECORDS:
        sig = labelled(n_sig, n, 0.01).T
        wfdb.wrsamp(
            "tmpl",
            fs=fs,
            units=["mV"] * n_sig,
            sig_name=[f"ch{i + 1}" for i in range(n_sig)],
            p_signal=sig,
            fmt=["16"] * n_sig,
            adc_gain=[10000.0] * n_sig,
            baseline=[0] * n_sig,
            write_dir=str(tmp),
        )
        _RECORDS[key] = ((tmp / "tmpl.hea").read_text(), (tmp / "tmpl.dat").read_bytes())
    return _RECORDS[key]


def write_hyser(
    root: Path,
    subject: int,
    session: int,
    labels: list[int],
    n_sig: int = 256,
    n: int = 512,
    fs: int = 2048,
    kind: str = "preprocess",
) -> Path:
    d = root / "pr_dataset" / f"subject{subject:02d}_session{session}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "label_dynamic.txt").write_text(",".join(str(x) for x in labels) + "\n")
    (root / "template").mkdir(exist_ok=True)
    hea, dat = wfdb_record(n_sig, n, fs, root / "template")
    for k in range(1, len(labels) + 1):
        name = f"dynamic_{kind}_sample{k}"  # the same record under each published name
        (d / f"{name}.hea").write_text(hea.replace("tmpl", name))
        (d / f"{name}.dat").write_bytes(dat)
    return d


def test_hyser_pr_layout_labels_grid_units(tmp_path: Path) -> None:
    write_hyser(tmp_path, 1, 1, [3, 1, 3])
    write_hyser(tmp_path, 1, 2, [1])
    rec = load_recording(tmp_path, "hyser")
    assert rec.fs == 2048.0 and rec.label_names == ["gest1", "gest3"]
    got = [(t.session, t.label, t.trial, Path(t.source).name) for t in rec.trials]
    assert got == [
        (1, 0, 0, "dynamic_preprocess_sample2.hea"),
        (1, 1, 0, "dynamic_preprocess_sample1.hea"),
        (1, 1, 1, "dynamic_preprocess_sample3.hea"),
        (2, 0, 0, "dynamic_preprocess_sample1.hea"),
    ]
    t = rec.trials[0]
    assert t.signal.shape == (256, 512)
    ch = np.rint(t.signal.mean(axis=1) / 10.0).astype(int) - 1  # 0.01 mV steps = 10 uV
    assert (ch == np.arange(256)).all()
    g = rec.grid
    assert g.shape == (8, 32) and g.n_channels == 256 and g.index()[2, 9] == 64 + 8 + 2


def test_hyser_wrong_channel_count(tmp_path: Path) -> None:
    write_hyser(tmp_path, 2, 1, [1], n_sig=128)
    with pytest.raises(
        EdgekitError,
        match=r"dynamic_preprocess_sample1\.hea: field 'n_sig' .* is 128; "
        r"expected 256",
    ):
        load_recording(tmp_path, "hyser")


def test_hyser_label_count_mismatch(tmp_path: Path) -> None:
    d = write_hyser(tmp_path, 1, 1, [1, 2])
    (d / "label_dynamic.txt").write_text("1,2,3\n")
    with pytest.raises(
        EdgekitError, match=r"label_dynamic\.txt: 3 labels but records .*K = \[1, 2\]"
    ):
        load_recording(tmp_path, "hyser")


def test_hyser_mixed_sampling_rates(tmp_path: Path) -> None:
    write_hyser(tmp_path, 1, 1, [1])
    write_hyser(tmp_path, 2, 1, [1], fs=1000)
    with pytest.raises(
        EdgekitError,
        match=r"subject02_session1/dynamic_preprocess_sample1\.hea: field 'fs' is "
        r"1000 Hz but .* 2048 Hz",
    ):
        load_recording(tmp_path, "hyser")


def test_hyser_broken_record(tmp_path: Path) -> None:
    d = write_hyser(tmp_path, 1, 1, [1])
    (d / "dynamic_preprocess_sample1.dat").write_bytes(b"\x00" * 10)
    with pytest.raises(
        EdgekitError, match=r"dynamic_preprocess_sample1\.hea: not a readable WFDB record"
    ):
        load_recording(tmp_path, "hyser")


# ----------------------------------------------------------------------------------- CSL cells


@pytest.mark.parametrize("shape", [(3, 1), (1, 3)])
def test_csl_cell_column_or_row_with_ragged_trials(tmp_path: Path, shape: tuple[int, int]) -> None:
    d = tmp_path / "subject2" / "session1"
    d.mkdir(parents=True)
    cell = np.empty(shape, dtype=object)
    lengths = [700, 512, 901]
    for i, n in enumerate(lengths):
        cell.flat[i] = labelled(192, n, 1.0, seed=i)
    scipy.io.savemat(d / "gest5.mat", {"gestures": cell})
    raw = scipy.io.loadmat(d / "gest5.mat")["gestures"]
    assert raw.shape == shape and raw.dtype == object
    rec = load_recording(tmp_path, "csl")
    assert [t.signal.shape[1] for t in rec.trials] == lengths and [t.trial for t in rec.trials] == [
        0,
        1,
        2,
    ]
    assert rec.grid.name == "csl-8x24"
