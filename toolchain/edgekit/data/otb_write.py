"""Write a .mat file laid out as an OTBiolab+ export ("Export to MATLAB").

The layout copies a real export (openhdemg's bundled `otb_testfile.mat`, one GR08MM1305 on a
Quattrocento, written by MATLAB 5 mat format from OTBiolab+):
  Data               float32 samples x columns, wrapped in a 1 x 1 cell (or a plain matrix)
  Time               float64 samples x 1 seconds, wrapped the same way
  Description        columns x 1 cell of strings (or a char matrix), one per Data column:
                       EMG        '<muscle> - <input> (Channel a->b) - <code> (<k>)[uV]'
                       decomp.    '<i> - <n> - Decomposition of <EMG description>[a.u]', ...
                       reference  'acquired data[ %(MVC)]'
  SamplingFrequency  uint16 1 x 1 (double when not an integer)
  OTBFile            'unknown'
Used by the tests and by the synthetic data generator; the loader (otb.py) reads it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io

from .. import runs
from ..errors import EdgekitError
from .electrodes import electrode

AUX_KINDS = {  # kind -> (description without unit, unit)
    "acceleration": ("Acceleration X - AUX IN 1 (Channel 1->1)", "g"),
    "force": ("Load cell - AUX IN 2 (Channel 1->1)", "kg"),
    "ramp": ("Ramp", ""),
    "buffer": ("Buffer", ""),
    "trigger": ("Trigger - AUX IN 3 (Channel 1->1)", "V"),
    "quaternion": ("Quaternion W", ""),
}


def otb_descriptions(
    codes: Sequence[str],
    muscles: Sequence[str] | None = None,
    inputs: Sequence[str] | None = None,
    unit: str = "uV",
) -> list[str]:
    """The EMG column descriptions of grids `codes` plugged into `inputs` (default MULTIPLE IN k)."""
    out = []
    for g, code in enumerate(codes):
        e = electrode(code)
        muscle = muscles[g] if muscles else f"Muscle {g + 1}"
        name = inputs[g] if inputs else f"MULTIPLE IN {g + 1}"
        rng = f"(Channel 1->{e.n_channels})"
        out += [
            f"{muscle} - {name} {rng} - {e.code} ({k})[{unit}]" for k in range(1, e.n_channels + 1)
        ]
    return out


def _cell_column(strings: Sequence[str]) -> np.ndarray:
    c = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        c[i, 0] = np.array([s])
    return c


def _wrap(a: np.ndarray) -> np.ndarray:
    c = np.empty((1, 1), dtype=object)
    c[0, 0] = a
    return c


def write_otb_mat(
    path: Path,
    emg: np.ndarray,
    fs: float,
    codes: Sequence[str],
    *,
    wrapped: bool = True,
    muscles: Sequence[str] | None = None,
    inputs: Sequence[str] | None = None,
    unit: str = "uV",
    aux: Sequence[str] = (),
    n_decomposed: int = 0,
    reference: bool = False,
    char_description: bool = False,
    seed: int = 0,
) -> list[str]:
    """Write `emg` (n_channels x n_samples, microvolts) as an OTBiolab+ export; returns the
    Description list. Channels are grid after grid in `codes` order, each in the grid's export
    order (channel k-1 = electrode k). `unit` "mV" stores the EMG in millivolts. Extra non-EMG
    columns: `aux` kinds (AUX_KINDS), `n_decomposed` motor units (decomposition outputs and their
    sources, as OTBiolab+ appends them) and a `reference` (%MVC) column."""
    emg = np.asarray(emg, dtype=np.float64)
    desc = otb_descriptions(codes, muscles, inputs, unit)
    if emg.ndim != 2 or emg.shape[0] != len(desc):
        raise EdgekitError(
            f"write_otb_mat: emg has shape {emg.shape}; grids {list(codes)} have "
            f"{len(desc)} channels (expected channels x samples)"
        )
    if unit not in ("uV", "mV"):
        raise EdgekitError(f"write_otb_mat: unit must be 'uV' or 'mV', got {unit!r}")
    other_desc, other = other_columns(
        emg.shape[1], desc[0], aux, n_decomposed, reference, np.random.default_rng(seed)
    )
    desc += other_desc
    cols = [emg / 1000.0 if unit == "mV" else emg, *other]
    data = np.concatenate(cols, axis=0).T.astype(np.float32)  # samples x columns
    mat = export_fields(data, fs, desc, wrapped=wrapped, char_description=char_description)
    with runs.atomic_path(Path(path)) as tmp:
        scipy.io.savemat(str(tmp), mat, do_compression=False)
    return desc


def other_columns(
    n: int,
    first_emg: str,
    aux: Sequence[str],
    n_decomposed: int,
    reference: bool,
    rng: np.random.Generator,
) -> tuple[list[str], list[np.ndarray]]:
    """The non-EMG columns an export appends after the EMG (descriptions, rows x n samples):
    auxiliary inputs, decomposition outputs of the first grid, a %MVC reference."""
    desc: list[str] = []
    cols: list[np.ndarray] = []
    for kind in aux:
        if kind not in AUX_KINDS:
            raise EdgekitError(
                f"write_otb_mat: unknown aux kind {kind!r}; known: {sorted(AUX_KINDS)}"
            )
        text, u = AUX_KINDS[kind]
        desc.append(f"{text}[{u}]")
        cols.append(rng.normal(size=(1, n)))
    if n_decomposed:
        # as in the real export: '1 - n - Decomposition of <grid> (i)', a summary column, then
        # 'n - Source for decomposition of <grid> (i)' and its summary, all in [a.u]
        base = first_emg.rsplit(" (", 1)[0]  # '<muscle> - <input> (Channel a->b) - <code>'
        m = n_decomposed
        desc += [f"1 - {m} - Decomposition of {base} ({i})[a.u]" for i in range(1, m + 1)]
        desc.append(f"Decomposition of {base} (1)[a.u]")
        desc += [f"{m} - Source for decomposition of {base} ({i})[a.u]" for i in range(1, m + 1)]
        desc.append(f"Source for decomposition of {base} (1)[a.u]")
        cols.append((rng.random((2 * m + 2, n)) < 0.01).astype(np.float64))
    if reference:
        desc.append("acquired data[ %(MVC)]")
        cols.append(np.linspace(0, 30, n)[None, :])
    return desc, cols


def export_fields(
    data: np.ndarray, fs: float, desc: list[str], *, wrapped: bool, char_description: bool
) -> dict[str, np.ndarray]:
    """The .mat variables of an export holding `data` (samples x columns, float32)."""
    time = (np.arange(data.shape[0], dtype=np.float64) / fs)[:, None]
    # scipy writes a list of str as a char matrix
    description = np.array(desc) if char_description else _cell_column(desc)
    fs_val = (
        np.array([[fs]], dtype=np.uint16)
        if float(fs).is_integer() and fs < 65536
        else np.array([[fs]], dtype=np.float64)
    )
    return {
        "Data": _wrap(data) if wrapped else data,
        "Time": _wrap(time) if wrapped else time,
        "Description": description,
        "SamplingFrequency": fs_val,
        "OTBFile": np.array(["unknown"]),
    }
