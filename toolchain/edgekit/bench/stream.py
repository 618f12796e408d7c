"""Streaming replay: raw int16 samples to the board block by block (ek-sblk), a decision back
every hop, checked against the host reference chain (data/causal.py + the tflite_micro
interpreter) and the labels.

The host reference reads its constants from the export's model_meta.h, the very header the
firmware is built with, so both sides run one definition."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import causal
from ..errors import EdgekitError
from . import timeouts
from .record import qemu_note
from .session import Expect, Session, open_device

_HOP = re.compile(
    r"m-ek-hop-\[(\d+)\]-out\[([0-9a-f]*)\]-class\[(\d+)\]-vote\[(\d+)\]"
    r"-ft\[(\d+)\]-it\[(\d+)\](?:-cal\[(\d+)\])?(?:-ct\[(\d+)\])?(?:-base\[([0-9a-f]*)\])?"
    r"(?:-in\[([0-9a-f]*)\])?"
)
_SBLK = re.compile(r"m-ek-sblk-\[(\d+)\]-hops\[(\d+)\]-ticks\[(\d+)\]")


@dataclass
class Meta:
    """The model_meta.h facts the stream needs."""

    spec: causal.ChainSpec
    n_channels: int
    mean: np.ndarray
    std: np.ndarray
    mask: np.ndarray
    pixels: np.ndarray
    in_scale: float
    in_zp: int
    n_out: int
    labels: list[str]
    model_hash: str


def _floats(v: str) -> np.ndarray:
    return np.array([float(t.rstrip("f")) for t in v.strip("{} ").split(",")], np.float32)


def read_meta(path: Path) -> Meta:
    text = Path(path).read_text()
    d = dict(re.findall(r"#define (EK_\w+) (.*)", text))
    # a define may name another (EK_FEAT_PIXELS EK_GRID_PIXELS): read the value it stands for
    for k, v in d.items():
        seen = {k}
        while v in d and v not in seen:
            seen.add(v)
            v = d[v]
        d[k] = v
    if d.get("EK_FEAT_CHAIN") != "1":
        why = re.search(r"// (filter .*)", text)
        raise EdgekitError(
            f"{path}: the model has no on-device feature chain"
            + (f" ({why.group(1)})" if why else "")
            + "; train with --filter causal (the default) and export again"
        )
    try:
        sos = _floats(d["EK_FEAT_SOS"]).reshape(-1, 5)
        fs = float(d["EK_FS_HZ"].rstrip("f"))
        spec = causal.ChainSpec(
            fs,
            sos,
            int(d["EK_FEAT_HOP"]),
            int(d["EK_FEAT_BLOCKS"]),
            float(d["EK_FEAT_ADC_LSB"].rstrip("f")),
            int(d["EK_FEAT_WARMUP_HOPS"]),
        )
        labels = re.findall(r'"((?:[^"\\]|\\.)*)"', d["EK_LABELS"])
        return Meta(
            spec,
            int(d["EK_FEAT_CHANNELS"]),
            _floats(d["EK_NORM_MEAN"]),
            _floats(d["EK_NORM_STD"]),
            np.array([int(t) for t in d["EK_FEAT_MASK"].strip("{} ").split(",")], bool),
            np.array([int(t) for t in d["EK_FEAT_PIXELS"].strip("{} ").split(",")]),
            float(d["EK_INPUT_SCALE"].rstrip("f")),
            int(d["EK_INPUT_ZERO_POINT"]),
            int(d["EK_OUTPUT_SIZE"]),
            labels,
            d["EK_MODEL_HASH"].strip('"'),
        )
    except (KeyError, ValueError) as e:
        raise EdgekitError(f"{path}: feature section incomplete or malformed ({e})") from None


def majority_votes(classes: np.ndarray, k: int) -> np.ndarray:
    """The firmware's vote: majority over the last k classes (fewer at the start); a tie goes to
    the class voted most recently."""
    out = np.zeros(len(classes), np.int64)
    for i in range(len(classes)):
        win = [int(c) for c in classes[max(0, i - k + 1) : i + 1]]
        best, best_n = win[-1], 0
        for c in reversed(win):
            n = win.count(c)
            if n > best_n:
                best, best_n = c, n
        out[i] = best
    return out


def argmax_first(out: np.ndarray) -> np.ndarray:
    """Class of each int8 output row; ties to the lowest index (as the firmware)."""
    return np.argmax(np.asarray(out, np.int16), axis=1)


def host_frames(meta: Meta, counts: np.ndarray) -> np.ndarray:
    """(C, n) int16 stream -> (hops, H*W) int8 frames the board must build."""
    hops = causal.CausalChain(meta.spec, meta.n_channels).push(counts)
    if not hops:
        return np.zeros((0, len(meta.pixels)), np.int8)
    rms = np.stack([r for r, _ in hops])
    return causal.quantize_frame(
        rms, meta.mean, meta.std, meta.mask, meta.pixels, meta.in_scale, meta.in_zp
    )


def encode_block(seq: int, block: np.ndarray) -> bytes:
    """ek-sblk header + payload for a (C, n) int16 block."""
    c, n = block.shape
    return (
        f"ek-sblk {seq} {c} {n}%".encode() + np.ascontiguousarray(block.T.astype("<i2")).tobytes()
    )


def parse_block_reply(lines: list[str]) -> tuple[list[dict], dict | None, list[str]]:
    """(hops, block summary, error lines) of one ek-sblk reply."""
    hops, summary, errors = [], None, []
    for ln in lines:
        m = _HOP.fullmatch(ln)
        if m:
            hops.append(
                {
                    "hop": int(m[1]),
                    "out": bytes.fromhex(m[2]),
                    "class": int(m[3]),
                    "vote": int(m[4]),
                    "ft": int(m[5]),
                    "it": int(m[6]),
                    # calibration (ek_calib.c): the class the hop was collected for, the ticks
                    # of calibration work in it, the model's own output beside a solved head's
                    "cal": int(m[7]) if m[7] is not None else None,
                    "ct": int(m[8]) if m[8] is not None else 0,
                    "base": bytes.fromhex(m[9]) if m[9] is not None else None,
                    "in": bytes.fromhex(m[10]) if m[10] is not None else None,
                }
            )
            continue
        m = _SBLK.fullmatch(ln)
        if m:
            summary = {"seq": int(m[1]), "hops": int(m[2]), "ticks": int(m[3])}
        elif ln.startswith("e-["):
            errors.append(ln)
    return hops, summary, errors


# ------------------------------------------------------------------------ the replay


@dataclass
class Replay:
    """A held-out recording laid end to end as the amplifier would deliver it."""

    counts: np.ndarray  # (C, n) int16
    labels: np.ndarray  # (n,) class of each sample
    onsets: np.ndarray  # sample index where each trial starts
    trial_labels: np.ndarray
    source: str


def replay_of(
    rec, session: int | None, adc_lsb: float, n_channels: int, max_trials: int | None = None
) -> Replay:
    """The trials of one session (default: the last, the session split's test set), gestures
    interleaved (trial 0 of every gesture, then trial 1, ...) so decisions must change."""
    sessions = sorted({t.session for t in rec.trials})
    s = sessions[-1] if session is None else int(session)
    if s not in sessions:
        raise EdgekitError(
            f"{rec.source}: --session {s} is not in the recording; sessions present: {sessions}"
        )
    trials = sorted((t for t in rec.trials if t.session == s), key=lambda t: (t.trial, t.label))
    if max_trials:
        trials = trials[:max_trials]
    if trials[0].signal.shape[0] != n_channels:
        raise EdgekitError(
            f"{trials[0].source}: {trials[0].signal.shape[0]} channels; the model's "
            f"feature chain expects {n_channels}"
        )
    counts = np.concatenate([causal.to_counts(t.signal, adc_lsb, t.source) for t in trials], axis=1)
    lens = np.array([t.signal.shape[1] for t in trials])
    onsets = np.concatenate([[0], np.cumsum(lens)[:-1]])
    labels = np.repeat([t.label for t in trials], lens)
    return Replay(
        counts,
        labels,
        onsets,
        np.array([t.label for t in trials]),
        f"{rec.source} session {s} ({len(trials)} trials)",
    )


def hop_ends(meta: Meta, n_hops: int) -> np.ndarray:
    """Exclusive end sample of each hop's window."""
    return (np.arange(n_hops) + meta.spec.n_blocks) * meta.spec.hop


def onset_latency(meta: Meta, rp: Replay, decided: np.ndarray) -> dict:
    """From each trial's start to the end of the first window whose decision is its gesture."""
    ends = hop_ends(meta, len(decided))
    lat, missed = [], 0
    for k, (on, lab) in enumerate(zip(rp.onsets, rp.trial_labels, strict=True)):
        stop = rp.onsets[k + 1] if k + 1 < len(rp.onsets) else rp.counts.shape[1]
        hit = np.nonzero((ends > on) & (ends <= stop) & (decided == lab))[0]
        if len(hit):
            lat.append(1000.0 * (ends[hit[0]] - on) / meta.spec.fs)
        else:
            missed += 1
    a = np.array(lat) if lat else np.zeros(1)
    return {
        "trials": int(len(rp.onsets)),
        "never_decided": missed,
        "median_ms": float(np.median(a)),
        "p90_ms": float(np.percentile(a, 90)),
        "max_ms": float(a.max()),
    }


def _device_stream(
    link, meta: Meta, rp: Replay, block: int, vote: int, realtime: bool, on_block=None
) -> tuple[list[dict], list[str], list[dict]]:
    """Every block of the replay through ek-sblk: (hops, device errors, block summaries)."""
    replies = link.command(f"ek-stream-start {vote} 1 {int(realtime)}")
    if not any(r.text.startswith("m-ek-stream-ch[") for r in replies):
        raise EdgekitError(
            f"ek-stream-start answered {[r.text for r in replies]!r}; flash firmware "
            "built from this export"
        )
    timeout = timeouts.block_timeout(block / meta.spec.fs)
    hops, errors, blocks = [], [], []
    n = rp.counts.shape[1]
    t0 = time.monotonic()
    for seq, pos in enumerate(range(0, n, block)):
        blk = rp.counts[:, pos : pos + block]
        if realtime:  # the amplifier delivers a block once its last sample exists
            wait = t0 + (pos + blk.shape[1]) / meta.spec.fs - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        link.write(encode_block(seq, blk))
        lines = [r.text for r in link.read_until_ready(timeout, f"ek-sblk {seq}")]
        h, summary, errs = parse_block_reply(lines)
        hops += h
        errors += [f"block {seq}: {e}" for e in errs]
        if summary is None:
            raise EdgekitError(f"ek-sblk {seq}: no m-ek-sblk summary in {lines[-3:]!r}")
        blocks.append(summary)
        if on_block:
            on_block(pos + blk.shape[1], n)
    return hops, errors, blocks


def _recording(run, recording: Path | None, fmt: str):
    """--recording, else the data the run was trained on (train.json's data.root)."""
    from .. import runs
    from ..data import load_recording

    if recording is not None:
        return load_recording(Path(recording), fmt)
    tr = runs.read_json(
        run.require(
            run.report_path("train"), "training report", "train the model first (edgekit train)"
        )
    )
    data = tr.get("data") or {}
    if not data.get("root"):
        raise EdgekitError(
            f"{run.report_path('train')}: field data.root missing; give --recording FILE"
        )
    return load_recording(
        Path(data["root"]), data["kind"] if data.get("kind") in ("csl", "otb") else "csl"
    )


def _host_reference(run, meta_h: Path, meta: Meta, rp: Replay) -> tuple[np.ndarray, np.ndarray]:
    """The frames the board must build and tflite_micro's outputs on them."""
    from ..export.reference import run_reference

    frames = host_frames(meta, rp.counts)
    model = (run.export_dir / "model_int8.tflite").read_bytes()
    # the host reference is TFLM: its own arena figure (EK_ARENA_SIZE may be edgekit-rt's, smaller)
    sizes = _meta_ints(meta_h, "EK_ARENA_SIZE", "EK_ARENA_SIZE_TFLM")
    arena = sizes.get("EK_ARENA_SIZE_TFLM", sizes["EK_ARENA_SIZE"])
    hw = _meta_ints(meta_h, "EK_INPUT_H", "EK_INPUT_W")
    rows, cols = hw["EK_INPUT_H"], hw["EK_INPUT_W"]
    return frames, run_reference(model, frames.reshape(len(frames), rows, cols, 1), arena)


def _meta_ints(meta_h: Path, *names: str) -> dict[str, int]:
    d = dict(re.findall(r"#define (EK_\w+) (\d+)\s*$", meta_h.read_text(), re.M))
    return {k: int(d[k]) for k in names if k in d}


def run_stream(
    run,
    board,
    port: str | None = None,
    *,
    session: int | None = None,
    recording: Path | None = None,
    fmt: str = "csl",
    realtime: bool = False,
    vote: int = 5,
    block: int | None = None,
    max_trials: int | None = None,
    clock_hz: float = 156e6,
    baud: int | None = None,
    build_fn=None,
    progress: bool = True,
    write: bool = True,
) -> dict:
    """Replay a held-out recording through the board and check it against the host chain."""
    meta_h = run.require(
        run.export_dir / "model_meta.h",
        "exported model",
        f"run `edgekit export --board {board.name}` first",
    )
    meta = read_meta(meta_h)
    if not 1 <= vote <= 32:
        raise EdgekitError(f"--vote: expected 1..32 windows, got {vote}")
    block = block or meta.spec.hop
    rec = _recording(run, recording, fmt)
    rp = replay_of(rec, session, meta.spec.adc_lsb, meta.n_channels, max_trials)
    frames, host_out = _host_reference(run, meta_h, meta, rp)
    host_cls = argmax_first(host_out)
    expect = Expect(
        meta.model_hash,
        _meta_ints(meta_h, "EK_INPUT_SIZE").get("EK_INPUT_SIZE", len(meta.pixels)),
        meta.n_out,
        str(run.export_dir / "model_int8.tflite"),
        str(run.firmware_dir(board.name)),
        f"edgekit export --board {board.name} --build",
    )
    with open_device(run, board, port, baud, build_fn, {}) as (link, where):
        s = Session(link, expect, timeouts.for_board(board))
        s.start(timeouts.boot_timeout(board, port is None))  # the model must be this export's
        dev = _on_device(s, where, meta, rp, (block, vote, realtime), progress)
    rec_out = evaluate(
        meta,
        rp,
        frames,
        host_out,
        host_cls,
        dev["hops"],
        vote,
        dev["tick_hz"],
        clock_hz,
        board,
        dev["where"],
    )
    rec_out.update(
        {
            "link": dev["link"],
            "errors": dev["errors"],
            "blocks": len(dev["blocks"]),
            "block_samples": block,
            "realtime": realtime,
            "source": rp.source,
            "run": str(run.root),
            "qemu_note": qemu_note(dev["tick_hz"]) if dev["where"].startswith("qemu") else "",
        }
    )
    rec_out["summary"] = summary_text(rec_out)
    if write:
        rec_out["files"] = write_stream(run, board.name, rec_out, rp, meta, dev["hops"])
    return rec_out


def _on_device(
    s: Session, where: str, meta: Meta, rp: Replay, how: tuple[int, int, bool], progress: bool
) -> dict:
    """The replay on a device past the handshake (how: block, vote, realtime); samples go through
    QEMU's semihosting FIFO where there is one."""
    from ..progress import progress_bar

    if not s.caps.ek or s.info is None:
        raise EdgekitError(
            f"{where}: the device speaks plain EEMBC (no ek- commands); streaming needs "
            f"edgekit firmware built from this export ({s.expect.fw_hint})"
        )
    bar = progress_bar(None, "stream (samples)", enabled=progress, total=rp.counts.shape[1])
    last = [0]

    def on_block(done: int, total: int) -> None:
        bar.update(done - last[0])
        last[0] = done

    hops, errors, blocks = _device_stream(s.link, meta, rp, *how, on_block)
    bar.close()
    return {
        "hops": hops,
        "errors": errors,
        "blocks": blocks,
        "where": where,
        "tick_hz": s.info.tick_hz,
        "link": "samples by semihosting FIFO, replies by UART" if s.caps.rx_file else "serial",
    }


def evaluate(
    meta: Meta,
    rp: Replay,
    frames: np.ndarray,
    host_out: np.ndarray,
    host_cls: np.ndarray,
    hops: list[dict],
    vote: int,
    tick_hz: int,
    clock_hz: float,
    board,
    where: str,
) -> dict:
    n = len(frames)
    if len(hops) != n:
        raise EdgekitError(
            f"{where}: the device answered {len(hops)} hops, the host chain made {n}"
        )
    dev_in = np.array([np.frombuffer(h["in"], np.int8) for h in hops])
    dev_out = np.array([np.frombuffer(h["out"], np.int8) for h in hops])
    dev_cls = np.array([h["class"] for h in hops])
    dev_vote = np.array([h["vote"] for h in hops])
    host_vote = majority_votes(host_cls, vote)
    ends = hop_ends(meta, n)
    truth = rp.labels[ends - 1]
    scored = np.arange(n) >= meta.spec.warmup_hops  # the stream's own cold start
    diff = np.abs(dev_in.astype(np.int16) - frames.astype(np.int16))
    ft = np.array([h["ft"] for h in hops], np.int64)
    it = np.array([h["it"] for h in hops], np.int64)
    hop_s = meta.spec.hop / meta.spec.fs
    emulated = where.startswith("qemu")
    ipt = 1e9 / tick_hz if (emulated and tick_hz) else None  # instructions per tick under icount

    def cost(v: np.ndarray) -> dict:
        d = {"median_ticks": float(np.median(v)), "max_ticks": int(v.max())}
        if ipt:
            d["median_instructions"] = float(np.median(v) * ipt)
            d["fraction_of_hop_at_clock"] = float(np.median(v) * ipt / (clock_hz * hop_s))
            d["max_fraction_of_hop_at_clock"] = float(v.max() * ipt / (clock_hz * hop_s))
        elif tick_hz:
            d["fraction_of_hop"] = float(np.median(v) / (tick_hz * hop_s))
        return d

    return {
        "board": board.name,
        "device": where,
        "hops": n,
        "scored_hops": int(scored.sum()),
        "hop_samples": meta.spec.hop,
        "window_samples": meta.spec.window,
        "fs": meta.spec.fs,
        "hop_ms": 1000 * hop_s,
        "vote": vote,
        "accuracy": {
            "k1": float((dev_cls == truth)[scored].mean()),
            f"k{vote}": float((dev_vote == truth)[scored].mean()),
            "host_k1": float((host_cls == truth)[scored].mean()),
        },
        "agreement_with_host": {
            "class": float((dev_cls == host_cls).mean()),
            "vote": float((dev_vote == host_vote).mean()),
        },
        "exact": {
            "frames": float((diff.max(axis=1) == 0).mean()),
            "frame_elements_differing": int((diff > 0).sum()),
            "frame_elements": int(diff.size),
            "max_lsb_diff": int(diff.max(initial=0)),
            "outputs": float(np.all(dev_out == host_out, axis=1).mean()),
        },
        "cost": {
            "tick_hz": tick_hz,
            "clock_hz": clock_hz if ipt else None,
            "features": cost(ft),
            "inference": cost(it),
            "total": cost(ft + it),
        },
        "latency": onset_latency(meta, rp, dev_vote),
        "latency_k1": onset_latency(meta, rp, dev_cls),
        "labels": meta.labels,
    }


def summary_text(r: dict) -> str:
    a, c = r["accuracy"], r["cost"]["total"]
    k = f"k{r['vote']}"
    s = (
        f"stream {r['source']} on {r['device']}: {r['hops']} hops of {r['hop_ms']:.1f} ms; "
        f"accuracy k=1 {a['k1']:.2%}, k={r['vote']} {a[k]:.2%} (host k=1 {a['host_k1']:.2%}); "
        f"agreement with host {r['agreement_with_host']['class']:.2%} (vote "
        f"{r['agreement_with_host']['vote']:.2%}); exact frames {r['exact']['frames']:.2%}, "
        f"outputs {r['exact']['outputs']:.2%}; onset latency median {r['latency']['median_ms']:.0f} ms"
    )
    if "fraction_of_hop_at_clock" in c:
        s += (
            f"; per hop {c['median_instructions'] / 1e6:.1f} M instructions = "
            f"{c['fraction_of_hop_at_clock']:.0%} of a hop at {r['cost']['clock_hz'] / 1e6:g} MHz"
        )
    if r["errors"]:
        s += f"; {len(r['errors'])} device errors (first: {r['errors'][0]})"
    return s


def markdown(r: dict) -> str:
    k = f"k{r['vote']}"
    rows = [
        ("hops (scored after warm-up)", f"{r['hops']} ({r['scored_hops']})"),
        ("hop / window", f"{r['hop_samples']} / {r['window_samples']} samples at {r['fs']:g} Hz"),
        (
            "accuracy k=1 / k=" + str(r["vote"]),
            f"{r['accuracy']['k1']:.2%} / {r['accuracy'][k]:.2%}",
        ),
        ("host chain accuracy k=1", f"{r['accuracy']['host_k1']:.2%}"),
        (
            "agreement with host (class / vote)",
            f"{r['agreement_with_host']['class']:.2%} / {r['agreement_with_host']['vote']:.2%}",
        ),
        (
            "exact int8 frames / outputs",
            f"{r['exact']['frames']:.2%} / {r['exact']['outputs']:.2%}",
        ),
        (
            "frame elements differing (max LSB)",
            f"{r['exact']['frame_elements_differing']} of {r['exact']['frame_elements']} "
            f"({r['exact']['max_lsb_diff']})",
        ),
        (
            "onset -> first correct decision (median / p90 / never)",
            f"{r['latency']['median_ms']:.0f} / {r['latency']['p90_ms']:.0f} ms / "
            f"{r['latency']['never_decided']} of {r['latency']['trials']}",
        ),
    ]
    for part in ("features", "inference", "total"):
        c = r["cost"][part]
        v = f"{c['median_ticks']:,.0f} ticks (max {c['max_ticks']:,})"
        if "median_instructions" in c:
            v += (
                f"; {c['median_instructions'] / 1e6:.2f} M instr = "
                f"{c['fraction_of_hop_at_clock']:.1%} of the hop at {r['cost']['clock_hz'] / 1e6:g} MHz "
                f"(max {c['max_fraction_of_hop_at_clock']:.1%})"
            )
        rows.append((f"per-hop cost: {part}", v))
    out = [
        f"# edgekit stream: {r['source']}",
        "",
        f"Device: {r['device']}",
        "",
        "| | |",
        "|---|---|",
    ] + [f"| {a} | {b} |" for a, b in rows]
    if r.get("qemu_note"):
        out += ["", r["qemu_note"] + "."]
    if r["errors"]:
        out += ["", "Device errors:", ""] + [f"- {e}" for e in r["errors"][:20]]
    return "\n".join(out) + "\n"


def plot(r: dict, rp: Replay, meta: Meta, hops: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fs = meta.spec.fs
    t = np.arange(rp.counts.shape[1]) / fs
    ends = hop_ends(meta, len(hops)) / fs
    fig, ax = plt.subplots(3, 1, figsize=(11, 7), sharex=True)
    for i, c in enumerate(np.linspace(0, meta.n_channels - 1, 4).astype(int)):
        x = rp.counts[c].astype(np.float32) * meta.spec.adc_lsb
        ax[0].plot(t, x - x.mean() + i * 4 * (x.std() + 1e-9), lw=0.3)
    ax[0].set_ylabel("signal (4 channels)")
    ax[1].step(t, rp.labels, where="post", label="true", lw=1)
    ax[1].step(
        ends, [h["vote"] for h in hops], where="post", label=f"decided (k={r['vote']})", lw=1
    )
    ax[1].set_yticks(range(len(meta.labels)))
    ax[1].set_yticklabels(meta.labels, fontsize=7)
    ax[1].legend(fontsize=7, loc="upper right")
    c = r["cost"]
    scale = (
        (1e9 / c["tick_hz"] / (c["clock_hz"] * meta.spec.hop / fs))
        if c.get("clock_hz")
        else (1.0 / (c["tick_hz"] * meta.spec.hop / fs) if c["tick_hz"] else 1.0)
    )
    ax[2].plot(ends, [h["ft"] * scale for h in hops], lw=0.8, label="features")
    ax[2].plot(
        ends, [(h["ft"] + h["it"]) * scale for h in hops], lw=0.8, label="features + inference"
    )
    ax[2].axhline(1.0, color="k", ls="--", lw=0.8, label="hop budget")
    where = f" at {c['clock_hz'] / 1e6:g} MHz (QEMU instructions)" if c.get("clock_hz") else ""
    ax[2].set_ylabel("fraction of hop" + where, fontsize=7)
    ax[2].set_xlabel("time (s)")
    ax[2].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_stream(run, board: str, r: dict, rp: Replay, meta: Meta, hops: list[dict]) -> dict:
    from .. import runs

    final = run.root / "stream" / board
    with runs.atomic_dir(final) as tmp:
        runs.write_json(tmp / "stream.json", {**r, "provenance": runs.provenance()})
        runs.write_text(tmp / "stream.md", markdown(r))
        plot(r, rp, meta, hops, tmp / "stream.png")
    return {k: str(final / f"stream.{k}") for k in ("json", "md", "png")}
