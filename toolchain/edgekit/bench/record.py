"""The bench record: one typed record for every device, serialised to the keys bench.json, the
reports, the sweep and the tests read (to_dict()).

A device with edgekit's ek- commands returns raw int8 outputs and ticks, so exactness against
the host reference is measured; a plain EEMBC device returns dequantized m-results and m-lap-us,
so only agreement and accuracy are (and the record says why)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

# Outputs beyond which the confusion matrix is left out: unreadable, and C x C counts (a model
# with a 9,216-byte output map would need 680 MB for it).
MAX_CONFUSION = 32
# keys left out of the dict when None, as bench.json has always done
_OPTIONAL = ("qemu", "profile", "diff", "exact_unchecked_reason", "model_unchecked_reason")
PLAIN_EXACT_WHY = (
    "the device speaks plain EEMBC (no ek- commands): it reports dequantized, rounded "
    "m-results, not raw int8 outputs, so exactness against the host reference could not "
    "be checked"
)


@dataclass
class DeviceFacts:
    name: str
    profile: str
    runtime: str
    model_hash: str | None
    arena_bytes: int | None
    arena_used: int | None
    inputs: int = 0
    outputs: int = 0
    tick_unit: str = "m-lap-us"
    tick_hz: int = 1_000_000
    model: str | None = None  # a plain EEMBC device's own name for its model (m-model-[...])


@dataclass
class ModelFacts:
    hash: str
    tflite: str
    macs: int | None
    num_classes: int
    label_names: list[str]


@dataclass
class InputPath:
    """How inputs reached the device."""

    bytes: int  # one input
    command: str  # ek-run (one command frame) or db (db load N + db HEX chunks)
    link: str  # serial, or semihosting-fifo (QEMU: host bytes through a FIFO)


@dataclass
class Lap:
    """`infer N W` on one sample: MLPerf-style timing from m-lap-us."""

    sample: int
    n: int
    warmup: int
    us_per_inference: float
    ticks_per_inference: float | None
    output_matches_ek_run: bool | None


@dataclass
class BenchRecord:
    board: str
    where: str
    emulated: bool
    mode: str  # ek-run, db (edgekit firmware) or eembc (a plain EEMBC device)
    protocol: str  # ek or eembc
    input: InputPath
    run: str
    device: DeviceFacts
    model: ModelFacts
    samples: int
    sample_seed: int
    reference_size: int
    exact_checked: bool
    exact_matches: int | None
    exact_match_rate: float | None
    max_abs_diff: int | None
    top1_agreement: float
    device_accuracy: float
    host_accuracy: float
    latency: dict[str, Any]
    lap_us: list[Lap]
    arena_used: int | None
    arena_bytes: int | None
    flash_bytes: int | None
    ram_bytes: int | None
    build: dict[str, Any] | None
    macs: int | None
    macs_per_tick: float | None
    instructions_per_inference: float | None
    confusion: np.ndarray | None  # None beyond MAX_CONFUSION outputs
    per_sample: dict[str, np.ndarray]
    link: dict[str, Any]
    wall_s: float
    qemu: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    diff: dict[str, Any] | None = None
    exact_unchecked_reason: str | None = None
    model_unchecked_reason: str | None = None
    stage: str = field(default="bench")

    def to_dict(self) -> dict[str, Any]:
        """The record as bench.json holds it (numpy arrays stay arrays until written)."""
        out: dict[str, Any] = {"stage": self.stage}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "stage" or (f.name in _OPTIONAL and v is None):
                continue
            out[f.name] = _plain(v)
        return out


def _plain(v: Any) -> Any:
    if isinstance(v, (DeviceFacts, ModelFacts, InputPath, Lap)):
        d = {f.name: getattr(v, f.name) for f in fields(v)}
        return d if not isinstance(v, DeviceFacts) or v.model else _drop(d, "model")
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _drop(d: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: x for k, x in d.items() if k != key}


# ------------------------------------------------------------------------ statistics


def stats(v: np.ndarray) -> dict[str, float]:
    return {
        "median": float(np.median(v)),
        "p90": float(np.percentile(v, 90)),
        "max": float(np.max(v)),
        "min": float(np.min(v)),
        "mean": float(np.mean(v)),
    }


def latency(ticks: np.ndarray, hz: float, unit: str, note: str) -> dict[str, Any]:
    """The record's latency from per-sample ticks at hz."""
    us = ticks * 1e6 / hz
    return {
        "ticks": stats(ticks),
        "us": stats(us),
        "median_us": float(np.median(us)),
        "p90_us": float(np.percentile(us, 90)),
        "max_us": float(np.max(us)),
        "median_ticks": float(np.median(ticks)),
        "p90_ticks": float(np.percentile(ticks, 90)),
        "max_ticks": float(np.max(ticks)),
        "tick_unit": unit,
        "tick_hz": hz,
        "note": note,
    }


def confusion(labels: np.ndarray, pred: np.ndarray, c: int) -> np.ndarray | None:
    if c > MAX_CONFUSION:
        return None
    m = np.zeros((c, c), dtype=np.int64)
    np.add.at(m, (labels, pred), 1)
    return m


def qemu_note(hz: int) -> str:
    ipt = 1e9 / hz
    return (
        f"QEMU -icount shift=0: each guest instruction takes 1 ns of virtual time, so a tick "
        f"at {hz:,} Hz is an instruction-count proxy (1 tick = {ipt:g} instructions, +-1 tick "
        "of phase), not Cortex-M4 cycles; µs are QEMU virtual time, not Cortex-M4 time"
    )


def qemu_facts(machine: str | None, hz: int, med_ticks: float, macs: int | None) -> dict[str, Any]:
    """Instruction counts under -icount shift=0 (1 instruction = 1 ns of virtual time)."""
    ipt = 1e9 / hz
    ins = med_ticks * ipt
    return {
        "machine": machine,
        "icount_shift": 0,
        "instructions_per_tick": ipt,
        "instructions_per_inference": ins,
        "macs_per_instruction": (macs / ins) if macs and ins else None,
    }
