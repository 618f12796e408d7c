"""Native OTBiolab+ (.otb+) files through MNE-Python's read_raw_otb.

The test writes an .otb+ as MNE's reader (mne/io/otb/otb.py) expects it: a tar archive holding
`<name>.sig` (interleaved int16), `<name>.xml` (<Device> with <Adapter>/<Channel> entries whose
ID is the electrode code) and `patient.xml`. MNE 1.13.2, the newest release, has no
read_raw_otb; the tests that need it are skipped there and the clear error is tested instead.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from edgekit.data import load_recording
from edgekit.data.otb_columns import grid_from_columns
from edgekit.data.otb_native import channels_to_columns
from edgekit.errors import EdgekitError

try:
    import mne

    HAS_READER = hasattr(mne.io, "read_raw_otb")
except ImportError:
    HAS_READER = False

FS = 2048
GAIN = 150.0  # QUATTROCENTO adapters (MNE's conversion table)
VOLT_PER_LSB = 5.0 / 2**16 / GAIN


def write_otb_plus(path: Path, codes: list[str], n: int = 512, seed: int = 0) -> np.ndarray:
    """Write an .otb+ with one 64-channel adapter per grid plus a control adapter (ramp, buffer);
    returns the EMG in microvolts (n_emg, n) as the file stores it."""
    rng = np.random.default_rng(seed)
    n_emg = 64 * len(codes)
    n_chan = n_emg + 2
    ints = rng.integers(-2000, 2000, size=(n, n_chan), dtype=np.int16)
    adapters = []
    for g, code in enumerate(codes):
        chans = "".join(
            f'<Channel ID="{code}" Index="{i}" Gain="1" Prefix="MULTIPLE IN {g + 1}" '
            f'Muscle="muscle {g + 1}" />'
            for i in range(64)
        )
        adapters.append(
            f'<Adapter ID="AD1x64" Gain="{GAIN:g}" ChannelStartIndex="{64 * g}" '
            f'HighPassFilter="10" LowPassFilter="500">{chans}</Adapter>'
        )
    adapters.append(
        f'<Adapter ID="AdapterControl" Gain="1" ChannelStartIndex="{n_emg}" '
        'HighPassFilter="Unknown" LowPassFilter="Unknown">'
        '<Channel ID="Ramp" Index="0" Gain="1" /><Channel ID="Buffer" Index="1" Gain="1" />'
        "</Adapter>"
    )
    device = (
        f'<Device Name="QUATTROCENTO" SampleFrequency="{FS}" ad_bits="16" '
        f'DeviceTotalChannels="{n_chan}"><Channels>{"".join(adapters)}</Channels></Device>'
    )
    patient = (
        "<Patient><family_name>Doe</family_name><first_name>J</first_name>"
        "<weight>70</weight><height>175</height><sex>M</sex><birth_date>1990-01-02</birth_date>"
        f"<time>2024-05-06T10:11:12</time><duration>{n / FS}</duration><place>lab</place>"
        "</Patient>"
    )
    members = {
        "rec.sig": ints.tobytes(),
        "rec.xml": device.encode(),
        "patient.xml": patient.encode(),
    }
    with tarfile.open(path, "w") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return ints[:, :n_emg].T.astype(np.float64) * VOLT_PER_LSB * 1e6


def test_mne_channel_names_map_to_grids(tmp_path: Path) -> None:
    # MNE names repeated channel IDs <ID>_<i> across the whole file, ramp/buffer typed stim
    names = [f"GR08MM1305_{i}" for i in range(128)] + ["Ramp", "Buffer"]
    types = ["emg"] * 128 + ["stim", "stim"]
    cols = channels_to_columns(names, types, tmp_path / "x.otb+")
    kept, grid = grid_from_columns(cols, tmp_path / "x.otb+", "channel names")
    assert [c.index for c in kept] == list(range(128))
    assert (grid.rows, grid.cols, grid.n_channels) == (13, 10, 128)
    assert [c.k for c in kept[62:66]] == [63, 64, 1, 2]
    assert [c.why for c in cols[128:]] == ["MNE channel type 'stim', not EMG"] * 2


def test_mne_unknown_electrode_name(tmp_path: Path) -> None:
    with pytest.raises(
        EdgekitError, match=r"x\.otb\+: channel 1 name 'QQ01_0': unknown .*'QQ01'.*electrodes\.py"
    ):
        channels_to_columns(["QQ01_0"], ["emg"], tmp_path / "x.otb+")


@pytest.mark.skipif(HAS_READER, reason="this MNE has read_raw_otb")
def test_without_mne_reader_the_error_says_what_to_do(tmp_path: Path) -> None:
    write_otb_plus(tmp_path / "001-001-001.otb+", ["GR08MM1305"])
    with pytest.raises(
        EdgekitError,
        match=r"001-001-001\.otb\+: .*mne\.io\.read_raw_otb.*export the "
        r"recording from OTBiolab\+ to MATLAB",
    ):
        load_recording(tmp_path, "otb")


@pytest.mark.skipif(not HAS_READER, reason="the installed MNE has no mne.io.read_raw_otb")
def test_otb_plus_through_mne(tmp_path: Path) -> None:
    emg = write_otb_plus(tmp_path / "001-002-001.otb+", ["GR08MM1305", "GR08MM1305"])
    rec = load_recording(tmp_path, "otb")
    (t,) = rec.trials
    assert rec.fs == FS and rec.grid.shape == (13, 10) and t.signal.shape == (128, 512)
    np.testing.assert_allclose(t.signal, emg, rtol=1e-5, atol=1e-3)
    assert len(rec.extra["columns"]["dropped"]) == 2


@pytest.mark.skipif(not HAS_READER, reason="the installed MNE has no mne.io.read_raw_otb")
def test_unreadable_otb_plus(tmp_path: Path) -> None:
    (tmp_path / "001-001-001.otb+").write_bytes(b"not a tar archive" * 20)
    with pytest.raises(
        EdgekitError, match=r"001-001-001\.otb\+: MNE could not read this OTBiolab\+ file"
    ):
        load_recording(tmp_path, "otb")
