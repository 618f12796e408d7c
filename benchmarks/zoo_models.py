"""The model zoo for benchmarks/bench_zoo.py: int8 .tflite models with random weights (cost
does not depend on them), built with the project's own tools and cached outside the repository
by a hash of the recipe and the tool versions.

    PYTHONPATH=toolchain .venv/bin/python benchmarks/zoo_models.py [--cache DIR] [--only A,B]

Two ways in, as models are made today:
- Keras + TFLiteConverter, full int8 with int8 input/output, calibrated on random inputs
  (tests/rt_models.py makes its models the same way): the MLPerf Tiny models and the
  single-layer extremes;
- edgekit's own MobileNetV2 family (toolchain/edgekit/nn, untrained) through edgekit's export
  path: PyTorch -> ONNX (export.onnx) -> onnx2tf full-integer quantization (export.tflite),
  calibrated on random frames of the 8 x 24 grid.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# bump when a builder changes so its cached models are rebuilt
BUILDER_VERSION = {"keras": 2, "edgekit": 2}
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Recipe:
    name: str
    group: str  # "mlperf", "edgekit", "layer"
    kind: str  # which builder
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    seed: int = 0
    note: str = ""


def recipes() -> list[Recipe]:
    L = "layer"
    return [
        Recipe(
            "vww_mbv1_0.25",
            "mlperf",
            "vww_mbv1",
            {"alpha": 0.25, "hw": 96},
            1,
            "MLPerf Tiny VWW: MobileNetV1 0.25, 96x96x3, 2 classes",
        ),
        Recipe(
            "mbv2_0.35_96",
            "mlperf",
            "keras_mbv2",
            {"alpha": 0.35, "hw": 96},
            2,
            "Keras MobileNetV2 0.35, 96x96x3, 2 classes",
        ),
        Recipe(
            "kws_dscnn", "mlperf", "ds_cnn", {}, 3, "MLPerf Tiny KWS: DS-CNN, 49x10x1, 12 classes"
        ),
        Recipe(
            "ic_resnet8",
            "mlperf",
            "resnet8",
            {},
            4,
            "MLPerf Tiny IC: ResNet-8, 32x32x3, 10 classes",
        ),
        Recipe(
            "ad_fc_autoencoder",
            "mlperf",
            "fc_ae",
            {},
            5,
            "MLPerf Tiny AD: 640-128x4-8-128x4-640 dense autoencoder",
        ),
        *[
            Recipe(
                f"ek_mbv2_w{w}",
                "edgekit",
                "edgekit",
                {"arch": "mbv2", "width": w},
                10 + i,
                f"edgekit mbv2 w{w}, 8x24x1, 8 classes",
            )
            for i, w in enumerate((0.1, 0.2, 0.35, 0.5, 0.75, 1.0))
        ],
        Recipe(
            "ek_mbv2_seed_w0.2",
            "edgekit",
            "edgekit",
            {"arch": "mbv2-seed", "width": 0.2},
            20,
            "edgekit mbv2-seed w0.2, 8x24x1, 8 classes",
        ),
        Recipe(
            "conv1x1_2x2x1024_1024", L, "conv", {"hw": 2, "cin": 1024, "cout": 1024, "k": 1}, 30
        ),
        Recipe("conv3x3_96x96x3_8_s1", L, "conv", {"hw": 96, "cin": 3, "cout": 8, "k": 3}, 31),
        Recipe(
            "conv3x3_96x96x3_8_s2", L, "conv", {"hw": 96, "cin": 3, "cout": 8, "k": 3, "s": 2}, 32
        ),
        Recipe("dw3x3_48x48x8_s1", L, "dw", {"hw": 48, "c": 8}, 33),
        Recipe("dw3x3_48x48x8_s2", L, "dw", {"hw": 48, "c": 8, "s": 2}, 34),
        Recipe("dw3x3_24x24x8_mult2", L, "dw", {"hw": 24, "c": 8, "dm": 2}, 35),
        Recipe("conv1x1_6x6x128_256", L, "conv", {"hw": 6, "cin": 128, "cout": 256, "k": 1}, 36),
        Recipe("conv1x1_3x3x256_256", L, "conv", {"hw": 3, "cin": 256, "cout": 256, "k": 1}, 37),
        Recipe(
            "maxpool2x2_48x48x8",
            L,
            "maxpool",
            {"hw": 48, "c": 8},
            38,
            "MAX_POOL_2D, as CNNs often use",
        ),
    ]


# --- Keras builders ------------------------------------------------------------------------


def _conv_bn_relu(x, filters: int, k, s=1):
    import tensorflow as tf

    L = tf.keras.layers
    x = L.Conv2D(filters, k, strides=s, padding="same", use_bias=False)(x)
    return L.ReLU()(L.BatchNormalization()(x))


def _vww_mbv1(p: dict):
    """MobileNetV1 as MLPerf Tiny's visual wake words reference builds it."""
    import tensorflow as tf

    L = tf.keras.layers
    inp = tf.keras.Input((p["hw"], p["hw"], 3), batch_size=1)
    f = lambda n: int(n * p["alpha"])  # noqa: E731
    x = _conv_bn_relu(inp, f(32), 3, 2)
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
    plan += [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for filters, s in plan:
        x = L.DepthwiseConv2D(3, strides=s, padding="same", use_bias=False)(x)
        x = L.ReLU()(L.BatchNormalization()(x))
        x = _conv_bn_relu(x, f(filters), 1)
    x = L.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = L.Dense(2, activation="softmax")(L.Flatten()(x))
    return tf.keras.Model(inp, x)


def _keras_mbv2(p: dict):
    import tensorflow as tf

    return tf.keras.applications.MobileNetV2(
        input_shape=(p["hw"], p["hw"], 3), alpha=p["alpha"], weights=None, classes=2
    )


def _ds_cnn(p: dict):
    """DS-CNN as MLPerf Tiny's keyword spotting reference builds it (dropout omitted: it is
    not in the inference graph)."""
    import tensorflow as tf

    L = tf.keras.layers
    inp = tf.keras.Input((49, 10, 1), batch_size=1)
    x = _conv_bn_relu(inp, 64, (10, 4), 2)
    for _ in range(4):
        x = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = L.ReLU()(L.BatchNormalization()(x))
        x = _conv_bn_relu(x, 64, 1)
    x = L.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = L.Dense(12, activation="softmax")(L.Flatten()(x))
    return tf.keras.Model(inp, x)


def _resnet8(p: dict):
    """ResNet-8 as MLPerf Tiny's image classification reference builds it."""
    import tensorflow as tf

    L = tf.keras.layers
    inp = tf.keras.Input((32, 32, 3), batch_size=1)
    x = _conv_bn_relu(inp, 16, 3)
    for filters, s in ((16, 1), (32, 2), (64, 2)):
        y = _conv_bn_relu(x, filters, 3, s)
        y = L.BatchNormalization()(L.Conv2D(filters, 3, padding="same", use_bias=False)(y))
        if s != 1:
            x = L.Conv2D(filters, 1, strides=s)(x)
        x = L.ReLU()(L.Add()([x, y]))
    x = L.AveragePooling2D(pool_size=8)(x)
    x = L.Dense(10, activation="softmax")(L.Flatten()(x))
    return tf.keras.Model(inp, x)


def _fc_ae(p: dict):
    """The anomaly detection autoencoder (BatchNormalization folds into the dense layers)."""
    import tensorflow as tf

    L = tf.keras.layers
    inp = tf.keras.Input((640,), batch_size=1)
    x = inp
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = L.ReLU()(L.BatchNormalization()(L.Dense(units)(x)))
    return tf.keras.Model(inp, L.Dense(640)(x))


def _layer(kind: str, p: dict):
    import tensorflow as tf

    L = tf.keras.layers
    chans = p.get("cin", p.get("c"))
    inp = tf.keras.Input((p["hw"], p["hw"], chans), batch_size=1)
    if kind == "conv":
        x = L.Conv2D(p["cout"], p["k"], strides=p.get("s", 1), padding="same", activation="relu")
    elif kind == "dw":
        x = L.DepthwiseConv2D(
            3, strides=p.get("s", 1), padding="same", depth_multiplier=p.get("dm", 1)
        )
    else:
        x = L.MaxPooling2D(2)
    return tf.keras.Model(inp, x(inp))


def _healthy_weights(model, shape: tuple[int, ...], seed: int) -> None:
    """Random weights whose activations stay in range, as a trained network's do: He-normal
    kernels (a depthwise kernel's fan-in is one channel's k x k, which Keras's default
    initialiser does not use), then every BatchNormalization's moving statistics set to its
    input's statistics on random inputs. Without this, activations vanish through the depth
    and quantize to scales near 1e-8, a range no real model has (it sends kernels down
    unrepresentative paths, and TFLM's SOFTMAX refuses it)."""
    import tensorflow as tf

    L = tf.keras.layers
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        w = layer.get_weights()
        if isinstance(layer, L.DepthwiseConv2D):
            fan_in = w[0].shape[0] * w[0].shape[1]
        elif isinstance(layer, (L.Conv2D, L.Dense)):
            fan_in = int(np.prod(w[0].shape[:-1]))
        else:
            continue
        w[0] = rng.normal(0.0, np.sqrt(2.0 / fan_in), w[0].shape).astype(np.float32)
        if len(w) > 1:
            w[1] = rng.normal(0.0, 0.1, w[1].shape).astype(np.float32)
        layer.set_weights(w)
    x = rng.uniform(-1.0, 1.0, size=(32, *shape)).astype(np.float32)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            a = np.asarray(tf.keras.Model(model.inputs, layer.input)(x, training=False))
            gamma, beta, _, _ = layer.get_weights()
            axes = tuple(range(a.ndim - 1))
            layer.set_weights([gamma, beta, a.mean(axes), a.var(axes)])


KERAS = {
    "vww_mbv1": _vww_mbv1,
    "keras_mbv2": _keras_mbv2,
    "ds_cnn": _ds_cnn,
    "resnet8": _resnet8,
    "fc_ae": _fc_ae,
}


def int8_tflite(model, samples: list[np.ndarray]) -> bytes:
    """A Keras model through TFLiteConverter, full int8 with int8 input/output, calibrated on
    samples (float32, shaped like the model's batch-1 input). Also the tests' Keras models
    (tests/firmware_util.py, tests/calib_util.py) are made with it."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x] for x in samples)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def keras_tflite(r: Recipe) -> bytes:
    """Full-int8 TFLiteConverter with int8 input/output, calibrated on random inputs."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(r.seed)
    model = KERAS[r.kind](r.params) if r.kind in KERAS else _layer(r.kind, r.params)
    shape = tuple(model.inputs[0].shape[1:])
    _healthy_weights(model, shape, r.seed)
    rng = np.random.default_rng(r.seed)
    return int8_tflite(
        model, [rng.uniform(-1.0, 1.0, (1, *shape)).astype(np.float32) for _ in range(16)]
    )


# --- edgekit builder -----------------------------------------------------------------------


def edgekit_tflite(r: Recipe) -> bytes:
    """edgekit's network, untrained, through edgekit's export path (ONNX -> onnx2tf). The
    BatchNorm statistics are set from random frames first (train-mode passes, cumulative
    average), for the reason _healthy_weights gives."""
    import torch

    from edgekit.export import tflite
    from edgekit.export.onnx import export_onnx
    from edgekit.nn import build_model

    torch.manual_seed(r.seed)
    model = build_model(r.params["arch"], r.params["width"], 8, (8, 24))
    frames = np.random.default_rng(r.seed).standard_normal((64, 1, 8, 24)).astype(np.float32)
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(0, len(frames), 16):
            model(torch.from_numpy(frames[i : i + 16]))
    model.eval()
    with tempfile.TemporaryDirectory(prefix="zoo-onnx-") as td:
        t = Path(td)
        export_onnx(model, t / "model.onnx", frames)
        nhwc = np.ascontiguousarray(frames.transpose(0, 2, 3, 1))
        tflite.convert(t / "model.onnx", nhwc, t / "model.tflite", t / "onnx2tf.log")
        return (t / "model.tflite").read_bytes()


# --- cache ---------------------------------------------------------------------------------


def _versions(r: Recipe) -> dict[str, str]:
    from importlib.metadata import version

    v = {"tensorflow": version("tensorflow")}
    if r.kind == "edgekit":
        src = (REPO / "toolchain" / "edgekit" / "nn" / "mobilenetv2.py").read_bytes()
        v |= {"torch": version("torch"), "onnx2tf": version("onnx2tf")}
        v["mobilenetv2.py"] = hashlib.sha256(src).hexdigest()[:12]
    return v


def key(r: Recipe) -> str:
    builder = "edgekit" if r.kind == "edgekit" else "keras"
    blob = json.dumps(
        {"v": BUILDER_VERSION[builder], "kind": r.kind, "params": r.params, "seed": r.seed}
        | _versions(r),
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "edgekit" / "zoo"


def build(r: Recipe, cache: Path) -> Path:
    """The cached .tflite of a recipe, converting (and writing atomically) when missing."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{r.name}-{key(r)}.tflite"
    if not path.exists():
        data = edgekit_tflite(r) if r.kind == "edgekit" else keras_tflite(r)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


def select(names: str | None) -> list[Recipe]:
    rs = recipes()
    if not names:
        return rs
    want = [n.strip() for n in names.split(",") if n.strip()]
    known = {r.name: r for r in rs}
    bad = [n for n in want if n not in known]
    if bad:
        raise SystemExit(f"--only: unknown model {', '.join(bad)}; known: {', '.join(known)}")
    return [known[n] for n in want]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=default_cache())
    ap.add_argument("--only", help="comma-separated model names")
    args = ap.parse_args(argv)
    for r in select(args.only):
        print(f"{r.name}: {build(r, args.cache)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
