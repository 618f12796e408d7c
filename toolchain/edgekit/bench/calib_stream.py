"""`edgekit stream --calibrate S`: a held-out session through the board with a calibration first.

The session is laid out as a user would produce it: the calibration (each gesture held for the
first S seconds of its trials, gesture after gesture; data/calibration.py), then the rest of the
session as `edgekit stream` lays it out (trial 0 of every gesture, then trial 1, ...; what is left
of a cut trial is a shorter trial). Samples go to the board one hop per block. Before each block
the host says which gesture the hop it completes belongs to (ek-calib-label; none for windows
that cross a gesture change or lie in the stream's warm-up), the board adds that hop's
penultimate features to the class's sums; after the calibration ek-calib-solve makes the board
solve its head, which then decides every hop (the model's own output comes beside it as -base).

The host runs the same chain (data/causal.py), the int8 model in tflite_micro for the features
and outputs, and export/head.py's integer solve on the same hops: the board's head (CRC and every
byte, read back with ek-calib-head), its outputs, classes and votes must equal the host's.
Accuracy is scored on the hops whose window lies wholly in the rest of the session.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import runs
from ..data.calibration import SessionCut, check_compatible, cut_session
from ..errors import EdgekitError
from ..export import head as hd
from ..export.tflite import inspect_tflite
from . import timeouts
from .record import qemu_note
from .session import Expect, Session, open_device
from .stream import (
    Meta,
    _meta_ints,
    _recording,
    argmax_first,
    encode_block,
    hop_ends,
    host_frames,
    majority_votes,
    parse_block_reply,
    read_meta,
)

_START = re.compile(
    r"m-ek-calib-start-method\[([\w-]+)\]-classes\[(\d+)\]-features\[(\d+)\]-min\[(\d+)\]"
    r"-max\[(\d+)\]"
)
METHODS = ("out-lda", "ncm")  # what the board solves (firmware/app/ek_calib_solve.c)
_START_BYTES = re.compile(r"-bytes\[(\d+)\]")
_SOLVE = re.compile(
    r"m-ek-calib-solve-hops\[([\d,]*)\]-dropped\[(\d+)\]-crc\[([0-9a-f]{8})\]-ticks\[(\d+)\]"
)
_HEAD = re.compile(r"m-ek-calib-head-at\[(\d+)\]-of\[(\d+)\]-\[([0-9a-f]*)\]")


@dataclass
class CalibReplay:
    """The calibration, then the rest of the session, end to end."""

    counts: np.ndarray  # (C, n) int16
    labels: np.ndarray  # (n,) gesture of each sample
    cal_end: int  # samples of the calibration part
    source: str
    seconds: float


def calib_replay(cut: SessionCut, adc_lsb: float, n_classes: int) -> CalibReplay:
    from ..data import causal

    parts: list[tuple[np.ndarray, int]] = []
    for c in range(n_classes):  # the calibration: gesture after gesture
        for t, k in zip(cut.trials, cut.cal_samples, strict=True):
            if t.label == c and k > 0:
                parts.append((t.signal[:, :k], c))
    cal_end = sum(p.shape[1] for p, _ in parts)
    order = sorted(range(len(cut.trials)), key=lambda i: (cut.trials[i].trial, cut.trials[i].label))
    for i in order:  # the rest, as `edgekit stream` interleaves it
        t, k = cut.trials[i], cut.cal_samples[i]
        if k < t.signal.shape[1]:
            parts.append((t.signal[:, k:], t.label))
    counts = np.concatenate([causal.to_counts(p, adc_lsb, cut.source) for p, _ in parts], axis=1)
    labels = np.concatenate([np.full(p.shape[1], c) for p, c in parts])
    src = f"{cut.source} ({len(cut.trials)} trials)"
    return CalibReplay(counts, labels, int(cal_end), src, cut.seconds)


def hop_plan(meta: Meta, rp: CalibReplay, n_hops: int) -> tuple[np.ndarray, int, np.ndarray]:
    """(calibration class of each hop or -1, hops decided before the solve, scored mask): a hop
    calibrates when its window lies in one gesture of the calibration after the warm-up; the
    solve comes after the block holding the calibration's last sample; a hop is scored when its
    window lies wholly in the rest."""
    sp = meta.spec
    ends = hop_ends(meta, n_hops)
    starts = ends - sp.window
    lab = np.full(n_hops, -1, np.int64)
    for h in range(sp.warmup_hops, n_hops):
        if ends[h] <= rp.cal_end:
            seg = rp.labels[starts[h] : ends[h]]
            if (seg == seg[0]).all():
                lab[h] = int(seg[0])
    solve_block = -(-rp.cal_end // sp.hop) - 1
    before = int(np.clip(solve_block - sp.n_blocks + 2, 0, n_hops))
    return lab, before, starts >= rp.cal_end


def _labels_for_blocks(lab: np.ndarray, n_blocks_total: int, n_blocks: int) -> list[int | None]:
    """The ek-calib-label to send before each block (None: unchanged)."""
    out: list[int | None] = []
    cur = -1
    for b in range(n_blocks_total):
        h = b - n_blocks + 1
        want = int(lab[h]) if 0 <= h < len(lab) else -1
        out.append(want if want != cur else None)
        cur = want
    return out


_LAST: dict = {}  # the last penultimate() call: one session's hops, asked again per method


def _penultimate(tfl: bytes, hi, info, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    key = hashlib.sha256(tfl + x.tobytes()).hexdigest()
    if key not in _LAST:
        _LAST.clear()
        _LAST[key] = hd.penultimate(tfl, hi, info, x)
    return _LAST[key]


@dataclass
class HostCalib:
    """The host's prediction of everything the board answers."""

    frames: np.ndarray
    base_out: np.ndarray  # the model's outputs, every hop
    out: np.ndarray  # what decides: the model's before the solve, the head's after
    cls: np.ndarray
    vote: np.ndarray
    head: hd.IntHead


def host_calib(
    run, meta: Meta, rp: CalibReplay, vote: int, method: str
) -> tuple[HostCalib, Any, Any]:
    tfl = (run.export_dir / "model_int8.tflite").read_bytes()
    info = inspect_tflite(tfl, str(run.export_dir / "model_int8.tflite"))
    hi, why = hd.find_head(info)
    if hi is None:
        raise EdgekitError(f"{run.export_dir / 'model_int8.tflite'}: {why}; nothing to calibrate")
    frames = host_frames(meta, rp.counts)
    hw = _meta_ints(run.export_dir / "model_meta.h", "EK_INPUT_H", "EK_INPUT_W")
    x = frames.reshape(len(frames), hw["EK_INPUT_H"], hw["EK_INPUT_W"], 1)
    feats, base = _penultimate(tfl, hi, info, x)
    lab, before, scored = hop_plan(meta, rp, len(frames))
    sel = lab >= 0
    n = np.bincount(lab[sel], minlength=hi.n_out)
    if n.min() < hd.MIN_HOPS:
        c = int(np.argmin(n))
        raise EdgekitError(
            f"--calibrate {rp.seconds:g}: gesture {c} ({meta.labels[c]}) gets {n[c]} calibration "
            f"hops (windows inside its seconds, after the stream's {meta.spec.warmup_hops}-hop "
            f"warm-up); the head needs at least {hd.MIN_HOPS} per gesture: calibrate for longer"
        )
    if method == "ncm":
        head = hd.solve_ncm(*hd.class_sums(feats[sel], lab[sel], hi.n_out), hi, meta.labels)
        x = feats
    else:
        head = hd.solve_out_lda(*hd.out_stats(base[sel], lab[sel], hi), hi, meta.labels)
        x = base
    out = base.copy()
    out[before:] = hd.run_head(head, hi, x[before:])
    cls = argmax_first(out)
    votes = np.concatenate([majority_votes(cls[:before], vote), majority_votes(cls[before:], vote)])
    return HostCalib(frames, base, out, cls, votes, head), (lab, before, scored), hi


@dataclass
class Prepared:
    """A calibrated replay and the host's prediction of it."""

    meta_h: Path
    meta: Meta
    cut: SessionCut
    rp: CalibReplay
    host: HostCalib
    plan: tuple[np.ndarray, int, np.ndarray]
    hi: hd.HeadInfo
    method: str


def prepare(
    run,
    seconds: float,
    session: int | None,
    recording: Path | None,
    fmt: str,
    vote: int,
    hint: str,
    method: str = "out-lda",
) -> Prepared:
    if method not in METHODS:
        raise EdgekitError(f"--calibrate-method: {method!r}; the board solves {', '.join(METHODS)}")
    meta_h = run.require(run.export_dir / "model_meta.h", "exported model", hint)
    meta = read_meta(meta_h)
    if not 1 <= vote <= 32:
        raise EdgekitError(f"--vote: expected 1..32 windows, got {vote}")
    rec = _recording(run, recording, fmt)
    where = str(recording) if recording else rec.source
    hw = _meta_ints(meta_h, "EK_INPUT_H", "EK_INPUT_W")
    grid = {
        "name": "the model's",
        "rows": hw.get("EK_INPUT_H"),
        "cols": hw.get("EK_INPUT_W"),
        "n_channels": meta.n_channels,
        "pixels": [int(v) for v in meta.pixels],
    }
    check_compatible(rec, meta.spec.fs, grid, where)
    cut = cut_session(rec, session, seconds, meta.n_out, where)
    rp = calib_replay(cut, meta.spec.adc_lsb, meta.n_out)
    host, plan, hi = host_calib(run, meta, rp, vote, method)
    return Prepared(meta_h, meta, cut, rp, host, plan, hi, method)


def host_accuracy(p: Prepared, vote: int) -> dict:
    """The host's before / after accuracy on the scored hops (what the board must reproduce)."""
    _, before, sc = p.plan
    truth = p.rp.labels[hop_ends(p.meta, len(p.host.frames)) - 1]
    base_cls = argmax_first(p.host.base_out)
    return {
        "before_k1": float((base_cls == truth)[sc].mean()),
        f"before_k{vote}": _vote_acc(base_cls, before, vote, truth, sc),
        "after_k1": float((p.host.cls == truth)[sc].mean()),
        f"after_k{vote}": float((p.host.vote == truth)[sc].mean()),
        "scored_hops": int(sc.sum()),
    }


def expect_for(run, board, p: Prepared) -> Expect:
    """The model the board must run: the export the calibration was prepared from."""
    return Expect(
        p.meta.model_hash,
        _meta_ints(p.meta_h, "EK_INPUT_SIZE").get("EK_INPUT_SIZE", len(p.meta.pixels)),
        p.meta.n_out,
        str(run.export_dir / "model_int8.tflite"),
        str(run.firmware_dir(board.name)),
        f"edgekit export --board {board.name} --build",
    )


def run_calibrated_stream(
    run,
    board,
    seconds: float,
    port: str | None = None,
    *,
    session: int | None = None,
    recording: Path | None = None,
    fmt: str = "csl",
    vote: int = 5,
    method: str = "out-lda",
    clock_hz: float = 156e6,
    baud: int | None = None,
    build_fn=None,
    progress: bool = True,
    write: bool = True,
) -> dict:
    """Calibrate on the board while streaming a held-out session; check it against the host."""
    hint = f"run `edgekit export --board {board.name}` first"
    p = prepare(run, seconds, session, recording, fmt, vote, hint, method)
    meta = p.meta
    with open_device(run, board, port, baud, build_fn, {}) as (link, dev_where):
        s = Session(link, expect_for(run, board, p), timeouts.for_board(board))
        s.start(timeouts.boot_timeout(board, port is None))
        dev = _on_device(s, dev_where, meta, p, vote, progress)
    rep = evaluate(meta, p.rp, p.host, p.plan, dev, p.hi, vote, clock_hz)
    rep.update(
        board=board.name,
        device=dev_where,
        seconds_per_gesture=seconds,
        method=method,
        session=p.cut.session,
        source=p.rp.source,
        run=str(run.root),
        qemu_note=qemu_note(dev["tick_hz"]) if dev_where.startswith("qemu") else "",
    )
    rep["summary"] = summary_text(rep)
    if write:
        rep["files"] = write_report(run, board.name, rep)
    return rep


def _on_device(s: Session, where: str, meta: Meta, p: Prepared, vote: int, progress):
    """The calibrated replay on a device past the handshake."""
    rp, plan = p.rp, p.plan
    from ..progress import progress_bar

    if not s.caps.ek or s.info is None:
        raise EdgekitError(f"{where}: the device speaks plain EEMBC; calibration needs edgekit")
    link = s.link
    start = _expect_line(link, f"ek-stream-start {vote} 1 0", "m-ek-stream-ch[")
    cs = _expect_line(link, f"ek-calib-start {p.method}", "m-ek-calib-start-")
    m = _START.match(cs)
    if not m or m[1] != p.method or int(m[2]) != meta.n_out:
        raise EdgekitError(f"ek-calib-start answered {cs!r}")
    hop = meta.spec.hop
    n = rp.counts.shape[1]
    n_blk = -(-n // hop)
    labels = _labels_for_blocks(plan[0], n_blk, meta.spec.n_blocks)
    solve_block = -(-rp.cal_end // hop) - 1
    timeout = timeouts.block_timeout(hop / meta.spec.fs)
    hops, errors, solve = [], [], None
    bar = progress_bar(None, "calibrated stream (samples)", enabled=progress, total=n)
    for b in range(n_blk):
        if labels[b] is not None:
            link.command(f"ek-calib-label {labels[b] if labels[b] >= 0 else 'none'}")
        link.write(encode_block(b, rp.counts[:, b * hop : (b + 1) * hop]))
        h, summ, errs = parse_block_reply([r.text for r in link.read_until_ready(timeout, "blk")])
        hops += h
        errors += [f"block {b}: {e}" for e in errs]
        if summ is None:
            raise EdgekitError(f"ek-sblk {b}: no m-ek-sblk summary")
        if b == solve_block:
            solve = _solve(link)
        bar.update(min(hop, n - b * hop))
    bar.close()
    return {
        "hops": hops,
        "errors": errors,
        "solve": solve,
        "start": start,
        "calib_start": cs,
        "tick_hz": s.info.tick_hz,
        "where": where,
    }


def _expect_line(link, cmd: str, prefix: str) -> str:
    replies = [r.text for r in link.command(cmd, check=False)]
    got = [t for t in replies if t.startswith(prefix)]
    if not got:
        raise EdgekitError(
            f"{cmd} answered {replies!r}; flash firmware built from this export "
            "(edgekit export --board B --build)"
        )
    return got[0]


def _solve(link) -> dict:
    """ek-calib-solve, then the whole head read back with ek-calib-head."""
    line = _expect_line(link, "ek-calib-solve", "m-ek-calib-solve-")
    m = _SOLVE.match(line)
    if not m:
        raise EdgekitError(f"ek-calib-solve answered {line!r}")
    data, off, total = b"", 0, None
    while total is None or off < total:
        h = _HEAD.match(_expect_line(link, f"ek-calib-head {off}", "m-ek-calib-head-"))
        if not h or int(h[1]) != off:
            raise EdgekitError(f"ek-calib-head {off}: unexpected reply")
        total = int(h[2])
        chunk = bytes.fromhex(h[3])
        if not chunk:
            break
        data += chunk
        off += len(chunk)
    return {
        "hops": [int(v) for v in m[1].split(",") if v],
        "dropped": int(m[2]),
        "crc": m[3],
        "ticks": int(m[4]),
        "head": data,
    }


def evaluate(
    meta: Meta, rp: CalibReplay, host: HostCalib, plan, dev: dict, hi, vote: int, clock_hz: float
) -> dict:
    lab, before, scored = plan
    hops = dev["hops"]
    n = len(host.frames)
    if len(hops) != n:
        raise EdgekitError(f"{dev['where']}: the device answered {len(hops)} hops, the host {n}")
    if dev["solve"] is None:
        raise EdgekitError(f"{dev['where']}: the calibration was never solved")
    out = np.array([np.frombuffer(h["out"], np.int8) for h in hops])
    base = np.array(
        [np.frombuffer(h["base"] if h["base"] is not None else h["out"], np.int8) for h in hops]
    )
    cls = np.array([h["class"] for h in hops])
    votes = np.array([h["vote"] for h in hops])
    frames = np.array([np.frombuffer(h["in"], np.int8) for h in hops])
    cal = np.array([-1 if h["cal"] is None else h["cal"] for h in hops])
    truth = rp.labels[hop_ends(meta, n) - 1]
    dev_head = dev["solve"]["head"]
    base_cls = argmax_first(base)
    sc = scored
    acc = {
        "board_before_k1": float((base_cls == truth)[sc].mean()),
        f"board_before_k{vote}": _vote_acc(base_cls, before, vote, truth, sc),
        "board_after_k1": float((cls == truth)[sc].mean()),
        f"board_after_k{vote}": float((votes == truth)[sc].mean()),
        "host_before_k1": float((argmax_first(host.base_out) == truth)[sc].mean()),
        "host_after_k1": float((host.cls == truth)[sc].mean()),
    }
    exact = {
        "frames": bool(np.array_equal(frames, host.frames)),
        "calibration_hops": bool(np.array_equal(cal, lab)),
        "head_crc": dev["solve"]["crc"] == hd.head_crc(host.head),
        "head_bytes": dev_head == hd.head_bytes(host.head),
        "outputs": float(np.all(out == host.out, axis=1).mean()),
        "base_outputs": float(np.all(base == host.base_out, axis=1).mean()),
        "classes": float((cls == host.cls).mean()),
        "votes": float((votes == host.vote).mean()),
    }
    return {
        "vote": vote,
        "hops": n,
        "calibration_hops": int((lab >= 0).sum()),
        "calibration_hops_per_class": np.bincount(lab[lab >= 0], minlength=meta.n_out).tolist(),
        "scored_hops": int(sc.sum()),
        "hops_before_solve": before,
        "accuracy": acc,
        "exact": exact,
        "agreement_with_host": exact["classes"],
        "errors": dev["errors"],
        "cost": _cost(dev, hops, lab, before, clock_hz, meta),
        "labels": meta.labels,
    }


def _vote_acc(cls: np.ndarray, before: int, k: int, truth, sc) -> float:
    v = np.concatenate([majority_votes(cls[:before], k), majority_votes(cls[before:], k)])
    return float((v == truth)[sc].mean())


def _cost(dev: dict, hops: list[dict], lab: np.ndarray, before: int, clock_hz, meta) -> dict:
    """Ticks (and, under QEMU's instruction count, instructions) of the calibration's work: per
    collected hop (adding its features), the solve, per hop after it (the RAM head)."""
    tick_hz = dev["tick_hz"]
    ipt = 1e9 / tick_hz if (dev["where"].startswith("qemu") and tick_hz) else None
    ct = np.array([h["ct"] for h in hops], np.int64)
    parts = {
        "collect_per_hop": ct[lab >= 0],
        "head_per_hop": ct[before:],
        "solve": np.array([dev["solve"]["ticks"]]),
    }
    out: dict[str, Any] = {"tick_hz": tick_hz}
    for k, v in parts.items():
        d: dict[str, Any] = {"median_ticks": float(np.median(v)) if len(v) else 0.0}
        if ipt:
            d["median_instructions"] = d["median_ticks"] * ipt
        out[k] = d
    m = _START_BYTES.search(dev["calib_start"])
    out["ram_bytes"] = int(m[1]) if m else None
    hop_s = meta.spec.hop / meta.spec.fs
    if ipt:
        out["solve"]["fraction_of_hop_at_clock"] = out["solve"]["median_instructions"] / (
            clock_hz * hop_s
        )
        out["clock_hz"] = clock_hz
    return out


def summary_text(r: dict) -> str:
    a, e, c, k = r["accuracy"], r["exact"], r["cost"], r["vote"]
    ok = e["head_bytes"] and e["outputs"] == 1.0 and e["classes"] == 1.0 and e["votes"] == 1.0
    before, after = a[f"board_before_k{k}"], a[f"board_after_k{k}"]
    s = (
        f"stream --calibrate {r['seconds_per_gesture']:g} s ({r['method']}) on {r['device']}: "
        f"{r['source']}, "
        f"{r['calibration_hops']} calibration hops, {r['scored_hops']} scored: accuracy "
        f"k=1 {a['board_before_k1']:.2%} -> {a['board_after_k1']:.2%} (k={k} "
        f"{before:.2%} -> {after:.2%}); "
        f"head and decisions {'exact with' if ok else 'DIFFER from'} the host"
    )
    if "median_instructions" in c["solve"]:
        s += (
            f"; solve {c['solve']['median_instructions'] / 1e6:.2f} M instructions, "
            f"{c['collect_per_hop']['median_instructions'] / 1e3:.1f} K per collected hop, "
            f"head {c['head_per_hop']['median_instructions'] / 1e3:.1f} K per hop"
        )
    s += f"; RAM {c['ram_bytes']:,} B"
    if r["errors"]:
        s += f"; {len(r['errors'])} device errors (first: {r['errors'][0]})"
    return s


def markdown(r: dict) -> str:
    a, e, c = r["accuracy"], r["exact"], r["cost"]
    k = r["vote"]
    rows = [
        ("calibration", f"{r['method']}, {r['seconds_per_gesture']:g} s per gesture, {r['calibration_hops']} hops"),
        ("scored hops (rest of the session)", str(r["scored_hops"])),
        ("accuracy k=1 before -> after", f"{a['board_before_k1']:.2%} -> {a['board_after_k1']:.2%}"),
        (f"accuracy k={k} before -> after", f"{a[f'board_before_k{k}']:.2%} -> {a[f'board_after_k{k}']:.2%}"),
        ("host k=1 before -> after", f"{a['host_before_k1']:.2%} -> {a['host_after_k1']:.2%}"),
        ("head (CRC / bytes) = host", f"{e['head_crc']} / {e['head_bytes']}"),
        ("outputs / classes / votes = host", f"{e['outputs']:.2%} / {e['classes']:.2%} / {e['votes']:.2%}"),
        ("RAM for calibration", f"{c['ram_bytes']:,} B"),
    ]  # fmt: skip
    for part in ("collect_per_hop", "solve", "head_per_hop"):
        v = f"{c[part]['median_ticks']:,.0f} ticks"
        if "median_instructions" in c[part]:
            v += f" = {c[part]['median_instructions']:,.0f} instructions"
        rows.append((f"cost: {part.replace('_', ' ')}", v))
    out = [f"# edgekit stream --calibrate: {r['source']}", "", f"Device: {r['device']}", ""]
    out += ["| | |", "|---|---|"] + [f"| {x} | {y} |" for x, y in rows]
    if r.get("qemu_note"):
        out += ["", r["qemu_note"] + "."]
    if r["errors"]:
        out += ["", "Device errors:", ""] + [f"- {x}" for x in r["errors"][:20]]
    return "\n".join(out) + "\n"


def write_report(run, board: str, r: dict) -> dict:
    final = run.root / "stream-calibrate" / board / f"{r['method']}-{r['seconds_per_gesture']:g}s"
    with runs.atomic_dir(final) as tmp:
        runs.write_json(tmp / "stream.json", {**r, "provenance": runs.provenance()})
        runs.write_text(tmp / "stream.md", markdown(r))
    return {k: str(final / f"stream.{k}") for k in ("json", "md")}
