"""Reading MATLAB .mat files with errors that name the file and the variable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from ..errors import EdgekitError


def read_mat(path: Path, required: tuple[str, ...]) -> dict[str, Any]:
    """loadmat(path) with the required variables present, or an EdgekitError."""
    path = Path(path)
    if not path.is_file():
        raise EdgekitError(f"{path}: file not found")
    try:
        mat = scipy.io.loadmat(str(path), squeeze_me=False, struct_as_record=True)
    except NotImplementedError:
        # MATLAB v7.3 files are HDF5 containers; scipy does not read them.
        raise EdgekitError(
            f"{path}: MATLAB v7.3 (HDF5) .mat files are not supported; "
            "re-save with save(..., '-v7') in MATLAB"
        ) from None
    except Exception as e:  # scipy raises several types for corrupt/non-mat files
        raise EdgekitError(
            f"{path}: not a readable MATLAB .mat file ({type(e).__name__}: {e})"
        ) from None
    variables = sorted(k for k in mat if not k.startswith("__"))
    missing = [k for k in required if k not in mat]
    if missing:
        raise EdgekitError(
            f"{path}: missing variable(s) {missing}; expected {list(required)}, found {variables}"
        )
    return mat


def as_signal(arr: Any, path: Path, what: str, n_channels: int) -> np.ndarray:
    """A (n_channels, n) float32 trial from a numeric MATLAB array, checked for shape and
    finiteness."""
    a = np.asarray(arr)
    if (
        a.dtype == object
        or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool)
        or np.iscomplexobj(a)
    ):
        raise EdgekitError(
            f"{path}: {what}: expected a real numeric array (channels x samples), "
            f"got dtype {a.dtype}"
        )
    if a.ndim != 2 or a.shape[0] != n_channels:
        hint = (
            " (transposed? expected channels x samples)"
            if a.ndim == 2 and a.shape[1] == n_channels
            else ""
        )
        raise EdgekitError(
            f"{path}: {what}: expected {n_channels} channels x samples, got shape {a.shape}{hint}"
        )
    sig = np.ascontiguousarray(a, dtype=np.float32)
    if not np.isfinite(sig).all():
        bad = int((~np.isfinite(sig)).sum())
        raise EdgekitError(f"{path}: {what}: {bad} NaN/Inf samples; expected finite values")
    return sig


def text_cells(arr: Any) -> list[str]:
    """A MATLAB cell array of strings or a char matrix -> list of str (one per row/cell)."""
    a = np.asarray(arr)
    if a.dtype.kind in "US":  # char matrix: loadmat gives one string per row
        return [str(x).strip() for x in a.ravel()]
    if a.dtype == object:
        out = []
        for cell in a.ravel(order="F"):
            c = np.asarray(cell)
            out.append(" ".join(str(x) for x in c.ravel()).strip() if c.size else "")
        return out
    raise ValueError(f"expected strings, got dtype {a.dtype}")


def unwrap_cell(arr: Any, path: Path, field: str) -> np.ndarray:
    """The array inside a 1 x 1 MATLAB cell (OTBiolab+ wraps Data and Time that way), or `arr`."""
    a = np.asarray(arr)
    while a.dtype == object:
        if a.size != 1:
            raise EdgekitError(
                f"{path}: field {field!r}: expected a numeric matrix or a 1 x 1 cell "
                f"holding one, got a cell array of shape {a.shape}"
            )
        a = np.asarray(a.flat[0])
    return a


def scalar(arr: Any, path: Path, field: str) -> float:
    """A positive finite number from a MATLAB scalar (any numeric class, possibly in a 1 x 1 cell)."""
    try:
        v = float(np.asarray(unwrap_cell(arr, path, field), dtype=np.float64).ravel()[0])
    except (TypeError, ValueError, IndexError):
        raise EdgekitError(f"{path}: field {field!r}: expected a positive number") from None
    if not np.isfinite(v) or v <= 0:
        raise EdgekitError(f"{path}: field {field!r}: expected a positive number, got {v}")
    return v
