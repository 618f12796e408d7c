"""Random single-op (and small multi-op) int8 TFLite models for the edgekit-rt tests.

Each ModelSpec is a seeded recipe: Keras layer(s) with random shapes, strides, paddings,
channel counts and weight/data ranges -> tf.lite.TFLiteConverter (full int8, int8 in/out).
Models are cached on disk by a hash of the recipe and the TensorFlow version, so a second
test session skips TensorFlow entirely when nothing changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RECIPE_VERSION = 3  # bump when build() changes so cached models are rebuilt


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    float_io: bool = False

    def key(self) -> str:
        blob = json.dumps(
            {
                "v": RECIPE_VERSION,
                "name": self.name,
                "kind": self.kind,
                "seed": self.seed,
                "params": self.params,
                "float_io": self.float_io,
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _rand_range(rng: np.random.Generator) -> tuple[float, float]:
    """A random float data range (asymmetric, scale anywhere from ~0.01 to ~10)."""
    span = float(10 ** rng.uniform(-1.0, 1.3))
    lo = -span * float(rng.uniform(0.0, 1.0))
    return lo, lo + span


def conv_specs(seed0: int = 100) -> list[ModelSpec]:
    fixed = [  # (kernel, stride, padding, activation, dilation, groups)
        (1, 1, "valid", None, 1, 1),
        (1, 1, "same", "relu6", 1, 1),
        (3, 1, "same", None, 1, 1),
        (3, 1, "valid", "relu6", 1, 1),
        (3, 2, "same", "relu6", 1, 1),
        (3, 2, "valid", None, 1, 1),
        (3, 1, "same", "relu", 2, 1),
        ((2, 5), (1, 2), "same", None, 1, 1),
        (3, 1, "same", "relu6", 1, 2),
        (3, 2, "same", "relu6", 1, 1),  # per-tensor weights (see per_tensor below)
    ]
    out = []
    for i, (k, s, pad, act, dil, groups) in enumerate(fixed):
        rng = np.random.default_rng(seed0 + i)
        cin = int(rng.integers(1, 7)) * groups
        cout = int(rng.integers(1, 9)) * groups
        h, w = int(rng.integers(4, 11)), int(rng.integers(4, 14))
        out.append(
            ModelSpec(
                f"conv{i}",
                "conv",
                seed0 + i,
                dict(
                    h=h,
                    w=w,
                    cin=cin,
                    cout=cout,
                    k=k,
                    s=s,
                    pad=pad,
                    act=act,
                    dil=dil,
                    groups=groups,
                    wstd=float(10 ** rng.uniform(-1.5, 0.3)),
                    range=_rand_range(rng),
                    per_tensor=i == len(fixed) - 1,
                ),
            )
        )
    return out


def dw_specs(seed0: int = 200) -> list[ModelSpec]:
    fixed = [  # (kernel, stride, padding, activation, depth_multiplier, dilation)
        (3, 1, "same", "relu6", 1, 1),
        (3, 2, "same", None, 1, 1),
        (3, 2, "valid", "relu6", 2, 1),
        (5, 1, "valid", None, 3, 1),
        (3, 1, "same", "relu", 1, 2),
    ]
    out = []
    for i, (k, s, pad, act, dm, dil) in enumerate(fixed):
        rng = np.random.default_rng(seed0 + i)
        out.append(
            ModelSpec(
                f"dw{i}",
                "dw",
                seed0 + i,
                dict(
                    h=int(rng.integers(5, 12)),
                    w=int(rng.integers(5, 14)),
                    cin=int(rng.integers(1, 9)),
                    k=k,
                    s=s,
                    pad=pad,
                    act=act,
                    dm=dm,
                    dil=dil,
                    wstd=float(10 ** rng.uniform(-1.5, 0.3)),
                    range=_rand_range(rng),
                ),
            )
        )
    return out


def fc_specs(seed0: int = 300) -> list[ModelSpec]:
    out = []
    for i, (act, rank3, per_tensor) in enumerate(
        [(None, False, False), ("relu", False, False), (None, True, False), ("relu6", False, True)]
    ):
        rng = np.random.default_rng(seed0 + i)
        out.append(
            ModelSpec(
                f"fc{i}",
                "fc",
                seed0 + i,
                dict(
                    n=int(rng.integers(3, 64)),
                    units=int(rng.integers(1, 20)),
                    act=act,
                    rank3=rank3,
                    rows=int(rng.integers(2, 5)),
                    wstd=float(10 ** rng.uniform(-1.5, 0.3)),
                    range=_rand_range(rng),
                    per_tensor=per_tensor,
                ),
            )
        )
    return out


def add_specs(seed0: int = 400) -> list[ModelSpec]:
    out = []
    for i, (bcast, act) in enumerate(
        [(False, None), (False, None), (True, None), (False, "relu6"), (True, "relu")]
    ):
        rng = np.random.default_rng(seed0 + i)
        out.append(
            ModelSpec(
                f"add{i}",
                "add",
                seed0 + i,
                dict(
                    h=int(rng.integers(2, 9)),
                    w=int(rng.integers(2, 9)),
                    c=int(rng.integers(1, 9)),
                    bcast=bcast,
                    act=act,
                    gain_a=float(10 ** rng.uniform(-1, 1)),
                    gain_b=float(10 ** rng.uniform(-1, 1)),
                    range=_rand_range(rng),
                ),
            )
        )
    return out


def mean_specs(seed0: int = 500) -> list[ModelSpec]:
    out = []
    for i, keep in enumerate([False, True, False]):
        rng = np.random.default_rng(seed0 + i)
        out.append(
            ModelSpec(
                f"mean{i}",
                "mean",
                seed0 + i,
                dict(
                    h=int(rng.integers(1, 12)),
                    w=int(rng.integers(2, 30)),
                    c=int(rng.integers(1, 17)),
                    keep=keep,
                    gain=float(10 ** rng.uniform(-1, 1)),
                    range=_rand_range(rng),
                ),
            )
        )
    for i, (axes, keep) in enumerate([((3,), True), ((2,), False), ((1, 3), False)], start=3):
        rng = np.random.default_rng(seed0 + i)
        out.append(
            ModelSpec(
                f"mean{i}",
                "mean",
                seed0 + i,
                dict(
                    h=int(rng.integers(2, 9)),
                    w=int(rng.integers(2, 12)),
                    c=int(rng.integers(2, 17)),
                    keep=keep,
                    axes=axes,
                    range=_rand_range(rng),
                ),
            )
        )
    return out


def pool_specs(seed0: int = 600) -> list[ModelSpec]:
    out = []
    for i, (k, s, pad) in enumerate(
        [(2, 2, "valid"), (3, 1, "same"), (3, 2, "same"), ((2, 3), (1, 2), "valid")]
    ):
        rng = np.random.default_rng(seed0 + i)
        out.append(
            ModelSpec(
                f"avgpool{i}",
                "avgpool",
                seed0 + i,
                dict(
                    h=int(rng.integers(4, 12)),
                    w=int(rng.integers(4, 14)),
                    c=int(rng.integers(1, 9)),
                    k=k,
                    s=s,
                    pad=pad,
                    range=_rand_range(rng),
                ),
            )
        )
    return out


def pad_specs(seed0: int = 700) -> list[ModelSpec]:
    out = []
    for i in range(3):
        rng = np.random.default_rng(seed0 + i)
        p = [int(v) for v in rng.integers(0, 3, size=4)]
        if sum(p) == 0:
            p[0] = 1
        out.append(
            ModelSpec(
                f"pad{i}",
                "pad",
                seed0 + i,
                dict(
                    h=int(rng.integers(2, 9)),
                    w=int(rng.integers(2, 12)),
                    c=int(rng.integers(1, 6)),
                    pads=p,
                    range=_rand_range(rng),
                ),
            )
        )
    return out


def misc_specs() -> list[ModelSpec]:
    return [
        ModelSpec("reshape0", "reshape", 800, dict(h=4, w=6, c=3, units=7, range=(-1.5, 2.5))),
        ModelSpec("mbv2", "mbv2", 900, dict(range=(-3.0, 3.0))),
        ModelSpec("mbv2_b", "mbv2", 901, dict(range=(-0.5, 4.0))),
        ModelSpec("qdq", "mbv2", 902, dict(range=(-2.0, 2.0)), float_io=True),
        ModelSpec("softmax0", "softmax", 1200, dict(n=12, units=10, wstd=0.5, range=(-2.0, 2.0))),
        ModelSpec("softmax1", "softmax", 1201, dict(n=20, units=5, wstd=3.0, range=(-1.0, 3.0))),
        ModelSpec("softmax2", "softmax", 1202, dict(n=7, units=33, wstd=0.05, range=(-2.0, 2.0))),
        ModelSpec(
            "transpose0", "transpose", 1100, dict(h=3, w=5, c=4, perm=(3, 1, 2), range=(-1.0, 3.0))
        ),
        ModelSpec(
            "transpose1", "transpose", 1101, dict(h=2, w=7, c=3, perm=(2, 3, 1), range=(-4.0, 1.0))
        ),
    ]


def variant_specs(seed0: int = 1300) -> list[ModelSpec]:
    """Shapes at the edges of edgekit-rt's optimised kernels: channel counts that are not a
    multiple of 4 (1, 3, 5, 17), odd output-channel counts, strides, explicit asymmetric
    PAD before a convolution (folded into it), weights large enough that multipliers exceed 1
    (shift >= 0: the general requantization), activation clamps."""
    conv = [  # name, h, w, cin, cout, k, s, pad, act, wstd, range
        ("v_conv1x1_c17", 5, 7, 17, 5, 1, 1, "valid", None, 0.3, (-2.0, 2.0)),
        ("v_conv1x1_c3", 4, 9, 3, 8, 1, 1, "valid", "relu6", 0.5, (-1.0, 3.0)),
        ("v_conv1x1_s2", 6, 7, 8, 7, 1, 2, "valid", None, 0.3, (-2.0, 2.0)),
        ("v_conv3x3_c5_s2", 7, 9, 5, 17, 3, 2, "same", "relu", 0.2, (-3.0, 1.0)),
        ("v_conv_bigw", 5, 6, 4, 6, 1, 1, "valid", None, 4.0, (-0.05, 0.05)),
    ]
    dw = [  # name, h, w, cin, k, s, pad, act
        ("v_dw_c17", 6, 8, 17, 3, 1, "same", "relu6"),
        ("v_dw_c5_s2", 7, 10, 5, 3, 2, "same", None),
        ("v_dw_c1", 5, 6, 1, 3, 1, "same", None),
        ("v_dw_c8_small", 2, 3, 8, 3, 1, "same", "relu6"),
    ]
    out = []
    for i, (name, h, w, cin, cout, k, st, pad, act, wstd, rng_) in enumerate(conv):
        out.append(
            ModelSpec(
                name,
                "conv",
                seed0 + i,
                dict(
                    h=h,
                    w=w,
                    cin=cin,
                    cout=cout,
                    k=k,
                    s=st,
                    pad=pad,
                    act=act,
                    dil=1,
                    groups=1,
                    wstd=wstd,
                    range=rng_,
                ),
            )
        )
    for i, (name, h, w, cin, k, st, pad, act) in enumerate(dw, start=20):
        out.append(
            ModelSpec(
                name,
                "dw",
                seed0 + i,
                dict(
                    h=h,
                    w=w,
                    cin=cin,
                    cout=cin,
                    k=k,
                    s=st,
                    pad=pad,
                    act=act,
                    dm=1,
                    dil=1,
                    wstd=0.5,
                    range=(-2.0, 2.0),
                ),
            )
        )
    for i, (layer, cin, pads, st) in enumerate(
        [("conv", 5, (0, 1, 1, 0), 2), ("dw", 17, (1, 1, 1, 1), 2), ("dw", 3, (2, 0, 0, 1), 1)],
        start=40,
    ):
        out.append(
            ModelSpec(
                f"v_pad_{layer}{i - 40}",
                "padconv",
                seed0 + i,
                dict(
                    h=7,
                    w=8,
                    cin=cin,
                    cout=6,
                    layer=layer,
                    pads=pads,
                    s=st,
                    wstd=0.4,
                    range=(-1.0, 2.0),
                ),
            )
        )
    out.append(
        ModelSpec(
            "v_fc_17",
            "fc",
            seed0 + 50,
            dict(
                n=37,
                units=17,
                act="relu",
                rank3=False,
                rows=1,
                wstd=0.2,
                range=(-2.0, 2.0),
                per_tensor=False,
            ),
        )
    )
    return out


def mat_specs(seed0: int = 1400) -> list[ModelSpec]:
    """CONV_2D and FULLY_CONNECTED at the edges of the matrix-product kernels (rt-mat):
    near-dead output channels (weights scaled by 1e-7, as a trained network's pruned or
    BatchNorm-silenced channels: per-channel shifts below -22 and biases near 2^30)."""

    def conv(name, i, h, w, cin, cout, k, s, pad, act, **extra):
        params = dict(h=h, w=w, cin=cin, cout=cout, k=k, s=s, pad=pad, act=act, dil=1, groups=1)
        params.update(wstd=0.3, range=(-2.0, 2.0), **extra)
        return ModelSpec(name, "conv", seed0 + i, params)

    def fc(name, i, n, units, act, **extra):
        params = dict(n=n, units=units, act=act, rank3=False, rows=1, wstd=0.2)
        params.update(range=(-2.0, 2.0), per_tensor=False)
        params.update(extra)
        return ModelSpec(name, "fc", seed0 + i, params)

    def stack(name, i, h, w, cin, layers, **extra):
        # a first layer with a large input and a small output leaves the arena room at the
        # layers after it, which then run with large tiles (wide path)
        params = dict(h=h, w=w, cin=cin, layers=layers, wstd=0.3, range=(-2.0, 2.0))
        params.update(extra)
        return ModelSpec(name, "stack", seed0 + i, params)

    return [
        conv("m_1x1_dead", 0, 6, 6, 24, 20, 1, 1, "valid", "relu6", dead=[3, 11]),
        conv("m_3x3_dead", 1, 5, 7, 6, 9, 3, 1, "same", None, dead=[2]),
        fc("m_fc_dead", 2, 40, 12, None, dead=[0, 5]),
        # k = 8 (g = 2), then k = 20 (odd groups) and 7 output channels
        stack("m_pw_g2", 10, 8, 12, 48, [(8, 1, 1), (20, 1, 1), (7, 1, 1, "relu6")]),
        # k tails 2, 1, 1 and odd row counts
        stack("m_pw_tails", 11, 6, 7, 30, [(13, 1, 1), (9, 1, 1), (5, 1, 1, "relu")]),
        # im2col with room: k = 36 (in_c 4), then k = 90 strided
        stack("m_im2col", 12, 10, 10, 24, [(4, 1, 1), (10, 3, 1), (7, 3, 2, "relu6")]),
        # the 3-channel stem at the arena's peak (narrow), then a 1x1
        stack("m_stem", 13, 16, 16, 3, [(8, 3, 2, "relu6"), (12, 1, 1)]),
        # near-dead channels among mode-R rows in the wide path; a strided 1x1 with room
        stack("m_pw_dead", 14, 6, 8, 40, [(16, 1, 1), (24, 1, 1, None, [1, 5]), (6, 1, 2)]),
        # FULLY_CONNECTED over 6 batches (rank 3), per-channel and per-tensor
        fc("m_fc_batches", 15, 40, 12, "relu", rank3=True, rows=6),
        fc("m_fc_batches_pt", 16, 33, 9, None, rank3=True, rows=5, per_tensor=True),
        # im2col at the arena's peak with k = 144: one int8 and one widened column (vec)
        conv("m_im2col_one", 17, 6, 6, 16, 10, 3, 1, "same", "relu"),
    ]


def _dw(
    name: str, seed: int, h: int, w: int, cin: int, k, s=1, pad="same", dm=1, **kw
) -> ModelSpec:
    params = dict(h=h, w=w, cin=cin, k=k, s=s, pad=pad, act=kw.get("act"), dm=dm, dil=1)
    params.update(wstd=kw.get("wstd", 0.5), range=kw.get("range", (-2.0, 2.0)))
    if kw.get("per_tensor"):
        params["per_tensor"] = True
    return ModelSpec(name, "dw", seed, params)


def rt_dw_specs(seed0: int = 1500) -> list[ModelSpec]:
    """The edges of the depthwise kernel family (ekrt_depthwise_conv2d_4ch_s8.c) and of the
    pooling / broadcast ADD variants: full 3x3 windows with the input offset folded into the
    bias (maps >= 3 rows), border windows read shifted by 1 and 2 columns (SAME, stride 2, odd
    and even widths, an explicit PAD of 2 folded in), 1-3 kernel rows (maps 1 and 2 rows
    high), images narrower than 3, channels not a multiple of 4 (overlapping last group) and
    below 4, multipliers 1, 2 (halfword inputs) and 4 (bytes), 5x5 and 7x7 and 3x1 / 1x3
    filters, per-tensor weights, multipliers above 1 (shifts >= 0: the general
    requantization), relu / relu6 / none; MEAN over H, W with fewer than 4 channels and more
    than 255 pixels (int16 lane sums flushed)."""
    q = seed0
    out = [
        _dw("r_dw_full_c12", q, 12, 14, 12, 3, act="relu6"),
        _dw("r_dw_s2_odd_c6", q + 1, 9, 11, 6, 3, s=2),
        _dw("r_dw_s2_even_c8", q + 2, 8, 10, 8, 3, s=2, act="relu"),
        _dw("r_dw_m2_c5", q + 3, 10, 9, 5, 3, dm=2, act="relu6"),
        _dw("r_dw_m2_s2_c4", q + 4, 7, 8, 4, 3, s=2, dm=2),
        _dw("r_dw_m4_c3", q + 5, 7, 8, 3, 3, s=2, pad="valid", dm=4),
        _dw("r_dw_5x5_c8", q + 6, 9, 9, 8, 5, act="relu6"),
        _dw("r_dw_7x7_c4", q + 7, 8, 8, 4, 7),
        _dw("r_dw_3x1_c7", q + 8, 6, 7, 7, (3, 1)),
        _dw("r_dw_1x3_c9", q + 9, 5, 6, 9, (1, 3), act="relu6"),
        _dw("r_dw_row1_c20", q + 10, 1, 3, 20, 3, act="relu6"),
        _dw("r_dw_row2_c16", q + 11, 2, 6, 16, 3),
        _dw("r_dw_w2_c8", q + 12, 4, 2, 8, 3),
        _dw("r_dw_1px_c4", q + 13, 1, 1, 4, 3, act="relu"),
        _dw("r_dw_c3", q + 14, 6, 6, 3, 3, act="relu6"),
        _dw("r_dw_m2_c1", q + 15, 5, 5, 1, 3, dm=2),
        _dw("r_dw_bigw_c8", q + 16, 6, 7, 8, 3, wstd=6.0, range=(-0.05, 0.05)),
        _dw("r_dw_pt_c8", q + 17, 7, 9, 8, 3, s=2, act="relu6", per_tensor=True),
        _dw("r_dw_m2_5x5_c4", q + 19, 8, 9, 4, 5, dm=2, act="relu"),
        ModelSpec(
            "r_pad2_dw_c8",
            "padconv",
            q + 18,
            dict(
                h=6,
                w=7,
                cin=8,
                cout=8,
                layer="dw",
                pads=(2, 1, 2, 2),
                s=1,
                wstd=0.4,
                range=(-1.0, 2.0),
            ),
        ),
    ]
    pools = [  # name, kind, h, w, c, k, s, pad
        ("r_max_2x2_c5", "maxpool", 8, 9, 5, 2, 2, "valid"),
        ("r_max_3x3_s2_c16", "maxpool", 7, 7, 16, 3, 2, "same"),
        ("r_max_3x3_c3", "maxpool", 6, 5, 3, 3, 1, "same"),
        ("r_max_relu6_c6", "maxpool", 6, 8, 6, 2, 2, "same"),
        ("r_avg_global_c12", "avgpool", 10, 5, 12, (10, 5), 1, "valid"),
        ("r_avg_3x3_c7", "avgpool", 6, 7, 7, 3, 1, "same"),
        ("r_avg_big_c4", "avgpool", 16, 17, 4, (16, 16), 1, "valid"),
        ("r_avg_3x3_c3", "avgpool", 6, 7, 3, 3, 2, "same"),  # reference loop, clipped windows
    ]
    for i, (name, kind, h, w, c, k, st, pad) in enumerate(pools, start=30):
        params = dict(h=h, w=w, c=c, k=k, s=st, pad=pad, range=(-1.5, 2.5))
        if name == "r_max_relu6_c6":
            params["act"] = "relu6"
        out.append(ModelSpec(name, kind, q + i, params))
    for i, (h, w, c) in enumerate([(16, 20, 3), (4, 70, 9)], start=50):  # MEAN over H, W
        out.append(
            ModelSpec(
                f"r_gap_{h}x{w}x{c}",
                "mean",
                q + i,
                dict(h=h, w=w, c=c, keep=False, range=(-1.0, 3.0)),
            )
        )
    for i, (mode, c) in enumerate([("scalar", 6), ("chan1", 8), ("row", 5)], start=40):
        out.append(
            ModelSpec(
                f"r_add_{mode}_c{c}",
                "addb",
                q + i,
                dict(h=4, w=5, c=c, mode=mode, range=(-2.0, 3.0)),
            )
        )
    return out


def all_specs() -> list[ModelSpec]:
    return (
        conv_specs()
        + dw_specs()
        + fc_specs()
        + add_specs()
        + mean_specs()
        + pool_specs()
        + pad_specs()
        + misc_specs()
        + variant_specs()
        + mat_specs()
        + rt_dw_specs()
    )


def tanh_spec() -> ModelSpec:
    return ModelSpec("tanh", "tanh", 1000, dict(range=(-2.0, 2.0)))


# --- building ----------------------------------------------------------------------------


def _act(name: str | None) -> str | None:
    return name


def _build_keras(spec: ModelSpec):  # -> (keras.Model, input shape without batch)
    import tensorflow as tf

    tf.keras.utils.set_random_seed(spec.seed)
    L = tf.keras.layers
    p = spec.params
    init = lambda std: tf.keras.initializers.RandomNormal(stddev=std, seed=spec.seed)  # noqa: E731
    binit = tf.keras.initializers.RandomNormal(stddev=0.5, seed=spec.seed + 1)
    silence: list = []  # (layer, output channels) to scale to near-dead after building

    def spec_conv(**kw):  # the spec's Conv2D: cout filters of k, stride s, weights of spread wstd
        return L.Conv2D(
            p["cout"],
            p["k"],
            strides=p["s"],
            kernel_initializer=init(p["wstd"]),
            bias_initializer=binit,
            **kw,
        )

    k = spec.kind
    if k == "conv":
        shape = (p["h"], p["w"], p["cin"])
        inp = tf.keras.Input(shape, batch_size=1)
        x = spec_conv(
            padding=p["pad"], activation=p["act"], dilation_rate=p["dil"], groups=p["groups"]
        )(inp)
    elif k == "dw":
        shape = (p["h"], p["w"], p["cin"])
        inp = tf.keras.Input(shape, batch_size=1)
        x = L.DepthwiseConv2D(
            p["k"],
            strides=p["s"],
            padding=p["pad"],
            activation=p["act"],
            depth_multiplier=p["dm"],
            dilation_rate=p["dil"],
            depthwise_initializer=init(p["wstd"]),
            bias_initializer=binit,
        )(inp)
    elif k == "fc":
        shape = (p["rows"], p["n"]) if p["rank3"] else (p["n"],)
        inp = tf.keras.Input(shape, batch_size=1)
        x = L.Dense(
            p["units"],
            activation=p["act"],
            kernel_initializer=init(p["wstd"]),
            bias_initializer=binit,
        )(inp)
    elif k == "add":
        shape = (p["h"], p["w"], p["c"])
        inp = tf.keras.Input(shape, batch_size=1)
        # two branches of the same input with different scales
        a = L.DepthwiseConv2D(
            1, depthwise_initializer=tf.keras.initializers.Constant(p["gain_a"]), use_bias=False
        )(inp)
        if p["bcast"]:
            b = L.GlobalAveragePooling2D(keepdims=True)(inp)
            b = L.Conv2D(p["c"], 1, kernel_initializer=init(p["gain_b"]))(b)
        else:
            b = L.DepthwiseConv2D(
                1,
                depthwise_initializer=tf.keras.initializers.Constant(-p["gain_b"]),
                use_bias=False,
            )(inp)
        x = L.Add()([a, b])
        if p.get("act") == "relu6":
            x = L.ReLU(max_value=6.0)(x)  # fused into ADD by the converter
        elif p.get("act") == "relu":
            x = L.ReLU()(x)
    elif k == "mean":
        shape = (p["h"], p["w"], p["c"])
        inp = tf.keras.Input(shape, batch_size=1)
        if p.get("axes"):
            axes, keep = list(p["axes"]), p["keep"]
            x = L.Lambda(lambda t: tf.reduce_mean(t, axis=axes, keepdims=keep))(inp)
        else:
            x = L.GlobalAveragePooling2D(keepdims=p["keep"])(inp)
    elif k == "stack":
        # layers: (out channels, kernel, stride[, activation[, silenced channels]]), SAME
        shape = (p["h"], p["w"], p["cin"])
        inp = tf.keras.Input(shape, batch_size=1)
        x = inp
        for j, spec_l in enumerate(p["layers"]):
            cout, kk, st = spec_l[:3]
            act = spec_l[3] if len(spec_l) > 3 else None
            layer = L.Conv2D(
                cout,
                kk,
                strides=st,
                padding="same",
                activation=act,
                kernel_initializer=tf.keras.initializers.RandomNormal(
                    stddev=p["wstd"], seed=spec.seed + j
                ),
                bias_initializer=binit,
            )
            x = layer(x)
            if len(spec_l) > 4:
                silence.append((layer, list(spec_l[4])))
    elif k == "padconv":
        # explicit zero-point PAD (asymmetric) before a VALID conv: edgekit-rt folds it
        shape = (p["h"], p["w"], p["cin"])
        inp = tf.keras.Input(shape, batch_size=1)
        t, b_, l_, r = p["pads"]
        x = L.ZeroPadding2D(((t, b_), (l_, r)))(inp)
        if p["layer"] == "dw":
            x = L.DepthwiseConv2D(
                3,
                strides=p["s"],
                padding="valid",
                activation="relu6",
                depthwise_initializer=init(p["wstd"]),
                bias_initializer=binit,
            )(x)
        else:
            x = L.Conv2D(
                p["cout"],
                3,
                strides=p["s"],
                padding="valid",
                kernel_initializer=init(p["wstd"]),
                bias_initializer=binit,
            )(x)
    elif k == "avgpool":
        shape = (p["h"], p["w"], p["c"])
        inp = tf.keras.Input(shape, batch_size=1)
        x = L.AveragePooling2D(p["k"], strides=p["s"], padding=p["pad"])(inp)
    elif k == "maxpool":
        shape = (p["h"], p["w"], p["c"])
        inp = tf.keras.Input(shape, batch_size=1)
        x = L.MaxPooling2D(p["k"], strides=p["s"], padding=p["pad"])(inp)
        if p.get("act") == "relu6":
            x = L.ReLU(max_value=6.0)(x)  # fused into MAX_POOL_2D by the converter
    elif k == "addb":
        # ADD with broadcasting against a [1, H, W, C] map: a scalar [1, 1, 1, 1], a
        # one-channel map [1, H, W, 1], a row [1, 1, W, C] (a constant vector the converter
        # folds into the producer's bias)
        shape = (p["h"], p["w"], p["c"])
        inp = tf.keras.Input(shape, batch_size=1)
        a = L.DepthwiseConv2D(1, depthwise_initializer=tf.keras.initializers.Constant(0.7))(inp)
        axis = {"scalar": [1, 2, 3], "chan1": -1, "row": 1}[p["mode"]]
        b = L.Lambda(lambda t: tf.reduce_mean(t, axis=axis, keepdims=True))(inp)
        x = L.Lambda(lambda ab: ab[0] + ab[1])([a, b])
    elif k == "pad":
        shape = (p["h"], p["w"], p["c"])
        inp = tf.keras.Input(shape, batch_size=1)
        t, b_, l_, r = p["pads"]
        x = L.ZeroPadding2D(((t, b_), (l_, r)))(inp)
    elif k == "reshape":
        shape = (p["h"], p["w"], p["c"])
        inp = tf.keras.Input(shape, batch_size=1)
        x = L.Reshape((p["h"] * p["w"] * p["c"],))(inp)
        x = L.Dense(p["units"])(x)
    elif k == "mbv2":
        shape = (8, 24, 1)
        inp = tf.keras.Input(shape, batch_size=1)
        x = L.Conv2D(8, 3, padding="same", activation="relu6")(inp)
        y = L.Conv2D(16, 1, activation="relu6")(x)
        y = L.DepthwiseConv2D(3, padding="same", activation="relu6")(y)
        y = L.Conv2D(8, 1)(y)
        x = L.Add()([x, y])
        x = L.ZeroPadding2D(((1, 1), (1, 1)))(x)
        x = L.DepthwiseConv2D(3, strides=2, padding="valid", activation="relu6")(x)
        x = L.Conv2D(12, 1, activation="relu6")(x)
        x = L.GlobalAveragePooling2D()(x)
        x = L.Dense(5)(x)
    elif k == "transpose":
        # NCHW-style flatten as onnx2tf emits it: TRANSPOSE -> RESHAPE -> FULLY_CONNECTED
        shape = (p["h"], p["w"], p["c"])
        inp = tf.keras.Input(shape, batch_size=1)
        x = L.Permute(p["perm"])(inp)
        x = L.Flatten()(x)
        x = L.Dense(6)(x)
    elif k == "softmax":
        shape = (p["n"],)
        inp = tf.keras.Input(shape, batch_size=1)
        x = L.Dense(p["units"], kernel_initializer=init(p["wstd"]))(inp)
        x = L.Softmax()(x)
    elif k == "convhead":
        # a strided conv, global average pool and a small dense head: a large input (an image)
        # with a small output, as a classifier has
        shape = (p["h"], p["w"], p["cin"])
        inp = tf.keras.Input(shape, batch_size=1)
        x = spec_conv(padding="same", activation="relu6")(inp)
        x = L.GlobalAveragePooling2D()(x)
        x = L.Dense(p["units"], kernel_initializer=init(0.5), bias_initializer=binit)(x)
    elif k == "maxpool":
        shape = (p["h"], p["w"], p["c"])
        inp = tf.keras.Input(shape, batch_size=1)
        x = L.MaxPooling2D(p["k"], strides=p["s"])(inp)
    elif k == "tanh":
        shape = (4, 6, 2)
        inp = tf.keras.Input(shape, batch_size=1)
        x = L.Conv2D(3, 1)(inp)
        x = L.Activation("tanh")(x)
    else:
        raise ValueError(f"unknown model kind {k!r}")
    model = tf.keras.Model(inp, x)
    if p.get("dead"):
        silence.append(
            (next(la for la in model.layers if getattr(la, "kernel", None) is not None), p["dead"])
        )
    for layer, channels in silence:
        _silence_channels(layer, channels)
    return model, shape


def _silence_channels(layer, channels: list[int]) -> None:
    """Scale the weights of these output channels of a layer by 1e-7 (near-dead channels)."""
    weights = layer.get_weights()
    weights[0][..., channels] *= 1e-7
    layer.set_weights(weights)


def convert(spec: ModelSpec) -> bytes:
    import tensorflow as tf

    model, shape = _build_keras(spec)
    lo, hi = spec.params["range"]
    rng = np.random.default_rng(spec.seed + 7)

    def rep():
        for _ in range(24):
            yield [rng.uniform(lo, hi, size=(1, *shape)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if spec.params.get("per_tensor"):
        # per-tensor weight scales (older converters / explicit choice) exercise the
        # single-multiplier paths of CONV_2D and FULLY_CONNECTED
        conv._experimental_disable_per_channel = True
        conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    if not spec.float_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def schema():
    # tflite_micro ships the TFLite flatbuffer schema; importing it does not load TensorFlow
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def cache_dir() -> Path:
    from importlib.metadata import version

    d = Path(tempfile.gettempdir()) / f"edgekit-rt-models-tf{version('tensorflow')}"
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextlib.contextmanager
def _stdout_to_stderr():
    """TensorFlow prints `Saved artifact at ...` and the model's signature on stdout while it
    converts: send that (Python's stdout and the C level's fd 1) to stderr, so a test that parses a
    command's stdout reads only the command's."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def build(spec: ModelSpec, directory: Path) -> Path:
    """Path of the cached .tflite for spec, converting (and atomically writing) if missing."""
    path = directory / f"{spec.name}-{spec.key()}.tflite"
    if not path.exists():
        with _stdout_to_stderr():
            data = convert(spec)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


def build_all(
    specs: list[ModelSpec], directory: Path, progress: Callable[[str], None] | None = None
) -> dict[str, Path]:
    out = {}
    for s in specs:
        if progress:
            progress(s.name)
        out[s.name] = build(s, directory)
    return out


def op_names(tflite: bytes) -> list[str]:
    """Builtin operator names of subgraph 0, in order (for asserting what a model contains)."""
    sch = schema()
    names = {v: k for k, v in vars(sch.BuiltinOperator).items() if not k.startswith("_")}
    m = sch.Model.GetRootAsModel(tflite, 0)
    g = m.Subgraphs(0)
    res = []
    for i in range(g.OperatorsLength()):
        oc = m.OperatorCodes(g.Operators(i).OpcodeIndex())
        res.append(names[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())])
    return res


def weight_scale_counts(tflite: bytes) -> list[int]:
    """Number of quantization scales of the weights (input 1) of each CONV/DW/FC operator."""
    sch = schema()
    m = sch.Model.GetRootAsModel(tflite, 0)
    g = m.Subgraphs(0)
    wanted = {
        sch.BuiltinOperator.CONV_2D,
        sch.BuiltinOperator.DEPTHWISE_CONV_2D,
        sch.BuiltinOperator.FULLY_CONNECTED,
    }
    res = []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        oc = m.OperatorCodes(op.OpcodeIndex())
        if max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()) in wanted:
            res.append(g.Tensors(op.Inputs(1)).Quantization().ScaleLength())
    return res
