"""Run directories: where each stage's artifacts live, atomic writes, provenance.

One direction of data: a stage reads only the files an earlier stage wrote here.

    <run>/float.pt          float checkpoint (train or ingest)
    <run>/frames.npz        normalised feature frames of the split (train)
    <run>/train.json        train report (+ confusion.png)
    <run>/qat.pt            quantization-aware-trained checkpoint (quantize)
    <run>/quantize.json
    <run>/export/           model.onnx, model_int8.tflite, model_data.cc/.h, model_meta.h,
                            reference.npz, export.json
    <run>/firmware/<board>/ rendered firmware project (+ build/)
    <run>/bench/<board>/    bench.json, bench.md, bench.png
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import EdgekitError

DEFAULT_RUNS_ROOT = Path("runs")


def model_hash(tflite_bytes: bytes) -> str:
    """The model's identity across export, firmware and bench: sha256 of the .tflite, 16 hex."""
    return hashlib.sha256(tflite_bytes).hexdigest()[:16]


def default_run_dir(arch: str, width: float) -> Path:
    """The run directory used when the user gives no --run."""
    return DEFAULT_RUNS_ROOT / f"{arch}-w{width:g}"


def cache_dir() -> Path:
    """Where generated default data is kept (EDGEKIT_CACHE overrides)."""
    env = os.environ.get("EDGEKIT_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edgekit"


@dataclass(frozen=True)
class Run:
    root: Path

    @property
    def float_ckpt(self) -> Path:
        return self.root / "float.pt"

    @property
    def frames(self) -> Path:
        return self.root / "frames.npz"

    @property
    def qat_ckpt(self) -> Path:
        return self.root / "qat.pt"

    @property
    def export_dir(self) -> Path:
        return self.root / "export"

    def report_path(self, stage: str) -> Path:
        return self.root / f"{stage}.json"

    def firmware_dir(self, board: str) -> Path:
        return self.root / "firmware" / board

    def bench_dir(self, board: str) -> Path:
        return self.root / "bench" / board

    def require(self, path: Path, what: str, hint: str) -> Path:
        """Return path if it exists, else a clear error naming it and the command that makes it."""
        if not path.exists():
            raise EdgekitError(f"{path}: no {what} in run {self.root}; {hint}")
        return path

    def write_report(self, stage: str, record: dict[str, Any]) -> Path:
        rec = dict(record)
        rec.setdefault("stage", stage)
        rec["provenance"] = provenance()
        path = self.report_path(stage) if stage != "export" else self.export_dir / "export.json"
        write_json(path, rec)
        return path


def provenance() -> dict[str, Any]:
    return {
        "edgekit": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
    }


# ---------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts are ordinary files
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Build a directory under a temp name; replace `path` with it only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(record: Any, indent: int | None = 2) -> str:
    return json.dumps(record, indent=indent, default=_json_default)


def write_json(path: Path, record: Any) -> None:
    write_text(path, to_json(record) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise EdgekitError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise EdgekitError(f"{path}: not valid JSON ({e})") from None


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


def load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise EdgekitError(f"{path}: file not found") from None
    except Exception as e:  # zipfile/format errors
        raise EdgekitError(f"{path}: not a readable .npz archive ({e})") from None
