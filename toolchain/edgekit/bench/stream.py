"""Streaming replay: raw int16 samples to the board block by block (ek-sblk), a decision back
every hop, checked against the host reference chain (data/causal.py + the tflite_micro
interpreter) and the labels.

The host reference reads its constants from the export's model_meta.h, the very header the
firmware is built with, so both sides run one definition."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import causal
from ..errors import EdgekitError

_HOP = re.compile(r"m-ek-hop-\[(\d+)\]-out\[([0-9a-f]*)\]-class\[(\d+)\]-vote\[(\d+)\]"
                  r"-ft\[(\d+)\]-it\[(\d+)\](?:-in\[([0-9a-f]*)\])?")
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
    if d.get("EK_FEAT_CHAIN") != "1":
        why = re.search(r"// (filter .*)", text)
        raise EdgekitError(f"{path}: the model has no on-device feature chain"
                           + (f" ({why.group(1)})" if why else "")
                           + "; train with --filter causal (the default) and export again")
    try:
        sos = _floats(d["EK_FEAT_SOS"]).reshape(-1, 5)
        fs = float(d["EK_FS_HZ"].rstrip("f"))
        spec = causal.ChainSpec(fs, sos, int(d["EK_FEAT_HOP"]), int(d["EK_FEAT_BLOCKS"]),
                                float(d["EK_FEAT_ADC_LSB"].rstrip("f")), int(d["EK_FEAT_WARMUP_HOPS"]))
        labels = re.findall(r'"((?:[^"\\]|\\.)*)"', d["EK_LABELS"])
        return Meta(spec, int(d["EK_FEAT_CHANNELS"]), _floats(d["EK_NORM_MEAN"]),
                    _floats(d["EK_NORM_STD"]),
                    np.array([int(t) for t in d["EK_FEAT_MASK"].strip("{} ").split(",")], bool),
                    np.array([int(t) for t in d["EK_FEAT_PIXELS"].strip("{} ").split(",")]),
                    float(d["EK_INPUT_SCALE"].rstrip("f")), int(d["EK_INPUT_ZERO_POINT"]),
                    int(d["EK_OUTPUT_SIZE"]), labels, d["EK_MODEL_HASH"].strip('"'))
    except (KeyError, ValueError) as e:
        raise EdgekitError(f"{path}: feature section incomplete or malformed ({e})") from None


def majority_votes(classes: np.ndarray, k: int) -> np.ndarray:
    """The firmware's vote: majority over the last k classes (fewer at the start); a tie goes to
    the class voted most recently."""
    out = np.zeros(len(classes), np.int64)
    for i in range(len(classes)):
        win = [int(c) for c in classes[max(0, i - k + 1):i + 1]]
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
    return causal.quantize_frame(rms, meta.mean, meta.std, meta.mask, meta.pixels, meta.in_scale,
                                 meta.in_zp)


def encode_block(seq: int, block: np.ndarray) -> bytes:
    """ek-sblk header + payload for a (C, n) int16 block."""
    c, n = block.shape
    return (f"ek-sblk {seq} {c} {n}%".encode()
            + np.ascontiguousarray(block.T.astype("<i2")).tobytes())


def parse_block_reply(lines: list[str]) -> tuple[list[dict], dict | None, list[str]]:
    """(hops, block summary, error lines) of one ek-sblk reply."""
    hops, summary, errors = [], None, []
    for ln in lines:
        m = _HOP.fullmatch(ln)
        if m:
            hops.append({"hop": int(m[1]), "out": bytes.fromhex(m[2]), "class": int(m[3]),
                         "vote": int(m[4]), "ft": int(m[5]), "it": int(m[6]),
                         "in": bytes.fromhex(m[7]) if m[7] is not None else None})
            continue
        m = _SBLK.fullmatch(ln)
        if m:
            summary = {"seq": int(m[1]), "hops": int(m[2]), "ticks": int(m[3])}
        elif ln.startswith("e-["):
            errors.append(ln)
    return hops, summary, errors
