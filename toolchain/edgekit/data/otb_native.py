"""Native OTBiolab+ files (.otb+, .otb4) read with MNE-Python's `mne.io.read_raw_otb`.

An .otb+ is a tar archive: the samples as interleaved int16 in `<name>.sig`, the device and
adapter description in `<name>.xml` (a <Device> with <Adapter>s holding one <Channel> per input,
whose ID is the electrode code, e.g. GR08MM1305) and `patient.xml`; .otb4 keeps its description in
DeviceParameters.xml and Tracks_000.xml. edgekit does not parse these itself: MNE's reader turns
them into channels with names, types and calibration (volts). It names a grid's channels
`<code>_<i>` (i counting every channel with that ID across the file) and types them emg, or
stim / misc / chpi for ramp, buffer, load cell, AUX and quaternion inputs.

Mapping: EMG-typed channels are grouped by electrode code in file order; each run of a code's
channel count is one grid, its i-th channel electrode i+1 (electrodes.grid_for), the grids placed
side by side as for .mat exports. Other channel types are dropped and reported.

`read_raw_otb` is not in a released MNE-Python: it was proposed in pull request
mne-tools/mne-python#13303 (mne/io/otb/otb.py), and MNE 1.13.2, the newest release on PyPI, does
not have it. So edgekit does not pin MNE; a native file then stops with a message saying to
install an MNE that has the reader or to export the recording to .mat from OTBiolab+ (otb.py
reads those). The tests write an .otb+ in the layout that reader expects; the ones that need the
reader are skipped until one is installed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import EdgekitError
from ._matio import as_signal
from .electrodes import ELECTRODES, known_codes
from .otb_columns import Column, OtbFile, column_report, grid_from_columns

_NAME_RE = re.compile(r"^(?P<code>[A-Za-z0-9]+?)(?:_(?P<i>\d+))?$")
EXPORT_HINT = (
    "or export the recording from OTBiolab+ to MATLAB (.mat), which edgekit reads without MNE"
)


def _reader(path: Path):
    try:
        import mne
    except ImportError:
        raise EdgekitError(
            f"{path}: reading native OTBiolab+ files needs MNE-Python with "
            f"mne.io.read_raw_otb (pip install mne); {EXPORT_HINT}"
        ) from None
    reader = getattr(mne.io, "read_raw_otb", None)
    if reader is None:
        raise EdgekitError(
            f"{path}: the installed MNE-Python {mne.__version__} has no "
            "mne.io.read_raw_otb (expected an MNE release that includes the OTB "
            f"reader); {EXPORT_HINT}"
        )
    return reader


def channels_to_columns(names: list[str], types: list[str], path: Path) -> list[Column]:
    """MNE channel names and types -> Columns with electrode code and channel number k."""
    cols: list[Column] = []
    run: dict[str, int] = {}  # code -> channels seen so far
    for i, (name, kind) in enumerate(zip(names, types, strict=True)):
        if kind != "emg":
            cols.append(Column(i, name, "dropped", f"MNE channel type {kind!r}, not EMG"))
            continue
        m = _NAME_RE.match(name)
        code = m["code"].upper() if m else name
        if code not in ELECTRODES:
            raise EdgekitError(
                f"{path}: channel {i + 1} name {name!r}: unknown OT Bioelettronica "
                f"electrode code {code!r}; known: {', '.join(known_codes())}. To add "
                "one, append an Electrode(...) line to ELECTRODES in "
                "toolchain/edgekit/data/electrodes.py"
            )
        seen = run.get(code, 0)
        run[code] = seen + 1
        n = ELECTRODES[code].n_channels
        grid_no, k = divmod(seen, n)
        cols.append(Column(i, name, "emg", code=code, k=k + 1, head=f"{code} #{grid_no + 1}"))
    return cols


def read_native(path: Path) -> OtbFile:
    reader = _reader(path)
    try:
        raw = reader(str(path), verbose="error")
        data = raw.get_data()  # volts, MNE's calibration applied
    except Exception as e:  # MNE raises many types for archives it cannot parse
        raise EdgekitError(
            f"{path}: MNE could not read this OTBiolab+ file ({type(e).__name__}: "
            f"{e}); expected an .otb+/.otb4 tar archive as OTBiolab+ writes it, "
            f"{EXPORT_HINT}"
        ) from None
    cols = channels_to_columns(list(raw.ch_names), list(raw.get_channel_types()), path)
    if not any(c.kind == "emg" for c in cols):
        raise EdgekitError(
            f"{path}: no EMG channel among {len(cols)} channels "
            f"({raw.ch_names[:4]}); expected channels named by electrode code"
        )
    kept, grid = grid_from_columns(cols, path, "channel names")
    sig = as_signal(
        np.asarray(data)[[c.index for c in kept]] * 1e6, path, "EMG channels", grid.n_channels
    )
    return OtbFile(sig, float(raw.info["sfreq"]), grid, column_report(cols, kept))
