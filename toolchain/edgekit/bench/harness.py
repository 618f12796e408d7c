"""run_bench: check the exported int8 model on a board (or QEMU) against the host reference.

One bench loop for every device. For each test sample the device gets the exact int8 input the
host reference used, by the way its capabilities allow (session.Capabilities): `ek-run` when the
input fits one command frame, else EEMBC's chunked `db` load, through QEMU's semihosting FIFO when
there is one. edgekit firmware returns the raw int8 output bytes, which must equal tflite_micro's;
a plain EEMBC device returns m-results, so agreement and accuracy are measured instead. Latency
comes from the device's own timer (ticks) and from the MLPerf-style `infer N W` m-lap-us path on
a few samples.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import runs
from ..artifacts import load_export
from ..boards import Board
from ..errors import EdgekitError
from ..firmware import read_build_record
from ..progress import progress_bar
from . import layers, timeouts
from .link import DeviceError
from .record import (
    PLAIN_EXACT_WHY,
    BenchRecord,
    DeviceFacts,
    InputPath,
    Lap,
    ModelFacts,
    confusion,
    latency,
    qemu_facts,
    qemu_note,
)
from .session import MAX_RESETS, RETRIES, BuildFn, Expect, Session, open_device

MODES = ("auto", "ek-run", "db")  # auto: ek-run when the input fits one command, else db


@dataclass
class Reference:
    x: np.ndarray  # (N, *input shape) int8, the model's input tensors
    y: np.ndarray  # (N, C) int8, tflite_micro's output
    labels: np.ndarray  # (N,) int64
    label_names: list[str]
    model_hash: str
    tflite: Path
    export: dict[str, Any]


def load_reference(run: runs.Run) -> Reference:
    """reference.npz, the model and export.json, each checked: a run from an older edgekit (or a
    stale export) is named with the field that is wrong and what to run."""
    need = "run `edgekit export` first"
    ref_path = run.require(run.export_dir / "reference.npz", "host reference", need)
    tfl = run.require(run.export_dir / "model_int8.tflite", "int8 model", need)
    ex = load_export(run.export_dir / "export.json")
    z = runs.load_npz(ref_path)
    for key in ("x_int8", "y_int8", "labels", "label_names"):
        if key not in z:
            raise EdgekitError(f"{ref_path}: missing array '{key}' (re-run `edgekit export`)")
    x, y, labels = z["x_int8"], z["y_int8"], z["labels"]
    if x.dtype != np.int8 or y.dtype != np.int8:
        raise EdgekitError(f"{ref_path}: x_int8/y_int8 should be int8, got {x.dtype}/{y.dtype}")
    if not (len(x) == len(y) == len(labels)) or len(x) == 0 or y.ndim != 2:
        raise EdgekitError(
            f"{ref_path}: x_int8 {x.shape}, y_int8 {y.shape}, labels {labels.shape} "
            "should be (N,H,W,C), (N,C), (N,) with the same N > 0"
        )
    c = y.shape[1]
    if labels.min() < 0 or labels.max() >= c or len(z["label_names"]) != c:
        raise EdgekitError(
            f"{ref_path}: labels should be in 0..{c - 1} with {c} label_names "
            f"(got {labels.min()}..{labels.max()}, {len(z['label_names'])} names)"
        )
    model_hash = runs.model_hash(tfl.read_bytes())
    if ex.model_hash != model_hash:
        raise EdgekitError(
            f"{ex.path}: field 'model_hash' is {ex.model_hash}, but {tfl.name} hashes to "
            f"{model_hash}: the export is stale or mixed; re-run `edgekit export`"
        )
    names = [str(s) for s in z["label_names"]]
    return Reference(x, y, labels.astype(np.int64), names, model_hash, tfl, ex.raw)


def pick_samples(n_total: int, samples: int, seed: int = 0) -> np.ndarray:
    """A fixed, seeded subset (sorted), so class-ordered references are sampled evenly."""
    if samples <= 0:
        raise EdgekitError(f"--samples: must be >= 1, got {samples}")
    if samples >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, samples, replace=False))


@dataclass
class _Bench:
    """What one bench is about; filled in as the device answers."""

    run: runs.Run
    board: Board
    ref: Reference
    idx: np.ndarray
    fw_name: str
    emulated: bool  # we booted QEMU ourselves, with -icount shift=0
    seed: int
    where: str = ""
    mode: str = ""
    input: InputPath | None = None


def _plan(s: Session, n_in: int, mode: str, profile: bool, diff: bool) -> str:
    """The bench's mode from what the device can do: ek-run or db on edgekit firmware (auto: by
    the input's size), eembc on a plain EEMBC device (db load, infer, m-results); per-op views
    are refused up front where the device cannot step ops."""
    caps = s.caps
    if (profile or diff) and not caps.step_ops:
        flag = "--profile" if profile else "--diff"
        rt = s.info.runtime if s.info else "plain EEMBC firmware"
        raise EdgekitError(
            f"{flag}: the device ({rt}) cannot run one op at a time (ek-profile, ek-layer "
            "need the edgekit-rt runtime); bench with --runtime edgekit-rt"
        )
    fits = caps.input_command(n_in)
    if not caps.ek:
        return "eembc"
    if mode == "ek-run" and fits != "ek-run":
        raise EdgekitError(
            f"mode ek-run: the input of {n_in:,} bytes does not fit one command "
            f"(ek-run carries at most {caps.inline_max} bytes); use the db load"
        )
    return fits if mode == "auto" else mode


def run_bench(
    run: runs.Run,
    board: Board,
    port: str | None,
    samples: int = 200,
    warmup: int = 1,
    progress: bool = True,
    build_fn: BuildFn | None = None,
    *,
    baud: int | None = None,
    mode: str = "auto",
    latency_samples: int = 3,
    latency_n: int = 10,
    retries: int = RETRIES,
    max_resets: int = MAX_RESETS,
    seed: int = 0,
    write: bool = True,
    on_sample: Callable[[int], None] | None = None,
    bench_name: str | None = None,
    profile: bool = False,
    diff: bool = False,
) -> dict[str, Any]:
    """Bench the run's exported model on `board` (via `port`, or QEMU when port is None and the
    board is emulated; build_fn() then returns the ELF path or a build-info dict with 'elf',
    'flash_bytes', 'ram_bytes'). Writes bench.json/.md/.png into run.bench_dir(bench_name) and
    returns the record (its 'summary' is the human text). mode: how inputs travel (auto picks
    from the device's capabilities). on_sample(j) is called before sample j. bench_name: the
    bench/ subdirectory (default the board's name). profile: the per-op profile (ek-profile) of
    the first sample; diff: every layer's output on the first sample against tflite_micro's
    (ek-layer), naming the first that differs."""
    if mode not in MODES:
        raise EdgekitError(f"mode: must be one of {', '.join(MODES)}, got {mode!r}")
    ref = load_reference(run)
    idx = pick_samples(len(ref.x), samples, seed)
    b = _Bench(run, board, ref, idx, bench_name or board.name, port is None, seed)
    t_start = time.monotonic()
    build_info: dict[str, Any] = {}
    with open_device(run, board, port, baud, build_fn, build_info, b.fw_name) as (link, where):
        s = Session(link, _expect(b), timeouts.for_board(board), retries, max_resets)
        s.start(timeouts.boot_timeout(board, b.emulated))  # sync() retries cover a slower boot
        b.where = where
        b.mode = _plan(s, s.expect.n_in, mode, profile, diff)
        rx = "semihosting-fifo" if s.caps.rx_file else "serial"
        b.input = InputPath(s.expect.n_in, "db" if b.mode == "eembc" else b.mode, rx)
        outs, ticks = _samples(s, b, warmup, progress, on_sample)
        laps = _laps(s, b, outs, min(latency_samples, len(b.idx)), latency_n, warmup)
        per_op = _per_op(s, ref, int(b.idx[0]), profile, diff) if (profile or diff) else {}
    rec = _record(b, s, outs, ticks, laps, _build_of(b, build_info, s, port))
    _add_per_op(rec, per_op, int(b.idx[0]))
    rec.wall_s = round(time.monotonic() - t_start, 2)
    from .report import summary, write_bench

    out = rec.to_dict()
    out["summary"] = summary(out)
    if write:
        out["files"] = write_bench(run, b.fw_name, out)
    return out


def _expect(b: _Bench) -> Expect:
    return Expect(
        model_hash=b.ref.model_hash,
        n_in=int(np.prod(b.ref.x.shape[1:])),
        n_out=int(b.ref.y.shape[1]),
        model=str(b.ref.tflite),
        fw_hint=str(b.run.firmware_dir(b.fw_name)),
        rebuild_hint=f"edgekit export --board {b.board.name} --build",
    )


def _samples(
    s: Session, b: _Bench, warmup: int, progress: bool, on_sample: Callable[[int], None] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Every sample once: (outputs, ticks) (plain EEMBC: m-results and m-lap-us µs)."""
    one = {"ek-run": s.ek_run, "db": s.db_run, "eembc": s.plain_run}[b.mode]
    ek = b.mode != "eembc"
    n, x = len(b.idx), b.ref.x
    outs = np.zeros((n, b.ref.y.shape[1]), dtype=np.int8 if ek else np.float64)
    ticks = np.zeros(n, dtype=np.int64 if ek else np.float64)
    for _ in range(max(0, warmup) if ek else 0):  # first-call effects stay out of the stats
        s.retry("warmup", lambda: one(x[b.idx[0]]))
    label = f"bench {b.board.name}" + ("" if ek else " (plain EEMBC)")
    for j in progress_bar(range(n), label, progress):
        if on_sample is not None:
            on_sample(j)
        xj = x[b.idx[j]]
        outs[j], ticks[j] = s.retry(f"sample {int(b.idx[j])}", lambda xj=xj: one(xj))
    return outs, ticks


def _laps(s: Session, b: _Bench, outs: np.ndarray, count: int, n: int, warmup: int) -> list[Lap]:
    """MLPerf-style `infer N W` timing on the first `count` samples."""
    laps = []
    for j in range(count):
        i = int(b.idx[j])
        r = s.retry(f"infer {n} {warmup} on sample {i}", lambda i=i: s.lap(b.ref.x[i], n, warmup))
        same = None if r["output"] is None else bool(np.array_equal(r["output"], outs[j]))
        laps.append(Lap(i, n, warmup, r["us_per_inference"], r["ticks_per_inference"], same))
    return laps


def _build_of(
    b: _Bench, build_info: dict[str, Any], s: Session, port: str | None
) -> dict[str, Any]:
    """The firmware build the device runs: the one just booted, or on a real board the build of
    this export, if any (a plain EEMBC device runs someone else's)."""
    if s.info is None:
        return {}
    if not build_info and port is not None:
        built = read_build_record(b.run.firmware_dir(b.fw_name))
        return built if built and built.get("model_hash") == b.ref.model_hash else {}
    return build_info


def _device_facts(s: Session, emulated: bool) -> tuple[DeviceFacts, str]:
    """What the device said about itself, and the note on what its ticks are."""
    if s.info is None:
        why = "m-lap-us from `infer 1 0` per sample, the device's own microseconds"
        why += "; under QEMU -icount shift=0 these are virtual time" if emulated else ""
        facts = DeviceFacts(s.name, s.profile, "unknown (plain EEMBC)", None, None, None)
        facts.inputs, facts.outputs, facts.model = s.expect.n_in, s.expect.n_out, s.model_unchecked
        return facts, why
    i = s.info
    facts = DeviceFacts(s.name, s.profile, i.runtime, i.hash, i.arena, i.used, i.inputs, i.outputs)
    facts.tick_unit, facts.tick_hz = i.tick_unit, i.tick_hz
    return facts, (
        qemu_note(i.tick_hz) if emulated else f"{i.tick_unit} at {i.tick_hz:,} Hz on the device"
    )


def _agreement(outs: np.ndarray, y_ref: np.ndarray, labels: np.ndarray, ek: bool) -> dict:
    """Exactness (raw int8 outputs only), agreement with the host, accuracy, per sample."""
    dev_pred, host_pred = outs.argmax(1), y_ref.argmax(1)
    exact = np.all(outs == y_ref, axis=1) if ek else None
    per = {"device_pred": dev_pred, "host_pred": host_pred, "label": labels}
    per.update({"exact": exact} if ek else {"results": outs})
    return {
        "exact_checked": ek,
        "exact_matches": int(exact.sum()) if ek else None,
        "exact_match_rate": float(exact.mean()) if ek else None,
        "max_abs_diff": int(np.abs(outs.astype(np.int16) - y_ref).max()) if ek else None,
        "top1_agreement": float(np.mean(dev_pred == host_pred)),
        "device_accuracy": float(np.mean(dev_pred == labels)),
        "host_accuracy": float(np.mean(host_pred == labels)),
        "confusion": confusion(labels, dev_pred, y_ref.shape[1]),
        "per_sample": per,
    }


def _unchecked(s: Session) -> dict[str, str | None]:
    """Why a plain EEMBC device's exactness and model could not be checked."""
    if s.info is not None:
        return {"exact_unchecked_reason": None, "model_unchecked_reason": None}
    return {
        "exact_unchecked_reason": PLAIN_EXACT_WHY,
        "model_unchecked_reason": (
            f"the device names its model {s.model_unchecked!r} instead of a model hash, so "
            "which model it runs could not be checked (only its number of outputs)"
        ),
    }


def _record(
    b: _Bench, s: Session, outs: np.ndarray, ticks: np.ndarray, laps: list[Lap], build: dict
) -> BenchRecord:
    """The typed record from the readings."""
    ref, idx, ek = b.ref, b.idx, s.info is not None
    dev, note = _device_facts(s, b.emulated)
    macs = ref.export.get("macs")
    med = float(np.median(ticks))
    qemu = qemu_facts(b.board.qemu_machine, dev.tick_hz, med, macs) if ek and b.emulated else None
    agree = _agreement(outs, ref.y[idx], ref.labels[idx], ek)
    agree["per_sample"] = {"index": idx, "ticks": ticks, **agree["per_sample"]}
    st = s.link.stats
    assert b.input is not None
    return BenchRecord(
        board=b.board.name,
        where=b.where,
        emulated=b.emulated,
        mode=b.mode,
        protocol="ek" if ek else "eembc",
        input=b.input,
        run=str(b.run.root),
        device=dev,
        model=ModelFacts(ref.model_hash, str(ref.tflite), macs, ref.y.shape[1], ref.label_names),
        samples=len(idx),
        sample_seed=b.seed,
        reference_size=len(ref.x),
        **agree,
        latency=latency(ticks, dev.tick_hz, dev.tick_unit, note),
        lap_us=laps,
        arena_used=dev.arena_used,
        arena_bytes=dev.arena_bytes,
        flash_bytes=build.get("flash_bytes"),
        ram_bytes=build.get("ram_bytes"),
        build=build or None,
        macs=macs,
        macs_per_tick=(macs / med) if ek and macs and med else None,
        instructions_per_inference=qemu["instructions_per_inference"] if qemu else None,
        link={
            "resyncs": st.resyncs,
            "resets": st.resets,
            "timeouts": st.timeouts,
            "garbage_lines": st.garbage_lines,
            "retried": s.retried,
        },
        wall_s=0.0,
        qemu=qemu,
        **_unchecked(s),
    )


def _per_op(s: Session, ref: Reference, sample: int, profile: bool, diff: bool) -> dict[str, Any]:
    """ek-profile and/or ek-layer on one sample; the device must step its ops one at a time."""
    from ..export.tflite import inspect_tflite

    model = Path(ref.tflite).read_bytes()
    info = inspect_tflite(model, str(ref.tflite))
    x = ref.x[sample]
    out: dict[str, Any] = {"info": info}
    try:
        if profile:
            out["profile"] = s.ek_profile(x)
        if diff:
            dev = s.ek_layers(x, len(info.ops))
            out["diff"] = layers.compare_layers(
                dev, layers.host_layer_outputs(model, info, x), info
            )
    except DeviceError as e:
        raise EdgekitError(
            f"--{'profile' if profile else 'diff'}: the device answered '{e.device_message}'"
        ) from None
    return out


def _add_per_op(rec: BenchRecord, per_op: dict[str, Any], sample: int) -> None:
    ipt = rec.qemu["instructions_per_tick"] if rec.qemu else None
    if "profile" in per_op:
        ops, totals = per_op["profile"]
        rec.profile = {
            "sample": sample,
            **layers.profile_record(ops, totals, per_op["info"], ipt),
        }
    if "diff" in per_op:
        rec.diff = {"sample": sample, **per_op["diff"]}
