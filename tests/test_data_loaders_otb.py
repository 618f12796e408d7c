"""OTBiolab+ .mat exports as OTBiolab+ writes them (write_otb_mat, scipy), the electrode table and
the manifest: EMG columns chosen by electrode code and unit, grids from the table, clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.signal

from edgekit.data import load_recording
from edgekit.data.electrodes import ELECTRODES, grid_for, known_codes
from edgekit.data.grids import column_major
from edgekit.data.otb_write import write_otb_mat
from edgekit.errors import EdgekitError

FS = 2048


def labelled(n_ch: int, n: int = 600, seed: int = 0) -> np.ndarray:
    """Noise whose channel c has a constant offset of 10 * (c + 1) uV: the mean names the channel."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_ch, n)) + 10.0 * np.arange(1, n_ch + 1)[:, None]


def resave(path: Path, mat: dict) -> None:
    scipy.io.savemat(path, {k: v for k, v in mat.items() if not k.startswith("__")})


def channel_ids(sig: np.ndarray) -> np.ndarray:
    return np.rint(sig.mean(axis=1) / 10.0).astype(int) - 1


# ------------------------------------------------------------------------- electrode table


def test_gr08mm1305_matches_openhdemg_map() -> None:
    # openhdemg's GR08MM1305 map at orientation 180 (1-based, 0 = no electrode), rows top-down
    ref = [[0, 25, 26, 51, 52]] + [[r, 25 - r, 26 + r, 51 - r, 52 + r] for r in range(1, 13)]
    gi = grid_for("GR08MM1305").index()
    assert gi.shape == (13, 5) and (gi + 1 == np.asarray(ref)).all()
    g = grid_for("GR10MM0808").index()  # channel 1 bottom-left, 8 per column going up
    assert g[7, 0] == 0 and g[0, 0] == 7 and g[7, 1] == 8 and g[0, 7] == 63


@pytest.mark.parametrize("code", sorted(ELECTRODES))
def test_every_table_entry_is_a_valid_grid(code: str) -> None:
    g = grid_for(code)
    e = ELECTRODES[code]
    assert (g.rows, g.cols, g.n_channels) == (e.rows, e.cols, e.rows * e.cols - len(e.empty))
    assert [(r, c) for r, c in zip(*np.nonzero(g.index() < 0), strict=True)] == list(e.empty)


def test_unknown_code_lists_known_and_how_to_add() -> None:
    with pytest.raises(EdgekitError, match=r"unknown .*'XX99MM0101'.*GR08MM1305.*electrodes\.py"):
        grid_for("XX99MM0101")


# ------------------------------------------------------------------------- .mat exports


def test_wrapped_export_two_13x5_grids_with_aux_input_names(tmp_path: Path) -> None:
    emg = labelled(128)
    desc = write_otb_mat(
        tmp_path / "001-002-001.mat",
        emg,
        FS,
        ["GR08MM1305", "GR08MM1305"],
        inputs=["AUX 3", "MULTIPLE IN 2"],
        muscles=["Vastus Lateralis", "Biceps"],
        aux=["acceleration", "force", "ramp", "buffer", "trigger", "quaternion"],
        n_decomposed=3,
        reference=True,
    )
    assert "Vastus Lateralis - AUX 3 (Channel 1->64) - GR08MM1305 (1)[uV]" in desc
    m = scipy.io.loadmat(tmp_path / "001-002-001.mat")
    assert m["Data"].dtype == object and m["Data"].shape == (1, 1)  # the real wrapped layout
    rec = load_recording(tmp_path, "otb")
    (t,) = rec.trials
    assert t.signal.shape == (128, 600) and t.signal.dtype == np.float32
    assert (channel_ids(t.signal) == np.arange(128)).all()  # file order = channel order
    np.testing.assert_allclose(t.signal, emg, rtol=1e-5)
    g = rec.grid
    assert (g.rows, g.cols, g.n_channels) == (13, 10, 128)
    assert g.blocks == ((0, 0, 13, 5), (0, 5, 13, 5))
    assert g.index()[0, 0] == -1 and g.index()[0, 5] == -1 and g.index()[1, 5] == 64
    cols = rec.extra["columns"]
    assert len(cols["kept"]) == 128 and cols["files"] == 1
    why = {d["description"]: d["why"] for d in cols["dropped"]}
    assert len(why) == 6 + 2 * 3 + 2 + 1
    assert why["acquired data[ %(MVC)]"].startswith("reference")
    assert why["Ramp[]"].startswith("auxiliary") and why[
        "Load cell - AUX IN 2 (Channel 1->1)[kg]"
    ].startswith("auxiliary")
    assert sum(w.startswith("decomposition") for w in why.values()) == 8


def test_plain_export_8x8_millivolts_char_description(tmp_path: Path) -> None:
    emg = labelled(64, 400)
    write_otb_mat(
        tmp_path / "s" / "session2" / "003-000-001.mat",
        emg,
        2000,
        ["GR10MM0808"],
        wrapped=False,
        unit="mV",
        char_description=True,
        reference=True,
    )
    m = scipy.io.loadmat(tmp_path / "s" / "session2" / "003-000-001.mat")
    assert m["Data"].dtype == np.float32 and m["Description"].dtype.kind == "U"
    rec = load_recording(tmp_path, "otb")
    (t,) = rec.trials
    assert rec.fs == 2000.0 and rec.label_names == ["idle"] and (t.subject, t.session) == (3, 2)
    np.testing.assert_allclose(t.signal, emg, rtol=1e-4)  # stored in mV, read back in uV
    assert rec.grid.shape == (8, 8) and rec.grid.name == "GR10MM0808"


def test_single_13x5_grid_geometry_and_images(tmp_path: Path) -> None:
    write_otb_mat(tmp_path / "001-001-001.mat", labelled(64), FS, ["HD04MM1305"])
    rec = load_recording(tmp_path / "001-001-001.mat", "otb")
    img = rec.grid.to_images(channel_ids(rec.trials[0].signal)[None, :].astype(float) + 1)[0, 0]
    assert img[0, 0] == 0  # the empty corner stays 0
    assert img[12, 0] == 12 and img[12, 1] == 13 and img[0, 1] == 25 and img[0, 4] == 52


def test_legacy_192_column_export_still_loads(tmp_path: Path) -> None:
    desc = [f"EMG channel {i + 1}" for i in range(192)] + ["AUX Acceleration X"]
    data = np.concatenate([labelled(192, 300), np.zeros((1, 300))]).T
    c = np.empty((193, 1), dtype=object)
    for i, s in enumerate(desc):
        c[i, 0] = s
    scipy.io.savemat(
        tmp_path / "001-001-001.mat", {"Data": data, "Description": c, "SamplingFrequency": 2048.0}
    )
    rec = load_recording(tmp_path, "otb")
    assert rec.grid.name == "otb-3x8x8" and rec.trials[0].signal.shape == (192, 300)


# ------------------------------------------------------------------------- bad input


def test_unknown_code_in_file(tmp_path: Path) -> None:
    write_otb_mat(tmp_path / "001-001-001.mat", labelled(64), FS, ["GR08MM1305"])
    m = scipy.io.loadmat(tmp_path / "001-001-001.mat")
    d = m["Description"]
    for i in range(64):
        d[i, 0] = np.array([str(d[i, 0][0]).replace("GR08MM1305", "ZZ12MM0606")])
    resave(tmp_path / "001-001-001.mat", m)
    with pytest.raises(
        EdgekitError,
        match=r"001-001-001\.mat: field 'Description' column 1 .*unknown "
        r".*'ZZ12MM0606'; known: .*HD10MM0808.*electrodes\.py",
    ):
        load_recording(tmp_path, "otb")


def test_no_recognisable_emg_column(tmp_path: Path) -> None:
    c = np.empty((2, 1), dtype=object)
    c[0, 0], c[1, 0] = "acquired data[ %(MVC)]", "Ramp[]"
    scipy.io.savemat(
        tmp_path / "001-001-001.mat",
        {"Data": np.zeros((50, 2)), "Description": c, "SamplingFrequency": 2048},
    )
    with pytest.raises(
        EdgekitError,
        match=r"001-001-001\.mat: field 'Description': no recognisable EMG "
        r"column among 2 columns.*GR08MM1305 \(1\)\[uV\]",
    ):
        load_recording(tmp_path, "otb")


def test_incomplete_grid(tmp_path: Path) -> None:
    write_otb_mat(tmp_path / "001-001-001.mat", labelled(64), FS, ["GR08MM1305"])
    m = scipy.io.loadmat(tmp_path / "001-001-001.mat")
    m["Data"][0, 0] = m["Data"][0, 0][:, 1:]
    m["Description"] = m["Description"][1:]
    resave(tmp_path / "001-001-001.mat", m)
    with pytest.raises(
        EdgekitError,
        match=r"grid '.*GR08MM1305' has 63 EMG columns; expected channels "
        r"1\.\.64 once each \(missing \[1\]",
    ):
        load_recording(tmp_path, "otb")


def test_grids_of_different_heights_in_one_file(tmp_path: Path) -> None:
    write_otb_mat(tmp_path / "001-001-001.mat", labelled(128), FS, ["GR08MM1305", "GR10MM0808"])
    with pytest.raises(
        EdgekitError, match=r"GR08MM1305 13x5, GR10MM0808 8x8 have different numbers of rows"
    ):
        load_recording(tmp_path, "otb")


def test_mixed_grids_across_files(tmp_path: Path) -> None:
    write_otb_mat(tmp_path / "001-001-001.mat", labelled(64), FS, ["GR08MM1305"])
    write_otb_mat(tmp_path / "001-002-001.mat", labelled(64), FS, ["GR10MM0808"])
    with pytest.raises(
        EdgekitError,
        match=r"001-002-001\.mat: field 'Description': electrode grid "
        r"GR10MM0808 .*001-001-001\.mat has GR08MM1305.*one grid",
    ):
        load_recording(tmp_path, "otb")


def test_mixed_sampling_rates_across_files(tmp_path: Path) -> None:
    write_otb_mat(tmp_path / "001-001-001.mat", labelled(64), FS, ["GR08MM1305"])
    write_otb_mat(tmp_path / "001-002-001.mat", labelled(64), 1000, ["GR08MM1305"])
    with pytest.raises(
        EdgekitError,
        match=r"001-002-001\.mat: field 'SamplingFrequency' is 1000 Hz but "
        r".*2048 Hz",
    ):
        load_recording(tmp_path, "otb")


def test_data_cell_of_wrong_shape(tmp_path: Path) -> None:
    write_otb_mat(tmp_path / "001-001-001.mat", labelled(64), FS, ["GR08MM1305"])
    m = scipy.io.loadmat(tmp_path / "001-001-001.mat")
    c = np.empty((1, 2), dtype=object)
    c[0, 0] = c[0, 1] = m["Data"][0, 0]
    m["Data"] = c
    resave(tmp_path / "001-001-001.mat", m)
    with pytest.raises(
        EdgekitError, match=r"field 'Data': expected a numeric matrix or a 1 x 1 cell"
    ):
        load_recording(tmp_path, "otb")


# ------------------------------------------------------------------------- names and manifests


def test_other_names_say_how_to_name_or_list(tmp_path: Path) -> None:
    write_otb_mat(tmp_path / "biceps_fist_1.mat", labelled(64), FS, ["GR08MM1305"])
    with pytest.raises(
        EdgekitError,
        match=r"no OT Bioelettronica files found.*found 1 with other names, "
        r"e\.g\. \['biceps_fist_1\.mat'\].*SSS-GGG-RRR\.mat.*manifest\.csv",
    ):
        load_recording(tmp_path, "otb")


def test_csv_manifest(tmp_path: Path) -> None:
    for name in ("a.mat", "b.mat", "c.mat"):
        write_otb_mat(tmp_path / "emg" / name, labelled(64, 300), FS, ["GR08MM1305"])
    (tmp_path / "manifest.csv").write_text(
        "file,subject,session,gesture,repetition\n"
        "emg/a.mat,4,1,7,1\nemg/b.mat,4,2,7,1\nemg/c.mat,5,,2,\n"
    )
    rec = load_recording(tmp_path, "otb")
    assert rec.label_names == ["gest2", "gest7"]
    got = sorted((Path(t.source).name, t.subject, t.session, t.label) for t in rec.trials)
    assert got == [("a.mat", 4, 1, 1), ("b.mat", 4, 2, 1), ("c.mat", 5, 1, 0)]


def test_toml_manifest_given_directly(tmp_path: Path) -> None:
    write_otb_mat(tmp_path / "x.mat", labelled(64, 300), FS, ["GR08MM1305"])
    write_otb_mat(tmp_path / "y.mat", labelled(64, 300), FS, ["GR08MM1305"])
    (tmp_path / "list.toml").write_text(
        '[[recording]]\nfile = "x.mat"\nsubject = 1\ngesture = 3\n'
        '[[recording]]\nfile = "y.mat"\nsubject = 1\ngesture = 3\n'
        "repetition = 2\n"
    )
    rec = load_recording(tmp_path / "list.toml", "otb")
    assert [t.trial for t in rec.trials] == [0, 1] and rec.label_names == ["gest3"]


def test_manifest_bad_field(tmp_path: Path) -> None:
    write_otb_mat(tmp_path / "x.mat", labelled(64, 300), FS, ["GR08MM1305"])
    (tmp_path / "manifest.csv").write_text("file,subject,gesture\nx.mat,one,3\n")
    with pytest.raises(
        EdgekitError, match=r"manifest\.csv: line 2: field 'subject' is 'one'; expected an integer"
    ):
        load_recording(tmp_path, "otb")
    (tmp_path / "manifest.csv").write_text("file,subject,gesture\nmissing.mat,1,3\n")
    with pytest.raises(
        EdgekitError, match=r"manifest\.csv: line 2: field 'file': .*missing\.mat not found"
    ):
        load_recording(tmp_path, "otb")


# ------------------------------------------------------------------------- a real export


@pytest.mark.skipif(
    not os.environ.get("EDGEKIT_OTB_SAMPLE"),
    reason="set EDGEKIT_OTB_SAMPLE to a real OTBiolab+ .mat export of one GR08MM1305 "
    "(e.g. otb_testfile.mat from the openhdemg wheel)",
)
def test_real_otbiolab_export(tmp_path: Path) -> None:
    (tmp_path / "001-001-001.mat").symlink_to(Path(os.environ["EDGEKIT_OTB_SAMPLE"]).resolve())
    rec = load_recording(tmp_path, "otb")
    assert rec.grid.name == "GR08MM1305" and rec.trials[0].signal.shape[0] == 64
    assert len(rec.extra["columns"]["kept"]) == 64
    assert all("GR08MM1305" in d and d.endswith("[uV]") for d in rec.extra["columns"]["kept"])
    # the table's channel order puts correlated (adjacent) electrodes next to each other: the
    # mean correlation of horizontally adjacent pixels beats a plain column-major reading
    b, a = scipy.signal.butter(4, [20 / (rec.fs / 2), 450 / (rec.fs / 2)], "band")
    corr = np.corrcoef(scipy.signal.filtfilt(b, a, rec.trials[0].signal.astype(np.float64), axis=1))

    def adjacent(gi: np.ndarray) -> float:
        pairs = [
            (gi[r, c], gi[r, c + 1])
            for r in range(gi.shape[0])
            for c in range(gi.shape[1] - 1)
            if gi[r, c] >= 0 and gi[r, c + 1] >= 0
        ]
        return float(np.mean([corr[p, q] for p, q in pairs]))

    table, plain = adjacent(rec.grid.index()), adjacent(column_major(13, 5, empty=[(0, 0)]).index())
    print(
        f"adjacent-electrode correlation: table order {table:.3f}, plain column-major {plain:.3f}"
    )
    assert table > plain + 0.1


def test_known_codes_sorted() -> None:
    assert known_codes() == sorted(known_codes()) and "ELSCH064NM2" in known_codes()
