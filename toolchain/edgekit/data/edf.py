"""EDF / EDF+ (`--format edf`) and BDF / BDF+ (`--format bdf`, Biosemi's 24-bit EDF) files, read
with MNE-Python (`mne.io.read_raw_edf` / `read_raw_bdf`) and described by the recording.toml in
the dataset root (rig.py).

Channels. With `channels` (a regular expression) in recording.toml, the channels whose header
label matches it in full are the EMG, in file order; without it, the channels typed EMG by the
EDF+ label convention ("EMG 1", "EMG Flexor"; MNE's infer_types). They must number the grid's
channels. Samples are scaled to microvolts from each channel's physical dimension (uV, µV, mV,
V); a channel whose header gives another (or none) takes recording.toml's `unit`. The sampling
rate is the file's; `sampling_rate_hz`, when given, must match it, and so must every other file.

Labels. If a manifest (manifest.csv / manifest.toml, manifest.py) gives each file a gesture, each
file is one trial. Otherwise each file is one continuous session (manifest rows without gesture,
subject<N>/session<M> folders, or the files' order) labelled by its EDF+/BDF+ annotations: each
annotation (onset, duration, text) is one trial, the text a gesture name mapped to its class
number by [gestures] in recording.toml (or a class number itself). Texts listed in
`ignore_annotations` are skipped; any other unknown text is an error, as are annotations of zero
duration, past the end of the recording, or overlapping another.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from ..errors import EdgekitError
from .formats import register_format
from .manifest import Entry, find_entries
from .recording import Recording
from .rig import TO_MICROVOLT, FileData, Rig, build_recording, check_channels, read_rig

READERS = {"edf": "read_raw_edf", "bdf": "read_raw_bdf"}


@register_format("edf")
def load_edf(root: Path) -> Recording:
    return _load(Path(root), "edf")


@register_format("bdf")
def load_bdf(root: Path) -> Recording:
    return _load(Path(root), "bdf")


def _load(root: Path, fmt: str) -> Recording:
    rig = read_rig(root, "edf")
    base = root.parent if root.name == rig.path.name else root
    entries = find_entries(base, (f".{fmt}",), fmt.upper(), gesture_optional=True)
    return build_recording(base, fmt, rig, entries, lambda e: read_file(e, rig, fmt))


def _reader(path: Path, fmt: str):
    try:
        import mne
    except ImportError:
        raise EdgekitError(
            f"{path}: reading {fmt.upper()} files needs MNE-Python (pip install -c "
            "constraints.txt mne; `make setup` installs it)"
        ) from None
    return getattr(mne.io, READERS[fmt])


def read_file(e: Entry, rig: Rig, fmt: str) -> FileData:
    """One EDF/BDF file -> its EMG channels in microvolts (+ annotated segments)."""
    path = e.path
    read = _reader(path, fmt)
    # MNE crops annotations reaching past the data, saying so only in a warning: keep them
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        try:  # the labels' "EMG " prefix types a channel (and is dropped from its name)
            raw = read(
                str(path), preload=False, infer_types=rig.channels is None, verbose="warning"
            )
        except Exception as ex:  # MNE raises many types for a broken header or data
            raise EdgekitError(
                f"{path}: MNE could not read this {fmt.upper()} file ({type(ex).__name__}: {ex})"
            ) from None
    cropped = [str(w.message) for w in said if "annotation(s) that were" in str(w.message)]
    if cropped and e.gesture is None:
        raise EdgekitError(
            f"{path}: annotations reach past the end of the recording "
            f"({raw.n_times / raw.info['sfreq']:.3f} s; MNE: {cropped[0]}); expected every "
            "gesture annotation inside the recorded data"
        )
    names = list(raw.ch_names)
    picks = _pick(raw, rig, path, fmt)
    check_channels(
        rig,
        len(picks),
        path,
        "EMG channels",
        "change 'channels' (the pattern the EMG labels match) or fix 'grid'",
    )
    fs = float(raw.info["sfreq"])
    if rig.fs is not None and abs(rig.fs - fs) > 1e-6 * fs:
        raise EdgekitError(
            f"{path}: sampling rate {fs:g} Hz in the file header but {rig.path} field "
            f"'sampling_rate_hz' is {rig.fs:g}"
        )
    _same_rate(raw, picks, path)
    scale = np.array([_to_microvolt(raw, names[i], rig, path) for i in picks])
    data = raw.get_data(picks=picks)  # volts for uV / mV / V channels, else the header's units
    sig = np.ascontiguousarray((data * scale[:, None]).astype(np.float32))
    if not np.isfinite(sig).all():
        raise EdgekitError(f"{path}: NaN/Inf samples after scaling; expected finite values")
    segments = None if e.gesture is not None else _annotated(raw, rig, path, fs, sig.shape[1])
    return FileData(sig, fs, [names[i] for i in picks], segments)


def _pick(raw, rig: Rig, path: Path, fmt: str) -> list[int]:
    names = list(raw.ch_names)
    if rig.channels is not None:
        pat = re.compile(rig.channels)
        picks = [i for i, n in enumerate(names) if pat.fullmatch(n)]
        how = f"{rig.path} field 'channels' = {rig.channels!r} matches none of"
    else:
        picks = [i for i, t in enumerate(raw.get_channel_types()) if t == "emg"]
        how = (
            f"no channel is typed EMG (a label like 'EMG 1'; {rig.path} has no 'channels' "
            "pattern) among"
        )
    if not picks:
        shown = ", ".join(repr(n) for n in names[:12]) + (" ..." if len(names) > 12 else "")
        raise EdgekitError(
            f"{path}: {how} its {len(names)} channel labels ({shown}); set 'channels' in "
            f"recording.toml to a regular expression the EMG labels match in full"
        )
    return picks


def _same_rate(raw, picks: list[int], path: Path) -> None:
    """MNE upsamples channels recorded at a lower rate to the file's highest; EMG must not be."""
    extras = getattr(raw, "_raw_extras", [{}])[0]
    n_samps, sel = extras.get("n_samps"), extras.get("sel")
    if n_samps is None or sel is None:
        return
    per_record = {int(n_samps[sel[i]]) for i in picks}
    if len(per_record) > 1:
        raise EdgekitError(
            f"{path}: the EMG channels are sampled at different rates ({sorted(per_record)} "
            "samples per data record); expected one rate for all of them"
        )


def _to_microvolt(raw, name: str, rig: Rig, path: Path) -> float:
    """Microvolts per value MNE returns for this channel (volts for uV/mV/V headers)."""
    unit = str(getattr(raw, "_orig_units", {}).get(name, "")).strip()
    known = unit.lower() in TO_MICROVOLT
    if known and rig.unit is not None:
        if rig.unit == "counts" or TO_MICROVOLT[rig.unit.lower()] != TO_MICROVOLT[unit.lower()]:
            raise EdgekitError(
                f"{path}: channel {name!r} has physical dimension {unit!r} but {rig.path} "
                f"field 'unit' says {rig.unit!r}; remove 'unit' (the header's is used)"
            )
    if known:
        return 1e6
    if rig.unit is None:
        dim = f"physical dimension {unit!r}" if unit not in ("", "n/a") else "no physical dimension"
        raise EdgekitError(
            f"{path}: channel {name!r} has {dim}, not uV, mV or V; set "
            f"'unit' in {rig.path} to what its values are (uV, mV, V, or counts with adc_lsb)"
        )
    return rig.to_microvolt


def _annotated(raw, rig: Rig, path: Path, fs: float, n: int) -> list[tuple[int, int, int]]:
    """The gesture annotations of a file as (start, stop, gesture), in time order."""
    ann = raw.annotations
    out = []
    for onset, dur, text in sorted(zip(ann.onset, ann.duration, ann.description, strict=True)):
        if text in rig.ignore:
            continue
        where = f"{path}: annotation {text!r} at {onset:.3f} s"
        g = rig.gesture_of(text, where, " or list it in 'ignore_annotations'")
        a, b = int(round(onset * fs)), int(round((onset + dur) * fs))
        if b <= a:
            raise EdgekitError(
                f"{where}: duration {dur:g} s; expected a gesture's duration > 0 (EDF+ TAL "
                "'+onset\\x15duration\\x14text')"
            )
        if a < 0 or b > n:
            raise EdgekitError(
                f"{where}: ends at {onset + dur:.3f} s, past the recording's {n / fs:.3f} s"
            )
        if out and a < out[-1][1]:
            raise EdgekitError(
                f"{where}: overlaps the previous gesture annotation (until "
                f"{out[-1][1] / fs:.3f} s); expected one gesture at a time"
            )
        out.append((a, b, g))
    if not out:
        raise EdgekitError(
            f"{path}: no gesture annotations ({len(ann)} annotations in all); label the file "
            "with EDF+/BDF+ annotations, or give each file's gesture in a manifest.csv"
        )
    return out
