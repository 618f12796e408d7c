"""Test helpers for your-own-rig data: gesture-like multichannel signals, and writers for the
files edgekit reads (CSV/TSV/NPY tables, EDF/EDF+ and BDF/BDF+ written byte by byte from the
public specification, edfplus.info: a 256-byte header, 256 bytes per signal, data records of
16-bit (EDF) or 24-bit (BDF) little-endian two's-complement samples, annotations as TALs in an
"EDF Annotations" / "BDF Annotations" signal)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal as sps

# ------------------------------------------------------------------------------ signals


@dataclass
class Session:
    """One continuous session: (C, n) microvolts and its gesture segments."""

    signal: np.ndarray
    segments: list[tuple[int, int, int]]  # (start, stop, gesture number)

    def labels(self) -> np.ndarray:
        lab = np.zeros(self.signal.shape[1], np.int64)
        for a, b, g in self.segments:
            lab[a:b] = g
        return lab


def gesture_session(
    n_ch: int,
    fs: float,
    n_classes: int,
    reps: int,
    seconds: float,
    seed: int,
    session: int = 1,
) -> Session:
    """reps x n_classes trials of `seconds` each, back to back (class 0 = rest): every class
    its own channel amplitude pattern (fixed by seed), band-limited noise inside 0.1-0.4 fs,
    a small per-session gain drift so sessions differ."""
    pat_rng = np.random.default_rng([seed, 0])
    patterns = pat_rng.uniform(10.0, 120.0, (n_classes, n_ch))
    patterns[0] = 6.0
    rng = np.random.default_rng([seed, session])
    gain = np.exp(rng.normal(0, 0.05, n_ch))
    sos = sps.butter(4, [0.1 * fs, 0.4 * fs], btype="bandpass", fs=fs, output="sos")
    n = int(round(seconds * fs))
    parts, segments = [], []
    order = [c for _ in range(reps) for c in range(n_classes)]
    for k, c in enumerate(order):
        noise = sps.sosfilt(sos, rng.standard_normal((n_ch, n + 64)), axis=1)[:, 64:]
        noise /= noise.std(axis=1, keepdims=True)
        parts.append(noise * (patterns[c] * gain)[:, None] + rng.normal(0, 2.0, (n_ch, n)))
        segments.append((k * n, (k + 1) * n, c))
    return Session(np.concatenate(parts, axis=1).astype(np.float32), segments)


# ------------------------------------------------------------------------------ tables


def write_table(
    path: Path,
    columns: np.ndarray,
    header: list[str] | None = None,
    label: list[str] | np.ndarray | None = None,
    label_at: int | None = None,
    fmt: str = "%.6g",
) -> None:
    """columns: (n, k) numbers; label: optional per-row texts inserted as column label_at
    (0-based); .csv, .tsv or .npy by the suffix (.npy: numbers only, label as numbers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = np.asarray(columns)
    if path.suffix == ".npy":
        a = columns.astype(np.float64)
        if label is not None:
            a = np.insert(a, label_at, np.asarray(label, np.float64), axis=1)
        np.save(path, a)
        return
    delim = "\t" if path.suffix == ".tsv" else ","
    cells = [[fmt % v for v in row] for row in columns]
    if label is not None:
        for row, lab in zip(cells, label, strict=True):
            row.insert(label_at, str(lab))
    lines = [delim.join(header)] if header else []
    lines += [delim.join(row) for row in cells]
    path.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------ EDF / BDF


def _field(value: object, width: int) -> bytes:
    text = str(value).encode("latin-1")
    if len(text) > width:
        raise ValueError(f"EDF header field {value!r} longer than {width} bytes")
    return text.ljust(width, b" ")


def _tal(onset: float, duration: float | None, texts: list[str]) -> bytes:
    head = f"{onset:+.7f}".rstrip("0").rstrip(".")
    if duration is not None:
        head += "\x15" + f"{duration:.7f}".rstrip("0").rstrip(".")
    return (head + "\x14" + "".join(t + "\x14" for t in texts) + "\x00").encode("utf-8")


def write_edf(
    path: Path,
    signal: np.ndarray,
    fs: int,
    labels: list[str],
    unit: str = "uV",
    annotations: list[tuple[float, float, str]] | None = None,
    bdf: bool = False,
    record_s: int = 1,
) -> np.ndarray:
    """Write (C, n) physical values as EDF (or BDF), EDF+/BDF+ when annotations are given
    (onset s, duration s, text). The last record is zero-padded. Returns the physical values a
    reader gets back (the samples quantized to the file's digital steps), (C, n) float64."""
    c, n = signal.shape
    per = fs * record_s
    n_rec = -(-n // per)
    dmax = 2**23 - 1 if bdf else 2**15 - 1
    pmax = float(max(1, int(np.ceil(np.abs(signal).max()))))
    cal = 2 * pmax / (2 * dmax)  # physical units per digital step (symmetric ranges: offset 0)
    dig = np.zeros((c, n_rec * per), np.int64)
    dig[:, :n] = np.clip(np.round(np.asarray(signal, np.float64) / cal), -dmax, dmax)
    plus = annotations is not None
    tals = [[_tal(r * record_s, None, [""])] for r in range(n_rec)]  # timekeeping TAL per record
    for onset, dur, text in annotations or []:
        tals[min(int(onset // record_s), n_rec - 1)].append(_tal(onset, dur, [text]))
    width = 3 if bdf else 2
    ann_samples = -(-max(len(b"".join(t)) for t in tals) // width) if plus else 0
    names = [*labels, *(["BDF Annotations" if bdf else "EDF Annotations"] if plus else [])]
    ns = len(names)
    sig_fields = [
        [_field(x, 16) for x in names],
        [_field("AgAgCl electrode" if i < c else "", 80) for i in range(ns)],
        [_field(unit if i < c else "", 8) for i in range(ns)],
        [_field(f"{-pmax:g}" if i < c else "-1", 8) for i in range(ns)],
        [_field(f"{pmax:g}" if i < c else "1", 8) for i in range(ns)],
        [_field(-dmax if i < c else -dmax - 1, 8) for i in range(ns)],
        [_field(dmax, 8) for i in range(ns)],
        [_field("HP:0.1Hz LP:1000Hz" if i < c else "", 80) for i in range(ns)],
        [_field(per if i < c else ann_samples, 8) for i in range(ns)],
        [_field("", 32) for i in range(ns)],
    ]
    reserved = ("BDF+C" if plus else "24BIT") if bdf else ("EDF+C" if plus else "")
    header = b"".join(
        [
            b"\xffBIOSEMI" if bdf else _field("0", 8),
            _field("X X X X", 80),
            _field("Startdate 01-JAN-2024 X X X", 80),
            _field("01.01.24", 8),
            _field("00.00.00", 8),
            _field(256 * (ns + 1), 8),
            _field(reserved, 44),
            _field(n_rec, 8),
            _field(record_s, 8),
            _field(ns, 4),
            *(b"".join(f) for f in sig_fields),
        ]
    )
    assert len(header) == 256 * (ns + 1)
    out = [header]
    for r in range(n_rec):
        for ch in range(c):
            out.append(_samples(dig[ch, r * per : (r + 1) * per], bdf))
        if plus:
            out.append(b"".join(tals[r]).ljust(ann_samples * width, b"\x00"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(out))
    return dig[:, :n] * cal


def _samples(values: np.ndarray, bdf: bool) -> bytes:
    if not bdf:
        return values.astype("<i2").tobytes()
    u = values.astype(np.int64) & 0xFFFFFF  # 24-bit two's complement, little-endian
    return (
        np.stack([u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
    )
