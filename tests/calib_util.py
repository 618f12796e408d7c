"""A tiny int8 model whose last op is a FULLY_CONNECTED with a bias on a MEAN (a head on-device
calibration can replace), exported with a causal feature chain, for the calibration tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import firmware_util as fu
import stream_util as su


def make_head_tflite(seed: int = 0, n_out: int = 4) -> bytes:
    """8x24x1 -> n_out: conv (relu6) -> 1x1 conv (relu6, 12 channels) -> mean -> dense + bias."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input((8, 24, 1), batch_size=1)
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu6")(inp)
    x = tf.keras.layers.Conv2D(12, 1, strides=2, activation="relu6")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    init = tf.keras.initializers.RandomNormal(stddev=0.5, seed=seed)
    out = tf.keras.layers.Dense(n_out, bias_initializer=init)(x)
    model = tf.keras.Model(inp, out)
    rng = np.random.default_rng(seed)

    def rep():
        for _ in range(32):
            yield [rng.normal(size=(1, 8, 24, 1)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def head_export(base: Path, calib_room: bool = True) -> Path:
    """A run directory whose export/ holds the head model with a causal chain (su's settings)."""
    from edgekit.checkpoint import ModelRecord
    from edgekit.data.features import FeatureConfig
    from edgekit.export import carray
    from edgekit.export.tflite import inspect_tflite, resolver_ops

    root = base / f"head-causal-{int(calib_room)}"
    if (root / "export" / "model_meta.h").exists():
        return root
    model = base / "head-s0.tflite"
    if not model.exists():
        model.write_bytes(make_head_tflite(0))
    tfl = model.read_bytes()
    info = inspect_tflite(tfl, "head test model")
    n_out = int(info.output.shape[-1])
    rng = np.random.default_rng(5)
    fc = FeatureConfig(adc_lsb=0.5, hop_ms=50.0, window_ms=150.0)
    mask = np.ones(192, bool)
    mask[7::8] = False
    rec = ModelRecord(
        arch="tiny-test",
        width=1.0,
        num_classes=n_out,
        label_names=list(fu.LABELS[:n_out]),
        features={**fc.to_dict(), "fs_hz": su.FS},
        norm_mean=rng.uniform(5, 40, 192).astype(np.float32).tolist(),
        norm_std=rng.uniform(3, 30, 192).astype(np.float32).tolist(),
        channel_mask=mask.tolist(),
        layout="csl",
        state_dict={},
    )
    q = {"scale": info.input.scales[0], "zero_point": info.input.zero_points[0]}
    o = {"scale": info.output.scales[0], "zero_point": info.output.zero_points[0]}
    q["shape"], o["shape"] = info.input.shape, info.output.shape
    tmp = base / f".tmp-head-{os.getpid()}"
    (tmp / "export").mkdir(parents=True, exist_ok=True)
    (tmp / "export" / "model_int8.tflite").write_bytes(tfl)
    carray.write_all(
        tmp / "export", rec, tfl, q, o, 64 * 1024, resolver_ops(info), calib_room=calib_room
    )
    tmp.rename(root)
    return root


class SocketBridge:
    """A host firmware build behind a TCP socket (pyserial's socket://), so the harness talks to
    it as to a board on a serial port: one connection, bytes relayed both ways."""

    def __init__(self, argv: list[str]):
        import socket
        import subprocess
        import threading

        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(1)
        self.url = f"socket://127.0.0.1:{self.srv.getsockname()[1]}"
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import threading

        conn, _ = self.srv.accept()
        proc = self.proc

        def down() -> None:  # firmware -> socket
            while True:
                b = os.read(proc.stdout.fileno(), 65536)
                if not b:
                    break
                conn.sendall(b)

        threading.Thread(target=down, daemon=True).start()
        while True:  # socket -> firmware
            b = conn.recv(65536)
            if not b:
                break
            proc.stdin.write(b)
            proc.stdin.flush()
        proc.stdin.close()

    def close(self) -> tuple[int | None, str]:
        self.srv.close()
        try:
            self.proc.wait(timeout=20)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode, self.proc.stderr.read().decode(errors="replace")
