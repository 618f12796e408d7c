"""A tiny int8 model whose last op is a FULLY_CONNECTED with a bias on a MEAN (a head on-device
calibration can replace), exported with a causal feature chain, for the calibration tests."""

from __future__ import annotations

import os
from pathlib import Path

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
    return fu.int8_tflite(tf.keras.Model(inp, out), fu.grid_samples(seed))


def head_export(base: Path, calib_room: bool = True) -> Path:
    """A run directory whose export/ holds the head model with a causal chain (su's settings)."""
    return su.causal_export(base, name="head", make=make_head_tflite, calib_room=calib_room)


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
