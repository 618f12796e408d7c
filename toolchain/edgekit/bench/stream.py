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
from .cycles import INFERENCE, KEEP_UP_SHARE, WHAT, CycleMeter
from .record import qemu_note
from .session import Expect, Session, open_device

# The feature chain's entry: firmware/app/ek_sblk.c calls it with BL for every buffered block of
# samples; the hop's inference follows the call that completes the hop.
FEATURES = "ek_features_push_block"

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


def disturb_recording(
    rec, condition: str | None, seed: int, adc_lsb: float, session: int | None
) -> tuple[object, dict | None]:
    """stream --disturb: the condition's simulators (data/disturb.py, seeded) on the raw trials
    of the replayed session, clipped at the ADC's range of the model's ADC step, before they
    become the int16 blocks the board gets (and the host reference mirrors). No condition: the
    recording as it is."""
    if not condition:
        return rec, None
    from ..data.disturb import apply_to_recording, parse_conditions

    (cond,) = parse_conditions(condition)
    s = max(t.session for t in rec.trials) if session is None else int(session)
    out = apply_to_recording(rec, cond.split(","), seed, sessions=[s], adc_lsb=adc_lsb)
    return out, {"condition": cond, "seed": seed, "clipping": out.extra["disturb"]["clipping"]}


def disturb_note(disturbed: dict | None) -> str:
    if not disturbed:
        return ""
    c = disturbed["clipping"]
    return (
        f"; --disturb {disturbed['condition']} (seed {disturbed['seed']}): {c['fraction']:.3%} "
        f"of the session's samples clipped at the ADC's full scale "
        f"({c['trials_clipped']} of {c['trials']} trials)"
    )


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
    from ..data import FORMATS, load_recording

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
    # the synthetic default is a CSL-layout dataset; any other kind is the format it was read as
    return load_recording(
        Path(data["root"]), data["kind"] if data.get("kind") in FORMATS else "csl"
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
    clock_hz: float | None = None,
    baud: int | None = None,
    build_fn=None,
    progress: bool = True,
    write: bool = True,
    cycles: bool = True,
    disturb: str | None = None,
    seed: int = 0,
) -> dict:
    """Replay a held-out recording through the board and check it against the host chain.
    clock_hz: the clock the per-hop cost is judged at (default the board's). cycles: under
    QEMU, each hop's features and inference in estimated Cortex-M4 cycles (m4cycles).
    disturb: a condition of data/disturb.py applied to the raw samples first, seeded."""
    meta_h = run.require(
        run.export_dir / "model_meta.h",
        "exported model",
        f"run `edgekit export --board {board.name}` first",
    )
    meta = read_meta(meta_h)
    if not 1 <= vote <= 32:
        raise EdgekitError(f"--vote: expected 1..32 windows, got {vote}")
    block = block or meta.spec.hop
    rec, disturbed = disturb_recording(
        _recording(run, recording, fmt), disturb, seed, meta.spec.adc_lsb, session
    )
    rp = replay_of(rec, session, meta.spec.adc_lsb, meta.n_channels, max_trials)
    frames, host_out = _host_reference(run, meta_h, meta, rp)
    host_cls = argmax_first(host_out)
    meter = CycleMeter([FEATURES, INFERENCE]) if cycles and port is None else None
    with open_device(run, board, port, baud, build_fn, {}, meter=meter) as (link, where):
        s = Session(link, _expect(run, board, meta_h, meta), timeouts.for_board(board))
        s.start(timeouts.boot_timeout(board, port is None))  # the model must be this export's
        base = len(meter.roots()) if meter else 0
        dev = _on_device(s, where, meta, rp, (block, vote, realtime), progress)
        if meter is not None:
            calls = meter.roots()[base:]
            dev["cycles_why_not"] = meter.why_not or add_hop_cycles(dev["hops"], calls)
    rec_out = evaluate(
        meta, rp, frames, host_out, host_cls, dev["hops"], vote, dev["tick_hz"],
        clock_hz or board.clock_hz, board, dev["where"], _cycles_status(port, meter, dev),
    )  # fmt: skip
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
            "fpu_note": fpu_note(board) if dev["where"].startswith("qemu") else "",
            "disturb": disturbed,
        }
    )
    rec_out["summary"] = summary_text(rec_out) + disturb_note(disturbed)
    if write:
        rec_out["files"] = write_stream(run, board.name, rec_out, rp, meta, dev["hops"])
    return rec_out


def _expect(run, board, meta_h: Path, meta: Meta) -> Expect:
    return Expect(
        meta.model_hash,
        _meta_ints(meta_h, "EK_INPUT_SIZE").get("EK_INPUT_SIZE", len(meta.pixels)),
        meta.n_out,
        str(run.export_dir / "model_int8.tflite"),
        str(run.firmware_dir(board.name)),
        f"edgekit export --board {board.name} --build",
    )


def _cycles_status(port: str | None, meter: CycleMeter | None, dev: dict) -> str | None:
    """None on a real port (its own timer is the cost); under QEMU "" when each hop has its
    cycle estimate, else why it has none."""
    if port is not None:
        return None
    if meter is None:
        return "the cycle estimate is off (QEMU's ticks count instructions, not cycles)"
    return dev.get("cycles_why_not") or ""


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
    cycles_why_not: str | None = None,
) -> dict:
    """The replay's record: exactness and agreement with the host chain, accuracy, onset
    latency, and what each hop cost (cycles_why_not: None on a real port, else "" when every
    hop has its m4cycles estimate or why none has)."""
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
    hop_s = meta.spec.hop / meta.spec.fs
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
        "cost": hop_cost(hops, tick_hz, clock_hz, hop_s, where, cycles_why_not),
        "latency": onset_latency(meta, rp, dev_vote),
        "latency_k1": onset_latency(meta, rp, dev_cls),
        "labels": meta.labels,
    }


def add_hop_cycles(hops: list[dict], calls: list) -> str | None:
    """Each hop's estimated cycles from the m4cycles calls of the stream, in order: its features
    are every ek_features_push_block call since the previous hop's inference (the first hop's:
    since the stream began, the window's first fill), its inference the ek_model_invoke call.
    Sets hop["features_cycles"], hop["inference_cycles"]; returns why not when they disagree."""
    feats, infs, acc = [], [], 0
    for c in calls:
        if c.function == FEATURES:
            acc += c.counts.cycles
        elif c.function == INFERENCE:
            feats.append(acc)
            infs.append(c.counts.cycles)
            acc = 0
    if len(infs) != len(hops):
        return f"m4cycles saw {len(infs)} inferences in the stream, the device answered {len(hops)} hops"
    for h, f, i in zip(hops, feats, infs, strict=True):
        h["features_cycles"], h["inference_cycles"] = f, i
    return None


def _spread(v: np.ndarray) -> dict:
    return {"median": float(np.median(v)), "max": float(v.max())}


def hop_cost(
    hops: list[dict],
    tick_hz: int,
    clock_hz: float,
    hop_s: float,
    where: str,
    cycles_why_not: str | None,
) -> dict:
    """What a hop costs: the device's ticks (features, inference, total; instructions under
    QEMU -icount), and the verdict: does the board keep up, features + inference of every hop
    after the first within KEEP_UP_SHARE of the hop (the first hop's features are the window's
    first fill). Under QEMU the verdict is in estimated Cortex-M4 cycles at clock_hz; on a real
    board in its own timer's ticks."""
    ipt = 1e9 / tick_hz if (where.startswith("qemu") and tick_hz) else None
    ft = np.array([h["ft"] for h in hops], np.int64)
    it = np.array([h["it"] for h in hops], np.int64)
    out: dict = {"tick_hz": tick_hz, "clock_hz": clock_hz, "hop_ms": 1e3 * hop_s}
    for part, v in (("features", ft), ("inference", it), ("total", ft + it)):
        out[part] = {"median_ticks": float(np.median(v)), "max_ticks": int(v.max())}
        if ipt:
            out[part]["median_instructions"] = float(np.median(v) * ipt)
    steady = slice(1, None) if len(hops) > 1 else slice(None)
    if cycles_why_not is None and tick_hz and not ipt:  # a real board: its own timer
        per_s = float(tick_hz)
        parts = {"features": ft[steady], "inference": it[steady]}
    elif cycles_why_not == "" and hops:
        fc = np.array([h["features_cycles"] for h in hops], np.int64)
        ic = np.array([h["inference_cycles"] for h in hops], np.int64)
        out["cycles"] = {
            "what": WHAT,
            "features": _spread(fc[steady]),
            "inference": _spread(ic[steady]),
            "total": _spread((fc + ic)[steady]),
            "first_hop_features": int(fc[0]),
        }
        per_s = clock_hz
        parts = {"features": fc[steady], "inference": ic[steady]}
    else:
        out["verdict"] = None
        out["no_verdict_why"] = cycles_why_not or "the device has no timer"
        return out
    out["verdict"] = keeps_up(parts["features"], parts["inference"], per_s, hop_s)
    return out


def keeps_up(features: np.ndarray, inference: np.ndarray, per_s: float, hop_s: float) -> dict:
    """Every hop's features + inference (in units of per_s per second) within KEEP_UP_SHARE of
    the hop: the worst hop decides; the medians say what a typical hop takes."""
    total = features + inference
    budget = per_s * hop_s
    worst = float(total.max())
    return {
        "keeps_up": worst <= KEEP_UP_SHARE * budget,
        "limit_share": KEEP_UP_SHARE,
        "features": float(np.median(features)),
        "inference": float(np.median(inference)),
        "total": float(np.median(total)),
        "worst_total": worst,
        "per_hop_budget": budget,
        "share_of_hop": float(np.median(total)) / budget,
        "worst_share_of_hop": worst / budget,
        "worst_ms": 1e3 * worst / per_s,
        "median_ms": 1e3 * float(np.median(total)) / per_s,
    }


def fpu_note(board) -> str:
    """A soft-float build pays for the feature chain's float arithmetic in software."""
    if board.cpu.lower() != "cortex-m4":
        return ""
    return (
        f"{board.name} is a Cortex-M4 without an FPU: its firmware is built soft-float, so the "
        "feature chain's float arithmetic runs in library calls; a Cortex-M4F build (e.g. "
        "stm32f405, or the Spresense's) runs it in the FPU, several times cheaper"
    )


def verdict_line(r: dict) -> str:
    """Does the board keep up with the stream: the answer first, then the numbers."""
    c = r["cost"]
    v = c.get("verdict")
    if v is None:
        return f"keeps up? not known: {c.get('no_verdict_why', 'no per-hop cost')}"
    if "cycles" in c:
        at, unit = f"at {c['clock_hz'] / 1e6:g} MHz", f"{WHAT} per hop"
    else:
        at, unit = "by the device's timer", f"ticks at {c['tick_hz']:,} Hz per hop"
    return (
        f"keeps up {at}? {'YES' if v['keeps_up'] else 'NO'}: features "
        f"{v['features'] / 1e6:.2f} M + inference {v['inference'] / 1e6:.2f} M = "
        f"{v['total'] / 1e6:.2f} M {unit} = {v['median_ms']:.1f} ms = {v['share_of_hop']:.0%} "
        f"of the {c['hop_ms']:.1f} ms hop (worst hop {v['worst_share_of_hop']:.0%}; the limit "
        f"is {v['limit_share']:.0%})"
    )


def summary_text(r: dict) -> str:
    a = r["accuracy"]
    k = f"k{r['vote']}"
    s = (
        f"stream {r['source']} on {r['device']}: {r['hops']} hops of {r['hop_ms']:.1f} ms; "
        f"accuracy k=1 {a['k1']:.2%}, k={r['vote']} {a[k]:.2%} (host k=1 {a['host_k1']:.2%}); "
        f"agreement with host {r['agreement_with_host']['class']:.2%} (vote "
        f"{r['agreement_with_host']['vote']:.2%}); exact frames {r['exact']['frames']:.2%}, "
        f"outputs {r['exact']['outputs']:.2%}; onset latency median {r['latency']['median_ms']:.0f} ms"
    )
    if r["errors"]:
        s += f"; {len(r['errors'])} device errors (first: {r['errors'][0]})"
    s += "\n" + verdict_line(r)
    if r.get("fpu_note"):
        s += "\nnote: " + r["fpu_note"]
    return s


def _cost_rows(r: dict) -> list[tuple[str, str]]:
    c = r["cost"]
    rows = []
    for part in ("features", "inference", "total"):
        t = c[part]
        v = f"{t['median_ticks']:,.0f} ticks (max {t['max_ticks']:,})"
        if "median_instructions" in t:
            v += f"; {t['median_instructions'] / 1e6:.2f} M instructions (QEMU)"
        if "cycles" in c:
            e = c["cycles"][part]
            v += (
                f"; {e['median'] / 1e6:.2f} M est. cycles (max {e['max'] / 1e6:.2f} M) = "
                f"{1e3 * e['median'] / c['clock_hz']:.1f} ms at {c['clock_hz'] / 1e6:g} MHz"
            )
        rows.append((f"per-hop cost: {part}", v))
    if "cycles" in c:
        rows.append(
            (
                "first hop's features (the window's first fill)",
                f"{c['cycles']['first_hop_features'] / 1e6:.2f} M est. cycles",
            )
        )
    rows.append(("keeps up?", verdict_line(r)))
    return rows


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
    ] + _cost_rows(r)
    out = [
        f"# edgekit stream: {r['source']}",
        "",
        f"Device: {r['device']}",
        "",
        "| | |",
        "|---|---|",
    ] + [f"| {a} | {b} |" for a, b in rows]
    for note in ("qemu_note", "fpu_note"):
        if r.get(note):
            out += ["", r[note] + "."]
    if "cycles" in r["cost"]:
        from .cycles import NOTE

        out += ["", f"Cycles: {NOTE}."]
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
    feat, total, label = _hop_shares(c, hops)
    ax[2].plot(ends, feat, lw=0.8, label="features")
    ax[2].plot(ends, total, lw=0.8, label="features + inference")
    if c.get("verdict"):
        ax[2].axhline(1.0, color="k", ls="--", lw=0.8, label="hop")
        ax[2].axhline(KEEP_UP_SHARE, color="C3", ls=":", lw=0.8, label="keep-up limit")
    ax[2].set_ylabel(label, fontsize=7)
    ax[2].set_xlabel("time (s)")
    ax[2].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _hop_shares(c: dict, hops: list[dict]) -> tuple[list[float], list[float], str]:
    """Per hop: features and features + inference as a share of the hop, on the verdict's basis
    (estimated cycles at the clock, or a real board's timer); raw ticks when there is none."""
    hop_s = c["hop_ms"] / 1e3
    if "cycles" in c:
        f = [h["features_cycles"] / (c["clock_hz"] * hop_s) for h in hops]
        t = [(h["features_cycles"] + h["inference_cycles"]) / (c["clock_hz"] * hop_s) for h in hops]
        return f, t, f"share of hop, est. cycles at {c['clock_hz'] / 1e6:g} MHz"
    if c.get("verdict"):
        per = c["tick_hz"] * hop_s
        return (
            [h["ft"] / per for h in hops],
            [(h["ft"] + h["it"]) / per for h in hops],
            ("share of hop (device timer)"),
        )
    return [h["ft"] for h in hops], [h["ft"] + h["it"] for h in hops], "ticks per hop"


def write_stream(run, board: str, r: dict, rp: Replay, meta: Meta, hops: list[dict]) -> dict:
    from .. import runs

    final = run.root / "stream" / board
    with runs.atomic_dir(final) as tmp:
        runs.write_json(tmp / "stream.json", {**r, "provenance": runs.provenance()})
        runs.write_text(tmp / "stream.md", markdown(r))
        plot(r, rp, meta, hops, tmp / "stream.png")
    return {k: str(final / f"stream.{k}") for k in ("json", "md", "png")}
